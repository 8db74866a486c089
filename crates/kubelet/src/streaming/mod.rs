//! `kubectl exec` and `kubectl attach` on the agent: the kubelet's `/exec` and `/attach`
//! endpoints, which the API server's upgrade reaches (it only splices bytes; every protocol
//! lives here).
//!
//! A request is checked (its [`options`], the container), then CRI's `Exec` or `Attach`
//! prepares the session on the runtime's streaming server ([`backend`]), and only then is the
//! client's WebSocket accepted ([`websocket`]), so every refusal is a plain HTTP answer that
//! kubectl shows. [`bridge`] then copies the session's channels both ways. A client speaking
//! SPDY (kubectl's fallback) speaks what the runtime speaks: [`passthrough`] splices it.

mod backend;
mod bridge;
pub mod options;
mod passthrough;
pub mod websocket;

use std::{collections::HashMap, sync::Arc};

use axum::{
    body::Body,
    extract::{Path, RawQuery, Request},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use hyper::upgrade::OnUpgrade;

use crate::{
    pods::config::{CONTAINER_NAME_LABEL, POD_NAME_LABEL, POD_NAMESPACE_LABEL},
    runtime::{
        Runtime,
        proto::{AttachRequest, ContainerFilter, ContainerState, ExecRequest},
    },
};
use options::Options;

/// What a streaming request reaches: exec runs a new process, attach joins the container's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Exec,
    Attach,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Exec => "exec",
            Kind::Attach => "attach",
        }
    }
}

/// The agent's container runtime, when it has one; simulated nodes have none.
#[derive(Clone)]
pub struct Streaming {
    pub runtime: Arc<dyn Runtime>,
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], message.into()).into_response()
}

/// Serves one exec or attach request for `namespace/pod/container`.
pub async fn serve(
    streaming: Option<Arc<Streaming>>,
    kind: Kind,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    mut request: Request,
) -> Response {
    let Some(streaming) = streaming else {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!(
                "pod {namespace}/{pod} runs on a simulated node, which has no container {container} to {}",
                kind.as_str()
            ),
        );
    };
    let options = match Options::from_query(query.as_deref().unwrap_or_default()) {
        Ok(o) => o,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
    };
    if kind == Kind::Exec && options.command.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "you must specify at least one command for the container");
    }
    let id = match find_container(streaming.runtime.as_ref(), &namespace, &pod, &container).await {
        Ok(Some(id)) => id,
        // The kubelet's words when the pod has no such container (yet).
        Ok(None) => return refuse(StatusCode::NOT_FOUND, format!("container not found ({container:?})")),
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let headers = request.headers().clone();
    let spdy = passthrough::is_spdy(&headers);
    if !spdy && !websocket::is_upgrade(&headers) {
        return refuse(StatusCode::BAD_REQUEST, "missing upgrade headers in request");
    }
    let accepted = if spdy {
        None
    } else {
        let Some(protocol) = websocket::negotiate(&headers) else {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!(
                    "none of the requested subprotocols is supported: use {} or {}",
                    websocket::V5,
                    websocket::V4
                ),
            );
        };
        match websocket::accept(&headers, protocol) {
            Ok(r) => Some(r),
            Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
        }
    };
    let Some(upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        return refuse(StatusCode::BAD_REQUEST, "the connection cannot be upgraded");
    };
    let url = match prepare(streaming.runtime.as_ref(), kind, &id, &options).await {
        Ok(url) => url,
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let Some(accepted) = accepted else {
        return passthrough::proxy(&url, &headers, upgrade)
            .await
            .unwrap_or_else(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, e));
    };
    let runtime = match backend::connect(&url, &options).await {
        Ok(session) => session,
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => bridge::run(websocket::server(upgraded).await, runtime).await,
            Err(e) => tracing::debug!(error = %e, "the client's streaming upgrade did not complete"),
        }
    });
    let (parts, _) = accepted.into_parts();
    Response::from_parts(parts, Body::empty())
}

/// CRI's Exec or Attach: the URL of the session on the runtime's streaming server.
async fn prepare(runtime: &dyn Runtime, kind: Kind, id: &str, options: &Options) -> Result<String, String> {
    let answer = match kind {
        Kind::Exec => {
            let request = ExecRequest {
                container_id: id.to_string(),
                cmd: options.command.clone(),
                tty: options.tty,
                stdin: options.stdin,
                stdout: options.stdout,
                stderr: options.stderr,
            };
            runtime.exec(&request).await
        }
        Kind::Attach => {
            let request = AttachRequest {
                container_id: id.to_string(),
                stdin: options.stdin,
                tty: options.tty,
                stdout: options.stdout,
                stderr: options.stderr,
            };
            runtime.attach(&request).await
        }
    };
    answer.map_err(|e| e.to_string())
}

/// The runtime's id of the pod's container by its name: the newest run, running ones first
/// (a restarted container leaves exited runs behind).
async fn find_container(
    runtime: &dyn Runtime,
    namespace: &str,
    pod: &str,
    container: &str,
) -> Result<Option<String>, String> {
    let labels: HashMap<String, String> =
        [(POD_NAMESPACE_LABEL, namespace), (POD_NAME_LABEL, pod), (CONTAINER_NAME_LABEL, container)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let filter = ContainerFilter { label_selector: labels, ..Default::default() };
    let list = runtime.list_containers(Some(filter)).await.map_err(|e| e.to_string())?;
    Ok(list
        .iter()
        .max_by_key(|c| (c.state() == ContainerState::ContainerRunning, c.created_at))
        .map(|c| c.id.clone()))
}
