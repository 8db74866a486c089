//! Subresources a node agent serves: `log`, `exec`, `attach` and `portforward` of pods.
//! `log` is checked here as upstream's API server and kubelet check it, then proxied to the
//! pod's node agent ([`super::kubelet`]) with its body streamed back. `exec`, `attach` and
//! `portforward` are checked as upstream's `*Location` functions check them, then their
//! upgrade goes on to the agent, which speaks the streaming protocols; this side only splices.

use axum::{
    body::Body,
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use hyper::{body::Incoming, upgrade::OnUpgrade};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tug_api::status::ApiError;

use super::{Params, Target, kubelet, object_key, write::read_current};
use crate::{AppState, error::Error};

/// The `PodLogOptions` the agent understands, passed on as they came.
const LOG_OPTIONS: [&str; 7] =
    ["follow", "previous", "timestamps", "tailLines", "sinceSeconds", "sinceTime", "limitBytes"];
/// The annotation naming the container kubectl defaults to.
const DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";

/// Whether `target` is one of the streaming subresources.
pub fn is_streaming(target: &Target) -> bool {
    !target.resource.custom
        && target.resource.plural == "pods"
        && matches!(target.subresource.as_deref(), Some("log" | "exec" | "attach" | "portforward"))
}

/// What the client's connection brings besides the pod's name: the raw query (`command`
/// repeats), its headers and, on HTTP/1.1, the connection an upgrade takes over.
pub struct Connect {
    pub method: Method,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub upgrade: Option<OnUpgrade>,
}

pub async fn serve(
    state: AppState,
    target: Target,
    params: Params,
    connect: Connect,
) -> Result<Response, Error> {
    let (_, pod) = read_current(&state, &target).await?;
    let name = target.name.as_deref().unwrap_or_default();
    let sub = target.subresource.as_deref().unwrap_or_default();
    if sub == "log" {
        return logs(&state, &pod, name, &params).await;
    }
    if connect.method != Method::GET && connect.method != Method::POST {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource: {}",
            connect.method
        ))
        .into());
    }
    let namespace = pod.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
    // Upstream's ExecLocation, AttachLocation and PortForwardLocation: the container is checked
    // (exec and attach) before the node.
    let path = if sub == "portforward" {
        format!("/portForward/{namespace}/{name}")
    } else {
        let container = stream_container(&pod, name, params.get("container").map(String::as_str))?;
        format!("/{sub}/{namespace}/{name}/{container}")
    };
    let node = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default();
    if node.is_empty() {
        return Err(ApiError::bad_request(format!("pod {name} does not have a host assigned")).into());
    }
    let node_object = read_node(&state, node).await?;
    let endpoint = kubelet::endpoint(&node_object)
        .ok_or_else(|| ApiError::internal(format!("node {node} reports no address for its kubelet")))?;
    let path = match connect.query.as_deref().filter(|q| !q.is_empty()) {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let answer =
        kubelet::upgrade(&endpoint, &connect.method, &path, &connect.headers, &state.kubelet_token).await?;
    splice(answer, connect.upgrade)
}

/// The agent's answer as the client's: a 101 whose two upgraded connections are then copied
/// into each other until either side closes (upstream's UpgradeAwareHandler), or any other
/// answer as it came (the agent's refusal says why).
fn splice(mut answer: hyper::Response<Incoming>, client: Option<OnUpgrade>) -> Result<Response, Error> {
    if answer.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (parts, body) = answer.into_parts();
        return Ok(Response::from_parts(parts, Body::new(body)));
    }
    let Some(client) = client else {
        return Err(ApiError::bad_request("the connection cannot be upgraded: use HTTP/1.1").into());
    };
    let agent = hyper::upgrade::on(&mut answer);
    tokio::spawn(async move {
        let (client, agent) = match tokio::try_join!(client, agent) {
            Ok(both) => both,
            Err(e) => {
                tracing::debug!(error = %e, "a streaming upgrade did not complete");
                return;
            }
        };
        let (mut client, mut agent) = (TokioIo::new(client), TokioIo::new(agent));
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut agent).await {
            tracing::debug!(error = %e, "a streaming connection ended with an error");
        }
    });
    let (parts, _) = answer.into_parts();
    Ok(Response::from_parts(parts, Body::empty()))
}

