//! A Deployment's status and conditions (upstream's `progress.go` and `calculateStatus`):
//! counts summed over its ReplicaSets, Available against the minimum, and Progressing from
//! rollout to completion or to the progress deadline.

use std::time::Duration;

use k8s_openapi::{
    api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet},
    apimachinery::pkg::apis::meta::v1::Time,
};

use super::util::{self, rs_actual, rs_available, rs_ready, rs_replicas};

pub const PROGRESSING: &str = "Progressing";
pub const AVAILABLE: &str = "Available";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

pub const NEW_RS_REASON: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS_REASON: &str = "FoundNewReplicaSet";
pub const FAILED_RS_CREATE_REASON: &str = "ReplicaSetCreateError";
pub const RS_UPDATED_REASON: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE_REASON: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT_REASON: &str = "ProgressDeadlineExceeded";
pub const PAUSED_REASON: &str = "DeploymentPaused";
pub const RESUMED_REASON: &str = "DeploymentResumed";
const MIN_AVAILABLE_REASON: &str = "MinimumReplicasAvailable";
const MIN_UNAVAILABLE_REASON: &str = "MinimumReplicasUnavailable";

/// Now, to the second: the API keeps condition times in seconds, and a status that would
/// read back differently would be written again.
pub fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

pub fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: jiff::Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

pub fn get_condition<'a>(
    status: Option<&'a DeploymentStatus>,
    type_: &str,
) -> Option<&'a DeploymentCondition> {
    status?.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

/// Sets a condition unless one with the same status and reason is there; keeps the transition
/// time while the status stays (upstream's `SetDeploymentCondition`).
pub fn set_condition(status: &mut DeploymentStatus, mut cond: DeploymentCondition) {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    if let Some(cur) = conditions.iter().find(|c| c.type_ == cond.type_) {
        if cur.status == cond.status && cur.reason == cond.reason {
            return;
        }
        if cur.status == cond.status {
            cond.last_transition_time = cur.last_transition_time.clone();
        }
    }
    conditions.retain(|c| c.type_ != cond.type_);
    conditions.push(cond);
}

pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != type_);
        if conditions.is_empty() {
            status.conditions = None;
        }
    }
}

fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

/// The counts and the Available condition (upstream's `calculateStatus`); fields upstream
/// omits when zero are left out.
pub fn calculate(
    d: &Deployment,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    now: jiff::Timestamp,
) -> DeploymentStatus {
    let available: i32 = all.iter().map(|rs| rs_available(rs)).sum();
    let total: i32 = all.iter().map(|rs| rs_replicas(rs)).sum();
    let old = d.status.as_ref();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: nonzero(all.iter().map(|rs| rs_actual(rs)).sum()),
        updated_replicas: nonzero(new.map_or(0, rs_actual)),
        ready_replicas: nonzero(all.iter().map(|rs| rs_ready(rs)).sum()),
        available_replicas: nonzero(available),
        unavailable_replicas: nonzero((total - available).max(0)),
        collision_count: old.and_then(|s| s.collision_count),
        conditions: old.and_then(|s| s.conditions.clone()),
        terminating_replicas: old.and_then(|s| s.terminating_replicas),
    };
    let cond = if available >= util::replicas(d) - util::max_unavailable(d) {
        condition(AVAILABLE, "True", MIN_AVAILABLE_REASON, "Deployment has minimum availability.".into(), now)
    } else {
        condition(
            AVAILABLE,
            "False",
            MIN_UNAVAILABLE_REASON,
            "Deployment does not have minimum availability.".into(),
            now,
        )
    };
    set_condition(&mut status, cond);
    status
}

fn count(n: Option<i32>) -> i32 {
    n.unwrap_or(0)
}

/// Every replica updated and available, and the latest spec observed.
pub fn is_complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    let want = util::replicas(d);
    count(s.updated_replicas) == want
        && count(s.replicas) == want
        && count(s.available_replicas) == want
        && s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Whether `new` shows progress over the Deployment's current status.
fn is_progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let old_old = count(old.replicas) - count(old.updated_replicas);
    let new_old = count(new.replicas) - count(new.updated_replicas);
    count(new.updated_replicas) > count(old.updated_replicas)
        || new_old < old_old
        || count(new.ready_replicas) > count(old.ready_replicas)
        || count(new.available_replicas) > count(old.available_replicas)
}

fn timed_out(d: &Deployment, new: &DeploymentStatus, now: jiff::Timestamp) -> bool {
    let Some(deadline) = util::progress_deadline(d) else { return false };
    let Some(cond) = get_condition(Some(new), PROGRESSING) else { return false };
    match cond.reason.as_deref() {
        Some(NEW_RS_AVAILABLE_REASON) => false,
        Some(TIMED_OUT_REASON) => true,
        _ => cond
            .last_update_time
            .as_ref()
            .is_some_and(|t| t.0.as_second() + i64::from(deadline) < now.as_second()),
    }
}

