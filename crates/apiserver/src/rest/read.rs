//! GET of one object and LIST of a collection, as JSON or as a Table.

use axum::{
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};
use tug_api::{
    resources::Resource,
    selector::{FieldSelector, LabelSelector},
    status::ApiError,
    table::{self, IncludeObject},
};

use super::{Params, Target, raw, to_object};
use crate::{AppState, discovery::json_response, error::Error};

pub async fn get(state: AppState, target: Target, headers: HeaderMap) -> Result<Response, Error> {
    let name = target.name.clone().unwrap_or_default();
    let (kv, rev) = state.store.get(&target.key(&name)).await?;
    let kv = kv.ok_or_else(|| ApiError::not_found(&target.resource.group, &target.resource.plural, &name))?;
    let table = wants_table(&headers);
    if !table
        && !target.resource.custom
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
    Ok(json_response(obj))
}

/// The request's selectors, parsed, with the field selector checked against what the kind
/// supports.
pub struct Filter {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    pub fn from_params(kind: &str, params: &Params) -> Result<Filter, Error> {
        let labels = LabelSelector::parse(params.get("labelSelector").map_or("", String::as_str))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let fields = FieldSelector::parse(params.get("fieldSelector").map_or("", String::as_str))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        for r in fields.requirements() {
            if !supported_field(kind, &r.field) {
                return Err(ApiError::bad_request(format!("field label not supported: {}", r.field)).into());
            }
        }
        Ok(Filter { labels, fields })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches_value(obj) && self.fields.matches_object(obj)
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

/// Field selectors upstream accepts per kind (besides `metadata.name` and
/// `metadata.namespace`, which every kind has).
fn supported_field(kind: &str, field: &str) -> bool {
    if matches!(field, "metadata.name" | "metadata.namespace") {
        return true;
    }
    let extra: &[&str] = match kind {
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
        _ => &[],
    };
    extra.contains(&field)
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
    let filter = Filter::from_params(&target.resource.kind, &params)?;
    let limit: usize = match params.get("limit") {
        Some(l) => l.parse().map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?,
        None => 0,
    };
    let prefix = target.collection_prefix();
    let mut start = match params.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => Some(decode_continue(token, &prefix)?),
        None => None,
    };
    let table = wants_table(&headers);
    // Without selectors, tables or version rewriting the stored bytes go out as they are.
    let verbatim = !table && !target.resource.custom && filter.is_empty();
    let mut items: Vec<Item> = Vec::new();
    let mut revision = 0;
    let mut next = None;
    loop {
        let page = state.store.list(&prefix, start.as_deref(), limit).await?;
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
    let rv = revision.to_string();
    if table {
        let include = IncludeObject::from_param(params.get("includeObject").map(String::as_str));
        let objects: Vec<Value> = items.into_iter().map(Item::into_value).collect::<Result<_, _>>()?;
        let mut t = render_table(&target.resource, &objects, &rv, include);
        if let Some(token) = next {
            t["metadata"]["continue"] = json!(token);
        }
        return Ok(json_response(t));
    }
    let mut metadata = json!({"resourceVersion": rv});
    if let Some(token) = next {
        metadata["continue"] = json!(token);
    }
    // Assembled by hand so that verbatim items are copied, not re-encoded.
    let head = json!({
        "kind": format!("{}List", target.resource.kind),
        "apiVersion": target.resource.api_version(),
        "metadata": metadata,
    })
    .to_string();
    let mut body = BytesMut::with_capacity(head.len() + 16 + items.iter().map(Item::len_hint).sum::<usize>());
    body.put_slice(&head.as_bytes()[..head.len() - 1]);
    body.put_slice(b",\"items\":[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        match item {
            Item::Raw(bytes) => body.put_slice(&bytes),
            Item::Parsed(obj) => body.put_slice(obj.to_string().as_bytes()),
        }
    }
    body.put_slice(b"]}");
    Ok(([(header::CONTENT_TYPE, "application/json")], body.freeze()).into_response())
}

/// A listed object: stored bytes ready to send, or a parsed value.
enum Item {
    Raw(Bytes),
    Parsed(Value),
}

impl Item {
    fn len_hint(&self) -> usize {
        match self {
            Item::Raw(b) => b.len() + 1,
            Item::Parsed(_) => 1024,
        }
    }

    fn into_value(self) -> Result<Value, Error> {
        match self {
            Item::Parsed(v) => Ok(v),
            Item::Raw(b) => serde_json::from_slice(&b)
                .map_err(|e| ApiError::internal(format!("stored object is not JSON: {e}")).into()),
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
