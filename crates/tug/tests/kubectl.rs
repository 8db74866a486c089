//! End to end: the real kubectl v1.35 against a real `tug server`.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use common::{Server, kubectl_bin, rows};

const GAME_CONFIG: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: game-config
  labels: {app: game}
data:
  lives: \"3\"
  color: blue
";

#[test]
fn namespaces_exist_from_the_start() {
    let s = Server::start();
    let out = s.ok(&["get", "namespaces"]);
    let table = rows(&out);
    assert_eq!(table[0], ["NAME", "STATUS", "AGE"]);
    for ns in ["default", "kube-node-lease", "kube-public", "kube-system"] {
        assert!(table.iter().any(|r| r[0] == ns && r[1] == "Active"), "{ns} missing:\n{out}");
    }
    let svc =
        s.ok(&["get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP} {.spec.ports[0].port}"]);
    assert_eq!(svc, "10.43.0.1 443");
}

#[test]
fn apply_reapply_label_patch_and_delete_a_configmap() {
    let s = Server::start();
    let apply = |doc: &str| {
        let out = s.kubectl_stdin(&["apply", "-f", "-"], doc);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(apply(GAME_CONFIG), "configmap/game-config created\n");
    let table = rows(&s.ok(&["get", "configmaps"]));
    assert_eq!(table[0], ["NAME", "DATA", "AGE"]);
    assert_eq!(&table[1][..2], ["game-config", "2"]);
    assert_eq!(apply(GAME_CONFIG), "configmap/game-config unchanged\n");
    assert_eq!(apply(&GAME_CONFIG.replace("\"3\"", "\"5\"")), "configmap/game-config configured\n");
    assert_eq!(s.ok(&["get", "cm", "game-config", "-o", "jsonpath={.data.lives}"]), "5");

    assert_eq!(s.ok(&["label", "cm", "game-config", "tier=backend"]), "configmap/game-config labeled\n");
    let labeled = rows(&s.ok(&["get", "cm", "--show-labels"]));
    assert_eq!(labeled[1].last().unwrap(), "app=game,tier=backend");
    assert_eq!(rows(&s.ok(&["get", "cm", "-l", "tier=backend", "-o", "name"]))[0], ["configmap/game-config"]);
    // (`app` leaves out kube-root-ca.crt, which the root CA publisher puts in every namespace.)
    assert_eq!(s.ok(&["get", "cm", "-l", "app,tier!=backend", "-o", "name"]), "");

    s.ok(&["patch", "cm", "game-config", "--type=merge", "-p", r#"{"data":{"color":"red"}}"#]);
    s.ok(&[
        "patch",
        "cm",
        "game-config",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/data/level","value":"9"}]"#,
    ]);
    s.ok(&["patch", "cm", "game-config", "-p", r#"{"metadata":{"annotations":{"note":"hi"}}}"#]);
    let data = s.ok(&[
        "get",
        "cm",
        "game-config",
        "-o",
        "jsonpath={.data.color} {.data.level} {.metadata.annotations.note}",
    ]);
    assert_eq!(data, "red 9 hi");
    let err = s.fails(&[
        "patch",
        "cm",
        "game-config",
        "--type=json",
        "-p",
        r#"[{"op":"test","path":"/data/color","value":"blue"}]"#,
    ]);
    assert!(err.contains("The request is invalid") && err.contains("test failed"), "{err}");

    let out = s.ok(&["delete", "cm", "game-config"]);
    assert!(out.starts_with("configmap \"game-config\" deleted"), "{out}");
    let err = s.fails(&["get", "cm", "game-config"]);
    assert_eq!(err.trim(), "Error from server (NotFound): configmaps \"game-config\" not found");
}

#[test]
fn server_dry_run_stores_nothing() {
    let s = Server::start();
    let out = s.kubectl_stdin(&["apply", "--dry-run=server", "-f", "-"], GAME_CONFIG);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "configmap/game-config created (server dry run)\n");
    assert!(s.fails(&["get", "cm", "game-config"]).contains("NotFound"));
}

#[test]
fn bad_requests_get_upstreams_errors() {
    let s = Server::start();
    let bad_name = GAME_CONFIG.replace("name: game-config", "name: Game_Config");
    let out = s.kubectl_stdin(&["apply", "-f", "-"], &bad_name);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ConfigMap \"Game_Config\" is invalid: metadata.name: Invalid value: \"Game_Config\": a lowercase RFC 1123 subdomain"),
        "{err}"
    );
    let out = s.kubectl_stdin(&["apply", "-n", "nowhere", "-f", "-"], GAME_CONFIG);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("namespaces \"nowhere\" not found"), "{err}");
    let err = s.fails(&["get", "pods", "--field-selector", "spec.nope=x"]);
    assert!(err.contains("field label not supported: spec.nope"), "{err}");
}

#[test]
fn unknown_bearer_tokens_are_unauthorized() {
    let s = Server::start();
    let server = s.ok(&["config", "view", "-o", "jsonpath={.clusters[0].cluster.server}"]);
    let empty = s.data_dir().join("empty-kubeconfig");
    std::fs::write(&empty, "apiVersion: v1\nkind: Config\n").unwrap();
    let out = Command::new(kubectl_bin())
        .args([
            "--server",
            &server,
            "--insecure-skip-tls-verify",
            "--token",
            "not-a-token",
            "get",
            "namespaces",
        ])
        .env("KUBECONFIG", &empty)
        .env("HOME", s.data_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error: You must be logged in to the server"), "{err}");
}

#[test]
fn discovery_serves_the_builtin_resources() {
    let s = Server::start();
    let resources = rows(&s.ok(&["api-resources"]));
    assert_eq!(resources[0], ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]);
    assert!(
        resources
            .contains(&["deployments", "deploy", "apps/v1", "true", "Deployment"].map(String::from).to_vec())
    );
    assert!(resources.contains(&["namespaces", "ns", "v1", "false", "Namespace"].map(String::from).to_vec()));
    let versions = s.ok(&["api-versions"]);
    for gv in ["v1", "apps/v1", "batch/v1", "autoscaling/v2", "networking.k8s.io/v1"] {
        assert!(versions.lines().any(|l| l == gv), "{gv} missing:\n{versions}");
    }
    let server_version = s.ok(&["version", "-o", "json"]);
    assert!(server_version.contains("\"minor\": \"35\""), "{server_version}");
}

#[test]
fn lists_paginate() {
    let s = Server::start();
    for i in 0..7 {
        let doc = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: page-{i}\n");
        let out = s.kubectl_stdin(&["apply", "-f", "-"], &doc);
        assert!(out.status.success());
    }
    let names = s.ok(&["get", "cm", "--chunk-size=2", "-o", "name"]);
    let want: Vec<String> = (0..7).map(|i| format!("configmap/page-{i}")).collect();
    let listed: Vec<&str> = names.lines().filter(|n| *n != "configmap/kube-root-ca.crt").collect();
    assert_eq!(listed, want);
}

#[test]
fn watch_streams_changes() {
    let s = Server::start();
    let mut child = Command::new(kubectl_bin())
        .args(["get", "configmaps", "--watch", "-o", "name"])
        .env("KUBECONFIG", s.kubeconfig())
        .env("HOME", s.data_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // The watch is running once it has listed (and printed) the existing objects; creating
    // repeatedly until it reports one avoids depending on when it started.
    for i in 0.. {
        let doc = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watched-{i}\n");
        assert!(s.kubectl_stdin(&["apply", "-f", "-"], &doc).status.success());
        // The first list may show the root CA publisher's ConfigMap.
        if let Ok(line) = rx.recv_timeout(Duration::from_secs(5))
            && line != "configmap/kube-root-ca.crt"
        {
            assert!(line.starts_with("configmap/watched-"), "{line}");
            break;
        }
        assert!(i < 5, "the watch never reported a change");
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn restart_keeps_objects_and_credentials() {
    let s = Server::start();
    assert!(s.kubectl_stdin(&["apply", "-f", "-"], GAME_CONFIG).status.success());
    let kubeconfig = std::fs::read_to_string(s.kubeconfig()).unwrap();
    let token = std::fs::read_to_string(s.data_dir().join("token")).unwrap();
    let s = s.restart();
    assert_eq!(std::fs::read_to_string(s.data_dir().join("token")).unwrap(), token);
    // Same CA and admin credentials: the old kubeconfig still works (the port may differ).
    let ca = |k: &str| k.lines().find(|l| l.contains("certificate-authority-data")).unwrap().to_string();
    assert_eq!(ca(&std::fs::read_to_string(s.kubeconfig()).unwrap()), ca(&kubeconfig));
    assert_eq!(s.ok(&["get", "cm", "game-config", "-o", "jsonpath={.data.color}"]), "blue");
}

#[test]
fn etcd_backend_serves_the_same_api() {
    let etcd_dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let etcd = rt.block_on(tug_store::etcd::LocalEtcd::start(etcd_dir.path())).expect("etcd starts");
    let s = Server::start_with(tempfile::tempdir().unwrap(), &["--datastore-endpoint", &etcd.endpoint()]);
    assert!(s.startup_log.iter().any(|l| l.contains("using etcd")));
    assert!(s.kubectl_stdin(&["apply", "-f", "-"], GAME_CONFIG).status.success());
    assert_eq!(s.ok(&["get", "cm", "game-config", "-o", "jsonpath={.data.color}"]), "blue");
    assert!(rows(&s.ok(&["get", "ns"])).iter().any(|r| r[0] == "kube-system"));
}

const WEB_DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
";

#[test]
fn scale_set_image_and_restart_a_deployment() {
    let s = Server::start();
    assert!(s.kubectl_stdin(&["apply", "-f", "-"], WEB_DEPLOYMENT).status.success());
    let gen_of = || s.ok(&["get", "deploy", "web", "-o", "jsonpath={.metadata.generation}"]);
    assert_eq!(gen_of(), "1");

    assert_eq!(s.ok(&["scale", "deployment", "web", "--replicas=4"]), "deployment.apps/web scaled\n");
    assert_eq!(s.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "4");
    assert_eq!(gen_of(), "2", "a replicas change is a spec change");
    let scale = s.ok(&["get", "--raw", "/apis/apps/v1/namespaces/default/deployments/web/scale"]);
    assert!(scale.contains(r#""kind":"Scale""#) && scale.contains(r#""selector":"app=web""#), "{scale}");

    assert_eq!(
        s.ok(&["set", "image", "deployment/web", "nginx=nginx:1.26"]),
        "deployment.apps/web image updated\n"
    );
    let container = s.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}"]);
    assert_eq!(container, "nginx:1.26 80", "strategic merge keeps the container's other fields");

    assert_eq!(s.ok(&["rollout", "restart", "deployment/web"]), "deployment.apps/web restarted\n");
    let annotations = s.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.template.metadata.annotations}"]);
    assert!(annotations.contains("kubectl.kubernetes.io/restartedAt"), "{annotations}");

    let table = rows(&s.ok(&["get", "deployments"]));
    assert_eq!(table[0], ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    // No node runs the pods, so none is ready; UP-TO-DATE moves as the controller works.
    assert_eq!(&table[1][..2], ["web", "0/4"]);
    let all = s.ok(&["get", "all"]);
    assert!(all.contains("deployment.apps/web") && all.contains("service/kubernetes"), "{all}");
    assert!(s.fails(&["scale", "deployment", "web", "--replicas=-1"]).contains("replicas"));
}

const CRONTAB_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                cronSpec: {type: string}
                image: {type: string}
                replicas: {type: integer}
      additionalPrinterColumns:
      - name: Spec
        type: string
        jsonPath: .spec.cronSpec
      - name: Replicas
        type: integer
        jsonPath: .spec.replicas
      - name: Age
        type: date
        jsonPath: .metadata.creationTimestamp
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames:
    - ct
";

const CRONTAB: &str = "apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: my-new-cron-object
spec:
  cronSpec: \"* * * * */5\"
  image: my-awesome-cron-image
  replicas: 1
";

#[test]
fn custom_resources_are_served_from_their_definition() {
    let s = Server::start();
    assert_eq!(
        String::from_utf8_lossy(&s.kubectl_stdin(&["apply", "-f", "-"], CRONTAB_CRD).stdout),
        "customresourcedefinition.apiextensions.k8s.io/crontabs.stable.example.com created\n"
    );
    let established = s.ok(&[
        "get",
        "crd",
        "crontabs.stable.example.com",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
    ]);
    assert_eq!(established, "True");
    // The new resource is served as soon as the definition is stored.
    let out = s.kubectl_stdin(&["apply", "-f", "-"], CRONTAB);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "crontab.stable.example.com/my-new-cron-object created\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = rows(&s.ok(&["get", "crontab"]));
    assert_eq!(table[0], ["NAME", "SPEC", "REPLICAS", "AGE"]);
    assert_eq!(&table[1][..7], ["my-new-cron-object", "*", "*", "*", "*", "*/5", "1"]);
    assert_eq!(
        s.ok(&["get", "ct", "my-new-cron-object", "-o", "jsonpath={.spec.image}"]),
        "my-awesome-cron-image"
    );
    assert!(s.ok(&["api-resources", "--api-group=stable.example.com"]).contains("crontabs"));

    // The definition's schema prunes, checks and validates custom objects.
    let unknown = CRONTAB.replace("replicas: 1", "replicas: 1\n  extra: field");
    let out = s.kubectl_stdin(&["apply", "-f", "-"], &unknown);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("strict decoding error: unknown field \"spec.extra\""), "{err}");
    let wrong_type = CRONTAB.replace("replicas: 1", "replicas: many");
    let out = s.kubectl_stdin(&["apply", "--validate=false", "-f", "-"], &wrong_type);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("The CronTab \"my-new-cron-object\" is invalid: spec.replicas: Invalid value"),
        "{err}"
    );
    assert_eq!(s.ok(&["get", "ct", "my-new-cron-object", "-o", "jsonpath={.metadata.generation}"]), "1");

    s.ok(&["delete", "crd", "crontabs.stable.example.com"]);
    // kubectl's discovery cache still knows the resource, so it asks and gets upstream's 404.
    let err = s.fails(&["get", "crontabs"]);
    assert!(
        err.contains("the server could not find the requested resource (get crontabs.stable.example.com)"),
        "{err}"
    );
}

#[test]
fn objects_are_defaulted_like_upstream() {
    let s = Server::start();
    assert!(s.kubectl_stdin(&["apply", "-f", "-"], WEB_DEPLOYMENT).status.success());
    let got = s.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.strategy.type} {.spec.strategy.rollingUpdate.maxSurge} {.spec.revisionHistoryLimit} \
         {.spec.progressDeadlineSeconds} {.spec.template.spec.restartPolicy} \
         {.spec.template.spec.containers[0].imagePullPolicy} {.spec.template.spec.containers[0].ports[0].protocol} \
         {.spec.template.spec.containers[0].terminationMessagePath}",
    ]);
    assert_eq!(got, "RollingUpdate 25% 10 600 Always IfNotPresent TCP /dev/termination-log");
    // Defaulting is stable: applying the same manifest again changes nothing.
    let out = s.kubectl_stdin(&["apply", "-f", "-"], WEB_DEPLOYMENT);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "deployment.apps/web unchanged\n");
    assert!(s.ok(&["describe", "deployment", "web"]).contains("StrategyType:           RollingUpdate"));
}

