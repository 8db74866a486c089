//! A registry on loopback for tests: Debian's `docker-registry` with its storage in a
//! temporary directory, stopped when dropped.

use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::{
    Error, Registry, Result,
    testimages::{self, Sources},
};

/// A registry process this program started; killed when dropped, its storage removed.
pub struct LocalRegistry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl LocalRegistry {
    /// Starts a registry on a free loopback port and waits until it serves `/v2/`. The binary
    /// is `$TUG_REGISTRY_BIN`, or `docker-registry` from `PATH` (Debian's package).
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be started, [`Error::Transport`] if it does not answer in 30 s.
    pub async fn start() -> Result<LocalRegistry> {
        // The port is free when picked but may be taken before the registry binds it (tests
        // start many servers at once); a registry that exits at start gets another port.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match LocalRegistry::launch().await {
                Err(Started::Exited(_)) if attempts < 3 => continue,
                Err(Started::Exited(e) | Started::Failed(e)) => return Err(e),
                Ok(registry) => return Ok(registry),
            }
        }
    }

    async fn launch() -> Result<LocalRegistry, Started> {
        let dir = tempfile::Builder::new()
            .prefix("tug-registry-")
            .tempdir()
            .map_err(|e| Error::io("create registry directory", e))?;
        let port = free_port()?;
        let config = dir.path().join("config.yml");
        std::fs::write(&config, registry_config(&dir.path().join("storage"), port))
            .map_err(|e| Error::io("write registry config", e))?;
        let log = std::fs::File::create(dir.path().join("registry.log"))
            .map_err(|e| Error::io("create registry log", e))?;
        let log_err = log.try_clone().map_err(|e| Error::io("create registry log", e))?;
        let bin = std::env::var("TUG_REGISTRY_BIN").unwrap_or_else(|_| "docker-registry".into());
        let child = Command::new(&bin)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| Error::io(format!("start {bin} (install Debian's docker-registry)"), e))?;
        let mut registry = LocalRegistry { child, port, dir };
        registry.wait_ready().await?;
        Ok(registry)
    }

    /// Starts a registry and pushes every test image into it (see [`testimages`]), with the
    /// Docker Hub names too.
    ///
    /// # Errors
    /// As [`LocalRegistry::start`], [`testimages::build_testserver`] and [`Registry::push`].
    pub async fn with_test_images() -> Result<LocalRegistry> {
        let registry = LocalRegistry::start().await?;
        let sources = Sources { docker_hub_names: true, ..Sources::local()? };
        let images = testimages::build_all(&sources)?;
        testimages::push_all(&registry.host(), &images).await?;
        Ok(registry)
    }

    /// `127.0.0.1:PORT`, the registry part of image names.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The full name of an image in this registry: `image("tugboat/busybox:1.35")`.
    pub fn image(&self, name: &str) -> String {
        format!("{}/{name}", self.host())
    }

    /// A client for this registry.
    pub fn client(&self) -> Registry {
        Registry::http(&self.host())
    }

    /// The registry's log file, to print when a test fails.
    pub fn log_path(&self) -> std::path::PathBuf {
        self.dir.path().join("registry.log")
    }

    async fn wait_ready(&mut self) -> Result<(), Started> {
        let client = self.client();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let Err(error) = client.ping().await else { return Ok(()) };
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
                let why = format!("exited with {status}: {log}");
                return Err(Started::Exited(Error::transport("start registry", why)));
            }
            if Instant::now() > deadline {
                let why = format!("no answer within 30 s: {error}");
                return Err(Started::Failed(Error::transport("start registry", why)));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Why a start failed: an exit is worth another port, anything else is not.
enum Started {
    Exited(Error),
    Failed(Error),
}

impl From<Error> for Started {
    fn from(e: Error) -> Self {
        Started::Failed(e)
    }
}

/// The user and password [`LocalRegistry::require_basic_auth`] accepts.
pub const REGISTRY_USER: &str = "tugboat";
pub const REGISTRY_PASSWORD: &str = "tugboat-secret";
/// bcrypt (cost 4) of [`REGISTRY_PASSWORD`], the only hash docker-registry's htpasswd takes;
/// made once with libxcrypt, so the tests need no bcrypt implementation.
const REGISTRY_PASSWORD_BCRYPT: &str = "$2b$04$q/JTjXc6ml7voqf2rB6N8.qGrUbjqDvBLX2FjxUYDvyPvwD4jKHyG";

impl LocalRegistry {
    /// Restarts the registry on the same port and storage, now asking for HTTP basic auth
    /// ([`REGISTRY_USER`], [`REGISTRY_PASSWORD`]) on every request: fill it first, then lock it,
    /// so that pushing needs no credentials.
    ///
    /// # Errors
    /// If the config cannot be written or the registry does not come back within 30 s.
    pub async fn require_basic_auth(&mut self) -> Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let htpasswd = self.dir.path().join("htpasswd");
        std::fs::write(&htpasswd, format!("{REGISTRY_USER}:{REGISTRY_PASSWORD_BCRYPT}\n"))
            .map_err(|e| Error::io("write registry htpasswd", e))?;
        let mut config = registry_config(&self.dir.path().join("storage"), self.port);
        config += &format!("auth:\n  htpasswd:\n    realm: tugboat\n    path: {}\n", htpasswd.display());
        let path = self.dir.path().join("config.yml");
        std::fs::write(&path, config).map_err(|e| Error::io("write registry config", e))?;
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.log_path())
            .map_err(|e| Error::io("open registry log", e))?;
        let log_err = log.try_clone().map_err(|e| Error::io("open registry log", e))?;
        let bin = std::env::var("TUG_REGISTRY_BIN").unwrap_or_else(|_| "docker-registry".into());
        self.child = Command::new(&bin)
            .arg("serve")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| Error::io(format!("start {bin}"), e))?;
        let client = self.client();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // Up once it refuses an anonymous request.
            match client.ping().await {
                Err(err) if err.to_string().contains("401") => return Ok(()),
                _ if Instant::now() > deadline => {
                    let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
                    return Err(Error::transport("restart registry with auth", log));
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A registry with filesystem storage and nothing else: no auth, no health checks.
fn registry_config(storage: &Path, port: u16) -> String {
    format!(
        "version: 0.1\n\
         log:\n  level: warn\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n",
        storage.display()
    )
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("find a free port", e))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| Error::io("find a free port", e))
}

