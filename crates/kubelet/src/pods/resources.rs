//! A pod's requests and limits as CRI's Linux resources, as upstream's kuberuntime turns them
//! into cgroup settings: cpu shares from requests, a CFS quota from limits, the memory limit,
//! `oom_score_adj` by QoS class, and the pod's cgroup under `/kubepods`. Pure functions.

use k8s_openapi::{
    api::core::v1::{Container, Pod, ResourceRequirements},
    apimachinery::pkg::api::resource::Quantity,
};
use tug_scheduler::quantity;

use crate::runtime::proto::LinuxContainerResources;

/// The CFS period the kubelet sets with every quota (100 ms).
pub const QUOTA_PERIOD: i64 = 100_000;
/// The smallest quota the kernel takes (1 ms).
const MIN_QUOTA: i64 = 1_000;
/// The kernel's smallest cpu.shares, and the largest.
const MIN_SHARES: i64 = 2;
const MAX_SHARES: i64 = 262_144;
/// Containers of Guaranteed and critical pods: the OOM killer takes them last.
pub const GUARANTEED_OOM_SCORE_ADJ: i64 = -997;
/// Containers of BestEffort pods: the OOM killer takes them first.
pub const BEST_EFFORT_OOM_SCORE_ADJ: i64 = 1000;
/// `system-cluster-critical` and above are critical pods.
const SYSTEM_CRITICAL_PRIORITY: i32 = 2_000_000_000;

/// A pod's QoS class (`status.qosClass`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qos {
    Guaranteed,
    Burstable,
    BestEffort,
}

/// What the node tells the resource settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeResources {
    /// The machine's memory, which a Burstable container's `oom_score_adj` is relative to.
    pub memory_capacity: i64,
    /// Whether the host runs the unified cgroup hierarchy (cgroup v2).
    pub cgroup_v2: bool,
    /// Whether swap can be limited (cgroup v1's `memory.memsw.*` files exist).
    pub swap_accounting: bool,
}

fn milli(q: &Quantity) -> i64 {
    quantity::milli_value(&q.0).unwrap_or(0).max(0)
}

fn bytes(q: &Quantity) -> i64 {
    quantity::value(&q.0).unwrap_or(0).max(0)
}

fn get<'a>(r: Option<&'a ResourceRequirements>, limits: bool, name: &str) -> Option<&'a Quantity> {
    let list = r.and_then(|r| if limits { r.limits.as_ref() } else { r.requests.as_ref() });
    list.and_then(|l| l.get(name))
}

/// The pod's QoS class: `status.qosClass` as the API server computed it at create, else
/// upstream's rules over the containers' cpu and memory.
pub fn qos(pod: &Pod) -> Qos {
    match pod.status.as_ref().and_then(|s| s.qos_class.as_deref()) {
        Some("Guaranteed") => return Qos::Guaranteed,
        Some("Burstable") => return Qos::Burstable,
        Some("BestEffort") => return Qos::BestEffort,
        _ => {}
    }
    let spec = pod.spec.as_ref();
    let containers = spec.map(|s| s.containers.iter()).into_iter().flatten();
    let init = spec.and_then(|s| s.init_containers.as_ref()).into_iter().flatten();
    let (mut requested, mut limited, mut guaranteed) = (false, false, true);
    for c in containers.chain(init) {
        let r = c.resources.as_ref();
        for name in ["cpu", "memory"] {
            // Requests default to limits (the API server's defaulting), key by key.
            let request = get(r, false, name).or_else(|| get(r, true, name));
            let limit = get(r, true, name);
            let (req, lim) = (request.map_or(0, milli), limit.map_or(0, milli));
            requested |= req > 0;
            limited |= lim > 0;
            if lim == 0 || req != lim {
                guaranteed = false;
            }
        }
    }
    match (requested || limited, guaranteed) {
        (false, _) => Qos::BestEffort,
        (true, true) => Qos::Guaranteed,
        (true, false) => Qos::Burstable,
    }
}

/// The pod's cgroup under the cgroupfs driver, as upstream's QoS hierarchy names it:
/// `/kubepods/pod<uid>` (Guaranteed), `/kubepods/burstable/pod<uid>`,
/// `/kubepods/besteffort/pod<uid>`. runc creates it with the first container.
pub fn cgroup_parent(pod: &Pod) -> String {
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    match qos(pod) {
        Qos::Guaranteed => format!("/kubepods/pod{uid}"),
        Qos::Burstable => format!("/kubepods/burstable/pod{uid}"),
        Qos::BestEffort => format!("/kubepods/besteffort/pod{uid}"),
    }
}

/// cpu.shares for a request in millicores: 1024 per CPU, at least 2.
pub fn milli_cpu_to_shares(milli_cpu: i64) -> i64 {
    if milli_cpu <= 0 {
        return MIN_SHARES;
    }
    (milli_cpu.saturating_mul(1024) / 1000).clamp(MIN_SHARES, MAX_SHARES)
}

