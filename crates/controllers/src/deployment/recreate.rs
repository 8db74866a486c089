//! The Recreate strategy's one rule beyond scaling: the new ReplicaSet grows only once every
//! pod of the old ones is gone (upstream's `oldPodsRunning`).

use std::collections::HashSet;

use k8s_openapi::api::{apps::v1::ReplicaSet, core::v1::Pod};

use super::util::rs_actual;
use crate::owner::controller_of;

/// Whether old ReplicaSets still report pods, or any pod they control has not finished
/// (terminating pods count: they may still be serving).
pub fn old_pods_running(old: &[&ReplicaSet], pods: &[&Pod]) -> bool {
    if old.iter().map(|rs| rs_actual(rs)).sum::<i32>() > 0 {
        return true;
    }
    let uids: HashSet<&str> = old.iter().filter_map(|rs| rs.metadata.uid.as_deref()).collect();
    pods.iter().any(|pod| {
        let ours = controller_of(&pod.metadata).is_some_and(|r| uids.contains(r.uid.as_str()));
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        ours && !matches!(phase, Some("Succeeded" | "Failed"))
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::{
        api::core::v1::PodStatus,
        apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
    };

    use super::*;
    use crate::deployment::util::tests::replica_set;

    fn pod_of(uid: &str, phase: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                owner_references: Some(vec![OwnerReference {
                    uid: uid.into(),
                    controller: Some(true),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            spec: None,
            status: Some(PodStatus { phase: Some(phase.into()), ..Default::default() }),
        }
    }

    #[test]
    fn old_pods_hold_the_new_replica_set_back_until_they_finish() {
        let mut old = replica_set("old", 0, 0, 1);
        old.metadata.uid = Some("u1".into());
        assert!(!old_pods_running(&[&old], &[]));
        let running = pod_of("u1", "Running");
        assert!(old_pods_running(&[&old], &[&running]));
        let done = pod_of("u1", "Succeeded");
        let other = pod_of("u2", "Running");
        assert!(!old_pods_running(&[&old], &[&done, &other]));
        let reporting = replica_set("old", 0, 0, 1);
        let mut reporting = reporting;
        reporting.status.as_mut().unwrap().replicas = 1;
        assert!(old_pods_running(&[&reporting], &[]));
    }
}
