//! What a Job's pods say, before anything is written: which finished pods are newly counted
//! (upstream's `uncountedTerminatedPods` protocol), which indexes completed, and the active,
//! ready and terminating pods.

use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    sync::Arc,
};

use jiff::Timestamp;
use k8s_openapi::api::{batch::v1::Job, core::v1::Pod};

use super::{failure_policy, indexes, per_index};
use crate::pods;

/// Upstream's finalizer that keeps a finished pod until its Job has counted it.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";

#[derive(Debug, Default)]
pub struct Assessment {
    /// Uids of finished pods to add to `uncountedTerminatedPods`.
    pub new_succeeded: Vec<String>,
    pub new_failed: Vec<String>,
    /// When the newly counted pods finished (for the back-off).
    pub succeeded_at: Vec<Timestamp>,
    pub failed_at: Vec<Timestamp>,
    /// Finished pods whose tracking finalizer can go once the status is written.
    pub release: Vec<Arc<Pod>>,
    /// `completedIndexes` including newly succeeded pods (Indexed Jobs).
    pub completed: BTreeSet<i32>,
    /// `failedIndexes` including indexes newly failed (`backoffLimitPerIndex`).
    pub failed_indexes: BTreeSet<i32>,
    /// Per index waiting for a replacement, the failed pod it inherits its counts from
    /// (`backoffLimitPerIndex`).
    pub last_failed: BTreeMap<i32, Arc<Pod>>,
    /// The message of a matching `FailJob` rule.
    pub fail_job: Option<String>,
    pub active: Vec<Arc<Pod>>,
    pub ready: usize,
    pub terminating: usize,
    /// Container restarts of pending and running pods (what `OnFailure` Jobs count).
    pub restarts: i32,
}

pub fn is_indexed(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.completion_mode.as_deref()) == Some("Indexed")
}

pub fn completions(job: &Job) -> Option<i32> {
    job.spec.as_ref()?.completions
}

fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

/// Only failed pods are replaced (and counted) with `podReplacementPolicy: Failed`, which a pod
/// failure policy implies.
fn only_failed_pods(job: &Job) -> bool {
    let spec = job.spec.as_ref();
    spec.and_then(|s| s.pod_replacement_policy.as_deref()) == Some("Failed")
        || spec.is_some_and(|s| s.pod_failure_policy.is_some())
}

/// Upstream's `isPodFailed`: failed, or (unless only failed pods count) deleted before it
/// succeeded, since an orphaned deleted pod may never reach a phase.
pub fn is_failed(pod: &Pod, job: &Job) -> bool {
    match phase(pod) {
        Some("Failed") => true,
        Some("Succeeded") => false,
        _ => !only_failed_pods(job) && pod.metadata.deletion_timestamp.is_some(),
    }
}

/// When the pod finished: its last container exit, else its deletion, else `now`.
pub fn finished_at(pod: &Pod, now: Timestamp) -> Timestamp {
    let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref());
    statuses
        .into_iter()
        .flatten()
        .filter_map(|cs| cs.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref().map(|t| t.0))
        .max()
        .or_else(|| pod.metadata.deletion_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(now)
}

pub fn restarts(pod: &Pod) -> i32 {
    let Some(status) = pod.status.as_ref() else { return 0 };
    [&status.container_statuses, &status.init_container_statuses]
        .into_iter()
        .flatten()
        .flatten()
        .map(|c| c.restart_count)
        .sum()
}