/// The container of an exec or attach: the one asked for, else the one the
/// `kubectl.kubernetes.io/default-container` annotation names, else upstream's defaulting.
fn stream_container(pod: &Value, name: &str, container: Option<&str>) -> Result<String, Error> {
    if container.is_none_or(str::is_empty)
        && let Some(default) = pod
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(DEFAULT_CONTAINER))
            .and_then(Value::as_str)
        && names(pod, &["/spec/containers"]).contains(&default)
    {
        return Ok(default.to_string());
    }
    log_container(pod, name, container)
}

async fn logs(state: &AppState, pod: &Value, name: &str, params: &Params) -> Result<Response, Error> {
    let container = log_container(pod, name, params.get("container").map(String::as_str))?;
    let node = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default();
    if node.is_empty() {
        // Upstream has no location for an unscheduled pod's logs and answers with nothing.
        return Ok(([(header::CONTENT_TYPE, "text/plain")], "").into_response());
    }
    let previous = params.get("previous").is_some_and(|v| v == "true" || v == "1");
    check_status(pod, name, &container, previous)?;
    let node_object = read_node(state, node).await?;
    let endpoint = kubelet::endpoint(&node_object)
        .ok_or_else(|| ApiError::internal(format!("node {node} reports no address for its kubelet")))?;
    let namespace = pod.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
    let query = {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for key in LOG_OPTIONS {
            if let Some(value) = params.get(key) {
                query.append_pair(key, value);
            }
        }
        query.finish()
    };
    let path = format!("/containerLogs/{namespace}/{name}/{container}?{query}");
    let response = kubelet::get(&endpoint, &path, &state.kubelet_token).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain")], Body::new(response.into_body())).into_response())
}

fn names<'a>(pod: &'a Value, lists: &[&str]) -> Vec<&'a str> {
    lists
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect()
}

/// The container whose log is asked for, defaulted and checked as upstream's `LogLocation`.
fn log_container(pod: &Value, name: &str, container: Option<&str>) -> Result<String, Error> {
    let all = names(pod, &["/spec/containers", "/spec/initContainers", "/spec/ephemeralContainers"]);
    if let Some(container) = container.filter(|c| !c.is_empty()) {
        if !all.contains(&container) {
            return Err(
                ApiError::bad_request(format!("container {container} is not valid for pod {name}")).into()
            );
        }
        return Ok(container.to_string());
    }
    let containers = names(pod, &["/spec/containers"]);
    match containers.as_slice() {
        [only] => Ok((*only).to_string()),
        [] => Err(ApiError::bad_request(format!("a container name must be specified for pod {name}")).into()),
        _ => {
            let mut message = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            let init = names(pod, &["/spec/initContainers"]);
            if !init.is_empty() {
                message.push_str(&format!(" or one of the init containers: [{}]", init.join(" ")));
            }
            Err(ApiError::bad_request(message).into())
        }
    }
}

/// The kubelet's check of the container's status before it reads a log.
fn check_status(pod: &Value, name: &str, container: &str, previous: bool) -> Result<(), Error> {
    let status =
        ["/status/containerStatuses", "/status/initContainerStatuses", "/status/ephemeralContainerStatuses"]
            .iter()
            .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
            .flatten()
            .find(|c| c.get("name").and_then(Value::as_str) == Some(container));
    let Some(status) = status else {
        return Err(ApiError::bad_request(format!(
            "container {container:?} in pod {name:?} is waiting to start: ContainerCreating"
        ))
        .into());
    };
    let last_terminated = status.pointer("/lastState/terminated").is_some();
    if previous {
        if !last_terminated {
            return Err(ApiError::bad_request(format!(
                "previous terminated container {container:?} in pod {name:?} not found"
            ))
            .into());
        }
        return Ok(());
    }
    if status.pointer("/state/running").is_some()
        || status.pointer("/state/terminated").is_some()
        || last_terminated
    {
        return Ok(());
    }
    let message = match status.pointer("/state/waiting/reason").and_then(Value::as_str) {
        Some("ErrImagePull") => "is waiting to start: image can't be pulled".to_string(),
        Some("ImagePullBackOff") => "is waiting to start: trying and failing to pull image".to_string(),
        Some(reason) => format!("is waiting to start: {reason}"),
        None => "is waiting to start - no logs yet".to_string(),
    };
    Err(ApiError::bad_request(format!("container {container:?} in pod {name:?} {message}")).into())
}

