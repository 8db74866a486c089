//! End to end: preemption on simulated nodes weighs PodDisruptionBudgets as upstream's
//! DefaultPreemption does: it prefers the node where evicting breaks no budget, even when the
//! victims there are more important.
//! Priorities come from PriorityClasses through the API server's Priority admission, as a
//! user would set them.

mod common;

use std::time::{Duration, Instant};

use common::{Agent, Server, eventually};

const SETUP: &str = r#"
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: low}
value: 1
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: mid}
value: 5
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 100
description: preempts the others
---
apiVersion: v1
kind: Pod
metadata: {name: guarded, labels: {app: guarded}}
spec:
  priorityClassName: low
  nodeSelector: {kubernetes.io/hostname: sim-node-0}
  terminationGracePeriodSeconds: 0
  containers: [{name: c, image: nginx, resources: {requests: {cpu: 900m}}}]
---
apiVersion: v1
kind: Pod
metadata:
  name: free
  labels: {app: free}
  annotations: {sim.tugboat.dev/stop-after: 10s}
spec:
  priorityClassName: mid
  nodeSelector: {kubernetes.io/hostname: sim-node-1}
  terminationGracePeriodSeconds: 30
  containers: [{name: c, image: nginx, resources: {requests: {cpu: 900m}}}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: guarded}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: guarded}}
"#;

const PREEMPTOR: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: urgent}
spec:
  priorityClassName: high
  containers: [{name: c, image: nginx, resources: {requests: {cpu: 500m}}}]
"#;

#[test]
fn preemption_spares_pods_a_budget_protects() {
    let s = Server::start();
    let _agent = Agent::start(&s, &["--simulate", "2", "--sim-cpu", "1"]);
    let out = s.kubectl_stdin(&["apply", "-f", "-"], SETUP);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually("both pods running and the budget allowing no disruption", || {
        let phases = s.ok(&["get", "pods", "guarded", "free", "-o", "jsonpath={.items[*].status.phase}"]);
        let status = s.ok(&[
            "get",
            "pdb",
            "guarded",
            "-o",
            "jsonpath={.status.currentHealthy}/{.status.disruptionsAllowed}",
        ]);
        (phases == "Running Running" && status == "1/0").then_some(())
    });

    // Evicting `guarded` (priority 1) would be cheaper, but its budget forbids it.
    let out = s.kubectl_stdin(&["apply", "-f", "-"], PREEMPTOR);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The victim is marked before it is deleted; it takes 10 s to stop, long enough to see.
    let marked = eventually("the victim's DisruptionTarget condition", || {
        let out = s.ok(&[
            "get",
            "pod",
            "free",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"DisruptionTarget\")].reason}/{.status.conditions[?(@.type==\"DisruptionTarget\")].message}",
        ]);
        (out != "/").then_some(out)
    });
    assert_eq!(
        marked,
        "PreemptionByScheduler/default-scheduler: preempting to accommodate a higher priority pod"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let node = loop {
        let node = s.ok(&["get", "pod", "urgent", "-o", "jsonpath={.spec.nodeName}"]);
        if !node.is_empty() {
            break node;
        }
        if Instant::now() > deadline {
            let state = s.ok(&["get", "pods,events", "-o", "wide"]);
            panic!("urgent was not scheduled:\n{state}\n{}", s.ok(&["describe", "pod", "urgent"]));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(node, "sim-node-1");
    let events = s.ok(&["get", "events", "--field-selector", "reason=Preempted", "-o", "name"]);
    assert!(events.contains("free."), "{events}");
    assert!(!events.contains("guarded."), "{events}");
    assert!(s.kubectl(&["get", "pod", "free"]).stdout.is_empty(), "free was preempted");
    assert_eq!(s.ok(&["get", "pod", "guarded", "-o", "jsonpath={.status.phase}"]), "Running");
}

#[test]
fn pods_take_the_priority_of_their_class() {
    let s = Server::start();
    let classes = s.ok(&["get", "priorityclasses", "-o", "name"]);
    assert!(classes.contains("priorityclass.scheduling.k8s.io/system-node-critical"), "{classes}");
    assert!(classes.contains("priorityclass.scheduling.k8s.io/system-cluster-critical"), "{classes}");

    let pod = |name: &str, class: &str| {
        let class = if class.is_empty() { String::new() } else { format!("  priorityClassName: {class}\n") };
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{class}  containers: [{{name: c, image: nginx}}]\n"
        )
    };
    let create = |yaml: String| s.kubectl_stdin(&["create", "-f", "-"], &yaml);
    let priority = |name: &str| {
        s.ok(&[
            "get",
            "pod",
            name,
            "-o",
            "jsonpath={.spec.priorityClassName}/{.spec.priority}/{.spec.preemptionPolicy}",
        ])
    };

    let out = create(pod("critical", "system-cluster-critical"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(priority("critical"), "system-cluster-critical/2000000000/PreemptLowerPriority");
    let out = create(pod("plain", ""));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(priority("plain"), "/0/PreemptLowerPriority");

    let out = create(pod("lost", "nope"));
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Error from server (Forbidden): error when creating \"STDIN\": pods \"lost\" is forbidden: no PriorityClass with name nope was found"
    );

    // A global default applies to pods naming no class, and its name is written in.
    let default = "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: batch}\nvalue: 7\nglobalDefault: true\npreemptionPolicy: Never\n";
    let out = s.kubectl_stdin(&["create", "-f", "-"], default);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = create(pod("defaulted", ""));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(priority("defaulted"), "batch/7/Never");

    // A priority of the pod's own that disagrees with its class is refused.
    let own = "apiVersion: v1\nkind: Pod\nmetadata: {name: own}\nspec:\n  priorityClassName: batch\n  priority: 3\n  containers: [{name: c, image: nginx}]\n";
    let out = s.kubectl_stdin(&["create", "-f", "-"], own);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "pods \"own\" is forbidden: the integer value of priority (3) must not be provided in pod spec"
        ),
        "{err}"
    );
}