/// Whether this machine can run containers for a test: root, with Debian's containerd, runc and
/// CNI plugins installed. Under CI (`CI=true`, where scripts/setup.sh installs them) it panics
/// when it cannot, so that a test never passes by skipping there; elsewhere it prints why
/// `what` is skipped.
///
/// # Panics
/// Under `CI=true` when the machine cannot run containers.
pub fn can_run_containers(what: &str) -> bool {
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
    assert!(std::env::var("CI").map_or(true, |v| v != "true"), "{what} cannot run under CI: {why}");
    eprintln!("skipping {what}: {why}");
    false
}

/// Kills the shims still serving containers of the containerd on `socket`: containers outlive
/// containerd, and a test or benchmark must not leave them behind.
pub fn kill_shims(socket: &Path) {
    let Ok(procs) = std::fs::read_dir("/proc") else { return };
    let needle = socket.to_string_lossy().into_owned();
    for entry in procs.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> =
            cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if args.first().is_some_and(|a| a.contains("containerd-shim")) && args.contains(&needle) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).output();
        }
    }
}

/// Unmounts whatever is still mounted under `dir` (snapshots, sandbox shm, network
/// namespaces, volumes), deepest first, so that the directory can be removed.
pub fn unmount_under(dir: &Path) {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else { return };
    let mut points: Vec<std::path::PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|p| std::path::PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in points {
        let _ = Command::new("umount").arg("-l").arg(&point).output();
    }
}
