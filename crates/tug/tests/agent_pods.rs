//! The real node agent on containerd: `tug agent` registers this machine as a Node and runs
//! the pods bound to it, driven with the real kubectl. Needs root, containerd, runc and the CNI
//! plugins: fails under `CI=true` when it cannot run, skips with a message elsewhere.

mod common;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use common::{Agent, Server, kubectl_bin, rows};
use tug_oci::{testimages, testing::LocalRegistry};

fn can_run() -> bool {
    let missing: Vec<&str> = [
        ("containerd", "/usr/bin/containerd"),
        ("runc", "/usr/sbin/runc"),
        ("CNI plugins", "/usr/lib/cni/bridge"),
    ]
    .into_iter()
    .filter(|(_, path)| !Path::new(path).exists())
    .map(|(name, _)| name)
    .collect();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .any(|l| l.strip_prefix("Uid:").is_some_and(|u| u.split_whitespace().nth(1) == Some("0")));
    if root && missing.is_empty() {
        return true;
    }
    let why = if root {
        format!("{} not installed (scripts/setup.sh installs them)", missing.join(", "))
    } else {
        "not root".to_string()
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the agent pod tests cannot run under CI: {why}");
    }
    eprintln!("skipping the agent pod test: {why}");
    false
}

/// A real agent with its own data and run dirs. On drop its pods are deleted through the API
/// (so the agent releases their network), then the agent and its containerd are killed and
/// whatever is left (shims, mounts, the bridge) is removed.
struct Node {
    server: Server,
    agent: Option<Agent>,
    dir: tempfile::TempDir,
    name: String,
    args: Vec<String>,
}

impl Node {
    fn start(registry: &LocalRegistry) -> Node {
        let server = Server::start_with(tempfile::tempdir().unwrap(), &["--disable-agent"]);
        let dir = tempfile::Builder::new().prefix("tug-agent-").tempdir().unwrap();
        let name = format!("tug-e2e-{}", std::process::id());
        let (data, run) = (dir.path().join("data"), dir.path().join("run"));
        let mirror = format!("registry.k8s.io=http://{}", registry.host());
        let agent = Agent::start(
            &server,
            &[
                "--data-dir",
                data.to_str().unwrap(),
                "--run-dir",
                run.to_str().unwrap(),
                "--node-name",
                &name,
                "--registry-mirror",
                mirror.as_str(),
            ],
        );
        let args = vec![
            "--data-dir".to_string(),
            data.to_string_lossy().into_owned(),
            "--run-dir".to_string(),
            run.to_string_lossy().into_owned(),
            "--node-name".to_string(),
            name.clone(),
            "--registry-mirror".to_string(),
            mirror,
        ];
        Node { server, agent: Some(agent), dir, name, args }
    }

    /// Kills the agent (its containerd dies with it; containers live on in their shims) and
    /// starts it again with the same dirs.
    fn restart_agent(&mut self) {
        drop(self.agent.take());
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.agent = Some(Agent::start(&self.server, &args));
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("run/containerd/containerd.sock")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.server.kubectl(&["delete", "pods", "--all", "--wait", "--timeout=60s"]);
        drop(self.agent.take());
        kill_shims(&self.socket());
        unmount_under(self.dir.path());
        let _ = std::process::Command::new("ip").args(["link", "delete", "tug0"]).output();
    }
}

fn kill_shims(socket: &Path) {
    let Ok(procs) = std::fs::read_dir("/proc") else { return };
    let needle = socket.to_string_lossy().into_owned();
    for entry in procs.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> =
            cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if args.first().is_some_and(|a| a.contains("containerd-shim")) && args.contains(&needle) {
            let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).output();
        }
    }
}

fn unmount_under(dir: &Path) {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else { return };
    let mut points: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in points {
        let _ = std::process::Command::new("umount").arg("-l").arg(&point).output();
    }
}

/// Polls `check` every half second for up to two minutes.
fn poll<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn pod_yaml(name: &str, image: &str, policy: &str, script: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: {policy}\n  \
         terminationGracePeriodSeconds: 300\n  containers:\n  - name: main\n    image: {image}\n    \
         command: [\"sh\", \"-c\", {script:?}]\n    env:\n    - name: POD_NAME\n      valueFrom:\n        \
         fieldRef: {{fieldPath: metadata.name}}\n"
    )
}

/// `kubectl get pod NAME`'s STATUS and RESTARTS columns.
fn status_and_restarts(server: &Server, name: &str) -> Option<(String, String)> {
    let out = server.kubectl(&["get", "pod", name, "--no-headers"]);
    let row = rows(&String::from_utf8_lossy(&out.stdout)).into_iter().next()?;
    Some((row.get(2)?.clone(), row.get(3)?.clone()))
}

