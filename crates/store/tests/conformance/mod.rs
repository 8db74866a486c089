//! One behaviour suite that every backend must pass; `conformance_suite!` instantiates it.

#![allow(dead_code)]

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use futures::StreamExt;
use tug_store::{Event, EventKind, MAX_VALUE_SIZE, Store, StoreError, WatchStream};

/// A store under test and whatever keeps it alive (temp dirs, an etcd process).
pub struct Fixture {
    pub store: Arc<dyn Store>,
    pub guard: Box<dyn std::any::Any + Send>,
}

pub fn v(s: &str) -> Bytes {
    Bytes::from(s.to_string())
}

/// Next watch item, failing the test if none comes within 10 s.
pub async fn next(w: &mut WatchStream) -> Result<Event, StoreError> {
    tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .expect("watch event within 10 s")
        .expect("watch stream ended early")
}

pub async fn create_get_and_revisions(f: Fixture) {
    let s = &f.store;
    let r0 = s.revision().await.unwrap();
    let r1 = s.create("/c/a", v("one")).await.unwrap();
    assert_eq!(r1, r0 + 1);
    let (kv, rev) = s.get("/c/a").await.unwrap();
    let kv = kv.unwrap();
    assert_eq!(
        (kv.key.as_str(), &kv.value[..], kv.create_revision, kv.mod_revision),
        ("/c/a", &b"one"[..], r1, r1)
    );
    assert_eq!(rev, r1);
    assert!(matches!(s.create("/c/a", v("two")).await, Err(StoreError::AlreadyExists { .. })));
    assert_eq!(s.revision().await.unwrap(), r1, "a failed write consumes no revision");
    assert_eq!(s.get("/c/missing").await.unwrap(), (None, r1));
}

