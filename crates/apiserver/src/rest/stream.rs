//! Subresources a node agent serves: `log`, `exec`, `attach` and `portforward` of pods. Until
//! the agent serves them (the node agent issue), a pod no node runs has no log yet, and the
//! rest get a clear error instead of the pod itself.

use axum::{
    http::header,
    response::{IntoResponse, Response},
};
use serde_json::Value;
use tug_api::status::ApiError;

use super::{Params, Target, write::read_current};
use crate::{AppState, error::Error};

/// Whether `target` is one of the streaming subresources.
pub fn is_streaming(target: &Target) -> bool {
    !target.resource.custom
        && target.resource.plural == "pods"
        && matches!(target.subresource.as_deref(), Some("log" | "exec" | "attach" | "portforward"))
}

pub async fn serve(state: AppState, target: Target, params: Params) -> Result<Response, Error> {
    let (_, pod) = read_current(&state, &target).await?;
    let name = target.name.as_deref().unwrap_or_default();
    let containers: Vec<&str> = ["/spec/containers", "/spec/initContainers", "/spec/ephemeralContainers"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    if let Some(container) = params.get("container")
        && !containers.contains(&container.as_str())
    {
        return Err(
            ApiError::bad_request(format!("container {container} is not valid for pod {name}")).into()
        );
    }
    let node = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default();
    let sub = target.subresource.as_deref().unwrap_or_default();
    if node.is_empty() && sub == "log" {
        return Ok(([(header::CONTENT_TYPE, "text/plain")], "").into_response());
    }
    let message = if node.is_empty() {
        format!("pod {name} is not running on a node yet, so it has no {sub} to serve")
    } else {
        format!("the node agent of node {node} does not serve {sub} yet")
    };
    Err(ApiError::bad_request(message).into())
}
