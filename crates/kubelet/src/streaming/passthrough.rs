//! kubectl's SPDY (its fallback when a WebSocket upgrade is refused, and older clients'
//! protocol) is what containerd's streaming server speaks itself: the request goes on to the
//! runtime's URL with its upgrade headers, as upstream's kubelet proxies streams, and the two
//! upgraded connections are spliced.

use axum::{
    body::Body,
    http::{HeaderMap, StatusCode, header},
    response::Response,
};
use bytes::Bytes;
use http_body_util::Empty;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The request headers that carry the upgrade and its protocol versions.
const FORWARDED: [&str; 3] = ["connection", "upgrade", "x-stream-protocol-version"];

/// Whether the request asks for SPDY.
pub fn is_spdy(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("spdy/"))
}

/// Sends the client's upgrade to `url` and answers with the runtime's answer; a 101 splices
/// the connections.
///
/// # Errors
/// A message naming the URL when the runtime cannot be reached.
pub async fn proxy(url: &str, headers: &HeaderMap, client: OnUpgrade) -> Result<Response, String> {
    let failed = |e: &dyn std::fmt::Display| format!("proxying to the runtime's stream {url}: {e}");
    let rest =
        url.strip_prefix("http://").ok_or_else(|| failed(&"only http:// streaming URLs are supported"))?;
    let (host, path) = rest.split_once('/').map_or((rest, String::from("/")), |(h, p)| (h, format!("/{p}")));
    let tcp = TcpStream::connect(host).await.map_err(|e| failed(&e))?;
    let _ = tcp.set_nodelay(true);
    let (mut sender, http) =
        hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.map_err(|e| failed(&e))?;
    tokio::spawn(async move {
        if let Err(e) = http.with_upgrades().await {
            tracing::debug!(error = %e, "the runtime's streaming connection ended with an error");
        }
    });
    let mut request = hyper::Request::post(path).header(header::HOST, host);
    for (name, value) in headers {
        if FORWARDED.contains(&name.as_str()) {
            request = request.header(name, value);
        }
    }
    let request = request.body(Empty::<Bytes>::new()).map_err(|e| failed(&e))?;
    let mut answer = sender.send_request(request).await.map_err(|e| failed(&e))?;
    if answer.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (parts, body) = answer.into_parts();
        return Ok(Response::from_parts(parts, Body::new(body)));
    }
    let runtime = hyper::upgrade::on(&mut answer);
    tokio::spawn(async move {
        let (client, runtime) = match tokio::try_join!(client, runtime) {
            Ok(both) => both,
            Err(e) => {
                tracing::debug!(error = %e, "a SPDY streaming upgrade did not complete");
                return;
            }
        };
        let (mut client, mut runtime) = (TokioIo::new(client), TokioIo::new(runtime));
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut runtime).await {
            tracing::debug!(error = %e, "a SPDY streaming connection ended with an error");
        }
    });
    let (parts, _) = answer.into_parts();
    Ok(Response::from_parts(parts, Body::empty()))
}
