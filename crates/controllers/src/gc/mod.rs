//! The garbage collector, as upstream's: a graph of ownerReferences over every deletable
//! resource (found by discovery, refreshed when CRDs change, watched metadata-only), and
//! workers that delete objects whose owners are all gone, carry out foreground deletion
//! (`foregroundDeletion` finalizer) and orphaning (`orphan` finalizer).
//!
//! Before anything is deleted its owners are read live by uid, so a cache that lags never
//! causes a deletion.

pub mod decide;
pub mod graph;
mod monitor;

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use anyhow::{Context, anyhow};
use k8s_openapi::{
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    apimachinery::pkg::apis::meta::v1::OwnerReference,
};
use kube::{
    Api, Client,
    api::{DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy},
    core::{ObjectMeta, PartialObjectMeta},
};
use serde_json::json;
use tokio::sync::mpsc;

use crate::{
    discovery::{Resources, Served},
    informer::Informers,
    queue::Queue,
};
use decide::{Action, OwnerState, decide};
use graph::{FOREGROUND, Graph, Identity, ORPHAN, Work};
use monitor::{GraphEvent, Monitor};

const DELETE_WORKERS: usize = 5;
const ORPHAN_WORKERS: usize = 2;
/// Upstream re-reads discovery every 30 s for new resources.
const REDISCOVERY: Duration = Duration::from_secs(30);
/// How long workers wait for the first lists before starting anyway.
const SYNC_TIMEOUT: Duration = Duration::from_secs(60);
/// Upstream's default ignored resources: events are never owners worth tracking.
const IGNORED: &[(&str, &str)] = &[("", "events"), ("events.k8s.io", "events")];
/// Bound on remembered absent owners (upstream's absent-owner LRU holds 500).
const ABSENT_CACHE: usize = 10_000;

pub struct GarbageCollector {
    client: Client,
    graph: Mutex<Graph>,
    resources: RwLock<Arc<Resources>>,
    attempt_to_delete: Arc<Queue<String>>,
    attempt_to_orphan: Arc<Queue<String>>,
    /// Owner uids a live read found absent: they never come back.
    absent: Mutex<HashSet<String>>,
}

impl GarbageCollector {
    pub fn start(informers: &Informers) {
        let me = Arc::new(GarbageCollector {
            client: informers.client(),
            graph: Mutex::new(Graph::default()),
            resources: RwLock::new(Arc::new(Resources::default())),
            attempt_to_delete: Queue::new(),
            attempt_to_orphan: Queue::new(),
            absent: Mutex::new(HashSet::new()),
        });
        let crds = informers.get::<CustomResourceDefinition>();
        let (events_tx, events_rx) = mpsc::channel(4096);
        let builder = me.clone();
        tokio::spawn(async move { builder.build_graph(events_rx).await });
        let (synced_tx, synced_rx) = tokio::sync::oneshot::channel();
        let monitors = me.clone();
        tokio::spawn(async move { monitors.keep_monitors(crds.subscribe(), events_tx, synced_tx).await });
        tokio::spawn(async move {
            // Upstream starts its workers once every monitor has listed.
            let _ = tokio::time::timeout(SYNC_TIMEOUT, synced_rx).await;
            for _ in 0..DELETE_WORKERS {
                let worker = me.clone();
                tokio::spawn(async move { worker.work(&worker.attempt_to_delete, Kind::Delete).await });
            }
            for _ in 0..ORPHAN_WORKERS {
                let worker = me.clone();
                tokio::spawn(async move { worker.work(&worker.attempt_to_orphan, Kind::Orphan).await });
            }
        });
    }

    /// Applies monitor events to the graph, queueing the work they cause.
    async fn build_graph(&self, mut events: mpsc::Receiver<GraphEvent>) {
        while let Some(event) = events.recv().await {
            let work = {
                let mut graph = self.graph();
                match event {
                    GraphEvent::Observe(obj) => graph.observe(obj),
                    GraphEvent::Remove(uid) => graph.remove(&uid),
                }
            };
            self.enqueue(work);
        }
    }

