//! The Deployment controller: rolls a Deployment's pod template out through ReplicaSets named
//! `<deployment>-<pod-template-hash>` (RollingUpdate or Recreate), scales them proportionally,
//! keeps revisions for `kubectl rollout history/undo`, and reports status and conditions as
//! `kubectl rollout status` reads them. The ReplicaSet controller runs the pods.
//!
//! As upstream's `pkg/controller/deployment`: `sync` only dispatches; the strategies' decisions
//! are pure functions in `rolling`, `recreate`, `util` and `progress`, and `run` applies them.

pub mod hash;
pub mod progress;
pub mod recreate;
pub mod rolling;
mod run;
pub mod util;

use std::{sync::Arc, time::Duration};

use k8s_openapi::api::{
    apps::v1::{Deployment, ReplicaSet},
    core::v1::Pod,
};
use kube::{Resource, ResourceExt};

use crate::{
    events::Recorder,
    informer::{Change, Informer, Informers, Key},
    owner::{Selector, controller_of},
    queue::Queue,
};

const WORKERS: usize = 5;
const COMPONENT: &str = "deployment-controller";

pub struct Controller {
    deployments: Arc<Informer<Deployment>>,
    replica_sets: Arc<Informer<ReplicaSet>>,
    pods: Arc<Informer<Pod>>,
    queue: Arc<Queue<Key>>,
    recorder: Recorder,
    client: kube::Client,
}

pub fn selector(d: &Deployment) -> Selector {
    Selector::from_label_selector(d.spec.as_ref().map(|s| &s.selector))
}

impl Controller {
    pub fn start(informers: &Informers) {
        let client = informers.client();
        let me = Arc::new(Controller {
            deployments: informers.get::<Deployment>(),
            replica_sets: informers.get::<ReplicaSet>(),
            pods: informers.get::<Pod>(),
            queue: Queue::new(),
            recorder: Recorder::new(client.clone(), COMPONENT),
            client,
        });
        let deployments = me.deployments.subscribe();
        let replica_sets = me.replica_sets.subscribe();
        let pods = me.pods.subscribe();
        let watcher = me.clone();
        tokio::spawn(async move {
            watcher.deployments.wait_synced().await;
            watcher.replica_sets.wait_synced().await;
            watcher.pods.wait_synced().await;
            watcher.resync();
            watcher.follow(deployments, replica_sets, pods).await;
        });
        crate::runner::spawn_workers(me.queue.clone(), WORKERS, COMPONENT, move |key| {
            let me = me.clone();
            async move { me.sync(&key).await }
        });
    }

    async fn follow(
        &self,
        mut deployments: tokio::sync::broadcast::Receiver<Arc<Change<Deployment>>>,
        mut replica_sets: tokio::sync::broadcast::Receiver<Arc<Change<ReplicaSet>>>,
        mut pods: tokio::sync::broadcast::Receiver<Arc<Change<Pod>>>,
    ) {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            tokio::select! {
                change = deployments.recv() => match change {
                    Ok(change) => self.queue.add(Key::of(change.object().as_ref())),
                    Err(RecvError::Lagged(_)) => self.resync(),
                    Err(RecvError::Closed) => return,
                },
                change = replica_sets.recv() => match change {
                    Ok(change) => self.replica_set_changed(&change),
                    Err(RecvError::Lagged(_)) => self.resync(),
                    Err(RecvError::Closed) => return,
                },
                change = pods.recv() => match change {
                    Ok(change) => self.pod_changed(&change),
                    Err(RecvError::Lagged(_)) => self.resync(),
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }

    fn resync(&self) {
        for d in self.deployments.list(None) {
            self.queue.add(Key::of(d.as_ref()));
        }
    }

    /// The Deployment a controller reference names, if it is still that object.
    fn owner_of(&self, meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<Key> {
        let cref = controller_of(meta)?;
        if cref.kind != "Deployment" {
            return None;
        }
        let key = Key { namespace: meta.namespace.clone(), name: cref.name.clone() };
        let d = self.deployments.get(&key)?;
        (d.meta().uid.as_deref() == Some(cref.uid.as_str())).then_some(key)
    }

    fn enqueue_for(&self, rs: &ReplicaSet) {
        match self.owner_of(&rs.metadata) {
            Some(key) => self.queue.add(key),
            // An orphan: every Deployment that selects it may adopt it.
            None if controller_of(&rs.metadata).is_none() => {
                for d in self.deployments.list(rs.metadata.namespace.as_deref()) {
                    if selector(&d).matches(rs.metadata.labels.as_ref()) {
                        self.queue.add(Key::of(d.as_ref()));
                    }
                }
            }
            None => {}
        }
    }

    fn replica_set_changed(&self, change: &Change<ReplicaSet>) {
        match change {
            Change::Added(rs) | Change::Deleted(rs) => self.enqueue_for(rs),
            Change::Updated { old, new } => {
                self.enqueue_for(old);
                self.enqueue_for(new);
            }
        }
    }

    /// A Recreate rollout waits for old pods to be gone: their deletion may unblock it.
    fn pod_changed(&self, change: &Change<Pod>) {
        let Change::Deleted(pod) = change else { return };
        let Some(cref) = controller_of(&pod.metadata) else { return };
        let rs_key = Key { namespace: pod.metadata.namespace.clone(), name: cref.name.clone() };
        let Some(rs) = self.replica_sets.get(&rs_key) else { return };
        if let Some(key) = self.owner_of(&rs.metadata)
            && self.deployments.get(&key).is_some_and(|d| util::is_recreate(&d))
        {
            self.queue.add(key);
        }
    }

    /// Reconciles one Deployment; asks to come back after a while when a deadline may pass.
    async fn sync(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some(d) = self.deployments.get(key) else { return Ok(None) };
        tracing::trace!(deployment = %d.name_any(), "sync");
        let mut run = run::Run::new(self, d.as_ref().clone());
        run.sync().await?;
        Ok(run.requeue)
    }
}