/// Reads the pods of `job`. `tracked` says whether a pod still carries the tracking finalizer
/// as far as the controller knows (a removal it made may not have reached the cache yet).
/// With `hold`, a failed pod an index's replacement still has to inherit from is neither
/// counted nor released yet (upstream delays it until the replacement exists).
pub fn assess(
    job: &Job,
    owned: &[Arc<Pod>],
    tracked: impl Fn(&Pod) -> bool,
    hold: bool,
    now: Timestamp,
) -> Assessment {
    let status = job.status.clone().unwrap_or_default();
    let uncounted = status.uncounted_terminated_pods.unwrap_or_default();
    let counted: HashSet<&String> =
        uncounted.succeeded.iter().flatten().chain(uncounted.failed.iter().flatten()).collect();
    let indexed = is_indexed(job);
    let completions = completions(job).unwrap_or(0);
    let mut a = Assessment {
        completed: if indexed {
            indexes::parse(status.completed_indexes.as_deref().unwrap_or(""), completions)
        } else {
            BTreeSet::new()
        },
        ..Default::default()
    };
    let policy = job.spec.as_ref().and_then(|s| s.pod_failure_policy.as_ref());
    for pod in owned {
        if pods::is_active(pod) {
            a.active.push(pod.clone());
            if pods::is_ready(pod) {
                a.ready += 1;
            }
        } else if pods::is_terminating(pod) && !matches!(phase(pod), Some("Succeeded" | "Failed")) {
            a.terminating += 1;
        }
        if matches!(phase(pod), Some("Pending" | "Running")) {
            a.restarts += restarts(pod);
        }
    }
    if per_index::limit(job).is_some() {
        let valid = |p: &Pod| indexes::of(p).filter(|i| *i < completions);
        a.failed_indexes = indexes::parse(status.failed_indexes.as_deref().unwrap_or(""), completions);
        let newly_failed = owned.iter().filter(|p| tracked(p) && per_index::index_failed(job, p));
        a.failed_indexes.extend(newly_failed.filter_map(|p| valid(p)));
        let mut done = a.completed.clone();
        let succeeded = owned.iter().filter(|p| tracked(p) && phase(p) == Some("Succeeded"));
        done.extend(succeeded.filter_map(|p| valid(p)));
        let active: BTreeSet<i32> = a.active.iter().filter_map(|p| indexes::of(p)).collect();
        a.last_failed = per_index::last_failed(job, owned, &[&done, &a.failed_indexes, &active], now);
    }
    for pod in owned {
        if !tracked(pod) {
            continue;
        }
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let succeeded = phase(pod) == Some("Succeeded");
        let failed = !succeeded && is_failed(pod, job);
        if !succeeded && !failed {
            continue;
        }
        let awaited = |p: &Arc<Pod>| p.metadata.uid == pod.metadata.uid;
        if hold && failed && indexes::of(pod).and_then(|i| a.last_failed.get(&i)).is_some_and(awaited) {
            continue;
        }
        a.release.push(pod.clone());
        if counted.contains(&uid) {
            continue;
        }
        if succeeded {
            if indexed {
                // The index alone records the success: no uid to track.
                if let Some(i) = indexes::of(pod).filter(|i| *i < completions)
                    && a.completed.insert(i)
                {
                    a.succeeded_at.push(finished_at(pod, now));
                }
            } else {
                a.new_succeeded.push(uid);
                a.succeeded_at.push(finished_at(pod, now));
            }
            continue;
        }
        let verdict = if phase(pod) == Some("Failed") {
            failure_policy::evaluate(policy, pod)
        } else {
            failure_policy::Verdict::Count
        };
        match verdict {
            failure_policy::Verdict::Ignore => {}
            failure_policy::Verdict::FailJob(message) => {
                a.fail_job.get_or_insert(message);
                a.new_failed.push(uid);
                a.failed_at.push(finished_at(pod, now));
            }
            failure_policy::Verdict::Count | failure_policy::Verdict::FailIndex => {
                a.new_failed.push(uid);
                a.failed_at.push(finished_at(pod, now));
            }
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::PodStatus;
    use serde_json::json;

    use super::*;

    fn pod(uid: &str, phase: &str, index: Option<i32>) -> Arc<Pod> {
        let mut p = Pod::default();
        p.metadata.name = Some(format!("p-{uid}"));
        p.metadata.uid = Some(uid.into());
        p.metadata.finalizers = Some(vec![TRACKING_FINALIZER.into()]);
        if let Some(i) = index {
            p.metadata.annotations = Some([(indexes::ANNOTATION.to_string(), i.to_string())].into());
        }
        p.status = Some(PodStatus { phase: Some(phase.into()), ..Default::default() });
        Arc::new(p)
    }

    fn job(spec: serde_json::Value, status: serde_json::Value) -> Job {
        serde_json::from_value(json!({"metadata": {"name": "j"}, "spec": spec, "status": status})).unwrap()
    }

    fn has_finalizer(p: &Pod) -> bool {
        p.metadata.finalizers.iter().flatten().any(|f| f == TRACKING_FINALIZER)
    }

    #[test]
    fn finished_pods_are_counted_once() {
        let j = job(
            json!({"completions": 3, "template": {}}),
            json!({"uncountedTerminatedPods": {"succeeded": ["a"]}}),
        );
        let pods = [
            pod("a", "Succeeded", None),
            pod("b", "Succeeded", None),
            pod("c", "Failed", None),
            pod("d", "Running", None),
        ];
        let a = assess(&j, &pods, has_finalizer, true, Timestamp::UNIX_EPOCH);
        assert_eq!(a.new_succeeded, ["b"]);
        assert_eq!(a.new_failed, ["c"]);
        assert_eq!(a.release.len(), 3, "every finished tracked pod is released");
        assert_eq!(a.active.len(), 1);
        // A pod whose finalizer is gone was counted before.
        let a = assess(&j, &pods, |p| p.metadata.uid.as_deref() != Some("b"), true, Timestamp::UNIX_EPOCH);
        assert!(a.new_succeeded.is_empty());
    }

    #[test]
    fn indexed_successes_complete_their_index() {
        let j = job(
            json!({"completions": 4, "completionMode": "Indexed", "template": {}}),
            json!({"completedIndexes": "0"}),
        );
        let pods =
            [pod("a", "Succeeded", Some(2)), pod("b", "Succeeded", Some(0)), pod("c", "Succeeded", Some(9))];
        let a = assess(&j, &pods, has_finalizer, true, Timestamp::UNIX_EPOCH);
        assert_eq!(indexes::format(&a.completed), "0,2");
        assert!(a.new_succeeded.is_empty());
        assert_eq!(a.succeeded_at.len(), 1);
    }

    #[test]
    fn deleted_unfinished_pods_count_as_failed_unless_only_failed_pods_count() {
        let mut p = (*pod("a", "Running", None)).clone();
        p.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::UNIX_EPOCH));
        let default = job(json!({"template": {}}), json!({}));
        let failed_only = job(json!({"podReplacementPolicy": "Failed", "template": {}}), json!({}));
        assert!(is_failed(&p, &default));
        assert!(!is_failed(&p, &failed_only));
        let a = assess(&default, &[Arc::new(p)], has_finalizer, true, Timestamp::UNIX_EPOCH);
        assert_eq!((a.terminating, a.new_failed.len()), (1, 1));
    }

    #[test]
    fn per_index_failures_wait_for_the_replacement_and_fail_indexes() {
        let j = job(
            json!({"completions": 3, "completionMode": "Indexed", "backoffLimitPerIndex": 1, "template": {}}),
            json!({"failedIndexes": "2"}),
        );
        let mut used_up = (*pod("b", "Failed", Some(1))).clone();
        used_up
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(indexes::FAILURE_COUNT.into(), "1".into());
        let pods = [pod("a", "Failed", Some(0)), Arc::new(used_up)];
        let a = assess(&j, &pods, has_finalizer, true, Timestamp::UNIX_EPOCH);
        assert_eq!(indexes::format(&a.failed_indexes), "1,2");
        assert_eq!(a.last_failed.keys().copied().collect::<Vec<_>>(), [0]);
        // Index 0's failure waits for its replacement; index 1's is counted at once.
        assert_eq!(a.new_failed, ["b"]);
        assert_eq!(a.release.len(), 1);
        let a = assess(&j, &pods, has_finalizer, false, Timestamp::UNIX_EPOCH);
        assert_eq!(a.new_failed, ["a", "b"]);
    }
}
