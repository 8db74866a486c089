//! What a StatefulSet sync does next, decided from the set and its pods alone (upstream's
//! `updateStatefulSet`): fill missing ordinals, replace failed pods, delete condemned ordinals
//! from the highest down, and roll pods to the update revision from the highest ordinal down to
//! the partition. Under `OrderedReady` each step waits for every lower ordinal to be Running
//! and Ready; under `Parallel` creation and deletion do not wait.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use k8s_openapi::api::{apps::v1::StatefulSet, core::v1::Pod};

use super::identity::{identity_matches, ordinal_in, revision_of};
use crate::pods;

/// Which revision a new pod is made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revision {
    Current,
    Update,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create the pod (and its claims) for an ordinal.
    Create { ordinal: i32, revision: Revision },
    /// Delete a pod: condemned by a scale-down, finished, or at an old revision.
    Delete { pod: String },
    /// Put the identity labels back on a pod.
    FixIdentity { ordinal: i32 },
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Look again then (a Ready pod becoming available after minReadySeconds).
    pub requeue_after: Option<Duration>,
}

/// The settings the decisions depend on.
pub struct Settings {
    pub name: String,
    pub start: i32,
    pub replicas: i32,
    pub ordered: bool,
    /// `Some(partition)` for RollingUpdate, `None` for OnDelete.
    pub partition: Option<i32>,
    pub min_ready_seconds: i32,
}

impl Settings {
    pub fn of(set: &StatefulSet) -> Settings {
        let spec = set.spec.as_ref();
        let strategy = spec.and_then(|s| s.update_strategy.as_ref());
        let rolling = strategy.and_then(|s| s.type_.as_deref()).unwrap_or("RollingUpdate") == "RollingUpdate";
        let partition =
            strategy.and_then(|s| s.rolling_update.as_ref()).and_then(|r| r.partition).unwrap_or(0);
        Settings {
            name: set.metadata.name.clone().unwrap_or_default(),
            start: spec.and_then(|s| s.ordinals.as_ref()).and_then(|o| o.start).unwrap_or(0).max(0),
            replicas: spec.and_then(|s| s.replicas).unwrap_or(1).max(0),
            ordered: spec.and_then(|s| s.pod_management_policy.as_deref()) != Some("Parallel"),
            partition: rolling.then_some(partition),
            min_ready_seconds: spec.and_then(|s| s.min_ready_seconds).unwrap_or(0),
        }
    }
}

pub fn is_running_and_ready(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") && pods::is_ready(pod)
}