#[test]
fn services_get_cluster_ips_and_node_ports() {
    let s = Server::start();
    assert!(s.kubectl_stdin(&["apply", "-f", "-"], WEB_DEPLOYMENT).status.success());
    assert_eq!(s.ok(&["expose", "deployment", "web", "--port=80"]), "service/web exposed\n");
    let ip = s.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    assert!(ip.starts_with("10.43.") && ip != "10.43.0.1", "{ip}");
    let table = rows(&s.ok(&["get", "svc", "web"]));
    assert_eq!(table[0], ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]);
    assert_eq!(&table[1][..5], ["web", "ClusterIP", ip.as_str(), "<none>", "80/TCP"]);

    let node_port = "apiVersion: v1\nkind: Service\nmetadata:\n  name: np\nspec:\n  type: NodePort\n  selector: {app: web}\n  ports:\n  - port: 80\n    nodePort: 30080\n";
    assert!(s.kubectl_stdin(&["apply", "-f", "-"], node_port).status.success());
    assert_eq!(rows(&s.ok(&["get", "svc", "np"]))[1][4], "80:30080/TCP");
    // The same node port cannot be handed out twice.
    let clash = node_port.replace("name: np", "name: np2");
    let out = s.kubectl_stdin(&["apply", "-f", "-"], &clash);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("provided port is already allocated"));
    // Released on delete: now it can be taken.
    s.ok(&["delete", "svc", "np"]);
    assert!(s.kubectl_stdin(&["apply", "-f", "-"], &clash).status.success());

    let taken = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: fixed\nspec:\n  clusterIP: {ip}\n  ports:\n  - port: 80\n"
    );
    let out = s.kubectl_stdin(&["apply", "-f", "-"], &taken);
    assert!(String::from_utf8_lossy(&out.stderr).contains("provided IP is already allocated"));
}

