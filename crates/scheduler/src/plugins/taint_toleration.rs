//! Taints and tolerations: a node's NoSchedule and NoExecute taints keep off pods that do not
//! tolerate them; untolerated PreferNoSchedule taints lower a node's score.

use crate::{
    framework::{CycleState, Events, FilterPlugin, FilterResult, ScorePlugin, Status, default_normalize},
    pod_info::PodInfo,
    snapshot::NodeInfo,
};

pub const NAME: &str = "TaintToleration";
pub const ERR_REASON_NOT_MATCH: &str = "node(s) had untolerated taint(s)";

pub struct TaintToleration;

impl FilterPlugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> Events {
        Events::NODE_ADD.or(Events::NODE_TAINT)
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo, _: &CycleState) -> FilterResult {
        let untolerated = node.taints.iter().any(|t| {
            (t.effect == "NoSchedule" || t.effect == "NoExecute")
                && !pod.tolerations.iter().any(|tol| tol.tolerates(&t.key, &t.value, &t.effect))
        });
        if untolerated { Err(Status::unresolvable(NAME, ERR_REASON_NOT_MATCH)) } else { Ok(()) }
    }
}

impl ScorePlugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The number of PreferNoSchedule taints the pod does not tolerate (fewer is better).
    fn score(&self, pod: &PodInfo, node: &NodeInfo, _: &CycleState) -> i64 {
        node.taints
            .iter()
            .filter(|t| t.effect == "PreferNoSchedule")
            .filter(|t| {
                !pod.tolerations.iter().any(|tol| {
                    (tol.effect.is_empty() || tol.effect == "PreferNoSchedule")
                        && tol.tolerates(&t.key, &t.value, &t.effect)
                })
            })
            .count() as i64
    }

    fn normalize(&self, scores: &mut [i64]) {
        default_normalize(scores, true);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plugins::testing::*;

    fn tainted(effect: &str) -> k8s_openapi::api::core::v1::Node {
        node(
            json!({"metadata": {"name": "n"}, "spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": effect}]}}),
        )
    }

    #[test]
    fn no_schedule_and_no_execute_taints_need_a_toleration() {
        let plain = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": []}}));
        let tolerant = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [], "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "gpu"}]}}));
        let wrong_value = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [], "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "cpu", "effect": "NoSchedule"}]}}));
        for effect in ["NoSchedule", "NoExecute"] {
            let c = cache(&[tainted(effect)], &[]);
            assert_eq!(outcome(run_filter(&TaintToleration, &plain, &c, "n")), ERR_REASON_NOT_MATCH);
            assert_eq!(outcome(run_filter(&TaintToleration, &tolerant, &c, "n")), "ok");
            assert_eq!(outcome(run_filter(&TaintToleration, &wrong_value, &c, "n")), ERR_REASON_NOT_MATCH);
        }
        let c = cache(&[tainted("PreferNoSchedule")], &[]);
        assert_eq!(outcome(run_filter(&TaintToleration, &plain, &c, "n")), "ok");
    }

    #[test]
    fn prefer_no_schedule_lowers_the_score() {
        let c = cache(&[tainted("PreferNoSchedule")], &[]);
        let plain = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": []}}));
        let s = CycleState::default();
        let raw = ScorePlugin::score(&TaintToleration, &plain, c.node("n").unwrap(), &s);
        let mut scores = [raw, 0];
        ScorePlugin::normalize(&TaintToleration, &mut scores);
        assert_eq!(scores, [0, 100]);
    }
}
