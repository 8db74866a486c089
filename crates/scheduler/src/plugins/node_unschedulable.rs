//! Keeps pods off cordoned nodes (`spec.unschedulable`), unless they tolerate the
//! `node.kubernetes.io/unschedulable:NoSchedule` taint.

use crate::{
    framework::{Events, FilterPlugin, FilterResult, Status},
    pod_info::PodInfo,
    snapshot::NodeInfo,
};

pub const NAME: &str = "NodeUnschedulable";
pub const ERR_REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

pub struct NodeUnschedulable;

impl FilterPlugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> Events {
        Events::NODE_ADD.or(Events::NODE_SCHEDULABLE).or(Events::NODE_TAINT)
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo, _: &crate::framework::CycleState) -> FilterResult {
        if !node.unschedulable
            || pod.tolerations.iter().any(|t| t.tolerates(UNSCHEDULABLE_TAINT, "", "NoSchedule"))
        {
            return Ok(());
        }
        Err(Status::unresolvable(NAME, ERR_REASON_UNSCHEDULABLE))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plugins::testing::*;

    #[test]
    fn cordoned_nodes_reject_pods_without_the_toleration() {
        let c = cache(&[node(json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}}))], &[]);
        let plain = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": []}}));
        assert_eq!(outcome(run_filter(&NodeUnschedulable, &plain, &c, "n")), "node(s) were unschedulable");
        let tolerant = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [], "tolerations": [
            {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}}));
        assert_eq!(outcome(run_filter(&NodeUnschedulable, &tolerant, &c, "n")), "ok");
    }
}
