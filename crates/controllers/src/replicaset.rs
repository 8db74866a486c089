//! The ReplicaSet and ReplicationController controllers (one implementation, as upstream's):
//! keep `spec.replicas` active pods, adopt matching orphans and release pods that stop
//! matching, delete the pods upstream's ranking picks first, and report status.

use std::{collections::HashMap, fmt::Debug, sync::Arc, time::Duration};

use futures::future::join_all;
use k8s_openapi::api::{
    apps::v1::ReplicaSet,
    core::v1::{Pod, PodTemplateSpec, ReplicationController},
};
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

use crate::{
    events::{Recorder, Type},
    expectations::Expectations,
    informer::{Change, Informer, Informers, Key},
    owner::{Selector, controller_of, controller_ref},
    pods,
    queue::Queue,
    runner::api_message,
};

/// Upstream's cap on pods created or deleted in one sync.
const BURST_REPLICAS: usize = 500;
const WORKERS: usize = 5;

/// What the controller needs of a ReplicaSet or a ReplicationController.
pub trait Replicated:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + Debug
    + Send
    + Sync
    + 'static
{
    /// The component events are recorded as.
    const COMPONENT: &'static str;
    fn replicas(&self) -> i32;
    fn min_ready_seconds(&self) -> i32;
    fn selector(&self) -> Selector;
    fn template(&self) -> Option<&PodTemplateSpec>;
    fn status(&self) -> Value;
}

impl Replicated for ReplicaSet {
    const COMPONENT: &'static str = "replicaset-controller";

    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }

    fn min_ready_seconds(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
    }

    fn selector(&self) -> Selector {
        Selector::from_label_selector(self.spec.as_ref().map(|s| &s.selector))
    }

    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }

    fn status(&self) -> Value {
        serde_json::to_value(&self.status).unwrap_or(Value::Null)
    }
}

impl Replicated for ReplicationController {
    const COMPONENT: &'static str = "replication-controller";

    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }

    fn min_ready_seconds(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
    }

    fn selector(&self) -> Selector {
        Selector::from_map(self.spec.as_ref().and_then(|s| s.selector.as_ref()))
    }

    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }

    fn status(&self) -> Value {
        serde_json::to_value(&self.status).unwrap_or(Value::Null)
    }
}

pub struct Controller<R: Replicated> {
    owners: Arc<Informer<R>>,
    pods: Arc<Informer<Pod>>,
    queue: Arc<Queue<Key>>,
    expectations: Expectations,
    recorder: Recorder,
    client: kube::Client,
}

impl<R: Replicated> Controller<R> {
    pub fn start(informers: &Informers) {
        let client = informers.client();
        let me = Arc::new(Controller {
            owners: informers.get::<R>(),
            pods: informers.get::<Pod>(),
            queue: Queue::new(),
            expectations: Expectations::default(),
            recorder: Recorder::new(client.clone(), R::COMPONENT),
            client,
        });
        let owner_changes = me.owners.subscribe();
        let pod_changes = me.pods.subscribe();
        let watcher = me.clone();
        tokio::spawn(async move {
            watcher.owners.wait_synced().await;
            watcher.pods.wait_synced().await;
            for owner in watcher.owners.list(None) {
                watcher.queue.add(Key::of(owner.as_ref()));
            }
            watcher.follow(owner_changes, pod_changes).await;
        });
        crate::runner::spawn_workers(me.queue.clone(), WORKERS, R::COMPONENT, move |key| {
            let me = me.clone();
            async move { me.sync(&key).await }
        });
    }

