//! DefaultPreemption: when a pod fits nowhere, find a node where evicting pods of lower
//! priority makes room, evicting as few and as unimportant pods as possible and, first of
//! all, breaking as few PodDisruptionBudgets as possible (upstream's `SelectVictimsOnNode` and
//! `pickOneNodeForPreemption`).

use std::{cmp::Ordering, collections::HashSet};

use k8s_openapi::api::policy::v1::PodDisruptionBudget;

use crate::{
    fit_error::{Diagnosis, FitError},
    framework::{Code, Status},
    labels::Selector,
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
    /// Most important first.
    pub victims: Vec<PodRef>,
    /// How many victims' eviction breaks a PodDisruptionBudget.
    pub pdb_violations: usize,
}

/// A PodDisruptionBudget as preemption reads it.
#[derive(Clone, Debug)]
pub struct Budget {
    namespace: String,
    selector: Selector,
    allowed: i32,
    /// Pods the budget already counts as disrupted (`status.disruptedPods`).
    disrupted: HashSet<String>,
}

impl Budget {
    pub fn from_api(pdb: &PodDisruptionBudget) -> Budget {
        let status = pdb.status.as_ref();
        Budget {
            namespace: pdb.metadata.namespace.clone().unwrap_or_default(),
            selector: Selector::from_api(pdb.spec.as_ref().and_then(|s| s.selector.as_ref())),
            allowed: status.map_or(0, |s| s.disruptions_allowed),
            disrupted: status
                .and_then(|s| s.disrupted_pods.as_ref())
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// Whether evicting `pod` takes one of this budget's allowed disruptions. A missing or
    /// empty selector covers nothing here, as upstream's preemption reads it.
    fn covers(&self, pod: &PodInfo) -> bool {
        self.namespace == pod.namespace
            && !self.selector.is_everything()
            && self.selector.matches(&pod.labels)
            && !self.disrupted.contains(&pod.name)
    }
}

/// Upstream's `MoreImportantPod`: higher priority, then the one that started earlier (a pod
/// not started yet counts as starting now, so after every started one).
fn more_important_first(a: &PodRef, b: &PodRef) -> Ordering {
    b.priority.cmp(&a.priority).then_with(|| match (a.start_time, b.start_time) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    })
}

/// Splits `pods` (most important first) into those whose eviction would break a budget and
/// those whose would not, spending each budget's allowed disruptions in that order
/// (upstream's `filterPodsWithPDBViolation`).
fn split_by_budget(pods: Vec<PodRef>, budgets: &[Budget]) -> (Vec<PodRef>, Vec<PodRef>) {
    let mut allowed: Vec<i32> = budgets.iter().map(|b| b.allowed).collect();
    let (mut violating, mut fine) = (Vec::new(), Vec::new());
    for pod in pods {
        let mut violates = false;
        if !pod.labels.is_empty() {
            for (b, left) in budgets.iter().zip(allowed.iter_mut()) {
                if b.covers(&pod) {
                    *left -= 1;
                    violates |= *left < 0;
                }
            }
        }
        if violates { violating.push(pod) } else { fine.push(pod) }
    }
    (violating, fine)
}

/// The outcome: a candidate, or the message explaining why there is none.
pub fn preempt(
    algo: &Algorithm,
    pod: &PodInfo,
    cache: &Cache,
    fit: &FitError,
    budgets: &[Budget],
) -> Result<Candidate, String> {
    if pod.preemption_never {
        return Err(NOT_ELIGIBLE_NEVER.into());
    }
    let Some(last) = &algo.last else { return Err(NOT_HELPFUL.into()) };
    let mut statuses: Vec<(String, Status)> = Vec::new();
    let mut candidates: Vec<Candidate> = Vec::new();
    // Nodes rejected for reasons eviction cannot change are not tried.
    let unresolvable: HashSet<&str> = fit
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
        let mut potential: Vec<PodRef> =
            node.pods.iter().filter(|p| p.priority < pod.priority).cloned().collect();
        if potential.is_empty() {
            statuses.push((node.name.clone(), Status::unresolvable(NAME, NO_VICTIMS)));
            continue;
        }
        for v in &potential {
            trial.remove_pod(&v.uid);
        }
        if let Err(status) = algo.run_filters(&last.active_filters, pod, &trial, &last.state) {
            statuses.push((node.name.clone(), status));
            continue;
        }
        // Put back as many pods as still leave room, the most important first, and among them
        // first those a budget protects.
        potential.sort_by(more_important_first);
        let (violating, fine) = split_by_budget(potential, budgets);
        let mut victims = Vec::new();
        let mut pdb_violations = 0;
        for (group, breaks_budget) in [(violating, true), (fine, false)] {
            for v in group {
                trial.add_pod(v.clone());
                if algo.run_filters(&last.active_filters, pod, &trial, &last.state).is_err() {
                    trial.remove_pod(&v.uid);
                    victims.push(v);
                    pdb_violations += usize::from(breaks_budget);
                }
            }
        }
        victims.sort_by(more_important_first);
        candidates.push(Candidate { node: node.name.clone(), victims, pdb_violations });
    }
    if let Some(best) = pick_one(candidates) {
        return Ok(best);
    }
    let e = FitError {
        num_all_nodes: cache.num_nodes(),
        diagnosis: Diagnosis { node_statuses: statuses, pre_filter_msg: None },
        post_filter_msg: None,
    };
    Err(e.to_string())
}

