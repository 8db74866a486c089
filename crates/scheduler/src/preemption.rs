//! DefaultPreemption: when a pod fits nowhere, find a node where evicting pods of lower
//! priority makes room, evicting as few and as unimportant pods as possible.

use crate::{
    fit_error::{Diagnosis, FitError},
    framework::{Code, Status},
    pod_info::{PodInfo, PodRef},
    schedule_one::Algorithm,
    snapshot::Cache,
};

pub const NAME: &str = "DefaultPreemption";
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";
pub const NOT_ELIGIBLE_NEVER: &str = "not eligible due to preemptionPolicy=Never.";

/// A node and the pods to evict from it.
#[derive(Debug)]
pub struct Candidate {
    pub node: String,
    pub victims: Vec<PodRef>,
}

/// The outcome: a candidate, or the message explaining why there is none.
pub fn preempt(algo: &Algorithm, pod: &PodInfo, cache: &Cache, fit: &FitError) -> Result<Candidate, String> {
    if pod.preemption_never {
        return Err(NOT_ELIGIBLE_NEVER.into());
    }
    let Some(last) = &algo.last else { return Err(NOT_HELPFUL.into()) };
    let mut statuses: Vec<(String, Status)> = Vec::new();
    let mut candidates: Vec<Candidate> = Vec::new();
    // Nodes rejected for reasons eviction cannot change are not tried.
    let unresolvable: std::collections::HashSet<&str> = fit
        .diagnosis
        .node_statuses
        .iter()
        .filter(|(_, s)| s.code == Code::UnschedulableAndUnresolvable)
        .map(|(n, _)| n.as_str())
        .collect();
    for node in cache.nodes().iter().filter(|n| n.exists) {
        if unresolvable.contains(node.name.as_str()) || fit.diagnosis.pre_filter_msg.is_some() {
            statuses.push((node.name.clone(), Status::unresolvable(NAME, NOT_HELPFUL)));
            continue;
        }
        let mut trial = node.clone();
        let mut victims: Vec<PodRef> =
            node.pods.iter().filter(|p| p.priority < pod.priority).cloned().collect();
        if victims.is_empty() {
            statuses.push((node.name.clone(), Status::unresolvable(NAME, NO_VICTIMS)));
            continue;
        }
        for v in &victims {
            trial.remove_pod(&v.uid);
        }
        if let Err(status) = algo.run_filters(&last.active_filters, pod, &trial, &last.state) {
            statuses.push((node.name.clone(), status));
            continue;
        }
        // Reprieve the most important pods first: put each back if the pod still fits.
        victims.sort_by_key(|v| std::cmp::Reverse(v.priority));
        let mut evicted = Vec::new();
        for v in victims {
            trial.add_pod(v.clone());
            if algo.run_filters(&last.active_filters, pod, &trial, &last.state).is_err() {
                trial.remove_pod(&v.uid);
                evicted.push(v);
            }
        }
        candidates.push(Candidate { node: node.name.clone(), victims: evicted });
    }
    // Upstream's order: lowest highest-victim priority, lowest priority sum, fewest victims.
    let key = |c: &Candidate| {
        let highest = c.victims.iter().map(|v| v.priority).max().unwrap_or(i32::MIN);
        let sum: i64 = c.victims.iter().map(|v| v.priority as i64).sum();
        (highest, sum, c.victims.len())
    };
    if let Some(best) = candidates.into_iter().min_by_key(key) {
        return Ok(best);
    }
    let e = FitError {
        num_all_nodes: cache.num_nodes(),
        diagnosis: Diagnosis { node_statuses: statuses, pre_filter_msg: None },
        post_filter_msg: None,
    };
    Err(e.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{framework::Framework, plugins::testing::*, schedule_one::ScheduleError};

    fn with_priority(name: &str, node: Option<&str>, cpu: &str, priority: i32) -> PodRef {
        pod(json!({"metadata": {"name": name}, "spec": {"nodeName": node, "priority": priority,
            "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}))
    }

    fn two_nodes() -> Vec<k8s_openapi::api::core::v1::Node> {
        ["a", "b"]
            .iter()
            .map(|n| node(json!({"metadata": {"name": n}, "status": {"allocatable": {"cpu": "1", "memory": "1Gi", "pods": "10"}}})))
            .collect()
    }

    #[test]
    fn evicts_the_least_important_pods() {
        let c = cache(
            &two_nodes(),
            &[
                with_priority("a-low", Some("a"), "600m", 1),
                with_priority("a-mid", Some("a"), "300m", 5),
                with_priority("b-mid", Some("b"), "900m", 5),
            ],
        );
        let mut algo = Algorithm::new(Framework::default_plugins());
        let p = with_priority("p", None, "500m", 10);
        let Err(ScheduleError::Fit(fit)) = algo.schedule(&p, &c) else { panic!("fits") };
        let cand = preempt(&algo, &p, &c, &fit).unwrap();
        assert_eq!(cand.node, "a");
        assert_eq!(cand.victims.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["a-low"]);
    }

    #[test]
    fn explains_why_preemption_cannot_help() {
        let c = cache(&two_nodes(), &[with_priority("a-high", Some("a"), "900m", 100)]);
        let mut algo = Algorithm::new(Framework::default_plugins());
        let p = with_priority("p", None, "500m", 10);
        let big = with_priority("p", None, "2", 10);
        let Err(ScheduleError::Fit(fit)) = algo.schedule(&big, &c) else { panic!("fits") };
        assert_eq!(
            preempt(&algo, &big, &c, &fit).unwrap_err(),
            "0/2 nodes are available: 2 Preemption is not helpful for scheduling."
        );
        let c = cache(
            &two_nodes(),
            &[
                with_priority("a-high", Some("a"), "900m", 100),
                with_priority("b-high", Some("b"), "900m", 100),
            ],
        );
        let Err(ScheduleError::Fit(fit)) = algo.schedule(&p, &c) else { panic!("fits") };
        assert_eq!(
            preempt(&algo, &p, &c, &fit).unwrap_err(),
            "0/2 nodes are available: 2 No preemption victims found for incoming pod."
        );
    }
}
