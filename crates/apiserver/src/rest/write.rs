//! Writes: create, update (PUT), patch and delete, with the metadata the server owns.

use axum::{
    body::Bytes,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tug_api::{
    apply, defaults,
    meta::{self, meta_str, metadata_mut},
    patch::{self, PatchType},
    status::{ApiError, Reason},
};
use tug_store::{KeyValue, Revision, StoreError};

use super::{
    Params, Target, allocate,
    guaranteed::{guaranteed_update, read_current_from},
    to_object,
};
use crate::{AppState, auth::Identity, discovery::json_response, error::Error};

/// How often a patch or unconditional update retries after losing a race.
pub(super) const MAX_RETRIES: usize = 8;

fn created(obj: Value) -> Response {
    let body = crate::discovery::object_json(&obj);
    (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub(super) fn dry_run(params: &Params) -> bool {
    params.get("dryRun").is_some_and(|d| d == "All")
}

/// The request body as a JSON object: JSON, YAML (`application/yaml`), or Kubernetes protobuf
/// (client-go's typed clients send that for `kubectl create namespace|secret|configmap|
/// deployment` and helm's release Secrets).
pub fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, Error> {
    let content_type =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    let value = if content_type.starts_with(tug_api::protobuf::MEDIA_TYPE) {
        tug_api::protobuf::decode_object(body).map_err(|e| {
            ApiError::bad_request(format!("the body of the request could not be decoded as protobuf: {e}"))
        })?
    } else if content_type.starts_with("application/yaml") {
        parse_yaml(body)?
    } else {
        parse_json(body)?
    };
    if !value.is_object() {
        return Err(ApiError::bad_request("the body of the request must be a JSON object").into());
    }
    Ok(value)
}

fn parse_json(body: &[u8]) -> Result<Value, Error> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request could not be decoded as JSON: {e}")).into()
    })
}

/// YAML as upstream reads it: converted to JSON first (so a JSON document is YAML too).
fn parse_yaml(body: &[u8]) -> Result<Value, Error> {
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    serde_yaml_ng::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request could not be decoded as YAML: {e}")).into()
    })
}

fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| ApiError::internal(format!("random bytes: {e}")))?;
    Ok(buf)
}

pub(super) fn new_uid() -> Result<String, Error> {
    let mut b: [u8; 16] = random_bytes()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
}

pub async fn create(
    state: AppState,
    target: Target,
    params: Params,
    caller: Option<Identity>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    if let Some(sub) = &target.subresource {
        return Err(ApiError::method_not_allowed(format!("creating {} is not supported yet", sub)).into());
    }
    let mut obj = decode_body(&headers, &body)?;
    let warnings = check_fields(&target, &params, &headers, Some(&body), &obj)?;
    if target.resource.kind == "CertificateSigningRequest" && target.resource.group == "certificates.k8s.io" {
        record_requestor(&mut obj, caller.as_ref());
    }
    let manager = Manager::from_request(&params, &headers);
    Ok(with_warnings(create_object(state, target, params, &headers, obj, Some(manager)).await?, &warnings))
}

/// A new CertificateSigningRequest names who asked for it, from the request's credentials
/// (whatever the body says), and starts without conditions: nobody creates one pre-approved.
fn record_requestor(csr: &mut Value, caller: Option<&Identity>) {
    let Some(obj) = csr.as_object_mut() else { return };
    let spec = obj.entry("spec").or_insert_with(|| json!({}));
    if let Some(spec) = spec.as_object_mut() {
        for derived in ["username", "uid", "groups", "extra"] {
            spec.remove(derived);
        }
        if let Some(caller) = caller {
            let mut groups = caller.groups.clone();
            if !groups.iter().any(|g| g == "system:authenticated") {
                groups.push("system:authenticated".into());
            }
            spec.insert("username".into(), json!(caller.user));
            spec.insert("groups".into(), json!(groups));
        }
    }
    obj.insert("status".into(), json!({}));
}

/// How the request wants unknown and duplicate fields treated (`fieldValidation`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    fn from_params(params: &Params) -> Result<Self, Error> {
        match params.get("fieldValidation").map(String::as_str) {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {other:?}"
            ))
            .into()),
        }
    }
}

