//! The embedded backend: redb on local disk, one writer thread, watch fed in process.
//!
//! Tables: `kv` holds each key's current value, `log` every change by revision (with the
//! previous value, for watch replay), `meta` the current, compacted and purged revisions.

mod codec;
mod hub;
mod watch;
mod writer;

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicI64, Ordering},
        mpsc,
    },
    thread::JoinHandle,
};

use async_trait::async_trait;
use bytes::Bytes;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use crate::{
    KeyValue, ListResult, Result, Revision, Store, StoreError, WatchStream,
    store::{check_list, check_write, prefix_end},
};
use hub::Hub;
use writer::{Op, Outcome, Request};

pub(crate) const KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");
pub(crate) const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(crate) const META_REVISION: &str = "revision";
pub(crate) const META_COMPACTED: &str = "compacted";
pub(crate) const META_PURGED: &str = "purged";

/// How to open the embedded store.
#[derive(Clone, Debug)]
pub struct Options {
    /// The database file.
    pub path: PathBuf,
    /// Memory redb may use to cache pages.
    pub cache_size: usize,
    /// Save redb's allocator state with every commit (two-phase), so that reopening after a
    /// crash is immediate instead of a walk over the whole file. Costs commit latency.
    pub quick_repair: bool,
}

impl Options {
    /// Defaults for a database file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Options { path: path.into(), cache_size: 64 << 20, quick_repair: true }
    }
}

/// State shared by the handle, the writer thread and watch streams.
pub(crate) struct Shared {
    pub db: Database,
    /// Last committed revision.
    pub revision: AtomicI64,
    /// Watches may not start before this revision.
    pub compacted: AtomicI64,
    pub hub: Hub,
}

/// The embedded datastore. Dropping it stops the writer once queued writes are committed;
/// [`Embedded::close`] also waits for that.
pub struct Embedded {
    shared: Arc<Shared>,
    requests: Mutex<Option<mpsc::Sender<Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Embedded {
    /// Opens (or creates) the database, recovering from a crash if needed.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the file cannot be opened or is damaged.
    pub fn open(options: Options) -> Result<Self> {
        if let Some(dir) = options.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::unavailable(&format!("create {}", dir.display()), e))?;
        }
        let db = Database::builder()
            .set_cache_size(options.cache_size)
            .create(&options.path)
            .map_err(|e| StoreError::unavailable(&format!("open {}", options.path.display()), e))?;
        let (revision, compacted, purged) = init_tables(&db)?;
        let shared = Arc::new(Shared {
            db,
            revision: AtomicI64::new(revision),
            compacted: AtomicI64::new(compacted),
            hub: Hub::new(revision),
        });
        let (tx, rx) = mpsc::channel();
        let thread_shared = shared.clone();
        let writer = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer::run(thread_shared, rx, purged, options.quick_repair))
            .map_err(|e| StoreError::unavailable("start writer thread", e))?;
        Ok(Embedded { shared, requests: Mutex::new(Some(tx)), writer: Mutex::new(Some(writer)) })
    }

    /// Opens the store file `state.redb` inside `dir`.
    pub fn open_dir(dir: &Path) -> Result<Self> {
        Self::open(Options::new(dir.join("state.redb")))
    }

    /// Stops accepting writes, waits for queued ones to commit and for the writer to exit.
    /// The file is released once watch streams still open are dropped.
    pub async fn close(&self) {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner).take();
        let handle = self.writer.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }

    /// Number of live watchers (for tests and metrics).
    pub fn watcher_count(&self) -> usize {
        self.shared.hub.watcher_count()
    }

    async fn submit(&self, op: Op) -> Result<Outcome> {
        let (reply, rx) = oneshot::channel();
        {
            let requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
            let sender = requests.as_ref().ok_or_else(closed)?;
            sender.send(Request { op, reply }).map_err(|_| closed())?;
        }
        rx.await.map_err(|_| closed())?
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T> + Send + 'static,
    ) -> Result<(T, Revision)> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let txn = shared.db.begin_read().map_err(redb_err("begin read"))?;
            let revision = read_meta(&txn, META_REVISION)?;
            Ok((f(&txn)?, revision))
        })
        .await
        .map_err(|e| StoreError::unavailable("read task", e))?
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the datastore is closed".into())
}

pub(crate) fn redb_err<E: std::fmt::Display>(context: &'static str) -> impl Fn(E) -> StoreError {
    move |e| StoreError::unavailable(context, e)
}

