//! The agent's containerd and the CRI runtime layer against Debian's real containerd, runc and
//! CNI plugins. Needs root; without root or without containerd it fails under CI (`CI=true`,
//! where scripts/setup.sh installs them) and is skipped with a message elsewhere.

use std::time::Duration;

use tug_kubelet::{
    cni::PodNetwork,
    containerd::{Containerd, ContainerdConfig, Registries},
    runtime::{
        CriRuntime, Runtime,
        proto::{
            ContainerConfig, ContainerMetadata, ContainerState, ImageSpec, LinuxContainerConfig,
            LinuxPodSandboxConfig, LinuxSandboxSecurityContext, NamespaceMode, NamespaceOption,
            PodSandboxConfig, PodSandboxMetadata, PodSandboxState,
        },
    },
};
use tug_oci::{
    testimages::{self, Sources},
    testing::{LocalRegistry, kill_shims, unmount_under},
};

fn can_run() -> bool {
    tug_oci::testing::can_run_containers("the containerd tests")
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
        // Unique per node: a test's Drop deletes its bridge while other tests run.
        static NODES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NODES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bridge = format!("tug{}x{n}", std::process::id() % 100_000);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busybox_container_runs_in_a_networked_sandbox() {
    if !can_run() {
        return;
    }
    let registry = registry_with_test_images(true).await;
    let (pause, busybox) = (registry.image(testimages::PAUSE), registry.image(testimages::BUSYBOX));

    // Registries on loopback are reached over plain HTTP without being named insecure, and
    // Docker Hub's names are served by the mirror.
    let mirror = format!("docker.io=http://{}", registry.host());
    let registries = Registries::from_flags(&[], &[mirror]).expect("the mirror flag");
    let node = Node::start(|config| {
        config.sandbox_image = pause.clone();
        config.registries = registries;
    })
    .await;
    let subnet = format!("10.88.{}.0/24", std::process::id() % 250);
    let network = PodNetwork {
        bridge: node.bridge.clone(),
        ..PodNetwork::new(&subnet, &node.dir.path().join("agent"))
    };
    network.write(&node.config.cni_conf_dir).expect("writing the CNI config");
    poll("the network is ready", || async {
        let status = node.runtime.status().await.ok()?;
        status.conditions.iter().any(|c| c.r#type == "NetworkReady" && c.status).then_some(())
    })
    .await;

    let image_ref = node.runtime.pull_image(&busybox, None, None).await.expect("pulling busybox");
    assert!(image_ref.starts_with("sha256:"), "{image_ref}");
    let present = node.runtime.image_status(&busybox).await.expect("ImageStatus");
    assert!(present.is_some_and(|i| i.repo_tags.contains(&busybox)));
    assert!(node.runtime.image_status("127.0.0.1:1/none:1").await.expect("ImageStatus").is_none());
    let mirrored =
        node.runtime.pull_image("busybox:latest", None, None).await.expect("pulling through the mirror");
    assert_eq!(mirrored, image_ref, "the mirror serves the same busybox");
    let err = node
        .runtime
        .pull_image(&registry.image("no/such:image"), None, None)
        .await
        .expect_err("a missing image");
    assert!(err.to_string().starts_with(&format!("PullImage {}/no/such:image: ", registry.host())), "{err}");

    let logs = node.dir.path().join("pods/default_box_uid-1");
    let sandbox_config = PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: "box".into(),
            uid: "uid-1".into(),
            namespace: "default".into(),
            attempt: 0,
        }),
        hostname: "box".into(),
        log_directory: logs.to_string_lossy().into_owned(),
        linux: Some(LinuxPodSandboxConfig::default()),
        ..Default::default()
    };
    let sandbox = node.runtime.run_pod_sandbox(&sandbox_config, "").await.expect("RunPodSandbox");
    let status = node.runtime.pod_sandbox_status(&sandbox).await.expect("PodSandboxStatus");
    assert_eq!(status.state(), PodSandboxState::SandboxReady);
    let ip = status.network.map(|n| n.ip).unwrap_or_default();
    let prefix = subnet.trim_end_matches("0/24");
    assert!(ip.starts_with(prefix), "pod IP {ip:?} not in {subnet}");

    let container_config = ContainerConfig {
        metadata: Some(ContainerMetadata { name: "hello".into(), attempt: 0 }),
        image: Some(ImageSpec { image: busybox.clone(), ..Default::default() }),
        command: vec!["sh".into(), "-c".into(), "echo hello from busybox; ip -4 -o addr show eth0".into()],
        log_path: "hello/0.log".into(),
        linux: Some(LinuxContainerConfig::default()),
        ..Default::default()
    };
    let container = node
        .runtime
        .create_container(&sandbox, &container_config, &sandbox_config)
        .await
        .expect("CreateContainer");
    node.runtime.start_container(&container).await.expect("StartContainer");
    let exited = poll("the container exits", || async {
        let status = node.runtime.container_status(&container).await.ok()?;
        (status.state() == ContainerState::ContainerExited).then_some(status)
    })
    .await;
    assert_eq!(exited.exit_code, 0, "{exited:?}");
    assert_eq!(exited.reason, "Completed");

    // CRI's log format: `<RFC 3339 time> <stream> <F(ull)|P(artial)> <text>`.
    let log = std::fs::read_to_string(logs.join("hello/0.log")).expect("the container's CRI log");
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines[0].ends_with(" stdout F hello from busybox"), "{log}");
    assert!(lines[1].contains(&format!("inet {ip}/24")), "the container is not in the pod's network:\n{log}");

    let listed = node.runtime.list_containers(None).await.expect("ListContainers");
    assert_eq!(listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), vec![container.as_str()]);
    node.runtime
        .stop_container(&container, Duration::from_secs(1))
        .await
        .expect("stopping an exited container");
    node.runtime.remove_container(&container).await.expect("RemoveContainer");
    node.runtime.stop_pod_sandbox(&sandbox).await.expect("StopPodSandbox");
    node.runtime.remove_pod_sandbox(&sandbox).await.expect("RemovePodSandbox");
    let err = node.runtime.container_status(&container).await.expect_err("a removed container");
    assert!(err.is_not_found(), "{err}");
    assert!(node.runtime.list_pod_sandboxes(None).await.expect("ListPodSandbox").is_empty());
    drop(registry);
}

