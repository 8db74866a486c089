//! The REST API of every resource: path resolution and the shared object plumbing; reads,
//! writes and watches live in their own modules.

mod allocate;
mod binding;
mod delete;
mod eviction;
mod guaranteed;
mod kubelet;
mod node_proxy;
mod priority;
pub(crate) mod raw;
mod read;
mod scale;
mod stream;
mod token;
mod watch;
mod write;

pub(crate) use read::selectable_fields;

use std::{collections::HashMap, sync::Arc};

use axum::{
    Extension, Router,
    body::{Body, Bytes},
    extract::{Path, Query, RawQuery, State},
    http::{HeaderMap, Method},
    response::Response,
    routing::any,
};
use hyper::upgrade::OnUpgrade;
use serde_json::Value;
use tug_api::{convert, resources::Resource, status::ApiError};
use tug_store::KeyValue;

use crate::{AppState, auth::Identity, error::Error};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/{*rest}", any(core_handler))
        .route("/apis/{group}/{version}/{*rest}", any(group_handler))
}

/// What a request path names.
#[derive(Clone, Debug)]
pub struct Target {
    pub resource: Arc<Resource>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// Legacy `/watch/` path prefix.
    pub watch_path: bool,
}

impl Target {
    /// Storage key of the named object.
    pub fn key(&self, name: &str) -> String {
        object_key(&self.resource, self.namespace.as_deref(), name)
    }

    /// A stored object as this version of its resource presents it. Custom resources convert
    /// between versions by apiVersion alone (the `None` conversion strategy); built-ins that
    /// share a stored collection (HorizontalPodAutoscaler v1 and v2, core and events.k8s.io
    /// Events) convert from their storage version; the rest are stored as served.
    pub fn present_version(&self, mut obj: Value) -> Value {
        let res = &self.resource;
        if res.custom {
            obj["apiVersion"] = Value::String(res.api_version());
            return obj;
        }
        match self.storage_version() {
            Some(_) => match convert::convert(obj.clone(), &res.group, &res.version) {
                Ok(converted) => converted,
                Err(err) => {
                    tracing::warn!(error = %err, resource = %res.plural, "stored object does not convert");
                    obj
                }
            },
            None => obj,
        }
    }

    /// The storage (group, version) when it differs from the served one.
    fn storage_version(&self) -> Option<(&'static str, &'static str)> {
        let res = &self.resource;
        convert::shared_storage(&res.group, &res.plural).filter(|(g, v)| *g != res.group || *v != res.version)
    }

    /// Whether stored objects need a rewrite before they are served (the stored bytes cannot
    /// go out as they are).
    pub fn converts(&self) -> bool {
        self.resource.custom || self.storage_version().is_some()
    }

    /// An object in the served version as it is stored: converted to the storage version and
    /// defaulted there, as upstream's registry does.
    pub fn storage_form(&self, obj: Value) -> Result<Value, Error> {
        let Some((group, version)) = self.storage_version() else { return Ok(obj) };
        let mut stored = convert::convert(obj, group, version)?;
        tug_api::defaults::apply_defaults(group, version, &self.resource.kind, &mut stored);
        Ok(stored)
    }

    /// The bytes stored for `obj`, an object in the request's version.
    pub fn stored_bytes(&self, obj: &Value) -> Result<bytes::Bytes, Error> {
        match self.storage_version() {
            None => to_stored(obj),
            Some(_) => to_stored(&self.storage_form(obj.clone())?),
        }
    }

    /// Storage prefix of the collection (one namespace, or all of them).
    pub fn collection_prefix(&self) -> String {
        match &self.namespace {
            Some(ns) if self.resource.namespaced => format!("{}{ns}/", self.resource.key_prefix()),
            _ => self.resource.key_prefix(),
        }
    }
}

/// Whether the Accept header's first choice is `as=PartialObjectMetadata[List];g=meta.k8s.io`:
/// the caller wants objects' metadata only (kube-rs' `*_metadata` calls, client-go's metadata
/// client).
pub fn wants_partial_metadata(headers: &HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next()
        .is_some_and(|first| {
            let params: Vec<&str> = first.split(';').map(str::trim).collect();
            (params.contains(&"as=PartialObjectMetadata") || params.contains(&"as=PartialObjectMetadataList"))
                && params.contains(&"g=meta.k8s.io")
        })
}

/// An object as a `meta.k8s.io/v1` PartialObjectMetadata: its metadata alone.
pub fn partial_metadata(obj: &Value) -> Value {
    serde_json::json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| serde_json::json!({})),
    })
}

pub fn object_key(resource: &Resource, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if resource.namespaced => format!("{}{ns}/{name}", resource.key_prefix()),
        _ => format!("{}{name}", resource.key_prefix()),
    }
}

pub type Params = HashMap<String, String>;

/// The authenticated caller (see `auth::require_identity`).
type Caller = Option<Extension<Identity>>;

// An axum handler takes one argument per extractor.
#[allow(clippy::too_many_arguments)]
async fn core_handler(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    method: Method,
    Query(params): Query<Params>,
    RawQuery(query): RawQuery,
    caller: Caller,
    upgrade: Option<Extension<OnUpgrade>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    if method == Method::GET
        && let Some((node, path)) = node_proxy::parse(&rest)
    {
        return node_proxy::get(&state, node, &path, query.as_deref()).await;
    }
    let target = resolve(&state, "", "v1", &rest)?;
    if stream::is_streaming(&target) {
        let connect = stream::Connect { method, query, headers, upgrade: upgrade.map(|u| u.0) };
        return stream::serve(state, target, params, connect).await;
    }
    let body = read_body(body).await?;
    dispatch(state, target, method, params, caller.map(|c| c.0), headers, body).await
}

