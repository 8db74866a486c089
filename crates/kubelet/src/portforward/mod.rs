//! `kubectl port-forward` on the agent: `/portForward/{namespace}/{pod}` upgrades to SPDY/3.1
//! (directly, or tunnelled in WebSocket) and serves `portforward.k8s.io` ([`session`]) into
//! the pod's network namespace ([`netns`]). The API server only splices the upgraded
//! connection through.

pub mod netns;
pub mod session;
pub mod upgrade;
mod websocket;

use std::{path::PathBuf, sync::Arc};

use axum::{
    extract::{Path, Request, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tug_spdy::{Connection, Role};

use crate::logs::server::{AgentServer, authorized};

/// A pod's network, where its forwarded connections go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    /// The runtime's sandbox id: upstream's error messages name the pod by it.
    pub id: String,
    /// Upstream's CRI streaming server knows no pod uid, so its messages print an empty one.
    pub uid: String,
    /// The network namespace to dial in; `None` dials in the agent's own (host network).
    pub netns: Option<PathBuf>,
}

/// Where forwarded connections go.
#[async_trait::async_trait]
pub trait PortForwarder: Send + Sync {
    /// The running sandbox of `namespace/pod` on this node, `None` if it has none.
    ///
    /// # Errors
    /// If the runtime cannot be asked.
    async fn sandbox(&self, namespace: &str, pod: &str) -> anyhow::Result<Option<Sandbox>>;

    /// Connects to `port` on localhost inside the sandbox's network.
    ///
    /// # Errors
    /// The reason as upstream words it, which the client shows.
    async fn connect(&self, sandbox: &Sandbox, port: u16) -> Result<TcpStream, String>;
}

/// `GET|POST /portForward/{namespace}/{pod}`.
pub async fn handle(
    State(server): State<Arc<AgentServer>>,
    Path((namespace, pod)): Path<(String, String)>,
    mut request: Request,
) -> Response {
    if !authorized(request.headers(), &server.token) {
        return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    }
    let Some(forwarder) = server.port_forward.clone() else {
        return (StatusCode::NOT_IMPLEMENTED, "port forwarding is not supported on this node")
            .into_response();
    };
    let up = match upgrade::negotiate(request.headers()) {
        Ok(up) => up,
        Err(refusal) => return refusal.into_response(),
    };
    let sandbox = match forwarder.sandbox(&namespace, &pod).await {
        Ok(Some(sandbox)) => sandbox,
        Ok(None) => return (StatusCode::NOT_FOUND, "pod does not exist").into_response(),
        Err(e) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, format!("finding the pod's sandbox: {e:#}"))
                .into_response();
        }
    };
    let on_upgrade = hyper::upgrade::on(&mut request);
    let response = upgrade::switching(&up);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => TokioIo::new(u),
            Err(e) => {
                tracing::debug!(error = %e, "port-forward: upgrade failed");
                return;
            }
        };
        tracing::debug!(%namespace, %pod, sandbox = %sandbox.id, ?up, "port-forward: upgraded");
        let started = match up {
            upgrade::Upgrade::Spdy => Connection::new(upgraded, Role::Server),
            upgrade::Upgrade::WebSocket { .. } => {
                Connection::new(websocket::tunnel(upgraded).await, Role::Server)
            }
        };
        match started {
            Ok((conn, incoming)) => session::serve(conn, incoming, forwarder, sandbox).await,
            Err(e) => tracing::warn!(error = %e, "port-forward: starting the SPDY connection"),
        }
    });
    response
}
