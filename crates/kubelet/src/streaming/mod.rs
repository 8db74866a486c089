//! `kubectl exec` and `kubectl attach` on the agent: the kubelet's `/exec` and `/attach`
//! endpoints, which the API server's upgrade reaches (it only splices bytes; every protocol
//! lives here).

use std::sync::Arc;

use axum::{
    extract::{Path, RawQuery, Request},
    http::StatusCode,
    response::{IntoResponse, Response},
};

use crate::runtime::Runtime;

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

/// Serves one exec or attach request for `namespace/pod/container`.
pub async fn serve(
    streaming: Option<Arc<Streaming>>,
    kind: Kind,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    let Some(_streaming) = streaming else {
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "pod {namespace}/{pod} runs on a simulated node, which has no container {container} to {}",
                kind.as_str()
            ),
        )
            .into_response();
    };
    let _ = (query, request);
    (StatusCode::NOT_IMPLEMENTED, format!("{} is not served yet", kind.as_str())).into_response()
}
