//! How many pods a budget's percentage is a share of: the summed scale of the controllers
//! owning the selected pods, as upstream's `getExpectedScale` finds them (ReplicationController,
//! Deployment through its ReplicaSet, ReplicaSet, StatefulSet, then any resource's `scale`
//! subresource).

use std::{collections::HashMap, sync::Arc};

use anyhow::Context;
use k8s_openapi::{
    api::{
        apps::v1::{Deployment, ReplicaSet, StatefulSet},
        core::v1::{Pod, ReplicationController},
    },
    apimachinery::pkg::apis::meta::v1::OwnerReference,
};
use kube::{
    Api, ResourceExt,
    api::{DynamicObject, GroupVersionKind},
    discovery,
};

use crate::{
    informer::{Informer, Informers, Key},
    owner,
};

/// What was found for the selected pods.
#[derive(Debug, PartialEq, Eq)]
pub struct ExpectedScale {
    /// The sum of the owning controllers' desired replicas, each controller counted once.
    pub count: i32,
    /// Selected pods without a controller (they count for nothing).
    pub unmanaged: Vec<String>,
}

/// A controller and its desired replicas.
type Scale = (String, i32);

pub struct ScaleFinder {
    client: kube::Client,
    rcs: Arc<Informer<ReplicationController>>,
    replica_sets: Arc<Informer<ReplicaSet>>,
    deployments: Arc<Informer<Deployment>>,
    stateful_sets: Arc<Informer<StatefulSet>>,
}

/// Whether `r` names `kind` in one of `groups` (`""` is the core group).
fn is_kind(r: &OwnerReference, kind: &str, groups: &[&str]) -> bool {
    let group = r.api_version.rsplit_once('/').map_or("", |(g, _)| g);
    r.kind == kind && groups.contains(&group)
}

const APPS: &[&str] = &["apps", "extensions"];

impl ScaleFinder {
    pub fn new(informers: &Informers) -> ScaleFinder {
        ScaleFinder {
            client: informers.client(),
            rcs: informers.get(),
            replica_sets: informers.get(),
            deployments: informers.get(),
            stateful_sets: informers.get(),
        }
    }

    pub async fn wait_synced(&self) {
        self.rcs.wait_synced().await;
        self.replica_sets.wait_synced().await;
        self.deployments.wait_synced().await;
        self.stateful_sets.wait_synced().await;
    }

    /// # Errors
    /// `found no controllers for pod "<name>"` when a pod's controller cannot be found, or the
    /// API error reading a scale subresource.
    pub async fn expected_scale(&self, pods: &[Arc<Pod>]) -> anyhow::Result<ExpectedScale> {
        let mut scales: HashMap<String, i32> = HashMap::new();
        let mut unmanaged = Vec::new();
        for pod in pods {
            let Some(r) = owner::controller_of(&pod.metadata) else {
                unmanaged.push(pod.name_any());
                continue;
            };
            if scales.contains_key(&r.uid) {
                continue;
            }
            let ns = pod.namespace().unwrap_or_default();
            let found = match self.find_in_caches(r, &ns) {
                Some(scale) => Some(scale),
                None => self.find_by_scale_subresource(r, &ns).await?,
            };
            let Some((uid, replicas)) = found else {
                anyhow::bail!("found no controllers for pod {:?}", pod.name_any());
            };
            scales.insert(uid, replicas);
        }
        Ok(ExpectedScale { count: scales.values().sum(), unmanaged })
    }

    /// The built-in controllers, from the caches, in upstream's finder order.
    fn find_in_caches(&self, r: &OwnerReference, ns: &str) -> Option<Scale> {
        let key = Key::namespaced(ns, &r.name);
        if is_kind(r, "ReplicationController", &[""]) {
            let rc = self.rcs.get(&key).filter(|rc| rc.uid().as_deref() == Some(&r.uid))?;
            return Some((r.uid.clone(), rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)));
        }
        if is_kind(r, "ReplicaSet", APPS) {
            let rs = self.replica_sets.get(&key).filter(|rs| rs.uid().as_deref() == Some(&r.uid))?;
            return match owner::controller_of(&rs.metadata) {
                Some(d) if d.kind == "Deployment" => {
                    if !is_kind(d, "Deployment", APPS) {
                        return None;
                    }
                    let deployment = self
                        .deployments
                        .get(&Key::namespaced(ns, &d.name))
                        .filter(|dep| dep.uid().as_deref() == Some(&d.uid))?;
                    Some((d.uid.clone(), deployment.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)))
                }
                _ => Some((r.uid.clone(), rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1))),
            };
        }
        if is_kind(r, "StatefulSet", &["apps"]) {
            let sts = self.stateful_sets.get(&key).filter(|s| s.uid().as_deref() == Some(&r.uid))?;
            return Some((r.uid.clone(), sts.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)));
        }
        None
    }

    /// Any other controller through its `scale` subresource; `None` when it has none or is
    /// gone (or is another object of the same name).
    async fn find_by_scale_subresource(&self, r: &OwnerReference, ns: &str) -> anyhow::Result<Option<Scale>> {
        let (group, version) = r.api_version.rsplit_once('/').unwrap_or(("", r.api_version.as_str()));
        let gvk = GroupVersionKind::gvk(group, version, &r.kind);
        let (resource, _) = discovery::pinned_kind(&self.client, &gvk)
            .await
            .with_context(|| format!("no matches for kind {:?} in version {:?}", r.kind, r.api_version))?;
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &resource);
        match api.get_scale(&r.name).await {
            Ok(scale) if scale.metadata.uid.as_deref() == Some(&r.uid) => {
                Ok(Some((r.uid.clone(), scale.spec.and_then(|s| s.replicas).unwrap_or(0))))
            }
            Ok(_) => Ok(None),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading the scale of {} {}", r.kind, r.name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(api_version: &str, kind: &str) -> OwnerReference {
        OwnerReference { api_version: api_version.into(), kind: kind.into(), ..OwnerReference::default() }
    }

    #[test]
    fn kinds_match_in_their_groups_only() {
        assert!(is_kind(&reference("v1", "ReplicationController"), "ReplicationController", &[""]));
        assert!(is_kind(&reference("apps/v1", "ReplicaSet"), "ReplicaSet", APPS));
        assert!(is_kind(&reference("extensions/v1beta1", "ReplicaSet"), "ReplicaSet", APPS));
        assert!(!is_kind(&reference("example.com/v1", "ReplicaSet"), "ReplicaSet", APPS));
        assert!(!is_kind(&reference("apps/v1", "StatefulSet"), "ReplicaSet", APPS));
    }
}
