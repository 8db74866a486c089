//! End to end: simulated containers follow the probes in their spec: a readiness probe's
//! initial delay holds Ready back, and a liveness probe scripted to fail gets the container
//! killed and restarted.

mod common;

use common::{Agent, Server, eventually};

const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: slow-ready}
spec:
  nodeName: sim-node-0
  containers:
  - name: web
    image: nginx
    readinessProbe: {httpGet: {port: 80}, initialDelaySeconds: 3, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata:
  name: unhealthy
  annotations: {sim.tugboat.dev/liveness-fail-after: 1s}
spec:
  nodeName: sim-node-0
  containers:
  - name: web
    image: nginx
    livenessProbe: {httpGet: {port: 80}, periodSeconds: 1, failureThreshold: 2}
"#;

fn seconds(s: &Server, pod: &str, jsonpath: &str) -> i64 {
    let at = s.ok(&["get", "pod", pod, "-o", &format!("jsonpath={jsonpath}")]);
    at.parse::<jiff::Timestamp>().unwrap_or_else(|e| panic!("{at:?}: {e}")).as_second()
}

#[test]
fn probes_in_the_spec_shape_readiness_and_restarts() {
    let s = Server::start();
    let _agent = Agent::start(&s, &["--simulate", "1"]);
    let out = s.kubectl_stdin(&["apply", "-f", "-"], PODS);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    eventually("slow-ready to be Ready", || {
        let ready =
            s.ok(&["get", "pod", "slow-ready", "-o", "jsonpath={.status.containerStatuses[0].ready}"]);
        (ready == "true").then_some(())
    });
    let started = seconds(&s, "slow-ready", "{.status.containerStatuses[0].state.running.startedAt}");
    let ready = seconds(&s, "slow-ready", "{.status.conditions[?(@.type==\"Ready\")].lastTransitionTime}");
    assert!(ready - started >= 3, "Ready {ready} only {} s after the start {started}", ready - started);

    let last = eventually("unhealthy to be restarted", || {
        let out = s.ok(&[
            "get",
            "pod",
            "unhealthy",
            "-o",
            "jsonpath={.status.containerStatuses[0].restartCount}/{.status.containerStatuses[0].lastState.terminated.exitCode}/{.status.containerStatuses[0].lastState.terminated.reason}",
        ]);
        (!out.starts_with("0/") && !out.is_empty()).then_some(out)
    });
    assert!(last.ends_with("/137/Error"), "{last}");
}