    fn enqueue(&self, work: Vec<Work>) {
        for w in work {
            match w {
                Work::AttemptToDelete(uid) => self.attempt_to_delete.add(uid),
                Work::AttemptToOrphan(uid) => self.attempt_to_orphan.add(uid),
            }
        }
    }

    /// Discovery, now, every [`REDISCOVERY`] and soon after a CRD changes; a monitor per
    /// deletable resource.
    async fn keep_monitors(
        &self,
        mut crds: tokio::sync::broadcast::Receiver<Arc<crate::informer::Change<CustomResourceDefinition>>>,
        events: mpsc::Sender<GraphEvent>,
        synced: tokio::sync::oneshot::Sender<()>,
    ) {
        let mut monitors: HashMap<String, Monitor> = HashMap::new();
        let mut synced = Some(synced);
        loop {
            match Resources::discover(&self.client).await {
                Ok(resources) => {
                    let wanted: HashMap<String, Served> = resources
                        .deletable()
                        .filter(|s| {
                            !IGNORED.iter().any(|(g, p)| s.resource.group == *g && s.resource.plural == *p)
                        })
                        .map(|s| (format!("{}/{}", s.resource.api_version, s.resource.plural), s.clone()))
                        .collect();
                    let gone: Vec<String> =
                        monitors.keys().filter(|k| !wanted.contains_key(*k)).cloned().collect();
                    for key in gone {
                        if let Some(m) = monitors.remove(&key) {
                            m.stop(&events).await;
                        }
                    }
                    for (key, served) in wanted {
                        monitors
                            .entry(key)
                            .or_insert_with(|| Monitor::start(self.client.clone(), served, events.clone()));
                    }
                    *self.resources.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
                        Arc::new(resources);
                    if let Some(tx) = synced.take() {
                        let mut waits: Vec<_> = monitors.values().map(|m| m.synced.clone()).collect();
                        tokio::spawn(async move {
                            for w in &mut waits {
                                let _ = w.wait_for(|s| *s).await;
                            }
                            let _ = tx.send(());
                        });
                    }
                }
                Err(err) => tracing::debug!(error = %err, "gc discovery failed; retrying"),
            }
            let next = tokio::time::sleep(REDISCOVERY);
            tokio::select! {
                _ = next => {}
                _ = crds.recv() => {
                    // Let the API server start serving the new resource first.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    while crds.try_recv().is_ok() {}
                }
            }
        }
    }

    async fn work(&self, queue: &Arc<Queue<String>>, kind: Kind) {
        loop {
            let uid = queue.next().await;
            let result = match kind {
                Kind::Delete => self.attempt_to_delete(&uid).await,
                Kind::Orphan => self.attempt_to_orphan(&uid).await,
            };
            match result {
                Ok(()) => queue.forget(&uid),
                Err(err) => {
                    tracing::debug!(error = %format!("{err:#}"), %uid, ?kind, "gc: retrying");
                    queue.add_rate_limited(uid.clone());
                }
            }
            queue.done(&uid);
        }
    }

