//! The scheduler's view of the cluster: per node its allocatable resources, the sums its pods
//! request, its pods, used host ports and images. Kept up to date incrementally from the
//! watches; pods the scheduler has assumed onto a node count before their binding is seen.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

use k8s_openapi::api::core::v1::Node;

use crate::{
    labels::Labels,
    matching::{Counts, MatchIndex, PodMatcher, bump},
    namespaces::Namespaces,
    pod_info::{HostPort, PodInfo, PodRef, Resources},
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: String,
}

/// One node and what is placed on it.
#[derive(Clone, Debug, Default)]
pub struct NodeInfo {
    pub name: String,
    /// False while pods name a node whose object is not (or no longer) known.
    pub exists: bool,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub allocatable: Resources,
    pub allowed_pods: i64,
    pub requested: Resources,
    pub non_zero_cpu: i64,
    pub non_zero_memory: i64,
    pub pods: Vec<PodRef>,
    /// The pods with pod affinity or anti-affinity terms, for the inter-pod affinity plugin.
    pub pods_with_affinity: Vec<PodRef>,
    pub used_ports: Vec<HostPort>,
    /// Image name → size in bytes.
    pub images: HashMap<String, i64>,
}

impl NodeInfo {
    fn new(name: &str) -> NodeInfo {
        NodeInfo { name: name.to_string(), ..NodeInfo::default() }
    }

    fn set_node(&mut self, node: &Node) {
        let status = node.status.as_ref();
        let spec = node.spec.as_ref();
        self.exists = true;
        self.labels = node.metadata.labels.clone().unwrap_or_default();
        self.taints = spec
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
            .map(|t| Taint {
                key: t.key.clone(),
                value: t.value.clone().unwrap_or_default(),
                effect: t.effect.clone(),
            })
            .collect();
        self.unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
        let (alloc, pods) = Resources::from_list(status.and_then(|s| s.allocatable.as_ref()));
        self.allocatable = alloc;
        self.allowed_pods = pods;
        self.images.clear();
        for image in status.and_then(|s| s.images.as_ref()).into_iter().flatten() {
            for name in image.names.iter().flatten() {
                self.images.insert(name.clone(), image.size_bytes.unwrap_or(0));
            }
        }
    }

    pub fn add_pod(&mut self, pod: PodRef) {
        self.requested.add(&pod.requests);
        self.non_zero_cpu += pod.non_zero_cpu;
        self.non_zero_memory += pod.non_zero_memory;
        self.used_ports.extend(pod.host_ports.iter().cloned());
        if !pod.affinity.is_empty() {
            self.pods_with_affinity.push(pod.clone());
        }
        self.pods.push(pod);
    }

    pub fn remove_pod(&mut self, uid: &str) -> Option<PodRef> {
        let at = self.pods.iter().position(|p| p.uid == uid)?;
        let pod = self.pods.swap_remove(at);
        self.pods_with_affinity.retain(|p| p.uid != uid);
        self.requested.sub(&pod.requests);
        self.non_zero_cpu -= pod.non_zero_cpu;
        self.non_zero_memory -= pod.non_zero_memory;
        for port in &pod.host_ports {
            if let Some(i) = self.used_ports.iter().position(|p| p == port) {
                self.used_ports.swap_remove(i);
            }
        }
        Some(pod)
    }
}

/// What changed in a node update, as far as scheduling cares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeChange {
    pub added: bool,
    pub labels: bool,
    pub taints: bool,
    pub allocatable: bool,
    pub schedulable: bool,
}

impl NodeChange {
    pub fn any(&self) -> bool {
        self.added || self.labels || self.taints || self.allocatable || self.schedulable
    }
}

struct PlacedPod {
    node: String,
    assumed: bool,
}