/// Values of a built-in object's JSON body that do not fit their types: always an error.
/// Unknown and duplicate fields: an error under Strict, warnings under Warn (upstream's
/// default).
fn check_fields(
    target: &Target,
    params: &Params,
    headers: &HeaderMap,
    body: Option<&[u8]>,
    obj: &Value,
) -> Result<Vec<String>, Error> {
    use tug_api::schema::{self, StrictError};
    let mode = FieldValidation::from_params(params)?;
    let res = &target.resource;
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| !ct.starts_with(tug_api::protobuf::MEDIA_TYPE));
    // The object's own kind decides (a body may carry another kind: that error comes later).
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or(&res.kind);
    // A built-in object whose values do not fit their Go types does not decode upstream, in
    // any validation mode; that comes before strict decoding.
    if json_body
        && !res.custom
        && let Some(err) = schema::type_error(&res.group, &res.version, kind, obj)
    {
        return Err(ApiError::bad_request(schema::type_error_message(kind, &res.version, &err)).into());
    }
    if mode == FieldValidation::Ignore || !json_body || target.subresource.is_some() {
        return Ok(Vec::new());
    }
    let errors: Vec<StrictError> = if res.custom {
        // Custom objects: what pruning would drop is what is unknown.
        let Some(custom_schema) = &res.schema else { return Ok(Vec::new()) };
        let unknown =
            schema::prune_custom(custom_schema, &mut obj.clone()).into_iter().map(StrictError::Unknown);
        let duplicates = body.map(schema::duplicate_fields).unwrap_or_default();
        unknown.chain(duplicates.into_iter().map(StrictError::Duplicate)).collect()
    } else {
        match body {
            Some(body) => schema::strict_errors(&res.group, &res.version, kind, body),
            // A patched object: parsed already, so it has no duplicates to find.
            None => schema::unknown_fields(&res.group, &res.version, kind, obj)
                .into_iter()
                .map(StrictError::Unknown)
                .collect(),
        }
    };
    if errors.is_empty() {
        return Ok(Vec::new());
    }
    if mode == FieldValidation::Strict {
        let message = schema::strict_errors_message(kind, &res.version, &errors);
        return Err(ApiError::bad_request(message).into());
    }
    Ok(errors.iter().map(ToString::to_string).collect())
}

/// Prunes, defaults and validates a custom object against its definition's schema, as the
/// apiextensions server does; invalid objects are 422 with a cause per field.
fn validate_custom(res: &tug_api::resources::Resource, obj: &mut Value) -> Result<(), Error> {
    let Some(schema) = res.schema.as_ref().filter(|_| res.custom) else { return Ok(()) };
    let causes = tug_api::schema::validate_custom(schema, obj);
    if causes.is_empty() {
        return Ok(());
    }
    let name = meta_str(obj, "name").unwrap_or_default().to_string();
    Err(ApiError::invalid(&res.group, &res.kind, &name, causes).into())
}

/// Adds upstream's `Warning: 299 - "..."` headers to a response.
fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for warning in warnings {
        let text = format!("299 - \"{}\"", warning.replace('\\', "\\\\").replace('"', "\\\""));
        if let Ok(value) = axum::http::HeaderValue::from_str(&text) {
            response.headers_mut().append("warning", value);
        }
    }
    response
}