    /// Upstream's `attemptToDeleteItem`.
    async fn attempt_to_delete(&self, uid: &str) -> anyhow::Result<()> {
        let Some(node) = self.graph().get(uid).cloned() else { return Ok(()) };
        if node.virtual_ {
            return match self.live(&node.identity).await? {
                None => {
                    self.gone(uid);
                    Ok(())
                }
                // There, but no monitor has reported it yet: look again later.
                Some(_) => Err(anyhow!(
                    "{} {} exists but is not observed yet",
                    node.identity.kind,
                    node.identity.name
                )),
            };
        }
        if node.being_deleted && !node.deleting_dependents {
            return Ok(());
        }
        let Some(latest) = self.live(&node.identity).await? else {
            self.gone(uid);
            return Ok(());
        };
        if latest.deletion_timestamp.is_some() && has_finalizer(&latest, FOREGROUND) {
            return self.finish_foreground(&node.identity, &latest).await;
        }
        let owners = latest.owner_references.clone().unwrap_or_default();
        if owners.is_empty() {
            return Ok(());
        }
        let mut states = Vec::with_capacity(owners.len());
        for owner in owners {
            let state = self.owner_state(&owner, node.identity.namespace.as_deref()).await?;
            states.push((owner, state));
        }
        let has_dependents = self.graph().get(uid).is_some_and(|n| !n.dependents.is_empty());
        match decide(&states, has_dependents, latest.finalizers.as_deref().unwrap_or_default()) {
            Action::Keep => Ok(()),
            Action::RemoveOwnerRefs(uids) => self.remove_owner_refs(&node.identity, &latest, &uids).await,
            Action::Delete(policy) => {
                tracing::debug!(kind = %node.identity.kind, name = %node.identity.name, ?policy, "gc: deleting");
                self.delete(&node.identity, &latest, policy).await
            }
        }
    }

    /// Upstream's `processDeletingDependentsItem`: the `foregroundDeletion` finalizer goes once
    /// no dependent blocks the owner; until then the blocking dependents are deleted.
    async fn finish_foreground(&self, identity: &Identity, latest: &ObjectMeta) -> anyhow::Result<()> {
        let blocking: Vec<(String, bool)> = self
            .graph()
            .blocking_dependents(&identity.uid)
            .iter()
            .map(|n| (n.identity.uid.clone(), n.deleting_dependents))
            .collect();
        if blocking.is_empty() {
            return self.remove_finalizer(identity, latest, FOREGROUND).await;
        }
        for (uid, deleting_dependents) in blocking {
            if !deleting_dependents {
                self.attempt_to_delete.add(uid);
            }
        }
        Ok(())
    }

    /// Upstream's `attemptToOrphanWorker`: dependents lose their references to the owner, then
    /// the owner loses its `orphan` finalizer.
    async fn attempt_to_orphan(&self, uid: &str) -> anyhow::Result<()> {
        let (owner, dependents) = {
            let graph = self.graph();
            let Some(node) = graph.get(uid) else { return Ok(()) };
            (node.identity.clone(), graph.dependents(uid))
        };
        for dependent in dependents {
            if let Some(meta) = self.live(&dependent).await?
                && meta.owner_references.iter().flatten().any(|r| r.uid == uid)
            {
                self.remove_owner_refs(&dependent, &meta, &[uid.to_string()]).await?;
            }
        }
        match self.live(&owner).await? {
            Some(meta) if has_finalizer(&meta, ORPHAN) => self.remove_finalizer(&owner, &meta, ORPHAN).await,
            _ => Ok(()),
        }
    }

    /// A node found gone by a live read: removed as if its monitor had said so.
    fn gone(&self, uid: &str) {
        {
            let mut absent = self.absent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if absent.len() >= ABSENT_CACHE {
                absent.clear();
            }
            absent.insert(uid.to_string());
        }
        let work = self.graph().remove(uid);
        self.enqueue(work);
    }

    /// What a live read by uid says about an owner.
    async fn owner_state(
        &self,
        owner: &OwnerReference,
        namespace: Option<&str>,
    ) -> anyhow::Result<OwnerState> {
        if self.absent.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(&owner.uid) {
            return Ok(OwnerState::Absent);
        }
        let identity = Identity {
            api_version: owner.api_version.clone(),
            kind: owner.kind.clone(),
            namespace: namespace.map(str::to_string),
            name: owner.name.clone(),
            uid: owner.uid.clone(),
        };
        Ok(match self.live(&identity).await? {
            None => {
                self.gone(&owner.uid);
                OwnerState::Absent
            }
            Some(meta) if meta.deletion_timestamp.is_some() && has_finalizer(&meta, FOREGROUND) => {
                OwnerState::WaitingForDependents
            }
            Some(_) => OwnerState::Solid,
        })
    }

