//! WATCH: a stream of JSON lines (`{"type": ..., "object": ...}`), starting from a
//! resourceVersion or from the current state, with WatchList's initial-events bookmark.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use futures::{StreamExt, stream};
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tug_api::{meta::metadata_mut, status::ApiError, table::IncludeObject};
use tug_store::{Event, EventKind, StoreError};

use super::{
    Params, Target,
    read::{Filter, render_table, wants_table},
    to_object,
};
use crate::{
    AppState,
    cache::{Change, ChangeKind, Entry, Start, Subscription, WatchCache, event_line},
    error::Error,
};

/// Upstream picks a random timeout between 30 and 60 minutes; one fixed value is enough here.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
/// How often a watcher that allows bookmarks gets one, as upstream's cacher (about a minute).
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

/// How events are rendered for this watcher.
#[derive(Clone)]
struct Render {
    target: Target,
    table: bool,
    /// Metadata only (PartialObjectMetadata), as metadata informers ask.
    partial: bool,
}

impl Render {
    /// The line of a cached change: shared by every watcher that renders plain JSON.
    fn change_line(&self, kind: ChangeKind, change: &Change) -> bytes::Bytes {
        if self.plain() {
            return change.json_line(kind);
        }
        self.entry_line(kind, &change.object, change.revision)
    }

    fn entry_line(&self, kind: ChangeKind, entry: &Entry, rv: i64) -> bytes::Bytes {
        if self.plain() {
            return event_line(kind, entry, rv);
        }
        match entry.object(rv) {
            Some(obj) => self.line(kind.as_str(), obj),
            None => self.error(ApiError::internal(format!("stored object {} is not JSON", entry.key))),
        }
    }

    /// Stored bytes can go out as they are: no Table, no apiVersion rewriting.
    fn plain(&self) -> bool {
        !self.table && !self.partial && !self.target.converts()
    }