#[test]
fn imperative_creates_send_protobuf_and_work() {
    let s = Server::start();
    assert_eq!(s.ok(&["create", "namespace", "demo"]), "namespace/demo created\n");
    assert_eq!(
        s.ok(&["create", "configmap", "c1", "--from-literal=a=b", "-n", "demo"]),
        "configmap/c1 created\n"
    );
    assert_eq!(
        s.ok(&["create", "secret", "generic", "s1", "--from-literal=p=q", "-n", "demo"]),
        "secret/s1 created\n"
    );
    assert_eq!(
        s.ok(&["create", "deployment", "web", "--image=nginx", "--replicas=2", "-n", "demo"]),
        "deployment.apps/web created\n"
    );
    assert_eq!(
        s.ok(&["create", "job", "j1", "--image=busybox", "-n", "demo", "--", "echo", "hi"]),
        "job.batch/j1 created\n"
    );
    assert_eq!(
        s.ok(&[
            "create",
            "cronjob",
            "cj",
            "--image=busybox",
            "--schedule=*/1 * * * *",
            "-n",
            "demo",
            "--",
            "date"
        ]),
        "cronjob.batch/cj created\n"
    );
    assert_eq!(s.ok(&["get", "secret", "s1", "-n", "demo", "-o", "jsonpath={.data.p}"]), "cQ==");
    assert_eq!(s.ok(&["get", "cm", "c1", "-n", "demo", "-o", "jsonpath={.data.a}"]), "b");
    let deploy = s.ok(&["get", "deploy", "web", "-n", "demo", "-o", "jsonpath={.spec.replicas} {.spec.selector.matchLabels.app} {.spec.template.spec.containers[0].image}"]);
    assert_eq!(deploy, "2 web nginx");
    // The Job got its server-generated selector from the create path.
    let selector = s.ok(&["get", "job", "j1", "-n", "demo", "-o", "jsonpath={.spec.selector.matchLabels}"]);
    assert!(selector.contains("batch.kubernetes.io/controller-uid"), "{selector}");
    let out = s.ok(&["autoscale", "deployment", "web", "--min=2", "--max=5", "--cpu=80%", "-n", "demo"]);
    assert_eq!(out, "horizontalpodautoscaler.autoscaling/web autoscaled\n");
    assert_eq!(
        rows(&s.ok(&["get", "hpa", "-n", "demo"]))[1][..5],
        ["web", "Deployment/web", "cpu:", "<unknown>/80%", "2"]
    );
    // Deleting a namespace takes its objects along.
    s.ok(&["delete", "namespace", "demo"]);
    assert!(s.fails(&["get", "cm", "c1", "-n", "demo"]).contains("NotFound"));
}

