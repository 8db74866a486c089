//! DELETE of one object and of a collection: preconditions, graceful deletion of pods,
//! finalizers and the garbage collector's propagation policies.
//!
//! An object is removed at once unless something must happen first: a pod on a node gets
//! `deletionTimestamp` and a grace period for its kubelet to stop it, and an object with
//! finalizers (including the garbage collector's `orphan` and `foregroundDeletion`) is marked
//! and stays until they are removed (see `write::commit`).

use axum::{body::Bytes, http::HeaderMap, response::Response};
use serde_json::{Value, json};
use tug_api::{
    meta::{meta_str, metadata_mut},
    status::ApiError,
};
use tug_store::StoreError;

use super::{
    Params, Target, allocate,
    read::Filter,
    to_object,
    write::{MAX_RETRIES, commit, conflict, decode_body, dry_run, is_service, read_current},
};
use crate::{AppState, discovery::json_response, error::Error};

pub const ORPHAN_FINALIZER: &str = "orphan";
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// The request's DeleteOptions.
#[derive(Debug, Default)]
pub struct Options {
    pub grace_period: Option<i64>,
    pub propagation: Option<Propagation>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    Orphan,
    Background,
    Foreground,
}

impl Options {
    /// From the body (a DeleteOptions) and the query, which upstream both accept.
    fn from_request(params: &Params, headers: &HeaderMap, body: &[u8]) -> Result<Options, Error> {
        let body = if body.is_empty() { json!({}) } else { decode_body(headers, body)? };
        let grace_period = match body.get("gracePeriodSeconds").and_then(Value::as_i64) {
            Some(g) => Some(g),
            None => match params.get("gracePeriodSeconds") {
                Some(g) => Some(
                    g.parse()
                        .map_err(|_| ApiError::bad_request(format!("invalid gracePeriodSeconds: {g}")))?,
                ),
                None => None,
            },
        };
        let policy = body
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| params.get("propagationPolicy").cloned());
        let orphan = body
            .get("orphanDependents")
            .and_then(Value::as_bool)
            .or_else(|| params.get("orphanDependents").map(|o| o == "true"));
        let propagation = match (policy.as_deref(), orphan) {
            (Some(policy), Some(_)) => {
                return Err(invalid_options(
                    "FieldValueInvalid",
                    format!(
                        "Invalid value: \"{policy}\": orphanDependents and deletionPropagation cannot be both set"
                    ),
                ));
            }
            (Some("Orphan"), None) => Some(Propagation::Orphan),
            (Some("Background"), None) => Some(Propagation::Background),
            (Some("Foreground"), None) => Some(Propagation::Foreground),
            (Some(other), None) => {
                return Err(invalid_options(
                    "FieldValueNotSupported",
                    format!(
                        "Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                    ),
                ));
            }
            (None, Some(true)) => Some(Propagation::Orphan),
            (None, Some(false)) => Some(Propagation::Background),
            (None, None) => None,
        };
        Ok(Options {
            grace_period,
            propagation,
            uid: body.pointer("/preconditions/uid").and_then(Value::as_str).map(str::to_string),
            resource_version: body
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string),
            dry_run: dry_run(params)
                || body.get("dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|v| v == "All")),
        })
    }
}

/// An invalid propagationPolicy: upstream reports it against the DeleteOptions.
fn invalid_options(reason: &str, message: String) -> Error {
    let cause = tug_api::status::Cause { reason: reason.into(), message, field: "propagationPolicy".into() };
    ApiError::invalid("meta.k8s.io", "DeleteOptions", "", vec![cause]).into()
}

/// What a delete does to the object as it is now.
#[derive(Debug, PartialEq)]
pub enum Plan {
    /// Remove it from the store.
    Remove,
    /// Store this instead (marked for deletion) and answer with it.
    Mark(Value),
    /// Already being deleted as asked: answer with it unchanged.
    Pending,
}

