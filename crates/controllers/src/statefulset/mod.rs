//! The StatefulSet controller: pods with stable ordinal names and claims, created, deleted and
//! updated in order (upstream's `pkg/controller/statefulset`). `plan` decides, this module
//! reads the caches, keeps the revisions and carries the decisions out.

pub mod identity;
pub mod plan;
pub mod retention;
pub mod status;

use std::{sync::Arc, time::Duration};

use k8s_openapi::api::{
    apps::v1::{ControllerRevision, StatefulSet},
    core::v1::{PersistentVolumeClaim, Pod},
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions},
};
use serde_json::json;
use tokio::sync::broadcast::{Receiver, error::RecvError};

use crate::{
    events::{Recorder, Type},
    history,
    informer::{Change, Informer, Informers, Key},
    owner::{Selector, controller_of, controller_ref},
    pods,
    queue::Queue,
    runner::{api_message, is_conflict, is_not_found, spawn_workers},
};
use plan::{Action, Revision, Settings};

const COMPONENT: &str = "statefulset-controller";
const WORKERS: usize = 5;
const KIND: &str = "StatefulSet";

pub struct Controller {
    sets: Arc<Informer<StatefulSet>>,
    pods: Arc<Informer<Pod>>,
    revisions: Arc<Informer<ControllerRevision>>,
    claims: Arc<Informer<PersistentVolumeClaim>>,
    queue: Arc<Queue<Key>>,
    recorder: Recorder,
    client: kube::Client,
}

/// The revisions a sync works with.
struct Revisions {
    current: ControllerRevision,
    update: ControllerRevision,
    collision_count: i32,
}

fn name_of<K: kube::Resource>(obj: &K) -> String {
    obj.meta().name.clone().unwrap_or_default()
}

impl Controller {
    pub fn start(informers: &Informers) {
        let client = informers.client();
        let me = Arc::new(Controller {
            sets: informers.get(),
            pods: informers.get(),
            revisions: informers.get(),
            claims: informers.get(),
            queue: Queue::new(),
            recorder: Recorder::new(client.clone(), COMPONENT),
            client,
        });
        let set_changes = me.sets.subscribe();
        let pod_changes = me.pods.subscribe();
        let watcher = me.clone();
        tokio::spawn(async move {
            watcher.sets.wait_synced().await;
            watcher.pods.wait_synced().await;
            watcher.revisions.wait_synced().await;
            watcher.claims.wait_synced().await;
            watcher.resync();
            watcher.follow(set_changes, pod_changes).await;
        });
        let worker = me.clone();
        spawn_workers(me.queue.clone(), WORKERS, COMPONENT, move |key| {
            let worker = worker.clone();
            async move { worker.sync(&key).await }
        });
    }

