//! Events about objects, as upstream's controller-manager records them: core/v1 Events from a
//! named component, with repeats of the same event counted on one object rather than
//! written again (upstream's event correlator).

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::core::v1::{Event, EventSource, ObjectReference},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time},
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::json;
use tokio::sync::mpsc;

/// Repeats within this window raise the count of one Event.
const AGGREGATE_WINDOW: Duration = Duration::from_secs(600);
/// Events waiting to be written. Upstream's broadcaster queues 1,000 and drops what overflows:
/// an event is never worth stalling a controller for.
const QUEUE: usize = 1000;

/// Records events without waiting for them: a background task writes them in order. A
/// ReplicaSet creating 500 pods records 500 `SuccessfulCreate` events; written inline, they
/// doubled the time the burst took.
pub struct Recorder {
    queue: mpsc::Sender<Pending>,
}

struct Pending {
    reference: ObjectReference,
    namespace: String,
    type_: &'static str,
    reason: String,
    message: String,
    at: jiff::Timestamp,
}

/// Writes queued events, counting repeats on one Event (upstream's event correlator).
struct Writer {
    client: Client,
    component: String,
    seen: HashMap<String, Seen>,
}

struct Seen {
    name: String,
    namespace: String,
    count: i32,
    at: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Normal,
    Warning,
}

impl Recorder {
    /// Starts the recorder's writer on the current runtime.
    pub fn new(client: Client, component: &str) -> Recorder {
        let (queue, pending) = mpsc::channel(QUEUE);
        let writer = Writer { client, component: component.to_string(), seen: HashMap::new() };
        tokio::spawn(writer.run(pending));
        Recorder { queue }
    }

    /// Queues an event about `obj`. Failures are logged, never returned: an event is not worth
    /// failing a reconcile for.
    pub async fn record<K>(&self, obj: &K, kind: Type, reason: &str, message: &str)
    where
        K: Resource<DynamicType = ()>,
    {
        let pending = Pending {
            reference: reference(obj),
            namespace: obj.namespace().unwrap_or_else(|| "default".to_string()),
            type_: if kind == Type::Normal { "Normal" } else { "Warning" },
            reason: reason.to_string(),
            message: message.to_string(),
            at: jiff::Timestamp::now(),
        };
        if let Err(mpsc::error::TrySendError::Full(p)) = self.queue.try_send(pending) {
            tracing::warn!(reason = %p.reason, "dropping an event: the event queue is full");
        }
    }
}

impl Writer {
    async fn run(mut self, mut pending: mpsc::Receiver<Pending>) {
        while let Some(event) = pending.recv().await {
            self.write(event).await;
        }
    }

    async fn write(&mut self, p: Pending) {
        let id = format!(
            "{}/{}/{}/{}/{}/{}",
            p.reference.kind.as_deref().unwrap_or(""),
            p.namespace,
            p.reference.name.as_deref().unwrap_or(""),
            p.type_,
            p.reason,
            p.message
        );
        self.seen.retain(|_, s| s.at.elapsed() < AGGREGATE_WINDOW);
        if let Some(seen) = self.seen.get_mut(&id) {
            seen.count += 1;
            seen.at = Instant::now();
            let api: Api<Event> = Api::namespaced(self.client.clone(), &seen.namespace);
            let patch = json!({"count": seen.count, "lastTimestamp": Time(p.at)});
            if api.patch(&seen.name, &PatchParams::default(), &Patch::Merge(&patch)).await.is_ok() {
                return;
            }
        }
        let name = format!("{}.{:x}", p.reference.name.as_deref().unwrap_or("event"), p.at.as_nanosecond());
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(p.namespace.clone()),
                ..Default::default()
            },
            involved_object: p.reference,
            reason: Some(p.reason.clone()),
            message: Some(p.message),
            type_: Some(p.type_.to_string()),
            source: Some(EventSource { component: Some(self.component.clone()), host: None }),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.component.clone()),
            first_timestamp: Some(Time(p.at)),
            last_timestamp: Some(Time(p.at)),
            event_time: None::<MicroTime>,
            count: Some(1),
            ..Default::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &p.namespace);
        match api.create(&PostParams::default(), &event).await {
            Ok(_) => {
                let seen = Seen { name, namespace: p.namespace, count: 1, at: Instant::now() };
                self.seen.insert(id, seen);
            }
            Err(err) => tracing::debug!(error = %err, reason = %p.reason, "could not record an event"),
        }
    }
}

/// An ObjectReference to `obj`.
pub fn reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    ObjectReference {
        api_version: Some(K::api_version(&()).to_string()),
        kind: Some(K::kind(&()).to_string()),
        name: obj.meta().name.clone(),
        namespace: obj.meta().namespace.clone(),
        uid: obj.meta().uid.clone(),
        resource_version: obj.meta().resource_version.clone(),
        field_path: None,
    }
}
