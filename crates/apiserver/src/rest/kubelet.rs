//! The API server's side of the node agent connection: which address serves a node's kubelet
//! endpoint, and one HTTPS request to it whose response body streams back to the client.
//!
//! The connection is direct (upstream's model; a tunnel the agent opens, as k3s has for nodes
//! behind NAT, would replace only [`dial`]). The agent's certificate is self-signed and not
//! verified (upstream's default without `--kubelet-certificate-authority`); the API server
//! proves itself with the join token as a bearer token. exec, attach and port-forward send
//! their request with [`upgrade`] and splice the two upgraded connections.

use std::{sync::Arc, time::Duration};

use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::net::TcpStream;
use tug_api::status::ApiError;

/// The annotation simulated nodes publish their shared endpoint in (tug-kubelet's
/// `logs::server::KUBELET_ENDPOINT`).
pub const KUBELET_ENDPOINT: &str = "tugboat.dev/kubelet-endpoint";
/// `status.daemonEndpoints.kubeletEndpoint.Port` when a node reports none.
const DEFAULT_PORT: u64 = 10250;
/// How long connecting to an agent may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// `host:port` of `node`'s kubelet endpoint: the annotation, else the first address by k3s's
/// `--kubelet-preferred-address-types` (InternalIP, ExternalIP, Hostname) and the reported port.
pub fn endpoint(node: &Value) -> Option<String> {
    if let Some(endpoint) =
        node.pointer("/metadata/annotations").and_then(|a| a.get(KUBELET_ENDPOINT)).and_then(Value::as_str)
    {
        return Some(endpoint.to_string());
    }
    let addresses = node.pointer("/status/addresses").and_then(Value::as_array)?;
    let host = ["InternalIP", "ExternalIP", "Hostname"].iter().find_map(|kind| {
        addresses
            .iter()
            .find(|a| a.get("type").and_then(Value::as_str) == Some(kind))
            .and_then(|a| a.get("address").and_then(Value::as_str))
    })?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .filter(|p| *p > 0 && *p <= 65535)
        .unwrap_or(DEFAULT_PORT);
    Some(if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") })
}

/// GETs `path_and_query` from the agent at `endpoint`. Errors are upstream's wording for a
/// kubelet it cannot reach, and the agent's own errors (4xx) as the API server passes them on.
pub async fn get(
    endpoint: &str,
    path_and_query: &str,
    token: &str,
) -> Result<hyper::Response<Incoming>, ApiError> {
    let request = hyper::Request::get(path_and_query);
    let response = send(endpoint, request, token).await?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).trim().to_string())
        .unwrap_or_default();
    Err(match status.as_u16() {
        400 => ApiError::bad_request(body),
        404 => ApiError::new(tug_api::status::Reason::NotFound, body),
        401 | 403 => {
            ApiError::internal(format!("the node agent at {endpoint} refused the API server: {body}"))
        }
        _ => ApiError::internal(format!("the node agent at {endpoint} answered {status}: {body}")),
    })
}

/// The request headers an upgrade carries on to the agent: the upgrade itself and the
/// streaming protocols the client offers (WebSocket subprotocols, SPDY's
/// `X-Stream-Protocol-Version`), as upstream's UpgradeAwareHandler passes them.
const UPGRADE_HEADERS: [&str; 7] = [
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "x-stream-protocol-version",
];

/// Sends `method path_and_query` with the client's upgrade headers to the agent at `endpoint`
/// and returns its answer whatever its status: a 101 whose connection
/// [`hyper::upgrade::on`] yields, or an error the caller passes on as it came.
pub async fn upgrade(
    endpoint: &str,
    method: &hyper::Method,
    path_and_query: &str,
    headers: &hyper::HeaderMap,
    token: &str,
) -> Result<hyper::Response<Incoming>, ApiError> {
    let mut request = hyper::Request::builder().method(method.clone()).uri(path_and_query);
    for (name, value) in headers {
        if UPGRADE_HEADERS.contains(&name.as_str()) {
            request = request.header(name, value);
        }
    }
    send(endpoint, request, token).await
}

/// Dials the agent and sends one request on a connection of its own, which may be upgraded.
async fn send(
    endpoint: &str,
    request: hyper::http::request::Builder,
    token: &str,
) -> Result<hyper::Response<Incoming>, ApiError> {
    let method = request.method_ref().cloned().unwrap_or_default();
    let path = request.uri_ref().map(ToString::to_string).unwrap_or_default();
    let url = format!("https://{endpoint}{path}");
    // Go's wording: "Get", "Post".
    let verb: String = method
        .as_str()
        .chars()
        .enumerate()
        .map(|(i, c)| if i == 0 { c } else { c.to_ascii_lowercase() })
        .collect();
    let failed = |e: &dyn std::fmt::Display| ApiError::internal(format!("{verb} \"{url}\": {e}"));
    let tcp = tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(endpoint))
        .await
        .map_err(|_| failed(&"dial tcp: i/o timeout"))?
        .map_err(|e| failed(&format!("dial tcp {endpoint}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let host = endpoint.rsplit_once(':').map_or(endpoint, |(h, _)| h).trim_matches(['[', ']']);
    let name = ServerName::try_from(host.to_string()).map_err(|e| failed(&e))?;
    let config = tug_client::unverified::http1_config().map_err(|e| failed(&e))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| failed(&format!("tls: {e}")))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(|e| failed(&e))?;
    tokio::spawn(async move {
        if let Err(e) = connection.with_upgrades().await {
            tracing::debug!(error = %e, "kubelet connection ended with an error");
        }
    });
    let request = request
        .header(hyper::header::HOST, endpoint)
        .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| failed(&e))?;
    sender.send_request(request).await.map_err(|e| failed(&e))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn endpoints_prefer_the_annotation_then_internal_ip() {
        let node = json!({"status": {
            "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.5"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10251}}}});
        assert_eq!(endpoint(&node).as_deref(), Some("10.0.0.5:10251"));
        let v6 = json!({"status": {"addresses": [{"type": "InternalIP", "address": "fd00::5"}]}});
        assert_eq!(endpoint(&v6).as_deref(), Some("[fd00::5]:10250"));
        let sim = json!({"metadata": {"annotations": {KUBELET_ENDPOINT: "127.0.0.1:4000"}}, "status": node["status"]});
        assert_eq!(endpoint(&sim).as_deref(), Some("127.0.0.1:4000"));
        assert_eq!(endpoint(&json!({})), None);
    }
}
