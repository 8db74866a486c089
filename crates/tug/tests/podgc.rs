//! End to end: the pod garbage collector on simulated nodes: pods bound to a node that was
//! deleted are removed, and finished pods past `--terminated-pod-gc-threshold` go, oldest
//! first.

mod common;

use common::{Agent, Server, eventually};

/// Names of the pods, sorted.
fn pods(s: &Server) -> Vec<String> {
    let out = s.ok(&["get", "pods", "-o", "jsonpath={.items[*].metadata.name}"]);
    let mut names: Vec<String> = out.split_whitespace().map(str::to_string).collect();
    names.sort();
    names
}

const ON_TWO_NODES: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: orphan}
spec:
  nodeName: sim-node-0
  containers: [{name: c, image: nginx}]
---
apiVersion: v1
kind: Pod
metadata: {name: stays}
spec:
  nodeName: sim-node-1
  containers: [{name: c, image: nginx}]
"#;

#[test]
fn pods_of_a_deleted_node_are_removed() {
    let s = Server::start();
    let agent = Agent::start(&s, &["--simulate", "2"]);
    s.apply(ON_TWO_NODES);
    eventually("both pods running", || {
        let phases = s.ok(&["get", "pods", "orphan", "stays", "-o", "jsonpath={.items[*].status.phase}"]);
        (phases == "Running Running").then_some(())
    });
    // The agent would register its node again; with it gone, the node stays deleted.
    drop(agent);
    s.ok(&["delete", "node", "sim-node-0"]);
    eventually("the deleted node's pod to be removed", || (pods(&s) == ["stays"]).then_some(()));
    assert!(s.ok(&["get", "node", "sim-node-1", "-o", "name"]).contains("sim-node-1"));
}

fn finished(name: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, annotations: {{sim.tugboat.dev/exit-after: \
         100ms}}}}\nspec:\n  nodeName: sim-node-0\n  restartPolicy: Never\n  containers: [{{name: c, image: \
         busybox}}]\n"
    )
}

#[test]
fn finished_pods_past_the_threshold_go_oldest_first() {
    let s = Server::start_with(tempfile::tempdir().unwrap(), &["--terminated-pod-gc-threshold", "2"]);
    let _agent = Agent::start(&s, &["--simulate", "1"]);
    s.apply(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: running}\nspec:\n  nodeName: sim-node-0\n  containers: \
         [{name: c, image: nginx}]\n",
    );
    for name in ["done-1", "done-2", "done-3", "done-4"] {
        s.apply(&finished(name));
    }
    // Running pods never count; of the four finished ones the two oldest go.
    eventually("two finished pods left", || (pods(&s) == ["done-3", "done-4", "running"]).then_some(()));
    let phases = s.ok(&["get", "pods", "done-3", "done-4", "-o", "jsonpath={.items[*].status.phase}"]);
    assert_eq!(phases, "Succeeded Succeeded");
}
