//! The real agent's forwarder: finds a pod's sandbox through CRI and dials localhost inside its
//! network namespace, as containerd's own port-forward does (loopback first over IPv4, then
//! IPv6), so ports bound to 127.0.0.1 in the pod are reachable too.

use std::{
    io,
    net::{SocketAddr, TcpStream as StdTcpStream},
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context, Result};
use tokio::net::TcpStream;

use super::{PortForwarder, Sandbox};
use crate::runtime::{
    Runtime,
    proto::{PodSandboxFilter, PodSandboxState, PodSandboxStateValue},
};

const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// Port-forwarding into pods run by a CRI runtime.
pub struct CriForwarder {
    pub runtime: Arc<dyn Runtime>,
}

#[async_trait::async_trait]
impl PortForwarder for CriForwarder {
    async fn sandbox(&self, namespace: &str, pod: &str) -> Result<Option<Sandbox>> {
        let filter = PodSandboxFilter {
            state: Some(PodSandboxStateValue { state: PodSandboxState::SandboxReady as i32 }),
            label_selector: [
                ("io.kubernetes.pod.namespace".to_string(), namespace.to_string()),
                ("io.kubernetes.pod.name".to_string(), pod.to_string()),
            ]
            .into(),
            ..Default::default()
        };
        let sandboxes = self.runtime.list_pod_sandboxes(Some(filter)).await?;
        let Some(newest) = sandboxes.into_iter().max_by_key(|s| s.created_at) else {
            return Ok(None);
        };
        let info = self.runtime.pod_sandbox_info(&newest.id).await?;
        let netns = match info.get("info") {
            Some(json) => network_namespace(json).with_context(|| format!("sandbox {} info", newest.id))?,
            None => anyhow::bail!("the runtime gave no info for sandbox {}", newest.id),
        };
        Ok(Some(Sandbox { id: newest.id, uid: String::new(), netns }))
    }

    async fn connect(&self, sandbox: &Sandbox, port: u16) -> std::result::Result<TcpStream, String> {
        let netns = sandbox.netns.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        // setns changes only the calling thread, which must be one of our own: a pool thread
        // would keep the pod's namespace for whatever it runs next.
        std::thread::Builder::new()
            .name("port-forward-dial".into())
            .spawn(move || {
                let _ = tx.send(dial_in(netns.as_deref(), port));
            })
            .map_err(|e| format!("starting a dialer thread: {e}"))?;
        let stream = rx.await.map_err(|_| "the dialer thread died".to_string())??;
        stream.set_nonblocking(true).map_err(|e| format!("socket: {e}"))?;
        TcpStream::from_std(stream).map_err(|e| format!("socket: {e}"))
    }
}

/// The network namespace path from containerd's verbose sandbox info: the OCI spec's
/// `linux.namespaces` entry of type `network`. `None` for host-network pods (no such entry).
///
/// # Errors
/// If the info is not JSON or says the namespace is closed.
pub fn network_namespace(info: &str) -> Result<Option<PathBuf>> {
    let info: serde_json::Value = serde_json::from_str(info).context("parsing the runtime's sandbox info")?;
    if info.get("netNamespaceClosed").and_then(serde_json::Value::as_bool) == Some(true) {
        anyhow::bail!("the network namespace is closed");
    }
    let namespaces = info.pointer("/runtimeSpec/linux/namespaces").and_then(serde_json::Value::as_array);
    let network = namespaces
        .into_iter()
        .flatten()
        .find(|ns| ns.get("type").and_then(serde_json::Value::as_str) == Some("network"));
    let Some(network) = network else { return Ok(None) };
    match network.get("path").and_then(serde_json::Value::as_str) {
        Some(path) if !path.is_empty() => Ok(Some(PathBuf::from(path))),
        _ => anyhow::bail!("the sandbox's network namespace has no path"),
    }
}

/// Enters `netns` (this thread only) and connects to localhost:`port`; errors read like
/// containerd's.
fn dial_in(netns: Option<&Path>, port: u16) -> std::result::Result<StdTcpStream, String> {
    let place = match netns {
        Some(path) => {
            let file = std::fs::File::open(path).map_err(|e| {
                format!("failed to open network namespace {:?}: {e}", path.display().to_string())
            })?;
            // SAFETY: setns on a valid namespace fd affects only this thread's network namespace.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(format!(
                    "failed to enter network namespace {:?}: {}",
                    path.display().to_string(),
                    go_errno(&io::Error::last_os_error())
                ));
            }
            path.display().to_string()
        }
        None => "host".to_string(),
    };
    let v4 = SocketAddr::from(([127, 0, 0, 1], port));
    let v6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
    let e4 = match StdTcpStream::connect_timeout(&v4, DIAL_TIMEOUT) {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    let e6 = match StdTcpStream::connect_timeout(&v6, DIAL_TIMEOUT) {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    Err(format!(
        "failed to execute portforward in network namespace {place:?}: IPv4: dial tcp4 {v4}: connect: {} IPv6: dial tcp6 {v6}: connect: {}",
        go_errno(&e4),
        go_errno(&e6)
    ))
}

/// An OS error as Go prints it: the C library's text, lower-case, without Rust's errno suffix.
fn go_errno(e: &io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_network_namespace_from_containerd_info() {
        let info = r#"{"pid":42,"netNamespaceClosed":false,"runtimeSpec":{"linux":{"namespaces":[
            {"type":"pid"},{"type":"ipc"},{"type":"network","path":"/run/tug/netns/cni-1234"}]}}}"#;
        assert_eq!(network_namespace(info).unwrap(), Some(PathBuf::from("/run/tug/netns/cni-1234")));
        let host = r#"{"runtimeSpec":{"linux":{"namespaces":[{"type":"pid"}]}}}"#;
        assert_eq!(network_namespace(host).unwrap(), None);
        assert!(network_namespace(r#"{"netNamespaceClosed":true}"#).is_err());
        assert!(network_namespace("not json").is_err());
    }

    #[test]
    fn refused_connections_read_like_go() {
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(go_errno(&refused), "connection refused");
    }

    #[test]
    fn dials_localhost_in_the_host_namespace() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(dial_in(None, port).is_ok());
        drop(listener);
        let err = dial_in(None, port).unwrap_err();
        assert!(
            err.starts_with(
                "failed to execute portforward in network namespace \"host\": IPv4: dial tcp4 127.0.0.1:"
            ),
            "{err}"
        );
        assert!(err.contains("connect: connection refused"), "{err}");
    }
}
