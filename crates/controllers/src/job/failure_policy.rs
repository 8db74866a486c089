//! `spec.podFailurePolicy`: which rule, if any, a failed pod matches, and what it does to the
//! Job (upstream's `matchPodFailurePolicy`).

use k8s_openapi::api::{
    batch::v1::{PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyRule},
    core::v1::{ContainerStatus, Pod},
};

/// What a failed pod does to its Job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Counts towards `backoffLimit` (no rule matched, or a `Count` rule did).
    Count,
    /// Not counted at all.
    Ignore,
    /// Fails the Job, with this message.
    FailJob(String),
    /// Fails the pod's index at once (Jobs with `backoffLimitPerIndex`); counted as a failure.
    FailIndex,
}

impl Verdict {
    /// Whether the failure counts towards the back-off limits (upstream's `countFailed`).
    pub fn counts(&self) -> bool {
        !matches!(self, Verdict::Ignore)
    }
}

pub fn evaluate(policy: Option<&PodFailurePolicy>, pod: &Pod) -> Verdict {
    let Some(policy) = policy else { return Verdict::Count };
    let pod_name = format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.name.as_deref().unwrap_or("")
    );
    for (index, rule) in policy.rules.iter().enumerate() {
        let matched = if let Some(req) = &rule.on_exit_codes {
            exit_code_match(req, pod).map(|(container, code)| {
                format!(
                    "Container {container} for pod {pod_name} failed with exit code {code} matching {} rule at index {index}",
                    rule.action
                )
            })
        } else {
            condition_match(rule, pod).map(|cond| {
                format!("Pod {pod_name} has condition {cond} matching {} rule at index {index}", rule.action)
            })
        };
        if let Some(message) = matched {
            return match rule.action.as_str() {
                "FailJob" => Verdict::FailJob(message),
                "FailIndex" => Verdict::FailIndex,
                "Ignore" => Verdict::Ignore,
                _ => Verdict::Count,
            };
        }
    }
    Verdict::Count
}

/// The first container (regular, then init) that exited non-zero with a code the rule names.
fn exit_code_match(req: &PodFailurePolicyOnExitCodesRequirement, pod: &Pod) -> Option<(String, i32)> {
    let status = pod.status.as_ref()?;
    let lists: [&Option<Vec<ContainerStatus>>; 2] =
        [&status.container_statuses, &status.init_container_statuses];
    lists.into_iter().flatten().flatten().find_map(|cs| {
        if req.container_name.as_ref().is_some_and(|n| *n != cs.name) {
            return None;
        }
        let code = cs.state.as_ref()?.terminated.as_ref()?.exit_code;
        if code == 0 {
            return None;
        }
        let listed = req.values.contains(&code);
        let hit = match req.operator.as_str() {
            "In" => listed,
            "NotIn" => !listed,
            _ => false,
        };
        hit.then(|| (cs.name.clone(), code))
    })
}

fn condition_match(rule: &PodFailurePolicyRule, pod: &Pod) -> Option<String> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    rule.on_pod_conditions.iter().flatten().find_map(|pattern| {
        let want = pattern.status.as_deref().unwrap_or("True");
        conditions.iter().any(|c| c.type_ == pattern.type_ && c.status == want).then(|| pattern.type_.clone())
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated, PodCondition, PodStatus};
    use serde_json::json;

    use super::*;

    fn failed_pod(code: i32, conditions: &[&str]) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = Some("p".into());
        pod.metadata.namespace = Some("ns".into());
        pod.status = Some(PodStatus {
            phase: Some("Failed".into()),
            container_statuses: Some(vec![ContainerStatus {
                name: "main".into(),
                state: Some(ContainerState {
                    terminated: Some(ContainerStateTerminated { exit_code: code, ..Default::default() }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            conditions: Some(
                conditions
                    .iter()
                    .map(|t| PodCondition {
                        type_: t.to_string(),
                        status: "True".into(),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        });
        pod
    }

    fn policy() -> PodFailurePolicy {
        serde_json::from_value(json!({"rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}},
            {"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [7]}},
            {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [42]}},
        ]}))
        .unwrap()
    }

    #[test]
    fn rules_match_in_order() {
        let p = policy();
        assert_eq!(evaluate(Some(&p), &failed_pod(42, &["DisruptionTarget"])), Verdict::Ignore);
        assert_eq!(
            evaluate(Some(&p), &failed_pod(42, &[])),
            Verdict::FailJob(
                "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1"
                    .into()
            )
        );
        assert_eq!(evaluate(Some(&p), &failed_pod(1, &[])), Verdict::Count);
        assert_eq!(evaluate(Some(&p), &failed_pod(7, &[])), Verdict::FailIndex);
        assert!(Verdict::FailIndex.counts() && !Verdict::Ignore.counts());
        assert_eq!(evaluate(None, &failed_pod(42, &[])), Verdict::Count);
    }
}
