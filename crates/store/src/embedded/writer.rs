//! The single writer thread: group commit and background log compaction.
//!
//! Requests queue on a channel. The thread takes every request waiting, applies them in order
//! in one redb write transaction, commits it with one fsync, publishes the events and only then
//! answers the callers. Compaction records its fence at once and removes old log records a
//! chunk per transaction, so writers never wait behind a large purge.

use std::{
    sync::{
        Arc,
        atomic::Ordering,
        mpsc::{Receiver, RecvTimeoutError, TryRecvError},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use redb::{ReadableTable, Table, WriteTransaction};
use tokio::sync::oneshot;

use super::{KV, LOG, META, META_COMPACTED, META_PURGED, META_REVISION, Shared, codec, redb_err};
use crate::{Event, EventKind, KeyValue, Result, Revision, StoreError};

/// Most requests committed in one transaction.
const MAX_BATCH: usize = 2048;
/// Most payload bytes committed in one transaction.
const MAX_BATCH_BYTES: usize = 32 << 20;
/// Most log records removed per transaction by compaction.
const PURGE_CHUNK: u64 = 1024;
/// Under concurrent load the writer waits this long at most for more requests to share a
/// commit: an fsync and the rewrite of the tree's upper pages cost about as much for one
/// request as for twenty.
const MAX_LINGER: Duration = Duration::from_micros(1500);
/// ... and stops waiting once no request has come for this long.
const LINGER_GAP: Duration = Duration::from_micros(250);

pub(crate) enum Op {
    Create { key: String, value: Bytes },
    Update { key: String, value: Bytes, expected: Revision },
    Delete { key: String, expected: Option<Revision> },
    Compact { revision: Revision },
}

impl Op {
    fn payload(&self) -> usize {
        match self {
            Op::Create { key, value } | Op::Update { key, value, .. } => key.len() + value.len(),
            Op::Delete { key, .. } => key.len(),
            Op::Compact { .. } => 0,
        }
    }
}

pub(crate) enum Outcome {
    Written(Revision),
    Deleted(Revision, KeyValue),
    Compacted,
}

pub(crate) struct Request {
    pub op: Op,
    pub reply: oneshot::Sender<Result<Outcome>>,
}

/// State the writer keeps between transactions.
struct Writer {
    shared: Arc<Shared>,
    revision: Revision,
    compacted: Revision,
    /// Log records below this revision are gone; between it and `compacted` they await removal.
    purged: Revision,
    quick_repair: bool,
}

pub(crate) fn run(shared: Arc<Shared>, rx: Receiver<Request>, purged: Revision, quick_repair: bool) {
    let mut writer = Writer {
        quick_repair,
        revision: shared.revision.load(Ordering::Acquire),
        compacted: shared.compacted.load(Ordering::Acquire),
        purged,
        shared,
    };
    // Only a writer that just committed several requests at once lingers, so a lone
    // client's write is never delayed.
    let mut concurrent = false;
    loop {
        let first = if writer.purged < writer.compacted {
            match rx.try_recv() {
                Ok(r) => Some(r),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => return,
            }
        } else {
            match rx.recv() {
                Ok(r) => Some(r),
                Err(_) => return,
            }
        };
        let batch = match first {
            Some(first) => gather(&rx, first, concurrent),
            None => Vec::new(),
        };
        concurrent = batch.len() > 1;
        writer.commit_batch(batch);
    }
}

/// `first` and the requests that follow it into one commit: every request already waiting
/// and, when `linger`, those that keep arriving, up to [`MAX_LINGER`].
fn gather(rx: &Receiver<Request>, first: Request, linger: bool) -> Vec<Request> {
    let deadline = Instant::now() + MAX_LINGER;
    let mut bytes = first.op.payload();
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
        let next = match rx.try_recv() {
            Ok(r) => r,
            Err(_) if !linger => break,
            Err(_) => {
                let wait = LINGER_GAP.min(deadline.saturating_duration_since(Instant::now()));
                match rx.recv_timeout(wait) {
                    Ok(r) => r,
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
        };
        bytes += next.op.payload();
        batch.push(next);
    }
    batch
}

impl Writer {
    fn commit_batch(&mut self, batch: Vec<Request>) {
        let start = (self.revision, self.compacted, self.purged);
        match self.apply(&batch) {
            Ok((outcomes, events)) => {
                self.shared.revision.store(self.revision, Ordering::Release);
                self.shared.compacted.store(self.compacted, Ordering::Release);
                self.shared.hub.publish(&events);
                for (request, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = request.reply.send(outcome);
                }
            }
            Err(err) => {
                (self.revision, self.compacted, self.purged) = start;
                tracing::error!(error = %err, "datastore commit failed");
                for request in batch {
                    let _ = request.reply.send(Err(StoreError::Unavailable(err.to_string())));
                }
            }
        }
    }

    /// Runs one transaction. The outer error aborts the whole batch; inner errors are the
    /// per-request outcomes (failed preconditions).
    #[allow(clippy::type_complexity)]
    fn apply(&mut self, batch: &[Request]) -> Result<(Vec<Result<Outcome>>, Vec<Event>)> {
        let mut txn = self.shared.db.begin_write().map_err(redb_err("begin write"))?;
        txn.set_quick_repair(self.quick_repair);
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut events = Vec::with_capacity(batch.len());
        {
            let mut kv = txn.open_table(KV).map_err(redb_err("open kv"))?;
            let mut log = txn.open_table(LOG).map_err(redb_err("open log"))?;
            for request in batch {
                outcomes.push(self.apply_one(&mut kv, &mut log, &request.op, &mut events)?);
            }
            self.purge_chunk(&mut log)?;
        }
        self.write_meta(&txn)?;
        txn.commit().map_err(redb_err("commit"))?;
        Ok((outcomes, events))
    }

    fn apply_one(
        &mut self,
        kv: &mut Table<&[u8], &[u8]>,
        log: &mut Table<u64, &[u8]>,
        op: &Op,
        events: &mut Vec<Event>,
    ) -> Result<Result<Outcome>> {
        if let Op::Compact { revision } = *op {
            if revision > self.revision {
                return Ok(Err(StoreError::InvalidArgument(format!(
                    "cannot compact to revision {revision}, the current revision is {}",
                    self.revision
                ))));
            }
            self.compacted = self.compacted.max(revision);
            return Ok(Ok(Outcome::Compacted));
        }
        let key = match op {
            Op::Create { key, .. } | Op::Update { key, .. } | Op::Delete { key, .. } => key,
            Op::Compact { .. } => unreachable!("handled above"),
        };
        let current = match kv.get(key.as_bytes()).map_err(redb_err("read kv"))? {
            Some(raw) => Some(codec::decode_value(key.as_bytes(), raw.value())?),
            None => None,
        };
        let next = self.revision + 1;
        let event = match (op, current) {
            (Op::Create { .. }, Some(_)) => {
                return Ok(Err(StoreError::AlreadyExists { key: key.clone() }));
            }
            (Op::Update { .. } | Op::Delete { .. }, None) => {
                return Ok(Err(StoreError::NotFound { key: key.clone() }));
            }
            (Op::Update { expected, .. }, Some(cur))
            | (Op::Delete { expected: Some(expected), .. }, Some(cur))
                if cur.mod_revision != *expected =>
            {
                return Ok(Err(StoreError::Conflict {
                    key: key.clone(),
                    expected: *expected,
                    current: Some(cur),
                }));
            }
            (Op::Create { value, .. }, None) => {
                let kv = KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: next,
                    mod_revision: next,
                };
                Event { kind: EventKind::Create, kv, prev: None }
            }
            (Op::Update { value, .. }, Some(cur)) => {
                let kv = KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: cur.create_revision,
                    mod_revision: next,
                };
                Event { kind: EventKind::Update, kv, prev: Some(cur) }
            }
            (Op::Delete { .. }, Some(cur)) => {
                let kv = KeyValue {
                    key: key.clone(),
                    value: Bytes::new(),
                    create_revision: 0,
                    mod_revision: next,
                };
                Event { kind: EventKind::Delete, kv, prev: Some(cur) }
            }
            (Op::Compact { .. }, _) => unreachable!("handled above"),
        };
        if event.kind == EventKind::Delete {
            kv.remove(key.as_bytes()).map_err(redb_err("delete kv"))?;
        } else {
            let raw = codec::encode_value(event.kv.create_revision, next, &event.kv.value);
            kv.insert(key.as_bytes(), raw.as_slice()).map_err(redb_err("write kv"))?;
        }
        log.insert(next as u64, codec::encode_event(&event).as_slice()).map_err(redb_err("write log"))?;
        self.revision = next;
        let outcome = match &event.prev {
            Some(prev) if event.kind == EventKind::Delete => Outcome::Deleted(next, prev.clone()),
            _ => Outcome::Written(next),
        };
        events.push(event);
        Ok(Ok(outcome))
    }

    fn purge_chunk(&mut self, log: &mut Table<u64, &[u8]>) -> Result<()> {
        if self.purged >= self.compacted {
            return Ok(());
        }
        let end = self.compacted.min(self.purged + PURGE_CHUNK as i64);
        log.retain_in(self.purged as u64..end as u64, |_, _| false).map_err(redb_err("compact log"))?;
        self.purged = end;
        Ok(())
    }

    fn write_meta(&self, txn: &WriteTransaction) -> Result<()> {
        let mut meta = txn.open_table(META).map_err(redb_err("open meta"))?;
        for (name, value) in
            [(META_REVISION, self.revision), (META_COMPACTED, self.compacted), (META_PURGED, self.purged)]
        {
            meta.insert(name, value as u64).map_err(redb_err("write meta"))?;
        }
        Ok(())
    }
}
