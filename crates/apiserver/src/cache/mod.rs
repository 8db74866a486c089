//! The watch cache: one datastore watch over all of `/registry/`, each change decoded once,
//! kept as the current state of every object plus a window of recent changes, and fanned out
//! to the watchers of each resource. LISTs and watches are served from it, as upstream's
//! cacher does; GETs go to the datastore, and writes read from it first (`rest/guaranteed.rs`)
//! but commit with the cached revision as precondition.
//!
//! The cache's revision is the datastore revision it has caught up with. Every datastore key
//! lives under `/registry/`, so every write shows up here, and a consistent read waits until
//! the cache reaches the datastore's current revision.

mod entry;
mod pruned;

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard},
    time::Duration,
};

use futures::StreamExt;
use tokio::sync::{broadcast, watch};
use tug_store::{Event, EventKind, Revision, Store, StoreError};

pub use entry::{Attrs, Change, ChangeKind, Entry, event_line};

const PREFIX: &str = "/registry/";
/// Recent changes kept for watches that start from a resourceVersion (usually that of a LIST
/// just made); older starts are served by a watch on the datastore.
const HISTORY: usize = 10_000;
/// Changes a watcher may fall behind before it is cut off (its client then watches again from
/// the last revision it saw).
const WATCHER_BUFFER: usize = 4096;
/// How long a read waits for the cache to catch up before it goes to the datastore instead.
pub const FRESHNESS_WAIT: Duration = Duration::from_secs(3);

/// The cache, shared by every handler.
pub struct WatchCache {
    state: RwLock<State>,
    /// The revision the cache has caught up with; 0 until the first load.
    progress: watch::Sender<Revision>,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Arc<Entry>>,
    revision: Revision,
    /// Changes after `history_from`, oldest first.
    history: VecDeque<Arc<Change>>,
    history_from: Revision,
    /// One channel per resource (`/registry/<group>/<plural>/`), made by its first watcher.
    channels: HashMap<String, broadcast::Sender<Arc<Change>>>,
}

/// A slice of the current state.
pub struct Listed {
    pub entries: Vec<Arc<Entry>>,
    pub revision: Revision,
    /// The last key returned, when more matching entries follow it.
    pub more_after: Option<String>,
}

/// Where a watch starts.
pub enum Start {
    /// At the current state; with `initial`, every matching object first, as ADDED.
    Now { initial: bool },
    /// After this revision.
    After(Revision),
}

/// A new watcher's view: what to send first and the channel of what follows.
pub struct Subscription {
    pub initial: Vec<Arc<Entry>>,
    pub replay: Vec<Arc<Change>>,
    /// Revision of the state `initial` shows (or of the last replayed change).
    pub revision: Revision,
    pub changes: broadcast::Receiver<Arc<Change>>,
}

impl WatchCache {
    /// Starts following the datastore; the first load happens in the background and reads
    /// wait for it.
    pub fn start(store: Arc<dyn Store>) -> (Arc<WatchCache>, tokio::task::JoinHandle<()>) {
        let cache = Arc::new(WatchCache { state: RwLock::default(), progress: watch::Sender::new(0) });
        let task = tokio::spawn(cache.clone().follow(store));
        (cache, task)
    }

