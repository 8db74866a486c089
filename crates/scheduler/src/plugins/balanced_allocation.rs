//! Favours nodes whose CPU and memory would be used in equal shares after placing the pod.

use crate::{
    framework::{CycleState, MAX_NODE_SCORE, ScorePlugin},
    pod_info::PodInfo,
    snapshot::{Cache, NodeInfo},
};

pub const NAME: &str = "NodeResourcesBalancedAllocation";

pub struct BalancedAllocation;

impl ScorePlugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        NAME
    }

    /// A pod that requests neither CPU nor memory cannot unbalance a node.
    fn pre_score(&self, pod: &PodInfo, _: &Cache, _: &[usize], _: &mut CycleState) -> bool {
        pod.requests.milli_cpu > 0 || pod.requests.memory > 0
    }

    /// `(1 - std) * 100` of the CPU and memory fractions; with two resources the standard
    /// deviation is half their difference.
    fn score(&self, pod: &PodInfo, node: &NodeInfo, _: &CycleState) -> i64 {
        let fraction = |requested: i64, allocatable: i64| {
            if allocatable == 0 { 0.0 } else { (requested as f64 / allocatable as f64).min(1.0) }
        };
        let cpu = fraction(node.requested.milli_cpu + pod.requests.milli_cpu, node.allocatable.milli_cpu);
        let memory = fraction(node.requested.memory + pod.requests.memory, node.allocatable.memory);
        let std = (cpu - memory).abs() / 2.0;
        ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plugins::testing::*;

    #[test]
    fn equal_shares_score_highest() {
        let c = cache(
            &[node(
                json!({"metadata": {"name": "n"}, "status": {"allocatable": {"cpu": "4", "memory": "4Gi"}}}),
            )],
            &[],
        );
        let n = c.node("n").unwrap();
        let s = CycleState::default();
        let balanced = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "c", "resources": {"requests": {"cpu": "2", "memory": "2Gi"}}}]}}));
        let skewed = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "c", "resources": {"requests": {"cpu": "4", "memory": "0"}}}]}}));
        assert_eq!(BalancedAllocation.score(&balanced, n, &s), 100);
        assert_eq!(BalancedAllocation.score(&skewed, n, &s), 50);
    }
}
