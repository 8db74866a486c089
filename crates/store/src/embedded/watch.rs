//! Watch streams: replay from the log, then follow the hub.
//!
//! A watcher subscribes to the hub first and notes the last revision published at that moment;
//! everything up to it is read from the log in chunks, everything after it comes from the hub.
//! The two never overlap and leave no gap.

use std::{
    collections::VecDeque,
    sync::{Arc, Weak, atomic::Ordering},
};

use redb::ReadableDatabase;
use tokio::sync::mpsc;

use super::{LOG, META_COMPACTED, Shared, codec, hub::Subscription, read_meta, redb_err};
use crate::{Event, Result, Revision, StoreError, WatchStream};

/// Log records scanned per replay step.
const REPLAY_CHUNK: u64 = 4096;

struct State {
    shared: Weak<Shared>,
    prefix: String,
    /// Replay position in the log, while replay is unfinished.
    replay_from: Option<Revision>,
    /// Last revision to replay from the log; the hub delivers the rest.
    replay_until: Revision,
    /// Events before this revision are not wanted (a watch that starts in the future).
    start: Revision,
    pending: VecDeque<Event>,
    live: mpsc::Receiver<Event>,
    lagged: Arc<std::sync::atomic::AtomicBool>,
    last_delivered: Revision,
    done: bool,
}

pub(crate) fn start(shared: &Arc<Shared>, prefix: &str, start: Revision) -> Result<WatchStream> {
    let compacted = shared.compacted.load(Ordering::Acquire);
    if start > 0 && start < compacted {
        return Err(StoreError::Compacted { requested: start, compacted });
    }
    let Subscription { rx, lagged, published } = shared.hub.subscribe(prefix);
    let state = State {
        shared: Arc::downgrade(shared),
        prefix: prefix.to_string(),
        replay_from: (start > 0 && start <= published).then_some(start),
        replay_until: published,
        start,
        pending: VecDeque::new(),
        live: rx,
        lagged,
        last_delivered: if start > 0 { start - 1 } else { published },
        done: false,
    };
    Ok(Box::pin(futures::stream::unfold(state, next)))
}

async fn next(mut s: State) -> Option<(Result<Event>, State)> {
    if s.done {
        return None;
    }
    loop {
        if let Some(event) = s.pending.pop_front() {
            s.last_delivered = event.revision();
            return Some((Ok(event), s));
        }
        if let Some(from) = s.replay_from {
            match replay(&s, from).await {
                Ok((events, next)) => {
                    s.pending.extend(events);
                    s.replay_from = next;
                    continue;
                }
                Err(err) => return s.fail(err),
            }
        }
        match s.live.recv().await {
            Some(event) if event.revision() < s.start => continue,
            Some(event) => {
                s.last_delivered = event.revision();
                return Some((Ok(event), s));
            }
            None if s.lagged.load(Ordering::Acquire) => {
                let compacted = s.shared.upgrade().map_or(0, |sh| sh.revision.load(Ordering::Acquire));
                let err = StoreError::Compacted { requested: s.last_delivered + 1, compacted };
                return s.fail(err);
            }
            None => return s.fail(StoreError::Unavailable("the datastore is closed".into())),
        }
    }
}

impl State {
    fn fail(mut self, err: StoreError) -> Option<(Result<Event>, State)> {
        self.done = true;
        Some((Err(err), self))
    }
}

/// Reads one chunk of the log from `from`; returns matching events and where to go on.
async fn replay(s: &State, from: Revision) -> Result<(Vec<Event>, Option<Revision>)> {
    let shared =
        s.shared.upgrade().ok_or_else(|| StoreError::Unavailable("the datastore is closed".into()))?;
    let prefix = s.prefix.clone();
    let until = s.replay_until;
    tokio::task::spawn_blocking(move || {
        let txn = shared.db.begin_read().map_err(redb_err("begin read"))?;
        // The fence in this snapshot tells whether the records we need can have been purged.
        let compacted = read_meta(&txn, META_COMPACTED)?;
        if from < compacted {
            return Err(StoreError::Compacted { requested: from, compacted });
        }
        let log = txn.open_table(LOG).map_err(redb_err("open log"))?;
        let last = until.min(from + REPLAY_CHUNK as Revision - 1);
        let mut events = Vec::new();
        for entry in log.range(from as u64..=last as u64).map_err(redb_err("range log"))? {
            let (rev, raw) = entry.map_err(redb_err("range log"))?;
            if codec::event_key(raw.value())?.starts_with(prefix.as_bytes()) {
                events.push(codec::decode_event(rev.value() as Revision, raw.value())?);
            }
        }
        Ok((events, (last < until).then_some(last + 1)))
    })
    .await
    .map_err(|e| StoreError::unavailable("replay task", e))?
}
