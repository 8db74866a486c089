//! Fan-out of committed events to live watchers.
//!
//! The writer thread publishes each committed batch here. A watcher owns a bounded buffer; a
//! watcher whose buffer is full is dropped on the spot and told so through its `lagged` flag,
//! so that a slow reader never stalls the writer or other watchers.

use std::sync::{
    Arc, Mutex, PoisonError,
    atomic::{AtomicBool, Ordering},
};

use tokio::sync::mpsc;

use crate::{Event, Revision};

/// Events a watcher may have buffered before it is dropped as too slow.
pub(crate) const WATCH_BUFFER: usize = 4096;

pub(crate) struct Hub {
    // Only the writer thread (publish) and watch registration take this lock, never both at
    // once from the same thread.
    inner: Mutex<Inner>,
}

struct Inner {
    watchers: Vec<Slot>,
    /// Revision of the last batch handed to watchers.
    published: Revision,
}

struct Slot {
    prefix: String,
    tx: mpsc::Sender<Event>,
    lagged: Arc<AtomicBool>,
}

/// A new watcher's end of the hub.
pub(crate) struct Subscription {
    pub rx: mpsc::Receiver<Event>,
    pub lagged: Arc<AtomicBool>,
    /// Every event after this revision arrives through `rx`; earlier ones must be read from
    /// the log.
    pub published: Revision,
}

impl Hub {
    pub(crate) fn new(published: Revision) -> Self {
        Hub { inner: Mutex::new(Inner { watchers: Vec::new(), published }) }
    }

    pub(crate) fn subscribe(&self, prefix: &str) -> Subscription {
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        let lagged = Arc::new(AtomicBool::new(false));
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.watchers.push(Slot { prefix: prefix.to_string(), tx, lagged: lagged.clone() });
        Subscription { rx, lagged, published: inner.published }
    }

    /// Hands a committed batch (in revision order) to every matching watcher.
    pub(crate) fn publish(&self, events: &[Event]) {
        let Some(last) = events.last() else { return };
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.published = last.revision();
        inner.watchers.retain(|slot| {
            for event in events.iter().filter(|e| e.kv.key.starts_with(&slot.prefix)) {
                match slot.tx.try_send(event.clone()) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        slot.lagged.store(true, Ordering::Release);
                        return false;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return false,
                }
            }
            // Drop watchers whose stream is gone even when nothing matched.
            !slot.tx.is_closed()
        });
    }

    pub(crate) fn watcher_count(&self) -> usize {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).watchers.len()
    }
}
