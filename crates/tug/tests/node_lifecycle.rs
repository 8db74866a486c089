//! End to end: a node that stops heartbeating turns NotReady, gets the unreachable taints, and
//! its pods are evicted once their toleration runs out.

mod common;

use common::{Agent, Server, eventually, rows};

const POD: &str = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
  "spec": {"terminationGracePeriodSeconds": 0,
           "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                            "effect": "NoExecute", "tolerationSeconds": 2}],
           "containers": [{"name": "nginx", "image": "nginx"}]}}"#;

#[test]
fn a_silent_node_turns_not_ready_and_its_pods_are_evicted() {
    let s = Server::start_with(tempfile::tempdir().unwrap(), &["--node-monitor-grace-period", "3s"]);
    let agent = Agent::start(&s, &["--simulate", "1"]);
    eventually("a Ready node", || {
        let out = s.ok(&["get", "nodes", "--no-headers"]);
        rows(&out).first().filter(|r| r[1] == "Ready").map(|_| ())
    });
    assert!(s.kubectl_stdin(&["create", "-f", "-"], POD).status.success());
    eventually("the pod running", || {
        (s.ok(&["get", "pod", "web", "-o", "jsonpath={.status.phase}"]) == "Running").then_some(())
    });

    drop(agent);
    eventually("the node NotReady", || {
        let out = s.ok(&["get", "nodes", "--no-headers"]);
        rows(&out).first().filter(|r| r[1] == "NotReady").map(|_| ())
    });
    let taints = s.ok(&["get", "node", "sim-node-0", "-o", "jsonpath={.spec.taints[*].key}"]);
    assert!(taints.contains("node.kubernetes.io/unreachable"), "{taints}");
    let reason = s.ok(&[
        "get",
        "node",
        "sim-node-0",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}",
    ]);
    assert_eq!(reason, "NodeStatusUnknown");
    eventually("the pod evicted", || {
        let out = s.kubectl(&["get", "pod", "web"]);
        (!out.status.success()).then_some(())
    });
    let events = s.ok(&["get", "events", "--field-selector", "reason=TaintManagerEviction", "-o", "name"]);
    assert!(!events.trim().is_empty(), "no eviction event");
}