/// Decides a delete. `node_exists` says whether a pod's node is registered: a pod on no node
/// (or on a node that is gone) has nobody to stop it, so it goes at once, the end state
/// upstream's pod garbage collector reaches for such pods. `gc` says whether a garbage
/// collector runs to honour `orphan` and `foregroundDeletion`; without one upstream adds
/// neither.
pub fn plan(kind: &str, current: &Value, options: &Options, node_exists: bool, gc: bool, now: i64) -> Plan {
    let mut next = current.clone();
    let mut changed = false;
    let meta = current.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let deleting = meta.get("deletionTimestamp").is_some();

    if kind == "Pod" {
        let grace = pod_grace_period(current, options, node_exists);
        let existing = meta.get("deletionGracePeriodSeconds").and_then(Value::as_i64);
        match existing {
            // Already terminating with a grace period no longer than this one.
            Some(old) if old <= grace => {}
            Some(old) => {
                // A shorter grace period moves the deadline closer, measured from the first
                // request (its deadline minus its grace period).
                let first = meta
                    .get("deletionTimestamp")
                    .and_then(Value::as_str)
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .map_or(now, |t| t.as_second() - old);
                let m = metadata_mut(&mut next);
                m.insert("deletionTimestamp".into(), json!(timestamp(first + grace)));
                m.insert("deletionGracePeriodSeconds".into(), json!(grace));
                changed = true;
            }
            None if grace > 0 => {
                let m = metadata_mut(&mut next);
                m.insert("deletionTimestamp".into(), json!(timestamp(now + grace)));
                m.insert("deletionGracePeriodSeconds".into(), json!(grace));
                changed = true;
            }
            None => {}
        }
    }

    if gc {
        let finalizers = metadata_mut(&mut next)
            .entry("finalizers")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        let mut wanted = finalizers.clone();
        match options.propagation {
            Some(Propagation::Orphan) => {
                wanted.retain(|f| f != FOREGROUND_FINALIZER);
                add(&mut wanted, ORPHAN_FINALIZER);
            }
            Some(Propagation::Foreground) => {
                wanted.retain(|f| f != ORPHAN_FINALIZER);
                add(&mut wanted, FOREGROUND_FINALIZER);
            }
            Some(Propagation::Background) => {
                wanted.retain(|f| f != ORPHAN_FINALIZER && f != FOREGROUND_FINALIZER);
            }
            None => {}
        }
        changed |= wanted != finalizers;
        let m = metadata_mut(&mut next);
        if wanted.is_empty() {
            m.remove("finalizers");
        } else {
            m.insert("finalizers".into(), Value::Array(wanted));
        }
    }

    let has_finalizers =
        next.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
    let graceful =
        next.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0) > 0;
    if !has_finalizers && !graceful {
        return Plan::Remove;
    }
    if !deleting || next.pointer("/metadata/deletionTimestamp").is_none() {
        let m = metadata_mut(&mut next);
        if !m.contains_key("deletionTimestamp") {
            m.insert("deletionTimestamp".into(), json!(timestamp(now)));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
        }
        changed = true;
    }
    if changed { Plan::Mark(next) } else { Plan::Pending }
}

/// Decides a Namespace delete, as upstream's namespace storage: the first delete marks it
/// (deletionTimestamp, `status.phase: Terminating`) and the namespace controller empties it and
/// removes `kubernetes` from `spec.finalizers` through `finalize`; the namespace goes once both
/// finalizer lists are empty (see `write::commit`). A namespace with neither goes at once.
pub fn plan_namespace(current: &Value, options: &Options, gc: bool, now: i64) -> Plan {
    let spec_finalized =
        current.pointer("/spec/finalizers").and_then(Value::as_array).is_none_or(Vec::is_empty);
    let terminating = |mut ns: Value| {
        let m = metadata_mut(&mut ns);
        if !m.contains_key("deletionTimestamp") {
            m.insert("deletionTimestamp".into(), json!(timestamp(now)));
        }
        match ns.get_mut("status").and_then(Value::as_object_mut) {
            Some(status) => {
                status.insert("phase".into(), json!("Terminating"));
            }
            None => ns["status"] = json!({"phase": "Terminating"}),
        }
        ns
    };
    let next = match plan("Namespace", current, options, false, gc, now) {
        Plan::Remove if spec_finalized => return Plan::Remove,
        Plan::Remove | Plan::Pending => terminating(current.clone()),
        Plan::Mark(next) => terminating(next),
    };
    if next == *current { Plan::Pending } else { Plan::Mark(next) }
}

fn add(finalizers: &mut Vec<Value>, name: &str) {
    if !finalizers.iter().any(|f| f == name) {
        finalizers.push(json!(name));
    }
}