    async fn follow(self: Arc<Self>, store: Arc<dyn Store>) {
        let mut delay = Duration::from_millis(100);
        loop {
            match self.sync(store.as_ref()).await {
                Ok(()) => delay = Duration::from_millis(100),
                Err(err) => {
                    tracing::warn!(error = %err, "watch cache lost the datastore watch; reloading");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Loads everything, then applies changes until the datastore watch ends.
    async fn sync(&self, store: &dyn Store) -> Result<(), StoreError> {
        let page = store.list(PREFIX, None, 0).await?;
        let mut events = store.watch(PREFIX, page.revision + 1).await?;
        {
            let mut state = self.write();
            // Watchers of the old state cannot be continued without a gap: end them.
            *state = State {
                objects: page
                    .kvs
                    .iter()
                    .filter_map(|kv| Entry::from_kv(kv).map(|e| (kv.key.clone(), Arc::new(e))))
                    .collect(),
                revision: page.revision,
                history_from: page.revision,
                ..State::default()
            };
        }
        self.progress.send_replace(page.revision);
        while let Some(event) = events.next().await {
            let revision = self.apply(event?);
            self.progress.send_replace(revision);
        }
        Err(StoreError::Unavailable("the datastore watch ended".into()))
    }

    fn apply(&self, event: Event) -> Revision {
        let revision = event.revision();
        let mut state = self.write();
        let prev = match event.kind {
            EventKind::Delete => state.objects.remove(&event.kv.key),
            EventKind::Create | EventKind::Update => match Entry::from_kv(&event.kv) {
                Some(entry) => state.objects.insert(event.kv.key.clone(), Arc::new(entry)),
                None => state.objects.remove(&event.kv.key),
            },
        };
        let change = match (event.kind, prev) {
            (EventKind::Delete, Some(prev)) => Some(Change::new(ChangeKind::Deleted, revision, prev, None)),
            (EventKind::Delete, None) => None,
            (_, prev) => state.objects.get(&event.kv.key).cloned().map(|object| {
                let kind = if prev.is_some() { ChangeKind::Modified } else { ChangeKind::Added };
                Change::new(kind, revision, object, prev)
            }),
        };
        state.revision = revision;
        if let Some(change) = change {
            let change = Arc::new(change);
            if state.history.len() == HISTORY
                && let Some(oldest) = state.history.pop_front()
            {
                state.history_from = oldest.revision;
            }
            state.history.push_back(change.clone());
            let resource = resource_prefix(change.key()).to_string();
            if let Some(channel) = state.channels.get(&resource)
                && channel.send(change).is_err()
            {
                state.channels.remove(&resource);
            }
        }
        revision
    }

    /// The revision the cache has caught up with (0 before the first load).
    pub fn revision(&self) -> Revision {
        *self.progress.borrow()
    }

    /// Waits until the cache has caught up with `revision`; false after [`FRESHNESS_WAIT`].
    pub async fn wait_for(&self, revision: Revision) -> bool {
        let mut rx = self.progress.subscribe();
        let caught_up = rx.wait_for(|r| *r >= revision.max(1));
        matches!(tokio::time::timeout(FRESHNESS_WAIT, caught_up).await, Ok(Ok(_)))
    }

    /// The object at `key` as of the cache's revision, which may lag the datastore's.
    pub fn get(&self, key: &str) -> Option<Arc<Entry>> {
        self.read().objects.get(key).cloned()
    }

    /// Up to `limit` (0: all) entries under `prefix` from `start` on that `keep` accepts.
    pub fn list(
        &self,
        prefix: &str,
        start: Option<&str>,
        limit: usize,
        keep: impl Fn(&Entry) -> bool,
    ) -> Listed {
        let state = self.read();
        let from = start.unwrap_or(prefix).to_string();
        let mut entries = Vec::new();
        let mut more_after = None;
        for (key, entry) in state.objects.range(from..) {
            if !key.starts_with(prefix) {
                break;
            }
            if !keep(entry) {
                continue;
            }
            if limit > 0 && entries.len() == limit {
                more_after = entries.last().map(|e: &Arc<Entry>| e.key.clone());
                break;
            }
            entries.push(entry.clone());
        }
        Listed { entries, revision: state.revision, more_after }
    }

    /// Registers a watcher of the keys under `scope` (within resource `resource`); `None`
    /// when `start` is older than the changes the cache keeps.
    pub fn subscribe(&self, resource: &str, scope: &str, start: Start) -> Option<Subscription> {
        let mut state = self.write();
        let changes = match state.channels.get(resource) {
            Some(channel) => channel.subscribe(),
            None => {
                let (tx, rx) = broadcast::channel(WATCHER_BUFFER);
                state.channels.insert(resource.to_string(), tx);
                rx
            }
        };
        let mut sub =
            Subscription { initial: Vec::new(), replay: Vec::new(), revision: state.revision, changes };
        match start {
            Start::Now { initial: false } => {}
            Start::Now { initial: true } => {
                sub.initial = state
                    .objects
                    .range(scope.to_string()..)
                    .take_while(|(k, _)| k.starts_with(scope))
                    .map(|(_, e)| e.clone())
                    .collect();
            }
            Start::After(revision) => {
                if revision < state.history_from {
                    return None;
                }
                let first = state.history.partition_point(|c| c.revision <= revision);
                sub.replay =
                    state.history.range(first..).filter(|c| c.key().starts_with(scope)).cloned().collect();
                sub.revision = revision.max(sub.replay.last().map_or(revision, |c| c.revision));
            }
        }
        Some(sub)
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `/registry/<group>/<plural>/` of a key.
pub fn resource_prefix(key: &str) -> &str {
    let mut slashes = 0;
    for (i, b) in key.bytes().enumerate() {
        if b == b'/' {
            slashes += 1;
            if slashes == 4 {
                return &key[..=i];
            }
        }
    }
    key
}

#[cfg(test)]
mod tests;
