//! Topology spread constraints: `DoNotSchedule` constraints filter nodes whose domain would
//! exceed `maxSkew`; `ScheduleAnyway` constraints score emptier domains higher.

use std::collections::HashMap;

use crate::{
    framework::{
        CycleState, Events, FilterPlugin, FilterResult, MAX_NODE_SCORE, PreFilter, ScorePlugin, Status,
    },
    plugins::node_affinity,
    pod_info::{PodInfo, SpreadConstraint},
    snapshot::{Cache, NodeInfo},
};

pub const NAME: &str = "PodTopologySpread";
pub const ERR_REASON_CONSTRAINTS_NOT_MATCH: &str = "node(s) didn't match pod topology spread constraints";
pub const ERR_REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

/// Score of nodes that lack a constraint's topology key: they are left out of scoring.
const IGNORED: i64 = i64::MIN;

pub struct PodTopologySpread;

/// Whether the node counts for spreading at all, under the constraint's policies.
fn eligible(pod: &PodInfo, node: &NodeInfo, constraints: &[&SpreadConstraint]) -> bool {
    node.exists
        && constraints.iter().all(|c| node.labels.contains_key(&c.topology_key))
        && constraints.iter().all(|c| {
            (!c.honor_node_affinity || node_affinity::required_matches(pod, node))
                && (!c.honor_node_taints
                    || node.taints.iter().all(|t| {
                        t.effect == "PreferNoSchedule"
                            || pod.tolerations.iter().any(|tol| tol.tolerates(&t.key, &t.value, &t.effect))
                    }))
        })
}

/// Whether eligibility comes down to "the node exists and has the key", so that the domains
/// and counts can be read from the cache without walking nodes.
fn every_node_with_the_key_counts(pod: &PodInfo, c: &SpreadConstraint) -> bool {
    !c.honor_node_taints
        && (!c.honor_node_affinity || (pod.node_selector.is_empty() && pod.required_node_affinity.is_none()))
}

/// Matching pods per domain of each constraint, over the eligible nodes. The pods a
/// constraint selects (same namespace, matching labels, not terminating) are counted by the
/// cache, per domain when every node with the key is eligible, else per node.
fn domain_counts(
    pod: &PodInfo,
    cache: &Cache,
    constraints: &[&SpreadConstraint],
) -> Vec<HashMap<String, i64>> {
    if let [c] = constraints
        && every_node_with_the_key_counts(pod, c)
    {
        let per_value =
            cache.matching_pods(&[(std::slice::from_ref(&c.pods), Some(c.topology_key.as_str()))]);
        let per_value = per_value.first();
        let domains = cache
            .label_values(&c.topology_key)
            .map(|v| (v.clone(), per_value.and_then(|p| p.get(v)).copied().unwrap_or(0)))
            .collect();
        return vec![domains];
    }
    let keys: Vec<_> = constraints.iter().map(|c| (std::slice::from_ref(&c.pods), None)).collect();
    let per_node = cache.matching_pods(&keys);
    let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); constraints.len()];
    for node in cache.nodes().iter().filter(|n| eligible(pod, n, constraints)) {
        for (i, c) in constraints.iter().enumerate() {
            let value = &node.labels[&c.topology_key];
            let n = per_node[i].get(&node.name).copied().unwrap_or(0);
            match counts[i].get_mut(value.as_str()) {
                Some(have) => *have += n,
                None => {
                    counts[i].insert(value.clone(), n);
                }
            }
        }
    }
    counts
}

struct FilterState {
    /// Per hard constraint (in the pod's order): counts per domain, and the most a domain may
    /// hold for the pod to go there (`maxSkew` + the smallest count − whether the pod matches
    /// its own selector), worked out once rather than per node.
    counts: Vec<(HashMap<String, i64>, i64)>,
}

fn hard(pod: &PodInfo) -> Vec<&SpreadConstraint> {
    pod.spread.iter().filter(|c| c.hard).collect()
}

