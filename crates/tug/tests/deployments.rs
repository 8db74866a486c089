//! End to end: Deployments with the real kubectl against `tug server` and simulated nodes
//! (`tug agent --simulate 3`): the tutorial flows (create, rollout status, scale, set image,
//! history, undo, restart, pause and resume), Recreate, blue-green, proportional scaling and
//! the progress deadline.

mod common;

use std::{
    process::Command,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use common::{Agent, Server, rows};
use serde_json::Value;

/// A server with three simulated nodes, Ready.
fn cluster() -> (Server, Agent) {
    let s = Server::start();
    let agent = Agent::start(&s, &["--simulate", "3"]);
    wait_for("3 Ready nodes", Duration::from_secs(30), || {
        let table = rows(&s.ok(&["get", "nodes"]));
        (table.len() == 4 && table[1..].iter().all(|r| r[1] == "Ready")).then_some(())
    });
    (s, agent)
}

/// Polls `check` until it returns `Some`, failing the test with `what` after `timeout`.
fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The images of the pods of `app` that are not being deleted.
fn running_images(s: &Server, app: &str) -> Vec<String> {
    let list: Value =
        serde_json::from_str(&s.ok(&["get", "pods", "-l", &format!("app={app}"), "-o", "json"])).unwrap();
    let pods = list["items"].as_array().unwrap().iter();
    let live = pods.filter(|p| p["metadata"]["deletionTimestamp"].is_null());
    live.flat_map(|p| p["spec"]["containers"].as_array().unwrap().iter())
        .map(|c| c["image"].as_str().unwrap().to_string())
        .collect()
}

fn rollout_status(s: &Server, name: &str) -> String {
    s.ok(&["rollout", "status", &format!("deployment/{name}"), "--timeout=40s"])
}

/// kubectl for a watcher thread (`Server` stays on the test's thread).
struct Kubectl {
    kubeconfig: std::path::PathBuf,
    home: std::path::PathBuf,
}

impl Kubectl {
    fn of(s: &Server) -> Kubectl {
        Kubectl { kubeconfig: s.kubeconfig(), home: s.data_dir().to_path_buf() }
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = Command::new(common::kubectl_bin())
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &self.home)
            .output()
            .expect("kubectl runs");
        assert!(out.status.success(), "kubectl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

/// `(name, spec.replicas, status.replicas, status.availableReplicas)` of the Deployment's
/// ReplicaSets, sorted by name.
fn replica_sets(s: &Server, app: &str) -> Vec<(String, i64, i64, i64)> {
    replica_sets_of(&Kubectl::of(s), app)
}

fn replica_sets_of(k: &Kubectl, app: &str) -> Vec<(String, i64, i64, i64)> {
    let list: Value =
        serde_json::from_str(&k.ok(&["get", "rs", "-l", &format!("app={app}"), "-o", "json"])).unwrap();
    let mut out: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rs| {
            (
                rs["metadata"]["name"].as_str().unwrap().to_string(),
                rs["spec"]["replicas"].as_i64().unwrap_or(1),
                rs["status"]["replicas"].as_i64().unwrap_or(0),
                rs["status"]["availableReplicas"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    out.sort();
    out
}

/// Polls the ReplicaSets of `app` until `stop`, checking every snapshot with `check`; returns
/// how many snapshots it saw.
fn watch_replica_sets(
    k: &Kubectl,
    app: &str,
    stop: &AtomicBool,
    check: impl Fn(&[(String, i64, i64, i64)]),
) -> usize {
    let mut seen = 0;
    while !stop.load(Ordering::Relaxed) {
        check(&replica_sets_of(k, app));
        seen += 1;
    }
    seen
}

/// The tutorial's Deployment (kubernetes.io "Deployments"), with pods that take a moment to
/// become ready so the rollout's steps can be seen.
const NGINX: &str = "
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  labels: {app: nginx}
spec:
  replicas: 3
  selector:
    matchLabels: {app: nginx}
  template:
    metadata:
      labels: {app: nginx}
      annotations: {sim.tugboat.dev/ready-after: 300ms}
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports: [{containerPort: 80}]
";

#[test]
fn the_tutorial_rollout_scale_update_history_undo_restart_pause() {
    let (s, _agent) = cluster();
    s.apply(NGINX);
    let done = rollout_status(&s, "nginx-deployment");
    assert!(done.ends_with("deployment \"nginx-deployment\" successfully rolled out\n"), "{done}");

    let table = rows(&s.ok(&["get", "deployments"]));
    assert_eq!(table[0], ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    assert_eq!(&table[1][..4], ["nginx-deployment", "3/3", "3", "3"]);
    let rs = replica_sets(&s, "nginx");
    assert_eq!(rs.len(), 1);
    let (rs_name, _, _, _) = &rs[0];
    let hash = s.ok(&["get", "rs", rs_name, "-o", "jsonpath={.metadata.labels.pod-template-hash}"]);
    assert_eq!(rs_name, &format!("nginx-deployment-{hash}"));
    assert!(hash.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)), "{hash}");
    let pods = rows(&s.ok(&["get", "pods", "-l", &format!("pod-template-hash={hash}")]));
    assert_eq!(pods.len(), 4, "{pods:?}");
    let annotations: Value =
        serde_json::from_str(&s.ok(&["get", "rs", rs_name, "-o", "jsonpath={.metadata.annotations}"]))
            .unwrap();
    assert_eq!(annotations["deployment.kubernetes.io/revision"], "1");
    assert_eq!(annotations["deployment.kubernetes.io/desired-replicas"], "3");
    assert_eq!(annotations["deployment.kubernetes.io/max-replicas"], "4");
    let status: Value =
        serde_json::from_str(&s.ok(&["get", "deploy", "nginx-deployment", "-o", "jsonpath={.status}"]))
            .unwrap();
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!((status["replicas"].as_i64(), status["updatedReplicas"].as_i64()), (Some(3), Some(3)));
    assert_eq!((status["readyReplicas"].as_i64(), status["availableReplicas"].as_i64()), (Some(3), Some(3)));
    assert!(status.get("unavailableReplicas").is_none(), "zero counts are omitted: {status}");
    let reasons: Vec<&str> =
        status["conditions"].as_array().unwrap().iter().map(|c| c["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["MinimumReplicasAvailable", "NewReplicaSetAvailable"]);

    // Scaling up and down keeps one ReplicaSet.
    s.ok(&["scale", "deployment/nginx-deployment", "--replicas=5"]);
    rollout_status(&s, "nginx-deployment");
    assert_eq!(&rows(&s.ok(&["get", "deploy", "nginx-deployment"]))[1][1..4], ["5/5", "5", "5"]);
    s.ok(&["scale", "deployment/nginx-deployment", "--replicas=3"]);
    wait_for("3 pods", Duration::from_secs(20), || (replica_sets(&s, "nginx")[0].2 == 3).then_some(()));
    rollout_status(&s, "nginx-deployment");

    // A rolling update, watched step by step: never more than 3 + 1 (25% rounded up)
    // replicas asked for, never fewer than 3 - 0 (25% rounded down) available.
    s.ok(&["annotate", "deployment/nginx-deployment", "kubernetes.io/change-cause=nginx 1.14.2"]);
    let stop = AtomicBool::new(false);
    let k = Kubectl::of(&s);
    let snapshots = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            watch_replica_sets(&k, "nginx", &stop, |rss| {
                let asked: i64 = rss.iter().map(|r| r.1).sum();
                let available: i64 = rss.iter().map(|r| r.3).sum();
                assert!(asked <= 4, "more than replicas + maxSurge: {rss:?}");
                assert!(available >= 3, "fewer than replicas - maxUnavailable available: {rss:?}");
            })
        });
        s.ok(&["set", "image", "deployment/nginx-deployment", "nginx=nginx:1.16.1"]);
        s.ok(&[
            "annotate",
            "deployment/nginx-deployment",
            "kubernetes.io/change-cause=nginx 1.16.1",
            "--overwrite",
        ]);
        let progress = rollout_status(&s, "nginx-deployment");
        stop.store(true, Ordering::Relaxed);
        assert!(progress.contains("successfully rolled out"), "{progress}");
        watcher.join().unwrap()
    });
    assert!(snapshots > 0);
    let rss = replica_sets(&s, "nginx");
    assert_eq!(rss.len(), 2, "{rss:?}");
    assert_eq!(rss.iter().map(|r| r.1).collect::<Vec<_>>().iter().sum::<i64>(), 3);
    let images = s.ok(&["get", "pods", "-l", "app=nginx", "-o", "jsonpath={..image}"]);
    assert_eq!(images.split_whitespace().filter(|i| *i == "nginx:1.16.1").count(), 3, "{images}");
    let events = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=nginx-deployment,reason=ScalingReplicaSet",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(events.contains(&format!("Scaled up replica set {rs_name} from 0 to 3")), "{events}");
    assert!(events.contains(&format!("Scaled down replica set {rs_name} from 3 to 2")), "{events}");

    // History: one revision per template, with its change-cause.
    let history = rows(&s.ok(&["rollout", "history", "deployment/nginx-deployment"]));
    assert_eq!(history[1], ["REVISION", "CHANGE-CAUSE"]);
    assert_eq!(history[2], ["1", "nginx", "1.14.2"]);
    assert_eq!(history[3], ["2", "nginx", "1.16.1"]);
    let revision2 = s.ok(&["rollout", "history", "deployment/nginx-deployment", "--revision=2"]);
    assert!(revision2.contains("nginx:1.16.1"), "{revision2}");

    // Undo (done by kubectl, which patches the template back): the first ReplicaSet is the new
    // one again, as revision 3.
    s.ok(&["rollout", "undo", "deployment/nginx-deployment"]);
    rollout_status(&s, "nginx-deployment");
    let rss = replica_sets(&s, "nginx");
    assert_eq!(rss.len(), 2);
    let first = rss.iter().find(|r| &r.0 == rs_name).unwrap();
    assert_eq!(first.1, 3, "{rss:?}");
    let revision = s.ok(&[
        "get",
        "deploy",
        "nginx-deployment",
        "-o",
        "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
    ]);
    assert_eq!(revision, "3");
    let history = rows(&s.ok(&["rollout", "history", "deployment/nginx-deployment"]));
    assert_eq!(&history[2..4], [vec!["2", "nginx", "1.16.1"], vec!["3", "nginx", "1.14.2"]]);
    let rs_history = s.ok(&[
        "get",
        "rs",
        rs_name,
        "-o",
        "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision-history}",
    ]);
    assert_eq!(rs_history, "1");

    // Restart: a template annotation, so a new ReplicaSet.
    s.ok(&["rollout", "restart", "deployment/nginx-deployment"]);
    rollout_status(&s, "nginx-deployment");
    assert_eq!(replica_sets(&s, "nginx").len(), 3);

    // Paused: template changes wait, scaling does not.
    s.ok(&["rollout", "pause", "deployment/nginx-deployment"]);
    s.ok(&["set", "image", "deployment/nginx-deployment", "nginx=nginx:1.17"]);
    s.ok(&["scale", "deployment/nginx-deployment", "--replicas=4"]);
    wait_for("4 replicas while paused", Duration::from_secs(20), || {
        let rss = replica_sets(&s, "nginx");
        (rss.len() == 3 && rss.iter().map(|r| r.2).sum::<i64>() == 4).then_some(())
    });
    let reason = s.ok(&[
        "get",
        "deploy",
        "nginx-deployment",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}",
    ]);
    assert_eq!(reason, "DeploymentPaused");
    s.ok(&["rollout", "resume", "deployment/nginx-deployment"]);
    rollout_status(&s, "nginx-deployment");
    let rss = replica_sets(&s, "nginx");
    assert_eq!(rss.len(), 4, "{rss:?}");
    assert_eq!(rss.iter().filter(|r| r.1 > 0).count(), 1, "{rss:?}");

    // Scale to zero: no pods, an empty but complete Deployment.
    s.ok(&["scale", "deployment/nginx-deployment", "--replicas=0"]);
    wait_for("no pods", Duration::from_secs(20), || {
        let pods = s.ok(&["get", "pods", "-l", "app=nginx", "-o", "name"]);
        pods.trim().is_empty().then_some(())
    });
    rollout_status(&s, "nginx-deployment");
    assert_eq!(&rows(&s.ok(&["get", "deploy", "nginx-deployment"]))[1][1..4], ["0/0", "0", "0"]);
}

const RECREATE: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: recreate}
spec:
  replicas: 3
  revisionHistoryLimit: 1
  strategy: {type: Recreate}
  selector:
    matchLabels: {app: recreate}
  template:
    metadata:
      labels: {app: recreate}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: app, image: app:v1}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: bluegreen}