/// The status after a rollout step, with the Progressing condition (upstream's
/// `syncRolloutStatus`).
pub fn rollout(
    d: &Deployment,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    now: jiff::Timestamp,
) -> DeploymentStatus {
    let mut status = calculate(d, all, new, now);
    if util::progress_deadline(d).is_none() {
        remove_condition(&mut status, PROGRESSING);
    }
    let current = get_condition(d.status.as_ref(), PROGRESSING);
    let complete_before = count(status.replicas) == count(status.updated_replicas)
        && current.is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE_REASON));
    if util::progress_deadline(d).is_some() && !complete_before {
        let name = d.metadata.name.as_deref().unwrap_or_default();
        let subject = match new.and_then(|rs| rs.metadata.name.as_deref()) {
            Some(rs) => format!("ReplicaSet {rs:?}"),
            None => format!("Deployment {name:?}"),
        };
        if is_complete(d, &status) {
            let msg = format!("{subject} has successfully progressed.");
            set_condition(&mut status, condition(PROGRESSING, "True", NEW_RS_AVAILABLE_REASON, msg, now));
        } else if is_progressing(d, &status) {
            let msg = format!("{subject} is progressing.");
            let mut cond = condition(PROGRESSING, "True", RS_UPDATED_REASON, msg, now);
            // Progress moves lastUpdateTime even when the reason stays.
            if let Some(cur) = current {
                if cur.status == "True" {
                    cond.last_transition_time = cur.last_transition_time.clone();
                }
                remove_condition(&mut status, PROGRESSING);
            }
            set_condition(&mut status, cond);
        } else if timed_out(d, &status, now) {
            let msg = format!("{subject} has timed out progressing.");
            set_condition(&mut status, condition(PROGRESSING, "False", TIMED_OUT_REASON, msg, now));
        }
    }
    match all.iter().find_map(|rs| replica_failure(rs)) {
        Some(cond) => set_condition(&mut status, cond),
        None => remove_condition(&mut status, REPLICA_FAILURE),
    }
    status
}

/// A ReplicaSet's ReplicaFailure condition, as the Deployment's.
fn replica_failure(rs: &ReplicaSet) -> Option<DeploymentCondition> {
    let c = rs.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == REPLICA_FAILURE)?;
    Some(DeploymentCondition {
        type_: c.type_.clone(),
        status: c.status.clone(),
        reason: c.reason.clone(),
        message: c.message.clone(),
        last_update_time: c.last_transition_time.clone(),
        last_transition_time: c.last_transition_time.clone(),
    })
}

/// When to look again at a rollout that shows no progress, to notice its deadline passing
/// (upstream's `requeueStuckDeployment`).
pub fn recheck_after(d: &Deployment, new: &DeploymentStatus, now: jiff::Timestamp) -> Option<Duration> {
    let deadline = util::progress_deadline(d)?;
    let cur = get_condition(d.status.as_ref(), PROGRESSING)?;
    if is_complete(d, new) || cur.reason.as_deref() == Some(TIMED_OUT_REASON) {
        return None;
    }
    let since = cur.last_update_time.as_ref()?.0.as_second();
    let left = since + i64::from(deadline) - now.as_second();
    Some(Duration::from_secs(left.max(0) as u64 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::util::tests::{deployment, replica_set};

    fn at(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn counts_and_availability() {
        let mut d = deployment(3, "1", "0");
        d.metadata.generation = Some(2);
        let old = replica_set("old", 1, 1, 1);
        let new = replica_set("new", 3, 1, 2);
        let s = calculate(&d, &[&old, &new], Some(&new), at(100));
        assert_eq!(s.observed_generation, Some(2));
        assert_eq!(
            (s.replicas, s.updated_replicas, s.available_replicas, s.unavailable_replicas),
            (Some(4), Some(3), Some(2), Some(2))
        );
        let avail = get_condition(Some(&s), AVAILABLE).unwrap();
        assert_eq!(
            (avail.status.as_str(), avail.reason.as_deref()),
            ("False", Some("MinimumReplicasUnavailable"))
        );
        // Nothing at all: every count is omitted, as upstream's omitempty does.
        let d0 = deployment(0, "1", "0");
        let s = calculate(&d0, &[], None, at(100));
        assert_eq!(
            (s.replicas, s.updated_replicas, s.ready_replicas, s.unavailable_replicas),
            (None, None, None, None)
        );
        assert_eq!(get_condition(Some(&s), AVAILABLE).unwrap().status, "True");
    }

    #[test]
    fn progressing_then_complete_then_a_deadline() {
        let mut d = deployment(2, "1", "0");
        d.spec.as_mut().unwrap().progress_deadline_seconds = Some(60);
        d.metadata.generation = Some(1);
        let new = replica_set("web-abc", 1, 0, 2);
        let s = rollout(&d, &[&new], Some(&new), at(100));
        let p = get_condition(Some(&s), PROGRESSING).unwrap();
        assert_eq!(p.reason.as_deref(), Some(RS_UPDATED_REASON));
        assert_eq!(p.message.as_deref(), Some("ReplicaSet \"web-abc\" is progressing."));
        d.status = Some(s);
        // No progress for longer than the deadline: timed out.
        assert_eq!(recheck_after(&d, d.status.as_ref().unwrap(), at(130)), Some(Duration::from_secs(31)));
        let s = rollout(&d, &[&new], Some(&new), at(161));
        assert_eq!(get_condition(Some(&s), PROGRESSING).unwrap().reason.as_deref(), Some(TIMED_OUT_REASON));
        // Everything available: complete.
        let done = replica_set("web-abc", 2, 2, 2);
        let s = rollout(&d, &[&done], Some(&done), at(170));
        let p = get_condition(Some(&s), PROGRESSING).unwrap();
        assert_eq!((p.status.as_str(), p.reason.as_deref()), ("True", Some(NEW_RS_AVAILABLE_REASON)));
    }
}