impl FilterPlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> Events {
        Events::NODE_ADD
            .or(Events::NODE_LABEL)
            .or(Events::NODE_TAINT)
            .or(Events::ASSIGNED_POD_ADD)
            .or(Events::ASSIGNED_POD_DELETE)
            .or(Events::ASSIGNED_POD_UPDATE)
    }

    fn pre_filter(&self, pod: &PodInfo, cache: &Cache, state: &mut CycleState) -> Result<PreFilter, Status> {
        let constraints = hard(pod);
        if constraints.is_empty() {
            return Ok(PreFilter::Skip);
        }
        let counts = domain_counts(pod, cache, &constraints)
            .into_iter()
            .zip(&constraints)
            .map(|(domains, c)| {
                let min = if (domains.len() as i64) < c.min_domains {
                    0
                } else {
                    domains.values().copied().min().unwrap_or(0)
                };
                let self_match = i64::from(c.selector.matches(&pod.labels));
                (domains, c.max_skew + min - self_match)
            })
            .collect();
        state.write(FilterState { counts });
        Ok(PreFilter::Run)
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo, state: &CycleState) -> FilterResult {
        let Some(s) = state.read::<FilterState>() else { return Ok(()) };
        // Called for every node of the cycle: iterate, do not collect.
        for (c, (domains, limit)) in pod.spread.iter().filter(|c| c.hard).zip(&s.counts) {
            let Some(value) = node.labels.get(&c.topology_key) else {
                return Err(Status::unresolvable(NAME, ERR_REASON_NODE_LABEL_NOT_MATCH));
            };
            // The skew with the pod there: count + self match − min > maxSkew.
            if domains.get(value).copied().unwrap_or(0) > *limit {
                return Err(Status::unschedulable(NAME, ERR_REASON_CONSTRAINTS_NOT_MATCH));
            }
        }
        Ok(())
    }
}

struct ScoreState {
    /// Per soft constraint: counts per domain and the constraint's weight.
    counts: Vec<(HashMap<String, i64>, f64)>,
}

fn soft(pod: &PodInfo) -> Vec<&SpreadConstraint> {
    pod.spread.iter().filter(|c| !c.hard).collect()
}

