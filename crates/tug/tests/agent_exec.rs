//! End to end: `kubectl exec` and `kubectl attach` through the API server to the node agent.
//! The simulated nodes check the API server's side (validation, errors, the upgrade reaching
//! the agent); the real node runs commands in busybox containers on containerd (needs root,
//! containerd, runc and the CNI plugins: fails under `CI=true` when it cannot run, skips with a
//! message elsewhere).

mod common;

use std::time::{Duration, Instant};

use common::{Agent, Server};

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

const SIM_PODS: &str = "
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  nodeName: sim-node-0
  containers: [{name: main, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: unscheduled}
spec:
  schedulerName: nobody
  containers: [{name: main, image: busybox}]
";

#[test]
fn exec_is_checked_by_the_api_server_and_refused_by_simulated_nodes() {
    let s = Server::start();
    let _agent = Agent::start(&s, &["--simulate", "1"]);
    wait_for("the node", Duration::from_secs(30), || {
        s.kubectl(&["get", "node", "sim-node-0"]).status.success().then_some(())
    });
    let out = s.kubectl_stdin(&["apply", "-f", "-"], SIM_PODS);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_for("web to run", Duration::from_secs(30), || {
        (s.kubectl(&["get", "pod", "web", "-o", "jsonpath={.status.phase}"]).stdout == b"Running")
            .then_some(())
    });

    let err = s.fails(&["exec", "web", "-c", "nope", "--", "true"]);
    assert!(err.contains("container nope is not valid for pod web"), "{err}");
    let err = s.fails(&["exec", "unscheduled", "--", "true"]);
    assert!(err.contains("pod unscheduled does not have a host assigned"), "{err}");
    let err = s.fails(&["exec", "missing", "--", "true"]);
    assert!(err.contains(r#"pods "missing" not found"#), "{err}");
    // The upgrade reaches the simulated node's agent, which has no containers to run it in.
    let err = s.fails(&["exec", "web", "--", "true"]);
    assert!(err.contains("runs on a simulated node, which has no container main to exec"), "{err}");
    let err = s.fails(&["attach", "web"]);
    assert!(err.contains("which has no container main to attach"), "{err}");
}