/// All nodes and the pods placed on them.
#[derive(Default)]
pub struct Cache {
    nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    pods: HashMap<String, PlacedPod>,
    /// Image name → how many nodes have it (image locality scales by spread).
    image_nodes: HashMap<String, usize>,
    existing_nodes: usize,
    /// Placed pods with pod (anti-)affinity terms: when there are none, the inter-pod
    /// affinity plugin has nothing to look at for pods without terms of their own.
    affinity_pods: usize,
    /// Node name → how many of its pods have terms that weigh in other pods' scores: the
    /// nodes whose pods' terms pre-score checks against an incoming pod (upstream's
    /// `HavePodsWithAffinityNodeInfoList`, less the pods with only required anti-affinity).
    score_affinity_nodes: HashMap<String, usize>,
    /// Placed pods' required anti-affinity terms, alike ones together (upstream walks
    /// `HavePodsWithRequiredAntiAffinityNodeInfoList` instead): pods selected → topology key
    /// → per value of the key (existing nodes) how many pods have the term. A Deployment with
    /// anti-affinity is one entry however many replicas it has.
    anti_terms: HashMap<PodMatcher, HashMap<String, Arc<Counts>>>,
    /// Matching pods per node for the selectors the plugins ask about. Behind a lock because
    /// plugins see the cache shared and the counts are built the first time they are asked
    /// for; only the scheduling loop ever takes it.
    matches: Mutex<MatchIndex>,
    /// Label key → value → how many existing nodes have it: the domains of a topology key.
    label_domains: HashMap<String, HashMap<String, usize>>,
    /// Every namespace's labels, for affinity terms' namespace selectors.
    namespaces: Namespaces,
}

fn count_key(map: &mut HashMap<String, usize>, node: &str, delta: i64) {
    if delta > 0 {
        *map.entry(node.to_string()).or_insert(0) += 1;
    } else if let Some(n) = map.get_mut(node) {
        *n -= 1;
        if *n == 0 {
            map.remove(node);
        }
    }
}

fn count_anti_terms(
    terms: &mut HashMap<PodMatcher, HashMap<String, Arc<Counts>>>,
    pod: &PodInfo,
    node: &NodeInfo,
    delta: i64,
) {
    if !node.exists {
        return;
    }
    for term in &pod.affinity.required_anti {
        let Some(value) = node.labels.get(&term.topology_key) else { continue };
        if !terms.contains_key(&term.pods) {
            terms.insert(term.pods.clone(), HashMap::new());
        }
        let Some(by_key) = terms.get_mut(&term.pods) else { continue };
        if !by_key.contains_key(&term.topology_key) {
            by_key.insert(term.topology_key.clone(), Arc::default());
        }
        let Some(counts) = by_key.get_mut(&term.topology_key) else { continue };
        bump(counts, value, delta);
        if counts.is_empty() {
            by_key.remove(&term.topology_key);
            if by_key.is_empty() {
                terms.remove(&term.pods);
            }
        }
    }
}

impl Cache {
    pub fn new() -> Cache {
        Cache::default()
    }