impl ScorePlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_score(&self, pod: &PodInfo, cache: &Cache, _: &[usize], state: &mut CycleState) -> bool {
        let constraints = soft(pod);
        if constraints.is_empty() {
            return false;
        }
        // A constraint over more domains weighs more: log(domains + 2), as upstream.
        let counts = domain_counts(pod, cache, &constraints)
            .into_iter()
            .map(|d| {
                let w = ((d.len() + 2) as f64).ln();
                (d, w)
            })
            .collect();
        state.write(ScoreState { counts });
        true
    }

    fn score(&self, pod: &PodInfo, node: &NodeInfo, state: &CycleState) -> i64 {
        let Some(s) = state.read::<ScoreState>() else { return 0 };
        let mut score = 0.0;
        for (c, (domains, weight)) in pod.spread.iter().filter(|c| !c.hard).zip(&s.counts) {
            let Some(value) = node.labels.get(&c.topology_key) else { return IGNORED };
            let n = domains.get(value).copied().unwrap_or(0) as f64;
            score += n * weight + (c.max_skew - 1) as f64;
        }
        score.round() as i64
    }

    /// Fewer matching pods is better: `100 * (max + min - s) / max`.
    fn normalize(&self, scores: &mut [i64]) {
        let valid = scores.iter().copied().filter(|s| *s != IGNORED);
        let (min, max) = valid.fold((i64::MAX, 0), |(lo, hi), s| (lo.min(s), hi.max(s)));
        for s in scores.iter_mut() {
            *s = if *s == IGNORED {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - *s) / max
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plugins::testing::*;

    fn zone_node(name: &str, zone: Option<&str>) -> k8s_openapi::api::core::v1::Node {
        let mut labels = json!({"kubernetes.io/hostname": name});
        if let Some(z) = zone {
            labels["zone"] = json!(z);
        }
        node(json!({"metadata": {"name": name, "labels": labels}}))
    }

    fn web(name: &str, node: Option<&str>, when: &str) -> crate::pod_info::PodRef {
        pod(
            json!({"metadata": {"name": name, "labels": {"app": "web"}}, "spec": {"nodeName": node, "containers": [],
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": when,
                "labelSelector": {"matchLabels": {"app": "web"}}}]}}),
        )
    }

    #[test]
    fn skew_over_max_is_rejected_and_missing_labels_are_unresolvable() {
        let nodes = [zone_node("a", Some("z1")), zone_node("b", Some("z2")), zone_node("c", None)];
        let c = cache(&nodes, &[web("w1", Some("a"), "DoNotSchedule")]);
        let p = web("w2", None, "DoNotSchedule");
        assert_eq!(outcome(run_filter(&PodTopologySpread, &p, &c, "a")), ERR_REASON_CONSTRAINTS_NOT_MATCH);
        assert_eq!(outcome(run_filter(&PodTopologySpread, &p, &c, "b")), "ok");
        assert_eq!(outcome(run_filter(&PodTopologySpread, &p, &c, "c")), ERR_REASON_NODE_LABEL_NOT_MATCH);
    }

    #[test]
    fn schedule_anyway_prefers_the_emptier_domain() {
        let nodes = [zone_node("a", Some("z1")), zone_node("b", Some("z2")), zone_node("c", None)];
        let c = cache(&nodes, &[web("w1", Some("a"), "ScheduleAnyway")]);
        let p = web("w2", None, "ScheduleAnyway");
        let mut s = CycleState::default();
        assert!(PodTopologySpread.pre_score(&p, &c, &[], &mut s));
        let mut scores: Vec<i64> =
            ["a", "b", "c"].iter().map(|n| PodTopologySpread.score(&p, c.node(n).unwrap(), &s)).collect();
        PodTopologySpread.normalize(&mut scores);
        assert_eq!(scores, [0, 100, 0]);
    }

    #[test]
    fn counts_follow_pods_placed_and_removed_after_the_first_cycle() {
        let nodes = [zone_node("a", Some("z1")), zone_node("b", Some("z2"))];
        let mut c = cache(&nodes, &[]);
        let p = web("w9", None, "DoNotSchedule");
        // The first cycle builds the counts; later cycles must see later pods.
        assert_eq!(outcome(run_filter(&PodTopologySpread, &p, &c, "a")), "ok");
        c.add_bound_pod(web("w1", Some("a"), "DoNotSchedule"));
        assert_eq!(outcome(run_filter(&PodTopologySpread, &p, &c, "a")), ERR_REASON_CONSTRAINTS_NOT_MATCH);
        c.assume(web("w2", None, "DoNotSchedule"), "b");
        assert_eq!(outcome(run_filter(&PodTopologySpread, &p, &c, "a")), "ok");
        c.forget("w2");
        assert_eq!(outcome(run_filter(&PodTopologySpread, &p, &c, "a")), ERR_REASON_CONSTRAINTS_NOT_MATCH);
        c.remove_pod("w1");
        assert_eq!(outcome(run_filter(&PodTopologySpread, &p, &c, "a")), "ok");
        // A terminating pod does not count.
        c.add_bound_pod(pod(
            json!({"metadata": {"name": "w3", "labels": {"app": "web"}, "deletionTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"nodeName": "a", "containers": []}}),
        ));
        assert_eq!(outcome(run_filter(&PodTopologySpread, &p, &c, "a")), "ok");
    }

    #[test]
    fn a_pod_outside_its_own_selector_adds_nothing_to_the_skew() {
        let nodes = [zone_node("a", Some("z1")), zone_node("b", Some("z2"))];
        let mut c = cache(&nodes, &[web("w1", Some("a"), "DoNotSchedule")]);
        let p = pod(
            json!({"metadata": {"name": "other", "labels": {"app": "other"}}, "spec": {"containers": [],
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "web"}}}]}}),
        );
        assert_eq!(outcome(run_filter(&PodTopologySpread, &p, &c, "a")), "ok");
        c.add_bound_pod(web("w2", Some("a"), "DoNotSchedule"));
        assert_eq!(outcome(run_filter(&PodTopologySpread, &p, &c, "a")), ERR_REASON_CONSTRAINTS_NOT_MATCH);
        assert_eq!(outcome(run_filter(&PodTopologySpread, &p, &c, "b")), "ok");
    }

    /// The walk over nodes (taken under a node affinity) and the domains read from the cache
    /// (taken without) must agree when the affinity admits every node with the key.
    #[test]
    fn domains_from_the_cache_agree_with_the_walk_over_nodes() {
        let nodes: Vec<_> = (0..6)
            .map(|i| zone_node(&format!("n{i}"), (i != 5).then(|| ["z1", "z2", "z3"][i % 3])))
            .collect();
        let mut c = cache(&nodes, &[]);
        let spread = json!([{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}}}]);
        let plain = pod(json!({"metadata": {"name": "p", "labels": {"app": "web"}},
            "spec": {"containers": [], "topologySpreadConstraints": spread}}));
        let walked = pod(json!({"metadata": {"name": "q", "labels": {"app": "web"}},
            "spec": {"containers": [], "topologySpreadConstraints": spread,
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}]}}}}}));
        let mut rng = fastrand::Rng::with_seed(7);
        let mut rejected = 0;
        for step in 0..60 {
            let name = format!("w{}", rng.usize(..12));
            if rng.usize(..3) == 0 {
                c.remove_pod(&name);
            } else {
                c.add_bound_pod(web(&name, Some(&format!("n{}", rng.usize(..6))), "DoNotSchedule"));
            }
            for n in 0..6 {
                let node = format!("n{n}");
                let fast = outcome(run_filter(&PodTopologySpread, &plain, &c, &node));
                let slow = outcome(run_filter(&PodTopologySpread, &walked, &c, &node));
                assert_eq!(fast, slow, "step {step}, node {node}");
                rejected += usize::from(fast == ERR_REASON_CONSTRAINTS_NOT_MATCH);
            }
        }
        assert!(rejected > 0, "the placements never made any domain too full");
    }
}
