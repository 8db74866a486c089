//! End to end: preemption on simulated nodes weighs PodDisruptionBudgets as upstream's
//! DefaultPreemption does: it prefers the node where evicting breaks no budget, even when the
//! victims there are more important.
//!
//! The pods carry `spec.priority` themselves: the API server does not resolve
//! `priorityClassName` yet (the Priority admission plugin is not wired in).

mod common;

use std::time::{Duration, Instant};

use common::{Agent, Server};

fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

const SETUP: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: guarded, labels: {app: guarded}}
spec:
  priority: 1
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
  priority: 5
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
  priority: 100
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