spec:
  replicas: 3
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 100%, maxUnavailable: 0}
  selector:
    matchLabels: {app: bluegreen}
  template:
    metadata:
      labels: {app: bluegreen}
      annotations: {sim.tugboat.dev/ready-after: 300ms}
    spec:
      containers: [{name: app, image: app:v1}]
";

#[test]
fn recreate_and_blue_green() {
    let (s, _agent) = cluster();
    s.apply(RECREATE);
    rollout_status(&s, "recreate");
    rollout_status(&s, "bluegreen");

    // Recreate: the old pods are all gone before any new one is asked for.
    let stop = AtomicBool::new(false);
    let k = Kubectl::of(&s);
    std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            watch_replica_sets(&k, "recreate", &stop, |rss| {
                let busy = rss.iter().filter(|r| r.1 > 0 || r.2 > 0).count();
                assert!(busy <= 1, "old and new pods at once: {rss:?}");
            })
        });
        s.ok(&["set", "image", "deployment/recreate", "app=app:v2"]);
        rollout_status(&s, "recreate");
        stop.store(true, Ordering::Relaxed);
        watcher.join().unwrap();
    });
    let events = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=recreate",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(events.contains("from 3 to 0"), "{events}");
    // revisionHistoryLimit 1: a third template leaves two ReplicaSets.
    s.ok(&["set", "image", "deployment/recreate", "app=app:v3"]);
    rollout_status(&s, "recreate");
    wait_for("old ReplicaSets cleaned up", Duration::from_secs(20), || {
        (replica_sets(&s, "recreate").len() == 2).then_some(())
    });

    // Blue-green: the whole new set comes up beside the old, and only then does the old go.
    let stop = AtomicBool::new(false);
    let k = Kubectl::of(&s);
    let max_asked = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let max = std::sync::atomic::AtomicI64::new(0);
            watch_replica_sets(&k, "bluegreen", &stop, |rss| {
                let asked: i64 = rss.iter().map(|r| r.1).sum();
                let available: i64 = rss.iter().map(|r| r.3).sum();
                max.fetch_max(asked, Ordering::Relaxed);
                assert!(asked <= 6, "{rss:?}");
                assert!(available >= 3, "{rss:?}");
            });
            max.load(Ordering::Relaxed)
        });
        s.ok(&["set", "image", "deployment/bluegreen", "app=app:v2"]);
        rollout_status(&s, "bluegreen");
        stop.store(true, Ordering::Relaxed);
        watcher.join().unwrap()
    });
    assert_eq!(max_asked, 6);
}

