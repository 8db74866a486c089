//! The RollingUpdate strategy's decisions (upstream's `rolling.go`): grow the new ReplicaSet
//! within the surge, shrink old ones while enough pods stay available.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::util::{self, rs_available, rs_replicas};

/// The new ReplicaSet's next size, if it changes (upstream's `reconcileNewReplicaSet`).
pub fn new_rs_target(d: &Deployment, all: &[&ReplicaSet], new: &ReplicaSet) -> Option<i32> {
    let want = util::replicas(d);
    let size = rs_replicas(new);
    let target = if size > want { want } else { util::new_rs_new_replicas(d, all, new) };
    (target != size).then_some(target)
}

/// How many old pods may go now: all pods, less the minimum available, less the new
/// ReplicaSet's pods that are not available yet (they may never become so).
pub fn max_scaled_down(d: &Deployment, all: &[&ReplicaSet], new: &ReplicaSet) -> i32 {
    let total: i32 = all.iter().map(|rs| rs_replicas(rs)).sum();
    let min_available = util::replicas(d) - util::max_unavailable(d);
    let new_unavailable = rs_replicas(new) - rs_available(new);
    total - min_available - new_unavailable
}

/// First take unavailable pods from old ReplicaSets, oldest first, up to `max`: they serve
/// nobody (upstream's `cleanupUnhealthyReplicas`). Returns `(name, new size)` per change.
pub fn cleanup_unhealthy(old: &[&ReplicaSet], max: i32) -> Vec<(String, i32)> {
    let mut sorted = old.to_vec();
    sorted.sort_by(|a, b| util::by_creation(a, b));
    let mut done = 0;
    let mut changes = Vec::new();
    for rs in sorted {
        if done >= max {
            break;
        }
        let size = rs_replicas(rs);
        let unhealthy = size - rs_available(rs);
        if size == 0 || unhealthy <= 0 {
            continue;
        }
        let down = (max - done).min(unhealthy);
        changes.push((rs.metadata.name.clone().unwrap_or_default(), size - down));
        done += down;
    }
    changes
}

/// Then scale old ReplicaSets down, oldest first, by as many pods as are available above the
/// minimum (upstream's `scaleDownOldReplicaSetsForRollingUpdate`).
pub fn scale_down_old(d: &Deployment, all: &[&ReplicaSet], old: &[&ReplicaSet]) -> Vec<(String, i32)> {
    let min_available = util::replicas(d) - util::max_unavailable(d);
    let available: i32 = all.iter().map(|rs| rs_available(rs)).sum();
    if available <= min_available {
        return Vec::new();
    }
    let budget = available - min_available;
    let mut sorted = old.to_vec();
    sorted.sort_by(|a, b| util::by_creation(a, b));
    let mut done = 0;
    let mut changes = Vec::new();
    for rs in sorted {
        if done >= budget {
            break;
        }
        let size = rs_replicas(rs);
        if size == 0 {
            continue;
        }
        let down = size.min(budget - done);
        changes.push((rs.metadata.name.clone().unwrap_or_default(), size - down));
        done += down;
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::util::tests::{deployment, replica_set};

    /// Plays a rollout to the end, as the controller and the ReplicaSets would, checking
    /// upstream's guarantees at every step: never more than replicas + surge pods, never fewer
    /// than replicas - unavailable available.
    fn play(replicas: i32, surge: &str, unavailable: &str) -> usize {
        let d = deployment(replicas, surge, unavailable);
        let (max_surge, max_unavailable) = (util::max_surge(&d), util::max_unavailable(&d));
        let mut old = replica_set("old", replicas, replicas, 1);
        let mut new = replica_set("new", 0, 0, 2);
        for step in 0..100 {
            let all = [&old, &new];
            if let Some(target) = new_rs_target(&d, &all, &new) {
                new = replica_set("new", target, rs_available(&new), 2);
            } else {
                let max = max_scaled_down(&d, &all, &new);
                if max > 0 {
                    let mut changes = cleanup_unhealthy(&[&old], max);
                    if changes.is_empty() {
                        changes = scale_down_old(&d, &all, &[&old]);
                    }
                    for (_, size) in changes {
                        old = replica_set("old", size, size.min(rs_available(&old)), 1);
                    }
                }
            }
            assert!(rs_replicas(&old) + rs_replicas(&new) <= replicas + max_surge, "step {step}");
            assert!(rs_available(&old) + rs_available(&new) >= replicas - max_unavailable, "step {step}");
            // The new pods come up.
            new = replica_set("new", rs_replicas(&new), rs_replicas(&new), 2);
            if rs_replicas(&old) == 0 && rs_available(&new) == replicas {
                return step;
            }
        }
        panic!("the rollout did not finish");
    }

    #[test]
    fn rollouts_finish_within_their_bounds() {
        for (replicas, surge, unavailable) in [
            (3, "25%", "25%"),
            (10, "25%", "25%"),
            (3, "100%", "0"),
            (5, "0", "1"),
            (4, "1", "0"),
            (1, "0", "0"),
        ] {
            play(replicas, surge, unavailable);
        }
    }

    #[test]
    fn unavailable_old_pods_go_first() {
        let a = replica_set("a", 3, 1, 1);
        let b = replica_set("b", 2, 2, 2);
        assert_eq!(cleanup_unhealthy(&[&b, &a], 5), [("a".to_string(), 1)]);
        assert_eq!(cleanup_unhealthy(&[&a, &b], 1), [("a".to_string(), 2)]);
    }
}