/// A registry on loopback holding the test images (and their Docker Hub names).
async fn registry_with_test_images(docker_hub_names: bool) -> LocalRegistry {
    let registry = LocalRegistry::start().await.expect("a registry on loopback");
    let sources = Sources { docker_hub_names, ..Sources::local().expect("the test images' sources") };
    let images = testimages::build_all(&sources).expect("building the test images");
    testimages::push_all(&registry.host(), &images).await.expect("pushing the test images");
    registry
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_outlive_a_restart_of_containerd() {
    if !can_run() {
        return;
    }
    let registry = registry_with_test_images(false).await;
    let pause = registry.image(testimages::PAUSE);
    let busybox = registry.image(testimages::BUSYBOX);
    let mut node = Node::start(|config| config.sandbox_image = pause.clone()).await;
    node.runtime.pull_image(&busybox, None, None).await.expect("pulling busybox");

    // Host network: no CNI config needed.
    let sandbox_config = PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: "sleeper".into(),
            uid: "uid-2".into(),
            namespace: "default".into(),
            attempt: 0,
        }),
        log_directory: node.dir.path().join("pods/default_sleeper_uid-2").to_string_lossy().into_owned(),
        linux: Some(LinuxPodSandboxConfig {
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOption {
                    network: NamespaceMode::Node as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let sandbox = node.runtime.run_pod_sandbox(&sandbox_config, "").await.expect("RunPodSandbox");
    let container_config = ContainerConfig {
        metadata: Some(ContainerMetadata { name: "sleep".into(), attempt: 0 }),
        image: Some(ImageSpec { image: busybox.clone(), ..Default::default() }),
        // Ignores SIGTERM, so that stopping it takes the grace period and a SIGKILL.
        command: vec!["sh".into(), "-c".into(), "trap '' TERM; sleep 600".into()],
        log_path: "sleep/0.log".into(),
        linux: Some(LinuxContainerConfig::default()),
        ..Default::default()
    };
    let container = node
        .runtime
        .create_container(&sandbox, &container_config, &sandbox_config)
        .await
        .expect("CreateContainer");
    node.runtime.start_container(&container).await.expect("StartContainer");
    let before = node.runtime.container_status(&container).await.expect("ContainerStatus");
    assert_eq!(before.state(), ContainerState::ContainerRunning);

    let old = node.containerd.take().expect("the node's containerd");
    let old_pid = old.pid();
    old.stop().await.expect("stopping containerd");
    let containerd = Containerd::start(&node.config).await.expect("containerd starts again");
    assert_ne!(containerd.pid(), old_pid);
    node.runtime = CriRuntime::connect(containerd.socket()).await.expect("connecting again");
    node.containerd = Some(containerd);

    let after = node.runtime.container_status(&container).await.expect("ContainerStatus after the restart");
    assert_eq!(after.state(), ContainerState::ContainerRunning, "{after:?}");
    assert_eq!(after.started_at, before.started_at, "the same run of the container");

    node.runtime.stop_container(&container, Duration::from_secs(1)).await.expect("StopContainer");
    let stopped = node.runtime.container_status(&container).await.expect("ContainerStatus");
    assert_eq!((stopped.state(), stopped.exit_code), (ContainerState::ContainerExited, 137), "{stopped:?}");
    drop(registry);
}

/// Polls `check` until it answers, failing the test after a minute.
async fn poll<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