#[test]
fn server_side_apply_tracks_owners_and_conflicts() {
    let s = Server::start();
    let apply = |doc: &str, extra: &[&str]| {
        let mut args = vec!["apply", "--server-side", "-f", "-"];
        args.extend_from_slice(extra);
        s.kubectl_stdin(&args, doc)
    };
    let out = apply(WEB_DEPLOYMENT, &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "deployment.apps/web serverside-applied\n");
    assert_eq!(
        String::from_utf8_lossy(&apply(WEB_DEPLOYMENT, &[]).stdout),
        "deployment.apps/web serverside-applied\n"
    );
    let managers = s.ok(&[
        "get",
        "deploy",
        "web",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[?(@.operation==\"Apply\")].manager}",
    ]);
    // The deployment controller manages status beside it, as on any cluster.
    assert_eq!(managers, "kubectl");

    // Another manager takes replicas; applying a different value now conflicts.
    s.ok(&["scale", "deploy", "web", "--replicas=5"]);
    let three = WEB_DEPLOYMENT.replace("replicas: 2", "replicas: 3");
    let out = apply(&three, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" using apps/v1: .spec.replicas"),
        "{err}"
    );
    assert!(apply(&three, &["--force-conflicts"]).status.success());
    assert_eq!(s.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "3");

    // Fields dropped from the applied configuration are removed.
    let without_ports = three.replace("        ports:\n        - containerPort: 80\n", "");
    assert!(apply(&without_ports, &[]).status.success());
    assert_eq!(
        s.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].ports}"]),
        ""
    );

    // Apply creates what does not exist.
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  k: v\n";
    assert_eq!(String::from_utf8_lossy(&apply(cm, &[]).stdout), "configmap/applied serverside-applied\n");
    assert_eq!(s.ok(&["get", "cm", "applied", "-o", "jsonpath={.data.k}"]), "v");
}

