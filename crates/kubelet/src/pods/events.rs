//! The kubelet's events about pods as core/v1 Events (source `kubelet` on the node), written
//! by one background task; a repeat of the same event on the same container within ten minutes
//! raises the count of the Event already written, as upstream's event correlator does, so a
//! probe failing every second makes one `Unhealthy` Event counting up, not one per failure.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::json;
use tokio::sync::mpsc;

use super::worker::Note;

/// Repeats within this window raise the count of one Event.
const AGGREGATE_WINDOW: Duration = Duration::from_secs(600);
/// Events waiting to be written; past that they are dropped (an event never stalls a pod).
const QUEUE: usize = 1000;

/// Queues the kubelet's events; cheap to clone.
#[derive(Clone, Debug)]
pub struct Recorder {
    queue: mpsc::Sender<Pending>,
}

#[derive(Debug)]
struct Pending {
    namespace: String,
    name: String,
    uid: String,
    note: Note,
    at: Timestamp,
}

struct Seen {
    name: String,
    count: i32,
    at: Instant,
}

impl Recorder {
    /// Starts the writer on the current runtime; events name `node` as their source host.
    pub fn start(client: Client, node: &str) -> Recorder {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(write_all(client, node.to_string(), pending));
        Recorder { queue }
    }

    /// Queues `notes` about `pod`.
    pub fn record(&self, pod: &Pod, notes: Vec<Note>) {
        for note in notes {
            let pending = Pending {
                namespace: pod.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
                name: pod.metadata.name.clone().unwrap_or_default(),
                uid: pod.metadata.uid.clone().unwrap_or_default(),
                note,
                at: Timestamp::now(),
            };
            if let Err(mpsc::error::TrySendError::Full(p)) = self.queue.try_send(pending) {
                tracing::warn!(reason = p.note.reason, "dropping an event: the event queue is full");
            }
        }
    }
}

async fn write_all(client: Client, node: String, mut pending: mpsc::Receiver<Pending>) {
    let mut seen: HashMap<String, Seen> = HashMap::new();
    while let Some(p) = pending.recv().await {
        let key = format!(
            "{}/{}/{}/{}/{}/{}/{}",
            p.namespace,
            p.name,
            p.uid,
            p.note.field_path.as_deref().unwrap_or_default(),
            p.note.warning,
            p.note.reason,
            p.note.message
        );
        seen.retain(|_, s| s.at.elapsed() < AGGREGATE_WINDOW);
        let api: Api<Event> = Api::namespaced(client.clone(), &p.namespace);
        let now = crate::time::rfc3339(p.at);
        if let Some(s) = seen.get_mut(&key) {
            s.count += 1;
            s.at = Instant::now();
            let patch = json!({"count": s.count, "lastTimestamp": now});
            if api.patch(&s.name, &PatchParams::default(), &Patch::Merge(&patch)).await.is_ok() {
                continue;
            }
        }
        let name = format!("{}.{:x}", p.name, p.at.as_nanosecond());
        let event: Event = match serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": p.namespace},
            "involvedObject": {
                "apiVersion": "v1", "kind": "Pod", "namespace": p.namespace, "name": p.name, "uid": p.uid,
                "fieldPath": p.note.field_path,
            },
            "reason": p.note.reason,
            "message": p.note.message,
            "type": if p.note.warning { "Warning" } else { "Normal" },
            "source": {"component": "kubelet", "host": node},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": "kubelet",
            "reportingInstance": node,
        })) {
            Ok(event) => event,
            Err(err) => {
                tracing::debug!("building an event: {err}");
                continue;
            }
        };
        match api.create(&PostParams::default(), &event).await {
            Ok(_) => {
                seen.insert(key, Seen { name, count: 1, at: Instant::now() });
            }
            Err(err) => tracing::debug!("recording event {} of pod {}: {err}", p.note.reason, p.name),
        }
    }
}
