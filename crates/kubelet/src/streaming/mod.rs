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

#[cfg(test)]
mod tests {
    use axum::{Router, routing::any};

    use super::*;
    use crate::runtime::{
        FakeRuntime,
        proto::{ContainerConfig, ContainerMetadata, ImageSpec, PodSandboxConfig, PodSandboxMetadata},
    };

    /// A fake runtime with `ns/p`'s container `web` running.
    async fn runtime() -> Arc<FakeRuntime> {
        let runtime = Arc::new(FakeRuntime::new());
        let metadata = PodSandboxMetadata { name: "p".into(), namespace: "ns".into(), ..Default::default() };
        let sandbox_config = PodSandboxConfig { metadata: Some(metadata), ..Default::default() };
        let sandbox = runtime.run_pod_sandbox(&sandbox_config, "").await.unwrap();
        runtime.pull_image("busybox", None, None).await.unwrap();
        let labels = [(POD_NAMESPACE_LABEL, "ns"), (POD_NAME_LABEL, "p"), (CONTAINER_NAME_LABEL, "web")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config = ContainerConfig {
            metadata: Some(ContainerMetadata { name: "web".into(), attempt: 0 }),
            image: Some(ImageSpec { image: "busybox".into(), ..Default::default() }),
            labels,
            ..Default::default()
        };
        let id = runtime.create_container(&sandbox, &config, &sandbox_config).await.unwrap();
        runtime.start_container(&id).await.unwrap();
        runtime
    }

    async fn ask(app: &Router, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
        let mut request = axum::http::Request::get(uri);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response =
            tower::ServiceExt::oneshot(app.clone(), request.body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn refusals_are_plain_answers_before_any_upgrade() {
        let fake = runtime().await;
        let streaming = Arc::new(Streaming { runtime: fake.clone() });
        let app = Router::new().route(
            "/exec/{namespace}/{pod}/{container}",
            any(move |path, query, request| serve(Some(streaming.clone()), Kind::Exec, path, query, request)),
        );
        let ws = [
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-protocol", "v5.channel.k8s.io"),
        ];
        let (status, body) = ask(&app, "/exec/ns/p/db?command=ls&stdout=true", &ws).await;
        assert_eq!((status, body.as_str()), (StatusCode::NOT_FOUND, r#"container not found ("db")"#));
        let (status, body) = ask(&app, "/exec/ns/p/web?command=ls", &ws).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::BAD_REQUEST, "you must specify at least 1 of stdin, stdout, stderr")
        );
        let (status, body) = ask(&app, "/exec/ns/p/web?stdout=1", &ws).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::BAD_REQUEST, "you must specify at least one command for the container")
        );
        let (status, body) = ask(&app, "/exec/ns/p/web?command=ls&stdout=1", &[]).await;
        assert_eq!((status, body.as_str()), (StatusCode::BAD_REQUEST, "missing upgrade headers in request"));
        let old = [
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-protocol", "channel.k8s.io"),
        ];
        let (status, body) = ask(&app, "/exec/ns/p/web?command=ls&stdout=1", &old).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("none of the requested subprotocols is supported"), "{body}");
        // A request that would upgrade but arrives without a connection to take over.
        let (status, _) = ask(&app, "/exec/ns/p/web?command=ls&stdout=1", &ws).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(!fake.calls().contains(&"Exec"), "no session is prepared for a refused request");

        let (status, body) = ask(
            &Router::new().route(
                "/exec/{namespace}/{pod}/{container}",
                any(|path, query, request| serve(None, Kind::Exec, path, query, request)),
            ),
            "/exec/ns/p/web?command=ls&stdout=1",
            &ws,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("simulated node"), "{body}");
    }
}
