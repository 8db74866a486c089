//! `POST pods/{name}/binding`: the scheduler's way to assign a pod to a node. Sets
//! `spec.nodeName` and the `PodScheduled=True` condition in one write, refusing pods already
//! assigned or being deleted, as upstream's BindingREST.

use axum::{
    body::Bytes,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tug_api::{
    meta::{meta_str, metadata_mut},
    status::ApiError,
};

use super::{
    Params, Target,
    guaranteed::{guaranteed_update, read_current_from},
    write::{commit, conflict, decode_body, dry_run},
};
use crate::{AppState, error::Error};

pub async fn create(
    state: AppState,
    target: Target,
    params: Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let binding = decode_body(&headers, &body)?;
    let name = target.name.clone().unwrap_or_default();
    if meta_str(&binding, "name").is_some_and(|n| n != name) {
        return Err(ApiError::bad_request("name in URL does not match name in Binding object").into());
    }
    let node = binding.pointer("/target/name").and_then(Value::as_str).unwrap_or_default();
    let kind = binding.pointer("/target/kind").and_then(Value::as_str).unwrap_or_default();
    if node.is_empty() || !(kind.is_empty() || kind == "Node") {
        return Err(ApiError::bad_request(format!(
            "Binding \"{name}\" is invalid: target: must name a Node, got kind {kind:?} name {node:?}"
        ))
        .into());
    }
    let want_uid = meta_str(&binding, "uid").filter(|u| !u.is_empty()).map(str::to_string);
    let annotations = binding.pointer("/metadata/annotations").and_then(Value::as_object).cloned();
    let refuse = |why: String| -> Error { ApiError::conflict("", "pods", &name, &why).into() };
    let dry = dry_run(&params);
    let (state, target, name, node, want_uid, annotations) =
        (&state, &target, &name, node, &want_uid, &annotations);
    guaranteed_update(
        dry,
        |source| async move {
            let (kv, mut pod) = read_current_from(state, target, source).await?;
            if let Some(uid) = &want_uid
                && meta_str(&pod, "uid") != Some(uid.as_str())
            {
                let have = meta_str(&pod, "uid").unwrap_or_default();
                return Err(refuse(format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"
                )));
            }
            if pod.pointer("/metadata/deletionTimestamp").is_some() {
                return Err(refuse(format!("pod {name} is being deleted, cannot be assigned to a host")));
            }
            if let Some(assigned) =
                pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty())
            {
                return Err(refuse(format!("pod {name} is already assigned to node \"{assigned}\"")));
            }
            pod["spec"]["nodeName"] = json!(node);
            if let Some(extra) = &annotations {
                let meta = metadata_mut(&mut pod);
                let into = meta.entry("annotations").or_insert_with(|| json!({}));
                if let Some(into) = into.as_object_mut() {
                    into.extend(extra.clone());
                }
            }
            set_scheduled_condition(&mut pod);
            Ok(commit(state, target, &kv, pod, dry).await?.map(|_| ()))
        },
        || conflict(target),
    )
    .await?;
    let status =
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    Ok((StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], status.to_string())
        .into_response())
}

/// `PodScheduled=True`, replacing a `False` left by failed attempts (upstream's
/// `UpdatePodCondition`: the transition time changes only with the status).
fn set_scheduled_condition(pod: &mut Value) {
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let status = pod.as_object_mut().map(|o| o.entry("status").or_insert_with(|| json!({})));
    let Some(status) = status.and_then(Value::as_object_mut) else { return };
    let conditions = status.entry("conditions").or_insert_with(|| json!([]));
    let Some(conditions) = conditions.as_array_mut() else { return };
    let new =
        json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
    match conditions.iter_mut().find(|c| c.get("type").and_then(Value::as_str) == Some("PodScheduled")) {
        Some(c) if c.get("status").and_then(Value::as_str) == Some("True") => {}
        Some(c) => *c = new,
        None => conditions.push(new),
    }
}
