//! End to end: `kubectl drain` on simulated nodes: cordon, evictions through `pods/eviction`
//! that honour a PodDisruptionBudget, and the workload moving to the other node.

mod common;

use common::{Agent, Server, eventually};

const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: nginx, image: nginx}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
"#;

#[test]
fn drain_evicts_within_the_budget_and_the_pods_move() {
    let s = Server::start();
    let _agent = Agent::start(&s, &["--simulate", "2"]);
    let out = s.kubectl_stdin(&["apply", "-f", "-"], WEB);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually("two ready pods and an allowed disruption", || {
        let ready = s.ok(&["get", "deploy", "web", "-o", "jsonpath={.status.readyReplicas}"]);
        let allowed = s.ok(&["get", "pdb", "web", "-o", "jsonpath={.status.disruptionsAllowed}"]);
        (ready == "2" && allowed == "1").then_some(())
    });
    let table = s.ok(&["get", "pdb", "web"]);
    assert!(
        table.starts_with("NAME   MIN AVAILABLE   MAX UNAVAILABLE   ALLOWED DISRUPTIONS   AGE"),
        "{table}"
    );

    let out = s.kubectl(&["drain", "sim-node-0", "--ignore-daemonsets", "--timeout=80s"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "drain failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("node/sim-node-0 cordoned"), "{stdout}");
    assert!(stdout.contains("node/sim-node-0 drained"), "{stdout}");

    eventually("both pods on the other node", || {
        let nodes = s.ok(&["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].spec.nodeName}"]);
        let nodes: Vec<&str> = nodes.split_whitespace().collect();
        (nodes.len() == 2 && nodes.iter().all(|n| *n == "sim-node-1")).then_some(())
    });
    let unschedulable = s.ok(&["get", "node", "sim-node-0", "-o", "jsonpath={.spec.unschedulable}"]);
    assert_eq!(unschedulable, "true");
}

#[test]
fn an_eviction_the_budget_forbids_is_refused() {
    let s = Server::start();
    let _agent = Agent::start(&s, &["--simulate", "1"]);
    let strict = WEB.replace("minAvailable: 1", "minAvailable: 2");
    assert!(s.kubectl_stdin(&["apply", "-f", "-"], &strict).status.success());
    let pod = eventually("two ready pods", || {
        let ready = s.ok(&["get", "deploy", "web", "-o", "jsonpath={.status.readyReplicas}"]);
        let synced = s.ok(&["get", "pdb", "web", "-o", "jsonpath={.status.currentHealthy}"]);
        let name = s.ok(&["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].metadata.name}"]);
        (ready == "2" && synced == "2").then_some(name)
    });
    let eviction = format!(
        r#"{{"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {{"name": "{pod}", "namespace": "default"}}}}"#
    );
    std::fs::write(s.data_dir().join("eviction.json"), &eviction).unwrap();
    let path = format!("/api/v1/namespaces/default/pods/{pod}/eviction");
    let file = s.data_dir().join("eviction.json");
    let err = s.fails(&["create", "--raw", &path, "-f", file.to_str().unwrap()]);
    assert!(err.contains("Cannot evict pod as it would violate the pod's disruption budget"), "{err}");
}
