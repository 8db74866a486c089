//! A pod that names its node (`spec.nodeName`) fits only there.

use crate::{
    framework::{CycleState, Events, FilterPlugin, FilterResult, PreFilter, Status},
    pod_info::PodInfo,
    snapshot::{Cache, NodeInfo},
};

pub const NAME: &str = "NodeName";
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

pub struct NodeName;

impl FilterPlugin for NodeName {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> Events {
        Events::NODE_ADD
    }

    fn pre_filter(&self, pod: &PodInfo, _: &Cache, _: &mut CycleState) -> Result<PreFilter, Status> {
        Ok(if pod.node_name.is_some() { PreFilter::Run } else { PreFilter::Skip })
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo, _: &CycleState) -> FilterResult {
        match &pod.node_name {
            Some(n) if *n != node.name => Err(Status::unresolvable(NAME, ERR_REASON)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plugins::testing::*;

    #[test]
    fn only_the_named_node_fits() {
        let c =
            cache(&[node(json!({"metadata": {"name": "a"}})), node(json!({"metadata": {"name": "b"}}))], &[]);
        let p = pod(json!({"metadata": {"name": "p"}, "spec": {"nodeName": "a", "containers": []}}));
        assert_eq!(outcome(run_filter(&NodeName, &p, &c, "a")), "ok");
        assert_eq!(outcome(run_filter(&NodeName, &p, &c, "b")), ERR_REASON);
    }
}