#[test]
fn pods_run_complete_crash_and_are_deleted_on_the_agents_containerd() {
    if !can_run() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let registry = rt.block_on(LocalRegistry::with_test_images()).expect("a registry with the test images");
    let busybox = registry.image(testimages::BUSYBOX);
    let node = Node::start(&registry);
    let server = &node.server;

    let ready_jsonpath = "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}";
    poll("the node is Ready", || {
        let out = server.kubectl(&["get", "node", &node.name, "-o", ready_jsonpath]);
        (String::from_utf8_lossy(&out.stdout) == "True").then_some(())
    });
    let labels = server.ok(&["get", "node", &node.name, "-o", "jsonpath={.metadata.labels}"]);
    assert!(labels.contains(&format!("\"kubernetes.io/hostname\":\"{}\"", node.name)), "{labels}");
    let pod_cidr = server.ok(&["get", "node", &node.name, "-o", "jsonpath={.spec.podCIDR}"]);
    let lease = server.ok(&["get", "lease", "-n", "kube-node-lease", &node.name, "-o", "name"]);
    assert_eq!(lease.trim(), format!("lease.coordination.k8s.io/{}", node.name));

    // Runs to completion under Never.
    let done = pod_yaml("done", &busybox, "Never", "echo hi $POD_NAME; sleep 1; exit 0");
    server.kubectl_stdin(&["apply", "-f", "-"], &done);
    poll("pod done is Completed", || {
        status_and_restarts(server, "done").filter(|(s, _)| s == "Completed").map(drop)
    });
    let phase = server.ok(&["get", "pod", "done", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(phase, "Succeeded");
    let exit = server.ok(&[
        "get",
        "pod",
        "done",
        "-o",
        "jsonpath={.status.containerStatuses[0].state.terminated.exitCode} \
         {.status.containerStatuses[0].containerID}",
    ]);
    assert!(exit.starts_with("0 containerd://"), "{exit}");
    // kubectl logs reads the container's CRI log through the API server and the agent.
    assert_eq!(server.ok(&["logs", "done"]).trim(), "hi done");
    let stamped = server.ok(&["logs", "done", "--timestamps"]);
    assert!(stamped.trim_end().ends_with("Z hi done"), "{stamped}");
    let reasons = "jsonpath={range .items[?(@.involvedObject.name==\"done\")]}{.reason} {end}";
    poll("the kubelet's events about pod done are recorded", || {
        let events = server.ok(&["get", "events", "-o", reasons]);
        ["Pulling", "Pulled", "Created", "Started"].iter().all(|r| events.contains(r)).then_some(())
    });

    // Runs until deleted, with an address from the node's range; stops on SIGTERM.
    let forever =
        pod_yaml("forever", &busybox, "Always", "echo up; trap 'echo bye; exit 0' TERM; sleep 3600 & wait");
    server.kubectl_stdin(&["apply", "-f", "-"], &forever);
    let ip = poll("pod forever is Running", || {
        let (status, _) = status_and_restarts(server, "forever")?;
        let ip = server.ok(&["get", "pod", "forever", "-o", "jsonpath={.status.podIP}"]);
        (status == "Running" && !ip.is_empty()).then_some(ip)
    });
    let prefix = pod_cidr.trim_end_matches("0/24");
    assert!(pod_cidr.ends_with(".0/24") && ip.starts_with(prefix), "pod IP {ip} not in {pod_cidr}");
    let conditions = server.ok(&[
        "get",
        "pod",
        "forever",
        "-o",
        "jsonpath={range .status.conditions[*]}{.type}={.status} {end}",
    ]);
    for c in ["PodScheduled=True", "Initialized=True", "ContainersReady=True", "Ready=True"] {
        assert!(conditions.contains(c), "{conditions}");
    }
    // kubectl logs -f follows the running container and ends when it stops.
    let mut follower = Command::new(kubectl_bin())
        .args(["logs", "-f", "forever"])
        .env("KUBECONFIG", server.kubeconfig())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("kubectl runs");
    let stdout = follower.stdout.take().expect("piped stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    assert_eq!(lines.recv_timeout(Duration::from_secs(30)).ok().as_deref(), Some("up"));
    // The grace period is 300 s: deletion within the timeout means the container got SIGTERM.
    server.ok(&["delete", "pod", "forever", "--timeout=90s"]);
    assert_eq!(lines.recv_timeout(Duration::from_secs(30)).ok().as_deref(), Some("bye"));
    let status = poll("kubectl logs -f to end", || follower.try_wait().ok().flatten());
    assert!(status.success(), "{status}");
    server.fails(&["get", "pod", "forever"]);

    // Exits 1 under Always: restarted, then backing off.
    let crash = pod_yaml("crash", &busybox, "Always", "exit 1");
    server.kubectl_stdin(&["apply", "-f", "-"], &crash);
    poll("pod crash is in CrashLoopBackOff after a restart", || {
        status_and_restarts(server, "crash")
            .filter(|(s, r)| s == "CrashLoopBackOff" && r.parse::<u32>().is_ok_and(|r| r >= 1))
            .map(drop)
    });

    // A restarted agent takes its running pods back without restarting them.
    let keep = pod_yaml("keep", &busybox, "Always", "trap 'exit 0' TERM; sleep 3600 & wait");
    server.kubectl_stdin(&["apply", "-f", "-"], &keep);
    poll("pod keep is Running", || status_and_restarts(server, "keep").filter(|(s, _)| s == "Running"));
    let id_path = "jsonpath={.status.containerStatuses[0].containerID}";
    let before = server.ok(&["get", "pod", "keep", "-o", id_path]);
    let mut node = node;
    node.restart_agent();
    let server = &node.server;
    let after = pod_yaml("after", &busybox, "Always", "trap 'exit 0' TERM; sleep 3600 & wait");
    server.kubectl_stdin(&["apply", "-f", "-"], &after);
    poll("pod after runs on the restarted agent", || {
        status_and_restarts(server, "after").filter(|(s, _)| s == "Running")
    });
    assert_eq!(status_and_restarts(server, "keep"), Some(("Running".into(), "0".into())));
    assert_eq!(server.ok(&["get", "pod", "keep", "-o", id_path]), before);
    drop(node);
    drop(registry);
}
