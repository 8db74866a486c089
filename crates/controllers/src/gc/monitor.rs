//! One resource's metadata-only watch, feeding the graph: upstream's monitors, one per
//! deletable resource, with PartialObjectMetadata lists and watches.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use futures::StreamExt;
use kube::{
    Api, Client,
    api::DynamicObject,
    core::{ObjectMeta, PartialObjectMeta},
    runtime::{WatchStreamExt, watcher},
};
use tokio::sync::{mpsc, watch};

use super::graph::{Identity, Observed};
use crate::discovery::Served;

/// What a monitor tells the graph builder.
#[derive(Debug)]
pub enum GraphEvent {
    Observe(Observed),
    /// The object with this uid is gone.
    Remove(String),
}

pub struct Monitor {
    task: tokio::task::JoinHandle<()>,
    /// Uids this monitor has reported present.
    seen: Arc<Mutex<HashSet<String>>>,
    pub synced: watch::Receiver<bool>,
}

impl Monitor {
    pub fn start(client: Client, served: Served, events: mpsc::Sender<GraphEvent>) -> Monitor {
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let (synced_tx, synced) = watch::channel(false);
        let task = tokio::spawn(run(client, served, events, seen.clone(), synced_tx));
        Monitor { task, seen, synced }
    }

    /// Stops watching (the resource is no longer served); its objects are reported gone.
    pub async fn stop(self, events: &mpsc::Sender<GraphEvent>) {
        self.task.abort();
        let uids: Vec<String> = lock(&self.seen).drain().collect();
        for uid in uids {
            let _ = events.send(GraphEvent::Remove(uid)).await;
        }
    }
}

async fn run(
    client: Client,
    served: Served,
    events: mpsc::Sender<GraphEvent>,
    seen: Arc<Mutex<HashSet<String>>>,
    synced: watch::Sender<bool>,
) {
    // PartialObjectMeta makes every list and watch metadata-only.
    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(client, &served.resource);
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    let mut relist: Option<HashSet<String>> = None;
    while let Some(event) = stream.next().await {
        let sent = match event {
            Ok(watcher::Event::Init) => {
                relist = Some(HashSet::new());
                Ok(())
            }
            Ok(watcher::Event::InitApply(obj)) => {
                if let (Some(fresh), Some(uid)) = (relist.as_mut(), obj.metadata.uid.clone()) {
                    fresh.insert(uid);
                }
                observe(&served, obj.metadata, &seen, &events).await
            }
            Ok(watcher::Event::InitDone) => {
                // What the relist no longer holds was deleted while the watch was down.
                let gone: Vec<String> = match relist.take() {
                    Some(fresh) => {
                        let mut seen = lock(&seen);
                        let gone = seen.difference(&fresh).cloned().collect();
                        *seen = fresh;
                        gone
                    }
                    None => Vec::new(),
                };
                let mut result = Ok(());
                for uid in gone {
                    result = result.and(events.send(GraphEvent::Remove(uid)).await.map_err(drop));
                }
                synced.send_replace(true);
                result
            }
            Ok(watcher::Event::Apply(obj)) => observe(&served, obj.metadata, &seen, &events).await,
            Ok(watcher::Event::Delete(obj)) => match obj.metadata.uid {
                Some(uid) => {
                    lock(&seen).remove(&uid);
                    events.send(GraphEvent::Remove(uid)).await.map_err(drop)
                }
                None => Ok(()),
            },
            Err(err) => {
                tracing::debug!(error = %err, resource = %served.resource.plural, "gc monitor watch error; retrying");
                Ok(())
            }
        };
        if sent.is_err() {
            return; // the graph builder stopped
        }
    }
}

async fn observe(
    served: &Served,
    meta: ObjectMeta,
    seen: &Mutex<HashSet<String>>,
    events: &mpsc::Sender<GraphEvent>,
) -> Result<(), ()> {
    let Some(observed) = observed(served, meta) else { return Ok(()) };
    lock(seen).insert(observed.identity.uid.clone());
    events.send(GraphEvent::Observe(observed)).await.map_err(drop)
}

/// An object's metadata as the graph sees it.
pub fn observed(served: &Served, meta: ObjectMeta) -> Option<Observed> {
    Some(Observed {
        identity: Identity {
            api_version: served.resource.api_version.clone(),
            kind: served.resource.kind.clone(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone()?,
            uid: meta.uid.clone()?,
        },
        owners: meta.owner_references.unwrap_or_default(),
        deleting: meta.deletion_timestamp.is_some(),
        finalizers: meta.finalizers.unwrap_or_default(),
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
