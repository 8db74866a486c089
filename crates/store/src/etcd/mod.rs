//! The etcd v3 backend, so that several servers can share one replicated datastore.
//!
//! Every write is one etcd transaction whose compare carries the precondition; the failure
//! branch reads the key so that a conflict reports the current value without another round trip.

mod local;

pub use local::LocalEtcd;

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, KvClient, Txn, TxnOp, TxnOpResponse,
    WatchOptions,
};
use futures::StreamExt;

use crate::{
    Event, EventKind, KeyValue, ListResult, Result, Revision, Store, StoreError, WatchStream,
    store::{check_list, check_write, prefix_end},
};

/// A store on an etcd cluster.
pub struct Etcd {
    client: Client,
    kv: KvClient,
}

impl Etcd {
    /// Connects to the given endpoints (`http://host:port`).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if no endpoint answers.
    pub async fn connect(endpoints: &[String]) -> Result<Self> {
        let options = ConnectOptions::new()
            .with_connect_timeout(std::time::Duration::from_secs(5))
            .with_keep_alive(std::time::Duration::from_secs(10), std::time::Duration::from_secs(5));
        let client = Client::connect(endpoints, Some(options))
            .await
            .map_err(|e| StoreError::unavailable("connect to etcd", e))?;
        // Lists of many objects exceed gRPC's default 4 MiB message limit.
        let kv = client.kv_client().max_decoding_message_size(usize::MAX);
        let store = Etcd { client, kv };
        store.revision().await?;
        Ok(store)
    }
}

fn etcd_err(context: &'static str) -> impl Fn(etcd_client::Error) -> StoreError {
    move |err| {
        if let etcd_client::Error::GRpcStatus(status) = &err
            && status.message().contains("required revision has been compacted")
        {
            return StoreError::Compacted { requested: 0, compacted: 0 };
        }
        StoreError::unavailable(context, err)
    }
}

