//! The Job's decisions as pure functions: how many pods should run, when the Job has
//! succeeded or failed, and its conditions.

use jiff::Timestamp;
use k8s_openapi::{
    api::batch::v1::{Job, JobCondition},
    apimachinery::pkg::apis::meta::v1::Time,
};

use super::assess::{completions, is_indexed};

pub const COMPLETE: &str = "Complete";
pub const FAILED: &str = "Failed";
pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
pub const FAILURE_TARGET: &str = "FailureTarget";
pub const SUSPENDED: &str = "Suspended";

pub const COMPLETIONS_REACHED: (&str, &str) =
    ("CompletionsReached", "Reached expected number of succeeded pods");
pub const BACKOFF_LIMIT_EXCEEDED: (&str, &str) =
    ("BackoffLimitExceeded", "Job has reached the specified backoff limit");
pub const DEADLINE_EXCEEDED: (&str, &str) =
    ("DeadlineExceeded", "Job was active longer than specified deadline");
pub const POD_FAILURE_POLICY: &str = "PodFailurePolicy";
pub const MAX_FAILED_INDEXES_EXCEEDED: (&str, &str) =
    ("MaxFailedIndexesExceeded", "Job has exceeded the specified maximal number of failed indexes");
pub const FAILED_INDEXES: (&str, &str) = ("FailedIndexes", "Job has failed indexes");

fn spec_i32(job: &Job, f: impl Fn(&k8s_openapi::api::batch::v1::JobSpec) -> Option<i32>) -> Option<i32> {
    job.spec.as_ref().and_then(f)
}

pub fn parallelism(job: &Job) -> i32 {
    spec_i32(job, |s| s.parallelism).unwrap_or(1).max(0)
}

pub fn backoff_limit(job: &Job) -> i32 {
    spec_i32(job, |s| s.backoff_limit).unwrap_or(6)
}

pub fn is_suspended(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.suspend) == Some(true)
}

pub fn restart_policy(job: &Job) -> &str {
    job.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("")
}

/// The condition of `type_` if it is True.
pub fn condition<'a>(job: &'a Job, type_: &str) -> Option<&'a JobCondition> {
    job.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == type_ && c.status == "True")
}

/// Complete or Failed: nothing more to do.
pub fn is_finished(job: &Job) -> bool {
    condition(job, COMPLETE).is_some() || condition(job, FAILED).is_some()
}

/// How many pods should be active: upstream's `manageJob` arithmetic. `done_indexes` counts
/// the completed and failed indexes of an Indexed Job.
pub fn want_active(job: &Job, succeeded: i32, done_indexes: usize, active: usize) -> usize {
    let parallelism = parallelism(job);
    match completions(job) {
        // A work queue: once one pod succeeded, no new pods; the rest finish on their own.
        None if succeeded > 0 => active,
        None => parallelism as usize,
        Some(c) => {
            let done = if is_indexed(job) { done_indexes as i32 } else { succeeded };
            (c - done).clamp(0, parallelism) as usize
        }
    }
}

/// Whether enough pods succeeded.
pub fn succeeded(job: &Job, succeeded: i32, completed_indexes: usize, active: usize) -> bool {
    match completions(job) {
        None => succeeded > 0 && active == 0,
        Some(c) if is_indexed(job) => completed_indexes as i32 >= c,
        Some(c) => succeeded >= c,
    }
}

/// Why the Job fails, if it does: a FailJob rule, the back-off limit, or the deadline.
pub fn failure(
    job: &Job,
    failed: i32,
    restarts: i32,
    fail_job: Option<&str>,
    now: Timestamp,
) -> Option<(String, String)> {
    if let Some(message) = fail_job {
        return Some((POD_FAILURE_POLICY.to_string(), message.to_string()));
    }
    let limit = backoff_limit(job);
    let on_failure_exceeded =
        restart_policy(job) == "OnFailure" && if limit == 0 { restarts > 0 } else { restarts >= limit };
    if failed > limit || on_failure_exceeded {
        let (r, m) = BACKOFF_LIMIT_EXCEEDED;
        return Some((r.into(), m.into()));
    }
    if deadline_remaining(job, now).is_some_and(|d| d.is_zero()) {
        let (r, m) = DEADLINE_EXCEEDED;
        return Some((r.into(), m.into()));
    }
    None
}

/// Why a Job with `backoffLimitPerIndex` fails, if it does: more failed indexes than
/// `maxFailedIndexes`, or every index finished and some failed.
pub fn index_failure(job: &Job, failed_indexes: usize, completed_indexes: usize) -> Option<(String, String)> {
    job.spec.as_ref()?.backoff_limit_per_index?;
    let max = job.spec.as_ref()?.max_failed_indexes;
    let (reason, message) = if max.is_some_and(|m| failed_indexes as i64 > i64::from(m)) {
        MAX_FAILED_INDEXES_EXCEEDED
    } else if failed_indexes > 0
        && (failed_indexes + completed_indexes) as i64 >= i64::from(completions(job).unwrap_or(0))
    {
        FAILED_INDEXES
    } else {
        return None;
    };
    Some((reason.into(), message.into()))
}

/// Time left before `activeDeadlineSeconds` runs out, if the Job has a deadline and started.
pub fn deadline_remaining(job: &Job, now: Timestamp) -> Option<std::time::Duration> {
    let seconds = job.spec.as_ref()?.active_deadline_seconds?;
    let start = job.status.as_ref()?.start_time.as_ref()?.0;
    let end = start.as_second().saturating_add(seconds);
    Some(std::time::Duration::from_secs(end.saturating_sub(now.as_second()).max(0) as u64))
}

