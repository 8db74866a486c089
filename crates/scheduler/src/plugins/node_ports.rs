//! A pod's host ports must be free on the node (the wildcard address conflicts with all).

use crate::{
    framework::{CycleState, Events, FilterPlugin, FilterResult, PreFilter, Status},
    pod_info::PodInfo,
    snapshot::{Cache, NodeInfo},
};

pub const NAME: &str = "NodePorts";
pub const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";

pub struct NodePorts;

impl FilterPlugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> Events {
        Events::NODE_ADD.or(Events::ASSIGNED_POD_DELETE)
    }

    fn pre_filter(&self, pod: &PodInfo, _: &Cache, _: &mut CycleState) -> Result<PreFilter, Status> {
        Ok(if pod.host_ports.is_empty() { PreFilter::Skip } else { PreFilter::Run })
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo, _: &CycleState) -> FilterResult {
        let conflict =
            pod.host_ports.iter().any(|want| node.used_ports.iter().any(|used| want.conflicts(used)));
        if conflict { Err(Status::unschedulable(NAME, ERR_REASON)) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plugins::testing::*;

    fn with_port(name: &str, node: Option<&str>, ip: &str, port: i32) -> crate::pod_info::PodRef {
        pod(json!({"metadata": {"name": name}, "spec": {"nodeName": node, "containers": [
            {"name": "c", "ports": [{"containerPort": 80, "hostPort": port, "hostIP": ip}]}]}}))
    }

    #[test]
    fn used_ports_conflict_and_wildcard_conflicts_with_all() {
        let c = cache(
            &[node(json!({"metadata": {"name": "n"}}))],
            &[with_port("a", Some("n"), "10.0.0.1", 8080)],
        );
        assert_eq!(outcome(run_filter(&NodePorts, &with_port("p", None, "", 8080), &c, "n")), ERR_REASON);
        assert_eq!(outcome(run_filter(&NodePorts, &with_port("p", None, "10.0.0.2", 8080), &c, "n")), "ok");
        assert_eq!(outcome(run_filter(&NodePorts, &with_port("p", None, "", 9090), &c, "n")), "ok");
    }
}