/// The CFS quota for a limit in millicores over [`QUOTA_PERIOD`]; 0 is no limit.
pub fn milli_cpu_to_quota(milli_cpu: i64) -> i64 {
    if milli_cpu <= 0 {
        return 0;
    }
    (milli_cpu.saturating_mul(QUOTA_PERIOD) / 1000).max(MIN_QUOTA)
}

fn is_critical(pod: &Pod) -> bool {
    pod.spec.as_ref().and_then(|s| s.priority).is_some_and(|p| p >= SYSTEM_CRITICAL_PRIORITY)
}

/// The container's `oom_score_adj`: -997 for Guaranteed and critical pods, 1000 for
/// BestEffort, and for Burstable `1000 - 1000 * request / capacity` kept within 3..=999, so a
/// Burstable container always goes before a Guaranteed one and after a BestEffort one.
pub fn oom_score_adj(pod: &Pod, container: &Container, memory_capacity: i64) -> i64 {
    if is_critical(pod) {
        return GUARANTEED_OOM_SCORE_ADJ;
    }
    match qos(pod) {
        Qos::Guaranteed => GUARANTEED_OOM_SCORE_ADJ,
        Qos::BestEffort => BEST_EFFORT_OOM_SCORE_ADJ,
        Qos::Burstable => {
            let r = container.resources.as_ref();
            let request = get(r, false, "memory").or_else(|| get(r, true, "memory")).map_or(0, bytes);
            let capacity = memory_capacity.max(1);
            let adj = 1000 - i64::try_from(i128::from(request) * 1000 / i128::from(capacity)).unwrap_or(1000);
            adj.clamp(1000 + GUARANTEED_OOM_SCORE_ADJ, BEST_EFFORT_OOM_SCORE_ADJ - 1)
        }
    }
}

/// cpu and memory settings from a cpu request and limit (millicores) and a memory limit
/// (bytes), as upstream's `calculateLinuxResources`; swap is kept off (upstream's `NoSwap`).
fn linux_resources(
    cpu_request: i64,
    cpu_limit: i64,
    memory_limit: i64,
    node: &NodeResources,
) -> LinuxContainerResources {
    // A container that only limits cpu gets shares from its limit.
    let shares_from = if cpu_request == 0 && cpu_limit > 0 { cpu_limit } else { cpu_request };
    let mut r =
        LinuxContainerResources { cpu_shares: milli_cpu_to_shares(shares_from), ..Default::default() };
    if cpu_limit > 0 {
        r.cpu_period = QUOTA_PERIOD;
        r.cpu_quota = milli_cpu_to_quota(cpu_limit);
    }
    if memory_limit > 0 {
        r.memory_limit_in_bytes = memory_limit;
        if node.cgroup_v2 {
            r.unified.insert("memory.swap.max".into(), "0".into());
        } else if node.swap_accounting {
            r.memory_swap_limit_in_bytes = memory_limit;
        }
    }
    r
}

/// The container's cgroup settings. Hugepages are not managed.
pub fn container_resources(
    pod: &Pod,
    container: &Container,
    node: &NodeResources,
) -> LinuxContainerResources {
    let r = container.resources.as_ref();
    let cpu_request = get(r, false, "cpu").map_or(0, milli);
    let cpu_limit = get(r, true, "cpu").map_or(0, milli);
    let memory_limit = get(r, true, "memory").map_or(0, bytes);
    let mut resources = linux_resources(cpu_request, cpu_limit, memory_limit, node);
    resources.oom_score_adj = oom_score_adj(pod, container, node.memory_capacity);
    resources
}

