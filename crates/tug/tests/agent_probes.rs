//! Probes and lifecycle hooks on the real node agent: readiness gating READY, liveness
//! failures restarting containers, startup probes holding the others back, exec, tcpSocket and
//! grpc probes, postStart and preStop hooks, driven with the real kubectl on the agent's own
//! containerd. The test reaches pod IPs directly over the node's bridge to flip the test
//! server's health switches. Needs root, containerd, runc and the CNI plugins: fails under
//! `CI=true` when it cannot run, skips with a message elsewhere.

mod common;

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    sync::mpsc,
    time::Duration,
};

use common::{
    Server,
    node::{RealNode, poll, test_registry},
    rows,
};
use serde_json::{Value, json};
use tug_oci::testimages;

fn apply(server: &Server, pod: &Value) {
    server.kubectl_stdin(&["apply", "-f", "-"], &pod.to_string());
}

fn pod(name: &str, container: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"terminationGracePeriodSeconds": 30, "containers": [container]},
    })
}

/// `kubectl get pod`'s READY, STATUS and RESTARTS columns.
fn columns(server: &Server, pod: &str) -> Option<(String, String, u32)> {
    let out = server.kubectl(&["get", "pod", pod, "--no-headers"]);
    let row = rows(&String::from_utf8_lossy(&out.stdout)).into_iter().next()?;
    Some((row.get(1)?.clone(), row.get(2)?.clone(), row.get(3)?.parse().ok()?))
}

fn wait_ready(server: &Server, pod: &str, ready: &str) {
    poll(&format!("pod {pod} shows READY {ready} while Running"), || {
        columns(server, pod).filter(|(r, s, _)| r == ready && s == "Running").map(drop)
    });
}

/// The kubelet's events about `pod`, as `Type Reason: message` lines.
fn events(server: &Server, pod: &str) -> String {
    let path = format!(
        "jsonpath={{range .items[?(@.involvedObject.name==\"{pod}\")]}}{{.type}} {{.reason}}: {{.message}}\n{{end}}"
    );
    server.ok(&["get", "events", "-o", &path])
}

fn wait_event(server: &Server, pod: &str, line: &str) {
    poll(&format!("pod {pod} has the event {line:?}"), || events(server, pod).contains(line).then_some(()));
}

fn pod_ip(server: &Server, pod: &str) -> String {
    poll(&format!("pod {pod} has an IP"), || {
        let ip = server.ok(&["get", "pod", pod, "-o", "jsonpath={.status.podIP}"]);
        (!ip.is_empty()).then_some(ip)
    })
}

/// POSTs to the test server in `pod` (one of its health switches).
fn post(ip: &str, path: &str) {
    let mut stream = TcpStream::connect((ip, testimages::TESTSERVER_HTTP_PORT)).expect("the pod answers");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "POST {path} HTTP/1.1\r\nHost: {ip}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "POST {path}: {answer}");
}

fn container_field(server: &Server, pod: &str, field: &str) -> String {
    server.ok(&["get", "pod", pod, "-o", &format!("jsonpath={{.status.containerStatuses[0].{field}}}")])
}

