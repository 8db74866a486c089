//! `GET /api/v1/nodes/{name}/proxy/{path}`: upstream's node proxy, which reaches the node's
//! kubelet endpoint (`kubectl get --raw /api/v1/nodes/N/proxy/metrics/resource`). Only GET,
//! and only to the kubelet's own port; upstream's `name:port` form is refused.

use axum::{
    body::Body,
    http::header,
    response::{IntoResponse, Response},
};
use tug_api::status::ApiError;

use super::{kubelet, stream::read_node};
use crate::{AppState, error::Error};

/// `nodes/<name>/proxy[/<path>]` split into the node and the path on its kubelet.
pub fn parse(rest: &str) -> Option<(&str, String)> {
    let rest = rest.strip_prefix("nodes/")?;
    let (name, after) = rest.split_once('/')?;
    let path = after.strip_prefix("proxy")?;
    if !(path.is_empty() || path.starts_with('/')) || name.is_empty() {
        return None;
    }
    Some((name, if path.is_empty() { "/".to_string() } else { path.to_string() }))
}

pub async fn get(state: &AppState, node: &str, path: &str, query: Option<&str>) -> Result<Response, Error> {
    if node.contains(':') {
        return Err(ApiError::bad_request(format!(
            "proxying to a port other than the kubelet's is not supported (node {node:?})"
        ))
        .into());
    }
    let object = read_node(state, node).await?;
    let endpoint = kubelet::endpoint(&object)
        .ok_or_else(|| ApiError::internal(format!("node {node} reports no address for its kubelet")))?;
    let path = match query.filter(|q| !q.is_empty()) {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    };
    let response = kubelet::get(&endpoint, &path, &state.kubelet_token).await?;
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| header::HeaderValue::from_static("text/plain"));
    Ok(([(header::CONTENT_TYPE, content_type)], Body::new(response.into_body())).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_proxy_paths_name_the_node_and_the_kubelet_path() {
        assert_eq!(parse("nodes/n1/proxy/metrics/resource"), Some(("n1", "/metrics/resource".into())));
        assert_eq!(parse("nodes/n1/proxy"), Some(("n1", "/".into())));
        assert_eq!(parse("nodes/n1/proxyx"), None);
        assert_eq!(parse("nodes/n1"), None);
        assert_eq!(parse("pods/p/proxy/x"), None);
    }
}
