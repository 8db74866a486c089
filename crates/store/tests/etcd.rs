//! The etcd backend against a real etcd (Debian's etcd-server) on loopback.

mod conformance;

use std::sync::Arc;

use conformance::{Fixture, next, v};
use tug_store::{
    Store,
    etcd::{Etcd, LocalEtcd},
};

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let etcd = LocalEtcd::start(dir.path()).await.expect("etcd starts (run scripts/setup.sh)");
    let store = Etcd::connect(&[etcd.endpoint()]).await.unwrap();
    Fixture { store: Arc::new(store), guard: Box::new((etcd, dir)) }
}

conformance_suite!(fixture);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_watcher_does_not_stall_others() {
    // etcd itself keeps a slow watcher alive (it catches up from its own history); what we
    // check is that our client never lets it hold up writers or another watcher.
    let f = fixture().await;
    let stuck = conformance::stuck_watcher_does_not_stall_others(f).await;
    drop(stuck);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_etcd_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut etcd = LocalEtcd::start(dir.path()).await.unwrap();
    let store = Arc::new(Etcd::connect(&[etcd.endpoint()]).await.unwrap());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let writers: Vec<_> = (0..16)
        .map(|t| {
            let store = store.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0.. {
                    let key = format!("/crash/{t}/{i}");
                    match store.create(&key, v(&key)).await {
                        Ok(rev) => {
                            if tx.send((key, rev)).is_err() {
                                return;
                            }
                        }
                        Err(_) => return, // etcd is gone: the write was not acknowledged
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let mut acked = Vec::new();
    while let Some(ack) = rx.recv().await {
        acked.push(ack);
        if acked.len() == 1500 {
            etcd.kill();
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    etcd.restart().await.unwrap();
    let store = Etcd::connect(&[etcd.endpoint()]).await.unwrap();
    for (key, rev) in &acked {
        let kv = store.get(key).await.unwrap().0.unwrap_or_else(|| panic!("acknowledged {key} lost"));
        assert_eq!((kv.mod_revision, kv.value.clone()), (*rev, v(key)));
    }
    let mut w = store.watch("/crash/", acked.last().unwrap().1).await.unwrap();
    next(&mut w).await.unwrap();
}
