use std::sync::Arc;

use bytes::Bytes;
use serde_json::json;
use tug_store::{Store, embedded::Embedded};

use super::*;

const PODS: &str = "/registry/core/pods/";

fn pod(name: &str, app: &str) -> Bytes {
    Bytes::from(json!({"kind": "Pod", "metadata": {"name": name, "labels": {"app": app}}}).to_string())
}

async fn started() -> (tempfile::TempDir, Arc<dyn Store>, Arc<WatchCache>) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(Embedded::open_dir(dir.path()).unwrap());
    store.create("/registry/core/pods/a/p1", pod("p1", "x")).await.unwrap();
    store.create("/registry/core/pods/b/p2", pod("p2", "y")).await.unwrap();
    let (cache, _task) = WatchCache::start(store.clone());
    assert!(cache.wait_for(store.revision().await.unwrap()).await);
    (dir, store, cache)
}

fn keys(entries: &[Arc<Entry>]) -> Vec<&str> {
    entries.iter().map(|e| e.key.as_str()).collect()
}

#[tokio::test]
async fn lists_what_the_store_holds_and_follows_writes() {
    let (_dir, store, cache) = started().await;
    let listed = cache.list(PODS, None, 0, |_| true);
    assert_eq!(keys(&listed.entries), ["/registry/core/pods/a/p1", "/registry/core/pods/b/p2"]);

    let rev = store.create("/registry/core/pods/a/p3", pod("p3", "x")).await.unwrap();
    assert!(cache.wait_for(rev).await);
    let listed = cache.list("/registry/core/pods/a/", None, 0, |_| true);
    assert_eq!(keys(&listed.entries), ["/registry/core/pods/a/p1", "/registry/core/pods/a/p3"]);
    assert_eq!(listed.revision, rev);

    let (rev, _) = store.delete("/registry/core/pods/a/p1", None).await.unwrap();
    assert!(cache.wait_for(rev).await);
    assert_eq!(keys(&cache.list(PODS, None, 0, |_| true).entries).len(), 2);
}

#[tokio::test]
async fn pages_and_filters() {
    let (_dir, store, cache) = started().await;
    let rev = store.create("/registry/core/pods/c/p3", pod("p3", "x")).await.unwrap();
    assert!(cache.wait_for(rev).await);
    let is_x = |e: &Entry| e.attrs.label("app") == Some("x");
    let first = cache.list(PODS, None, 1, is_x);
    assert_eq!(keys(&first.entries), ["/registry/core/pods/a/p1"]);
    let after = first.more_after.expect("more");
    let second = cache.list(PODS, Some(&format!("{after}\0")), 1, is_x);
    assert_eq!(keys(&second.entries), ["/registry/core/pods/c/p3"]);
    assert_eq!(second.more_after, None);
}

#[tokio::test]
async fn a_watch_from_now_sees_the_state_then_the_changes() {
    let (_dir, store, cache) = started().await;
    let mut sub = cache.subscribe(PODS, "/registry/core/pods/a/", Start::Now { initial: true }).unwrap();
    assert_eq!(keys(&sub.initial), ["/registry/core/pods/a/p1"]);
    store.update("/registry/core/pods/a/p1", pod("p1", "z"), sub.initial[0].mod_revision).await.unwrap();
    let change = sub.changes.recv().await.unwrap();
    assert_eq!(change.kind, ChangeKind::Modified);
    assert_eq!(change.prev.as_ref().unwrap().attrs.label("app"), Some("x"));
    assert_eq!(change.object.attrs.label("app"), Some("z"));
}

#[tokio::test]
async fn a_watch_from_a_revision_replays_what_followed_it() {
    let (_dir, store, cache) = started().await;
    let start = cache.revision();
    store.create("/registry/core/pods/a/p3", pod("p3", "x")).await.unwrap();
    store.create("/registry/core/configmaps/a/c", pod("c", "x")).await.unwrap();
    let (rev, _) = store.delete("/registry/core/pods/b/p2", None).await.unwrap();
    assert!(cache.wait_for(rev).await);
    let sub = cache.subscribe(PODS, PODS, Start::After(start)).unwrap();
    let replayed: Vec<_> = sub.replay.iter().map(|c| (c.kind, c.key().to_string())).collect();
    assert_eq!(
        replayed,
        [
            (ChangeKind::Added, "/registry/core/pods/a/p3".to_string()),
            (ChangeKind::Deleted, "/registry/core/pods/b/p2".to_string()),
        ]
    );
    assert_eq!(sub.revision, rev);
    // Before the first load there is no history to replay from.
    assert!(cache.subscribe(PODS, PODS, Start::After(0)).is_none());
}

#[test]
fn resource_prefixes() {
    assert_eq!(resource_prefix("/registry/core/pods/ns/name"), "/registry/core/pods/");
    assert_eq!(resource_prefix("/registry/core/nodes/n1"), "/registry/core/nodes/");
    assert_eq!(resource_prefix("/registry/x"), "/registry/x");
}
