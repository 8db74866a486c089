//! What the scheduler needs to know about a pod, computed once when the pod is seen so that
//! filters and scores read plain fields instead of walking the API object.

use std::{collections::BTreeMap, sync::Arc};

use k8s_openapi::api::core::v1::{Container, Pod, PodAffinityTerm, TopologySpreadConstraint};

use crate::{
    labels::{Labels, NodeSelectorTerms, NodeTerm, Selector},
    matching::PodMatcher,
    quantity,
};

/// Upstream's defaults for containers without a CPU or memory request, used only in scores so
/// that request-less pods do not all pile onto one node.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Amounts of compute resources.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// Extended resources, hugepages, attachable volumes: (name, value).
    pub scalar: Vec<(String, i64)>,
}

impl Resources {
    /// Reads a `ResourceList`; `pods` is returned apart because only nodes have it.
    pub fn from_list(
        list: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
    ) -> (Resources, i64) {
        let mut r = Resources::default();
        let mut pods = 0;
        for (name, q) in list.into_iter().flatten() {
            match name.as_str() {
                "cpu" => r.milli_cpu += quantity::milli_value(&q.0).unwrap_or(0),
                "memory" => r.memory += quantity::value(&q.0).unwrap_or(0),
                "ephemeral-storage" => r.ephemeral_storage += quantity::value(&q.0).unwrap_or(0),
                "pods" => pods += quantity::value(&q.0).unwrap_or(0),
                other if is_scalar_resource(other) => r.add_scalar(other, quantity::value(&q.0).unwrap_or(0)),
                _ => {}
            }
        }
        (r, pods)
    }

    pub fn scalar(&self, name: &str) -> i64 {
        self.scalar.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v)
    }

    pub fn add_scalar(&mut self, name: &str, v: i64) {
        match self.scalar.iter_mut().find(|(n, _)| n == name) {
            Some((_, have)) => *have += v,
            None => self.scalar.push((name.to_string(), v)),
        }
    }

    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        for (n, v) in &other.scalar {
            self.add_scalar(n, *v);
        }
    }

    pub fn sub(&mut self, other: &Resources) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        for (n, v) in &other.scalar {
            self.add_scalar(n, -*v);
        }
    }

    fn max_with(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (n, v) in &other.scalar {
            let have = self.scalar(n);
            if *v > have {
                self.add_scalar(n, *v - have);
            }
        }
    }
}

