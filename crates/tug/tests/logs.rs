//! End to end: `kubectl logs` through the API server to the node agent's log endpoint, with
//! simulated nodes (`tug agent --simulate`) writing CRI log files for their containers.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use common::{Agent, Server, kubectl_bin};

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

const PODS: &str = "
apiVersion: v1
kind: Pod
metadata:
  name: web
  annotations: {sim.tugboat.dev/log: \"hello\\nworld\"}
spec:
  nodeName: sim-node-0
  terminationGracePeriodSeconds: 5
  containers: [{name: nginx, image: nginx:1.27}]
---
apiVersion: v1
kind: Pod
metadata: {name: two}
spec:
  nodeName: sim-node-0
  containers: [{name: a, image: busybox}, {name: b, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata:
  name: pending
  annotations: {sim.tugboat.dev/start-after: 1h}
spec:
  nodeName: sim-node-0
  containers: [{name: main, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata:
  name: crashing
  annotations: {sim.tugboat.dev/crash-loop: \"true\", sim.tugboat.dev/exit-after: 200ms}
spec:
  nodeName: sim-node-0
  containers: [{name: main, image: busybox}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: 1
  selector: {matchLabels: {app: app}}
  template:
    metadata:
      labels: {app: app}
      annotations: {sim.tugboat.dev/log: from the deployment}
    spec: {containers: [{name: main, image: busybox}]}
";

fn phase_is(s: &Server, pod: &str, phase: &str) -> bool {
    s.kubectl(&["get", "pod", pod, "-o", "jsonpath={.status.phase}"]).stdout == phase.as_bytes()
}

#[test]
fn kubectl_logs_reads_simulated_containers() {
    let s = Server::start();
    let _agent = Agent::start(&s, &["--simulate", "1"]);
    wait_for("the node", Duration::from_secs(30), || {
        s.kubectl(&["get", "node", "sim-node-0"]).status.success().then_some(())
    });
    let out = s.kubectl_stdin(&["apply", "-f", "-"], PODS);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_for("web to run", Duration::from_secs(30), || phase_is(&s, "web", "Running").then_some(()));

    assert_eq!(s.ok(&["logs", "web"]), "container nginx started (run 0)\nhello\nworld\n");
    assert_eq!(s.ok(&["logs", "web", "-c", "nginx", "--tail", "1"]), "world\n");
    assert_eq!(s.ok(&["logs", "pod/web", "--tail=2", "--limit-bytes=3"]), "hel");
    let stamped = s.ok(&["logs", "web", "--timestamps"]);
    let first = stamped.lines().next().unwrap_or_default();
    let (time, text) = first.split_once(' ').unwrap_or_default();
    assert!(time.contains('T') && time.ends_with('Z'), "{stamped}");
    assert_eq!(text, "container nginx started (run 0)");
    assert_eq!(s.ok(&["logs", "web", "--since=1h"]).lines().count(), 3);

    // Errors, worded as upstream's API server and kubelet word them.
    let err = s.fails(&["logs", "web", "--previous"]);
    assert!(err.contains(r#"previous terminated container "nginx" in pod "web" not found"#), "{err}");
    let err = s.fails(&["logs", "web", "-c", "nope"]);
    assert!(err.contains("container nope is not valid for pod web"), "{err}");
    let err = s.fails(&["get", "--raw", "/api/v1/namespaces/default/pods/two/log"]);
    assert!(err.contains("a container name must be specified for pod two, choose one of: [a b]"), "{err}");
    let err = s.fails(&["logs", "pending"]);
    assert!(
        err.contains(r#"container "main" in pod "pending" is waiting to start: ContainerCreating"#),
        "{err}"
    );

    // Several containers and pods: kubectl's client side over the same endpoint.
    wait_for("two to run", Duration::from_secs(30), || phase_is(&s, "two", "Running").then_some(()));
    let all = s.ok(&["logs", "two", "--all-containers", "--prefix"]);
    assert!(all.contains("[pod/two/a] container a started (run 0)\n"), "{all}");
    assert!(all.contains("[pod/two/b] container b started (run 0)\n"), "{all}");
    let deployed = wait_for("the deployment's pod to log", Duration::from_secs(60), || {
        let out = s.kubectl(&["logs", "deploy/app"]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
            .filter(|o| !o.is_empty())
    });
    assert_eq!(deployed, "container main started (run 0)\nfrom the deployment\n");
    assert_eq!(s.ok(&["logs", "-l", "app=app"]), deployed);

    // The run before a restart.
    wait_for("crashing to restart", Duration::from_secs(30), || {
        let out =
            s.ok(&["get", "pod", "crashing", "-o", "jsonpath={.status.containerStatuses[0].restartCount}"]);
        (out.parse::<u32>().unwrap_or(0) >= 1).then_some(())
    });
    let previous = s.ok(&["logs", "crashing", "--previous"]);
    assert!(previous.ends_with("container main exited with code 1\n"), "{previous}");
}

#[test]
fn kubectl_logs_follow_streams_until_the_pod_is_deleted() {
    let s = Server::start();
    let _agent = Agent::start(&s, &["--simulate", "1"]);
    wait_for("the node", Duration::from_secs(30), || {
        s.kubectl(&["get", "node", "sim-node-0"]).status.success().then_some(())
    });
    let out = s.kubectl_stdin(&["apply", "-f", "-"], PODS.split("---").next().unwrap_or_default());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_for("web to run", Duration::from_secs(30), || phase_is(&s, "web", "Running").then_some(()));

    let mut follower = Command::new(kubectl_bin())
        .args(["logs", "-f", "web"])
        .env("KUBECONFIG", s.kubeconfig())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("kubectl runs");
    let stdout = follower.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let next =
        |what: &str| rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| panic!("no line: {what}"));
    assert_eq!(next("start"), "container nginx started (run 0)");
    assert_eq!(next("hello"), "hello");
    assert_eq!(next("world"), "world");

    // Deleting the pod stops the container: its last line arrives, then the stream ends.
    s.ok(&["delete", "pod", "web", "--wait=false"]);
    let last = next("the exit");
    assert!(last.starts_with("container nginx exited with code"), "{last}");
    let status =
        wait_for("kubectl logs -f to end", Duration::from_secs(30), || follower.try_wait().ok().flatten());
    assert!(status.success(), "{status}");
    assert!(rx.recv_timeout(Duration::from_secs(5)).is_err(), "nothing follows the exit");
}