/// Upstream's proportional scaling example (10 replicas, maxSurge 3, maxUnavailable 2, a
/// rollout stuck on pods that never become ready, then scaled to 15), and the progress deadline.
const STUCK: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: stuck}
spec:
  replicas: 10
  progressDeadlineSeconds: 2
  strategy:
    rollingUpdate: {maxSurge: 3, maxUnavailable: 2}
  selector:
    matchLabels: {app: stuck}
  template:
    metadata:
      labels: {app: stuck}
    spec:
      containers: [{name: app, image: app:v1}]
";

#[test]
fn a_stuck_rollout_scales_proportionally_and_exceeds_its_deadline() {
    let (s, _agent) = cluster();
    s.apply(STUCK);
    rollout_status(&s, "stuck");
    let patch = r#"{"spec":{"template":{"metadata":{"annotations":{"sim.tugboat.dev/ready":"false"}},"spec":{"containers":[{"name":"app","image":"app:v2"}]}}}}"#;
    s.ok(&["patch", "deployment/stuck", "-p", patch]);
    let sizes = |rss: &[(String, i64, i64, i64)]| {
        let mut sizes: Vec<i64> = rss.iter().map(|r| r.1).collect();
        sizes.sort();
        sizes
    };
    wait_for("old 8, new 5", Duration::from_secs(20), || {
        (sizes(&replica_sets(&s, "stuck")) == [5, 8]).then_some(())
    });

    // kubectl rollout status gives up once the deadline has passed.
    let out = s.kubectl(&["rollout", "status", "deployment/stuck", "--timeout=30s"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("deployment \"stuck\" exceeded its progress deadline"), "{err}");
    let cond = s.ok(&[
        "get",
        "deploy",
        "stuck",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}",
    ]);
    assert_eq!(cond, "ProgressDeadlineExceeded");

    s.ok(&["scale", "deployment/stuck", "--replicas=15"]);
    let rss = wait_for("old 11, new 7", Duration::from_secs(20), || {
        let rss = replica_sets(&s, "stuck");
        (sizes(&rss) == [7, 11]).then_some(rss)
    });
    let table = rows(&s.ok(&["get", "deploy", "stuck"]));
    assert_eq!(table[1][1], "11/15", "{table:?}");
    let unavailable = s.ok(&["get", "deploy", "stuck", "-o", "jsonpath={.status.unavailableReplicas}"]);
    assert_eq!(unavailable, "7", "{rss:?}");
}