#[test]
fn field_validation_and_explain_use_the_schemas() {
    let s = Server::start();
    let typo = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\n  labelz: {a: b}\ndata: {a: b}\n";
    let out = s.kubectl_stdin(&["apply", "-f", "-"], typo);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"metadata.labelz\""
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = s.kubectl_stdin(&["apply", "--validate=warn", "-f", "-"], typo);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Warning: unknown field \"metadata.labelz\""));
    let explain = s.ok(&["explain", "deployment.spec.strategy"]);
    assert!(explain.contains("KIND:       Deployment") && explain.contains("rollingUpdate"), "{explain}");
}

#[test]
fn oversize_objects_are_refused_with_a_status() {
    let s = Server::start();
    let write = |name: &str, bytes: usize| {
        let path = s.data_dir().join(name);
        std::fs::write(&path, "x".repeat(bytes)).unwrap();
        path
    };
    // Past the request limit (3 MiB), and past the datastore's value limit (1.5 MiB).
    let huge = write("huge", 4 << 20);
    let err = s.fails(&["create", "configmap", "huge", &format!("--from-file={}", huge.display())]);
    assert!(err.contains("failed to create configmap: Request entity too large: limit is 3145728"), "{err}");
    // A ConfigMap's own 1 MiB rule comes first, as upstream's validation does.
    let big = write("big", 2 << 20);
    let err = s.fails(&["create", "configmap", "big", &format!("--from-file={}", big.display())]);
    assert!(
        err.contains("ConfigMap \"big\" is invalid: []: Too long: may not be more than 1048576 bytes"),
        "{err}"
    );
    assert!(s.fails(&["get", "cm", "big"]).contains("NotFound"));
    // Kinds without a size rule meet the datastore's limit.
    let value = "x".repeat(2 << 20);
    let pod = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: big\nspec:\n  containers:\n  - name: c\n    image: busybox\n    env:\n    - name: BIG\n      value: {value}\n"
    );
    let out = s.kubectl_stdin(&["create", "-f", "-"], &pod);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Request entity too large") && err.contains("limit is 1572864"), "{err}");
    assert!(s.fails(&["get", "pod", "big"]).contains("NotFound"));
}
