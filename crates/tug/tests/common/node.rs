//! A real node for end-to-end tests: a `tug server` and a `tug agent` running pods on its own
//! containerd, with a local registry of the test images. Needs root, containerd, runc and the
//! CNI plugins (`tug_oci::testing::can_run_containers`).
//!
//! Several real nodes may run on one machine at once (the tests of one file run in parallel,
//! engineers run tests side by side): each gets its own bridge, kubelet port and cluster CIDR.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use tug_oci::testing::{LocalRegistry, kill_shims, unmount_under};

use super::{Agent, Server, rows};

/// Whether this machine can run the real-node tests; panics under CI when it cannot.
pub fn can_run() -> bool {
    tug_oci::testing::can_run_containers("the real agent tests")
}

/// A registry filled with the test images, served on a runtime of its own (which must outlive
/// it, hence one value). Derefs to the registry.
pub struct TestRegistry {
    pub registry: LocalRegistry,
    pub rt: tokio::runtime::Runtime,
}

impl std::ops::Deref for TestRegistry {
    type Target = LocalRegistry;

    fn deref(&self) -> &LocalRegistry {
        &self.registry
    }
}

impl std::ops::DerefMut for TestRegistry {
    fn deref_mut(&mut self) -> &mut LocalRegistry {
        &mut self.registry
    }
}

/// The opening of every real-node test: `None` where this machine cannot run containers
/// (the test then returns; under CI that is a failure, see [`can_run`]), else a registry with
/// the test images.
pub fn test_registry() -> Option<TestRegistry> {
    if !can_run() {
        return None;
    }
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let registry = rt.block_on(LocalRegistry::with_test_images()).expect("a registry with the test images");
    Some(TestRegistry { registry, rt })
}

/// A server and a real agent with their own data and run dirs. On drop its pods are deleted
/// through the API (so the agent releases their network), then the agent and its containerd
/// are killed and whatever is left (shims, mounts, the bridge) is removed.
pub struct RealNode {
    pub server: Server,
    agent: Option<Agent>,
    dir: tempfile::TempDir,
    pub name: String,
    pub bridge: String,
    args: Vec<String>,
}

impl RealNode {
    /// Starts a server and an agent whose containerd pulls `registry.k8s.io` images (the test
    /// images, see `LocalRegistry::with_test_images`) from `registry`, and waits until the node
    /// is Ready.
    pub fn start(registry: &LocalRegistry) -> RealNode {
        Self::start_with(registry, &[])
    }

    /// As [`RealNode::start`], with extra agent arguments.
    pub fn start_with(registry: &LocalRegistry, extra: &[&str]) -> RealNode {
        Self::launch(registry, extra, false)
    }

    /// A `tug server` running its own node agent (no `--disable-agent`): the node is the
    /// server's.
    pub fn start_in_server(registry: &LocalRegistry) -> RealNode {
        Self::launch(registry, &[], true)
    }

    fn launch(registry: &LocalRegistry, extra: &[&str], in_server: bool) -> RealNode {
        static NODES: AtomicU32 = AtomicU32::new(0);
        let n = NODES.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Unique across processes and within one: Linux names are at most 15 bytes.
        let unique = (pid % 10_000) * 10 + n % 10;
        let cidr = format!("10.{}.0.0/16", 100 + unique % 150);
        let dir = tempfile::Builder::new().prefix("tug-agent-").tempdir().unwrap();
        let name = format!("tug-e2e-{pid}-{n}");
        let bridge = format!("tug{unique}");
        let port = free_port();
        let (data, run) = (dir.path().join("data"), dir.path().join("run"));
        let mut args: Vec<String> = [
            "--run-dir",
            run.to_str().unwrap(),
            "--node-name",
            &name,
            "--registry-mirror",
            &format!("registry.k8s.io=http://{}", registry.host()),
            "--kubelet-port",
            &port.to_string(),
            "--cni-bridge",
            &bridge,
        ]
        .iter()
        .map(|a| (*a).to_string())
        .collect();
        args.extend(extra.iter().map(|a| (*a).to_string()));
        let (server, agent) = if in_server {
            let mut server_args: Vec<&str> = vec!["--cluster-cidr", &cidr];
            server_args.extend(args.iter().map(String::as_str));
            (Server::start_with_agent(tempfile::tempdir().unwrap(), &server_args), None)
        } else {
            let server = Server::start_with(tempfile::tempdir().unwrap(), &["--cluster-cidr", &cidr]);
            args.splice(0..0, ["--data-dir".to_string(), data.to_string_lossy().into_owned()]);
            let agent_args: Vec<&str> = args.iter().map(String::as_str).collect();
            let agent = Agent::start(&server, &agent_args);
            (server, Some(agent))
        };
        let node = RealNode { server, agent, dir, name, bridge, args };
        let ready = "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}";
        poll("the node is Ready", || {
            let out = node.server.kubectl(&["get", "node", &node.name, "-o", ready]);
            (String::from_utf8_lossy(&out.stdout) == "True").then_some(())
        });
        node
    }

    /// Kills the agent (its containerd dies with it; containers live on in their shims) and
    /// starts it again with the same dirs.
    pub fn restart_agent(&mut self) {
        assert!(self.agent.is_some(), "the server's own agent restarts with the server");
        drop(self.agent.take());
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.agent = Some(Agent::start(&self.server, &args));
    }

    /// The agent's containerd socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run/containerd/containerd.sock")
    }

    /// The agent's data dir (`--data-dir`; the server's when the agent runs inside it).
    pub fn data_dir(&self) -> PathBuf {
        if self.agent.is_some() { self.dir.path().join("data") } else { self.server.data_dir().to_path_buf() }
    }

    /// `kubectl get pod NAME`'s STATUS and RESTARTS columns.
    pub fn status_and_restarts(&self, pod: &str) -> Option<(String, String)> {
        let out = self.server.kubectl(&["get", "pod", pod, "--no-headers"]);
        let row = rows(&String::from_utf8_lossy(&out.stdout)).into_iter().next()?;
        Some((row.get(2)?.clone(), row.get(3)?.clone()))
    }

    /// Waits until `kubectl get pod` shows `status` in the STATUS column.
    pub fn wait_for_status(&self, pod: &str, status: &str) {
        poll(&format!("pod {pod} is {status}"), || {
            self.status_and_restarts(pod).filter(|(s, _)| s == status).map(drop)
        });
    }
}

impl Drop for RealNode {
    fn drop(&mut self) {
        let _ = self.server.kubectl(&["delete", "pods", "--all", "--wait", "--timeout=60s"]);
        if self.agent.take().is_none() {
            // The agent is the server's: stop it before its containers are killed.
            let _ = self.server.child.kill();
            let _ = self.server.child.wait();
        }
        kill_shims(&self.socket());
        unmount_under(self.dir.path());
        unmount_under(self.server.data_dir());
        let _ = std::process::Command::new("ip").args(["link", "delete", &self.bridge]).output();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("0.0.0.0:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// Polls `check` every half second for up to two minutes.
pub fn poll<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}