/// Upstream's pod grace period: the request's, else the pod's
/// `terminationGracePeriodSeconds`; none for a pod no kubelet runs or one that has finished.
fn pod_grace_period(pod: &Value, options: &Options, node_exists: bool) -> i64 {
    let node = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
    let finished =
        matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Failed" | "Succeeded"));
    if node.is_empty() || !node_exists || finished {
        return 0;
    }
    options
        .grace_period
        .or_else(|| pod.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64))
        .unwrap_or(30)
        .max(0)
}

fn timestamp(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub async fn delete(
    state: AppState,
    target: Target,
    params: Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let options = Options::from_request(&params, &headers, &body)?;
    delete_one(&state, &target, &options).await.map(json_response)
}

/// DELETE of a collection: every object the selectors match, each as a single delete.
pub async fn delete_collection(
    state: AppState,
    target: Target,
    params: Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let options = Options::from_request(&params, &headers, &body)?;
    let filter = Filter::from_params(&target.resource, &params)?;
    let page = state.store.list(&target.collection_prefix(), None, 0).await?;
    let mut deleted = Vec::new();
    for kv in &page.kvs {
        let obj = to_object(kv)?;
        if !filter.matches(&obj) {
            continue;
        }
        let mut one = target.clone();
        one.namespace = meta_str(&obj, "namespace").map(str::to_string).or(one.namespace);
        one.name = meta_str(&obj, "name").map(str::to_string);
        match delete_one(&state, &one, &options).await {
            Ok(obj) => deleted.push(obj),
            Err(Error::Api(e)) if e.code() == 404 => {}
            Err(other) => return Err(other),
        }
    }
    Ok(json_response(json!({
        "kind": format!("{}List", target.resource.kind),
        "apiVersion": target.resource.api_version(),
        "metadata": {"resourceVersion": page.revision.to_string()},
        "items": deleted,
    })))
}

async fn delete_one(state: &AppState, target: &Target, options: &Options) -> Result<Value, Error> {
    let kind = if target.resource.custom { "" } else { target.resource.kind.as_str() };
    for _ in 0..MAX_RETRIES {
        let (kv, current) = read_current(state, target).await?;
        if let Some(uid) = &options.uid
            && Some(uid.as_str()) != meta_str(&current, "uid")
        {
            return Err(ApiError::conflict(
                &target.resource.group,
                &target.resource.plural,
                target.name.as_deref().unwrap_or_default(),
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta_str(&current, "uid").unwrap_or_default()
                ),
            )
            .into());
        }
        if let Some(rv) = &options.resource_version
            && *rv != kv.mod_revision.to_string()
        {
            return Err(conflict(target));
        }
        let node_exists = match current.pointer("/spec/nodeName").and_then(Value::as_str) {
            Some(node) if kind == "Pod" && !node.is_empty() => {
                state.store.get(&format!("/registry/core/nodes/{node}")).await?.0.is_some()
            }
            _ => false,
        };
        let now = jiff::Timestamp::now().as_second();
        let planned = if kind == "Namespace" {
            plan_namespace(&current, options, state.gc_enabled, now)
        } else {
            plan(kind, &current, options, node_exists, state.gc_enabled, now)
        };
        match planned {
            Plan::Pending => return Ok(current),
            Plan::Mark(mut marked) => {
                metadata_mut(&mut marked).remove("resourceVersion");
                if let Some(stored) = commit(state, target, &kv, marked, options.dry_run).await? {
                    return Ok(stored);
                }
                continue;
            }
            Plan::Remove => {}
        }
        if options.dry_run {
            return Ok(current);
        }
        if kind == "CustomResourceDefinition" {
            // Upstream's customresourcecleanup finalizer: the definition takes its objects along.
            if let Ok(resources) = tug_api::resources::from_crd(&current)
                && let Some(first) = resources.first()
            {
                super::write::delete_prefix(state, &first.key_prefix()).await?;
            }
        }
        match state.store.delete(&kv.key, Some(kv.mod_revision)).await {
            Ok(_) => {
                if is_service(&target.resource) {
                    allocate::release(state, &current, None).await;
                }
                return Ok(current);
            }
            Err(StoreError::Conflict { .. }) | Err(StoreError::NotFound { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(conflict(target))
}

#[cfg(test)]
mod tests;