/// Upstream's `ensureJobConditionStatus`: adds a True condition when absent, flips an
/// existing one whose status differs; a False condition is never added. Returns whether
/// anything changed.
pub fn set_condition(
    conditions: &mut Vec<JobCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    if let Some(c) = conditions.iter_mut().find(|c| c.type_ == type_) {
        if c.status == status {
            return false;
        }
        c.status = status.into();
        c.reason = Some(reason.into());
        c.message = Some(message.into());
        c.last_probe_time = Some(Time(now));
        c.last_transition_time = Some(Time(now));
        return true;
    }
    if status != "True" {
        return false;
    }
    conditions.push(JobCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    });
    true
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn job(spec: serde_json::Value) -> Job {
        serde_json::from_value(json!({"metadata": {"name": "j"}, "spec": spec})).unwrap()
    }

    #[test]
    fn active_pods_follow_completions_and_parallelism() {
        let j = job(json!({"completions": 3, "parallelism": 2, "template": {}}));
        assert_eq!(want_active(&j, 0, 0, 0), 2);
        assert_eq!(want_active(&j, 2, 0, 1), 1);
        assert_eq!(want_active(&j, 3, 0, 0), 0);
        let queue = job(json!({"parallelism": 4, "template": {}}));
        assert_eq!(want_active(&queue, 0, 0, 0), 4);
        assert_eq!(want_active(&queue, 1, 0, 3), 3, "no new pods after the first success");
        let indexed =
            job(json!({"completions": 5, "parallelism": 3, "completionMode": "Indexed", "template": {}}));
        assert_eq!(want_active(&indexed, 9, 4, 0), 1, "indexes, not successes, count");
    }

    #[test]
    fn success_needs_completions_or_a_drained_work_queue() {
        let j = job(json!({"completions": 3, "template": {}}));
        assert!(!succeeded(&j, 2, 0, 0));
        assert!(succeeded(&j, 3, 0, 1));
        let queue = job(json!({"parallelism": 2, "template": {}}));
        assert!(!succeeded(&queue, 1, 0, 1));
        assert!(succeeded(&queue, 1, 0, 0));
    }

    #[test]
    fn failure_by_backoff_limit_restarts_and_deadline() {
        let now = Timestamp::from_second(1_000).unwrap();
        let never = job(json!({"backoffLimit": 1, "template": {"spec": {"restartPolicy": "Never"}}}));
        assert_eq!(failure(&never, 1, 0, None, now), None);
        assert_eq!(failure(&never, 2, 0, None, now).unwrap().0, "BackoffLimitExceeded");
        let on_failure =
            job(json!({"backoffLimit": 2, "template": {"spec": {"restartPolicy": "OnFailure"}}}));
        assert_eq!(failure(&on_failure, 0, 1, None, now), None);
        assert_eq!(failure(&on_failure, 0, 2, None, now).unwrap().0, "BackoffLimitExceeded");
        let mut deadline = job(json!({"activeDeadlineSeconds": 30, "template": {}}));
        deadline.status = Some(serde_json::from_value(json!({"startTime": "1970-01-01T00:16:30Z"})).unwrap());
        assert_eq!(deadline_remaining(&deadline, now), Some(std::time::Duration::from_secs(20)));
        assert_eq!(failure(&deadline, 0, 0, None, now), None);
        let later = Timestamp::from_second(1_000 + 20).unwrap();
        assert_eq!(
            failure(&deadline, 0, 0, None, later).unwrap().1,
            "Job was active longer than specified deadline"
        );
        assert_eq!(failure(&never, 0, 0, Some("m"), now).unwrap(), ("PodFailurePolicy".into(), "m".into()));
    }

    #[test]
    fn failed_indexes_fail_the_job_past_the_maximum_or_at_the_end() {
        let spec = json!({"completions": 4, "completionMode": "Indexed", "backoffLimitPerIndex": 1,
                          "maxFailedIndexes": 1, "template": {}});
        let j = job(spec.clone());
        assert_eq!(index_failure(&j, 1, 0), None);
        assert_eq!(index_failure(&j, 1, 3).unwrap().0, "FailedIndexes");
        let (reason, message) = index_failure(&j, 2, 0).unwrap();
        assert_eq!(reason, "MaxFailedIndexesExceeded");
        assert_eq!(message, "Job has exceeded the specified maximal number of failed indexes");
        let mut unlimited = spec.clone();
        unlimited["maxFailedIndexes"] = json!(null);
        assert_eq!(index_failure(&job(unlimited), 3, 0), None);
        let mut plain = spec;
        plain["backoffLimitPerIndex"] = json!(null);
        assert_eq!(index_failure(&job(plain), 4, 0), None);
        let indexed =
            job(json!({"completions": 5, "parallelism": 3, "completionMode": "Indexed", "template": {}}));
        assert_eq!(want_active(&indexed, 0, 3, 0), 2, "failed indexes are done too");
    }

    #[test]
    fn false_conditions_are_only_flips() {
        let now = Timestamp::UNIX_EPOCH;
        let mut conds = Vec::new();
        assert!(!set_condition(&mut conds, SUSPENDED, "False", "JobResumed", "Job resumed", now));
        assert!(set_condition(&mut conds, SUSPENDED, "True", "JobSuspended", "Job suspended", now));
        assert!(!set_condition(&mut conds, SUSPENDED, "True", "JobSuspended", "Job suspended", now));
        assert!(set_condition(&mut conds, SUSPENDED, "False", "JobResumed", "Job resumed", now));
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0].reason.as_deref(), Some("JobResumed"));
    }
}
