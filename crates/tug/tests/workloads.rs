//! End to end: StatefulSets, DaemonSets and Endpoints on simulated nodes (`tug agent
//! --simulate 3`), driven and read with the real kubectl.

mod common;

use common::{Agent, Server, eventually, rows};
use serde_json::Value;

fn apply(s: &Server, manifest: &str) {
    let out = s.kubectl_stdin(&["apply", "-f", "-"], manifest);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn json(s: &Server, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&s.ok(&all)).unwrap()
}

/// What a poll sees of one pod.
#[derive(Debug)]
struct Seen {
    name: String,
    ready: bool,
    terminating: bool,
    node: String,
    ip: String,
}

fn pods(s: &Server, selector: &str) -> Vec<Seen> {
    let list = json(s, &["get", "pods", "-l", selector]);
    let mut seen: Vec<Seen> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Seen {
            name: p["metadata"]["name"].as_str().unwrap().to_string(),
            ready: p["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True")),
            terminating: !p["metadata"]["deletionTimestamp"].is_null(),
            node: p["spec"]["nodeName"].as_str().unwrap_or("").to_string(),
            ip: p["status"]["podIP"].as_str().unwrap_or("").to_string(),
        })
        .collect();
    seen.sort_by(|a, b| a.name.cmp(&b.name));
    seen
}

fn wait_for_nodes(s: &Server, count: usize) {
    eventually(&format!("{count} Ready nodes"), || {
        let table = rows(&s.ok(&["get", "nodes", "--no-headers"]));
        (table.len() == count && table.iter().all(|r| r[1] == "Ready")).then_some(())
    });
}

const STATEFULSET: &str = "
apiVersion: v1
kind: Service
metadata: {name: nginx}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: web}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: nginx
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {sim.tugboat.dev/ready-after: 500ms}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: nginx, image: 'nginx:1.27', ports: [{name: web, containerPort: 8080}]}]
  volumeClaimTemplates:
  - metadata: {name: www}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
";

