//! A StatefulSet's status from its pods (upstream's `computeReplicaStatus` and
//! `completeRollingUpdate`).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use super::{identity::revision_of, plan::is_running_and_ready};
use crate::pods;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub replicas: i32,
    pub ready: i32,
    pub available: i32,
    pub current: i32,
    pub updated: i32,
}

/// Counts pods that exist (have a phase), are ready, available, and at either revision.
pub fn count(
    owned: &[Arc<Pod>],
    current_revision: &str,
    update_revision: &str,
    min_ready_seconds: i32,
    now: jiff::Timestamp,
) -> Counts {
    let mut c = Counts::default();
    for pod in owned {
        let created = pod.status.as_ref().and_then(|s| s.phase.as_deref()).is_some_and(|p| !p.is_empty());
        if created {
            c.replicas += 1;
        }
        if is_running_and_ready(pod) {
            c.ready += 1;
            if pods::is_available(pod, min_ready_seconds, now) {
                c.available += 1;
            }
        }
        if created && !pods::is_terminating(pod) {
            let revision = revision_of(pod);
            if revision == Some(current_revision) {
                c.current += 1;
            }
            if revision == Some(update_revision) {
                c.updated += 1;
            }
        }
    }
    c
}

/// The status to write. A rolling update whose pods are all updated and ready is complete: the
/// update revision becomes the current one.
pub fn status(
    counts: &Counts,
    rolling: bool,
    current_revision: &str,
    update_revision: &str,
    generation: Option<i64>,
    collision_count: i32,
) -> Value {
    let (mut current, mut current_revision) = (counts.current, current_revision);
    if rolling && counts.updated == counts.replicas && counts.ready == counts.replicas {
        current = counts.updated;
        current_revision = update_revision;
    }
    // Fields upstream omits when empty are left out, so the status reads the same.
    let nonzero = |n: i32| if n == 0 { Value::Null } else { json!(n) };
    json!({
        "replicas": counts.replicas,
        "readyReplicas": nonzero(counts.ready),
        "currentReplicas": nonzero(current),
        "updatedReplicas": nonzero(counts.updated),
        "availableReplicas": counts.available,
        "currentRevision": current_revision,
        "updateRevision": update_revision,
        "observedGeneration": generation,
        "collisionCount": collision_count,
    })
}

/// Whether `want` differs from the status `have` in any field it sets.
pub fn differs(have: &Value, want: &Value) -> bool {
    want.as_object().is_some_and(|w| {
        w.iter().any(|(k, v)| {
            let h = have.get(k).unwrap_or(&Value::Null);
            // A missing field and an explicit zero read the same.
            !(h == v || (h.is_null() && (v == &json!(0))) || (v.is_null() && h == &json!(0)))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_rolling_update_makes_the_update_revision_current() {
        let counts = Counts { replicas: 3, ready: 3, available: 3, current: 0, updated: 3 };
        let s = status(&counts, true, "web-a", "web-b", Some(2), 0);
        assert_eq!((s["currentRevision"].as_str(), s["currentReplicas"].as_i64()), (Some("web-b"), Some(3)));
        let halfway = Counts { replicas: 3, ready: 3, available: 3, current: 2, updated: 1 };
        let s = status(&halfway, true, "web-a", "web-b", Some(2), 0);
        assert_eq!((s["currentRevision"].as_str(), s["currentReplicas"].as_i64()), (Some("web-a"), Some(2)));
        assert!(differs(&json!({}), &s));
        assert!(!differs(&s, &s));
    }
}