    async fn follow(
        &self,
        mut owners: tokio::sync::broadcast::Receiver<Arc<Change<R>>>,
        mut pods: tokio::sync::broadcast::Receiver<Arc<Change<Pod>>>,
    ) {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            tokio::select! {
                change = owners.recv() => match change {
                    Ok(change) => self.queue.add(Key::of(change.object().as_ref())),
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
        for owner in self.owners.list(None) {
            self.queue.add(Key::of(owner.as_ref()));
        }
    }

    /// The owner a pod's controller reference names, if it is one of ours.
    fn owner_of(&self, pod: &Pod) -> Option<Key> {
        let cref = controller_of(&pod.metadata)?;
        if cref.kind != R::kind(&()) {
            return None;
        }
        let key = Key { namespace: pod.metadata.namespace.clone(), name: cref.name.clone() };
        let owner = self.owners.get(&key)?;
        (owner.meta().uid.as_deref() == Some(cref.uid.as_str())).then_some(key)
    }

    /// Owners whose selector matches an orphan pod: they may adopt it.
    fn matching_owners(&self, pod: &Pod) -> Vec<Key> {
        self.owners
            .list(pod.metadata.namespace.as_deref())
            .iter()
            .filter(|o| o.selector().matches(pod.metadata.labels.as_ref()))
            .map(|o| Key::of(o.as_ref()))
            .collect()
    }

    fn pod_changed(&self, change: &Change<Pod>) {
        match change {
            Change::Added(pod) => match self.owner_of(pod) {
                Some(key) => {
                    self.expectations.creation_observed(&key);
                    self.queue.add(key);
                }
                None if controller_of(&pod.metadata).is_none() => {
                    self.matching_owners(pod).into_iter().for_each(|k| self.queue.add(k))
                }
                None => {}
            },
            Change::Updated { old, new } => {
                if new.metadata.deletion_timestamp.is_some()
                    && old.metadata.deletion_timestamp.is_none()
                    && let Some(key) = self.owner_of(new)
                {
                    self.expectations.deletion_observed(&key);
                }
                for pod in [old, new] {
                    match self.owner_of(pod) {
                        Some(key) => self.queue.add(key),
                        None if controller_of(&pod.metadata).is_none() => {
                            self.matching_owners(pod).into_iter().for_each(|k| self.queue.add(k))
                        }
                        None => {}
                    }
                }
            }
            Change::Deleted(pod) => {
                if let Some(key) = self.owner_of(pod) {
                    if pod.metadata.deletion_timestamp.is_none() {
                        self.expectations.deletion_observed(&key);
                    }
                    self.queue.add(key);
                }
            }
        }
    }

    fn api<K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>>(
        &self,
        ns: &str,
    ) -> Api<K> {
        Api::namespaced(self.client.clone(), ns)
    }

    async fn sync(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some(owner) = self.owners.get(key) else {
            self.expectations.forget(key);
            return Ok(None);
        };
        let ns = key.namespace.clone().unwrap_or_default();
        let uid = owner.meta().uid.clone().unwrap_or_default();
        let selector = owner.selector();
        let deleting = owner.meta().deletion_timestamp.is_some();
        let mut owned = Vec::new();
        for pod in self.pods.list(Some(&ns)) {
            match controller_of(&pod.metadata) {
                Some(cref) if cref.uid == uid => {
                    if selector.matches(pod.metadata.labels.as_ref()) || deleting {
                        owned.push(pod);
                    } else {
                        self.release(&pod, &uid).await?;
                    }
                }
                Some(_) => {}
                None => {
                    if !deleting
                        && pods::is_active(&pod)
                        && selector.matches(pod.metadata.labels.as_ref())
                        && self.adopt(owner.as_ref(), &pod).await?
                    {
                        owned.push(pod);
                    }
                }
            }
        }
        let active: Vec<Arc<Pod>> = owned.iter().filter(|p| pods::is_active(p)).cloned().collect();
        if self.expectations.satisfied(key) && !deleting {
            self.manage(owner.as_ref(), key, &active).await?;
        }
        self.update_status(owner.as_ref(), &active).await
    }

    /// Makes `pod` ours: adds our controller reference (conditional on the pod's uid).
    async fn adopt(&self, owner: &R, pod: &Pod) -> anyhow::Result<bool> {
        let mut refs = pod.metadata.owner_references.clone().unwrap_or_default();
        refs.push(controller_ref(owner));
        let patch = json!({"metadata": {"ownerReferences": refs, "uid": pod.metadata.uid}});
        let api: Api<Pod> = self.api(&pod.namespace().unwrap_or_default());
        match api.patch(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Lets go of a pod that no longer matches: removes our reference.
    async fn release(&self, pod: &Pod, uid: &str) -> anyhow::Result<()> {
        let refs: Vec<_> =
            pod.metadata.owner_references.iter().flatten().filter(|r| r.uid != uid).cloned().collect();
        let patch = json!({"metadata": {"ownerReferences": refs, "uid": pod.metadata.uid}});
        let api: Api<Pod> = self.api(&pod.namespace().unwrap_or_default());
        match api.patch(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn manage(&self, owner: &R, key: &Key, active: &[Arc<Pod>]) -> anyhow::Result<()> {
        let want = owner.replicas().max(0) as usize;
        let ns = key.namespace.clone().unwrap_or_default();
        if active.len() < want {
            let Some(template) = owner.template() else { return Ok(()) };
            let count = (want - active.len()).min(BURST_REPLICAS);
            self.expectations.expect(key, count as i64, 0);
            let api: Api<Pod> = self.api(&ns);
            let pod = pods::from_template(template, &key.name, &ns, controller_ref(owner));
            // Slow start, as upstream: batches of 1, 2, 4, ... stop at the first failure, so a
            // quota or admission error costs one request, not hundreds.
            let (mut done, mut batch) = (0, 1);
            while done < count {
                let size = batch.min(count - done);
                let params = PostParams::default();
                let results = join_all((0..size).map(|_| api.create(&params, &pod))).await;
                let mut failed = 0;
                for result in results {
                    match result {
                        Ok(created) => {
                            let msg = format!("Created pod: {}", created.name_any());
                            self.recorder.record(owner, Type::Normal, "SuccessfulCreate", &msg).await;
                        }
                        Err(err) => {
                            failed += 1;
                            let msg = format!("Error creating: {}", api_message(&err));
                            self.recorder.record(owner, Type::Warning, "FailedCreate", &msg).await;
                        }
                    }
                }
                done += size;
                if failed > 0 {
                    self.expectations.lower(key, (failed + count - done) as i64, 0);
                    anyhow::bail!("{failed} of {size} pod creations failed");
                }
                batch *= 2;
            }
        } else if active.len() > want {
            let count = (active.len() - want).min(BURST_REPLICAS);
            let mut per_node: HashMap<String, usize> = HashMap::new();
            for pod in active {
                *per_node.entry(node_of(pod)).or_default() += 1;
            }
            let mut ranked: Vec<(&Arc<Pod>, usize)> =
                active.iter().map(|p| (p, per_node.get(&node_of(p)).copied().unwrap_or(0))).collect();
            ranked.sort_by(|a, b| pods::deletion_order((a.0, a.1), (b.0, b.1)));
            let victims: Vec<&Arc<Pod>> = ranked.into_iter().take(count).map(|(p, _)| p).collect();
            self.expectations.expect(key, 0, count as i64);
            let api: Api<Pod> = self.api(&ns);
            let params = DeleteParams::default();
            let results = join_all(
                victims.iter().map(|p| api.delete(p.metadata.name.as_deref().unwrap_or(""), &params)),
            )
            .await;
            for (pod, result) in victims.iter().zip(results) {
                match result {
                    Ok(_) => {
                        let msg = format!("Deleted pod: {}", pod.name_any());
                        self.recorder.record(owner, Type::Normal, "SuccessfulDelete", &msg).await;
                    }
                    Err(kube::Error::Api(e)) if e.code == 404 => self.expectations.deletion_observed(key),
                    Err(err) => {
                        self.expectations.deletion_observed(key);
                        let msg = format!("Error deleting: {}", api_message(&err));
                        self.recorder.record(owner, Type::Warning, "FailedDelete", &msg).await;
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes status when it changed; asks to come back when a ready pod becomes available.
    async fn update_status(&self, owner: &R, active: &[Arc<Pod>]) -> anyhow::Result<Option<Duration>> {
        let now = jiff::Timestamp::now();
        let min_ready = owner.min_ready_seconds();
        let template_labels =
            owner.template().and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.as_ref());
        let fully_labeled = active
            .iter()
            .filter(|p| {
                template_labels.is_none_or(|want| {
                    want.iter().all(|(k, v)| p.metadata.labels.as_ref().and_then(|l| l.get(k)) == Some(v))
                })
            })
            .count();
        let ready = active.iter().filter(|p| pods::is_ready(p)).count();
        let available = active.iter().filter(|p| pods::is_available(p, min_ready, now)).count();
        // Fields upstream omits when zero are left out, so status reads the same.
        let nonzero = |n: usize| if n == 0 { Value::Null } else { json!(n) };
        let status = json!({
            "replicas": active.len(),
            "fullyLabeledReplicas": nonzero(fully_labeled),
            "readyReplicas": nonzero(ready),
            "availableReplicas": nonzero(available),
            "observedGeneration": owner.meta().generation,
        });
        let current = owner.status();
        let changed =
            ["replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration"]
                .iter()
                .any(|f| current.get(*f).unwrap_or(&Value::Null) != status.get(*f).unwrap_or(&Value::Null));
        if changed {
            let api: Api<R> = Api::namespaced(self.client.clone(), &owner.namespace().unwrap_or_default());
            let patch = json!({"status": status});
            match api.patch_status(&owner.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        let waiting = ready > available && min_ready > 0;
        Ok(waiting.then(|| Duration::from_secs(min_ready as u64)))
    }
}

fn node_of(pod: &Pod) -> String {
    pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default()
}