#[test]
fn a_statefulset_creates_in_order_scales_down_from_the_top_and_keeps_its_claims() {
    let s = Server::start();
    let _agent = Agent::start(&s, &["--simulate", "3", "--node-name-prefix", "sim-node-"]);
    wait_for_nodes(&s, 3);
    apply(&s, STATEFULSET);

    // Each ordinal appears only once every lower one is Ready.
    eventually("web-0, web-1, web-2 Ready", || {
        let seen = pods(&s, "app=web");
        for (i, pod) in seen.iter().enumerate() {
            assert_eq!(pod.name, format!("web-{i}"), "ordinals are created in order: {seen:?}");
            if i > 0 {
                assert!(
                    seen[i - 1].ready,
                    "{} exists before {} is Ready: {seen:?}",
                    pod.name,
                    seen[i - 1].name
                );
            }
        }
        (seen.len() == 3 && seen.iter().all(|p| p.ready)).then_some(())
    });
    // The headless Service's Endpoints and EndpointSlices list the ready pods' IPs, with the
    // named targetPort resolved.
    let ips: Vec<String> = pods(&s, "app=web").into_iter().map(|p| p.ip).collect();
    let mut want: Vec<String> = ips.iter().map(|ip| format!("{ip}:8080")).collect();
    want.sort();
    eventually("endpoints of the three pods", || {
        let table = rows(&s.ok(&["get", "endpoints", "nginx"]));
        let mut listed: Vec<String> = table.get(1)?.get(1)?.split(',').map(str::to_string).collect();
        listed.sort();
        (listed == want).then_some(())
    });
    let ep = json(&s, &["get", "endpoints", "nginx"]);
    let address = &ep["subsets"][0]["addresses"][0];
    assert_eq!(address["targetRef"]["kind"], "Pod");
    assert!(address["nodeName"].as_str().unwrap().starts_with("sim-node-"), "{ep}");
    assert_eq!(address["hostname"], address["targetRef"]["name"], "{ep}");
    assert_eq!(ep["subsets"][0]["ports"][0]["port"], 8080);
    let described = s.ok(&["describe", "svc", "nginx"]);
    assert!(described.contains(&format!("{}:8080", ips[0])), "{described}");
    let slices = json(&s, &["get", "endpointslices", "-l", "kubernetes.io/service-name=nginx"]);
    let slice = &slices["items"][0];
    assert_eq!(
        slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(slice["endpoints"].as_array().unwrap().len(), 3, "{slice}");
    assert_eq!(slice["endpoints"][0]["conditions"]["ready"], true);
    let web1 = json(&s, &["get", "pod", "web-1"]);
    assert_eq!(web1["spec"]["hostname"], "web-1");
    assert_eq!(web1["spec"]["subdomain"], "nginx");
    let labels = &web1["metadata"]["labels"];
    assert_eq!(labels["statefulset.kubernetes.io/pod-name"], "web-1");
    assert_eq!(labels["apps.kubernetes.io/pod-index"], "1");
    let revision = labels["controller-revision-hash"].as_str().unwrap().to_string();
    assert!(revision.starts_with("web-"), "{revision}");
    assert_eq!(web1["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"], "www-web-1");
    let claims = s.ok(&["get", "pvc", "-o", "name"]);
    assert_eq!(
        claims.lines().collect::<Vec<_>>(),
        [
            "persistentvolumeclaim/www-web-0",
            "persistentvolumeclaim/www-web-1",
            "persistentvolumeclaim/www-web-2"
        ]
    );

    // Status, and `kubectl rollout status` completing.
    let out = s.ok(&["rollout", "status", "statefulset/web", "--timeout=60s"]);
    assert!(out.contains("roll out complete"), "{out}");
    let status = json(&s, &["get", "sts", "web"])["status"].clone();
    assert_eq!((status["replicas"].as_i64(), status["readyReplicas"].as_i64()), (Some(3), Some(3)));
    assert_eq!(
        (status["currentRevision"].as_str(), status["updateRevision"].as_str()),
        (Some(&*revision), Some(&*revision))
    );
    let table = rows(&s.ok(&["get", "sts", "web"]));
    assert_eq!(table[1][1], "3/3", "{table:?}");

    // A rolling update replaces pods from the highest ordinal down; history and undo work.
    s.ok(&["set", "image", "statefulset/web", "nginx=nginx:1.28"]);
    let out = s.ok(&["rollout", "status", "statefulset/web", "--timeout=60s"]);
    assert!(out.contains("roll out complete: 3 new pods have been updated"), "{out}");
    let images =
        s.ok(&["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].spec.containers[0].image}"]);
    assert_eq!(images, "nginx:1.28 nginx:1.28 nginx:1.28");
    let history = s.ok(&["rollout", "history", "statefulset/web"]);
    let revisions: Vec<_> =
        rows(&history).into_iter().filter(|r| r.len() == 2 && r[0] != "REVISION").collect();
    assert_eq!(revisions.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(), ["1", "2"], "{history}");
    s.ok(&["rollout", "undo", "statefulset/web"]);
    s.ok(&["rollout", "status", "statefulset/web", "--timeout=60s"]);
    let image = s.ok(&["get", "sts", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"]);
    assert_eq!(image, "nginx:1.27");
    eventually("pods back at the first revision", || {
        let labels = s.ok(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[*].metadata.labels.controller-revision-hash}",
        ]);
        (labels == format!("{revision} {revision} {revision}")).then_some(())
    });
    let history = s.ok(&["rollout", "history", "statefulset/web"]);
    assert!(
        history.contains("\n2 ") && history.contains("\n3 "),
        "the first revision is renumbered: {history}"
    );

    // Scaling down removes the highest ordinal first, one at a time.
    s.ok(&["scale", "statefulset/web", "--replicas=1"]);
    eventually("web-0 alone", || {
        let seen = pods(&s, "app=web");
        let has = |n: &str| seen.iter().any(|p| p.name == n);
        let terminating = |n: &str| seen.iter().any(|p| p.name == n && p.terminating);
        assert!(!(terminating("web-1") && has("web-2")), "web-1 goes before web-2: {seen:?}");
        assert!(has("web-0"), "{seen:?}");
        (seen.len() == 1).then_some(())
    });
    let described = s.ok(&["describe", "sts", "web"]);
    assert!(described.contains("delete Pod web-2 in StatefulSet web successful"), "{described}");
    assert!(described.contains("create Claim www-web-0 Pod web-0 in StatefulSet web success"), "{described}");

    // Claims outlive the set (retention policy Retain).
    s.ok(&["delete", "statefulset", "web"]);
    let claims = s.ok(&["get", "pvc", "-o", "name"]);
    assert_eq!(claims.lines().count(), 3, "{claims}");
}

fn claim_set(name: &str, when_deleted: &str, when_scaled: &str) -> String {
    format!(
        "
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: {name}}}
spec:
  serviceName: {name}
  replicas: 2
  podManagementPolicy: Parallel
  persistentVolumeClaimRetentionPolicy: {{whenDeleted: {when_deleted}, whenScaled: {when_scaled}}}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{{name: main, image: 'redis:7'}}]
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 1Gi}}}}
"
    )
}

