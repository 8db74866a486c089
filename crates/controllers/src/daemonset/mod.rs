//! The DaemonSet controller: one pod on every eligible node, pinned there by node affinity and
//! bound by the scheduler, replaced by rolling update or on delete (upstream's
//! `pkg/controller/daemon`). `eligibility` and `plan` decide; this module reads the caches,
//! keeps the revisions and carries the decisions out.

pub mod eligibility;
pub mod plan;
pub mod status;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use futures::future::join_all;
use k8s_openapi::{
    api::{
        apps::v1::{ControllerRevision, DaemonSet},
        core::v1::{Node, Pod, PodSpec},
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use tokio::sync::broadcast::{Receiver, error::RecvError};

use crate::{
    events::{Recorder, Type},
    expectations::Expectations,
    history,
    informer::{Change, Informer, Informers, Key},
    owner::{Selector, controller_of, controller_ref},
    pods,
    queue::Queue,
    runner::{api_message, is_conflict, is_not_found, spawn_workers},
};
use plan::{ByNode, HASH_LABEL, Plan};

const COMPONENT: &str = "daemonset-controller";
const WORKERS: usize = 2;
const KIND: &str = "DaemonSet";
/// The label daemon pods carry the set's generation under (upstream keeps it for old clients).
const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

pub struct Controller {
    sets: Arc<Informer<DaemonSet>>,
    pods: Arc<Informer<Pod>>,
    nodes: Arc<Informer<Node>>,
    revisions: Arc<Informer<ControllerRevision>>,
    queue: Arc<Queue<Key>>,
    expectations: Expectations,
    recorder: Recorder,
    client: kube::Client,
}

fn name_of<K: kube::Resource>(obj: &K) -> String {
    obj.meta().name.clone().unwrap_or_default()
}

/// Whether a node change can change where daemon pods belong: not heartbeats.
fn node_placement_changed(old: &Node, new: &Node) -> bool {
    let ready = |n: &Node| {
        n.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready").map(|c| c.status.clone()))
    };
    old.metadata.labels != new.metadata.labels
        || old.spec.as_ref().map(|s| (&s.taints, s.unschedulable))
            != new.spec.as_ref().map(|s| (&s.taints, s.unschedulable))
        || ready(old) != ready(new)
}

impl Controller {
    pub fn start(informers: &Informers) {
        let client = informers.client();
        let me = Arc::new(Controller {
            sets: informers.get(),
            pods: informers.get(),
            nodes: informers.get(),
            revisions: informers.get(),
            queue: Queue::new(),
            expectations: Expectations::default(),
            recorder: Recorder::new(client.clone(), COMPONENT),
            client,
        });
        let (sets, pods, nodes) = (me.sets.subscribe(), me.pods.subscribe(), me.nodes.subscribe());
        let watcher = me.clone();
        tokio::spawn(async move {
            watcher.sets.wait_synced().await;
            watcher.pods.wait_synced().await;
            watcher.nodes.wait_synced().await;
            watcher.revisions.wait_synced().await;
            watcher.resync();
            watcher.follow(sets, pods, nodes).await;
        });
        let worker = me.clone();
        spawn_workers(me.queue.clone(), WORKERS, COMPONENT, move |key| {
            let worker = worker.clone();
            async move { worker.sync(&key).await }
        });
    }

    async fn follow(
        &self,
        mut sets: Receiver<Arc<Change<DaemonSet>>>,
        mut pods: Receiver<Arc<Change<Pod>>>,
        mut nodes: Receiver<Arc<Change<Node>>>,
    ) {
        loop {
            tokio::select! {
                change = sets.recv() => match change {
                    Ok(change) => self.queue.add(Key::of(change.object().as_ref())),
                    Err(RecvError::Lagged(_)) => self.resync(),
                    Err(RecvError::Closed) => return,
                },
                change = pods.recv() => match change {
                    Ok(change) => self.pod_changed(&change),
                    Err(RecvError::Lagged(_)) => self.resync(),
                    Err(RecvError::Closed) => return,
                },
                change = nodes.recv() => match change {
                    Ok(change) => match change.as_ref() {
                        Change::Updated { old, new } if !node_placement_changed(old, new) => {}
                        _ => self.resync(),
                    },
                    Err(RecvError::Lagged(_)) => self.resync(),
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }

    fn resync(&self) {
        for set in self.sets.list(None) {
            self.queue.add(Key::of(set.as_ref()));
        }
    }

    fn owner_key(pod: &Pod) -> Option<Key> {
        let cref = controller_of(&pod.metadata).filter(|c| c.kind == KIND)?;
        Some(Key { namespace: pod.metadata.namespace.clone(), name: cref.name.clone() })
    }

    fn pod_changed(&self, change: &Change<Pod>) {
        let pod = change.object();
        match change {
            Change::Added(_) => {
                if let Some(key) = Self::owner_key(pod) {
                    self.expectations.creation_observed(&key);
                }
            }
            Change::Updated { old, new } => {
                if new.metadata.deletion_timestamp.is_some()
                    && old.metadata.deletion_timestamp.is_none()
                    && let Some(key) = Self::owner_key(new)
                {
                    self.expectations.deletion_observed(&key);
                }
            }
            Change::Deleted(pod) => {
                if pod.metadata.deletion_timestamp.is_none()
                    && let Some(key) = Self::owner_key(pod)
                {
                    self.expectations.deletion_observed(&key);
                }
            }
        }
        match Self::owner_key(pod) {
            Some(key) => self.queue.add(key),
            None if controller_of(&pod.metadata).is_none() => {
                for set in self.sets.list(pod.metadata.namespace.as_deref()) {
                    if selector_of(&set).matches(pod.metadata.labels.as_ref()) {
                        self.queue.add(Key::of(set.as_ref()));
                    }
                }
            }
            None => {}
        }
    }

    async fn sync(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some(ds) = self.sets.get(key) else {
            self.expectations.forget(key);
            return Ok(None);
        };
        if ds.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        let ns = key.namespace.clone().unwrap_or_default();
        let owned = self.claim_pods(&ds, &ns).await?;
        let (hash, collision_count) = self.construct_history(&ds, &ns).await?;
        let spec = daemon_spec(&ds);
        let mut nodes = self.nodes.list(None);
        nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let mut by_node = ByNode::new();
        for pod in &owned {
            if let Some(node) = eligibility::target_node(pod) {
                by_node.entry(node).or_default().push(pod.clone());
            }
        }
        let strategy = ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref());
        let rolling = strategy.and_then(|s| s.type_.as_deref()).unwrap_or("RollingUpdate") == "RollingUpdate";
        let limits = strategy.and_then(|s| s.rolling_update.as_ref());
        let surge_value = limits.and_then(|r| r.max_surge.as_ref());
        let min_ready = ds.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
        let now = jiff::Timestamp::now();
        let counts = status::count(&nodes, &spec, &by_node, &hash, min_ready, now);

        if self.expectations.satisfied(key) {
            let max_surge = if rolling { plan::scaled(surge_value, counts.desired, 0).max(0) } else { 0 };
            let mut todo = plan::manage(&nodes, &spec, &by_node, &hash, max_surge > 0);
            if todo.is_empty() && rolling {
                let mut max_unavailable =
                    plan::scaled(limits.and_then(|r| r.max_unavailable.as_ref()), counts.desired, 1).max(0);
                if max_unavailable == 0 && max_surge == 0 {
                    max_unavailable = 1;
                }
                todo = plan::rolling_update(&by_node, &hash, max_surge, max_unavailable, min_ready, now);
            }
            self.carry_out(&ds, key, &hash, &todo).await?;
        }
        self.truncate_history(&ds, &ns, &hash, &owned).await?;

        let want = status::status(&counts, ds.metadata.generation, collision_count);
        let have = serde_json::to_value(&ds.status).unwrap_or_default();
        if crate::statefulset::status::differs(&have, &want) {
            let api: Api<DaemonSet> = Api::namespaced(self.client.clone(), &ns);
            let patch = json!({"status": want});
            match api.patch_status(&key.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let waiting = min_ready > 0 && counts.ready > counts.available;
        Ok(waiting.then(|| Duration::from_secs(min_ready as u64)))
    }

    /// The set's pods, adopting matching orphans and releasing pods that stopped matching.
    async fn claim_pods(&self, ds: &DaemonSet, ns: &str) -> anyhow::Result<Vec<Arc<Pod>>> {
        let uid = ds.metadata.uid.clone().unwrap_or_default();
        let selector = selector_of(ds);
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let mut owned = Vec::new();
        for pod in self.pods.list(Some(ns)) {
            let refs = pod.owner_references();
            let patch = match controller_of(&pod.metadata) {
                Some(cref) if cref.uid == uid && selector.matches(pod.metadata.labels.as_ref()) => {
                    owned.push(pod);
                    continue;
                }
                Some(cref) if cref.uid == uid => {
                    let kept: Vec<_> = refs.iter().filter(|r| r.uid != uid).cloned().collect();
                    json!({"metadata": {"ownerReferences": kept, "uid": pod.metadata.uid}})
                }
                None if pods::is_active(&pod) && selector.matches(pod.metadata.labels.as_ref()) => {
                    let mut all = refs.to_vec();
                    all.push(controller_ref(ds));
                    owned.push(pod.clone());
                    json!({"metadata": {"ownerReferences": all, "uid": pod.metadata.uid}})
                }
                _ => continue,
            };
            match api.patch(&name_of(pod.as_ref()), &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) || is_conflict(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(owned)
    }

    fn owned_revisions(&self, ds: &DaemonSet, ns: &str) -> Vec<Arc<ControllerRevision>> {
        let uid = ds.metadata.uid.as_deref().unwrap_or("");
        let mut owned: Vec<_> = self
            .revisions
            .list(Some(ns))
            .into_iter()
            .filter(|r| controller_of(&r.metadata).is_some_and(|c| c.uid == uid))
            .collect();
        history::sort(&mut owned);
        owned
    }

    /// The revision of the current template, made or renumbered to be the newest (upstream's
    /// `constructHistory`); returns its hash and the collision count.
    async fn construct_history(&self, ds: &DaemonSet, ns: &str) -> anyhow::Result<(String, i32)> {
        let owned = self.owned_revisions(ds, ns);
        let template = ds.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
        let collision_count = ds.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0);
        let make = |collisions: Option<i32>| {
            let hash = history::hash_template(&template, collisions);
            let mut labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
            labels.insert(HASH_LABEL.into(), hash.clone());
            ControllerRevision {
                metadata: ObjectMeta {
                    name: Some(history::revision_name(&name_of(ds), &hash)),
                    namespace: Some(ns.to_string()),
                    labels: Some(labels),
                    annotations: ds.metadata.annotations.clone(),
                    owner_references: Some(vec![controller_ref(ds)]),
                    ..Default::default()
                },
                data: Some(k8s_openapi::apimachinery::pkg::runtime::RawExtension(history::template_patch(
                    &template,
                ))),
                revision: 0,
            }
        };
        let candidate = make(Some(collision_count).filter(|c| *c > 0));
        let hash = candidate.labels().get(HASH_LABEL).cloned().unwrap_or_default();
        let is_current = |r: &ControllerRevision| {
            r.labels().get(HASH_LABEL) == Some(&hash) || history::equal(r, &candidate)
        };
        let newest_old = owned.iter().filter(|r| !is_current(r)).map(|r| r.revision).max().unwrap_or(0);
        let api: Api<ControllerRevision> = Api::namespaced(self.client.clone(), ns);
        if let Some(current) = owned.iter().rev().find(|r| is_current(r)) {
            if current.revision <= newest_old {
                history::renumber(&api, current, newest_old + 1).await?;
            }
            let hash = current.labels().get(HASH_LABEL).cloned().unwrap_or(hash);
            return Ok((hash, collision_count));
        }
        let number = newest_old + 1;
        let created =
            history::create(&api, collision_count, |c| ControllerRevision { revision: number, ..make(c) })
                .await?;
        if created.collision_count != collision_count {
            let sets: Api<DaemonSet> = Api::namespaced(self.client.clone(), ns);
            let patch = json!({"status": {"collisionCount": created.collision_count}});
            sets.patch_status(&name_of(ds), &PatchParams::default(), &Patch::Merge(&patch)).await?;
        }
        let hash = created.revision.labels().get(HASH_LABEL).cloned().unwrap_or(hash);
        Ok((hash, created.collision_count))
    }

    async fn truncate_history(
        &self,
        ds: &DaemonSet,
        ns: &str,
        hash: &str,
        owned: &[Arc<Pod>],
    ) -> anyhow::Result<()> {
        let revisions = self.owned_revisions(ds, ns);
        let mut live: Vec<&str> = Vec::new();
        for r in &revisions {
            let rhash = r.labels().get(HASH_LABEL).map(String::as_str);
            let used = rhash == Some(hash)
                || owned.iter().any(|p| p.labels().get(HASH_LABEL).map(String::as_str) == rhash);
            if used {
                live.push(r.metadata.name.as_deref().unwrap_or(""));
            }
        }
        let limit = ds.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10);
        let api: Api<ControllerRevision> = Api::namespaced(self.client.clone(), ns);
        for old in history::to_truncate(&revisions, &live, limit) {
            match api.delete(&name_of(old.as_ref()), &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn carry_out(&self, ds: &DaemonSet, key: &Key, hash: &str, todo: &Plan) -> anyhow::Result<()> {
        if todo.is_empty() {
            return Ok(());
        }
        let ns = key.namespace.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        self.expectations.expect(key, todo.create_on.len() as i64, todo.delete.len() as i64);
        let params = PostParams::default();
        let creates = todo.create_on.iter().map(|node| {
            let pod = daemon_pod(ds, hash, node);
            let api = api.clone();
            let params = params.clone();
            async move { api.create(&params, &pod).await }
        });
        let mut failures = 0;
        for result in join_all(creates).await {
            match result {
                Ok(pod) => {
                    let msg = format!("Created pod: {}", pod.name_any());
                    self.recorder.record(ds, Type::Normal, "SuccessfulCreate", &msg).await;
                }
                Err(e) => {
                    failures += 1;
                    self.expectations.lower(key, 1, 0);
                    let msg = format!("Error creating: {}", api_message(&e));
                    self.recorder.record(ds, Type::Warning, "FailedCreate", &msg).await;
                }
            }
        }
        let deletes = todo.delete.iter().map(|name| {
            let api = api.clone();
            async move { (name, api.delete(name, &DeleteParams::default()).await) }
        });
        for (name, result) in join_all(deletes).await {
            match result {
                Ok(_) => {
                    let msg = format!("Deleted pod: {name}");
                    self.recorder.record(ds, Type::Normal, "SuccessfulDelete", &msg).await;
                }
                Err(e) if is_not_found(&e) => self.expectations.lower(key, 0, 1),
                Err(e) => {
                    failures += 1;
                    self.expectations.lower(key, 0, 1);
                    let msg = format!("Error deleting: {}", api_message(&e));
                    self.recorder.record(ds, Type::Warning, "FailedDelete", &msg).await;
                }
            }
        }
        if failures > 0 {
            anyhow::bail!("{failures} pod creations or deletions failed");
        }
        Ok(())
    }
}

fn selector_of(ds: &DaemonSet) -> Selector {
    Selector::from_label_selector(ds.spec.as_ref().map(|s| &s.selector))
}

/// The template's pod spec with the tolerations every daemon pod gets.
fn daemon_spec(ds: &DaemonSet) -> PodSpec {
    let mut spec = ds.spec.as_ref().and_then(|s| s.template.spec.clone()).unwrap_or_default();
    eligibility::add_daemon_tolerations(&mut spec);
    spec
}

/// The daemon pod for `node`: the template, labelled with the revision hash and generation,
/// tolerating what daemon pods tolerate, and pinned to the node.
fn daemon_pod(ds: &DaemonSet, hash: &str, node: &str) -> Pod {
    let template = ds.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let ns = ds.metadata.namespace.clone().unwrap_or_default();
    let mut pod = pods::from_template(&template, &name_of(ds), &ns, controller_ref(ds));
    let labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(HASH_LABEL.into(), hash.into());
    if let Some(generation) = ds.metadata.generation {
        labels.insert(TEMPLATE_GENERATION_LABEL.into(), generation.to_string());
    }
    let mut spec = daemon_spec(ds);
    eligibility::pin_to_node(&mut spec, node);
    pod.spec = Some(spec);
    pod
}