    async fn follow(
        &self,
        mut sets: Receiver<Arc<Change<StatefulSet>>>,
        mut pods: Receiver<Arc<Change<Pod>>>,
    ) {
        loop {
            tokio::select! {
                change = sets.recv() => match change {
                    Ok(change) => self.queue.add(Key::of(change.object().as_ref())),
                    Err(RecvError::Lagged(_)) => self.resync(),
                    Err(RecvError::Closed) => return,
                },
                change = pods.recv() => match change {
                    Ok(change) => {
                        if let Change::Updated { old, .. } = change.as_ref() {
                            self.pod_changed(old);
                        }
                        self.pod_changed(change.object());
                    }
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

    /// Queues the set that owns `pod`, or, for an orphan, every set that could adopt it.
    fn pod_changed(&self, pod: &Pod) {
        match controller_of(&pod.metadata) {
            Some(cref) if cref.kind == KIND => {
                self.queue.add(Key { namespace: pod.metadata.namespace.clone(), name: cref.name.clone() })
            }
            Some(_) => {}
            None => {
                for set in self.sets.list(pod.metadata.namespace.as_deref()) {
                    if could_adopt(&set, pod) {
                        self.queue.add(Key::of(set.as_ref()));
                    }
                }
            }
        }
    }

    async fn sync(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some(set) = self.sets.get(key) else { return Ok(None) };
        if set.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        let ns = key.namespace.clone().unwrap_or_default();
        let owned = self.claim_pods(&set, &ns).await?;
        let revisions = self.revisions(&set, &ns).await?;
        let update_name = name_of(&revisions.update);
        let current_name = name_of(&revisions.current);
        let settings = Settings::of(&set);
        let now = jiff::Timestamp::now();
        let decided = plan::plan(&set, &settings, &owned, &update_name, now);
        // Claims get their owners before any condemned pod goes, so the garbage collector
        // follows the retention policy when it does.
        for pod in &owned {
            self.fix_claim_owners(&set, &ns, pod).await?;
        }
        for action in &decided.actions {
            self.act(&set, &ns, action, &revisions, &owned).await?;
        }
        self.truncate_history(&set, &ns, &revisions, &owned).await?;

        let counts = status::count(&owned, &current_name, &update_name, settings.min_ready_seconds, now);
        let want = status::status(
            &counts,
            settings.partition.is_some(),
            &current_name,
            &update_name,
            set.metadata.generation,
            revisions.collision_count,
        );
        let have = serde_json::to_value(&set.status).unwrap_or_default();
        if status::differs(&have, &want) {
            let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), &ns);
            let patch = json!({"status": want});
            match api.patch_status(&key.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(decided.requeue_after)
    }

    /// The set's pods: those it controls whose labels still match (others are released), plus
    /// matching orphans named for it, which it adopts.
    async fn claim_pods(&self, set: &StatefulSet, ns: &str) -> anyhow::Result<Vec<Arc<Pod>>> {
        let uid = set.metadata.uid.clone().unwrap_or_default();
        let selector = selector_of(set);
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let mut owned = Vec::new();
        for pod in self.pods.list(Some(ns)) {
            match controller_of(&pod.metadata) {
                Some(cref) if cref.uid == uid => {
                    if selector.matches(pod.metadata.labels.as_ref()) {
                        owned.push(pod);
                    } else {
                        let refs: Vec<_> =
                            pod.owner_references().iter().filter(|r| r.uid != uid).cloned().collect();
                        let patch = json!({"metadata": {"ownerReferences": refs, "uid": pod.metadata.uid}});
                        patch_ignoring_gone(&api, &name_of(pod.as_ref()), &patch).await?;
                    }
                }
                Some(_) => {}
                None if pods::is_active(&pod) && could_adopt(set, &pod) => {
                    let mut refs = pod.owner_references().to_vec();
                    refs.push(controller_ref(set));
                    let patch = json!({"metadata": {"ownerReferences": refs, "uid": pod.metadata.uid}});
                    if patch_ignoring_gone(&api, &name_of(pod.as_ref()), &patch).await? {
                        owned.push(pod);
                    }
                }
                None => {}
            }
        }
        Ok(owned)
    }

    /// The current and update revisions, creating the update revision when the template is new
    /// and renumbering an older one when the template went back to it (upstream's
    /// `getStatefulSetRevisions`).
    async fn revisions(&self, set: &StatefulSet, ns: &str) -> anyhow::Result<Revisions> {
        let mut owned = self.owned_revisions(set, ns);
        history::sort(&mut owned);
        let api: Api<ControllerRevision> = Api::namespaced(self.client.clone(), ns);
        let template = set.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
        let labels = template.metadata.as_ref().and_then(|m| m.labels.clone());
        let collision_count = set.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0);
        let next = history::next_number(&owned);
        let make = |collisions: Option<i32>| {
            let data = history::template_patch(&template);
            history::new_revision(controller_ref(set), ns, labels.as_ref(), data, next, collisions)
        };
        let candidate = make(Some(collision_count).filter(|c| *c > 0));
        let equal: Vec<_> = owned.iter().filter(|r| history::equal(r, &candidate)).collect();
        let (update, collision_count) = match (equal.last(), owned.last()) {
            (Some(eq), Some(last)) if history::equal(eq, last) => ((**last).clone(), collision_count),
            (Some(eq), _) => (history::renumber(&api, eq, next).await?, collision_count),
            (None, _) => {
                let created = history::create(&api, collision_count, make).await?;
                (created.revision, created.collision_count)
            }
        };
        let current_name = set.status.as_ref().and_then(|s| s.current_revision.clone());
        let current = owned
            .iter()
            .find(|r| r.metadata.name.is_some() && r.metadata.name == current_name)
            .map_or_else(|| update.clone(), |r| (**r).clone());
        Ok(Revisions { current, update, collision_count })
    }

    fn owned_revisions(&self, set: &StatefulSet, ns: &str) -> Vec<Arc<ControllerRevision>> {
        let uid = set.metadata.uid.as_deref().unwrap_or("");
        self.revisions
            .list(Some(ns))
            .into_iter()
            .filter(|r| controller_of(&r.metadata).is_some_and(|c| c.uid == uid))
            .collect()
    }

    /// Deletes the oldest revisions no pod uses beyond `revisionHistoryLimit`.
    async fn truncate_history(
        &self,
        set: &StatefulSet,
        ns: &str,
        revisions: &Revisions,
        owned: &[Arc<Pod>],
    ) -> anyhow::Result<()> {
        let mut all = self.owned_revisions(set, ns);
        history::sort(&mut all);
        let current = name_of(&revisions.current);
        let update = name_of(&revisions.update);
        let mut live: Vec<&str> = vec![&current, &update];
        live.extend(owned.iter().filter_map(|p| identity::revision_of(p)));
        let limit = set.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10);
        let api: Api<ControllerRevision> = Api::namespaced(self.client.clone(), ns);
        for old in history::to_truncate(&all, &live, limit) {
            match api.delete(&name_of(old.as_ref()), &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn act(
        &self,
        set: &StatefulSet,
        ns: &str,
        action: &Action,
        revisions: &Revisions,
        owned: &[Arc<Pod>],
    ) -> anyhow::Result<()> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let set_name = name_of(set);
        match action {
            Action::Create { ordinal, revision } => {
                let (template, revision) = match revision {
                    Revision::Update => (set.spec.as_ref().map(|s| s.template.clone()), &revisions.update),
                    Revision::Current => (history::template_of(&revisions.current), &revisions.current),
                };
                let template = template.unwrap_or_default();
                let pod = identity::new_pod(set, &template, *ordinal, &name_of(revision));
                let pod_name = name_of(&pod);
                self.create_claims(set, ns, *ordinal, &pod_name).await?;
                match pods.create(&PostParams::default(), &pod).await {
                    Ok(_) => {
                        let msg = format!("create Pod {pod_name} in StatefulSet {set_name} successful");
                        self.recorder.record(set, Type::Normal, "SuccessfulCreate", &msg).await;
                    }
                    // A cache that lags our own create: the pod is there.
                    Err(e) if is_conflict(&e) => {}
                    Err(e) => {
                        let msg = format!(
                            "create Pod {pod_name} in StatefulSet {set_name} failed error: {}",
                            api_message(&e)
                        );
                        self.recorder.record(set, Type::Warning, "FailedCreate", &msg).await;
                        return Err(e.into());
                    }
                }
            }
            Action::Delete { pod } => {
                // The uid precondition keeps a stale cache from deleting a replacement.
                let uid =
                    owned.iter().find(|p| p.metadata.name.as_deref() == Some(pod)).and_then(|p| p.uid());
                let params = DeleteParams {
                    preconditions: Some(Preconditions { uid, resource_version: None }),
                    ..Default::default()
                };
                match pods.delete(pod, &params).await {
                    Ok(_) => {
                        let msg = format!("delete Pod {pod} in StatefulSet {set_name} successful");
                        self.recorder.record(set, Type::Normal, "SuccessfulDelete", &msg).await;
                    }
                    Err(e) if is_not_found(&e) || is_conflict(&e) => {}
                    Err(e) => {
                        let msg = format!(
                            "delete Pod {pod} in StatefulSet {set_name} failed error: {}",
                            api_message(&e)
                        );
                        self.recorder.record(set, Type::Warning, "FailedDelete", &msg).await;
                        return Err(e.into());
                    }
                }
            }
            Action::FixIdentity { ordinal } => {
                let name = identity::pod_name(&set_name, *ordinal);
                let patch = json!({"metadata": {"labels": identity::identity_labels(set, *ordinal)}});
                if patch_ignoring_gone(&pods, &name, &patch).await? {
                    let msg = format!("update Pod {name} in StatefulSet {set_name} successful");
                    self.recorder.record(set, Type::Normal, "SuccessfulUpdate", &msg).await;
                }
            }
        }
        Ok(())
    }

    /// Sets the owner references of the pod's claims as the retention policy wants them.
    async fn fix_claim_owners(&self, set: &StatefulSet, ns: &str, pod: &Pod) -> anyhow::Result<()> {
        let Some(ordinal) = identity::ordinal_in(&name_of(set), pod) else { return Ok(()) };
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), ns);
        for wanted in identity::claims(set, ordinal) {
            let Some(claim) = self.claims.get(&Key::namespaced(ns, &name_of(&wanted))) else { continue };
            let Some(refs) = retention::wanted_refs(set, pod, &claim) else { continue };
            // The resourceVersion makes it conditional; a claim that changed is looked at again.
            let patch = json!({"metadata": {
                "ownerReferences": refs,
                "resourceVersion": claim.metadata.resource_version,
            }});
            let claim_name = name_of(claim.as_ref());
            match api.patch(&claim_name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => anyhow::bail!(
                    "could not update claim {claim_name} for delete policy ownerRefs: {}",
                    api_message(&e)
                ),
            }
        }
        Ok(())
    }

    /// Creates the claims of the pod with `ordinal` that do not exist yet.
    async fn create_claims(
        &self,
        set: &StatefulSet,
        ns: &str,
        ordinal: i32,
        pod: &str,
    ) -> anyhow::Result<()> {
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), ns);
        let set_name = name_of(set);
        for claim in identity::claims(set, ordinal) {
            let claim_name = name_of(&claim);
            if self.claims.get(&Key::namespaced(ns, &claim_name)).is_some() {
                continue;
            }
            match api.create(&PostParams::default(), &claim).await {
                Ok(_) => {
                    let msg =
                        format!("create Claim {claim_name} Pod {pod} in StatefulSet {set_name} success");
                    self.recorder.record(set, Type::Normal, "SuccessfulCreate", &msg).await;
                }
                Err(e) if is_conflict(&e) => {}
                Err(e) => {
                    let msg = format!(
                        "create Claim {claim_name} for Pod {pod} in StatefulSet {set_name} failed error: {}",
                        api_message(&e)
                    );
                    self.recorder.record(set, Type::Warning, "FailedCreate", &msg).await;
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }
}

fn selector_of(set: &StatefulSet) -> Selector {
    Selector::from_label_selector(set.spec.as_ref().map(|s| &s.selector))
}

/// Whether an orphan pod is one the set may adopt: its labels match and its name is one of
/// the set's ordinals (upstream's `isMemberOf`).
fn could_adopt(set: &StatefulSet, pod: &Pod) -> bool {
    set.metadata.deletion_timestamp.is_none()
        && selector_of(set).matches(pod.metadata.labels.as_ref())
        && identity::ordinal_in(set.metadata.name.as_deref().unwrap_or(""), pod).is_some()
}

/// Merge-patches `name`, conditional on the uid in the patch; `false` if it is gone or changed.
async fn patch_ignoring_gone<K>(api: &Api<K>, name: &str, patch: &serde_json::Value) -> anyhow::Result<bool>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.patch(name, &PatchParams::default(), &Patch::Merge(patch)).await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
