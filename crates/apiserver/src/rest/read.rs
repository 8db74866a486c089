//! GET of one object and LIST of a collection, as JSON or as a Table. LISTs come from the
//! watch cache; GETs and the LISTs the cache cannot answer read the datastore.

use std::sync::Arc;

use axum::{
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};
use tug_api::{
    convert,
    resources::Resource,
    selector::{FieldRequirement, FieldSelector, LabelSelector, selectable_field},
    status::ApiError,
    table::{self, IncludeObject},
};

use super::{Params, Target, raw, to_object};
use crate::{
    AppState,
    cache::{Attrs, Entry},
    discovery::json_response,
    error::Error,
};

pub async fn get(state: AppState, target: Target, headers: HeaderMap) -> Result<Response, Error> {
    let name = target.name.clone().unwrap_or_default();
    let (kv, rev) = state.store.get(&target.key(&name)).await?;
    let kv = kv.ok_or_else(|| ApiError::not_found(&target.resource.group, &target.resource.plural, &name))?;
    let table = wants_table(&headers);
    let partial = super::wants_partial_metadata(&headers);
    if !table
        && !partial
        && !target.converts()
        && target.subresource.as_deref() != Some("scale")
        && let Some(bytes) = raw::with_resource_version(&kv.value, kv.mod_revision)
    {
        return Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response());
    }
    let mut obj = target.present_version(to_object(&kv)?);
    if target.subresource.as_deref() == Some("scale") {
        obj = super::scale::to_scale(&obj);
    }
    if table {
        return Ok(json_response(render_table(
            &target.resource,
            &[obj],
            &rev.to_string(),
            IncludeObject::Metadata,
        )));
    }
    if partial {
        return Ok(json_response(super::partial_metadata(&obj)));
    }
    Ok(json_response(obj))
}

/// The request's selectors, parsed, with the field selector checked against what the kind
/// supports (and, for events.k8s.io Events, translated to the stored core Event's fields).
pub struct Filter {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// Events select on `source` by a derived value.
    event: bool,
}

impl Filter {
    pub fn from_params(res: &Resource, params: &Params) -> Result<Filter, Error> {
        let labels = LabelSelector::parse(params.get("labelSelector").map_or("", String::as_str))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let mut fields = FieldSelector::parse(params.get("fieldSelector").map_or("", String::as_str))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let unsupported = |field: &str| -> Error {
            ApiError::bad_request(format!("field label not supported: {field}")).into()
        };
        if res.group == "events.k8s.io" && res.kind == "Event" {
            let mut translated = Vec::new();
            for r in fields.requirements() {
                let field = convert::events_field_label(&r.field).ok_or_else(|| unsupported(&r.field))?;
                translated.push(FieldRequirement { field: field.to_string(), ..r.clone() });
            }
            fields = FieldSelector::from_requirements(translated);
        } else {
            for r in fields.requirements() {
                if !supported_field(&res.kind, &r.field) {
                    return Err(unsupported(&r.field));
                }
            }
        }
        Ok(Filter { labels, fields, event: res.kind == "Event" && !res.custom })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches_value(obj)
            && self.fields.matches(&|path| match path {
                "source" if self.event => Some(convert::event_source_field(obj)),
                _ => selectable_field(obj, path),
            })
    }

    /// Matches a cached object without parsing it.
    pub fn matches_attrs(&self, attrs: &Attrs) -> bool {
        self.labels.matches_fn(|k| attrs.label(k)) && self.fields.matches(&|p| attrs.field(p))
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

/// Field selectors upstream accepts per kind (besides `metadata.name` and
/// `metadata.namespace`, which every kind has).
fn supported_field(kind: &str, field: &str) -> bool {
    matches!(field, "metadata.name" | "metadata.namespace") || selectable_fields(kind).contains(&field)
}

/// The fields besides name and namespace that a field selector may name for `kind`.
pub fn selectable_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "Secret" => &["type"],
        "Namespace" => &["status.phase"],
        "Node" => &["spec.unschedulable"],
        "ReplicaSet" | "ReplicationController" => &["status.replicas"],
        "Job" => &["status.successful"],
        "CertificateSigningRequest" => &["spec.signerName"],
        _ => &[],
    }
}