    fn line(&self, kind: &str, obj: Value) -> bytes::Bytes {
        let object = if self.table && kind != "ERROR" && kind != "BOOKMARK" {
            let rv =
                obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("").to_string();
            render_table(&self.target.resource, &[obj], &rv, IncludeObject::Metadata)
        } else if kind == "ERROR" {
            obj
        } else if self.partial && kind != "BOOKMARK" {
            super::partial_metadata(&obj)
        } else {
            self.target.present_version(obj)
        };
        let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
        line.push(b'\n');
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
    let mut filter = Filter::from_params(&target.resource, &params)?;
    let exact_key = target.name.as_ref().map(|n| target.key(n));
    if let Some(name) = &target.name {
        filter.fields = tug_api::selector::FieldSelector::parse(&format!("metadata.name={name}"))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let options = Options {
        render: Render {
            target: target.clone(),
            table: wants_table(&headers),
            partial: super::wants_partial_metadata(&headers),
        },
        filter,
        timeout: params
            .get("timeoutSeconds")
            .and_then(|t| t.parse::<u64>().ok())
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs),
        send_initial: params.get("sendInitialEvents").is_some_and(|v| v == "true"),
        bookmarks: params.get("allowWatchBookmarks").is_some_and(|v| v == "true"),
        scope: exact_key.clone().unwrap_or_else(|| target.collection_prefix()),
    };
    let rv = params.get("resourceVersion").map(String::as_str).unwrap_or("");
    let (start, wanted) = if options.send_initial || rv.is_empty() || rv == "0" {
        // Unset means the latest state; "0" any state the cache has.
        let wanted = if rv.is_empty() { state.store.revision().await? } else { 1 };
        (Start::Now { initial: true }, wanted)
    } else {
        let n: i64 =
            rv.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?;
        (Start::After(n), n)
    };
    let subscription = match state.cache.wait_for(wanted).await {
        true => state.cache.subscribe(&target.resource.key_prefix(), &options.scope, start),
        false => None,
    };
    match subscription {
        Some(sub) => Ok(stream_response(Body::from_stream(
            from_cache(state.cache.clone(), sub, options).map(Ok::<_, Infallible>),
        ))),
        // Older than the cache's window (or the cache is behind): the datastore's own watch
        // serves it, or says it is too old.
        None => watch_stored(state, options, exact_key, rv).await,
    }
}

/// What a watcher asked for.
struct Options {
    render: Render,
    filter: Filter,
    timeout: Duration,
    send_initial: bool,
    bookmarks: bool,
    /// Keys the watch covers: a collection prefix or one object's key.
    scope: String,
}

/// A watch served by the cache: the initial objects (or the replayed changes), then the
/// changes as they come, with a BOOKMARK every [`BOOKMARK_INTERVAL`] when asked for.
fn from_cache(
    cache: Arc<WatchCache>,
    sub: Subscription,
    options: Options,
) -> impl futures::Stream<Item = bytes::Bytes> + Send {
    let Options { render, filter, timeout, send_initial, bookmarks, scope } = options;
    let mut first = Vec::new();
    for entry in &sub.initial {
        if filter.matches_attrs(&entry.attrs) {
            first.push(render.entry_line(ChangeKind::Added, entry, entry.mod_revision));
        }
    }
    if send_initial {
        first.push(render.bookmark(sub.revision, true));
    }
    for change in &sub.replay {
        if let Some(kind) = translate(change, &filter) {
            first.push(render.entry_line(kind, &change.object, change.revision));
        }
    }
    let live = Live {
        cache,
        changes: sub.changes,
        filter,
        render,
        scope,
        last_sent: sub.revision,
        bookmarks,
        next_bookmark: tokio::time::Instant::now() + BOOKMARK_INTERVAL,
        ended: false,
    };
    let live = stream::unfold(live, Live::next_lines).flat_map(stream::iter);
    stream::iter(first).chain(live).take_until(tokio::time::sleep(timeout))
}

/// The live part of a cached watch.
struct Live {
    cache: Arc<WatchCache>,
    changes: broadcast::Receiver<Arc<Change>>,
    filter: Filter,
    render: Render,
    scope: String,
    /// Revision of the last change this watcher was given.
    last_sent: i64,
    bookmarks: bool,
    next_bookmark: tokio::time::Instant,
    ended: bool,
}

impl Live {
    /// The next lines to send, or `None` when the watch ends: the cache reloaded, or this
    /// watcher fell too far behind (its client watches again from the last revision it saw,
    /// as with upstream's cacher).
    async fn next_lines(mut self) -> Option<(Vec<bytes::Bytes>, Live)> {
        if self.ended {
            return None;
        }
        let tick = tokio::time::sleep_until(self.next_bookmark);
        tokio::select! {
            received = self.changes.recv() => match received {
                Ok(change) => {
                    let lines = self.lines_of(&change).into_iter().collect();
                    Some((lines, self))
                }
                Err(_) => None,
            },
            () = tick, if self.bookmarks => {
                // Everything the cache had at `seen` is already queued for this watcher: send
                // it, then a bookmark at `seen`.
                let seen = self.cache.revision();
                let mut lines = Vec::new();
                loop {
                    match self.changes.try_recv() {
                        Ok(change) => lines.extend(self.lines_of(&change)),
                        Err(broadcast::error::TryRecvError::Empty) => break,
                        Err(_) => {
                            self.ended = true;
                            return Some((lines, self));
                        }
                    }
                }
                let revision = seen.max(self.last_sent);
                self.next_bookmark = tokio::time::Instant::now() + BOOKMARK_INTERVAL;
                lines.push(self.render.bookmark(revision, false));
                Some((lines, self))
            }
        }
    }