/// The claims whose names start with `prefix`, each with the kinds of its owners.
fn claims_of(s: &Server, prefix: &str) -> Vec<String> {
    let out = s.ok(&[
        "get",
        "pvc",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}:{.metadata.ownerReferences[*].kind}{\"\\n\"}{end}",
    ]);
    let mut claims: Vec<String> = out.lines().filter(|l| l.starts_with(prefix)).map(str::to_string).collect();
    claims.sort();
    claims
}

#[test]
fn the_claim_retention_policy_decides_which_claims_go() {
    let s = Server::start();
    let _agent = Agent::start(&s, &["--simulate", "2"]);
    wait_for_nodes(&s, 2);
    apply(&s, &claim_set("db", "Delete", "Delete"));
    apply(&s, &claim_set("keep", "Retain", "Retain"));
    for set in ["db", "keep"] {
        eventually(&format!("two Running {set} pods"), || {
            let seen = pods(&s, &format!("app={set}"));
            (seen.len() == 2 && seen.iter().all(|p| p.ready)).then_some(())
        });
    }
    // whenDeleted: Delete puts the set in charge of the claims; Retain leaves them unowned.
    assert_eq!(claims_of(&s, "data-db-"), ["data-db-0:StatefulSet", "data-db-1:StatefulSet"]);
    assert_eq!(claims_of(&s, "data-keep-"), ["data-keep-0:", "data-keep-1:"]);

    // Retain: the condemned ordinal's claim stays.
    s.ok(&["scale", "statefulset/keep", "--replicas=1"]);
    eventually("keep-1 gone", || (pods(&s, "app=keep").len() == 1).then_some(()));
    // whenScaled: Delete: the condemned ordinal's claim goes with its pod; the other stays
    // with the set.
    s.ok(&["scale", "statefulset/db", "--replicas=1"]);
    eventually("data-db-1 deleted with db-1", || {
        (claims_of(&s, "data-db-") == ["data-db-0:StatefulSet"]).then_some(())
    });
    assert_eq!(pods(&s, "app=db").len(), 1);

    // Deleting the sets: whenDeleted: Delete takes the claims along, Retain keeps them.
    s.ok(&["delete", "statefulset", "db", "keep"]);
    eventually("the db claims deleted with their set", || claims_of(&s, "data-db-").is_empty().then_some(()));
    eventually("the keep pods gone", || pods(&s, "app=keep").is_empty().then_some(()));
    assert_eq!(claims_of(&s, "data-keep-"), ["data-keep-0:", "data-keep-1:"]);
}

