//! `spec.nodeSelector` and node affinity: required terms filter, preferred terms score.

use crate::{
    framework::{
        CycleState, Events, FilterPlugin, FilterResult, PreFilter, ScorePlugin, Status, default_normalize,
    },
    pod_info::PodInfo,
    snapshot::{Cache, NodeInfo},
};

pub const NAME: &str = "NodeAffinity";
pub const ERR_REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";

pub struct NodeAffinity;

/// Whether the node satisfies the pod's nodeSelector and required node affinity (also used
/// by topology spreading's `nodeAffinityPolicy: Honor`).
pub fn required_matches(pod: &PodInfo, node: &NodeInfo) -> bool {
    pod.node_selector.iter().all(|(k, v)| node.labels.get(k) == Some(v))
        && pod.required_node_affinity.as_ref().is_none_or(|terms| terms.matches(&node.name, &node.labels))
}

impl FilterPlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> Events {
        Events::NODE_ADD.or(Events::NODE_LABEL)
    }

    fn pre_filter(&self, pod: &PodInfo, _: &Cache, _: &mut CycleState) -> Result<PreFilter, Status> {
        if pod.node_selector.is_empty() && pod.required_node_affinity.is_none() {
            return Ok(PreFilter::Skip);
        }
        Ok(PreFilter::Run)
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo, _: &CycleState) -> FilterResult {
        if required_matches(pod, node) { Ok(()) } else { Err(Status::unresolvable(NAME, ERR_REASON_POD)) }
    }
}

impl ScorePlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_score(&self, pod: &PodInfo, _: &Cache, _: &[usize], _: &mut CycleState) -> bool {
        !pod.preferred_node_affinity.is_empty()
    }

    /// The sum of the weights of the preferred terms the node matches.
    fn score(&self, pod: &PodInfo, node: &NodeInfo, _: &CycleState) -> i64 {
        pod.preferred_node_affinity
            .iter()
            .filter(|(_, term)| term.as_ref().is_some_and(|t| t.matches(&node.name, &node.labels)))
            .map(|(w, _)| *w)
            .sum()
    }

    fn normalize(&self, scores: &mut [i64]) {
        default_normalize(scores, false);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plugins::testing::*;

    #[test]
    fn node_selector_and_required_affinity() {
        let c = cache(
            &[
                node(json!({"metadata": {"name": "ssd", "labels": {"disk": "ssd", "zone": "a"}}})),
                node(json!({"metadata": {"name": "hdd", "labels": {"disk": "hdd", "zone": "a"}}})),
            ],
            &[],
        );
        let by_selector = pod(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [], "nodeSelector": {"disk": "ssd"}}}),
        );
        assert_eq!(outcome(run_filter(&NodeAffinity, &by_selector, &c, "ssd")), "ok");
        assert_eq!(outcome(run_filter(&NodeAffinity, &by_selector, &c, "hdd")), ERR_REASON_POD);
        let by_affinity =
            pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [], "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "disk", "operator": "NotIn", "values": ["ssd"]}]}]}}}}}));
        assert_eq!(outcome(run_filter(&NodeAffinity, &by_affinity, &c, "ssd")), ERR_REASON_POD);
        assert_eq!(outcome(run_filter(&NodeAffinity, &by_affinity, &c, "hdd")), "ok");
    }

    #[test]
    fn preferred_terms_add_their_weights() {
        let c =
            cache(&[node(json!({"metadata": {"name": "n", "labels": {"disk": "ssd", "zone": "a"}}}))], &[]);
        let p = pod(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [], "affinity": {"nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 5, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}},
                {"weight": 7, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}},
                {"weight": 3, "preference": {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}}
            ]}}}}),
        );
        assert_eq!(ScorePlugin::score(&NodeAffinity, &p, c.node("n").unwrap(), &CycleState::default()), 8);
    }
}
