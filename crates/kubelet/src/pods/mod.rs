//! The real node's pods: one watch on the pods bound to this node, and a task per pod that
//! syncs it against the container runtime every second or when the pod changes, posts its
//! status when it changes, and on deletion stops it within its grace period and deletes the
//! pod object with grace 0, as upstream's kubelet.
//!
//! [`plan`] decides (pure), [`config`] builds CRI configs (pure) from [`resources`],
//! [`security`], [`hosts`] and [`dns`] (pure), [`worker`] makes the calls.

pub mod cgroups;
pub mod config;
pub mod dns;
pub mod hosts;
pub mod plan;
pub mod resources;
pub mod security;
pub mod worker;

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions},
    runtime::{WatchStreamExt, watcher},
};
use serde_json::{Value, json};
use tokio::sync::watch;
pub use worker::NodeContext;
use worker::{Note, PodWorker};

use crate::runtime::Runtime;

/// How often a pod is synced when nothing about it changes (exits, back-off ends).
const RESYNC: Duration = Duration::from_secs(1);

/// Runs the pods bound to `node.node_name` until `shutdown` turns true.
pub async fn run(
    client: Client,
    runtime: Arc<dyn Runtime>,
    node: NodeContext,
    mut shutdown: watch::Receiver<bool>,
) {
    let node = Arc::new(node);
    let pods: Api<Pod> = Api::all(client.clone());
    let selector = format!("spec.nodeName={}", node.node_name);
    let mut events = watcher(pods, watcher::Config::default().fields(&selector)).default_backoff().boxed();
    let mut workers: HashMap<String, watch::Sender<Option<Pod>>> = HashMap::new();
    loop {
        let event = tokio::select! {
            _ = shutdown.changed() => return,
            event = events.next() => event,
        };
        let Some(event) = event else { return };
        match event {
            Ok(watcher::Event::InitApply(pod) | watcher::Event::Apply(pod)) => {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                match workers.get(&uid) {
                    Some(tx) if !tx.is_closed() => {
                        tx.send_replace(Some(pod));
                    }
                    Some(_) => {}
                    None => {
                        let (tx, rx) = watch::channel(Some(pod));
                        workers.insert(uid, tx);
                        let worker = PodWorker::new(runtime.clone(), node.clone());
                        tokio::spawn(pod_task(client.clone(), node.clone(), worker, rx, shutdown.clone()));
                    }
                }
            }
            Ok(watcher::Event::Delete(pod)) => {
                if let Some(tx) = workers.remove(pod.metadata.uid.as_deref().unwrap_or_default()) {
                    tx.send_replace(None);
                }
            }
            Ok(watcher::Event::Init) => {}
            Ok(watcher::Event::InitDone) => {
                workers.retain(|_, tx| !tx.is_closed());
                let known: Vec<String> = workers.keys().cloned().collect();
                tokio::spawn(remove_orphans(runtime.clone(), known));
            }
            Err(err) => tracing::warn!("watching the pods of node {}: {err}", node.node_name),
        }
    }
}

/// Removes the sandboxes of pods this node no longer has (deleted while the agent was down).
async fn remove_orphans(runtime: Arc<dyn Runtime>, known: Vec<String>) {
    let Ok(sandboxes) = runtime.list_pod_sandboxes(None).await else { return };
    for sandbox in sandboxes {
        let uid = sandbox.labels.get(config::POD_UID_LABEL).map(String::as_str).unwrap_or_default();
        if known.iter().any(|k| k == uid) {
            continue;
        }
        let result = runtime.stop_pod_sandbox(&sandbox.id).await;
        if let Err(err) = result.and(runtime.remove_pod_sandbox(&sandbox.id).await) {
            tracing::warn!("removing the sandbox of a deleted pod: {err}");
        }
    }
}

