//! Resource requests against what the node has left: filters on every requested resource and
//! the pod count; scores by upstream's default LeastAllocated strategy on CPU and memory.

use std::borrow::Cow;

use crate::{
    framework::{Code, CycleState, Events, FilterPlugin, FilterResult, MAX_NODE_SCORE, ScorePlugin, Status},
    pod_info::PodInfo,
    snapshot::NodeInfo,
};

pub const NAME: &str = "NodeResourcesFit";
pub const ERR_REASON_TOO_MANY_PODS: &str = "Too many pods";

pub struct NodeResourcesFit;

/// Every resource the node lacks, as upstream's `fitsRequest` lists them, and whether
/// removing pods could not help (the request exceeds the node's allocatable outright).
pub fn insufficient(pod: &PodInfo, node: &NodeInfo) -> Option<Status> {
    let mut reasons: Vec<Cow<'static, str>> = Vec::new();
    let mut unresolvable = false;
    if node.pods.len() as i64 + 1 > node.allowed_pods {
        reasons.push(ERR_REASON_TOO_MANY_PODS.into());
    }
    let r = &pod.requests;
    if r.milli_cpu == 0 && r.memory == 0 && r.ephemeral_storage == 0 && r.scalar.is_empty() {
        return (!reasons.is_empty()).then_some(Status { code: Code::Unschedulable, reasons, plugin: NAME });
    }
    let mut check = |want: i64, alloc: i64, used: i64, reason: Cow<'static, str>| {
        if want > 0 && want > alloc - used {
            unresolvable |= want > alloc;
            reasons.push(reason);
        }
    };
    let a = &node.allocatable;
    let u = &node.requested;
    check(r.milli_cpu, a.milli_cpu, u.milli_cpu, "Insufficient cpu".into());
    check(r.memory, a.memory, u.memory, "Insufficient memory".into());
    check(
        r.ephemeral_storage,
        a.ephemeral_storage,
        u.ephemeral_storage,
        "Insufficient ephemeral-storage".into(),
    );
    for (name, want) in &r.scalar {
        check(*want, a.scalar(name), u.scalar(name), format!("Insufficient {name}").into());
    }
    if reasons.is_empty() {
        return None;
    }
    let code = if unresolvable { Code::UnschedulableAndUnresolvable } else { Code::Unschedulable };
    Some(Status { code, reasons, plugin: NAME })
}

impl FilterPlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> Events {
        Events::NODE_ADD.or(Events::NODE_ALLOCATABLE).or(Events::ASSIGNED_POD_DELETE)
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo, _: &CycleState) -> FilterResult {
        match insufficient(pod, node) {
            None => Ok(()),
            Some(status) => Err(status),
        }
    }
}

/// `(allocatable - requested) * 100 / allocatable`, 0 when over-committed.
fn least_requested(requested: i64, allocatable: i64) -> i64 {
    if allocatable == 0 || requested > allocatable {
        return 0;
    }
    (allocatable - requested) * MAX_NODE_SCORE / allocatable
}

impl ScorePlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NAME
    }

    /// LeastAllocated over CPU and memory (weight 1 each), with the non-zero request defaults.
    fn score(&self, pod: &PodInfo, node: &NodeInfo, _: &CycleState) -> i64 {
        let cpu = least_requested(node.non_zero_cpu + pod.non_zero_cpu, node.allocatable.milli_cpu);
        let memory = least_requested(node.non_zero_memory + pod.non_zero_memory, node.allocatable.memory);
        (cpu + memory) / 2
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{framework::Code, plugins::testing::*};

    fn requesting(name: &str, node: Option<&str>, requests: serde_json::Value) -> crate::pod_info::PodRef {
        pod(json!({"metadata": {"name": name}, "spec": {"nodeName": node, "containers": [
            {"name": "c", "resources": {"requests": requests}}]}}))
    }

    fn small_node() -> k8s_openapi::api::core::v1::Node {
        node(json!({"metadata": {"name": "n"}, "status": {"allocatable": {
            "cpu": "1", "memory": "1Gi", "pods": "2", "example.com/gpu": "1"}}}))
    }

    #[test]
    fn insufficient_resources_are_all_named() {
        let c =
            cache(&[small_node()], &[requesting("a", Some("n"), json!({"cpu": "800m", "memory": "512Mi"}))]);
        let p = requesting("p", None, json!({"cpu": "300m", "memory": "600Mi", "example.com/gpu": "2"}));
        let err = run_filter(&NodeResourcesFit, &p, &c, "n").unwrap_err();
        assert_eq!(err.reasons, ["Insufficient cpu", "Insufficient memory", "Insufficient example.com/gpu"]);
        // Two GPUs can never fit a one-GPU node: preemption would not help.
        assert_eq!(err.code, Code::UnschedulableAndUnresolvable);
        let p = requesting("p", None, json!({"cpu": "300m"}));
        let err = run_filter(&NodeResourcesFit, &p, &c, "n").unwrap_err();
        assert_eq!((err.reasons.join(","), err.code), ("Insufficient cpu".into(), Code::Unschedulable));
        assert_eq!(
            outcome(run_filter(&NodeResourcesFit, &requesting("p", None, json!({"cpu": "200m"})), &c, "n")),
            "ok"
        );
    }

    #[test]
    fn too_many_pods() {
        let c = cache(
            &[small_node()],
            &[requesting("a", Some("n"), json!({})), requesting("b", Some("n"), json!({}))],
        );
        assert_eq!(
            outcome(run_filter(&NodeResourcesFit, &requesting("p", None, json!({})), &c, "n")),
            "Too many pods"
        );
    }

    #[test]
    fn least_allocated_prefers_empty_nodes() {
        let c = cache(&[small_node()], &[]);
        let p = requesting("p", None, json!({"cpu": "500m", "memory": "512Mi"}));
        assert_eq!(
            ScorePlugin::score(&NodeResourcesFit, &p, c.node("n").unwrap(), &CycleState::default()),
            50
        );
    }
}
