//! `kubectl port-forward` to a pod and to a deployment on the real agent: kubectl tunnels SPDY
//! through the API server to the agent, which dials the port inside the pod's network
//! namespace. Needs root and containerd (see `common::node`).

mod common;

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use common::{
    Server, kubectl_bin,
    node::{RealNode, test_registry},
};
use tug_oci::testimages;

/// A running `kubectl port-forward`, killed when dropped, with the local port it chose and
/// its stderr lines.
struct Forward {
    child: Child,
    port: u16,
    errors: mpsc::Receiver<String>,
}

impl Forward {
    fn start(server: &Server, target: &str, remote: u16) -> Forward {
        let mut child = Command::new(kubectl_bin())
            .args(["port-forward", target, &format!(":{remote}")])
            .env("KUBECONFIG", server.kubeconfig())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (etx, errors) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[port-forward] {line}");
                let _ = etx.send(line);
            }
        });
        let line = lines.recv_timeout(Duration::from_secs(60)).expect("kubectl says where it forwards");
        // "Forwarding from 127.0.0.1:PORT -> REMOTE"
        let port = line
            .strip_prefix("Forwarding from 127.0.0.1:")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {line}"));
        Forward { child, port, errors }
    }

    fn get(&self, path: &str) -> String {
        get(self.port, path)
    }
}

/// One HTTP/1.0 GET through the tunnel at local `port`; the whole answer.
fn get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the local port accepts");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: pod\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

impl Drop for Forward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn kubectl_port_forward_reaches_pods_and_deployments() {
    let Some(registry) = test_registry() else { return };
    let image = registry.image(testimages::TESTSERVER);
    let node = RealNode::start(&registry);
    let server = &node.server;
    let pod = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: web\n    \
         image: {image}\n    ports:\n    - containerPort: 8080\n"
    );
    server.kubectl_stdin(&["apply", "-f", "-"], &pod);
    node.wait_for_status("web", "Running");

    // Several connections at once, each a stream pair of its own in the one tunnel.
    let forward = Forward::start(server, "pod/web", 8080);
    let port = forward.port;
    std::thread::scope(|s| {
        let answers: Vec<_> =
            (0..5).map(|i| s.spawn(move || (i, get(port, &format!("/echo?msg=hello-{i}"))))).collect();
        for answer in answers {
            let (i, answer) = answer.join().unwrap();
            assert!(answer.starts_with("HTTP/1."), "{answer}");
            assert!(answer.ends_with(&format!("hello-{i}")), "{answer}");
        }
    });
    drop(forward);

    // A port nothing listens on: the connection ends, and kubectl reports the agent's error.
    let refused = Forward::start(server, "pod/web", 9999);
    assert_eq!(refused.get("/"), "");
    let error = (0..60)
        .find_map(|_| refused.errors.recv_timeout(Duration::from_secs(1)).ok().filter(|l| l.contains("9999")))
        .expect("kubectl reports the failed forward");
    assert!(error.contains("error forwarding port 9999"), "{error}");
    drop(refused);

    // A deployment: kubectl picks one of its pods.
    server.ok(&["create", "deployment", "site", &format!("--image={image}"), "--port=8080"]);
    server.ok(&["rollout", "status", "deployment/site", "--timeout=120s"]);
    let forward = Forward::start(server, "deployment/site", 8080);
    let answer = forward.get("/echo?msg=from-a-deployment");
    assert!(answer.ends_with("from-a-deployment"), "{answer}");
    drop(forward);
    drop(node);
    drop(registry);
}