/// A Table of `objects`: upstream's columns for built-ins, the definition's for custom resources.
pub fn render_table(res: &Resource, objects: &[Value], rv: &str, include: IncludeObject) -> Value {
    let now = jiff::Timestamp::now();
    if res.custom {
        table::custom_table(&res.printer_columns, objects, rv, include, now)
    } else {
        table::table(&res.kind, objects, rv, include, now)
    }
}

pub fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next()
        .is_some_and(|first| first.contains("as=Table") && first.contains("g=meta.k8s.io"))
}

pub async fn list(
    state: AppState,
    target: Target,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let filter = Filter::from_params(&target.resource, &params)?;
    let limit: usize = match params.get("limit") {
        Some(l) => l.parse().map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?,
        None => 0,
    };
    let prefix = target.collection_prefix();
    let start = match params.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => Some(decode_continue(token, &prefix)?),
        None => None,
    };
    let table = wants_table(&headers);
    let page = if cache_is_fresh(&state, &params).await? {
        list_cached(&state, &target, &filter, &prefix, start, limit)?
    } else {
        list_stored(&state, &target, &filter, &prefix, start, limit, table).await?
    };
    let rv = page.revision.to_string();
    if table {
        let include = IncludeObject::from_param(params.get("includeObject").map(String::as_str));
        let objects: Vec<Value> = page.items.into_iter().map(Item::into_value).collect::<Result<_, _>>()?;
        let mut t = render_table(&target.resource, &objects, &rv, include);
        if let Some(token) = page.next {
            t["metadata"]["continue"] = json!(token);
        }
        return Ok(json_response(t));
    }
    let mut metadata = json!({"resourceVersion": rv});
    if let Some(token) = page.next {
        metadata["continue"] = json!(token);
    }
    if super::wants_partial_metadata(&headers) {
        let items: Vec<Value> = page
            .items
            .into_iter()
            .map(|i| i.into_value().map(|o| super::partial_metadata(&o)))
            .collect::<Result<_, _>>()?;
        return Ok(json_response(json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": metadata,
            "items": items,
        })));
    }
    // Assembled by hand so that stored bytes are copied, not re-encoded.
    let head = json!({
        "kind": format!("{}List", target.resource.kind),
        "apiVersion": target.resource.api_version(),
        "metadata": metadata,
    })
    .to_string();
    let mut body =
        BytesMut::with_capacity(head.len() + 16 + page.items.iter().map(Item::len_hint).sum::<usize>());
    body.put_slice(&head.as_bytes()[..head.len() - 1]);
    body.put_slice(b",\"items\":[");
    for (i, item) in page.items.into_iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        match item {
            Item::Raw(bytes) => body.put_slice(&bytes),
            Item::Cached(entry) => entry.write_json(entry.mod_revision, &mut body),
            Item::Parsed(obj) => body.put_slice(&serde_json::to_vec(&obj).unwrap_or_default()),
        }
    }
    body.put_slice(b"]}");
    Ok(([(header::CONTENT_TYPE, "application/json")], body.freeze()).into_response())
}

/// Whether the watch cache can answer a LIST at the requested resourceVersion: unset means
/// the latest (the cache catches up with the datastore's revision first, as upstream's
/// consistent reads from cache do), "0" any, and a number at least that one. An `Exact` match
/// goes to the datastore.
async fn cache_is_fresh(state: &AppState, params: &Params) -> Result<bool, Error> {
    if params.get("resourceVersionMatch").is_some_and(|m| m == "Exact") {
        return Ok(false);
    }
    let wanted = match params.get("resourceVersion").map(String::as_str) {
        None | Some("") => state.store.revision().await?,
        Some("0") => 1,
        Some(rv) => {
            rv.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?
        }
    };
    Ok(state.cache.wait_for(wanted).await)
}

/// One page of a LIST, before rendering.
struct Page {
    items: Vec<Item>,
    revision: i64,
    next: Option<String>,
}