    /// Every node slot, including placeholders for unknown nodes (`exists == false`).
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// How many nodes exist (the `N` of "0/N nodes are available").
    pub fn num_nodes(&self) -> usize {
        self.existing_nodes
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|i| &self.nodes[*i])
    }

    pub fn namespaces(&self) -> &Namespaces {
        &self.namespaces
    }

    pub fn namespaces_mut(&mut self) -> &mut Namespaces {
        &mut self.namespaces
    }

    pub fn has_affinity_pods(&self) -> bool {
        self.affinity_pods > 0
    }

    /// The nodes with pods whose terms weigh in other pods' scores.
    pub fn nodes_with_score_affinity_pods(&self) -> impl Iterator<Item = &NodeInfo> {
        self.score_affinity_nodes.keys().filter_map(|n| self.node(n))
    }

    /// Placed pods' required anti-affinity terms: (pods selected, topology key, number of
    /// pods with the term per value of the key).
    pub fn required_anti_affinity_terms(&self) -> impl Iterator<Item = (&PodMatcher, &String, &Arc<Counts>)> {
        self.anti_terms.iter().flat_map(|(m, by_key)| by_key.iter().map(move |(k, c)| (m, k, c)))
    }

    fn match_index(&self) -> MutexGuard<'_, MatchIndex> {
        // The index holds only counts it keeps consistent itself; a panic elsewhere cannot
        // have left it half-updated in a way that matters more than failing here would.
        self.matches.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// For each key (matchers that must all match, and `None` or a topology key), the number
    /// of placed pods (assumed ones too) that match it per node name (all node slots), or per
    /// value of the topology key (nodes that exist and have the key). Empty buckets are absent.
    pub fn matching_pods(&self, keys: &[(&[PodMatcher], Option<&str>)]) -> Vec<Arc<Counts>> {
        self.match_index().lookup(keys, |visit| {
            for node in &self.nodes {
                for pod in &node.pods {
                    visit(pod, node);
                }
            }
        })
    }

    /// The values of a node label over existing nodes (the topology domains of that key).
    pub fn label_values(&self, key: &str) -> impl Iterator<Item = &String> {
        self.label_domains.get(key).into_iter().flat_map(|values| values.keys())
    }

    fn count_labels(&mut self, labels: &Labels, delta: i64) {
        for (k, v) in labels {
            let values = self.label_domains.entry(k.clone()).or_default();
            count_key(values, v, delta);
            if values.is_empty() {
                self.label_domains.remove(k);
            }
        }
    }

    /// How many selectors are being counted (for tests of the bound).
    pub fn matching_entries(&self) -> usize {
        self.match_index().len()
    }

    /// Keeps the per-pod indexes in step with a pod placed on (`delta` 1) or taken off
    /// (`delta` -1) node slot `i`.
    fn index_pod(&mut self, pod: &PodInfo, i: usize, delta: i64) {
        let node = &self.nodes[i];
        if !pod.affinity.is_empty() {
            self.affinity_pods = self.affinity_pods.saturating_add_signed(delta as isize);
        }
        if pod.affinity.scores_others() {
            count_key(&mut self.score_affinity_nodes, &node.name, delta);
        }
        count_anti_terms(&mut self.anti_terms, pod, node, delta);
        self.matches.get_mut().unwrap_or_else(|e| e.into_inner()).pod_changed(pod, node, delta);
    }

    pub fn image_num_nodes(&self, image: &str) -> usize {
        self.image_nodes.get(image).copied().unwrap_or(0)
    }

    fn nodes_changed(&mut self) {
        self.matches.get_mut().unwrap_or_else(|e| e.into_inner()).nodes_changed();
        self.anti_terms.clear();
        for node in &self.nodes {
            for pod in &node.pods_with_affinity {
                count_anti_terms(&mut self.anti_terms, pod, node, 1);
            }
        }
    }

    fn slot(&mut self, name: &str) -> &mut NodeInfo {
        let i = match self.index.get(name) {
            Some(i) => *i,
            None => {
                self.nodes.push(NodeInfo::new(name));
                self.index.insert(name.to_string(), self.nodes.len() - 1);
                self.nodes.len() - 1
            }
        };
        &mut self.nodes[i]
    }

    fn count_images(&mut self, i: usize, delta: isize) {
        for name in self.nodes[i].images.keys() {
            let n = self.image_nodes.entry(name.clone()).or_insert(0);
            *n = n.saturating_add_signed(delta);
        }
    }

    pub fn upsert_node(&mut self, node: &Node) -> NodeChange {
        let name = node.metadata.name.clone().unwrap_or_default();
        let slot = self.slot(&name);
        let before = (
            slot.exists,
            slot.labels.clone(),
            slot.taints.clone(),
            slot.allocatable.clone(),
            slot.allowed_pods,
            slot.unschedulable,
        );
        let i = self.index[&name];
        self.count_images(i, -1);
        self.nodes[i].set_node(node);
        self.count_images(i, 1);
        let n = &self.nodes[i];
        if !before.0 {
            self.existing_nodes += 1;
        }
        let (labels_changed, has_pods) = (before.1 != n.labels, !n.pods.is_empty());
        if !before.0 || labels_changed {
            let labels = n.labels.clone();
            if before.0 {
                self.count_labels(&before.1, -1);
            }
            self.count_labels(&labels, 1);
            if labels_changed || has_pods {
                self.nodes_changed();
            }
        }
        let n = &self.nodes[i];
        NodeChange {
            added: !before.0,
            labels: before.1 != n.labels,
            taints: before.2 != n.taints,
            allocatable: before.3 != n.allocatable || before.4 != n.allowed_pods,
            schedulable: before.5 != n.unschedulable,
        }
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(&i) = self.index.get(name) else { return };
        let existed = self.nodes[i].exists;
        if existed {
            self.existing_nodes -= 1;
            let labels = self.nodes[i].labels.clone();
            self.count_labels(&labels, -1);
        }
        self.count_images(i, -1);
        if self.nodes[i].pods.is_empty() {
            self.drop_slot(i);
        } else {
            // Kept as a placeholder until its pods are gone, as upstream's cache does.
            let n = &mut self.nodes[i];
            n.exists = false;
            n.images.clear();
            if existed {
                // Its pods no longer count per topology domain.
                self.nodes_changed();
            }
        }
    }

    fn drop_slot(&mut self, i: usize) {
        let removed = self.nodes.swap_remove(i);
        self.index.remove(&removed.name);
        if let Some(moved) = self.nodes.get(i) {
            self.index.insert(moved.name.clone(), i);
        }
    }

    /// Replaces the nodes with `nodes` (after a relist).
    pub fn replace_nodes(&mut self, nodes: &[Node]) {
        let keep: std::collections::HashSet<&str> =
            nodes.iter().filter_map(|n| n.metadata.name.as_deref()).collect();
        let gone: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.exists && !keep.contains(n.name.as_str()))
            .map(|n| n.name.clone())
            .collect();
        for name in gone {
            self.remove_node(&name);
        }
        for n in nodes {
            self.upsert_node(n);
        }
    }

    pub fn is_placed(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    pub fn is_assumed(&self, uid: &str) -> bool {
        self.pods.get(uid).is_some_and(|p| p.assumed)
    }

    /// Places a pod the API says is bound (replacing an assumed or older copy).
    pub fn add_bound_pod(&mut self, pod: PodRef) {
        let Some(node) = pod.node_name.clone() else { return };
        self.remove_pod(&pod.uid);
        self.pods.insert(pod.uid.clone(), PlacedPod { node: node.clone(), assumed: false });
        self.place(pod, &node);
    }

    /// Places a pod the scheduler chose a node for, before the binding is confirmed.
    pub fn assume(&mut self, pod: PodRef, node: &str) {
        self.remove_pod(&pod.uid);
        self.pods.insert(pod.uid.clone(), PlacedPod { node: node.to_string(), assumed: true });
        self.place(pod, node);
    }

    fn place(&mut self, pod: PodRef, node: &str) {
        self.slot(node).add_pod(pod.clone());
        let i = self.index[node];
        self.index_pod(&pod, i, 1);
    }

    /// Takes an assumed pod off its node again (its binding failed).
    pub fn forget(&mut self, uid: &str) {
        if self.is_assumed(uid) {
            self.remove_pod(uid);
        }
    }

    pub fn remove_pod(&mut self, uid: &str) -> Option<PodRef> {
        let placed = self.pods.remove(uid)?;
        let &i = self.index.get(&placed.node)?;
        let pod = self.nodes[i].remove_pod(uid);
        if let Some(p) = &pod {
            self.index_pod(p, i, -1);
        }
        if !self.nodes[i].exists && self.nodes[i].pods.is_empty() {
            self.drop_slot(i);
        }
        pod
    }

    /// The uids of the pods the API says are bound.
    pub fn bound_uids(&self) -> Vec<String> {
        self.pods.iter().filter(|(_, p)| !p.assumed).map(|(uid, _)| uid.clone()).collect()
    }

    /// Whether the placed copy of this pod has other labels (affinity and spreading care).
    pub fn pod_labels_differ(&self, pod: &PodInfo) -> bool {
        let Some(placed) = self.pods.get(&pod.uid) else { return false };
        let Some(node) = self.node(&placed.node) else { return false };
        node.pods.iter().find(|p| p.uid == pod.uid).is_some_and(|p| p.labels != pod.labels)
    }

    /// Drops every bound (not assumed) pod, before a relist re-adds them.
    pub fn clear_bound_pods(&mut self) {
        let bound: Vec<String> =
            self.pods.iter().filter(|(_, p)| !p.assumed).map(|(uid, _)| uid.clone()).collect();
        for uid in bound {
            self.remove_pod(&uid);
        }
    }
}

