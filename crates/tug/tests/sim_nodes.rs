//! End to end: simulated nodes (`tug agent --simulate N`) joining a real `tug server`, seen
//! through the real kubectl; and, in process, a thousand of them heartbeating.

mod common;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use common::{Agent, Server, TUG, join_token, rows, server_url};

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
metadata: {name: web}
spec:
  nodeName: sim-node-0
  terminationGracePeriodSeconds: 5
  containers: [{name: nginx, image: nginx:1.27}]
---
apiVersion: v1
kind: Pod
metadata: {name: once}
spec:
  nodeName: sim-node-1
  restartPolicy: Never
  containers: [{name: main, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata:
  name: failing
  annotations: {sim.tugboat.dev/exit-code: \"1\"}
spec:
  nodeName: sim-node-2
  restartPolicy: Never
  containers: [{name: main, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata:
  name: crashing
  annotations: {sim.tugboat.dev/crash-loop: \"true\", sim.tugboat.dev/exit-after: 200ms}
spec:
  nodeName: sim-node-2
  containers: [{name: main, image: busybox}]
";

/// The STATUS column of a pod, once it has one of `wanted`.
fn pod_status_becomes(s: &Server, pod: &str, wanted: &str) -> Vec<String> {
    wait_for(&format!("pod {pod} to be {wanted}"), Duration::from_secs(30), || {
        let table = rows(&s.ok(&["get", "pod", pod, "-o", "wide"]));
        (table[1][2] == wanted).then(|| table[1].clone())
    })
}

#[test]
fn simulated_nodes_register_heartbeat_and_run_pods() {
    let s = Server::start();
    let _agent = Agent::start(&s, &["--simulate", "3", "--node-label", "zone=a"]);

    let nodes = wait_for("3 Ready nodes", Duration::from_secs(30), || {
        let table = rows(&s.ok(&["get", "nodes"]));
        (table.len() == 4 && table[1..].iter().all(|r| r[1] == "Ready")).then_some(table)
    });
    assert_eq!(nodes[0], ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
    let names: Vec<&str> = nodes[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["sim-node-0", "sim-node-1", "sim-node-2"]);
    assert!(nodes[1..].iter().all(|r| r[2] == "<none>" && r[4].starts_with("v1.35.")), "{nodes:?}");

    let wide = s.ok(&["get", "node", "sim-node-0", "-o", "wide"]);
    let wide = rows(&wide);
    assert_eq!(&wide[0][5..9], ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION"], "{wide:?}");
    assert_eq!(wide[1][5], "172.16.0.1");
    assert!(wide[1].last().unwrap().starts_with("tugboat-sim://"), "{wide:?}");
    let labels = s.ok(&["get", "node", "sim-node-2", "-o", "jsonpath={.metadata.labels}"]);
    for label in
        [r#""kubernetes.io/hostname":"sim-node-2""#, r#""kubernetes.io/os":"linux""#, r#""zone":"a""#]
    {
        assert!(labels.contains(label), "{label} missing from {labels}");
    }
    let cidr = s.ok(&["get", "node", "sim-node-2", "-o", "jsonpath={.spec.podCIDR}"]);
    assert_eq!(cidr, "10.42.2.0/24");

    // An agent whose token pins another CA refuses to join.
    let forged = format!("K10{}::server:secret", "0".repeat(64));
    let out = Command::new(TUG)
        .args(["agent", "--server", &server_url(&s), "--token", &forged, "--simulate", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not the one the join token pins"), "{stderr}");

    let leases = rows(&s.ok(&["get", "leases", "-n", "kube-node-lease"]));
    assert_eq!(leases[0], ["NAME", "HOLDER", "AGE"]);
    assert_eq!(leases.len(), 4, "{leases:?}");
    assert!(leases[1..].iter().all(|r| r[0] == r[1]));

    let out = s.kubectl_stdin(&["apply", "-f", "-"], PODS);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let web = pod_status_becomes(&s, "web", "Running");
    assert_eq!((web[1].as_str(), web[6].as_str()), ("1/1", "sim-node-0"), "{web:?}");
    assert!(web[5].starts_with("10.42.0."), "{web:?}");
    let ready =
        s.ok(&["get", "pod", "web", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"]);
    assert_eq!(ready, "True");
    pod_status_becomes(&s, "once", "Completed");
    pod_status_becomes(&s, "failing", "Error");
    let exit_code = s.ok(&[
        "get",
        "pod",
        "failing",
        "-o",
        "jsonpath={.status.containerStatuses[0].state.terminated.exitCode}",
    ]);
    assert_eq!(exit_code, "1");
    let crashing = pod_status_becomes(&s, "crashing", "CrashLoopBackOff");
    assert_eq!(crashing[3], "1", "{crashing:?}");

    // Deletion completes: at once if the API server deletes without grace, otherwise once the
    // agent has stopped the containers and deleted the pod itself.
    s.ok(&["delete", "pod", "web", "--timeout=30s"]);
    let gone = s.kubectl(&["get", "pod", "web"]);
    assert!(!gone.status.success());
}

/// A thousand simulated nodes in this process register and renew their leases. About 20 s in
/// a debug build: run with `--ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "scale smoke test, about 20 s"]
async fn a_thousand_simulated_nodes_heartbeat() {
    use std::sync::atomic::Ordering;

    let s = Server::start();
    let client = tug_kubelet::connect::connect(&server_url(&s), &join_token(&s)).await.unwrap();
    let started = Instant::now();
    let handle =
        tug_kubelet::sim::Simulator::start(client, tug_kubelet::sim::SimConfig::new(1000)).await.unwrap();
    let registered = started.elapsed();
    eprintln!("1000 nodes registered in {registered:?}");
    assert_eq!(handle.node_names().len(), 1000);

    // One renewal interval later, every lease has been renewed once.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let renewals = handle.stats().lease_renewals.load(Ordering::Relaxed);
    eprintln!("after 11 s: {}", handle.stats().summary());
    assert!(renewals >= 1000, "{}", handle.stats().summary());
    assert_eq!(handle.stats().errors.load(Ordering::Relaxed), 0);
    let nodes = s.ok(&["get", "nodes", "--no-headers"]);
    assert_eq!(nodes.lines().filter(|l| l.contains(" Ready ")).count(), 1000);
    handle.stop().await;
}