pub async fn update_is_optimistic(f: Fixture) {
    let s = &f.store;
    let r1 = s.create("/u/a", v("one")).await.unwrap();
    let r2 = s.update("/u/a", v("two"), r1).await.unwrap();
    assert_eq!(r2, r1 + 1);
    let kv = s.get("/u/a").await.unwrap().0.unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision, &kv.value[..]), (r1, r2, &b"two"[..]));
    match s.update("/u/a", v("three"), r1).await {
        Err(StoreError::Conflict { expected, current: Some(cur), .. }) => {
            assert_eq!(expected, r1);
            assert_eq!((cur.mod_revision, &cur.value[..]), (r2, &b"two"[..]));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(matches!(s.update("/u/missing", v("x"), r1).await, Err(StoreError::NotFound { .. })));
    assert_eq!(s.revision().await.unwrap(), r2);
}

pub async fn delete_is_optimistic(f: Fixture) {
    let s = &f.store;
    let r1 = s.create("/d/a", v("one")).await.unwrap();
    let r2 = s.update("/d/a", v("two"), r1).await.unwrap();
    match s.delete("/d/a", Some(r1)).await {
        Err(StoreError::Conflict { current: Some(cur), .. }) => assert_eq!(cur.mod_revision, r2),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let (r3, prev) = s.delete("/d/a", Some(r2)).await.unwrap();
    assert_eq!(r3, r2 + 1);
    assert_eq!((&prev.value[..], prev.mod_revision, prev.create_revision), (&b"two"[..], r2, r1));
    assert!(matches!(s.delete("/d/a", None).await, Err(StoreError::NotFound { .. })));
    s.create("/d/b", v("x")).await.unwrap();
    let (_, prev) = s.delete("/d/b", None).await.unwrap();
    assert_eq!(&prev.value[..], b"x");
    assert_eq!(s.get("/d/b").await.unwrap().0, None);
}

pub async fn list_paginates_in_key_order(f: Fixture) {
    let s = &f.store;
    for i in 0..25 {
        s.create(&format!("/l/items/{i:03}"), v(&i.to_string())).await.unwrap();
    }
    // Neighbours that must not leak into the prefix.
    s.create("/l/items", v("parent")).await.unwrap();
    s.create("/l/itemsz", v("sibling")).await.unwrap();
    s.create("/l/other/1", v("other")).await.unwrap();
    let head = s.revision().await.unwrap();

    let all = s.list("/l/items/", None, 0).await.unwrap();
    assert_eq!(all.kvs.len(), 25);
    assert!(!all.more);
    assert_eq!(all.revision, head);
    assert!(all.kvs.windows(2).all(|w| w[0].key < w[1].key));

    let mut seen = Vec::new();
    let mut start: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = s.list("/l/items/", start.as_deref(), 10).await.unwrap();
        pages += 1;
        assert!(page.kvs.len() <= 10);
        seen.extend(page.kvs.iter().map(|kv| kv.key.clone()));
        if !page.more {
            break;
        }
        start = Some(format!("{}\0", page.kvs.last().unwrap().key));
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, all.kvs.iter().map(|kv| kv.key.clone()).collect::<Vec<_>>());
    assert_eq!(s.count("/l/items/").await.unwrap(), (25, head));
    assert!(matches!(s.list("/l/items/", Some("/l/other/1"), 10).await, Err(StoreError::InvalidArgument(_))));
    let empty = s.list("/l/nothing/", None, 10).await.unwrap();
    assert!(empty.kvs.is_empty() && !empty.more);
}

pub async fn watch_replays_from_a_revision(f: Fixture) {
    let s = &f.store;
    let r1 = s.create("/w/a", v("1")).await.unwrap();
    let r2 = s.update("/w/a", v("2"), r1).await.unwrap();
    s.create("/x/ignored", v("x")).await.unwrap();
    let (r3, _) = s.delete("/w/a", None).await.unwrap();

    let mut w = s.watch("/w/", r1).await.unwrap();
    let e = next(&mut w).await.unwrap();
    assert_eq!(
        (e.kind, e.revision(), &e.kv.value[..], e.prev.is_none()),
        (EventKind::Create, r1, &b"1"[..], true)
    );
    let e = next(&mut w).await.unwrap();
    assert_eq!((e.kind, e.revision()), (EventKind::Update, r2));
    assert_eq!(&e.prev.as_ref().unwrap().value[..], b"1");
    let e = next(&mut w).await.unwrap();
    assert_eq!((e.kind, e.revision(), e.kv.key.as_str()), (EventKind::Delete, r3, "/w/a"));
    let prev = e.prev.unwrap();
    assert_eq!((&prev.value[..], prev.mod_revision, prev.create_revision), (&b"2"[..], r2, r1));

    // Then live events, in order, after the replayed ones.
    let r4 = s.create("/w/b", v("live")).await.unwrap();
    let e = next(&mut w).await.unwrap();
    assert_eq!((e.kind, e.revision(), e.kv.key.as_str()), (EventKind::Create, r4, "/w/b"));
}

pub async fn watch_from_now_sees_only_new_events(f: Fixture) {
    let s = &f.store;
    s.create("/n/old", v("old")).await.unwrap();
    let mut w = s.watch("/n/", 0).await.unwrap();
    let mut other = s.watch("/m/", 0).await.unwrap();
    let r = s.create("/n/new", v("new")).await.unwrap();
    s.create("/m/1", v("m")).await.unwrap();
    let e = next(&mut w).await.unwrap();
    assert_eq!((e.kv.key.as_str(), e.revision()), ("/n/new", r));
    let e = next(&mut other).await.unwrap();
    assert_eq!(e.kv.key, "/m/1", "prefix filtering");
}

pub async fn watch_sees_every_revision_in_order_under_concurrent_writes(f: Fixture) {
    let s = f.store.clone();
    let start = s.revision().await.unwrap() + 1;
    let mut w = s.watch("/cw/", start).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..25 {
                revs.push(s.create(&format!("/cw/{t}/{i}"), v("x")).await.unwrap());
            }
            revs
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    acked.sort();
    let mut dedup = acked.clone();
    dedup.dedup();
    assert_eq!(dedup.len(), 400, "every write has its own revision");
    let mut seen = Vec::new();
    for _ in 0..400 {
        seen.push(next(&mut w).await.unwrap().revision());
    }
    assert_eq!(seen, acked, "watch delivers every write once, in revision order");
    assert_eq!(s.count("/cw/").await.unwrap().0, 400);
}

pub async fn compaction_fails_old_watches(f: Fixture) {
    let s = &f.store;
    let mut revs = Vec::new();
    for i in 0..10 {
        revs.push(s.create(&format!("/k/{i}"), v("x")).await.unwrap());
    }
    let cut = revs[5];
    s.compact(cut).await.unwrap();
    s.compact(revs[2]).await.unwrap(); // older: a no-op
    match s.watch("/k/", revs[1]).await {
        Err(StoreError::Compacted { requested, compacted }) => {
            assert_eq!(requested, revs[1]);
            assert!(compacted >= cut);
        }
        Err(other) => panic!("expected Compacted, got {other:?}"),
        Ok(_) => panic!("expected Compacted, got a watch"),
    }
    let mut w = s.watch("/k/", cut).await.unwrap();
    for rev in &revs[5..] {
        assert_eq!(next(&mut w).await.unwrap().revision(), *rev);
    }
    // Current values survive compaction.
    assert_eq!(s.list("/k/", None, 0).await.unwrap().kvs.len(), 10);
    assert!(s.compact(s.revision().await.unwrap() + 100).await.is_err(), "future revision");
}

pub async fn background_compactor_keeps_its_window(f: Fixture) {
    use tug_store::compactor::{self, Retention};
    let s = &f.store;
    let first = s.create("/bc/0", v("x")).await.unwrap();
    for i in 1..20 {
        s.create(&format!("/bc/{i}"), v("x")).await.unwrap();
    }
    let head = s.revision().await.unwrap();
    let retention =
        Retention { min_age: Duration::ZERO, min_revisions: 5, interval: Duration::from_millis(20) };
    let task = tokio::spawn(compactor::run(f.store.clone(), retention));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match s.watch("/bc/", first).await {
            Err(StoreError::Compacted { .. }) => break,
            Err(other) => panic!("expected Compacted, got {other:?}"),
            Ok(_) => assert!(tokio::time::Instant::now() < deadline, "the compactor never compacted"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    // The newest `min_revisions` revisions are kept.
    let mut w = s.watch("/bc/", head - 4).await.unwrap();
    assert_eq!(next(&mut w).await.unwrap().revision(), head - 4);
}

pub async fn value_size_limit(f: Fixture) {
    let s = &f.store;
    let max = Bytes::from(vec![7u8; MAX_VALUE_SIZE]);
    s.create("/big/ok", max.clone()).await.unwrap();
    assert_eq!(s.get("/big/ok").await.unwrap().0.unwrap().value, max);
    let over = Bytes::from(vec![7u8; MAX_VALUE_SIZE + 1]);
    match s.create("/big/over", over).await {
        Err(StoreError::ValueTooLarge { size, limit, .. }) => {
            assert_eq!((size, limit), (MAX_VALUE_SIZE + 1, MAX_VALUE_SIZE))
        }
        other => panic!("expected ValueTooLarge, got {other:?}"),
    }
    assert!(matches!(s.create("", v("x")).await, Err(StoreError::InvalidArgument(_))));
}

/// A watcher that never reads must not hold up writers or other watchers.
pub async fn stuck_watcher_does_not_stall_others(f: Fixture) -> WatchStream {
    let s = &f.store;
    let stuck = s.watch("/s/", 0).await.unwrap();
    let mut healthy = s.watch("/s/", 0).await.unwrap();
    let value = Bytes::from(vec![b'x'; 512]);
    let total = 6000;
    let writers: Vec<_> = (0..8)
        .map(|t| {
            let s = f.store.clone();
            let value = value.clone();
            tokio::spawn(async move {
                for i in 0..total / 8 {
                    s.create(&format!("/s/{t}/{i}"), value.clone()).await.unwrap();
                }
            })
        })
        .collect();
    let mut received = 0;
    while received < total {
        next(&mut healthy).await.unwrap();
        received += 1;
    }
    for w in writers {
        tokio::time::timeout(Duration::from_secs(60), w).await.expect("writers finish").unwrap();
    }
    stuck
}

/// Instantiates the suite for a backend: `$make` is an async fn returning a [`Fixture`].
#[macro_export]
macro_rules! conformance_suite {
    ($make:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn create_get_and_revisions() {
            conformance::create_get_and_revisions($make().await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn update_is_optimistic() {
            conformance::update_is_optimistic($make().await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn delete_is_optimistic() {
            conformance::delete_is_optimistic($make().await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn list_paginates_in_key_order() {
            conformance::list_paginates_in_key_order($make().await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn watch_replays_from_a_revision() {
            conformance::watch_replays_from_a_revision($make().await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn watch_from_now_sees_only_new_events() {
            conformance::watch_from_now_sees_only_new_events($make().await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn watch_sees_every_revision_in_order_under_concurrent_writes() {
            conformance::watch_sees_every_revision_in_order_under_concurrent_writes($make().await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn compaction_fails_old_watches() {
            conformance::compaction_fails_old_watches($make().await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn background_compactor_keeps_its_window() {
            conformance::background_compactor_keeps_its_window($make().await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn value_size_limit() {
            conformance::value_size_limit($make().await).await
        }
    };
}
