//! `backoffLimitPerIndex` (Indexed Jobs): which indexes failed, the failed pod whose failure
//! counts an index's replacement inherits, and the back-off of each index.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use jiff::Timestamp;
use k8s_openapi::api::{batch::v1::Job, core::v1::Pod};

use super::{
    assess::{self, completions, is_indexed},
    backoff,
    failure_policy::{self, Verdict},
    indexes::{self, FAILURE_COUNT, IGNORED_FAILURE_COUNT},
};

/// The per-index limit, if the Job is Indexed and has one.
pub fn limit(job: &Job) -> Option<i32> {
    job.spec.as_ref()?.backoff_limit_per_index.filter(|_| is_indexed(job))
}

fn verdict(job: &Job, pod: &Pod) -> Verdict {
    let policy = job.spec.as_ref().and_then(|s| s.pod_failure_policy.as_ref());
    if pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed") {
        failure_policy::evaluate(policy, pod)
    } else {
        Verdict::Count
    }
}

/// Upstream's `isIndexFailed`: the pod failed and either a `FailIndex` rule matched or its
/// index had already used up `backoffLimitPerIndex` counted failures.
pub fn index_failed(job: &Job, pod: &Pod) -> bool {
    let Some(limit) = limit(job) else { return false };
    if !assess::is_failed(pod, job) {
        return false;
    }
    match verdict(job, pod) {
        Verdict::FailIndex => true,
        v => v.counts() && indexes::count(pod, FAILURE_COUNT) >= limit,
    }
}

fn absolute_failures(pod: &Pod) -> i32 {
    indexes::count(pod, FAILURE_COUNT).saturating_add(indexes::count(pod, IGNORED_FAILURE_COUNT))
}

/// Upstream's pods "with delayed deletion": per index that is not done and has no active pod,
/// its latest failed pod. Its tracking finalizer stays until the replacement exists, so the
/// replacement can inherit its counts.
pub fn last_failed(
    job: &Job,
    pods: &[Arc<Pod>],
    done: &[&BTreeSet<i32>],
    now: Timestamp,
) -> BTreeMap<i32, Arc<Pod>> {
    let completions = completions(job).unwrap_or(0);
    let mut last: BTreeMap<i32, Arc<Pod>> = BTreeMap::new();
    for pod in pods.iter().filter(|p| assess::is_failed(p, job)) {
        let Some(ix) = indexes::of(pod).filter(|i| *i < completions && !done.iter().any(|d| d.contains(i)))
        else {
            continue;
        };
        let newer = last.get(&ix).is_none_or(|prev| {
            absolute_failures(prev) <= absolute_failures(pod)
                && assess::finished_at(pod, now) >= assess::finished_at(prev, now)
        });
        if newer {
            last.insert(ix, pod.clone());
        }
    }
    last
}

/// The failure and ignored-failure counts of the pod replacing `replaced` (upstream's
/// `getNewIndexFailureCounts`).
pub fn new_counts(job: &Job, replaced: Option<&Pod>) -> (i32, i32) {
    let Some(pod) = replaced else { return (0, 0) };
    let (failures, ignored) =
        (indexes::count(pod, FAILURE_COUNT), indexes::count(pod, IGNORED_FAILURE_COUNT));
    if verdict(job, pod).counts() {
        (failures.saturating_add(1), ignored)
    } else {
        (failures, ignored.saturating_add(1))
    }
}

/// The back-off left before `replaced`'s index gets a new pod: the Job back-off for the
/// index's failures so far, counted from when `replaced` finished.
pub fn remaining(replaced: &Pod, now: Timestamp) -> Duration {
    let failures = absolute_failures(replaced).saturating_add(1).max(1) as u32;
    let record = backoff::Record {
        failures_after_last_success: failures,
        last_failure: Some(assess::finished_at(replaced, now)),
    };
    record.remaining(now)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated, ContainerStatus, PodStatus};
    use serde_json::json;

    use super::*;

    fn job(extra: serde_json::Value) -> Job {
        let mut spec = json!({"completions": 4, "completionMode": "Indexed", "backoffLimitPerIndex": 1,
                              "template": {}});
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        serde_json::from_value(json!({"metadata": {"name": "j"}, "spec": spec})).unwrap()
    }

    fn failed(uid: &str, index: i32, failures: Option<&str>, code: i32, finished: i64) -> Arc<Pod> {
        let mut p = Pod::default();
        p.metadata.uid = Some(uid.into());
        let mut annotations =
            std::collections::BTreeMap::from([(indexes::ANNOTATION.to_string(), index.to_string())]);
        if let Some(f) = failures {
            annotations.insert(FAILURE_COUNT.into(), f.into());
        }
        p.metadata.annotations = Some(annotations);
        p.status = Some(PodStatus {
            phase: Some("Failed".into()),
            container_statuses: Some(vec![ContainerStatus {
                name: "main".into(),
                state: Some(ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        exit_code: code,
                        finished_at: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                            Timestamp::from_second(finished).unwrap(),
                        )),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        });
        Arc::new(p)
    }

    #[test]
    fn an_index_fails_once_its_limit_is_used_up_or_a_fail_index_rule_matches() {
        let j = job(json!({}));
        assert!(!index_failed(&j, &failed("a", 0, Some("0"), 1, 10)));
        assert!(index_failed(&j, &failed("a", 0, Some("1"), 1, 10)));
        let policy = job(json!({"backoffLimitPerIndex": 3, "podFailurePolicy": {"rules": [
            {"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [42]}},
            {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [9]}}]}}));
        assert!(index_failed(&policy, &failed("a", 0, None, 42, 10)));
        assert!(!index_failed(&policy, &failed("a", 0, Some("3"), 9, 10)), "ignored failures do not count");
        assert!(!index_failed(
            &job(json!({"backoffLimitPerIndex": null})),
            &failed("a", 0, Some("9"), 1, 10)
        ));
    }

    #[test]
    fn the_replacement_inherits_the_latest_failure_of_its_index() {
        let j = job(json!({}));
        let pods =
            [failed("a", 0, Some("0"), 1, 10), failed("b", 0, Some("1"), 1, 20), failed("c", 2, None, 1, 5)];
        let done: BTreeSet<i32> = [2].into();
        let last = last_failed(&j, &pods, &[&done], Timestamp::UNIX_EPOCH);
        assert_eq!(last.keys().copied().collect::<Vec<_>>(), [0]);
        assert_eq!(last[&0].metadata.uid.as_deref(), Some("b"));
        assert_eq!(new_counts(&j, Some(&last[&0])), (2, 0));
        assert_eq!(new_counts(&j, None), (0, 0));
        let ignore = job(json!({"podFailurePolicy": {"rules": [
            {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [1]}}]}}));
        assert_eq!(new_counts(&ignore, Some(&pods[1])), (1, 1));
    }

    #[test]
    fn each_index_backs_off_by_its_own_failures() {
        let pod = failed("a", 0, Some("1"), 1, 100);
        // The second failure of the index: 20 s from when it finished.
        assert_eq!(remaining(&pod, Timestamp::from_second(105).unwrap()), Duration::from_secs(15));
        assert_eq!(remaining(&pod, Timestamp::from_second(121).unwrap()), Duration::ZERO);
    }
}