/// Creates `obj` at `target`. `manager` records the write in managedFields; `None` when the
/// object already carries them (created by an apply).
async fn create_object(
    state: AppState,
    target: Target,
    params: Params,
    headers: &HeaderMap,
    mut obj: Value,
    manager: Option<Manager>,
) -> Result<Response, Error> {
    let res = target.resource.clone();
    meta::check_type(&mut obj, &res)?;
    validate_custom(&res, &mut obj)?;
    let namespace = if res.namespaced {
        let ns = target
            .namespace
            .clone()
            .ok_or_else(|| ApiError::bad_request("a namespace is required to create this resource"))?;
        match meta_str(&obj, "namespace") {
            Some(given) if !given.is_empty() && given != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                )
                .into());
            }
            _ => {}
        }
        metadata_mut(&mut obj).insert("namespace".into(), json!(ns));
        Some(ns)
    } else {
        metadata_mut(&mut obj).remove("namespace");
        None
    };
    if meta_str(&obj, "resourceVersion").is_some_and(|rv| !rv.is_empty()) {
        return Err(
            ApiError::bad_request("resourceVersion should not be set on objects to be created").into()
        );
    }
    let generate = meta_str(&obj, "name").is_none_or(str::is_empty)
        && meta_str(&obj, "generateName").is_some_and(|g| !g.is_empty());
    if let Some(ns) = &namespace {
        check_namespace_open(&state, ns).await?;
    }
    {
        let m = metadata_mut(&mut obj);
        m.insert("uid".into(), json!(new_uid()?));
        m.insert("creationTimestamp".into(), json!(now()));
        for owned in ["deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"] {
            m.remove(owned);
        }
        if meta::tracks_generation(&res.kind) || res.custom {
            m.insert("generation".into(), json!(1));
        } else {
            m.remove("generation");
        }
    }
    if !res.custom {
        defaults::apply_defaults(&res.group, &res.version, &res.kind, &mut obj);
    }
    if res.group.is_empty() && res.kind == "Pod" && target.subresource.is_none() {
        super::priority::admit(&state, &mut obj).await?;
    }
    if res.kind == "CustomResourceDefinition" && res.group == "apiextensions.k8s.io" {
        let causes = tug_api::crd::prepare(&mut obj, &now());
        if !causes.is_empty() {
            let name = meta_str(&obj, "name").unwrap_or_default().to_string();
            return Err(ApiError::invalid(&res.group, &res.kind, &name, causes).into());
        }
    }
    for _attempt in 0..MAX_RETRIES {
        if generate {
            let base = meta_str(&obj, "generateName").unwrap_or_default().to_string();
            let name = format!("{base}{}", meta::name_suffix(random_bytes()?));
            metadata_mut(&mut obj).insert("name".into(), json!(name));
        }
        let name = meta_str(&obj, "name").unwrap_or_default().to_string();
        // Only a generated name can take another attempt, and only then is `obj` needed again.
        let mut candidate = if generate { obj.clone() } else { std::mem::take(&mut obj) };
        if !res.custom {
            // Some create-time defaults use the final name (a Job's labels).
            defaults::create_defaults(&res.group, &res.version, &res.kind, &mut candidate);
        }
        let mut causes = meta::validate_name(&res, &name);
        if !res.custom {
            let (group, version, kind) = (&res.group, &res.version, &res.kind);
            causes.extend(tug_api::validation::validate(group, version, kind, &candidate, None));
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid(&res.group, &res.kind, &name, causes).into());
        }
        if let Some(manager) = &manager {
            candidate = manager.record(&target, None, candidate);
        }
        let is_service = is_service(&res);
        if is_service {
            allocate::allocate(&state, &mut candidate, None, dry_run(&params)).await?;
        }
        if dry_run(&params) {
            return Ok(created(respond(&target, headers, candidate)));
        }
        let key = super::object_key(&res, namespace.as_deref(), &name);
        let stored = target.stored_bytes(&candidate)?;
        let result = state.store.create(&key, stored.clone()).await;
        if result.is_err() && is_service {
            allocate::release(&state, &candidate, None).await;
        }
        match result {
            Ok(rev) => {
                if let Some(body) = stored_response(&target, headers, &stored, rev) {
                    return Ok((StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], body)
                        .into_response());
                }
                metadata_mut(&mut candidate).insert("resourceVersion".into(), json!(rev.to_string()));
                return Ok(created(respond(&target, headers, candidate)));
            }
            Err(StoreError::AlreadyExists { .. }) if generate => continue,
            Err(StoreError::AlreadyExists { .. }) => {
                return Err(ApiError::already_exists(&res.group, &res.plural, &name).into());
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::new(Reason::AlreadyExists, "could not generate a unique name").into())
}