/// Upstream's `pickOneNodeForPreemption`: fewest budget violations, then the lowest
/// highest-victim priority, the lowest priority sum, the fewest victims, the latest start
/// among the highest-priority victims; the first node on a full tie.
fn pick_one(candidates: Vec<Candidate>) -> Option<Candidate> {
    let key = |c: &Candidate| {
        let highest = c.victims.first().map_or(i32::MIN, |v| v.priority);
        // Offset so that every term is positive: one more victim never lowers the sum.
        let sum: i64 = c.victims.iter().map(|v| i64::from(v.priority) + i64::from(i32::MAX) + 1).sum();
        let earliest_of_highest = c
            .victims
            .iter()
            .filter(|v| v.priority == highest)
            .map(|v| v.start_time.unwrap_or(i128::MAX))
            .min()
            .unwrap_or(i128::MAX);
        (c.pdb_violations, highest, sum, c.victims.len(), std::cmp::Reverse(earliest_of_highest))
    };
    // A node that needs no eviction at all wins outright.
    if let Some(at) = candidates.iter().position(|c| c.victims.is_empty()) {
        return candidates.into_iter().nth(at);
    }
    let mut best: Option<Candidate> = None;
    for c in candidates {
        if best.as_ref().is_none_or(|b| key(&c) < key(b)) {
            best = Some(c);
        }
    }
    best
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
        let cand = preempt(&algo, &p, &c, &fit, &[]).unwrap();
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
            preempt(&algo, &big, &c, &fit, &[]).unwrap_err(),
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
            preempt(&algo, &p, &c, &fit, &[]).unwrap_err(),
            "0/2 nodes are available: 2 No preemption victims found for incoming pod."
        );
    }

    fn labelled(name: &str, node: &str, cpu: &str, priority: i32, app: &str) -> PodRef {
        pod(json!({"metadata": {"name": name, "labels": {"app": app}}, "spec": {"nodeName": node,
            "priority": priority, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}))
    }

    fn budget(app: &str, allowed: i32, disrupted: &[&str]) -> Budget {
        let disrupted: serde_json::Map<String, serde_json::Value> =
            disrupted.iter().map(|n| (n.to_string(), json!("2026-01-01T00:00:00Z"))).collect();
        Budget::from_api(
            &serde_json::from_value(json!({
                "metadata": {"name": app, "namespace": "default"},
                "spec": {"selector": {"matchLabels": {"app": app}}},
                "status": {"disruptionsAllowed": allowed, "currentHealthy": 0, "desiredHealthy": 0,
                    "expectedPods": 0, "disruptedPods": disrupted}
            }))
            .unwrap(),
        )
    }

    fn victims(c: &Candidate) -> Vec<&str> {
        c.victims.iter().map(|v| v.name.as_str()).collect()
    }

    #[test]
    fn the_node_with_fewest_budget_violations_wins() {
        let c = cache(
            &two_nodes(),
            &[labelled("a-low", "a", "900m", 1, "guarded"), labelled("b-mid", "b", "900m", 5, "free")],
        );
        let mut algo = Algorithm::new(Framework::default_plugins());
        let p = with_priority("p", None, "500m", 10);
        let Err(ScheduleError::Fit(fit)) = algo.schedule(&p, &c) else { panic!("fits") };
        // Without budgets the lower-priority victim on a is chosen.
        assert_eq!(preempt(&algo, &p, &c, &fit, &[]).unwrap().node, "a");
        let cand = preempt(&algo, &p, &c, &fit, &[budget("guarded", 0, &[])]).unwrap();
        assert_eq!((cand.node.as_str(), victims(&cand), cand.pdb_violations), ("b", vec!["b-mid"], 0));
        // When every node breaks a budget, the usual order decides and the violation counts.
        let both = [budget("guarded", 0, &[]), budget("free", 0, &[])];
        let cand = preempt(&algo, &p, &c, &fit, &both).unwrap();
        assert_eq!((cand.node.as_str(), cand.pdb_violations), ("a", 1));
    }

    #[test]
    fn pods_a_budget_protects_are_spared_first_on_a_node() {
        let node = [node(
            json!({"metadata": {"name": "a"}, "status": {"allocatable": {"cpu": "1", "memory": "1Gi", "pods": "10"}}}),
        )];
        // Either pod alone makes room; without budgets the lower-priority one goes.
        let pods = [labelled("low", "a", "500m", 1, "guarded"), labelled("mid", "a", "500m", 5, "free")];
        let c = cache(&node, &pods);
        let mut algo = Algorithm::new(Framework::default_plugins());
        let p = with_priority("p", None, "500m", 10);
        let Err(ScheduleError::Fit(fit)) = algo.schedule(&p, &c) else { panic!("fits") };
        assert_eq!(victims(&preempt(&algo, &p, &c, &fit, &[]).unwrap()), ["low"]);
        let cand = preempt(&algo, &p, &c, &fit, &[budget("guarded", 0, &[])]).unwrap();
        assert_eq!((victims(&cand), cand.pdb_violations), (vec!["mid"], 0));
    }

    #[test]
    fn budgets_spend_allowed_disruptions_in_importance_order() {
        let pods = vec![
            labelled("x1", "a", "1m", 5, "x"),
            labelled("x2", "a", "1m", 3, "x"),
            labelled("x3", "a", "1m", 1, "x"),
            labelled("y", "a", "1m", 1, "y"),
        ];
        let names = |v: &[PodRef]| v.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
        // One disruption allowed: the first pod spends it, the rest would break the budget;
        // a pod already counted as disrupted spends nothing.
        let (violating, fine) = split_by_budget(pods.clone(), &[budget("x", 1, &["x2"])]);
        assert_eq!(
            (names(&violating), names(&fine)),
            (vec!["x3".to_string()], vec!["x1".into(), "x2".into(), "y".into()])
        );
        // An empty selector covers nothing.
        let mut everything = budget("x", 0, &[]);
        everything.selector = Selector::everything();
        assert!(split_by_budget(pods, &[everything]).0.is_empty());
    }

    #[test]
    fn ties_go_to_more_victims_of_lower_sum_and_to_younger_victims() {
        let started = |name: &str, priority: i32, at: Option<&str>| {
            pod(json!({"metadata": {"name": name}, "spec": {"nodeName": "a", "priority": priority,
                "containers": [{"name": "c"}]}, "status": {"startTime": at}}))
        };
        let cand =
            |node: &str, victims: Vec<PodRef>| Candidate { node: node.into(), victims, pdb_violations: 0 };
        // Negative priorities: two victims still sum higher than one.
        let best = pick_one(vec![
            cand("two", vec![started("a", -5, None), started("b", -5, None)]),
            cand("one", vec![started("c", -5, None)]),
        ]);
        assert_eq!(best.unwrap().node, "one");
        let best = pick_one(vec![
            cand("old", vec![started("a", 1, Some("2026-01-01T00:00:10Z"))]),
            cand("young", vec![started("b", 1, Some("2026-01-01T00:00:20Z"))]),
        ]);
        assert_eq!(best.unwrap().node, "young");
    }
}
