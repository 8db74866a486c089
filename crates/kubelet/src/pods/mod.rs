//! The real node's pods: one watch on the pods bound to this node, and a task per pod that
//! syncs it against the container runtime every second or when the pod changes, posts its
//! status when it changes, and on deletion stops it within its grace period and deletes the
//! pod object with grace 0, as upstream's kubelet.
//!
//! [`plan`] decides (pure), [`config`] builds CRI configs (pure) from [`env`], [`resources`],
//! [`security`], [`hosts`] and [`dns`] (pure), [`worker`] makes the calls; [`probes`] run each
//! container's probes in tasks of their own and wake the pod's task when a result changes;
//! [`hooks`] runs postStart and preStop handlers.

pub mod cgroups;
pub mod cluster;
pub mod config;
pub mod dns;
pub mod env;
mod events;
pub mod hooks;
pub mod hosts;
pub mod plan;
pub mod probes;
pub mod pull_secrets;
pub mod resources;
pub mod security;
pub mod service_env;
pub mod worker;

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams, Preconditions},
    runtime::{WatchStreamExt, watcher},
};
use serde_json::Value;
use tokio::sync::watch;
pub use worker::NodeContext;
use worker::PodWorker;

use crate::{runtime::Runtime, volumes};

/// How often a pod is synced when nothing about it changes (exits, back-off ends).
const RESYNC: Duration = Duration::from_secs(1);

/// How old a pod's directory must be to be removed as an orphan: a pod bound after the list
/// that found the orphans may already have set up its volumes.
const ORPHAN_MIN_AGE: Duration = Duration::from_secs(60);

/// Runs the pods bound to `node.node_name` until `shutdown` turns true.
pub async fn run(
    client: Client,
    runtime: Arc<dyn Runtime>,
    node: NodeContext,
    mut shutdown: watch::Receiver<bool>,
) {
    let node = Arc::new(node);
    let recorder = events::Recorder::start(client.clone(), &node.node_name);
    let cluster: Arc<dyn cluster::Cluster> = Arc::new(cluster::ApiCluster::new(client.clone()));
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
                        workers.insert(uid.clone(), tx);
                        let worker = PodWorker::new(runtime.clone(), node.clone(), cluster.clone());
                        let task = pod_task(client.clone(), recorder.clone(), worker, rx, shutdown.clone());
                        let cluster = cluster.clone();
                        tokio::spawn(async move {
                            task.await;
                            cluster.release(&uid);
                        });
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
                tokio::spawn(remove_orphans(runtime.clone(), node.pods_root.clone(), known));
            }
            Err(err) => tracing::warn!("watching the pods of node {}: {err}", node.node_name),
        }
    }
}

/// Removes the sandboxes and volumes of pods this node no longer has (deleted while the agent
/// was down).
async fn remove_orphans(runtime: Arc<dyn Runtime>, pods_root: std::path::PathBuf, known: Vec<String>) {
    for uid in volumes::known_pods(&pods_root, ORPHAN_MIN_AGE) {
        if !known.contains(&uid)
            && let Err(err) = volumes::tear_down(&pods_root, &uid)
        {
            tracing::warn!("removing the volumes of a deleted pod: {err:#}");
        }
    }
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

/// One pod's life on this node. Ends once the pod is stopped and deleted.
async fn pod_task(
    client: Client,
    recorder: events::Recorder,
    mut worker: PodWorker,
    mut updates: watch::Receiver<Option<Pod>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last = updates.borrow().clone();
    let mut posted: Option<Value> = None;
    // Probe results and their events arrive between syncs.
    let probed = worker.wakeups();
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
            recorder.record(&pod, worker.take_notes());
            match stopped {
                Ok(()) => return,
                Err(err) => tracing::warn!("stopping pod {name}: {err:#}"),
            }
        } else {
            let finished = is_finished(&pod);
            let synced = worker.sync(&pod, finished, Timestamp::now()).await;
            recorder.record(&pod, worker.take_notes());
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
            () = probed.notified() => {}
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
