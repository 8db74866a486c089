//! The agent's containerd and the CRI runtime layer against Debian's real containerd, runc and
//! CNI plugins. Needs root; without root or without containerd it fails under CI (`CI=true`,
//! where scripts/setup.sh installs them) and is skipped with a message elsewhere.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use tug_kubelet::{
    containerd::{Containerd, ContainerdConfig},
    runtime::{CriRuntime, Runtime},
};

/// Whether this machine can run the test; panics under CI when it cannot.
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
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root && missing.is_empty() {
        return true;
    }
    let why = if root {
        format!("{} not installed (scripts/setup.sh installs them)", missing.join(", "))
    } else {
        "not root".to_string()
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the containerd tests cannot run under CI: {why}");
    }
    eprintln!("skipping the containerd test: {why}");
    false
}

/// A containerd of its own in a temp dir; everything it made is removed on drop.
struct Node {
    dir: tempfile::TempDir,
    config: ContainerdConfig,
    containerd: Option<Containerd>,
    runtime: CriRuntime,
    bridge: String,
}

impl Node {
    async fn start(configure: impl FnOnce(&mut ContainerdConfig)) -> Node {
        let dir = tempfile::Builder::new().prefix("tug-cri-").tempdir().expect("a temp dir");
        let mut config = ContainerdConfig::under(&dir.path().join("agent"), &dir.path().join("run"));
        configure(&mut config);
        let containerd = Containerd::start(&config).await.expect("containerd starts");
        assert!(containerd.pid().is_some(), "a fresh socket has no containerd: this test starts its own");
        let runtime = CriRuntime::connect(containerd.socket()).await.expect("connecting to containerd");
        let bridge = format!("tugt{}", std::process::id() % 100_000);
        Node { dir, config, containerd: Some(containerd), runtime, bridge }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let containerd = self.containerd.take();
        let socket = self.config.socket.clone();
        // Drop cannot await: clean up from a thread with its own runtime while this one blocks.
        // The tests run on a multi-thread runtime so that its workers keep driving what this
        // thread waits for (containerd's exit, reaped through the test runtime's SIGCHLD handler).
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            rt.block_on(async {
                if let Ok(runtime) = CriRuntime::connect(&socket).await {
                    remove_all_pods(&runtime).await;
                }
                if let Some(containerd) = containerd
                    && let Err(err) = containerd.stop().await
                {
                    eprintln!("stopping containerd: {err:#}");
                }
            });
            kill_shims(&socket);
        });
        let _ = cleanup.join();
        unmount_under(self.dir.path());
        let _ = std::process::Command::new("ip").args(["link", "delete", &self.bridge]).output();
    }
}

/// Stops and removes every sandbox (and so its containers, network namespace and address).
async fn remove_all_pods(runtime: &CriRuntime) {
    let Ok(sandboxes) = runtime.list_pod_sandboxes(None).await else { return };
    for sandbox in sandboxes {
        if let Err(err) = runtime.stop_pod_sandbox(&sandbox.id).await {
            eprintln!("{err}");
        }
        if let Err(err) = runtime.remove_pod_sandbox(&sandbox.id).await {
            eprintln!("{err}");
        }
    }
}

/// Kills shims still serving containers of the containerd on `socket` (after a failed test).
fn kill_shims(socket: &Path) {
    let Ok(procs) = std::fs::read_dir("/proc") else { return };
    let needle = socket.to_string_lossy().into_owned();
    for entry in procs.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> =
            cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if args.first().is_some_and(|a| a.contains("containerd-shim")) && args.contains(&needle) {
            // SAFETY: kill(2) on a pid read from /proc.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Unmounts whatever is still mounted under `dir` (snapshots, sandbox shm, network
/// namespaces), deepest first, so the temp dir can be removed.
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
        let Ok(c_path) = std::ffi::CString::new(point.as_os_str().as_encoded_bytes()) else { continue };
        // SAFETY: umount2 with a valid C string.
        unsafe { libc::umount2(c_path.as_ptr(), libc::MNT_DETACH) };
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_containerd_serves_cri() {
    if !can_run() {
        return;
    }
    let node = Node::start(|_| {}).await;
    let version = node.runtime.version().await.expect("Version");
    assert_eq!(version.runtime_name, "containerd");
    assert_eq!(version.runtime_api_version, "v1");
    assert!(!version.runtime_version.is_empty());

    let status = node.runtime.status().await.expect("Status");
    let condition = |kind: &str| status.conditions.iter().find(|c| c.r#type == kind).map(|c| c.status);
    assert_eq!(condition("RuntimeReady"), Some(true), "{status:?}");
    // No CNI config yet: the network is not ready until the agent writes one.
    assert_eq!(condition("NetworkReady"), Some(false), "{status:?}");

    // A second start finds it running and leaves it alone.
    let again = Containerd::start(&node.config).await.expect("reusing the running containerd");
    assert_eq!(again.pid(), None);
    again.stop().await.expect("leaving it running");
    node.runtime.version().await.expect("still serving");

    let err = node.runtime.container_status("no-such-container").await.expect_err("a missing container");
    assert!(err.is_not_found(), "{err}");
}
