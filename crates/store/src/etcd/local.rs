//! A single-member etcd on loopback, started from Debian's `etcd-server`, for tests and
//! benchmarks (and for trying the etcd backend by hand).

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::Etcd;
use crate::{Result, StoreError};

/// An etcd process this program started; killed when dropped.
pub struct LocalEtcd {
    child: Option<Child>,
    data_dir: PathBuf,
    client_port: u16,
    peer_port: u16,
}

impl LocalEtcd {
    /// Starts etcd with its data in `data_dir` on free loopback ports, and waits until it
    /// answers. The binary is `$TUG_ETCD_BIN`, or `etcd` from `PATH`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if etcd cannot be started or does not answer in time.
    pub async fn start(data_dir: &Path) -> Result<Self> {
        let mut etcd = LocalEtcd {
            child: None,
            data_dir: data_dir.to_path_buf(),
            client_port: free_port()?,
            peer_port: free_port()?,
        };
        etcd.launch().await?;
        Ok(etcd)
    }

    /// The client URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills etcd with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts etcd again on the same ports and data, after [`LocalEtcd::kill`].
    pub async fn restart(&mut self) -> Result<()> {
        self.kill();
        self.launch().await
    }

    async fn launch(&mut self) -> Result<()> {
        std::fs::create_dir_all(&self.data_dir)
            .map_err(|e| StoreError::unavailable("create etcd data dir", e))?;
        let log = std::fs::File::create(self.data_dir.join("etcd.log"))
            .map_err(|e| StoreError::unavailable("create etcd log", e))?;
        let bin = std::env::var("TUG_ETCD_BIN").unwrap_or_else(|_| "etcd".into());
        let client = self.endpoint();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let child = Command::new(&bin)
            .arg("--data-dir")
            .arg(self.data_dir.join("member-data"))
            .args(["--name", "tug-local"])
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("tug-local={peer}")])
            .args(["--max-request-bytes", "1700000", "--quota-backend-bytes", "8589934592"])
            .env_remove("ETCD_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| {
                StoreError::unavailable(&format!("start {bin} (install Debian's etcd-server)"), e)
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(store) = Etcd::connect(&[self.endpoint()]).await {
                drop(store);
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(StoreError::Unavailable(format!(
                    "etcd exited with {status}; see {}",
                    self.data_dir.join("etcd.log").display()
                )));
            }
            if Instant::now() > deadline {
                return Err(StoreError::Unavailable("etcd did not answer within 30 s".into()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for LocalEtcd {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| StoreError::unavailable("find a free port", e))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| StoreError::unavailable("find a free port", e))
}