/// The pod's totals for the sandbox (`LinuxPodSandboxConfig.resources`), which runtimes that
/// size a VM per pod read: per resource, the regular containers' sum or the largest init
/// container's, whichever is larger (upstream's `PodRequests`/`PodLimits`).
pub fn sandbox_resources(pod: &Pod, node: &NodeResources) -> LinuxContainerResources {
    let spec = pod.spec.clone().unwrap_or_default();
    let total = |limits: bool, name: &str, value: fn(&Quantity) -> i64| -> i64 {
        let of = |c: &Container| get(c.resources.as_ref(), limits, name).map_or(0, value);
        let regular = spec.containers.iter().map(of).fold(0i64, i64::saturating_add);
        let init = spec.init_containers.iter().flatten().map(of).max().unwrap_or(0);
        regular.max(init)
    };
    linux_resources(total(false, "cpu", milli), total(true, "cpu", milli), total(true, "memory", bytes), node)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GI: i64 = 1 << 30;

    fn node() -> NodeResources {
        NodeResources { memory_capacity: 8 * GI, cgroup_v2: false, swap_accounting: true }
    }

    fn pod(resources: &[serde_json::Value], qos_class: Option<&str>) -> Pod {
        let containers: Vec<serde_json::Value> = resources
            .iter()
            .enumerate()
            .map(|(i, r)| serde_json::json!({"name": format!("c{i}"), "image": "busybox", "resources": r}))
            .collect();
        let mut pod = serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
            "spec": {"containers": containers},
        });
        if let Some(q) = qos_class {
            pod["status"] = serde_json::json!({"qosClass": q});
        }
        serde_json::from_value(pod).unwrap()
    }

    #[test]
    fn qos_classes_follow_requests_and_limits() {
        let full = serde_json::json!({"limits": {"cpu": "500m", "memory": "64Mi"}});
        let partial = serde_json::json!({"requests": {"cpu": "100m"}});
        assert_eq!(qos(&pod(&[serde_json::json!({})], None)), Qos::BestEffort);
        assert_eq!(qos(&pod(std::slice::from_ref(&full), None)), Qos::Guaranteed);
        assert_eq!(qos(&pod(&[full.clone(), partial.clone()], None)), Qos::Burstable);
        let unequal = serde_json::json!({"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "64Mi"}});
        assert_eq!(qos(&pod(&[unequal], None)), Qos::Burstable);
        assert_eq!(qos(&pod(&[partial], Some("Guaranteed"))), Qos::Guaranteed, "the API's class wins");
        assert_eq!(cgroup_parent(&pod(&[full], None)), "/kubepods/podu1");
        assert_eq!(cgroup_parent(&pod(&[serde_json::json!({})], None)), "/kubepods/besteffort/podu1");
    }

    #[test]
    fn cpu_and_memory_become_shares_quota_and_limit() {
        let p = pod(
            &[
                serde_json::json!({"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "1500m", "memory": "2Gi"}}),
            ],
            None,
        );
        let c = &p.spec.as_ref().unwrap().containers[0];
        let r = container_resources(&p, c, &node());
        assert_eq!((r.cpu_shares, r.cpu_period, r.cpu_quota), (256, 100_000, 150_000));
        assert_eq!(r.memory_limit_in_bytes, 2 * GI);
        assert_eq!(r.memory_swap_limit_in_bytes, 2 * GI, "no swap beyond the limit");
        // 1000 - 1000 * 1Gi / 8Gi
        assert_eq!(r.oom_score_adj, 875);
        let v2 = NodeResources { cgroup_v2: true, ..node() };
        let r = container_resources(&p, c, &v2);
        assert_eq!((r.memory_swap_limit_in_bytes, r.unified["memory.swap.max"].as_str()), (0, "0"));

        assert_eq!(milli_cpu_to_shares(0), 2);
        assert_eq!(milli_cpu_to_shares(1), 2);
        assert_eq!(milli_cpu_to_shares(1000), 1024);
        assert_eq!(milli_cpu_to_quota(5), 1_000, "at least 1 ms");
        let limit_only = pod(&[serde_json::json!({"limits": {"cpu": "2"}})], Some("Burstable"));
        let r = container_resources(&limit_only, &limit_only.spec.as_ref().unwrap().containers[0], &node());
        assert_eq!((r.cpu_shares, r.cpu_quota, r.memory_limit_in_bytes), (2048, 200_000, 0));
    }

    #[test]
    fn oom_score_adj_follows_the_qos_class() {
        let best = pod(&[serde_json::json!({})], None);
        let c = &best.spec.as_ref().unwrap().containers[0];
        assert_eq!(oom_score_adj(&best, c, 8 * GI), 1000);
        let guaranteed = pod(&[serde_json::json!({"limits": {"cpu": "1", "memory": "1Gi"}})], None);
        let c = &guaranteed.spec.as_ref().unwrap().containers[0];
        assert_eq!(oom_score_adj(&guaranteed, c, 8 * GI), -997);
        let huge = pod(&[serde_json::json!({"requests": {"memory": "16Gi"}})], None);
        let c = &huge.spec.as_ref().unwrap().containers[0];
        assert_eq!(oom_score_adj(&huge, c, 8 * GI), 3, "never below a Guaranteed container's");
        let tiny = pod(&[serde_json::json!({"requests": {"cpu": "1m"}})], None);
        let c = &tiny.spec.as_ref().unwrap().containers[0];
        assert_eq!(oom_score_adj(&tiny, c, 8 * GI), 999, "never as high as a BestEffort container's");
        let mut critical = best.clone();
        critical.spec.as_mut().unwrap().priority = Some(2_000_001_000);
        assert_eq!(oom_score_adj(&critical, c, 8 * GI), -997);
    }

    #[test]
    fn the_sandbox_gets_the_pods_totals() {
        let p = pod(
            &[
                serde_json::json!({"requests": {"cpu": "100m"}, "limits": {"cpu": "200m", "memory": "64Mi"}}),
                serde_json::json!({"requests": {"cpu": "300m"}, "limits": {"cpu": "300m", "memory": "64Mi"}}),
            ],
            None,
        );
        let r = sandbox_resources(&p, &node());
        assert_eq!((r.cpu_shares, r.cpu_quota, r.memory_limit_in_bytes), (409, 50_000, 128 << 20));
        let unlimited = pod(&[serde_json::json!({"requests": {"cpu": "1"}}), serde_json::json!({})], None);
        let r = sandbox_resources(&unlimited, &node());
        assert_eq!((r.cpu_shares, r.cpu_quota, r.memory_limit_in_bytes), (1024, 0, 0));
    }
}