fn convert(kv: &etcd_client::KeyValue) -> Result<KeyValue> {
    Ok(KeyValue {
        key: String::from_utf8(kv.key().to_vec())
            .map_err(|_| StoreError::Unavailable("etcd returned a key that is not UTF-8".into()))?,
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
    })
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Result<Revision> {
    header.map(|h| h.revision()).ok_or_else(|| StoreError::Unavailable("etcd response has no header".into()))
}

/// The key read by a transaction's failure branch, if it exists.
fn failed_read(responses: Vec<TxnOpResponse>) -> Result<Option<KeyValue>> {
    for response in responses {
        if let TxnOpResponse::Get(get) = response {
            return get.kvs().first().map(convert).transpose();
        }
    }
    Ok(None)
}

/// The precondition failure for a key that the transaction's compare rejected.
fn precondition_failed(key: &str, expected: Option<Revision>, current: Option<KeyValue>) -> StoreError {
    match (current, expected) {
        (None, _) => StoreError::NotFound { key: key.to_string() },
        (Some(cur), Some(expected)) => {
            StoreError::Conflict { key: key.to_string(), expected, current: Some(cur) }
        }
        (Some(_), None) => StoreError::AlreadyExists { key: key.to_string() },
    }
}

fn range_end(prefix: &str) -> Vec<u8> {
    // etcd reads "\0" as "every key from the start key on".
    prefix_end(prefix).unwrap_or_else(|| vec![0])
}

#[async_trait]
impl Store for Etcd {
    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision)> {
        let resp = self.kv.clone().get(key, None).await.map_err(etcd_err("etcd get"))?;
        let kv = resp.kvs().first().map(convert).transpose()?;
        Ok((kv, header_revision(resp.header())?))
    }

    async fn list(&self, prefix: &str, start: Option<&str>, limit: usize) -> Result<ListResult> {
        check_list(prefix, start)?;
        let options = GetOptions::new().with_range(range_end(prefix)).with_limit(limit as i64);
        let resp = self
            .kv
            .clone()
            .get(start.unwrap_or(prefix), Some(options))
            .await
            .map_err(etcd_err("etcd list"))?;
        let kvs = resp.kvs().iter().map(convert).collect::<Result<Vec<_>>>()?;
        Ok(ListResult { kvs, revision: header_revision(resp.header())?, more: resp.more() })
    }

    async fn count(&self, prefix: &str) -> Result<(i64, Revision)> {
        let options = GetOptions::new().with_range(range_end(prefix)).with_count_only();
        let resp = self.kv.clone().get(prefix, Some(options)).await.map_err(etcd_err("etcd count"))?;
        Ok((resp.count(), header_revision(resp.header())?))
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<Revision> {
        check_write(key, &value)?;
        let txn = Txn::new().when([Compare::version(key, CompareOp::Equal, 0)]).and_then([TxnOp::put(
            key,
            value.to_vec(),
            None,
        )]);
        let resp = self.kv.clone().txn(txn).await.map_err(etcd_err("etcd create"))?;
        if !resp.succeeded() {
            return Err(StoreError::AlreadyExists { key: key.to_string() });
        }
        header_revision(resp.header())
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<Revision> {
        check_write(key, &value)?;
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, expected)])
            .and_then([TxnOp::put(key, value.to_vec(), None)])
            .or_else([TxnOp::get(key, None)]);
        let resp = self.kv.clone().txn(txn).await.map_err(etcd_err("etcd update"))?;
        if !resp.succeeded() {
            return Err(precondition_failed(key, Some(expected), failed_read(resp.op_responses())?));
        }
        header_revision(resp.header())
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue)> {
        check_write(key, b"")?;
        let compare = match expected {
            Some(rev) => Compare::mod_revision(key, CompareOp::Equal, rev),
            None => Compare::version(key, CompareOp::Greater, 0),
        };
        let delete = etcd_client::DeleteOptions::new().with_prev_key();
        let txn = Txn::new()
            .when([compare])
            .and_then([TxnOp::delete(key, Some(delete))])
            .or_else([TxnOp::get(key, None)]);
        let resp = self.kv.clone().txn(txn).await.map_err(etcd_err("etcd delete"))?;
        let revision = header_revision(resp.header())?;
        if !resp.succeeded() {
            let current = failed_read(resp.op_responses())?;
            return Err(match (current, expected) {
                (Some(cur), Some(expected)) => {
                    StoreError::Conflict { key: key.to_string(), expected, current: Some(cur) }
                }
                _ => StoreError::NotFound { key: key.to_string() },
            });
        }
        for response in resp.op_responses() {
            if let TxnOpResponse::Delete(del) = response
                && let Some(prev) = del.prev_kvs().first()
            {
                return Ok((revision, convert(prev)?));
            }
        }
        Err(StoreError::NotFound { key: key.to_string() })
    }

    async fn watch(&self, prefix: &str, start: Revision) -> Result<WatchStream> {
        let mut options = WatchOptions::new().with_range(range_end(prefix)).with_prev_key();
        if start > 0 {
            // etcd confirms a watch before it cancels one that starts in compacted history;
            // a read at the start revision tells us now instead.
            let probe = GetOptions::new().with_revision(start).with_count_only();
            match self.kv.clone().get(prefix, Some(probe)).await.map_err(etcd_err("etcd watch")) {
                Err(StoreError::Compacted { .. }) => {
                    let compacted = self.compacted_revision().await;
                    return Err(StoreError::Compacted { requested: start, compacted });
                }
                // A start in the future is fine for a watch, not for a read.
                Err(StoreError::Unavailable(msg)) if msg.contains("future revision") => {}
                Err(other) => return Err(other),
                Ok(_) => {}
            }
            options = options.with_start_revision(start);
        }
        let mut watch_client = self.client.watch_client();
        let mut stream = watch_client.watch(prefix, Some(options)).await.map_err(etcd_err("etcd watch"))?;
        // The first response confirms the watch, or cancels it when `start` is compacted.
        let first = stream.message().await.map_err(etcd_err("etcd watch"))?;
        let first = first.ok_or_else(|| StoreError::Unavailable("etcd closed the watch".into()))?;
        if first.canceled() {
            return Err(canceled(start, &first));
        }
        let initial = convert_events(&first);
        let rest = stream.flat_map(move |message| {
            let items: Vec<Result<Event>> = match message {
                Ok(resp) if resp.canceled() => vec![Err(canceled(start, &resp))],
                Ok(resp) => convert_events(&resp),
                Err(err) => vec![Err(etcd_err("etcd watch")(err))],
            };
            futures::stream::iter(items)
        });
        let events = futures::stream::iter(initial).chain(rest);
        // End after the first error, as the contract says.
        let mut failed = false;
        Ok(Box::pin(events.take_while(move |item| {
            let go = !failed;
            failed |= item.is_err();
            futures::future::ready(go)
        })))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        match self.kv.clone().compact(revision, None).await {
            Ok(_) => Ok(()),
            // Already compacted to or past it: nothing to do.
            Err(err) => match etcd_err("etcd compact")(err) {
                StoreError::Compacted { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn revision(&self) -> Result<Revision> {
        let options = GetOptions::new().with_count_only();
        let resp = self.kv.clone().get("\0", Some(options)).await.map_err(etcd_err("etcd revision"))?;
        header_revision(resp.header())
    }
}

impl Etcd {
    /// The oldest revision still readable, found by probing (etcd does not report it).
    async fn compacted_revision(&self) -> Revision {
        let Ok(head) = self.revision().await else { return 0 };
        let (mut lo, mut hi) = (1, head);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let probe = GetOptions::new().with_revision(mid).with_count_only();
            match self.kv.clone().get("\0", Some(probe)).await {
                Ok(_) => hi = mid,
                Err(_) => lo = mid + 1,
            }
        }
        lo
    }
}

fn canceled(start: Revision, resp: &etcd_client::WatchResponse) -> StoreError {
    if resp.compact_revision() > 0 {
        StoreError::Compacted { requested: start, compacted: resp.compact_revision() }
    } else {
        StoreError::Unavailable(format!("etcd canceled the watch: {}", resp.cancel_reason()))
    }
}

fn convert_events(resp: &etcd_client::WatchResponse) -> Vec<Result<Event>> {
    resp.events()
        .iter()
        .map(|event| {
            let kv =
                convert(event.kv().ok_or_else(|| StoreError::Unavailable("etcd event without key".into()))?)?;
            let prev = event.prev_kv().map(convert).transpose()?;
            let kind = match event.event_type() {
                EventType::Delete => EventKind::Delete,
                EventType::Put if kv.create_revision == kv.mod_revision => EventKind::Create,
                EventType::Put => EventKind::Update,
            };
            Ok(Event { kind, kv, prev })
        })
        .collect()
}
