//! The namespace controller, as upstream's: a namespace being deleted (Terminating, with
//! `kubernetes` in `spec.finalizers`) has every namespaced resource's objects deleted, its
//! deletion conditions reported, and, once nothing is left, the `kubernetes` finalizer
//! removed through `namespaces/{name}/finalize`, after which the API server removes it.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use k8s_openapi::{
    api::core::v1::{Namespace, NamespaceCondition},
    apimachinery::pkg::apis::meta::v1::Time,
};
use kube::{
    Api,
    api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, PropagationPolicy},
    core::PartialObjectMeta,
    discovery::verbs,
};
use serde_json::json;

use crate::{
    discovery::{Resources, Served},
    informer::{Informer, Informers, Key},
    queue::Queue,
};

/// The finalizer this controller owns in `spec.finalizers`.
pub const FINALIZER: &str = "kubernetes";
const WORKERS: usize = 2;
/// Upstream re-checks after half the remaining pods' grace period; capped here so a namespace
/// goes soon after its last pod.
const MAX_RECHECK: Duration = Duration::from_secs(5);

pub struct Controller {
    namespaces: Arc<Informer<Namespace>>,
    queue: Arc<Queue<Key>>,
    client: kube::Client,
}

impl Controller {
    pub fn start(informers: &Informers) {
        let me = Arc::new(Controller {
            namespaces: informers.get::<Namespace>(),
            queue: Queue::new(),
            client: informers.client(),
        });
        let mut changes = me.namespaces.subscribe();
        let watcher = me.clone();
        tokio::spawn(async move {
            watcher.namespaces.wait_synced().await;
            watcher.resync();
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match changes.recv().await {
                    Ok(change) => {
                        let ns = change.object();
                        if ns.metadata.deletion_timestamp.is_some() {
                            watcher.queue.add(Key::of(ns.as_ref()));
                        }
                    }
                    Err(RecvError::Lagged(_)) => watcher.resync(),
                    Err(RecvError::Closed) => return,
                }
            }
        });
        for _ in 0..WORKERS {
            let worker = me.clone();
            tokio::spawn(async move { worker.work().await });
        }
    }

    fn resync(&self) {
        for ns in self.namespaces.list(None) {
            if ns.metadata.deletion_timestamp.is_some() {
                self.queue.add(Key::of(ns.as_ref()));
            }
        }
    }

    async fn work(&self) {
        loop {
            let key = self.queue.next().await;
            match self.sync(&key.name).await {
                Ok(requeue) => {
                    self.queue.forget(&key);
                    if let Some(after) = requeue {
                        self.queue.add_after(key.clone(), after);
                    }
                }
                Err(err) => {
                    tracing::debug!(error = %format!("{err:#}"), namespace = %key, "namespace sync failed; retrying");
                    self.queue.add_rate_limited(key.clone());
                }
            }
            self.queue.done(&key);
        }
    }

    /// Upstream's `namespacedResourcesDeleter.Delete`.
    async fn sync(&self, name: &str) -> anyhow::Result<Option<Duration>> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let Some(ns) = api.get_opt(name).await? else { return Ok(None) };
        if ns.metadata.deletion_timestamp.is_none() || !has_finalizer(&ns) {
            return Ok(None);
        }
        let resources = match Resources::discover(&self.client).await {
            Ok(r) => r,
            Err(err) => {
                let failure = Failures { discovery: Some(err.to_string()), ..Failures::default() };
                self.report(&api, &ns, &failure).await?;
                return Err(err.into());
            }
        };
        let mut failures = Failures::default();
        let mut estimate = 0i64;
        for served in resources.with_verbs(&[verbs::LIST]).filter(|s| s.namespaced) {
            if !served.supports(verbs::DELETE) && !served.supports(verbs::DELETE_COLLECTION) {
                continue;
            }
            match self.delete_content(served, name).await {
                Ok(left) => {
                    if left.count > 0 {
                        failures.remaining.insert(served.qualified_name(), left.count);
                    }
                    for (finalizer, n) in left.finalizers {
                        *failures.finalizers.entry(finalizer).or_default() += n;
                    }
                    estimate = estimate.max(left.grace_seconds);
                }
                Err(err) => failures.content.push(format!("{err:#}")),
            }
        }
        self.report(&api, &ns, &failures).await?;
        if !failures.content.is_empty() {
            anyhow::bail!("failed to delete all resource types: {}", failures.content.join(", "));
        }
        if !failures.remaining.is_empty() {
            let after = Duration::from_secs((estimate / 2 + 1).max(1) as u64).min(MAX_RECHECK);
            return Ok(Some(after));
        }
        self.finalize(&api, name).await?;
        Ok(None)
    }

    /// Deletes one resource's objects in the namespace; reports what is left.
    async fn delete_content(&self, served: &Served, ns: &str) -> anyhow::Result<Left> {
        let api: Api<PartialObjectMeta<DynamicObject>> =
            Api::namespaced_with(self.client.clone(), ns, &served.resource);
        let params =
            DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..Default::default() };
        if served.supports(verbs::DELETE_COLLECTION) {
            match api.delete_collection(&params, &ListParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        } else {
            for obj in api.list(&ListParams::default()).await? {
                let name = obj.metadata.name.clone().unwrap_or_default();
                match api.delete(&name, &params).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let mut left = Left::default();
        for obj in api.list(&ListParams::default()).await? {
            left.count += 1;
            for f in obj.metadata.finalizers.iter().flatten() {
                *left.finalizers.entry(f.clone()).or_default() += 1;
            }
            left.grace_seconds =
                left.grace_seconds.max(obj.metadata.deletion_grace_period_seconds.unwrap_or(0));
        }
        Ok(left)
    }

    /// Writes the deletion conditions when they changed.
    async fn report(&self, api: &Api<Namespace>, ns: &Namespace, failures: &Failures) -> anyhow::Result<()> {
        let old = ns.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
        let new = conditions(&old, failures, jiff::Timestamp::now());
        if new == old {
            return Ok(());
        }
        let patch = json!({"status": {"conditions": new}});
        let name = ns.metadata.name.as_deref().unwrap_or_default();
        match api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes `kubernetes` from `spec.finalizers` through the finalize subresource.
    async fn finalize(&self, api: &Api<Namespace>, name: &str) -> anyhow::Result<()> {
        let Some(mut ns) = api.get_opt(name).await? else { return Ok(()) };
        if let Some(spec) = ns.spec.as_mut() {
            spec.finalizers =
                Some(spec.finalizers.iter().flatten().filter(|f| *f != FINALIZER).cloned().collect());
        }
        match api.replace_subresource("finalize", name, &PostParams::default(), &ns).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

fn has_finalizer(ns: &Namespace) -> bool {
    ns.spec.as_ref().and_then(|s| s.finalizers.as_ref()).is_some_and(|f| f.iter().any(|f| f == FINALIZER))
}

/// What one resource left in the namespace.
#[derive(Default)]
struct Left {
    count: usize,
    finalizers: BTreeMap<String, usize>,
    grace_seconds: i64,
}

/// What went wrong or is still there, as the conditions report it.
#[derive(Debug, Default)]
pub struct Failures {
    pub discovery: Option<String>,
    /// Errors deleting content, one per resource.
    pub content: Vec<String>,
    /// `plural.group` → objects left.
    pub remaining: BTreeMap<String, usize>,
    /// Finalizer → objects left carrying it.
    pub finalizers: BTreeMap<String, usize>,
}

/// Upstream's condition types in its order, each with its reason and message when all is
/// well.
const CONDITIONS: &[(&str, &str, &str)] = &[
    ("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered", "All resources successfully discovered"),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    ("NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"),
    ("NamespaceFinalizersRemaining", "ContentRemoved", "All content successfully removed"),
];

/// The namespace's conditions after a pass: each type True with upstream's reason and message
/// when it failed, else False with the good news. A condition's transition time moves only
/// when its status does; other conditions are kept.
pub fn conditions(
    old: &[NamespaceCondition],
    failures: &Failures,
    now: jiff::Timestamp,
) -> Vec<NamespaceCondition> {
    let failed = |type_: &str| -> Option<(&'static str, String)> {
        match type_ {
            "NamespaceDeletionDiscoveryFailure" => failures.discovery.clone().map(|m| ("DiscoveryFailed", m)),
            "NamespaceDeletionContentFailure" if !failures.content.is_empty() => {
                let mut msgs = failures.content.clone();
                msgs.sort();
                Some((
                    "ContentDeletionFailed",
                    format!(
                        "Failed to delete all resource types, {} remaining: {}",
                        msgs.len(),
                        msgs.join(", ")
                    ),
                ))
            }
            "NamespaceContentRemaining" if !failures.remaining.is_empty() => {
                let mut left: Vec<String> = failures
                    .remaining
                    .iter()
                    .map(|(r, n)| format!("{r} has {n} resource instances"))
                    .collect();
                left.sort();
                Some(("SomeResourcesRemain", format!("Some resources are remaining: {}", left.join(", "))))
            }
            "NamespaceFinalizersRemaining" if !failures.finalizers.is_empty() => {
                let mut left: Vec<String> = failures
                    .finalizers
                    .iter()
                    .map(|(f, n)| format!("{f} in {n} resource instances"))
                    .collect();
                left.sort();
                Some(("SomeFinalizerRemain", format!("Some finalizers are remaining: {}", left.join(", "))))
            }
            _ => None,
        }
    };
    let mut out: Vec<NamespaceCondition> = old.to_vec();
    for (type_, ok_reason, ok_message) in CONDITIONS {
        let (status, reason, message) = match failed(type_) {
            Some((reason, message)) => ("True", reason.to_string(), message),
            None => ("False", ok_reason.to_string(), ok_message.to_string()),
        };
        match out.iter_mut().find(|c| c.type_ == *type_) {
            Some(c) => {
                if c.status != status {
                    c.last_transition_time = Some(Time(now));
                }
                c.status = status.into();
                c.reason = Some(reason);
                c.message = Some(message);
            }
            None => out.push(NamespaceCondition {
                type_: type_.to_string(),
                status: status.into(),
                reason: Some(reason),
                message: Some(message),
                last_transition_time: Some(Time(now)),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn all_is_well_gives_five_false_conditions() {
        let c = conditions(&[], &Failures::default(), at(10));
        assert_eq!(c.len(), 5);
        assert!(c.iter().all(|c| c.status == "False"));
        let remaining = c.iter().find(|c| c.type_ == "NamespaceContentRemaining").unwrap();
        assert_eq!(remaining.reason.as_deref(), Some("ContentRemoved"));
        assert_eq!(remaining.message.as_deref(), Some("All content successfully removed"));
    }

    #[test]
    fn remaining_content_and_finalizers_are_counted_as_upstream_words_them() {
        let mut f = Failures::default();
        f.remaining.insert("pods.".into(), 2);
        f.remaining.insert("configmaps.".into(), 1);
        f.finalizers.insert("example.com/hold".into(), 1);
        let c = conditions(&[], &f, at(10));
        let remaining = c.iter().find(|c| c.type_ == "NamespaceContentRemaining").unwrap();
        assert_eq!(remaining.status, "True");
        assert_eq!(remaining.reason.as_deref(), Some("SomeResourcesRemain"));
        assert_eq!(
            remaining.message.as_deref(),
            Some(
                "Some resources are remaining: configmaps. has 1 resource instances, pods. has 2 resource instances"
            )
        );
        let fin = c.iter().find(|c| c.type_ == "NamespaceFinalizersRemaining").unwrap();
        assert_eq!(
            fin.message.as_deref(),
            Some("Some finalizers are remaining: example.com/hold in 1 resource instances")
        );
    }

    #[test]
    fn transition_times_move_only_with_the_status() {
        let mut f = Failures::default();
        f.remaining.insert("pods.".into(), 1);
        let first = conditions(&[], &f, at(10));
        f.remaining.insert("pods.".into(), 2);
        let second = conditions(&first, &f, at(20));
        let t = |c: &[NamespaceCondition]| {
            c.iter().find(|c| c.type_ == "NamespaceContentRemaining").unwrap().last_transition_time.clone()
        };
        assert_eq!(t(&second), t(&first));
        let third = conditions(&second, &Failures::default(), at(30));
        assert_eq!(t(&third), Some(Time(at(30))));
    }
}