#[test]
fn probes_and_hooks_run_on_the_agents_containerd() {
    let Some(registry) = test_registry() else { return };
    let (busybox, testserver) = (registry.image(testimages::BUSYBOX), registry.image(testimages::TESTSERVER));
    let node = RealNode::start(&registry);
    let server = &node.server;
    let http_port = json!([{"name": "http", "containerPort": 8080}, {"name": "echo", "containerPort": 9000}]);

    // Readiness by httpGet on a named port: not ready until the switch says so.
    apply(
        server,
        &pod(
            "ready",
            json!({
                "name": "main", "image": testserver, "args": ["--unready"], "ports": http_port,
                "readinessProbe": {"httpGet": {"port": "http", "path": "/readyz"}, "periodSeconds": 1, "failureThreshold": 1},
            }),
        ),
    );
    // Liveness by httpGet: a failing /healthz gets the container killed and restarted.
    apply(
        server,
        &pod(
            "live",
            json!({
                "name": "main", "image": testserver,
                "livenessProbe": {"httpGet": {"port": 8080, "path": "/healthz"}, "periodSeconds": 1, "failureThreshold": 2},
            }),
        ),
    );
    // A slow start: the startup probe (tcpSocket) holds liveness (grpc) and readiness (exec)
    // back until the server listens.
    apply(
        server,
        &pod(
            "slow",
            json!({
                "name": "main", "image": testserver, "args": ["--start-delay", "3"], "ports": http_port,
                "startupProbe": {"tcpSocket": {"port": "echo"}, "periodSeconds": 1, "failureThreshold": 60},
                "livenessProbe": {"grpc": {"port": 9090}, "periodSeconds": 1, "failureThreshold": 1},
                "readinessProbe": {"exec": {"command": ["sh", "-c", "test -e /testserver"]}, "periodSeconds": 1},
            }),
        ),
    );
    // postStart writes a file that the container needs before its exec readiness probe passes.
    apply(
        server,
        &pod(
            "hooked",
            json!({
                "name": "main", "image": busybox,
                "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 3; cp /tmp/started /tmp/ready; sleep 3600 & wait"],
                "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "echo up > /tmp/started"]}}},
                "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 1},
            }),
        ),
    );

    // An exec probe that outlives its timeout fails as timed out.
    apply(
        server,
        &pod(
            "timeout",
            json!({
                "name": "main", "image": busybox,
                "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
                "readinessProbe": {"exec": {"command": ["sleep", "5"]}, "timeoutSeconds": 1, "periodSeconds": 2},
            }),
        ),
    );

    // READY 0/1, then 1/1 after /readyz/pass, then 0/1 again after /readyz/fail.
    wait_ready(server, "ready", "0/1");
    let conditions = "jsonpath={.status.conditions[?(@.type==\"Ready\")].status} \
                      {.status.conditions[?(@.type==\"ContainersReady\")].message}";
    assert_eq!(
        server.ok(&["get", "pod", "ready", "-o", conditions]),
        "False containers with unready status: [main]"
    );
    wait_event(
        server,
        "ready",
        "Warning Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 503",
    );
    // Repeats count up on one Event, as upstream's event correlator.
    let counts = "jsonpath={range .items[?(@.reason==\"Unhealthy\")]}{.involvedObject.name}={.count} {end}";
    poll("the repeated readiness failures of pod ready count up on one Event", || {
        let counts = server.ok(&["get", "events", "-o", counts]);
        let ready: Vec<&str> = counts.split_whitespace().filter(|c| c.starts_with("ready=")).collect();
        (ready.len() == 1 && ready[0].trim_start_matches("ready=").parse::<u32>().is_ok_and(|n| n >= 2))
            .then_some(())
    });
    let ip = pod_ip(server, "ready");
    post(&ip, "/readyz/pass");
    wait_ready(server, "ready", "1/1");
    assert_eq!(server.ok(&["get", "pod", "ready", "-o", conditions]), "True ");
    post(&ip, "/readyz/fail");
    wait_ready(server, "ready", "0/1");
    assert_eq!(columns(server, "ready").map(|c| c.2), Some(0), "readiness never restarts");

    // Liveness: healthy at first, then killed and restarted once /healthz fails. (A busy
    // machine may have restarted it already, before the server listened: count from here.)
    wait_ready(server, "live", "1/1");
    let (first, before) =
        (container_field(server, "live", "containerID"), columns(server, "live").map(|c| c.2));
    post(&pod_ip(server, "live"), "/healthz/fail");
    poll("pod live restarted after failing its liveness probe", || {
        let (ready, status, restarts) = columns(server, "live")?;
        (Some(restarts) > before && status == "Running" && ready == "1/1").then_some(())
    });
    assert_ne!(container_field(server, "live", "containerID"), first);
    wait_event(
        server,
        "live",
        "Warning Unhealthy: Liveness probe failed: HTTP probe failed with statuscode: 503",
    );
    wait_event(server, "live", "Normal Killing: Container main failed liveness probe, will be restarted");

    // Startup: refused until the server listens, then started, live and ready with no restart.
    wait_ready(server, "slow", "1/1");
    assert_eq!(container_field(server, "slow", "started"), "true");
    let slow = events(server, "slow");
    assert!(slow.contains("Warning Unhealthy: Startup probe failed: dial tcp "), "{slow}");
    assert!(slow.contains(":9000: connect: connection refused"), "{slow}");
    assert!(!slow.contains("Liveness probe failed"), "liveness waits for startup: {slow}");
    assert_eq!(columns(server, "slow").map(|c| c.2), Some(0));
    // The gRPC health service follows the same switch: NOT_SERVING fails liveness.
    post(&pod_ip(server, "slow"), "/healthz/fail");
    wait_event(
        server,
        "slow",
        "Warning Unhealthy: Liveness probe failed: service unhealthy (responded with \"NOT_SERVING\")",
    );
    poll("pod slow restarted after its grpc liveness probe failed", || {
        columns(server, "slow").filter(|(r, _, n)| *n >= 1 && r == "1/1").map(drop)
    });

    // postStart ran (the container found its file), and the exec probe failed before that.
    wait_ready(server, "hooked", "1/1");
    wait_event(
        server,
        "hooked",
        "Warning Unhealthy: Readiness probe failed: cat: can't open '/tmp/ready': No such file or directory",
    );

    wait_event(server, "timeout", "Warning Unhealthy: Readiness probe failed: command \"sleep 5\" timed out");
    assert_eq!(columns(server, "timeout").map(|c| c.0), Some("0/1".to_string()));

    // preStop: an httpGet to this test process, before the container is stopped.
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let gateway = {
        let cidr = server.ok(&["get", "node", &node.name, "-o", "jsonpath={.spec.podCIDR}"]);
        format!("{}1", cidr.trim_end_matches("0/24"))
    };
    apply(
        server,
        &pod(
            "stopping",
            json!({
                "name": "main", "image": testserver,
                "lifecycle": {"preStop": {"httpGet": {"host": gateway, "port": port, "path": "/prestop"}}},
            }),
        ),
    );
    wait_ready(server, "stopping", "1/1");
    let (tx, requests) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            if tx.send(String::from_utf8_lossy(&buf[..n]).into_owned()).is_err() {
                return;
            }
        }
    });
    server.ok(&["delete", "pod", "stopping", "--wait=false"]);
    let request = requests.recv_timeout(Duration::from_secs(60)).expect("the preStop hook calls");
    assert!(request.starts_with("GET /prestop HTTP/1.1\r\n"), "{request}");
    assert!(request.to_ascii_lowercase().contains("user-agent: kube-lifecycle/1.35"), "{request}");
    poll("pod stopping is gone", || {
        (!server.kubectl(&["get", "pod", "stopping"]).status.success()).then_some(())
    });
    drop(node);
    drop(registry);
}
