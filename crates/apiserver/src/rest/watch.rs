//! WATCH: a stream of JSON lines (`{"type": ..., "object": ...}`), starting from a
//! resourceVersion or from the current state, with WatchList's initial-events bookmark.

use std::{convert::Infallible, time::Duration};

use axum::{
    body::Body,
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use futures::{StreamExt, stream};
use serde_json::{Value, json};
use tug_api::{meta::metadata_mut, status::ApiError, table::IncludeObject};
use tug_store::{Event, EventKind, StoreError};

use super::{
    Params, Target,
    read::{Filter, render_table, wants_table},
    to_object,
};
use crate::{AppState, error::Error};

/// Upstream picks a random timeout between 30 and 60 minutes; one fixed value is enough here.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// How events are rendered for this watcher.
#[derive(Clone)]
struct Render {
    target: Target,
    table: bool,
}

impl Render {
    fn line(&self, kind: &str, obj: Value) -> bytes::Bytes {
        let object = if self.table && kind != "ERROR" && kind != "BOOKMARK" {
            let rv =
                obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("").to_string();
            render_table(&self.target.resource, &[obj], &rv, IncludeObject::Metadata)
        } else if kind == "ERROR" {
            obj
        } else {
            self.target.present_version(obj)
        };
        let mut line = json!({"type": kind, "object": object}).to_string();
        line.push('\n');
        bytes::Bytes::from(line)
    }

    fn bookmark(&self, revision: i64, initial_end: bool) -> bytes::Bytes {
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        self.line(
            "BOOKMARK",
            json!({
                "kind": self.target.resource.kind,
                "apiVersion": self.target.resource.api_version(),
                "metadata": metadata,
            }),
        )
    }

    fn error(&self, err: ApiError) -> bytes::Bytes {
        self.line("ERROR", err.to_status())
    }
}

pub async fn watch(
    state: AppState,
    target: Target,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let mut filter = Filter::from_params(&target.resource.kind, &params)?;
    let exact_key = target.name.as_ref().map(|n| target.key(n));
    if let Some(name) = &target.name {
        filter.fields = tug_api::selector::FieldSelector::parse(&format!("metadata.name={name}"))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let render = Render { target: target.clone(), table: wants_table(&headers) };
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    let send_initial = params.get("sendInitialEvents").is_some_and(|v| v == "true");
    let rv = params.get("resourceVersion").map(String::as_str).unwrap_or("");
    let prefix = exact_key.clone().unwrap_or_else(|| target.collection_prefix());

    let mut initial = Vec::new();
    let start = if send_initial || rv.is_empty() || rv == "0" {
        let page = state.store.list(&prefix, None, 0).await?;
        for kv in page.kvs.iter().filter(|kv| exact_key.as_ref().is_none_or(|k| *k == kv.key)) {
            let obj = to_object(kv)?;
            if filter.matches(&obj) {
                initial.push(render.line("ADDED", obj));
            }
        }
        if send_initial {
            initial.push(render.bookmark(page.revision, true));
        }
        page.revision + 1
    } else {
        let n: i64 =
            rv.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?;
        n + 1
    };

    let events = match state.store.watch(&prefix, start).await {
        Ok(events) => events,
        Err(StoreError::Compacted { compacted, .. }) => {
            let err = ApiError::expired(format!("too old resource version: {} ({compacted})", start - 1));
            return Ok(stream_response(Body::from(render.error(err))));
        }
        Err(other) => return Err(other.into()),
    };
    let live_render = render.clone();
    let live = events
        .filter_map(move |item| {
            let out = match item {
                Ok(event) => translate(&event, &filter, exact_key.as_deref())
                    .map(|(kind, obj)| live_render.line(kind, obj)),
                Err(StoreError::Compacted { requested, compacted }) => Some(live_render.error(
                    ApiError::expired(format!("too old resource version: {} ({compacted})", requested - 1)),
                )),
                Err(other) => Some(live_render.error(ApiError::internal(other.to_string()))),
            };
            futures::future::ready(out)
        })
        .take_until(tokio::time::sleep(timeout));
    let body = stream::iter(initial).chain(live).map(Ok::<_, Infallible>);
    Ok(stream_response(Body::from_stream(body)))
}

fn stream_response(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The watch event a store event becomes for this watcher, if any: objects that start or stop
/// matching the selectors are ADDED or DELETED, as upstream does.
fn translate(event: &Event, filter: &Filter, exact_key: Option<&str>) -> Option<(&'static str, Value)> {
    if exact_key.is_some_and(|k| k != event.kv.key) {
        return None;
    }
    let before = event.prev.as_ref().and_then(|p| to_object(p).ok());
    let matched_before = before.as_ref().is_some_and(|b| filter.matches(b));
    match event.kind {
        EventKind::Delete => {
            let mut obj = before?;
            metadata_mut(&mut obj).insert("resourceVersion".into(), json!(event.revision().to_string()));
            matched_before.then_some(("DELETED", obj))
        }
        EventKind::Create | EventKind::Update => {
            let obj = to_object(&event.kv).ok()?;
            match (matched_before, filter.matches(&obj)) {
                (true, true) => Some(("MODIFIED", obj)),
                (false, true) => Some(("ADDED", obj)),
                (true, false) => Some(("DELETED", obj)),
                (false, false) => None,
            }
        }
    }
}