fn read_meta(txn: &redb::ReadTransaction, name: &str) -> Result<Revision> {
    let meta = txn.open_table(META).map_err(redb_err("open meta"))?;
    let value = meta.get(name).map_err(redb_err("read meta"))?;
    Ok(value.map_or(0, |v| v.value() as Revision))
}

/// Creates the tables on first open; returns the revision, compacted and purged revisions.
fn init_tables(db: &Database) -> Result<(Revision, Revision, Revision)> {
    let txn = db.begin_write().map_err(redb_err("begin write"))?;
    let found = {
        txn.open_table(KV).map_err(redb_err("create kv"))?;
        txn.open_table(LOG).map_err(redb_err("create log"))?;
        let mut meta = txn.open_table(META).map_err(redb_err("create meta"))?;
        let mut get = |name: &str, default: u64| -> Result<Revision> {
            let value = meta.get(name).map_err(redb_err("read meta"))?.map(|v| v.value());
            match value {
                Some(v) => Ok(v as Revision),
                None => {
                    meta.insert(name, default).map_err(redb_err("write meta"))?;
                    Ok(default as Revision)
                }
            }
        };
        // etcd starts an empty store at revision 1; so do we.
        (get(META_REVISION, 1)?, get(META_COMPACTED, 0)?, get(META_PURGED, 0)?)
    };
    txn.commit().map_err(redb_err("commit"))?;
    Ok(found)
}

#[async_trait]
impl Store for Embedded {
    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision)> {
        let key = key.to_string();
        self.read(move |txn| {
            let kv = txn.open_table(KV).map_err(redb_err("open kv"))?;
            match kv.get(key.as_bytes()).map_err(redb_err("read kv"))? {
                Some(raw) => Ok(Some(codec::decode_value(key.as_bytes(), raw.value())?)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn list(&self, prefix: &str, start: Option<&str>, limit: usize) -> Result<ListResult> {
        check_list(prefix, start)?;
        let from = start.unwrap_or(prefix).as_bytes().to_vec();
        let end = prefix_end(prefix);
        let ((kvs, more), revision) = self
            .read(move |txn| {
                let table = txn.open_table(KV).map_err(redb_err("open kv"))?;
                let range = match &end {
                    Some(end) => table.range::<&[u8]>(from.as_slice()..end.as_slice()),
                    None => table.range::<&[u8]>(from.as_slice()..),
                }
                .map_err(redb_err("range kv"))?;
                let mut kvs = Vec::new();
                for entry in range {
                    let (k, v) = entry.map_err(redb_err("range kv"))?;
                    if limit > 0 && kvs.len() == limit {
                        return Ok((kvs, true));
                    }
                    kvs.push(codec::decode_value(k.value(), v.value())?);
                }
                Ok((kvs, false))
            })
            .await?;
        Ok(ListResult { kvs, revision, more })
    }

    async fn count(&self, prefix: &str) -> Result<(i64, Revision)> {
        let from = prefix.as_bytes().to_vec();
        let end = prefix_end(prefix);
        self.read(move |txn| {
            let table = txn.open_table(KV).map_err(redb_err("open kv"))?;
            let range = match &end {
                Some(end) => table.range::<&[u8]>(from.as_slice()..end.as_slice()),
                None => table.range::<&[u8]>(from.as_slice()..),
            }
            .map_err(redb_err("range kv"))?;
            Ok(range.count() as i64)
        })
        .await
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<Revision> {
        check_write(key, &value)?;
        match self.submit(Op::Create { key: key.to_string(), value }).await? {
            Outcome::Written(rev) => Ok(rev),
            _ => Err(StoreError::Unavailable("unexpected writer outcome".into())),
        }
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<Revision> {
        check_write(key, &value)?;
        match self.submit(Op::Update { key: key.to_string(), value, expected }).await? {
            Outcome::Written(rev) => Ok(rev),
            _ => Err(StoreError::Unavailable("unexpected writer outcome".into())),
        }
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue)> {
        check_write(key, b"")?;
        match self.submit(Op::Delete { key: key.to_string(), expected }).await? {
            Outcome::Deleted(rev, prev) => Ok((rev, prev)),
            _ => Err(StoreError::Unavailable("unexpected writer outcome".into())),
        }
    }

    async fn watch(&self, prefix: &str, start: Revision) -> Result<WatchStream> {
        watch::start(&self.shared, prefix, start)
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        if revision <= self.shared.compacted.load(Ordering::Acquire) {
            return Ok(());
        }
        self.submit(Op::Compact { revision }).await.map(|_| ())
    }

    async fn revision(&self) -> Result<Revision> {
        Ok(self.shared.revision.load(Ordering::Acquire))
    }
}