/// Objects may only be created in a namespace that exists and is not being deleted. As
/// upstream's NamespaceLifecycle admission, an open namespace in the watch cache is enough;
/// a missing or terminating one is looked up in the datastore, which the cache may lag.
async fn check_namespace_open(state: &AppState, ns: &str) -> Result<(), Error> {
    let key = format!("{NAMESPACE_PREFIX}{ns}");
    let terminating = |kv: &KeyValue| -> Result<bool, Error> {
        Ok(to_object(kv)?.pointer("/metadata/deletionTimestamp").is_some())
    };
    if let Some(entry) = state.cache.get(&key)
        && !terminating(&entry.to_kv())?
    {
        return Ok(());
    }
    let (kv, _) = state.store.get(&key).await?;
    let kv = kv.ok_or_else(|| ApiError::not_found("", "namespaces", ns))?;
    if terminating(&kv)? {
        return Err(ApiError::new(
            Reason::Forbidden,
            format!("unable to create new content in namespace {ns} because it is being terminated"),
        )
        .into());
    }
    Ok(())
}

/// Combines the stored object and the one a client sent into what is stored next.
fn prepare_update(target: &Target, current: &Value, mut next: Value) -> Result<Value, Error> {
    let res = &target.resource;
    if target.subresource.as_deref() != Some("scale") {
        meta::check_type(&mut next, res)?;
    }
    let name = target.name.as_deref().unwrap_or_default();
    if meta_str(&next, "name").is_some_and(|n| n != name) {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            meta_str(&next, "name").unwrap_or_default()
        ))
        .into());
    }
    let has_status = res.subresource("status").is_some();
    let mut next = match target.subresource.as_deref() {
        // The status subresource changes status only.
        Some("status") => {
            let mut merged = current.clone();
            merged["status"] = next.get("status").cloned().unwrap_or(Value::Null);
            merged
        }
        Some("scale") => super::scale::apply_scale(current, &next)?,
        // A CertificateSigningRequest's approval changes its conditions only.
        Some("approval") => {
            let mut merged = current.clone();
            let conditions = next.pointer("/status/conditions").cloned().unwrap_or(Value::Null);
            match merged.get_mut("status").and_then(Value::as_object_mut) {
                Some(status) => {
                    status.insert("conditions".into(), conditions);
                }
                None => merged["status"] = json!({"conditions": conditions}),
            }
            merged
        }
        Some("ephemeralcontainers") => {
            let mut merged = current.clone();
            merged["spec"]["ephemeralContainers"] =
                next.pointer("/spec/ephemeralContainers").cloned().unwrap_or(Value::Null);
            // Compared defaulted, as upstream compares the decoded objects.
            defaults::apply_defaults(&res.group, &res.version, &res.kind, &mut merged);
            check_ephemeral_containers(current, &merged, name)?;
            merged
        }
        // A Namespace's finalize changes `spec.finalizers` only.
        Some("finalize") => {
            let mut merged = current.clone();
            merged["spec"]["finalizers"] =
                next.pointer("/spec/finalizers").cloned().unwrap_or_else(|| json!([]));
            merged
        }
        Some(other) => {
            return Err(ApiError::method_not_allowed(format!("updating {other} is not supported yet")).into());
        }
        None => {
            // A Namespace's finalizers change through `finalize` only.
            if is_namespace(res) {
                match current.pointer("/spec/finalizers") {
                    Some(f) => next["spec"]["finalizers"] = f.clone(),
                    None => {
                        if let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) {
                            spec.remove("finalizers");
                        }
                    }
                }
            }
            if has_status {
                match current.get("status") {
                    Some(status) => next["status"] = status.clone(),
                    None => {
                        if let Some(m) = next.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            next
        }
    };
    if res.kind == "CertificateSigningRequest"
        && matches!(target.subresource.as_deref(), Some("approval" | "status"))
    {
        stamp_csr_conditions(&mut next, current);
    }
    // Metadata the server owns.
    {
        let cur_meta = current.get("metadata").cloned().unwrap_or_else(|| json!({}));
        let m = metadata_mut(&mut next);
        for owned in [
            "uid",
            "creationTimestamp",
            "namespace",
            "name",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            match cur_meta.get(owned) {
                Some(v) => m.insert(owned.into(), v.clone()),
                None => m.remove(owned),
            };
        }
        m.remove("resourceVersion");
    }
    if !res.custom {
        defaults::apply_defaults(&res.group, &res.version, &res.kind, &mut next);
        if target.subresource.is_none() {
            let causes =
                tug_api::validation::validate(&res.group, &res.version, &res.kind, &next, Some(current));
            if !causes.is_empty() {
                return Err(ApiError::invalid(&res.group, &res.kind, name, causes).into());
            }
        }
    }
    validate_custom(res, &mut next)?;
    if meta::tracks_generation(&res.kind) || res.custom {
        let gen_now = current.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
        let bumped = if meta::spec_part(current) != meta::spec_part(&next) { gen_now + 1 } else { gen_now };
        metadata_mut(&mut next).insert("generation".into(), json!(bumped));
    }
    Ok(next)
}

/// Condition times a client left unset (kubectl sends `lastTransitionTime: null`): updated now,
/// and transitioned when the condition's type and status were not there before.
fn stamp_csr_conditions(csr: &mut Value, old: &Value) {
    let now = now();
    let unset = |c: &Value, field: &str| c.get(field).is_none_or(|v| v.is_null() || v == "");
    let empty = Vec::new();
    let before = old.pointer("/status/conditions").and_then(Value::as_array).unwrap_or(&empty);
    let Some(conditions) = csr.pointer_mut("/status/conditions").and_then(Value::as_array_mut) else {
        return;
    };
    for condition in conditions {
        if unset(condition, "lastUpdateTime") {
            condition["lastUpdateTime"] = json!(now);
        }
        if unset(condition, "lastTransitionTime") {
            let same = before.iter().find(|o| {
                o.get("type") == condition.get("type")
                    && o.get("status") == condition.get("status")
                    && !unset(o, "lastTransitionTime")
            });
            condition["lastTransitionTime"] =
                same.map_or_else(|| json!(now), |o| o["lastTransitionTime"].clone());
        }
    }
}

/// Ephemeral containers can be added to a Pod, never changed or removed (upstream's
/// `ValidatePodEphemeralContainersUpdate`).
fn check_ephemeral_containers(current: &Value, next: &Value, name: &str) -> Result<(), Error> {
    let empty = Vec::new();
    let list = |v: Option<&Value>| v.and_then(Value::as_array).unwrap_or(&empty).clone();
    let old = list(current.pointer("/spec/ephemeralContainers"));
    let new = list(next.pointer("/spec/ephemeralContainers"));
    let name_of = |c: &Value| c.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
    let mut causes = Vec::new();
    for before in &old {
        let container = name_of(before);
        match new.iter().position(|c| name_of(c) == container) {
            None => causes.push(tug_api::status::Cause {
                reason: "FieldValueForbidden".into(),
                message: format!(
                    "Forbidden: existing ephemeral containers \"{container}\" may not be removed"
                ),
                field: "spec.ephemeralContainers".into(),
            }),
            Some(i) if new[i] != *before => causes.push(tug_api::status::Cause {
                reason: "FieldValueForbidden".into(),
                message: format!(
                    "Forbidden: existing ephemeral containers \"{container}\" may not be changed"
                ),
                field: format!("spec.ephemeralContainers[{i}]"),
            }),
            Some(_) => {}
        }
    }
    if causes.is_empty() { Ok(()) } else { Err(ApiError::invalid("", "Pod", name, causes).into()) }
}

/// Who makes a write, for managedFields: the `fieldManager` parameter, or upstream's default
/// from the User-Agent.
#[derive(Clone, Debug)]
struct Manager(String);

impl Manager {
    fn from_request(params: &Params, headers: &HeaderMap) -> Self {
        match params.get("fieldManager").filter(|m| !m.is_empty()) {
            Some(m) => Manager(m.clone()),
            None => {
                let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
                Manager(apply::default_manager(agent))
            }
        }
    }

    /// `new` with this manager's non-apply write recorded in its managedFields.
    fn record(&self, target: &Target, old: Option<&Value>, new: Value) -> Value {
        let api_version = target.resource.api_version();
        let now = now();
        let mut opts = apply::Options::new(&self.0, &api_version, &now);
        if let Some(sub) = target.subresource.as_deref() {
            opts = opts.subresource(sub);
        }
        if target.resource.custom {
            apply::record_update_with(old, new, &opts, &patch::NoSchema)
        } else {
            apply::record_update_with(old, new, &opts, &patch::BuiltinSchema)
        }
    }
}

const NAMESPACE_PREFIX: &str = "/registry/core/namespaces/";

fn is_namespace(res: &tug_api::resources::Resource) -> bool {
    res.kind == "Namespace" && res.group.is_empty() && !res.custom
}

pub(super) fn is_service(res: &tug_api::resources::Resource) -> bool {
    res.kind == "Service" && res.group.is_empty()
}

/// What a client reads and writes at the target: the object, or its Scale.
fn present(target: &Target, obj: Value) -> Value {
    match target.subresource.as_deref() {
        Some("scale") => super::scale::to_scale(&obj),
        _ => obj,
    }
}

/// The response body for a written object: what [`present`] gives, or its metadata alone when
/// the client asked for PartialObjectMetadata.
fn respond(target: &Target, headers: &HeaderMap, obj: Value) -> Value {
    if super::wants_partial_metadata(headers) {
        return super::partial_metadata(&obj);
    }
    present(target, obj)
}

/// The response body for an object just stored as `stored` at revision `rev`: the stored bytes
/// with the resourceVersion spliced in, as reads serve them, when the client gets the object
/// as stored (no version conversion, no subresource view, no PartialObjectMetadata).
fn stored_response(target: &Target, headers: &HeaderMap, stored: &Bytes, rev: Revision) -> Option<Bytes> {
    if target.converts() || target.subresource.is_some() || super::wants_partial_metadata(headers) {
        return None;
    }
    let at = super::raw::metadata_body_offset(stored)?;
    let mut out = bytes::BytesMut::with_capacity(stored.len() + 40);
    super::raw::splice_resource_version(stored, at, rev, &mut out);
    Some(out.freeze())
}

fn current_is_service(kv: &KeyValue) -> bool {
    kv.key.starts_with("/registry/core/services/")
}

pub(super) async fn read_current(state: &AppState, target: &Target) -> Result<(KeyValue, Value), Error> {
    let name = target.name.clone().unwrap_or_default();
    let (kv, _) = state.store.get(&target.key(&name)).await?;
    let kv = kv.ok_or_else(|| ApiError::not_found(&target.resource.group, &target.resource.plural, &name))?;
    let obj = target.present_version(to_object(&kv)?);
    Ok((kv, obj))
}

pub(super) fn conflict(target: &Target) -> Error {
    ApiError::conflict(
        &target.resource.group,
        &target.resource.plural,
        target.name.as_deref().unwrap_or_default(),
        "the object has been modified; please apply your changes to the latest version and try again",
    )
    .into()
}

/// Stores `next` over `current`, or deletes it if it was being deleted and has no
/// finalizers left. Returns the stored object, or `None` on a lost race.
pub(super) async fn commit(
    state: &AppState,
    target: &Target,
    current: &KeyValue,
    next: Value,
    dry: bool,
) -> Result<Option<Value>, Error> {
    if dry {
        return Ok(Some(next));
    }
    // Upstream removes an object on update once it is being deleted, its finalizers are gone
    // and no grace period is running (a terminating pod waits for its kubelet).
    let finished = next.pointer("/metadata/deletionTimestamp").is_some()
        && next.pointer("/metadata/finalizers").and_then(Value::as_array).is_none_or(Vec::is_empty)
        && next.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0) == 0
        // A namespace also waits for its own finalizers (the namespace controller's `kubernetes`).
        && (!current.key.starts_with(NAMESPACE_PREFIX)
            || next.pointer("/spec/finalizers").and_then(Value::as_array).is_none_or(Vec::is_empty));
    let mut next = next;
    let service = current_is_service(current);
    if service && !finished {
        let before = to_object(current)?;
        allocate::allocate(state, &mut next, Some(&before), false).await?;
    }
    let result = if finished {
        state.store.delete(&current.key, Some(current.mod_revision)).await.map(|(rev, _)| rev)
    } else {
        state.store.update(&current.key, target.stored_bytes(&next)?, current.mod_revision).await
    };
    match result {
        Ok(rev) => {
            if service {
                let before = to_object(current)?;
                allocate::release(state, &before, (!finished).then_some(&next)).await;
            }
            metadata_mut(&mut next).insert("resourceVersion".into(), json!(rev.to_string()));
            Ok(Some(next))
        }
        Err(StoreError::Conflict { .. }) | Err(StoreError::NotFound { .. }) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

pub async fn update(
    state: AppState,
    target: Target,
    params: Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let next = decode_body(&headers, &body)?;
    let warnings = check_fields(&target, &params, &headers, Some(&body), &next)?;
    let manager = Manager::from_request(&params, &headers);
    let precondition = meta_str(&next, "resourceVersion").filter(|rv| !rv.is_empty()).map(str::to_string);
    let dry = dry_run(&params);
    let (state, target, next, manager, precondition) = (&state, &target, &next, &manager, &precondition);
    let stored = guaranteed_update(
        dry,
        |source| async move {
            let (kv, current) = read_current_from(state, target, source).await?;
            if let Some(rv) = precondition
                && *rv != kv.mod_revision.to_string()
            {
                return Err(conflict(target));
            }
            let prepared = prepare_update(target, &current, next.clone())?;
            let prepared = manager.record(target, Some(&current), prepared);
            match commit(state, target, &kv, prepared, dry).await? {
                None if precondition.is_some() => Err(conflict(target)),
                outcome => Ok(outcome),
            }
        },
        || conflict(target),
    )
    .await?;
    Ok(with_warnings(json_response(respond(target, &headers, stored)), &warnings))
}

pub async fn patch(
    state: AppState,
    target: Target,
    params: Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let kind = PatchType::from_content_type(content_type).ok_or_else(|| {
        ApiError::new(Reason::UnsupportedMediaType, format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"))
    })?;
    let patch_doc = if kind == PatchType::ApplyPatch { parse_yaml(&body)? } else { parse_json(&body)? };
    if kind == PatchType::ApplyPatch {
        return server_side_apply(state, target, params, &headers, patch_doc).await;
    }
    if params.contains_key("force") {
        let err = apply::validate_patch_options("", Some(false), false).err().map(ApiError::from);
        return Err(err.unwrap_or_else(|| ApiError::bad_request("force is only for apply patches")).into());
    }
    let manager = Manager::from_request(&params, &headers);
    let dry = dry_run(&params);
    let (state, target, params, manager, patch_doc) = (&state, &target, &params, &manager, &patch_doc);
    let (stored, warnings) = guaranteed_update(
        dry,
        |source| async move {
            let (kv, current) = read_current_from(state, target, source).await?;
            let mut patched = present(target, current.clone());
            match kind {
                PatchType::MergePatch => patch::merge_patch(&mut patched, patch_doc),
                PatchType::JsonPatch => patch::json_patch(&mut patched, patch_doc)
                    .map_err(|e| ApiError::new(Reason::Invalid, e.to_string()))?,
                PatchType::StrategicMergePatch if target.resource.custom => {
                    return Err(ApiError::new(
                        Reason::UnsupportedMediaType,
                        "strategic merge patch is not supported for custom resources; use a merge or JSON patch",
                    )
                    .into());
                }
                PatchType::StrategicMergePatch => {
                    patch::strategic_merge_patch(&mut patched, patch_doc, &patch::BuiltinSchema)
                        .map_err(|e| ApiError::bad_request(e.to_string()))?
                }
                PatchType::ApplyPatch => unreachable!("handled above"),
            }
            // A resourceVersion in the patch is a precondition.
            if let Some(rv) = patch_doc.pointer("/metadata/resourceVersion").and_then(Value::as_str)
                && rv != kv.mod_revision.to_string()
            {
                return Err(conflict(target));
            }
            let warnings = match target.subresource {
                None => check_fields(target, params, &HeaderMap::new(), None, &patched)?,
                Some(_) => Vec::new(),
            };
            let prepared = prepare_update(target, &current, patched)?;
            let prepared = manager.record(target, Some(&current), prepared);
            Ok(commit(state, target, &kv, prepared, dry).await?.map(|stored| (stored, warnings)))
        },
        || conflict(target),
    )
    .await?;
    Ok(with_warnings(json_response(respond(target, &headers, stored)), &warnings))
}

/// Server-side apply (`application/apply-patch+yaml`): merges the applied configuration by
/// field ownership, creating the object if it does not exist.
async fn server_side_apply(
    state: AppState,
    target: Target,
    params: Params,
    headers: &HeaderMap,
    applied: Value,
) -> Result<Response, Error> {
    let manager = params.get("fieldManager").cloned().unwrap_or_default();
    let force = params.get("force").map(|f| f == "true");
    apply::validate_patch_options(&manager, force, true).map_err(ApiError::from)?;
    let force = force.unwrap_or(false);
    let api_version = target.resource.api_version();
    let apply_to = |current: Option<&Value>| -> Result<Value, Error> {
        let now = now();
        let mut opts = apply::Options::new(&manager, &api_version, &now);
        if let Some(sub) = target.subresource.as_deref() {
            opts = opts.subresource(sub);
        }
        let result = if target.resource.custom {
            apply::apply_with(current, &applied, force, &opts, &patch::NoSchema)
        } else {
            apply::apply_with(current, &applied, force, &opts, &patch::BuiltinSchema)
        };
        result.map_err(|e| ApiError::from(e).into())
    };
    for _ in 0..MAX_RETRIES {
        let name = target.name.clone().unwrap_or_default();
        let (kv, _) = state.store.get(&target.key(&name)).await?;
        let Some(kv) = kv else {
            if target.subresource.is_some() {
                return Err(
                    ApiError::not_found(&target.resource.group, &target.resource.plural, &name).into()
                );
            }
            let mut obj = apply_to(None)?;
            if meta_str(&obj, "name").is_none_or(str::is_empty) {
                metadata_mut(&mut obj).insert("name".into(), json!(name));
            }
            let mut create_target = target.clone();
            create_target.name = None;
            return create_object(state, create_target, params, headers, obj, None).await;
        };
        let current = target.present_version(to_object(&kv)?);
        let next = apply_to(Some(&current))?;
        if next == current {
            return Ok(json_response(respond(&target, headers, current)));
        }
        let prepared = prepare_update(&target, &current, next)?;
        if let Some(stored) = commit(&state, &target, &kv, prepared, dry_run(&params)).await? {
            return Ok(json_response(respond(&target, headers, stored)));
        }
    }
    Err(conflict(&target))
}

/// Deletes every object stored under `prefix`.
pub(super) async fn delete_prefix(state: &AppState, prefix: &str) -> Result<(), Error> {
    let page = state.store.list(prefix, None, 0).await?;
    for kv in page.kvs {
        match state.store.delete(&kv.key, None).await {
            Ok(_) if current_is_service(&kv) => allocate::release(state, &to_object(&kv)?, None).await,
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        h
    }

    #[test]
    fn yaml_bodies_decode_like_json() {
        let yaml = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: \"1\"\n";
        let obj = decode_body(&headers("application/yaml"), yaml).unwrap();
        assert_eq!(
            obj,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "1"}})
        );
        let json = br#"{"kind": "ConfigMap", "metadata": {"name": "a"}}"#;
        assert_eq!(decode_body(&headers("application/yaml"), json).unwrap()["kind"], "ConfigMap");
        let message = |body: &[u8]| match decode_body(&headers("application/yaml"), body) {
            Err(Error::Api(e)) => e.message,
            other => panic!("expected an API error, got {other:?}"),
        };
        assert!(message(b"a: [1\n").contains("could not be decoded as YAML"));
        assert!(message(b"- a\n- b\n").contains("must be a JSON object"));
    }
}