/// The "Machine Learning with Kubernetes" tutorial's Deployment section, command for command.
const RANDOMFOREST: &str = "
apiVersion: apps/v1
kind: Deployment
metadata:
  name: example-deployment-randomforest
  labels:
    app: dep-randomforest
spec:
  replicas: 3
  selector:
    matchLabels:
      app: dep-randomforest
  template:
    metadata:
      labels:
        app: dep-randomforest
    spec:
      containers:
        - name: simple-randomforest
          image: aishpra/simple-randomforest
          ports:
          - containerPort: 5000
";

#[test]
fn the_randomforest_tutorial() {
    let (s, _agent) = cluster();
    let dir = s.data_dir().join("src");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("deployment-randomforest.yml");
    std::fs::write(&file, RANDOMFOREST).unwrap();
    let out = s.ok(&["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(out, "deployment.apps/example-deployment-randomforest created\n");
    rollout_status(&s, "example-deployment-randomforest");
    let out = s.ok(&[
        "set",
        "image",
        "deployment/example-deployment-randomforest",
        "simple-randomforest=aishpra/simple-randomforest:v2",
    ]);
    assert_eq!(out, "deployment.apps/example-deployment-randomforest image updated\n");
    let out = rollout_status(&s, "example-deployment-randomforest");
    assert!(
        out.ends_with("deployment \"example-deployment-randomforest\" successfully rolled out\n"),
        "{out}"
    );
    let images = s.ok(&["get", "pods", "-l", "app=dep-randomforest", "-o", "jsonpath={..image}"]);
    let v2 = images.split_whitespace().filter(|i| *i == "aishpra/simple-randomforest:v2").count();
    assert_eq!(v2, 3, "{images}");
    let history = s.ok(&["rollout", "history", "deployment/example-deployment-randomforest"]);
    assert_eq!(
        history,
        "deployment.apps/example-deployment-randomforest \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n\n"
    );
    let out = s.ok(&["rollout", "undo", "deployment/example-deployment-randomforest"]);
    assert_eq!(out, "deployment.apps/example-deployment-randomforest rolled back\n");
    rollout_status(&s, "example-deployment-randomforest");
    wait_for("the first image back", Duration::from_secs(20), || {
        let images = running_images(&s, "dep-randomforest");
        (images == ["aishpra/simple-randomforest"; 3]).then_some(())
    });
    s.ok(&["delete", "deployments", "example-deployment-randomforest"]);
}
