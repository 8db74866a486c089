//! The test images in a real containerd (Debian's, as the agent uses it): pulled over plain
//! HTTP from a local registry, imported from an image layout, and run. Without root or
//! containerd it fails under CI (`CI=true`, where scripts/setup.sh installs it) and is
//! skipped with a message elsewhere.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use tug_oci::{
    layout,
    testimages::{self, Sources},
    testing::LocalRegistry,
};

/// A private containerd with its own root, state and socket in a temporary directory.
struct LocalContainerd {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl LocalContainerd {
    fn start() -> Option<LocalContainerd> {
        if !tug_oci::testing::can_run_containers("the containerd image tests") {
            return None;
        }
        let dir = tempfile::Builder::new().prefix("tug-oci-containerd-").tempdir().unwrap();
        let socket = dir.path().join("containerd.sock");
        let config = dir.path().join("config.toml");
        // CRI is not needed to pull and run with ctr; leaving it out keeps start-up quick.
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = {:?}\nstate = {:?}\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = {:?}\n",
                dir.path().join("root"),
                dir.path().join("state"),
                socket
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stderr(log)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let containerd = LocalContainerd { child, socket, _dir: dir };
        poll("containerd answers", || containerd.ctr(&["version"]).status.success());
        Some(containerd)
    }

    fn ctr(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(["--namespace", "tug-oci"])
            .args(args)
            .output()
            .unwrap()
    }

    fn ctr_ok(&self, args: &[&str]) -> String {
        let out = self.ctr(args);
        assert!(out.status.success(), "ctr {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for LocalContainerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn poll(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.starts_with("HTTP/1.1 200").then(|| answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()))?
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_pulls_and_runs_the_test_images() {
    let Some(containerd) = LocalContainerd::start() else { return };
    let registry = LocalRegistry::with_test_images().await.expect("registry with test images");
    for name in [testimages::BUSYBOX, testimages::TESTSERVER, testimages::PAUSE, "library/busybox:latest"] {
        containerd.ctr_ok(&["images", "pull", "--plain-http", &registry.image(name)]);
    }

    // busybox: a shell, the applets, /etc/passwd, and the exit code coming through.
    let out = containerd.ctr(&[
        "run",
        "--rm",
        &registry.image(testimages::BUSYBOX),
        "busybox-exit",
        "sh",
        "-c",
        "id -un; ls /tmp >/dev/null; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "root");

    // The static test server runs as PID 1 of an otherwise empty system, answers HTTP, and
    // ends on the SIGTERM ctr sends.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let port_arg = port.to_string();
    containerd.ctr_ok(&[
        "run",
        "-d",
        "--net-host",
        &registry.image(testimages::TESTSERVER),
        "testserver",
        "/testserver",
        "--http-port",
        &port_arg,
        "--tcp-port",
        "off",
        "--grpc-port",
        "off",
    ]);
    let mut echoed = None;
    poll("test server answers", || {
        echoed = http_get(port, "/echo?msg=from-containerd");
        echoed.is_some()
    });
    assert_eq!(echoed.as_deref(), Some("from-containerd"));
    containerd.ctr_ok(&["task", "kill", "testserver"]);
    poll("test server stops", || {
        containerd
            .ctr_ok(&["task", "ls"])
            .lines()
            .any(|l| l.starts_with("testserver") && l.contains("STOPPED"))
    });
    containerd.ctr_ok(&["task", "rm", "testserver"]);
    containerd.ctr_ok(&["containers", "rm", "testserver"]);

    // The pause image sleeps until told to stop.
    containerd.ctr_ok(&["run", "-d", &registry.image(testimages::PAUSE), "pause"]);
    poll("pause runs", || {
        containerd.ctr_ok(&["task", "ls"]).lines().any(|l| l.starts_with("pause") && l.contains("RUNNING"))
    });
    containerd.ctr_ok(&["task", "kill", "pause"]);
    poll("pause stops", || {
        containerd.ctr_ok(&["task", "ls"]).lines().any(|l| l.starts_with("pause") && l.contains("STOPPED"))
    });
    containerd.ctr_ok(&["task", "rm", "pause"]);
    containerd.ctr_ok(&["containers", "rm", "pause"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_names_are_served_through_registry_mirrors() {
    let Some(containerd) = LocalContainerd::start() else { return };
    let registry = LocalRegistry::with_test_images().await.expect("registry with test images");
    // containerd's hosts directory: docker.io is looked up at the local registry first, so
    // the pull never leaves the machine.
    let hosts = tempfile::tempdir().unwrap();
    std::fs::create_dir(hosts.path().join("docker.io")).unwrap();
    std::fs::write(
        hosts.path().join("docker.io/hosts.toml"),
        format!(
            "server = \"https://registry-1.docker.io\"\n[host.\"http://{}\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
            registry.host()
        ),
    )
    .unwrap();
    std::fs::create_dir(hosts.path().join("registry.k8s.io")).unwrap();
    std::fs::write(
        hosts.path().join("registry.k8s.io/hosts.toml"),
        format!("[host.\"http://{}\"]\n  capabilities = [\"pull\", \"resolve\"]\n", registry.host()),
    )
    .unwrap();
    let hosts_dir = path_str(hosts.path());
    containerd.ctr_ok(&["images", "pull", "--hosts-dir", hosts_dir, "registry.k8s.io/pause:3.10"]);
    for name in [
        "docker.io/library/busybox:latest",
        "docker.io/library/busybox:1.28",
        "docker.io/library/nginx:1.14.2",
    ] {
        containerd.ctr_ok(&["images", "pull", "--hosts-dir", hosts_dir, name]);
    }
    let out = containerd.ctr_ok(&[
        "run",
        "--rm",
        "docker.io/library/busybox:latest",
        "mirrored",
        "echo",
        "mirrored",
    ]);
    assert_eq!(out.trim(), "mirrored");
    // The broken tag of upstream's rollout tutorial stays broken.
    assert!(
        !containerd
            .ctr(&["images", "pull", "--hosts-dir", hosts_dir, "docker.io/library/nginx:1.161"])
            .status
            .success()
    );
}

#[test]
fn containerd_imports_an_image_layout() {
    let Some(containerd) = LocalContainerd::start() else { return };
    let images = testimages::build_all(&Sources::local().expect("test server builds")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tarball = dir.path().join("images.tar");
    let names = ["layout.test/tugboat/busybox:1.35", "layout.test/tugboat/pause:3.10"];
    let file = std::fs::File::create(&tarball).unwrap();
    layout::write_layout(
        file,
        &[
            (names[0], testimages::find(&images, testimages::BUSYBOX).unwrap()),
            (names[1], testimages::find(&images, testimages::PAUSE).unwrap()),
        ],
    )
    .unwrap();
    containerd.ctr_ok(&["images", "import", path_str(&tarball)]);
    let listed = containerd.ctr_ok(&["images", "ls", "-q"]);
    for name in names {
        assert!(listed.lines().any(|l| l == name), "{name} in {listed}");
    }
    let out = containerd.ctr_ok(&["run", "--rm", names[0], "imported", "echo", "imported"]);
    assert_eq!(out.trim(), "imported");
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}
