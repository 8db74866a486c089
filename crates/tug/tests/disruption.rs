//! End to end: PodDisruptionBudget status on simulated nodes. Percentages and maxUnavailable
//! are shares of the owning controllers' scale, an integer minAvailable counts pods, and a
//! budget whose pods' controller cannot be found allows nothing and says why.

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
      containers: [{name: nginx, image: nginx}]
---
apiVersion: v1
kind: Pod
metadata: {name: stray, labels: {app: web}}
spec:
  nodeName: sim-node-0
  containers: [{name: nginx, image: nginx}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web-pct}
spec:
  minAvailable: 50%
  selector: {matchLabels: {app: web}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web-max}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: web}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web-int}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
"#;

/// expectedPods/desiredHealthy/currentHealthy/disruptionsAllowed of a budget.
fn status(s: &Server, pdb: &str) -> String {
    s.ok(&[
        "get",
        "pdb",
        pdb,
        "-o",
        "jsonpath={.status.expectedPods}/{.status.desiredHealthy}/{.status.currentHealthy}/{.status.disruptionsAllowed}",
    ])
}

#[test]
fn percentages_and_max_unavailable_follow_the_controllers_scale() {
    let s = Server::start();
    let _agent = Agent::start(&s, &["--simulate", "1"]);
    let out = s.kubectl_stdin(&["apply", "-f", "-"], WEB);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Three ready pods, but the Deployment wants two: the stray pod counts for nothing.
    eventually("the budgets' status", || {
        let all = [status(&s, "web-pct"), status(&s, "web-max"), status(&s, "web-int")];
        (all == ["2/1/3/2", "2/1/3/2", "3/1/3/2"]).then_some(())
    });
    let events = eventually("the UnmanagedPods event", || {
        let out = s.ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=web-pct,reason=UnmanagedPods",
            "-o",
            "jsonpath={.items[*].message}",
        ]);
        (!out.is_empty()).then_some(out)
    });
    assert_eq!(
        events,
        "Pods selected by this PodDisruptionBudget (selector: &LabelSelector{MatchLabels:map[string]string{app: \
         web,},MatchExpressions:[]LabelSelectorRequirement{},}) were found to be unmanaged. As a result, the \
         status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account \
         for these pods please set \".spec.minAvailable\" field of the PDB to an integer value."
    );

    // Scaling the Deployment moves the percentage's base with it.
    s.ok(&["scale", "deployment", "web", "--replicas", "4"]);
    eventually("the budgets over four replicas", || {
        let all = [status(&s, "web-pct"), status(&s, "web-max")];
        (all == ["4/2/5/3", "4/3/5/2"]).then_some(())
    });
}

#[test]
fn a_budget_whose_controller_cannot_be_found_allows_nothing() {
    let s = Server::start();
    let _agent = Agent::start(&s, &["--simulate", "1"]);
    s.ok(&["create", "configmap", "owner"]);
    let uid = s.ok(&["get", "configmap", "owner", "-o", "jsonpath={.metadata.uid}"]);
    // A ConfigMap as a pod's controller: it has no scale, so the budget's base is unknown.
    let doc = format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: odd
  labels: {{app: odd}}
  ownerReferences: [{{apiVersion: v1, kind: ConfigMap, name: owner, uid: "{uid}", controller: true}}]
spec:
  nodeName: sim-node-0
  containers: [{{name: nginx, image: nginx}}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: odd}}
spec:
  maxUnavailable: 1
  selector: {{matchLabels: {{app: odd}}}}
"#
    );
    let out = s.kubectl_stdin(&["apply", "-f", "-"], &doc);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let condition = eventually("the SyncFailed condition", || {
        let out = s.ok(&[
            "get",
            "pdb",
            "odd",
            "-o",
            "jsonpath={.status.conditions[0].status}/{.status.conditions[0].reason}/{.status.conditions[0].message}",
        ]);
        out.contains("SyncFailed").then_some(out)
    });
    assert_eq!(condition, "False/SyncFailed/found no controllers for pod \"odd\"");
    assert_eq!(s.ok(&["get", "pdb", "odd", "-o", "jsonpath={.status.disruptionsAllowed}"]), "0");
    let events = eventually("the CalculateExpectedPodCountFailed event", || {
        let out = s.ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=odd,reason=CalculateExpectedPodCountFailed",
            "-o",
            "jsonpath={.items[*].message}",
        ]);
        (!out.is_empty()).then_some(out)
    });
    assert_eq!(
        events,
        "Failed to calculate the number of expected pods: found no controllers for pod \"odd\""
    );
}

#[test]
fn other_controllers_count_through_their_scale_subresource() {
    let s = Server::start();
    let _agent = Agent::start(&s, &["--simulate", "1"]);
    s.ok(&["create", "deployment", "owner", "--image", "nginx", "--replicas", "5"]);
    let uid = s.ok(&["get", "deployment", "owner", "-o", "jsonpath={.metadata.uid}"]);
    // A pod a Deployment controls itself (not through a ReplicaSet): only the generic finder,
    // the scale subresource, knows its scale.
    let doc = format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: direct
  labels: {{app: direct}}
  ownerReferences: [{{apiVersion: apps/v1, kind: Deployment, name: owner, uid: "{uid}", controller: true}}]
spec:
  nodeName: sim-node-0
  containers: [{{name: nginx, image: nginx}}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: direct}}
spec:
  maxUnavailable: 1
  selector: {{matchLabels: {{app: direct}}}}
"#
    );
    let out = s.kubectl_stdin(&["apply", "-f", "-"], &doc);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually("the budget over the Deployment's scale", || {
        (status(&s, "direct") == "5/4/1/0").then_some(())
    });
}
