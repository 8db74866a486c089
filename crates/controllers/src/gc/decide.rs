//! What the garbage collector does with one dependent, given what live reads said about its
//! owners (upstream's `attemptToDeleteItem` after `classifyReferences`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::PropagationPolicy;

use super::graph::{FOREGROUND, ORPHAN};

/// An owner, as a live read by uid found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerState {
    /// There, and not waiting for its dependents.
    Solid,
    /// Not found, or found with another uid: the reference dangles.
    Absent,
    /// Being deleted in the foreground: waits for its dependents to go.
    WaitingForDependents,
}

#[derive(Debug, PartialEq)]
pub enum Action {
    Keep,
    /// Keep the object, dropping references to owners that are gone or waiting for it.
    RemoveOwnerRefs(Vec<String>),
    Delete(PropagationPolicy),
}

/// Decides about an object with owner references.
///
/// * A solid owner keeps it; references to absent or waiting owners are dropped.
/// * With no solid owner it is deleted: in the foreground when an owner waits for it and it
///   has dependents of its own (so that they block the owner too), else as its own finalizers
///   ask (orphan, foreground), else in the background.
pub fn decide(
    owners: &[(OwnerReference, OwnerState)],
    has_dependents: bool,
    finalizers: &[String],
) -> Action {
    let uids =
        |state: OwnerState| owners.iter().filter(move |(_, s)| *s == state).map(|(r, _)| r.uid.clone());
    let solid = uids(OwnerState::Solid).count();
    let waiting: Vec<String> = uids(OwnerState::WaitingForDependents).collect();
    if solid > 0 {
        let mut drop: Vec<String> = uids(OwnerState::Absent).collect();
        drop.extend(waiting);
        return if drop.is_empty() { Action::Keep } else { Action::RemoveOwnerRefs(drop) };
    }
    if !waiting.is_empty() && has_dependents {
        return Action::Delete(PropagationPolicy::Foreground);
    }
    let has = |f: &str| finalizers.iter().any(|x| x == f);
    Action::Delete(if has(ORPHAN) {
        PropagationPolicy::Orphan
    } else if has(FOREGROUND) {
        PropagationPolicy::Foreground
    } else {
        PropagationPolicy::Background
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(uid: &str) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: uid.into(),
            uid: uid.into(),
            controller: None,
            block_owner_deletion: Some(true),
        }
    }

    fn delete(p: PropagationPolicy) -> Action {
        Action::Delete(p)
    }

    #[test]
    fn a_solid_owner_keeps_the_object() {
        assert_eq!(decide(&[(r("a"), OwnerState::Solid)], false, &[]), Action::Keep);
    }

    #[test]
    fn a_solid_owner_keeps_it_but_dangling_and_waiting_references_go() {
        let owners = [
            (r("a"), OwnerState::Solid),
            (r("b"), OwnerState::Absent),
            (r("c"), OwnerState::WaitingForDependents),
        ];
        assert_eq!(decide(&owners, true, &[]), Action::RemoveOwnerRefs(vec!["b".into(), "c".into()]));
    }

    #[test]
    fn with_every_owner_gone_it_is_deleted_in_the_background() {
        let owners = [(r("a"), OwnerState::Absent), (r("b"), OwnerState::Absent)];
        assert_eq!(decide(&owners, false, &[]), delete(PropagationPolicy::Background));
    }

    #[test]
    fn its_own_finalizers_choose_the_policy() {
        let owners = [(r("a"), OwnerState::Absent)];
        assert_eq!(decide(&owners, false, &[ORPHAN.into()]), delete(PropagationPolicy::Orphan));
        assert_eq!(decide(&owners, false, &[FOREGROUND.into()]), delete(PropagationPolicy::Foreground));
    }

    #[test]
    fn a_waiting_owner_deletes_it_in_the_foreground_when_it_has_dependents() {
        let owners = [(r("a"), OwnerState::WaitingForDependents)];
        assert_eq!(decide(&owners, true, &[]), delete(PropagationPolicy::Foreground));
        assert_eq!(decide(&owners, false, &[]), delete(PropagationPolicy::Background));
    }
}
