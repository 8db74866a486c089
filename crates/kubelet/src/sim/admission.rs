//! Kubelet admission of a pod bound to a simulated node: whether the node's allocatable, less
//! what the pods it already runs request, still fits the pod (upstream's `canAdmitPod` through
//! the scheduler's `noderesources.Fits`, whose accounting this reuses). A pod that does not
//! fit fails with reason `OutOf<resource>`, as the real kubelet's `rejectPod` writes it.

use std::collections::BTreeMap;

use k8s_openapi::{api::core::v1::Pod, apimachinery::pkg::api::resource::Quantity};
use tug_scheduler::pod_info::{Resources, pod_requests};

/// What a node can hold: its allocatable resources and pod count.
#[derive(Clone, Debug, Default)]
pub struct Allocatable {
    pub resources: Resources,
    pub pods: i64,
}

impl Allocatable {
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Allocatable {
        let (resources, pods) = Resources::from_list(Some(list));
        Allocatable { resources, pods }
    }
}

/// What the admitted, still running pods of a node request.
#[derive(Clone, Debug, Default)]
pub struct Used {
    pub resources: Resources,
    pub pods: i64,
}

impl Used {
    pub fn add(&mut self, requests: &Resources) {
        self.resources.add(requests);
        self.pods += 1;
    }

    pub fn sub(&mut self, requests: &Resources) {
        self.resources.sub(requests);
        self.pods -= 1;
    }
}

/// Why a pod was refused: the first resource short, as upstream reports only the first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub resource: String,
    pub requested: i64,
    pub used: i64,
    pub capacity: i64,
}

impl Rejection {
    /// The pod's `status.reason` and the event's reason: `OutOfcpu`, `OutOfpods`, ...
    pub fn reason(&self) -> String {
        format!("OutOf{}", self.resource)
    }

    /// The event's message; the pod's `status.message` is this after "Pod was rejected: ".
    pub fn message(&self) -> String {
        format!(
            "Node didn't have enough resource: {}, requested: {}, used: {}, capacity: {}",
            self.resource, self.requested, self.used, self.capacity
        )
    }
}

/// The requests a pod holds on its node once admitted.
pub fn requests(pod: &Pod) -> Resources {
    pod_requests(pod).0
}

/// Upstream's order: the pod count, then (unless the pod requests nothing) CPU in millicores,
/// memory and ephemeral storage in bytes, then extended resources the node has.
pub fn admit(requests: &Resources, used: &Used, node: &Allocatable) -> Result<(), Rejection> {
    let short = |resource: &str, requested: i64, used: i64, capacity: i64| Rejection {
        resource: resource.to_string(),
        requested,
        used,
        capacity,
    };
    if used.pods + 1 > node.pods {
        return Err(short("pods", 1, used.pods, node.pods));
    }
    let checks = [
        ("cpu", requests.milli_cpu, used.resources.milli_cpu, node.resources.milli_cpu),
        ("memory", requests.memory, used.resources.memory, node.resources.memory),
        (
            "ephemeral-storage",
            requests.ephemeral_storage,
            used.resources.ephemeral_storage,
            node.resources.ephemeral_storage,
        ),
    ];
    for (name, requested, in_use, capacity) in checks {
        if requested > 0 && capacity < requested + in_use {
            return Err(short(name, requested, in_use, capacity));
        }
    }
    for (name, requested) in &requests.scalar {
        // The kubelet drops extended resources its node does not know before checking.
        let capacity = node.resources.scalar(name);
        let known = node.resources.scalar.iter().any(|(n, _)| n == name);
        let in_use = used.resources.scalar(name);
        if known && *requested > 0 && capacity < requested + in_use {
            return Err(short(name, *requested, in_use, capacity));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn node(cpu: &str, memory: &str, pods: &str) -> Allocatable {
        let list: BTreeMap<String, Quantity> =
            serde_json::from_value(json!({"cpu": cpu, "memory": memory, "pods": pods})).unwrap();
        Allocatable::from_list(&list)
    }

    fn pod(cpu: &str, memory: &str) -> Resources {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}}))
        .unwrap();
        requests(&pod)
    }

    #[test]
    fn pods_fit_until_a_resource_runs_out() {
        let n = node("1", "1Gi", "3");
        let mut used = Used::default();
        assert_eq!(admit(&pod("600m", "100Mi"), &used, &n), Ok(()));
        used.add(&pod("600m", "100Mi"));
        let refused = admit(&pod("500m", "100Mi"), &used, &n).unwrap_err();
        assert_eq!(refused.reason(), "OutOfcpu");
        assert_eq!(
            refused.message(),
            "Node didn't have enough resource: cpu, requested: 500, used: 600, capacity: 1000"
        );
        let refused = admit(&pod("100m", "1000Mi"), &used, &n).unwrap_err();
        assert_eq!((refused.reason(), refused.requested), ("OutOfmemory".to_string(), 1000 << 20));
        used.sub(&pod("600m", "100Mi"));
        assert_eq!(admit(&pod("500m", "100Mi"), &used, &n), Ok(()));
    }

    #[test]
    fn the_pod_count_comes_first() {
        let n = node("1", "1Gi", "1");
        let mut used = Used::default();
        used.add(&Resources::default());
        let refused = admit(&pod("2", "2Gi"), &used, &n).unwrap_err();
        assert_eq!(
            (refused.reason(), refused.message()),
            (
                "OutOfpods".to_string(),
                "Node didn't have enough resource: pods, requested: 1, used: 1, capacity: 1".to_string()
            )
        );
    }
}
