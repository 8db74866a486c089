//! The runtime's side: the URL CRI's `Exec` or `Attach` answered, on containerd's streaming
//! server (kubelet's cri/streaming as containerd 1.6 vendors it), reached over WebSocket with
//! `v4.channel.k8s.io`: the same channels as the client's, without v5's close signal.

use tokio::net::TcpStream;
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{client::IntoClientRequest, http::HeaderValue},
};

use super::websocket::V4;

pub type RuntimeSocket = WebSocketStream<TcpStream>;

/// Opens the session at `url` (`http://host:port/exec/<token>`; containerd's streaming server
/// serves plain HTTP on loopback).
///
/// # Errors
/// A message naming the URL when it is not plain HTTP or the server does not upgrade.
pub async fn connect(url: &str) -> Result<RuntimeSocket, String> {
    let failed = |e: &dyn std::fmt::Display| format!("connecting to the runtime's stream {url}: {e}");
    let rest =
        url.strip_prefix("http://").ok_or_else(|| failed(&"only http:// streaming URLs are supported"))?;
    let host = rest.split_once('/').map_or(rest, |(host, _)| host);
    let mut request = format!("ws://{rest}").into_client_request().map_err(|e| failed(&e))?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(V4));
    let tcp = TcpStream::connect(host).await.map_err(|e| failed(&e))?;
    let _ = tcp.set_nodelay(true);
    let (socket, _) = tokio_tungstenite::client_async(request, tcp).await.map_err(|e| failed(&e))?;
    Ok(socket)
}
