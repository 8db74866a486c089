//! Runs the agent's containerd, as k3s does: reuse one already answering on the socket, else
//! start `containerd --config <file>` as a child that dies with the agent.
//!
//! Containers outlive containerd: their shims are not containerd's children, so stopping or
//! killing containerd (or the agent) leaves pods running, and the next containerd re-adopts them.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use super::ContainerdConfig;
use crate::runtime::{CriRuntime, Runtime};

/// How long containerd may take to answer on its socket after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long containerd may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The directories runc, the shims and iptables (for CNI's portmap and masquerading) are in.
const SYSTEM_PATH: &[&str] = &["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// A containerd serving CRI on the agent's socket.
#[derive(Debug)]
pub struct Containerd {
    socket: PathBuf,
    log_file: PathBuf,
    /// The process, when this agent started it.
    child: Option<Child>,
}

impl Containerd {
    /// Writes `config` (and its registry hosts files), then returns the containerd answering
    /// on `config.socket`, starting one if none does. A containerd that was already running
    /// keeps the config it started with, except for registries (read at each pull).
    ///
    /// The child gets SIGKILL when the thread that started it exits (`PR_SET_PDEATHSIG`), as
    /// k3s's does: call this from a task on the runtime's worker threads, not from a
    /// `spawn_blocking` thread, which the runtime ends when idle.
    ///
    /// # Errors
    ///
    /// When the config cannot be written, `containerd` cannot be started, or it exits or
    /// does not answer within a minute (the error quotes the end of its log).
    pub async fn start(config: &ContainerdConfig) -> anyhow::Result<Containerd> {
        config.write()?;
        if answers(&config.socket).await {
            tracing::info!(socket = %config.socket.display(), "using the containerd already running");
            return Ok(Containerd {
                socket: config.socket.clone(),
                log_file: config.log_file.clone(),
                child: None,
            });
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&config.log_file)
            .with_context(|| format!("opening {}", config.log_file.display()))?;
        let stderr = log.try_clone().with_context(|| format!("opening {}", config.log_file.display()))?;
        let mut command = Command::new("containerd");
        command
            .arg("--config")
            .arg(&config.config_file)
            .env("PATH", search_path(std::env::var_os("PATH")))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            // Its own process group: a Ctrl-C at the agent's terminal is the agent's to handle.
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().context("starting containerd (is Debian's containerd installed?)")?;
        let mut containerd = Containerd {
            socket: config.socket.clone(),
            log_file: config.log_file.clone(),
            child: Some(child),
        };
        tracing::info!(pid = containerd.pid(), socket = %config.socket.display(), "started containerd");
        containerd.wait_ready().await?;
        Ok(containerd)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait().context("waiting for containerd")?
            {
                self.child = None;
                bail!("containerd exited ({status}) before it served; its log ends:\n{}", self.log_tail());
            }
            if answers(&self.socket).await {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "containerd did not answer on {} within {START_TIMEOUT:?}; its log ends:\n{}",
                    self.socket.display(),
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The socket containerd serves CRI on.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The process id, when this agent started containerd.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Stops containerd if this agent started it (SIGTERM, then SIGKILL after 10 s); running
    /// containers keep running. A containerd found running is left alone.
    ///
    /// # Errors
    ///
    /// When the process cannot be signalled or waited for.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        if let Some(pid) = child.id() {
            // SAFETY: kill(2) with a pid of our own unreaped child.
            if unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) } == -1 {
                let err = std::io::Error::last_os_error();
                tracing::warn!(error = %err, pid, "signalling containerd");
            }
        }
        match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
            Ok(status) => {
                status.context("waiting for containerd to exit")?;
            }
            Err(_) => {
                tracing::warn!("containerd did not exit within {STOP_TIMEOUT:?} of SIGTERM; killing it");
                child.kill().await.context("killing containerd")?;
            }
        }
        Ok(())
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Containerd {
    /// A containerd not stopped through [`Containerd::stop`] is killed, so none outlives its
    /// owner; its containers survive either way.
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

/// Whether a CRI runtime answers `Version` on `socket`.
async fn answers(socket: &Path) -> bool {
    if !socket.exists() {
        return false;
    }
    let check = async { CriRuntime::connect(socket).await?.version().await };
    matches!(tokio::time::timeout(Duration::from_secs(2), check).await, Ok(Ok(_)))
}

/// `PATH` with the system directories runc and iptables live in, which a login shell's or a
/// service's `PATH` may lack.
fn search_path(current: Option<OsString>) -> OsString {
    let mut dirs: Vec<PathBuf> =
        current.as_deref().map(|p| std::env::split_paths(p).collect()).unwrap_or_default();
    for dir in SYSTEM_PATH {
        if !dirs.iter().any(|d| d == Path::new(dir)) {
            dirs.push(PathBuf::from(dir));
        }
    }
    std::env::join_paths(dirs).unwrap_or_else(|_| current.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_path_gains_the_system_dirs_once() {
        let path = search_path(Some(OsString::from("/root/.cargo/bin:/usr/bin")));
        let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
        assert_eq!(dirs[0], PathBuf::from("/root/.cargo/bin"));
        assert!(dirs.contains(&PathBuf::from("/usr/sbin")));
        assert_eq!(dirs.iter().filter(|d| *d == Path::new("/usr/bin")).count(), 1);
    }
}
