//! `spec.successPolicy` (Indexed Jobs): whether the succeeded indexes satisfy a rule, which
//! declares the Job succeeded before every index completed (upstream's `matchSuccessPolicy`).

use std::collections::BTreeSet;

use k8s_openapi::api::batch::v1::Job;

use super::{assess, indexes};

/// The reason of the SuccessCriteriaMet and Complete conditions a rule sets.
pub const REASON: &str = "SuccessPolicy";

/// The condition message if a rule is met ("Matched rules at index N", the first rule that
/// matches).
pub fn matched(job: &Job, completed: &BTreeSet<i32>) -> Option<String> {
    let policy = job.spec.as_ref()?.success_policy.as_ref()?;
    if !assess::is_indexed(job) || completed.is_empty() {
        return None;
    }
    let completions = assess::completions(job).unwrap_or(0);
    let index =
        policy.rules.iter().position(|rule| match (&rule.succeeded_indexes, rule.succeeded_count) {
            (Some(wanted), count) => {
                let wanted = indexes::parse(wanted, completions);
                // A list that names no valid index never matches.
                let done = wanted.intersection(completed).count();
                !wanted.is_empty()
                    && (done == wanted.len() || count.is_some_and(|c| done as i64 >= i64::from(c)))
            }
            (None, Some(count)) => completed.len() as i64 >= i64::from(count),
            (None, None) => false,
        })?;
    Some(format!("Matched rules at index {index}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn job(rules: serde_json::Value) -> Job {
        serde_json::from_value(json!({"metadata": {"name": "j"}, "spec": {
            "completions": 10, "completionMode": "Indexed", "successPolicy": {"rules": rules}, "template": {}}}))
        .unwrap()
    }

    fn set(indexes: &[i32]) -> BTreeSet<i32> {
        indexes.iter().copied().collect()
    }

    #[test]
    fn rules_match_by_indexes_count_or_both() {
        let j = job(json!([{"succeededIndexes": "0,2-3"}, {"succeededCount": 4}]));
        assert_eq!(matched(&j, &set(&[0, 2])), None);
        assert_eq!(matched(&j, &set(&[0, 2, 3])).as_deref(), Some("Matched rules at index 0"));
        assert_eq!(matched(&j, &set(&[5, 6, 7, 8])).as_deref(), Some("Matched rules at index 1"));
        let both = job(json!([{"succeededIndexes": "1-5", "succeededCount": 2}]));
        assert_eq!(matched(&both, &set(&[0, 7, 9])), None);
        assert_eq!(matched(&both, &set(&[0, 1, 4])).as_deref(), Some("Matched rules at index 0"));
        assert_eq!(matched(&job(json!([{"succeededCount": 1}])), &set(&[])), None);
        // Indexes past completions name nothing.
        assert_eq!(matched(&job(json!([{"succeededIndexes": "12-14"}])), &set(&[0, 1])), None);
    }
}