async fn group_handler(
    State(state): State<AppState>,
    Path((group, version, rest)): Path<(String, String, String)>,
    method: Method,
    Query(params): Query<Params>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    let target = resolve(&state, &group, &version, &rest)?;
    let body = read_body(body).await?;
    dispatch(state, target, method, params, caller.map(|c| c.0), headers, body).await
}

/// Largest request body, upstream's limit (3 MiB).
const MAX_BODY: usize = 3 * 1024 * 1024;

/// The whole request body, refused with upstream's 413 `Status` past [`MAX_BODY`].
async fn read_body(body: Body) -> Result<Bytes, Error> {
    use http_body_util::BodyExt;
    match http_body_util::Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(ApiError::new(
            tug_api::status::Reason::RequestEntityTooLarge,
            format!("Request entity too large: limit is {MAX_BODY}"),
        )
        .into()),
        Err(err) => Err(ApiError::bad_request(format!("reading the request body: {err}")).into()),
    }
}

fn resolve(state: &AppState, group: &str, version: &str, rest: &str) -> Result<Target, Error> {
    let mut segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let watch_path = segments.first() == Some(&"watch");
    if watch_path {
        segments.remove(0);
    }
    let not_found = || Error::PageNotFound;
    let find = |plural: &str| state.registry.find(group, version, plural).ok_or_else(not_found);
    let (resource, namespace, name, subresource) = match segments.as_slice() {
        [plural] => (find(plural)?, None, None, None),
        ["namespaces", ns, sub] if is_namespace_subresource(state, group, sub) => {
            (find("namespaces")?, None, Some(*ns), Some(*sub))
        }
        ["namespaces", ns, plural] => (find(plural)?, Some(*ns), None, None),
        ["namespaces", ns, plural, name] => (find(plural)?, Some(*ns), Some(*name), None),
        ["namespaces", ns, plural, name, sub] => (find(plural)?, Some(*ns), Some(*name), Some(*sub)),
        [plural, name] => (find(plural)?, None, Some(*name), None),
        [plural, name, sub] => (find(plural)?, None, Some(*name), Some(*sub)),
        _ => return Err(not_found()),
    };
    if namespace.is_some() && !resource.namespaced {
        return Err(not_found());
    }
    if let Some(sub) = subresource
        && resource.subresource(sub).is_none()
    {
        return Err(not_found());
    }
    Ok(Target {
        resource,
        namespace: namespace.map(str::to_string),
        name: name.map(str::to_string),
        subresource: subresource.map(str::to_string),
        watch_path,
    })
}

fn is_namespace_subresource(state: &AppState, group: &str, sub: &str) -> bool {
    group.is_empty()
        && state.registry.find("", "v1", "namespaces").is_some_and(|ns| ns.subresource(sub).is_some())
}

async fn dispatch(
    state: AppState,
    target: Target,
    method: Method,
    params: Params,
    caller: Option<Identity>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let watching = target.watch_path || params.get("watch").is_some_and(|w| w == "true" || w == "1");
    let res = &target.resource;
    if !res.custom && res.group == "authentication.k8s.io" {
        return match (method, res.plural.as_str()) {
            (Method::POST, "tokenreviews") if target.name.is_none() => {
                token::review_token(state, headers, body).await
            }
            (Method::POST, "selfsubjectreviews") if target.name.is_none() => {
                token::review_self(caller.as_ref())
            }
            (method, _) => Err(token::not_allowed(&method)),
        };
    }
    if !res.custom && res.plural == "serviceaccounts" && target.subresource.as_deref() == Some("token") {
        return match method {
            Method::POST => token::request_token(state, target, headers, body).await,
            method => Err(token::not_allowed(&method)),
        };
    }
    match (method, target.name.is_some()) {
        (Method::GET, false) if watching => watch::watch(state, target, params, headers).await,
        (Method::GET, false) => read::list(state, target, params, headers).await,
        (Method::GET, true) if watching => watch::watch(state, target, params, headers).await,
        (Method::GET, true) => read::get(state, target, headers).await,
        (Method::POST, false) => write::create(state, target, params, caller, headers, body).await,
        (Method::POST, true) if eviction::is_eviction(&target) => {
            eviction::create(state, target, params, headers, body).await
        }
        (Method::POST, true) if is_pod_binding(&target) => {
            binding::create(state, target, params, headers, body).await
        }
        (Method::PUT, true) => write::update(state, target, params, headers, body).await,
        (Method::PATCH, true) => write::patch(state, target, params, headers, body).await,
        (Method::DELETE, true) => delete::delete(state, target, params, headers, body).await,
        (Method::DELETE, false) => delete::delete_collection(state, target, params, headers, body).await,
        (method, _) => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource: {method}"
        ))
        .into()),
    }
}

fn is_pod_binding(target: &Target) -> bool {
    target.subresource.as_deref() == Some("binding")
        && target.resource.kind == "Pod"
        && target.resource.group.is_empty()
}

/// A stored value as an API object: JSON with `metadata.resourceVersion` from the store.
pub fn to_object(kv: &KeyValue) -> Result<Value, Error> {
    let mut obj: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("stored object {} is not JSON: {e}", kv.key)))?;
    tug_api::meta::metadata_mut(&mut obj)
        .insert("resourceVersion".into(), Value::String(kv.mod_revision.to_string()));
    Ok(obj)
}

/// An API object as stored: without `metadata.resourceVersion` (the store's revision is it), and
/// in upstream's member order so that reads can send the bytes as they are.
pub fn to_stored(obj: &Value) -> Result<bytes::Bytes, Error> {
    Ok(bytes::Bytes::from(crate::discovery::object_json_bytes(obj, true)))
}
