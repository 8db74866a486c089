//! A DaemonSet's status from nodes and its pods (upstream's `updateDaemonSetStatus`).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod, PodSpec};
use serde_json::{Value, json};

use super::{
    eligibility::should_run,
    plan::{ByNode, HASH_LABEL},
};
use crate::pods;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub desired: i32,
    pub current: i32,
    pub misscheduled: i32,
    pub ready: i32,
    pub available: i32,
    pub updated: i32,
}

/// Counts per node; readiness and revision are read from each node's oldest pod.
pub fn count(
    nodes: &[Arc<Node>],
    spec: &PodSpec,
    by_node: &ByNode,
    hash: &str,
    min_ready_seconds: i32,
    now: jiff::Timestamp,
) -> Counts {
    let mut c = Counts::default();
    for node in nodes {
        let name = node.metadata.name.as_deref().unwrap_or("");
        let pods = by_node.get(name).map(Vec::as_slice).unwrap_or(&[]);
        let (run, _) = should_run(spec, node);
        if !run {
            if !pods.is_empty() {
                c.misscheduled += 1;
            }
            continue;
        }
        c.desired += 1;
        let created = |p: &Arc<Pod>| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let Some(oldest) = pods.iter().min_by_key(|p| created(p)) else { continue };
        c.current += 1;
        if pods::is_ready(oldest) {
            c.ready += 1;
            if pods::is_available(oldest, min_ready_seconds, now) {
                c.available += 1;
            }
        }
        if oldest.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)).map(String::as_str) == Some(hash) {
            c.updated += 1;
        }
    }
    c
}

pub fn status(c: &Counts, generation: Option<i64>, collision_count: i32) -> Value {
    let nonzero = |n: i32| if n == 0 { Value::Null } else { json!(n) };
    json!({
        "desiredNumberScheduled": c.desired,
        "currentNumberScheduled": c.current,
        "numberMisscheduled": c.misscheduled,
        "numberReady": c.ready,
        "numberAvailable": nonzero(c.available),
        "numberUnavailable": nonzero(c.desired - c.available),
        "updatedNumberScheduled": nonzero(c.updated),
        "observedGeneration": generation,
        "collisionCount": nonzero(collision_count),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemonset::plan::tests::{node, pod};

    #[test]
    fn counts_per_node() {
        let nodes = [node("a"), node("b"), node("c")];
        let by_node: ByNode = [
            ("a".to_string(), vec![pod("a1", "new", true)]),
            ("b".to_string(), vec![pod("b1", "old", false)]),
        ]
        .into();
        let c = count(&nodes, &PodSpec::default(), &by_node, "new", 0, jiff::Timestamp::now());
        assert_eq!(c, Counts { desired: 3, current: 2, misscheduled: 0, ready: 1, available: 1, updated: 1 });
        let s = status(&c, Some(1), 0);
        assert_eq!(s["numberUnavailable"], 2);
    }
}
