//! `POST pods/{name}/eviction`: a delete that honours PodDisruptionBudgets, as upstream's
//! EvictionREST (what `kubectl drain` uses). A budget that allows no disruption answers 429;
//! otherwise its `disruptionsAllowed` is spent (recorded in `status.disruptedPods`) and the
//! pod is deleted with the eviction's delete options.

use axum::{
    body::Bytes,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tug_api::{
    meta::meta_str,
    selector::LabelSelector,
    status::{ApiError, Cause, Reason},
};
use tug_store::StoreError;

use super::{Params, Target, delete, to_object, to_stored, write::decode_body};
use crate::{AppState, error::Error};

const PDB_PREFIX: &str = "/registry/policy/poddisruptionbudgets/";

pub fn is_eviction(target: &Target) -> bool {
    target.subresource.as_deref() == Some("eviction")
        && target.resource.kind == "Pod"
        && target.resource.group.is_empty()
}

pub async fn create(
    state: AppState,
    target: Target,
    params: Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let eviction = decode_body(&headers, &body)?;
    let name = target.name.clone().unwrap_or_default();
    if meta_str(&eviction, "name").is_some_and(|n| n != name) {
        return Err(ApiError::bad_request(format!(
            "name in URL does not match name in Eviction object: {name}"
        ))
        .into());
    }
    let (_, pod) = super::write::read_current(&state, &target).await?;
    let ns = target.namespace.clone().unwrap_or_default();
    let phase = pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or("");
    // Pods that are done, not yet running or already going need no budget.
    let exempt = matches!(phase, "Succeeded" | "Failed" | "Pending" | "")
        || pod.pointer("/metadata/deletionTimestamp").is_some();
    if !exempt {
        spend_budget(&state, &ns, &name, &pod).await?;
    }
    let mut one = target.clone();
    one.subresource = None;
    let options = eviction.get("deleteOptions").cloned().unwrap_or_else(|| json!({}));
    let body = Bytes::from(options.to_string());
    let mut delete_headers = HeaderMap::new();
    delete_headers.insert(header::CONTENT_TYPE, "application/json".parse().expect("a valid header value"));
    delete::delete(state, one, params, delete_headers, body).await?;
    let status =
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    Ok((StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], status.to_string())
        .into_response())
}

/// Checks the pod's budget and records the disruption, or refuses with upstream's 429.
async fn spend_budget(state: &AppState, ns: &str, pod_name: &str, pod: &Value) -> Result<(), Error> {
    let labels = pod.pointer("/metadata/labels").and_then(Value::as_object).cloned().unwrap_or_default();
    for _ in 0..super::write::MAX_RETRIES {
        let page = state.store.list(&format!("{PDB_PREFIX}{ns}/"), None, 0).await?;
        let mut matching = Vec::new();
        for kv in &page.kvs {
            let pdb = to_object(kv)?;
            let selector = pdb.pointer("/spec/selector").cloned().unwrap_or(Value::Null);
            let Ok(sel) = LabelSelector::from_label_selector_json(&selector) else { continue };
            if !sel.is_empty() && sel.matches(&labels) {
                matching.push((kv.clone(), pdb));
            }
        }
        let (kv, mut pdb) = match matching.len() {
            0 => return Ok(()),
            1 => matching.remove(0),
            _ => {
                return Err(ApiError::internal(
                    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
                )
                .into());
            }
        };
        let pdb_name = meta_str(&pdb, "name").unwrap_or_default().to_string();
        let generation = pdb.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
        let observed = pdb.pointer("/status/observedGeneration").and_then(Value::as_i64).unwrap_or(0);
        let allowed = pdb.pointer("/status/disruptionsAllowed").and_then(Value::as_i64).unwrap_or(0);
        if observed < generation {
            return Err(too_many(format!(
                "The disruption budget {pdb_name} is still being processed by the server."
            )));
        }
        if allowed <= 0 {
            let desired = pdb.pointer("/status/desiredHealthy").and_then(Value::as_i64).unwrap_or(0);
            let current = pdb.pointer("/status/currentHealthy").and_then(Value::as_i64).unwrap_or(0);
            return Err(too_many(format!(
                "The disruption budget {pdb_name} needs {desired} healthy pods and has {current} currently"
            )));
        }
        pdb["status"]["disruptionsAllowed"] = json!(allowed - 1);
        let stamp = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        if !pdb["status"]["disruptedPods"].is_object() {
            pdb["status"]["disruptedPods"] = json!({});
        }
        pdb["status"]["disruptedPods"][pod_name] = json!(stamp);
        match state.store.update(&kv.key, to_stored(&pdb)?, kv.mod_revision).await {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::new(Reason::Conflict, "the disruption budget kept changing; try again").into())
}

fn too_many(detail: String) -> Error {
    let mut err = ApiError::new(
        Reason::TooManyRequests,
        "Cannot evict pod as it would violate the pod's disruption budget.",
    );
    err.causes = vec![Cause { reason: "DisruptionBudget".into(), message: detail, field: String::new() }];
    err.into()
}
