//! The HTTP upgrade of `/portForward`: plain SPDY/3.1 (`Upgrade: SPDY/3.1` with
//! `X-Stream-Protocol-Version`) or SPDY tunnelled in WebSocket binary messages (subprotocol
//! `SPDY/3.1+portforward.k8s.io`), which kubectl tries first since 1.31.

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

/// The one port-forward protocol upstream serves.
pub const PROTOCOL: &str = "portforward.k8s.io";
/// The prefix kubectl puts before the protocol when it tunnels SPDY through WebSocket.
pub const TUNNEL_PREFIX: &str = "SPDY/3.1+";
pub const STREAM_PROTOCOL_VERSION: &str = "x-stream-protocol-version";
const ACCEPTED_STREAM_PROTOCOL_VERSIONS: &str = "x-accepted-stream-protocol-versions";

/// How the connection carries SPDY once upgraded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upgrade {
    /// SPDY frames directly on the connection.
    Spdy,
    /// SPDY frames in WebSocket binary messages; `accept` answers the client's key.
    WebSocket { accept: String, protocol: String },
}

/// A refused upgrade: the status and message the client gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
    accepted: bool,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.message).into_response();
        if self.accepted {
            response
                .headers_mut()
                .insert(ACCEPTED_STREAM_PROTOCOL_VERSIONS, HeaderValue::from_static(PROTOCOL));
        }
        response
    }
}

fn values<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a str> {
    headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim)
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    values(headers, name.as_str()).any(|v| v.eq_ignore_ascii_case(token))
}

/// Decides the upgrade from the request's headers, as upstream's `httpstream.Handshake` and
/// SPDY upgrader do for SPDY, and RFC 6455 for WebSocket.
///
/// # Errors
/// A [`Refusal`] when the request is no upgrade or names no protocol the agent speaks.
pub fn negotiate(headers: &HeaderMap) -> Result<Upgrade, Refusal> {
    let connection_upgrade = has_token(headers, header::CONNECTION, "upgrade");
    if connection_upgrade && has_token(headers, header::UPGRADE, "websocket") {
        return websocket(headers);
    }
    if !connection_upgrade || !has_token(headers, header::UPGRADE, "spdy/3.1") {
        return Err(Refusal {
            status: StatusCode::BAD_REQUEST,
            message: "unable to upgrade: missing upgrade headers in request".into(),
            accepted: false,
        });
    }
    let offered: Vec<&str> = values(headers, STREAM_PROTOCOL_VERSION).filter(|v| !v.is_empty()).collect();
    if offered.is_empty() {
        return Err(Refusal {
            status: StatusCode::BAD_REQUEST,
            message: "unable to upgrade: X-Stream-Protocol-Version is required".into(),
            accepted: false,
        });
    }
    if !offered.contains(&PROTOCOL) {
        return Err(Refusal {
            status: StatusCode::FORBIDDEN,
            message: format!(
                "unable to upgrade: unable to negotiate protocol: client supports [{}], server accepts [{PROTOCOL}]",
                offered.join(" ")
            ),
            accepted: true,
        });
    }
    Ok(Upgrade::Spdy)
}

fn websocket(headers: &HeaderMap) -> Result<Upgrade, Refusal> {
    let bad = |message: String| Refusal { status: StatusCode::BAD_REQUEST, message, accepted: false };
    if headers.get(header::SEC_WEBSOCKET_VERSION).and_then(|v| v.to_str().ok()) != Some("13") {
        return Err(bad("unable to upgrade: Sec-WebSocket-Version must be 13".into()));
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return Err(bad("unable to upgrade: Sec-WebSocket-Key is required".into()));
    };
    let wanted = format!("{TUNNEL_PREFIX}{PROTOCOL}");
    let offered: Vec<&str> = values(headers, header::SEC_WEBSOCKET_PROTOCOL.as_str()).collect();
    if !offered.iter().any(|p| *p == wanted) {
        return Err(Refusal {
            status: StatusCode::FORBIDDEN,
            message: format!(
                "unable to upgrade: unable to negotiate protocol: client supports [{}], server accepts [{wanted}]",
                offered.join(" ")
            ),
            accepted: false,
        });
    }
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    Ok(Upgrade::WebSocket { accept, protocol: wanted })
}

/// The `101 Switching Protocols` answer for `upgrade`.
pub fn switching(upgrade: &Upgrade) -> Response {
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = response.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    match upgrade {
        Upgrade::Spdy => {
            h.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
            h.insert(STREAM_PROTOCOL_VERSION, HeaderValue::from_static(PROTOCOL));
        }
        Upgrade::WebSocket { accept, protocol } => {
            h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            if let Ok(v) = HeaderValue::from_str(accept) {
                h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
            }
            if let Ok(v) = HeaderValue::from_str(protocol) {
                h.insert(header::SEC_WEBSOCKET_PROTOCOL, v);
            }
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(header::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn spdy_upgrades_negotiate_the_portforward_protocol() {
        let kubectl = headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "SPDY/3.1"),
            ("x-stream-protocol-version", "portforward.k8s.io"),
        ]);
        assert_eq!(negotiate(&kubectl), Ok(Upgrade::Spdy));
        let r = switching(&Upgrade::Spdy);
        assert_eq!(r.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(r.headers()["upgrade"], "SPDY/3.1");
        assert_eq!(r.headers()["x-stream-protocol-version"], "portforward.k8s.io");

        let other = headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "SPDY/3.1"),
            ("x-stream-protocol-version", "v4.channel.k8s.io"),
        ]);
        let refusal = negotiate(&other).unwrap_err();
        assert_eq!(refusal.status, StatusCode::FORBIDDEN);
        assert!(refusal.message.contains("client supports [v4.channel.k8s.io]"), "{}", refusal.message);
        let none = headers(&[("connection", "Upgrade"), ("upgrade", "SPDY/3.1")]);
        assert_eq!(negotiate(&none).unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(negotiate(&HeaderMap::new()).unwrap_err().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn websocket_upgrades_tunnel_spdy() {
        let kubectl = headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            // RFC 6455's own example key and answer.
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-protocol", "SPDY/3.1+portforward.k8s.io"),
        ]);
        let up = negotiate(&kubectl).unwrap();
        assert_eq!(
            up,
            Upgrade::WebSocket {
                accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into(),
                protocol: "SPDY/3.1+portforward.k8s.io".into()
            }
        );
        let r = switching(&up);
        assert_eq!(r.headers()["sec-websocket-protocol"], "SPDY/3.1+portforward.k8s.io");
        assert_eq!(r.headers()["upgrade"], "websocket");

        let mut exec = kubectl.clone();
        exec.insert(header::SEC_WEBSOCKET_PROTOCOL, "v5.channel.k8s.io".parse().unwrap());
        assert_eq!(negotiate(&exec).unwrap_err().status, StatusCode::FORBIDDEN);
    }
}