fn is_finished(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

fn is_healthy(pod: &Pod) -> bool {
    is_running_and_ready(pod) && !pods::is_terminating(pod)
}

/// Decides the next actions for `set` given its pods and its update revision's name.
pub fn plan(
    set: &StatefulSet,
    settings: &Settings,
    owned: &[Arc<Pod>],
    update_revision: &str,
    now: jiff::Timestamp,
) -> Plan {
    let mut out = Plan::default();
    let end = settings.start + settings.replicas;
    let mut replicas: BTreeMap<i32, &Pod> = BTreeMap::new();
    let mut condemned: Vec<(i32, &Pod)> = Vec::new();
    for pod in owned {
        let Some(ordinal) = ordinal_in(&settings.name, pod) else { continue };
        if (settings.start..end).contains(&ordinal) {
            replicas.insert(ordinal, pod);
        } else {
            condemned.push((ordinal, pod));
        }
    }
    condemned.sort_by_key(|(o, _)| *o);
    // The first unhealthy pod: a missing or unready replica in ordinal order, else the lowest
    // unhealthy condemned pod. Only it may be deleted while the set is unhealthy.
    let first_unhealthy: Option<Option<&str>> = (settings.start..end)
        .find_map(|o| match replicas.get(&o) {
            None => Some(None),
            Some(p) if !is_healthy(p) => Some(p.metadata.name.as_deref()),
            Some(_) => None,
        })
        .or_else(|| condemned.iter().find(|(_, p)| !is_healthy(p)).map(|(_, p)| p.metadata.name.as_deref()));

    for ordinal in settings.start..end {
        let Some(pod) = replicas.get(&ordinal).copied() else {
            let revision = match settings.partition {
                Some(partition) if ordinal < partition => Revision::Current,
                _ => Revision::Update,
            };
            out.actions.push(Action::Create { ordinal, revision });
            if settings.ordered {
                return out;
            }
            continue;
        };
        if is_finished(pod) {
            // Replaced once it is gone: the next sync finds the ordinal free.
            if !pods::is_terminating(pod) {
                out.actions.push(Action::Delete { pod: pod.metadata.name.clone().unwrap_or_default() });
            }
            if settings.ordered {
                return out;
            }
            continue;
        }
        if pods::is_terminating(pod) || !is_running_and_ready(pod) {
            if settings.ordered {
                return out;
            }
            continue;
        }
        if !pods::is_available(pod, settings.min_ready_seconds, now) {
            out.requeue_after = Some(Duration::from_secs(settings.min_ready_seconds.max(1) as u64));
            if settings.ordered {
                return out;
            }
            continue;
        }
        if !identity_matches(set, pod, ordinal) {
            out.actions.push(Action::FixIdentity { ordinal });
        }
    }

    // Scale down, highest ordinal first.
    for (_, pod) in condemned.iter().rev() {
        if pods::is_terminating(pod) {
            if settings.ordered {
                return out;
            }
            continue;
        }
        if settings.ordered
            && let Some(first) = first_unhealthy
            && first != pod.metadata.name.as_deref()
        {
            return out;
        }
        out.actions.push(Action::Delete { pod: pod.metadata.name.clone().unwrap_or_default() });
        if settings.ordered {
            return out;
        }
    }

    // Rolling update, highest ordinal first, down to the partition, one pod at a time.
    let Some(partition) = settings.partition else { return out };
    if !out.actions.is_empty() {
        return out;
    }
    for ordinal in (partition.max(settings.start)..end).rev() {
        let Some(pod) = replicas.get(&ordinal) else { return out };
        if revision_of(pod) != Some(update_revision) && !pods::is_terminating(pod) {
            out.actions.push(Action::Delete { pod: pod.metadata.name.clone().unwrap_or_default() });
            return out;
        }
        if !is_healthy(pod) || !pods::is_available(pod, settings.min_ready_seconds, now) {
            return out;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use k8s_openapi::{
        api::core::v1::{PodCondition, PodStatus},
        apimachinery::pkg::apis::meta::v1::Time,
    };

    use super::*;
    use crate::statefulset::identity::{new_pod, tests::set};

    fn pod(set: &StatefulSet, ordinal: i32, revision: &str, ready: bool) -> Arc<Pod> {
        let mut p = new_pod(set, &set.spec.as_ref().unwrap().template, ordinal, revision);
        p.status = Some(PodStatus {
            phase: Some("Running".into()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                last_transition_time: Some(Time(jiff::Timestamp::UNIX_EPOCH)),
                ..Default::default()
            }]),
            ..Default::default()
        });
        Arc::new(p)
    }

    fn decide(set: &StatefulSet, pods: &[Arc<Pod>]) -> Vec<Action> {
        plan(set, &Settings::of(set), pods, "web-new", jiff::Timestamp::now()).actions
    }

    fn create(ordinal: i32) -> Action {
        Action::Create { ordinal, revision: Revision::Update }
    }

    fn delete(name: &str) -> Action {
        Action::Delete { pod: name.into() }
    }

    #[test]
    fn ordered_ready_creates_one_ordinal_at_a_time_after_the_previous_is_ready() {
        let s = set();
        assert_eq!(decide(&s, &[]), [create(0)]);
        assert_eq!(decide(&s, &[pod(&s, 0, "web-new", false)]), []);
        assert_eq!(decide(&s, &[pod(&s, 0, "web-new", true)]), [create(1)]);
        let all = [pod(&s, 0, "web-new", true), pod(&s, 1, "web-new", true), pod(&s, 2, "web-new", true)];
        assert_eq!(decide(&s, &all), []);
    }

    #[test]
    fn parallel_creates_every_missing_ordinal_at_once() {
        let mut s = set();
        s.spec.as_mut().unwrap().pod_management_policy = Some("Parallel".into());
        assert_eq!(decide(&s, &[pod(&s, 1, "web-new", false)]), [create(0), create(2)]);
    }

    #[test]
    fn scale_down_removes_the_highest_ordinal_first_one_at_a_time() {
        let mut s = set();
        s.spec.as_mut().unwrap().replicas = Some(1);
        let pods: Vec<_> = (0..3).map(|o| pod(&s, o, "web-new", true)).collect();
        assert_eq!(decide(&s, &pods), [delete("web-2")]);
        // While web-2 terminates, nothing else goes.
        let mut terminating = (*pods[2]).clone();
        terminating.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::now()));
        assert_eq!(decide(&s, &[pods[0].clone(), pods[1].clone(), Arc::new(terminating)]), []);
        assert_eq!(decide(&s, &pods[..2]), [delete("web-1")]);
        // An unready replica holds a scale-down back.
        let unready = [pod(&s, 0, "web-new", false), pods[1].clone()];
        assert_eq!(decide(&s, &unready), []);
    }

    #[test]
    fn rolling_update_goes_from_the_highest_ordinal_down_to_the_partition() {
        let mut s = set();
        let old: Vec<_> = (0..3).map(|o| pod(&s, o, "web-old", true)).collect();
        assert_eq!(decide(&s, &old), [delete("web-2")]);
        let mid = [old[0].clone(), old[1].clone(), pod(&s, 2, "web-new", false)];
        assert_eq!(decide(&s, &mid), [], "waits for web-2 to be ready");
        let mid = [old[0].clone(), old[1].clone(), pod(&s, 2, "web-new", true)];
        assert_eq!(decide(&s, &mid), [delete("web-1")]);

        let strategy = serde_json::json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}});
        s.spec.as_mut().unwrap().update_strategy = Some(serde_json::from_value(strategy).unwrap());
        assert_eq!(decide(&s, &mid), [], "ordinals below the partition stay");
        // A missing ordinal below the partition comes back at the current revision.
        assert_eq!(
            decide(&s, &[old[0].clone()]),
            [Action::Create { ordinal: 1, revision: Revision::Current }]
        );

        let on_delete = serde_json::json!({"type": "OnDelete"});
        s.spec.as_mut().unwrap().update_strategy = Some(serde_json::from_value(on_delete).unwrap());
        assert_eq!(decide(&s, &old), []);
    }

    #[test]
    fn a_failed_pod_is_deleted_to_be_recreated() {
        let s = set();
        let mut failed = (*pod(&s, 0, "web-new", false)).clone();
        failed.status.as_mut().unwrap().phase = Some("Failed".into());
        assert_eq!(decide(&s, &[Arc::new(failed)]), [delete("web-0")]);
    }
}