/// Upstream's `IsScalarResourceName`: extended resources (a domain outside kubernetes.io),
/// prefixed native resources, hugepages and attachable volumes.
pub fn is_scalar_resource(name: &str) -> bool {
    name.contains('/') || name.starts_with("hugepages-") || name.starts_with("attachable-volumes-")
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Toleration {
    pub key: String,
    pub exists: bool,
    pub value: String,
    /// Empty: every effect.
    pub effect: String,
}

impl Toleration {
    /// Upstream's `ToleratesTaint`.
    pub fn tolerates(&self, key: &str, value: &str, effect: &str) -> bool {
        if !self.effect.is_empty() && self.effect != effect {
            return false;
        }
        if !self.key.is_empty() && self.key != key {
            return false;
        }
        // An empty key with Exists tolerates every taint.
        if self.exists { true } else { self.value == value }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub ip: String,
    pub protocol: String,
    pub port: i32,
}

impl HostPort {
    /// Upstream's `CheckConflict`: the wildcard address conflicts with every address.
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// One pod (anti-)affinity term, with the namespaces it looks in resolved.
#[derive(Clone, Debug)]
pub struct AffinityTerm {
    /// The pods the term selects.
    pub pods: PodMatcher,
    pub topology_key: String,
}

impl AffinityTerm {
    fn from_api(pod_namespace: &str, pod_labels: &Labels, t: &PodAffinityTerm) -> AffinityTerm {
        let mut namespaces = t.namespaces.clone().unwrap_or_default();
        if namespaces.is_empty() && t.namespace_selector.is_none() {
            namespaces.push(pod_namespace.to_string());
        }
        let namespace_selector = match &t.namespace_selector {
            Some(s) => Selector::from_api(Some(s)),
            None => Selector::nothing(),
        };
        let selector = Selector::from_api(t.label_selector.as_ref())
            .with_label_keys(t.match_label_keys.as_deref().unwrap_or_default(), pod_labels);
        AffinityTerm {
            pods: PodMatcher { namespaces, namespace_selector, selector, skip_terminating: false },
            topology_key: t.topology_key.clone(),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct PodAffinity {
    pub required: Vec<AffinityTerm>,
    pub required_anti: Vec<AffinityTerm>,
    pub preferred: Vec<(i64, AffinityTerm)>,
    pub preferred_anti: Vec<(i64, AffinityTerm)>,
}

impl PodAffinity {
    /// Whether the terms weigh in the scores of other pods (all but required anti-affinity).
    pub fn scores_others(&self) -> bool {
        !self.required.is_empty() || !self.preferred.is_empty() || !self.preferred_anti.is_empty()
    }

    pub fn is_empty(&self) -> bool {
        self.required.is_empty()
            && self.required_anti.is_empty()
            && self.preferred.is_empty()
            && self.preferred_anti.is_empty()
    }
}

#[derive(Clone, Debug)]
pub struct SpreadConstraint {
    pub max_skew: i64,
    pub topology_key: String,
    /// `DoNotSchedule` (a filter) rather than `ScheduleAnyway` (a score).
    pub hard: bool,
    pub selector: Selector,
    /// The pods the constraint counts: the pod's namespace, `selector`, not terminating.
    pub pods: PodMatcher,
    pub min_domains: i64,
    /// `nodeAffinityPolicy: Honor` (the default): only nodes matching the pod's node
    /// affinity and selector count.
    pub honor_node_affinity: bool,
    /// `nodeTaintsPolicy: Honor`: only nodes whose taints the pod tolerates count.
    pub honor_node_taints: bool,
}

fn spread_selector(c: &TopologySpreadConstraint, labels: &Labels) -> Selector {
    Selector::from_api(c.label_selector.as_ref())
        .with_label_keys(c.match_label_keys.as_deref().unwrap_or_default(), labels)
}

/// A pod as the scheduler sees it.
#[derive(Debug)]
pub struct PodInfo {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    pub priority: i32,
    pub preemption_never: bool,
    /// `spec.nodeName`, set once bound.
    pub node_name: Option<String>,
    pub scheduler_name: String,
    /// Upstream's `computePodResourceRequest` (init containers, sidecars, overhead, pod-level
    /// resources).
    pub requests: Resources,
    /// The same with upstream's defaults for containers without CPU or memory requests.
    pub non_zero_cpu: i64,
    pub non_zero_memory: i64,
    pub node_selector: Vec<(String, String)>,
    pub required_node_affinity: Option<NodeSelectorTerms>,
    pub preferred_node_affinity: Vec<(i64, Option<NodeTerm>)>,
    pub tolerations: Vec<Toleration>,
    pub host_ports: Vec<HostPort>,
    pub affinity: PodAffinity,
    pub spread: Vec<SpreadConstraint>,
    /// Container images, `:latest` added where no tag or digest is given.
    pub images: Vec<String>,
    pub terminating: bool,
    /// `status.startTime` in nanoseconds since the epoch; preemption spares older pods first.
    pub start_time: Option<i128>,
    /// `status.nominatedNodeName`: where preemption made room for this pod.
    pub nominated_node: Option<String>,
}

impl PodInfo {
    pub fn new(pod: &Pod) -> PodInfo {
        let meta = &pod.metadata;
        let spec = pod.spec.clone().unwrap_or_default();
        let labels = meta.labels.clone().unwrap_or_default();
        let namespace = meta.namespace.clone().unwrap_or_default();
        let (requests, non_zero) = pod_requests(pod);
        let affinity = spec.affinity.as_ref();
        let node_affinity = affinity.and_then(|a| a.node_affinity.as_ref());
        let pod_affinity = affinity.and_then(|a| a.pod_affinity.as_ref());
        let pod_anti = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let term = |t: &PodAffinityTerm| AffinityTerm::from_api(&namespace, &labels, t);
        let pa = PodAffinity {
            required: pod_affinity
                .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())
                .map(|ts| ts.iter().map(term).collect())
                .unwrap_or_default(),
            required_anti: pod_anti
                .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())
                .map(|ts| ts.iter().map(term).collect())
                .unwrap_or_default(),
            preferred: pod_affinity
                .and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref())
                .map(|ts| ts.iter().map(|w| (w.weight as i64, term(&w.pod_affinity_term))).collect())
                .unwrap_or_default(),
            preferred_anti: pod_anti
                .and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref())
                .map(|ts| ts.iter().map(|w| (w.weight as i64, term(&w.pod_affinity_term))).collect())
                .unwrap_or_default(),
        };
        let spread = spec
            .topology_spread_constraints
            .iter()
            .flatten()
            .map(|c| SpreadConstraint {
                max_skew: c.max_skew as i64,
                topology_key: c.topology_key.clone(),
                hard: c.when_unsatisfiable != "ScheduleAnyway",
                selector: spread_selector(c, &labels),
                pods: PodMatcher {
                    namespaces: vec![namespace.clone()],
                    namespace_selector: Selector::nothing(),
                    selector: spread_selector(c, &labels),
                    skip_terminating: true,
                },
                min_domains: c.min_domains.unwrap_or(1).max(1) as i64,
                honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                honor_node_taints: c.node_taints_policy.as_deref() == Some("Honor"),
            })
            .collect();
        let mut host_ports = Vec::new();
        let mut images = Vec::new();
        for c in spec.containers.iter().chain(spec.init_containers.iter().flatten()) {
            for p in c.ports.iter().flatten() {
                if let Some(host_port) = p.host_port.filter(|hp| *hp > 0) {
                    host_ports.push(HostPort {
                        ip: p.host_ip.clone().filter(|ip| !ip.is_empty()).unwrap_or_else(|| "0.0.0.0".into()),
                        protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        port: host_port,
                    });
                }
            }
        }
        for c in &spec.containers {
            if let Some(image) = &c.image {
                images.push(normalized_image_name(image));
            }
        }
        PodInfo {
            uid: meta.uid.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            namespace,
            priority: spec.priority.unwrap_or(0),
            start_time: pod.status.as_ref().and_then(|s| s.start_time.as_ref()).map(|t| t.0.as_nanosecond()),
            preemption_never: spec.preemption_policy.as_deref() == Some("Never"),
            node_name: spec.node_name.clone().filter(|n| !n.is_empty()),
            scheduler_name: spec.scheduler_name.clone().unwrap_or_else(|| "default-scheduler".into()),
            requests,
            non_zero_cpu: non_zero.milli_cpu,
            non_zero_memory: non_zero.memory,
            node_selector: spec.node_selector.clone().unwrap_or_default().into_iter().collect(),
            required_node_affinity: node_affinity
                .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())
                .map(NodeSelectorTerms::from_api),
            preferred_node_affinity: node_affinity
                .and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref())
                .map(|ts| ts.iter().map(|t| (t.weight as i64, NodeTerm::from_api(&t.preference))).collect())
                .unwrap_or_default(),
            tolerations: spec
                .tolerations
                .iter()
                .flatten()
                .map(|t| Toleration {
                    key: t.key.clone().unwrap_or_default(),
                    exists: t.operator.as_deref() == Some("Exists"),
                    value: t.value.clone().unwrap_or_default(),
                    effect: t.effect.clone().unwrap_or_default(),
                })
                .collect(),
            host_ports,
            affinity: pa,
            spread,
            images,
            labels,
            terminating: meta.deletion_timestamp.is_some(),
            nominated_node: pod
                .status
                .as_ref()
                .and_then(|s| s.nominated_node_name.clone())
                .filter(|n| !n.is_empty()),
        }
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

pub type PodRef = Arc<PodInfo>;

/// Upstream's `normalizedImageName`: an image without a tag or digest is `:latest`.
pub fn normalized_image_name(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || last.contains('@') { name.to_string() } else { format!("{name}:latest") }
}

fn container_requests(c: &Container, non_zero: bool) -> Resources {
    let list = c.resources.as_ref().and_then(|r| r.requests.as_ref());
    let (mut r, _) = Resources::from_list(list);
    if non_zero {
        if !list.is_some_and(|l| l.contains_key("cpu")) {
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
        }
        if !list.is_some_and(|l| l.contains_key("memory")) {
            r.memory = DEFAULT_MEMORY_REQUEST;
        }
    }
    r
}

/// Upstream's `PodRequests`: the containers' sum, or the largest init step if larger (an
/// init container runs beside the sidecars started before it); pod-level requests override
/// the containers' for CPU and memory; the overhead comes on top. Returns the requests and
/// their non-zero variant.
pub fn pod_requests(pod: &Pod) -> (Resources, Resources) {
    let spec = pod.spec.clone().unwrap_or_default();
    let compute = |non_zero: bool| {
        let mut reqs = Resources::default();
        for c in &spec.containers {
            reqs.add(&container_requests(c, non_zero));
        }
        let mut sidecars = Resources::default();
        let mut init_max = Resources::default();
        for c in spec.init_containers.iter().flatten() {
            let r = container_requests(c, non_zero);
            if c.restart_policy.as_deref() == Some("Always") {
                reqs.add(&r);
                sidecars.add(&r);
                init_max.max_with(&sidecars);
            } else {
                let mut step = r;
                step.add(&sidecars);
                init_max.max_with(&step);
            }
        }
        reqs.max_with(&init_max);
        if let Some(pod_level) = spec.resources.as_ref().and_then(|r| r.requests.as_ref()) {
            let (p, _) = Resources::from_list(Some(pod_level));
            if pod_level.contains_key("cpu") {
                reqs.milli_cpu = p.milli_cpu;
            }
            if pod_level.contains_key("memory") {
                reqs.memory = p.memory;
            }
        }
        let (overhead, _) = Resources::from_list(spec.overhead.as_ref());
        reqs.add(&overhead);
        reqs
    };
    (compute(false), compute(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn init_containers_take_the_max_and_sidecars_add_up() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {
                "containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}}},
                    {"name": "b", "resources": {"requests": {"cpu": "200m"}}}
                ],
                "initContainers": [
                    {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"cpu": "50m"}}},
                    {"name": "init", "resources": {"requests": {"cpu": "1", "memory": "50Mi"}}}
                ],
                "overhead": {"cpu": "10m"}
            }
        }));
        let (r, nz) = pod_requests(&p);
        // max(100+200+50, 1000+50) + 10
        assert_eq!(r.milli_cpu, 1060);
        assert_eq!(r.memory, 100 << 20);
        // Container b and the sidecar get the 200 MiB default memory in the non-zero variant.
        assert_eq!(nz.memory, (100 << 20) + 2 * DEFAULT_MEMORY_REQUEST);
    }

    #[test]
    fn pod_without_requests_has_default_non_zero() {
        let info = PodInfo::new(&pod(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u"},
            "spec": {"containers": [{"name": "a", "image": "nginx"}]}
        })));
        assert_eq!(info.requests, Resources::default());
        assert_eq!((info.non_zero_cpu, info.non_zero_memory), (100, 200 << 20));
        assert_eq!(info.images, ["nginx:latest"]);
        assert_eq!(info.scheduler_name, "default-scheduler");
    }
}