pub(super) async fn read_node(state: &AppState, node: &str) -> Result<Value, Error> {
    let nodes = state
        .registry
        .find("", "v1", "nodes")
        .ok_or_else(|| ApiError::internal("the nodes resource is not registered"))?;
    let (kv, _) = state.store.get(&object_key(&nodes, None, node)).await?;
    let kv = kv.ok_or_else(|| ApiError::not_found("", "nodes", node))?;
    serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("decoding node {node}: {e}")).into())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(containers: &[&str], init: &[&str], statuses: Value) -> Value {
        let list = |names: &[&str]| names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>();
        json!({"spec": {"containers": list(containers), "initContainers": list(init)},
               "status": {"containerStatuses": statuses}})
    }

    fn message(e: Error) -> String {
        match e {
            Error::Api(e) => e.to_status()["message"].as_str().unwrap_or_default().to_string(),
            Error::PageNotFound => String::new(),
        }
    }

    #[test]
    fn containers_default_and_are_checked_as_upstream() {
        let one = pod(&["web"], &[], json!([]));
        assert_eq!(log_container(&one, "p", None).unwrap(), "web");
        let two = pod(&["a", "b"], &[], json!([]));
        assert_eq!(
            message(log_container(&two, "p", None).unwrap_err()),
            "a container name must be specified for pod p, choose one of: [a b]"
        );
        let with_init = pod(&["a", "b"], &["i"], json!([]));
        assert_eq!(
            message(log_container(&with_init, "p", Some("")).unwrap_err()),
            "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]"
        );
        assert_eq!(log_container(&with_init, "p", Some("i")).unwrap(), "i");
        assert_eq!(
            message(log_container(&two, "p", Some("x")).unwrap_err()),
            "container x is not valid for pod p"
        );
    }

    #[test]
    fn exec_defaults_to_the_annotated_container() {
        let mut two = pod(&["a", "b"], &[], json!([]));
        assert!(stream_container(&two, "p", None).is_err());
        two["metadata"] = json!({"annotations": {DEFAULT_CONTAINER: "b"}});
        assert_eq!(stream_container(&two, "p", None).unwrap(), "b");
        assert_eq!(stream_container(&two, "p", Some("a")).unwrap(), "a");
        two["metadata"] = json!({"annotations": {DEFAULT_CONTAINER: "gone"}});
        assert!(stream_container(&two, "p", Some("")).is_err(), "a stale annotation is not a container");
    }

    #[test]
    fn statuses_are_checked_as_the_kubelet_does() {
        let waiting =
            pod(&["x"], &[], json!([{"name": "x", "state": {"waiting": {"reason": "ContainerCreating"}}}]));
        assert_eq!(
            message(check_status(&waiting, "y", "x", false).unwrap_err()),
            "container \"x\" in pod \"y\" is waiting to start: ContainerCreating"
        );
        let running = pod(&["x"], &[], json!([{"name": "x", "state": {"running": {}}}]));
        assert!(check_status(&running, "y", "x", false).is_ok());
        assert_eq!(
            message(check_status(&running, "y", "x", true).unwrap_err()),
            "previous terminated container \"x\" in pod \"y\" not found"
        );
        let restarted = pod(
            &["x"],
            &[],
            json!([{"name": "x", "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 1}}}]),
        );
        assert!(check_status(&restarted, "y", "x", false).is_ok());
        assert!(check_status(&restarted, "y", "x", true).is_ok());
        let unknown = pod(&["x"], &[], json!([]));
        assert!(check_status(&unknown, "y", "x", false).is_err());
    }
}