fn is_finished(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

/// Posts `notes` about `pod` as core/v1 Events from the kubelet (source `kubelet` on the
/// node), as upstream's kubelet records them; best effort, in the background.
fn post_notes(client: &Client, node: &str, pod: &Pod, notes: Vec<Note>) {
    if notes.is_empty() {
        return;
    }
    let namespace = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let name = pod.metadata.name.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let api: Api<Event> = Api::namespaced(client.clone(), &namespace);
    let node = node.to_string();
    tokio::spawn(async move {
        for note in notes {
            let now = Timestamp::now();
            let event: Event = match serde_json::from_value(json!({
                "metadata": {"name": format!("{name}.{:x}", now.as_nanosecond()), "namespace": namespace},
                "involvedObject": {
                    "apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": name, "uid": uid,
                    "fieldPath": note.field_path,
                },
                "reason": note.reason,
                "message": note.message,
                "type": if note.warning { "Warning" } else { "Normal" },
                "source": {"component": "kubelet", "host": node},
                "firstTimestamp": crate::time::rfc3339(now),
                "lastTimestamp": crate::time::rfc3339(now),
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
            if let Err(err) = api.create(&PostParams::default(), &event).await {
                tracing::debug!("recording event {} of pod {name}: {err}", note.reason);
            }
        }
    });
}

/// One pod's life on this node. Ends once the pod is stopped and deleted.
async fn pod_task(
    client: Client,
    node: Arc<NodeContext>,
    mut worker: PodWorker,
    mut updates: watch::Receiver<Option<Pod>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last = updates.borrow().clone();
    let mut posted: Option<Value> = None;
    loop {
        let current = updates.borrow_and_update().clone();
        if current.is_some() {
            last.clone_from(&current);
        }
        let Some(pod) = last.clone() else { return };
        let api: Api<Pod> =
            Api::namespaced(client.clone(), pod.metadata.namespace.as_deref().unwrap_or("default"));
        let name = pod.metadata.name.clone().unwrap_or_default();
        let deleting = pod.metadata.deletion_timestamp.is_some() || current.is_none();
        if deleting {
            let grace =
                if current.is_none() { 0 } else { pod.metadata.deletion_grace_period_seconds.unwrap_or(30) };
            let stopped = stop_and_delete(&api, &mut worker, &pod, grace.max(0) as u64).await;
            post_notes(&client, &node.node_name, &pod, worker.take_notes());
            match stopped {
                Ok(()) => return,
                Err(err) => tracing::warn!("stopping pod {name}: {err:#}"),
            }
        } else {
            let finished = is_finished(&pod);
            let synced = worker.sync(&pod, finished, Timestamp::now()).await;
            post_notes(&client, &node.node_name, &pod, worker.take_notes());
            match synced {
                Ok(status) => {
                    let patch = status.to_patch();
                    // A terminal phase is final: never overwritten from what the runtime has left.
                    if !finished && posted.as_ref() != Some(&patch) {
                        match api
                            .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
                            .await
                        {
                            Ok(_) => posted = Some(patch),
                            Err(kube::Error::Api(s)) if s.code == 404 => {}
                            Err(err) => tracing::warn!("posting the status of pod {name}: {err}"),
                        }
                    }
                }
                Err(err) => tracing::warn!("syncing pod {name}: {err:#}"),
            }
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            changed = updates.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(RESYNC) => {}
        }
    }
}

/// Stops the pod within `grace` seconds, posts its final status and deletes it with grace 0
/// (and a uid precondition, so a new pod of the same name is left alone).
async fn stop_and_delete(
    api: &Api<Pod>,
    worker: &mut PodWorker,
    pod: &Pod,
    grace: u64,
) -> anyhow::Result<()> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = worker.terminate(pod, Duration::from_secs(grace), Timestamp::now()).await?;
    let patch = status.to_patch();
    match api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
        Ok(_) | Err(kube::Error::Api(_)) => {}
        Err(err) => return Err(err.into()),
    }
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions { uid: pod.metadata.uid.clone(), resource_version: None }),
        ..Default::default()
    };
    match api.delete(&name, &params).await {
        Ok(_) | Err(kube::Error::Api(_)) => Ok(()),
        Err(err) => Err(err.into()),
    }
}