const DAEMONSET: &str = "
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata:
      labels: {app: agent}
      annotations: {sim.tugboat.dev/ready-after: 200ms}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: agent, image: 'fluentd:v1'}]
";

/// Nodes of the daemon pods, once there is one Running on each of `count` nodes.
fn daemon_pods_on(s: &Server, count: usize) -> Vec<Seen> {
    eventually(&format!("a daemon pod on each of {count} nodes"), || {
        let seen: Vec<Seen> = pods(s, "app=agent").into_iter().filter(|p| !p.terminating).collect();
        let mut nodes: Vec<&str> = seen.iter().map(|p| p.node.as_str()).filter(|n| !n.is_empty()).collect();
        nodes.dedup();
        (seen.len() == count && nodes.len() == count && seen.iter().all(|p| p.ready)).then_some(seen)
    })
}

#[test]
fn a_daemonset_runs_one_pod_per_node_and_follows_nodes() {
    let s = Server::start();
    let _agent = Agent::start(&s, &["--simulate", "3", "--node-name-prefix", "sim-node-"]);
    wait_for_nodes(&s, 3);
    apply(&s, DAEMONSET);
    let seen = daemon_pods_on(&s, 3);
    let mut nodes: Vec<&str> = seen.iter().map(|p| p.node.as_str()).collect();
    nodes.sort();
    assert_eq!(nodes, ["sim-node-0", "sim-node-1", "sim-node-2"]);

    // Pinned the upstream way: required node affinity on metadata.name, bound by the scheduler.
    let pod = json(&s, &["get", "pod", &seen[0].name]);
    let term = &pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        [0]["matchFields"][0];
    assert_eq!(
        (term["key"].as_str(), term["values"][0].as_str()),
        (Some("metadata.name"), Some(&*seen[0].node))
    );
    let tolerations = pod["spec"]["tolerations"].to_string();
    assert!(tolerations.contains("node.kubernetes.io/unreachable"), "{tolerations}");
    assert!(pod["metadata"]["labels"]["controller-revision-hash"].is_string());

    let out = s.ok(&["rollout", "status", "daemonset/agent", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let table = rows(&s.ok(&["get", "ds", "agent"]));
    assert_eq!(table[0][..6], ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE"]);
    assert_eq!(table[1][1..6], ["3", "3", "3", "3", "3"], "{table:?}");

    // A new node gets a pod; a deleted node's pod goes.
    let extra = Agent::start(&s, &["--simulate", "1", "--node-name-prefix", "extra-node-"]);
    wait_for_nodes(&s, 4);
    let seen = daemon_pods_on(&s, 4);
    assert!(seen.iter().any(|p| p.node == "extra-node-0"), "{seen:?}");
    drop(extra);
    s.ok(&["delete", "node", "extra-node-0"]);
    eventually("the deleted node's daemon pod gone", || {
        let seen = pods(&s, "app=agent");
        (!seen.iter().any(|p| p.node == "extra-node-0" && !p.terminating)).then_some(())
    });

    // A rolling update replaces every pod; history lists both revisions.
    s.ok(&["set", "image", "daemonset/agent", "agent=fluentd:v2"]);
    let out = s.ok(&["rollout", "status", "daemonset/agent", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    eventually("every daemon pod at the new image", || {
        let images =
            s.ok(&["get", "pods", "-l", "app=agent", "-o", "jsonpath={.items[*].spec.containers[0].image}"]);
        (images.split_whitespace().collect::<Vec<_>>() == ["fluentd:v2"; 3]).then_some(())
    });
    let history = s.ok(&["rollout", "history", "daemonset/agent"]);
    assert!(history.contains("\n1 ") && history.contains("\n2 "), "{history}");
    let described = s.ok(&["describe", "ds", "agent"]);
    assert!(described.contains("Created pod: agent-"), "{described}");
}