    fn lines_of(&mut self, change: &Change) -> Option<bytes::Bytes> {
        self.last_sent = self.last_sent.max(change.revision);
        if !change.key().starts_with(&self.scope) {
            return None;
        }
        let kind = translate(change, &self.filter)?;
        Some(self.render.change_line(kind, change))
    }
}

/// The event a change becomes for this watcher, if any: objects that start or stop matching
/// the selectors are ADDED or DELETED, as upstream does.
fn translate(change: &Change, filter: &Filter) -> Option<ChangeKind> {
    let now = filter.matches_attrs(&change.object.attrs);
    if change.kind == ChangeKind::Deleted {
        return now.then_some(ChangeKind::Deleted);
    }
    let before = change.prev.as_ref().is_some_and(|p| filter.matches_attrs(&p.attrs));
    match (before, now) {
        (true, true) => Some(ChangeKind::Modified),
        (false, true) => Some(ChangeKind::Added),
        (true, false) => Some(ChangeKind::Deleted),
        (false, false) => None,
    }
}

/// A watch served by the datastore, for starting revisions the cache no longer holds.
async fn watch_stored(
    state: AppState,
    options: Options,
    exact_key: Option<String>,
    rv: &str,
) -> Result<Response, Error> {
    let Options { render, filter, timeout, send_initial, scope: prefix, .. } = options;
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
                Ok(event) => translate_stored(&event, &filter, exact_key.as_deref())
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

/// The watch event a datastore event becomes for this watcher, if any (see [`translate`]).
fn translate_stored(
    event: &Event,
    filter: &Filter,
    exact_key: Option<&str>,
) -> Option<(&'static str, Value)> {
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use serde_json::json;
    use tug_store::{Store, embedded::Embedded};

    use super::*;
    use crate::registry::Registry;

    fn configmap(name: &str, app: &str) -> Bytes {
        let obj = json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": name, "labels": {"app": app}}});
        Bytes::from(obj.to_string())
    }

    fn options(labels: &str, bookmarks: bool) -> Options {
        let resource = Registry::builtin().find("", "v1", "configmaps").unwrap();
        let params = Params::from([("labelSelector".to_string(), labels.to_string())]);
        let filter = Filter::from_params(&resource, &params).unwrap();
        Options {
            render: Render {
                target: Target {
                    resource,
                    namespace: None,
                    name: None,
                    subresource: None,
                    watch_path: false,
                },
                table: false,
                partial: false,
            },
            filter,
            timeout: DEFAULT_TIMEOUT,
            send_initial: true,
            bookmarks,
            scope: "/registry/core/configmaps/".into(),
        }
    }

    fn parse(line: &Bytes) -> Value {
        serde_json::from_slice(line).unwrap()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn selectors_turn_changes_into_added_modified_and_deleted_and_bookmarks_follow() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(Embedded::open_dir(dir.path()).unwrap());
        let rev = store.create("/registry/core/configmaps/a/one", configmap("one", "x")).await.unwrap();
        let (cache, _task) = WatchCache::start(store.clone());
        assert!(cache.wait_for(rev).await);
        let scope = "/registry/core/configmaps/";
        let sub = cache.subscribe(scope, scope, Start::Now { initial: true }).unwrap();
        let mut lines = Box::pin(from_cache(cache.clone(), sub, options("app=x", true)));

        let added = parse(&lines.next().await.unwrap());
        assert_eq!(
            (added["type"].as_str(), added["object"]["metadata"]["name"].as_str()),
            (Some("ADDED"), Some("one"))
        );
        let end = parse(&lines.next().await.unwrap());
        assert_eq!(end["type"], "BOOKMARK");
        assert_eq!(end["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");

        // Leaving the selector is a DELETED, coming back an ADDED, others are not seen.
        let rev = store.update("/registry/core/configmaps/a/one", configmap("one", "y"), rev).await.unwrap();
        let rev = store.update("/registry/core/configmaps/a/one", configmap("one", "x"), rev).await.unwrap();
        store.create("/registry/core/configmaps/a/two", configmap("two", "y")).await.unwrap();
        let (last, _) = store.delete("/registry/core/configmaps/a/one", Some(rev)).await.unwrap();
        let mut seen = Vec::new();
        for _ in 0..3 {
            let line = parse(&lines.next().await.unwrap());
            seen.push(line["type"].as_str().unwrap().to_string());
        }
        assert_eq!(seen, ["DELETED", "ADDED", "DELETED"]);

        // A quiet watch gets a bookmark at the cache's revision.
        assert!(cache.wait_for(last).await);
        tokio::time::pause();
        let bookmark = parse(&lines.next().await.unwrap());
        assert_eq!(bookmark["type"], "BOOKMARK");
        assert_eq!(bookmark["object"]["metadata"]["resourceVersion"], last.to_string());
    }
}
