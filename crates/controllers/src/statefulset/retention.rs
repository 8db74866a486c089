//! `persistentVolumeClaimRetentionPolicy`: the owner references a pod's claims should carry so
//! the garbage collector removes them as the policy says (upstream's `isClaimOwnerUpToDate`
//! and `updateClaimOwnerRefForSetAndPod`): a reference to the set for `whenDeleted: Delete`
//! and, for `whenScaled: Delete`, to the pod once its ordinal is condemned.

use k8s_openapi::{
    api::{
        apps::v1::StatefulSet,
        core::v1::{PersistentVolumeClaim, Pod},
    },
    apimachinery::pkg::apis::meta::v1::OwnerReference,
};

use super::identity;
use crate::owner::controller_ref;

/// Which of the two events delete the claims (Retain, the default, is `false`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub when_deleted: bool,
    pub when_scaled: bool,
}

impl Policy {
    pub fn of(set: &StatefulSet) -> Policy {
        let policy = set.spec.as_ref().and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
        let delete = |v: Option<&String>| v.is_some_and(|v| v == "Delete");
        Policy {
            when_deleted: delete(policy.and_then(|p| p.when_deleted.as_ref())),
            when_scaled: delete(policy.and_then(|p| p.when_scaled.as_ref())),
        }
    }
}

/// Whether the pod's ordinal is one the set keeps (upstream's `podInOrdinalRange`).
fn in_range(set: &StatefulSet, pod: &Pod) -> bool {
    let spec = set.spec.as_ref();
    let start = spec.and_then(|s| s.ordinals.as_ref()).and_then(|o| o.start).unwrap_or(0).max(0);
    let replicas = spec.and_then(|s| s.replicas).unwrap_or(1).max(0);
    let name = set.metadata.name.as_deref().unwrap_or("");
    identity::ordinal_in(name, pod).is_some_and(|o| o >= start && o < start.saturating_add(replicas))
}

fn group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// Upstream's `matchesRef`: same group, kind and name, whatever the uid.
fn names(r: &OwnerReference, owner: &OwnerReference) -> bool {
    group(&r.api_version) == group(&owner.api_version) && r.kind == owner.kind && r.name == owner.name
}

fn has_uid(claim: &PersistentVolumeClaim, uid: &str) -> bool {
    claim.metadata.owner_references.iter().flatten().any(|r| r.uid == uid)
}