fn list_cached(
    state: &AppState,
    target: &Target,
    filter: &Filter,
    prefix: &str,
    start: Option<String>,
    limit: usize,
) -> Result<Page, Error> {
    let listed = state.cache.list(prefix, start.as_deref(), limit, |e| filter.matches_attrs(&e.attrs));
    let mut items = Vec::with_capacity(listed.entries.len());
    for entry in listed.entries {
        items.push(if target.converts() {
            let obj = entry
                .object(entry.mod_revision)
                .ok_or_else(|| ApiError::internal(format!("stored object {} is not JSON", entry.key)))?;
            Item::Parsed(target.present_version(obj))
        } else {
            Item::Cached(entry)
        });
    }
    let next = listed.more_after.map(|key| encode_continue(listed.revision, &format!("{key}\0")));
    Ok(Page { items, revision: listed.revision, next })
}

/// A LIST read from the datastore, for the reads the cache cannot answer.
async fn list_stored(
    state: &AppState,
    target: &Target,
    filter: &Filter,
    prefix: &str,
    mut start: Option<String>,
    limit: usize,
    table: bool,
) -> Result<Page, Error> {
    // Without selectors, tables or version rewriting the stored bytes go out as they are.
    let verbatim = !table && !target.converts() && filter.is_empty();
    let mut items: Vec<Item> = Vec::new();
    let mut revision = 0;
    let mut next = None;
    loop {
        let page = state.store.list(prefix, start.as_deref(), limit).await?;
        if revision == 0 {
            revision = page.revision;
        }
        let last_key = page.kvs.last().map(|kv| kv.key.clone());
        for kv in &page.kvs {
            match verbatim.then(|| raw::with_resource_version(&kv.value, kv.mod_revision)).flatten() {
                Some(bytes) => items.push(Item::Raw(bytes)),
                None => {
                    let obj = target.present_version(to_object(kv)?);
                    if filter.matches(&obj) {
                        items.push(Item::Parsed(obj));
                    }
                }
            }
            if limit > 0 && items.len() == limit {
                let more = page.more || kv.key != *page.kvs.last().map(|k| &k.key).unwrap_or(&kv.key);
                if more {
                    next = Some(encode_continue(revision, &format!("{}\0", kv.key)));
                }
                break;
            }
        }
        if (limit > 0 && items.len() == limit) || !page.more {
            break;
        }
        start = last_key.map(|k| format!("{k}\0"));
    }
    Ok(Page { items, revision, next })
}

/// A listed object: stored bytes ready to send, or a parsed value.
enum Item {
    Raw(Bytes),
    Cached(Arc<Entry>),
    Parsed(Value),
}

impl Item {
    fn len_hint(&self) -> usize {
        match self {
            Item::Raw(b) => b.len() + 1,
            Item::Cached(e) => e.len_hint() + 1,
            Item::Parsed(_) => 1024,
        }
    }

    fn into_value(self) -> Result<Value, Error> {
        match self {
            Item::Parsed(v) => Ok(v),
            Item::Raw(b) => serde_json::from_slice(&b)
                .map_err(|e| ApiError::internal(format!("stored object is not JSON: {e}")).into()),
            Item::Cached(entry) => entry
                .object(entry.mod_revision)
                .ok_or_else(|| ApiError::internal(format!("stored object {} is not JSON", entry.key)).into()),
        }
    }
}

fn encode_continue(revision: i64, start: &str) -> String {
    let token = json!({"v": "meta.k8s.io/v1", "rv": revision, "start": start});
    base64::engine::general_purpose::STANDARD.encode(token.to_string())
}

fn decode_continue(token: &str, prefix: &str) -> Result<String, Error> {
    let invalid = || ApiError::bad_request("continue key is not valid: the continue token is malformed");
    let raw = base64::engine::general_purpose::STANDARD.decode(token).map_err(|_| invalid())?;
    let value: Value = serde_json::from_slice(&raw).map_err(|_| invalid())?;
    let start = value.get("start").and_then(Value::as_str).ok_or_else(invalid)?;
    if !start.starts_with(prefix) {
        return Err(invalid().into());
    }
    Ok(start.to_string())
}