#[cfg(test)]
pub mod tests {
    use std::sync::Arc;

    use super::*;

    pub fn node(json: serde_json::Value) -> Node {
        serde_json::from_value(json).unwrap()
    }

    pub fn simple_node(name: &str, cpu: &str, memory: &str, pods: &str) -> Node {
        node(serde_json::json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods}}
        }))
    }

    pub fn pod(json: serde_json::Value) -> PodRef {
        Arc::new(PodInfo::new(&serde_json::from_value(json).unwrap()))
    }

    pub fn pod_on(uid: &str, node: &str, cpu: &str) -> PodRef {
        pod(serde_json::json!({
            "metadata": {"name": uid, "namespace": "default", "uid": uid},
            "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}
        }))
    }

    #[test]
    fn pods_add_and_remove_their_requests() {
        let mut c = Cache::new();
        assert!(c.upsert_node(&simple_node("n1", "4", "32Gi", "110")).added);
        c.add_bound_pod(pod_on("a", "n1", "500m"));
        c.assume(pod_on("b", "n1", "250m"), "n1");
        let n = c.node("n1").unwrap();
        assert_eq!((n.requested.milli_cpu, n.pods.len()), (750, 2));
        assert!(c.is_assumed("b"));
        c.forget("b");
        c.remove_pod("a");
        let n = c.node("n1").unwrap();
        assert_eq!((n.requested.milli_cpu, n.pods.len()), (0, 0));
    }

    #[test]
    fn a_removed_node_stays_as_placeholder_while_pods_remain() {
        let mut c = Cache::new();
        c.upsert_node(&simple_node("n1", "4", "32Gi", "110"));
        c.upsert_node(&simple_node("n2", "4", "32Gi", "110"));
        c.add_bound_pod(pod_on("a", "n1", "1"));
        c.remove_node("n1");
        assert_eq!(c.num_nodes(), 1);
        assert!(!c.node("n1").unwrap().exists);
        c.remove_pod("a");
        assert!(c.node("n1").is_none());
        assert_eq!(c.node("n2").unwrap().name, "n2");
    }

    #[test]
    fn node_changes_are_classified() {
        let mut c = Cache::new();
        c.upsert_node(&simple_node("n1", "4", "32Gi", "110"));
        let mut n = simple_node("n1", "4", "32Gi", "110");
        n.metadata.labels.as_mut().unwrap().insert("disk".into(), "ssd".into());
        let change = c.upsert_node(&n);
        assert!(change.labels && !change.added && !change.allocatable);
        assert!(!c.upsert_node(&n).any());
    }

    fn matcher(namespaces: &[&str], ns_selector: Option<&str>, app: &[&str], skip: bool) -> PodMatcher {
        let label_selector =
            |json| crate::labels::Selector::from_api(Some(&serde_json::from_value(json).unwrap()));
        PodMatcher {
            namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
            namespace_selector: match ns_selector {
                Some(ns) => {
                    label_selector(serde_json::json!({"matchLabels": {"kubernetes.io/metadata.name": ns}}))
                }
                None => crate::labels::Selector::nothing(),
            },
            selector: label_selector(serde_json::json!({"matchExpressions": [
                {"key": "app", "operator": "In", "values": app}]})),
            skip_terminating: skip,
        }
    }

    /// The counts as a walk over every placed pod gives them, to check the index against.
    fn walked(c: &Cache, key: &[PodMatcher], by: Option<&str>) -> HashMap<String, i64> {
        let mut counts = HashMap::new();
        for node in c.nodes() {
            let bucket = match by {
                None => Some(&node.name),
                Some(k) if node.exists => node.labels.get(k),
                Some(_) => None,
            };
            let Some(bucket) = bucket else { continue };
            let n = node.pods.iter().filter(|p| key.iter().all(|m| m.matches(p))).count() as i64;
            if n > 0 {
                *counts.entry(bucket.clone()).or_insert(0) += n;
            }
        }
        counts
    }

    fn zone_node(name: &str, zone: &str) -> Node {
        let mut n = simple_node(name, "4", "32Gi", "110");
        n.metadata.labels.as_mut().unwrap().insert("zone".into(), zone.into());
        n
    }

    fn random_pod(rng: &mut fastrand::Rng, uid: &str, node: &str) -> PodRef {
        let ns = ["a", "b", "c"][rng.usize(..3)];
        let app = ["web", "db", "cache"][rng.usize(..3)];
        let deletion = rng.bool().then_some("2026-01-01T00:00:00Z");
        let term = |key: &str, app: &str| serde_json::json!({"topologyKey": key, "labelSelector": {"matchLabels": {"app": app}}});
        let anti: Vec<serde_json::Value> = (0..rng.usize(..3))
            .map(|_| term(["zone", "kubernetes.io/hostname"][rng.usize(..2)], ["web", "db"][rng.usize(..2)]))
            .collect();
        pod(serde_json::json!({
            "metadata": {"name": uid, "namespace": ns, "uid": uid, "labels": {"app": app},
                "deletionTimestamp": deletion},
            "spec": {"nodeName": node, "containers": [], "affinity": {"podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": anti}}}
        }))
    }

    #[test]
    fn incremental_counts_equal_a_full_walk_after_random_changes() {
        let keys: Vec<Vec<PodMatcher>> = vec![
            vec![matcher(&["a"], None, &["web"], false)],
            vec![matcher(&["a"], None, &["web"], true)],
            vec![matcher(&["a", "b"], None, &["web", "db"], false)],
            vec![matcher(&[], Some("c"), &["db"], true)],
            vec![matcher(&["b"], Some("c"), &["cache", "web"], false)],
            vec![
                matcher(&["a", "b", "c"], None, &["web", "db"], false),
                matcher(&["b"], None, &["db"], false),
            ],
        ];
        let bys = [None, Some("zone"), Some("kubernetes.io/hostname")];
        for seed in 0..20 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut c = Cache::new();
            let nodes: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
            for n in &nodes {
                c.upsert_node(&zone_node(n, "z1"));
            }
            for step in 0..400 {
                let uid = format!("p{}", rng.usize(..60));
                let node = &nodes[rng.usize(..nodes.len())];
                match rng.usize(..12) {
                    0..=3 => c.add_bound_pod(random_pod(&mut rng, &uid, node)),
                    4..=5 => c.assume(random_pod(&mut rng, &uid, node), node),
                    6 => c.forget(&uid),
                    7..=8 => {
                        c.remove_pod(&uid);
                    }
                    9 => {
                        // A node moves to another zone.
                        c.upsert_node(&zone_node(node, ["z1", "z2", "z3"][rng.usize(..3)]));
                    }
                    _ => {
                        // A node goes (its pods stay on a placeholder) and may come back.
                        c.remove_node(node);
                        if rng.bool() {
                            c.upsert_node(&zone_node(node, ["z1", "z2"][rng.usize(..2)]));
                        }
                    }
                }
                // Keys join at different times, so some are built late and some maintained long.
                let asked = (step / 40 + 1).min(keys.len());
                let wanted: Vec<(&[PodMatcher], Option<&str>)> =
                    keys[..asked].iter().flat_map(|k| bys.iter().map(|by| (k.as_slice(), *by))).collect();
                let got = c.matching_pods(&wanted);
                for ((key, by), got) in wanted.iter().zip(&got) {
                    assert_eq!(
                        **got,
                        walked(&c, key, *by),
                        "seed {seed}, step {step}, by {by:?}, key {key:?}"
                    );
                }
                // Existing pods' anti-affinity terms, grouped, as a walk finds them.
                let mut want_terms: HashMap<(String, String, String), i64> = HashMap::new();
                for node in c.nodes().iter().filter(|n| n.exists) {
                    for p in &node.pods {
                        for t in &p.affinity.required_anti {
                            if let Some(v) = node.labels.get(&t.topology_key) {
                                let k = (format!("{:?}", t.pods), t.topology_key.clone(), v.clone());
                                *want_terms.entry(k).or_insert(0) += 1;
                            }
                        }
                    }
                }
                let mut got_terms = HashMap::new();
                for (m, key, counts) in c.required_anti_affinity_terms() {
                    for (v, n) in counts.iter() {
                        got_terms.insert((format!("{m:?}"), key.clone(), v.clone()), *n);
                    }
                }
                assert_eq!(got_terms, want_terms, "seed {seed}, step {step}");
                // The domains of a key are the values existing nodes have.
                let mut zones: Vec<&String> = c.label_values("zone").collect();
                zones.sort();
                let mut want: Vec<&String> =
                    c.nodes().iter().filter(|n| n.exists).filter_map(|n| n.labels.get("zone")).collect();
                want.sort();
                want.dedup();
                assert_eq!(zones, want, "seed {seed}, step {step}");
            }
        }
    }

    #[test]
    fn the_number_of_counted_selectors_is_capped() {
        let mut c = Cache::new();
        c.upsert_node(&simple_node("n1", "4", "32Gi", "110"));
        c.add_bound_pod(pod(serde_json::json!({
            "metadata": {"name": "w", "namespace": "a", "uid": "w", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": []}
        })));
        let first = matcher(&["a"], None, &["web"], false);
        for i in 0..crate::matching::MAX_ENTRIES + 10 {
            let app = format!("app-{i}");
            let m = if i == 0 { first.clone() } else { matcher(&["a"], None, &[app.as_str()], false) };
            c.matching_pods(&[(std::slice::from_ref(&m), None)]);
        }
        assert_eq!(c.matching_entries(), crate::matching::MAX_ENTRIES);
        // The first selector was evicted; asked again, it is rebuilt with the right counts.
        c.add_bound_pod(pod(serde_json::json!({
            "metadata": {"name": "w2", "namespace": "a", "uid": "w2", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": []}
        })));
        let n = c.matching_pods(&[(std::slice::from_ref(&first), None)])[0].get("n1").copied();
        assert_eq!(n, Some(2));
    }
}