/// The owner references the claim should have, or `None` when it already has them or must be
/// left alone (a reference to an older set or pod of the same name, which the garbage
/// collector is left to deal with).
pub fn wanted_refs(
    set: &StatefulSet,
    pod: &Pod,
    claim: &PersistentVolumeClaim,
) -> Option<Vec<OwnerReference>> {
    let set_ref = controller_ref(set);
    let pod_ref = controller_ref(pod);
    let refs = claim.metadata.owner_references.clone().unwrap_or_default();
    let stale =
        |owner: &OwnerReference| refs.iter().find(|r| names(r, owner)).is_some_and(|r| r.uid != owner.uid);
    if stale(&set_ref) || stale(&pod_ref) {
        return None;
    }
    let policy = Policy::of(set);
    let ours = |r: &OwnerReference| names(r, &set_ref) || names(r, &pod_ref);
    // Another controller owns the claim: ours are removed, none are added.
    let unexpected = (policy.when_deleted || policy.when_scaled)
        && refs.iter().any(|r| !ours(r) && r.controller == Some(true));
    let on_set = has_uid(claim, &set_ref.uid);
    let on_pod = has_uid(claim, &pod_ref.uid);
    let scaled_down = !in_range(set, pod);
    let want_set = !unexpected && policy.when_deleted && !(policy.when_scaled && scaled_down);
    let want_pod = !unexpected && policy.when_scaled && scaled_down;
    let not_controller =
        refs.iter().any(|r| (r.uid == set_ref.uid || r.uid == pod_ref.uid) && r.controller != Some(true));
    if !not_controller && on_set == want_set && on_pod == want_pod {
        return None;
    }
    let mut wanted: Vec<OwnerReference> = refs.into_iter().filter(|r| !ours(r)).collect();
    if want_set {
        wanted.push(set_ref);
    }
    if want_pod {
        wanted.push(pod_ref);
    }
    Some(wanted)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn set(replicas: i32, when_deleted: &str, when_scaled: &str) -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "set-uid"},
            "spec": {"replicas": replicas, "serviceName": "web", "selector": {"matchLabels": {"app": "web"}},
                     "template": {},
                     "persistentVolumeClaimRetentionPolicy": {"whenDeleted": when_deleted, "whenScaled": when_scaled}}
        }))
        .unwrap()
    }

    fn pod(ordinal: i32) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": format!("web-{ordinal}"), "namespace": "ns",
                                                    "uid": format!("pod-{ordinal}")}}))
        .unwrap()
    }

    fn claim(refs: Vec<OwnerReference>) -> PersistentVolumeClaim {
        let mut c = PersistentVolumeClaim::default();
        c.metadata.name = Some("data-web-1".into());
        c.metadata.owner_references = Some(refs).filter(|r| !r.is_empty());
        c
    }

    fn kinds(refs: &[OwnerReference]) -> Vec<&str> {
        refs.iter().map(|r| r.kind.as_str()).collect()
    }

    #[test]
    fn claims_follow_the_policy_for_kept_and_condemned_ordinals() {
        // Delete on deletion: the set owns the claims of kept ordinals...
        let both = set(2, "Delete", "Delete");
        assert_eq!(
            wanted_refs(&both, &pod(1), &claim(vec![])).as_deref().map(kinds),
            Some(vec!["StatefulSet"])
        );
        assert_eq!(wanted_refs(&both, &pod(1), &claim(vec![controller_ref(&both)])), None);
        // ...and once scaled below the ordinal, the pod does instead.
        let scaled = set(1, "Delete", "Delete");
        let moved = wanted_refs(&scaled, &pod(1), &claim(vec![controller_ref(&scaled)])).unwrap();
        assert_eq!(kinds(&moved), ["Pod"]);
        assert_eq!(moved[0].uid, "pod-1");
        assert_eq!(moved[0].controller, Some(true));
        // Retain on deletion, delete on scale-down: only condemned ordinals get a reference.
        let scaled_only = set(2, "Retain", "Delete");
        assert_eq!(wanted_refs(&scaled_only, &pod(1), &claim(vec![])), None);
        let condemned = set(1, "Retain", "Delete");
        assert_eq!(wanted_refs(&condemned, &pod(1), &claim(vec![])).as_deref().map(kinds), Some(vec!["Pod"]));
        // Retain everywhere: our references go.
        let retain = set(2, "Retain", "Retain");
        assert_eq!(wanted_refs(&retain, &pod(1), &claim(vec![controller_ref(&retain)])), Some(vec![]));
        assert_eq!(wanted_refs(&retain, &pod(1), &claim(vec![])), None);
    }

    #[test]
    fn foreign_and_stale_owners_are_respected() {
        let s = set(2, "Delete", "Retain");
        let other = OwnerReference {
            api_version: "example.com/v1".into(),
            kind: "Database".into(),
            name: "db".into(),
            uid: "db-uid".into(),
            controller: Some(true),
            block_owner_deletion: None,
        };
        // Another controller: nothing of ours is added.
        assert_eq!(wanted_refs(&s, &pod(1), &claim(vec![other.clone()])), None);
        // A reference to an older set of the same name: left to the garbage collector.
        let mut old = controller_ref(&s);
        old.uid = "old".into();
        assert_eq!(wanted_refs(&s, &pod(1), &claim(vec![old])), None);
        // Our reference without controller: rewritten as one.
        let mut plain = controller_ref(&s);
        plain.controller = None;
        let fixed = wanted_refs(&s, &pod(1), &claim(vec![plain])).unwrap();
        assert_eq!(fixed[0].controller, Some(true));
    }
}
