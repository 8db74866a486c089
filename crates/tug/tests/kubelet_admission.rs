//! End to end: the simulated kubelet's admission. A pod bound (by `nodeName`, past the
//! scheduler) to a node that cannot fit it fails as upstream's kubelet fails it: phase
//! Failed, reason `OutOfcpu` / `OutOfmemory` / `OutOfpods`, a Warning event.

mod common;

use common::{Agent, Server, eventually, rows};

fn pod(s: &Server, name: &str, requests: &str) {
    let doc = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  nodeName: sim-node-0\n  containers:\n  \
         - {{name: c, image: nginx, resources: {{requests: {requests}}}}}\n"
    );
    let out = s.kubectl_stdin(&["apply", "-f", "-"], &doc);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// phase/reason/message once the pod has a phase past Pending.
fn outcome(s: &Server, name: &str) -> String {
    eventually(&format!("{name} to start or fail"), || {
        let out =
            s.ok(&["get", "pod", name, "-o", "jsonpath={.status.phase}/{.status.reason}/{.status.message}"]);
        (out.starts_with("Running") || out.starts_with("Failed")).then_some(out)
    })
}

#[test]
fn pods_the_node_cannot_fit_are_rejected() {
    let s = Server::start();
    let _agent =
        Agent::start(&s, &["--simulate", "1", "--sim-cpu", "1", "--sim-memory", "2Gi", "--sim-pods", "3"]);
    eventually("the node", || s.kubectl(&["get", "node", "sim-node-0"]).status.success().then_some(()));

    pod(&s, "first", "{cpu: 600m}");
    assert_eq!(outcome(&s, "first"), "Running//");
    pod(&s, "second", "{cpu: 600m}");
    assert_eq!(
        outcome(&s, "second"),
        "Failed/OutOfcpu/Pod was rejected: Node didn't have enough resource: cpu, requested: 600, used: 600, \
         capacity: 1000"
    );
    let table = rows(&s.ok(&["get", "pod", "second"]));
    assert_eq!(table[1][2], "OutOfcpu", "kubectl shows the reason as STATUS");
    let events = eventually("the OutOfcpu event", || {
        let out = s.ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=second,reason=OutOfcpu",
            "-o",
            "jsonpath={.items[*].type}/{.items[*].source.component}/{.items[*].message}",
        ]);
        (!out.is_empty()).then_some(out)
    });
    assert_eq!(
        events,
        "Warning/kubelet/Node didn't have enough resource: cpu, requested: 600, used: 600, capacity: 1000"
    );

    pod(&s, "hungry", "{memory: 4Gi}");
    let failed = outcome(&s, "hungry");
    assert!(failed.starts_with("Failed/OutOfmemory/Pod was rejected: Node didn't have enough resource: memory, requested: 4294967296, used: 0, capacity: "), "{failed}");

    // A rejected pod holds nothing: one more pod fits, the one after finds no pod slot left.
    pod(&s, "small", "{cpu: 100m}");
    assert_eq!(outcome(&s, "small"), "Running//");
    pod(&s, "third", "{cpu: 100m}");
    assert_eq!(outcome(&s, "third"), "Running//");
    pod(&s, "fourth", "{cpu: 100m}");
    assert_eq!(
        outcome(&s, "fourth"),
        "Failed/OutOfpods/Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: 3, \
         capacity: 3"
    );

    // Room made by a deletion is room again.
    s.ok(&["delete", "pod", "first", "--grace-period", "0", "--force"]);
    eventually("first to be gone", || (!s.kubectl(&["get", "pod", "first"]).status.success()).then_some(()));
    pod(&s, "fifth", "{cpu: 600m}");
    assert_eq!(outcome(&s, "fifth"), "Running//");
}
