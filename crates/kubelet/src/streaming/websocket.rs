//! WebSocket toward the client (kubectl, through the API server's splice): the upgrade
//! handshake and the channels of `v5.channel.k8s.io` and `v4.channel.k8s.io`. Each binary
//! message starts with its channel's byte; v5 adds [`CLOSE`], with which the client ends its
//! stdin without closing the connection.

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, Response, StatusCode, header},
};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{handshake::derive_accept_key, protocol::Role},
};

/// The subprotocols spoken, best first.
pub const V5: &str = "v5.channel.k8s.io";
pub const V4: &str = "v4.channel.k8s.io";
const SPOKEN: [&str; 2] = [V5, V4];

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
/// The session's outcome: a metav1.Status as JSON.
pub const ERROR: u8 = 3;
/// Terminal size changes: `{"Width":…,"Height":…}`.
pub const RESIZE: u8 = 4;
/// v5: the next byte names a channel the client will send no more on.
pub const CLOSE: u8 = 255;

/// The client side of an upgraded connection.
pub type ClientSocket = WebSocketStream<TokioIo<Upgraded>>;

/// Whether the request asks for a WebSocket.
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case(token))
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

/// The first subprotocol the client offers that this side speaks (the client's order, as
/// upstream's wsstream chooses).
pub fn negotiate(headers: &HeaderMap) -> Option<&'static str> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|offered| SPOKEN.into_iter().find(|p| *p == offered.trim()))
}

/// The 101 answer to the client's handshake, speaking `protocol`.
///
/// # Errors
/// When the request lacks its key.
pub fn accept(headers: &HeaderMap, protocol: &'static str) -> Result<Response<Body>, String> {
    let key =
        headers.get(header::SEC_WEBSOCKET_KEY).ok_or("the WebSocket upgrade has no Sec-WebSocket-Key")?;
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, derive_accept_key(key.as_bytes()))
        .header(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol))
        .body(Body::empty())
        .map_err(|e| e.to_string())
}

/// The WebSocket over the client's upgraded connection.
pub async fn server(upgraded: Upgraded) -> ClientSocket {
    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await
}

/// One message on `channel`.
pub fn frame(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(data.len() + 1);
    message.push(channel);
    message.extend_from_slice(data);
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn negotiates_in_the_clients_order() {
        let kubectl = headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-protocol", "v5.channel.k8s.io, v4.channel.k8s.io"),
        ]);
        assert!(is_upgrade(&kubectl));
        assert_eq!(negotiate(&kubectl), Some(V5));
        let old = headers(&[("sec-websocket-protocol", "v3.channel.k8s.io"), ("sec-websocket-protocol", V4)]);
        assert_eq!(negotiate(&old), Some(V4));
        assert_eq!(negotiate(&headers(&[("sec-websocket-protocol", "channel.k8s.io")])), None);
        let spdy = headers(&[("connection", "Upgrade"), ("upgrade", "SPDY/3.1")]);
        assert!(!is_upgrade(&spdy));
    }

    #[test]
    fn accepts_with_rfc_6455s_key() {
        let request = headers(&[("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")]);
        let response = accept(&request, V5).unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(response.headers()[header::SEC_WEBSOCKET_ACCEPT], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(response.headers()[header::SEC_WEBSOCKET_PROTOCOL], V5);
        assert!(accept(&HeaderMap::new(), V4).is_err());
    }
}