    /// The object's metadata read from the API server; `None` when it is not there or another
    /// object (another uid) has its name.
    ///
    /// # Errors
    /// If its kind is not served (perhaps not yet), or the read fails.
    async fn live(&self, identity: &Identity) -> anyhow::Result<Option<ObjectMeta>> {
        let Some(api) = self.api_for(identity)? else { return Ok(None) };
        let found = api.get_opt(&identity.name).await.context("reading an owner or dependent")?;
        Ok(found.map(|p| p.metadata).filter(|m| m.uid.as_deref() == Some(identity.uid.as_str())))
    }

    /// The API of the identity's resource; `None` for a namespaced kind named from a
    /// cluster-scoped object (such a reference can never resolve: upstream treats it as absent).
    fn api_for(&self, identity: &Identity) -> anyhow::Result<Option<Api<PartialObjectMeta<DynamicObject>>>> {
        let resources = self.resources.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let served = resources
            .resolve(&identity.api_version, &identity.kind)
            .ok_or_else(|| anyhow!("no served resource for {} {}", identity.api_version, identity.kind))?;
        Ok(match (served.namespaced, identity.namespace.as_deref()) {
            (true, Some(ns)) => Some(Api::namespaced_with(self.client.clone(), ns, &served.resource)),
            (true, None) => None,
            (false, _) => Some(Api::all_with(self.client.clone(), &served.resource)),
        })
    }

    fn api_or_err(&self, identity: &Identity) -> anyhow::Result<Api<PartialObjectMeta<DynamicObject>>> {
        self.api_for(identity)?.ok_or_else(|| anyhow!("{} {} has no namespace", identity.kind, identity.name))
    }

    async fn delete(
        &self,
        identity: &Identity,
        latest: &ObjectMeta,
        policy: PropagationPolicy,
    ) -> anyhow::Result<()> {
        let params = DeleteParams {
            propagation_policy: Some(policy),
            preconditions: Some(Preconditions {
                uid: Some(identity.uid.clone()),
                resource_version: latest.resource_version.clone(),
            }),
            ..DeleteParams::default()
        };
        match self.api_or_err(identity)?.delete(&identity.name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e).context("deleting"),
        }
    }

    /// Drops references to `uids` from the object, conditional on its resourceVersion.
    async fn remove_owner_refs(
        &self,
        identity: &Identity,
        latest: &ObjectMeta,
        uids: &[String],
    ) -> anyhow::Result<()> {
        let refs: Vec<&OwnerReference> =
            latest.owner_references.iter().flatten().filter(|r| !uids.contains(&r.uid)).collect();
        let refs = if refs.is_empty() { json!(null) } else { json!(refs) };
        let patch =
            json!({"metadata": {"resourceVersion": latest.resource_version, "ownerReferences": refs}});
        self.patch(identity, &patch).await
    }

    async fn remove_finalizer(
        &self,
        identity: &Identity,
        latest: &ObjectMeta,
        finalizer: &str,
    ) -> anyhow::Result<()> {
        let rest: Vec<&String> = latest.finalizers.iter().flatten().filter(|f| *f != finalizer).collect();
        let rest = if rest.is_empty() { json!(null) } else { json!(rest) };
        let patch = json!({"metadata": {"resourceVersion": latest.resource_version, "finalizers": rest}});
        self.patch(identity, &patch).await
    }

    async fn patch(&self, identity: &Identity, patch: &serde_json::Value) -> anyhow::Result<()> {
        match self
            .api_or_err(identity)?
            .patch(&identity.name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e).context("patching"),
        }
    }

    fn graph(&self) -> std::sync::MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Delete,
    Orphan,
}

fn has_finalizer(meta: &ObjectMeta, name: &str) -> bool {
    meta.finalizers.iter().flatten().any(|f| f == name)
}
