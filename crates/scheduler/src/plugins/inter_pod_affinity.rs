//! Pod affinity and anti-affinity: required terms (the incoming pod's, and existing pods'
//! anti-affinity towards it) filter by topology domain; preferred terms score.

use std::{collections::HashMap, sync::Arc};

use crate::{
    framework::{
        CycleState, Events, FilterPlugin, FilterResult, MAX_NODE_SCORE, PreFilter, ScorePlugin, Status,
    },
    labels::Labels,
    matching::{Counts, PodMatcher},
    pod_info::{AffinityTerm, PodInfo},
    snapshot::{Cache, NodeInfo},
};

pub const NAME: &str = "InterPodAffinity";
pub const ERR_REASON_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";
pub const ERR_REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const ERR_REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";

/// Hard affinity of existing pods counts this much in the incoming pod's score, as upstream's
/// default `hardPodAffinityWeight`.
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

/// Topology key → value → count (or score).
type Topology = HashMap<String, HashMap<String, i64>>;

/// Adds `by` to the node's domain of `key`. Called for every matching pod of every cycle, so
/// it copies the key and value only the first time a domain is seen.
fn bump(t: &mut Topology, node: &NodeInfo, key: &str, by: i64) {
    let Some(value) = node.labels.get(key) else { return };
    if !t.contains_key(key) {
        t.insert(key.to_string(), HashMap::new());
    }
    let Some(values) = t.get_mut(key) else { return };
    match values.get_mut(value.as_str()) {
        Some(n) => *n += by,
        None => {
            values.insert(value.clone(), by);
        }
    }
}

/// The count of the node's domain of `key`.
fn in_domain(counts: &Counts, node: &NodeInfo, key: &str) -> i64 {
    node.labels.get(key).and_then(|v| counts.get(v)).copied().unwrap_or(0)
}

pub struct InterPodAffinity;

#[derive(Default)]
struct FilterState {
    /// Per placed pods' required anti-affinity term that selects the pod: its topology key
    /// and how many pods have it per value (shared with the cache).
    existing_anti: Vec<(String, Arc<Counts>)>,
    /// Per required affinity term: its topology key and the pods matching all the terms per
    /// value of that key (shared with the cache, not copied).
    affinity: Vec<(String, Arc<Counts>)>,
    /// Per required anti-affinity term: its topology key and its matching pods per value.
    anti: Vec<(String, Arc<Counts>)>,
    /// No pod anywhere matches the affinity terms, but the pod matches its own: the first
    /// pod of a group may go anywhere.
    affinity_self_ok: bool,
}

fn all_terms_match(terms: &[AffinityTerm], pod: &PodInfo, ns_labels: &Labels) -> bool {
    terms.iter().all(|t| t.pods.matches_in(pod, ns_labels))
}

impl FilterPlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> Events {
        Events::NODE_ADD
            .or(Events::NODE_LABEL)
            .or(Events::ASSIGNED_POD_ADD)
            .or(Events::ASSIGNED_POD_DELETE)
            .or(Events::ASSIGNED_POD_UPDATE)
            .or(Events::NAMESPACE)
    }

    fn pre_filter(&self, pod: &PodInfo, cache: &Cache, state: &mut CycleState) -> Result<PreFilter, Status> {
        let a = &pod.affinity;
        if a.required.is_empty() && a.required_anti.is_empty() && !cache.has_affinity_pods() {
            return Ok(PreFilter::Skip);
        }
        let mut s = FilterState::default();
        let ns_labels = cache.namespaces().labels_of(&pod.namespace);
        // Existing pods' anti-affinity, alike terms counted together by the cache.
        for (pods, key, counts) in cache.required_anti_affinity_terms() {
            if pods.matches_in(pod, &ns_labels) {
                s.existing_anti.push((key.clone(), counts.clone()));
            }
        }
        // The pod's own terms: the pods they select, counted per topology value by the cache.
        if !a.required.is_empty() {
            // A pod counts for affinity only when it matches every required term.
            let all: Vec<PodMatcher> =
                a.required.iter().map(|t| cache.namespaces().resolve(&t.pods).into_owned()).collect();
            let keys: Vec<_> =
                a.required.iter().map(|t| (all.as_slice(), Some(t.topology_key.as_str()))).collect();
            let counts = cache.matching_pods(&keys);
            s.affinity = a.required.iter().map(|t| t.topology_key.clone()).zip(counts).collect();
        }
        if !a.required_anti.is_empty() {
            let resolved: Vec<_> =
                a.required_anti.iter().map(|t| cache.namespaces().resolve(&t.pods)).collect();
            let keys: Vec<_> = a
                .required_anti
                .iter()
                .zip(&resolved)
                .map(|(t, pods)| (std::slice::from_ref(pods.as_ref()), Some(t.topology_key.as_str())))
                .collect();
            let counts = cache.matching_pods(&keys);
            s.anti = a.required_anti.iter().map(|t| t.topology_key.clone()).zip(counts).collect();
        }
        s.affinity_self_ok =
            s.affinity.iter().all(|(_, c)| c.is_empty()) && all_terms_match(&a.required, pod, &ns_labels);
        state.write(s);
        Ok(PreFilter::Run)
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo, state: &CycleState) -> FilterResult {
        let Some(s) = state.read::<FilterState>() else { return Ok(()) };
        if s.existing_anti.iter().any(|(key, counts)| in_domain(counts, node, key) > 0) {
            return Err(Status::unschedulable(NAME, ERR_REASON_EXISTING_ANTI_AFFINITY));
        }
        let a = &pod.affinity;
        let affinity_ok = s.affinity.iter().all(|(key, counts)| in_domain(counts, node, key) > 0)
            || (s.affinity_self_ok && a.required.iter().all(|t| node.labels.contains_key(&t.topology_key)));
        if !affinity_ok {
            return Err(Status::unresolvable(NAME, ERR_REASON_AFFINITY));
        }
        if s.anti.iter().any(|(key, counts)| in_domain(counts, node, key) > 0) {
            return Err(Status::unschedulable(NAME, ERR_REASON_ANTI_AFFINITY));
        }
        Ok(())
    }
}

struct ScoreState(Topology);

impl ScorePlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Sums, per topology domain, the weights of the preferred terms between the pod and the
    /// pods already there, in both directions.
    fn pre_score(&self, pod: &PodInfo, cache: &Cache, _: &[usize], state: &mut CycleState) -> bool {
        let a = &pod.affinity;
        let own = !a.preferred.is_empty() || !a.preferred_anti.is_empty();
        if !own && !cache.has_affinity_pods() {
            return false;
        }
        let mut t = Topology::new();
        if own {
            // The pod's preferred terms: the pods they select, counted per domain by the cache.
            let terms: Vec<(i64, &AffinityTerm)> = a
                .preferred
                .iter()
                .map(|(w, term)| (*w, term))
                .chain(a.preferred_anti.iter().map(|(w, term)| (-*w, term)))
                .collect();
            let resolved: Vec<_> = terms.iter().map(|(_, t)| cache.namespaces().resolve(&t.pods)).collect();
            let keys: Vec<_> = terms
                .iter()
                .zip(&resolved)
                .map(|((_, t), pods)| (std::slice::from_ref(pods.as_ref()), Some(t.topology_key.as_str())))
                .collect();
            for ((w, term), counts) in terms.iter().zip(cache.matching_pods(&keys)) {
                if counts.is_empty() {
                    continue;
                }
                let values = t.entry(term.topology_key.clone()).or_default();
                for (value, n) in counts.iter() {
                    match values.get_mut(value.as_str()) {
                        Some(have) => *have += w * n,
                        None => {
                            values.insert(value.clone(), w * n);
                        }
                    }
                }
            }
        }
        // Existing pods' terms towards the pod: only pods with such terms can contribute, and
        // only on nodes that exist (as everywhere in this plugin, as upstream's snapshot).
        let ns_labels = cache.namespaces().labels_of(&pod.namespace);
        for node in cache.nodes_with_score_affinity_pods().filter(|n| n.exists) {
            for existing in &node.pods_with_affinity {
                let e = &existing.affinity;
                for term in e.required.iter().filter(|t| t.pods.matches_in(pod, &ns_labels)) {
                    bump(&mut t, node, &term.topology_key, HARD_POD_AFFINITY_WEIGHT);
                }
                for (w, term) in e.preferred.iter().filter(|(_, t)| t.pods.matches_in(pod, &ns_labels)) {
                    bump(&mut t, node, &term.topology_key, *w);
                }
                for (w, term) in e.preferred_anti.iter().filter(|(_, t)| t.pods.matches_in(pod, &ns_labels)) {
                    bump(&mut t, node, &term.topology_key, -*w);
                }
            }
        }
        let any = !t.is_empty();
        state.write(ScoreState(t));
        any
    }

    fn score(&self, _: &PodInfo, node: &NodeInfo, state: &CycleState) -> i64 {
        let Some(ScoreState(t)) = state.read::<ScoreState>() else { return 0 };
        t.iter().filter_map(|(key, values)| values.get(node.labels.get(key)?)).sum()
    }

    /// Min-max scaling into 0..=100.
    fn normalize(&self, scores: &mut [i64]) {
        let (min, max) = scores.iter().fold((i64::MAX, i64::MIN), |(lo, hi), s| (lo.min(*s), hi.max(*s)));
        let diff = max.saturating_sub(min);
        for s in scores.iter_mut() {
            *s = if diff > 0 { MAX_NODE_SCORE * (*s - min) / diff } else { 0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plugins::testing::*;

    fn zone_node(name: &str, zone: &str) -> k8s_openapi::api::core::v1::Node {
        node(json!({"metadata": {"name": name, "labels": {"zone": zone, "kubernetes.io/hostname": name}}}))
    }

    fn labelled(
        name: &str,
        node: Option<&str>,
        app: &str,
        affinity: serde_json::Value,
    ) -> crate::pod_info::PodRef {
        pod(json!({"metadata": {"name": name, "labels": {"app": app}},
            "spec": {"nodeName": node, "containers": [], "affinity": affinity}}))
    }

    fn term(key: &str, app: &str) -> serde_json::Value {
        json!({"topologyKey": key, "labelSelector": {"matchLabels": {"app": app}}})
    }

    #[test]
    fn namespace_selectors_read_the_namespaces_labels() {
        let nodes = [zone_node("a", "z1"), zone_node("b", "z2")];
        let in_ns = |name: &str, ns: &str, node: Option<&str>, affinity: serde_json::Value| {
            pod(json!({"metadata": {"name": name, "namespace": ns, "labels": {"app": "db"}},
                "spec": {"nodeName": node, "containers": [], "affinity": affinity}}))
        };
        let mut c = cache(&nodes, &[in_ns("db-1", "team-x", Some("a"), json!(null))]);
        let namespace = |name: &str, team: &str| {
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {
                "team": team, "kubernetes.io/metadata.name": name}}}))
            .unwrap()
        };
        c.namespaces_mut().upsert(&namespace("team-x", "x"));
        c.namespaces_mut().upsert(&namespace("web", "w"));
        // The incoming pod's own term: db pods in namespaces labelled team=x.
        let anti = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "topologyKey": "zone", "labelSelector": {"matchLabels": {"app": "db"}},
            "namespaceSelector": {"matchLabels": {"team": "x"}}}]}});
        let p = in_ns("db-2", "web", None, anti.clone());
        assert_eq!(outcome(run_filter(&InterPodAffinity, &p, &c, "a")), ERR_REASON_ANTI_AFFINITY);
        assert_eq!(outcome(run_filter(&InterPodAffinity, &p, &c, "b")), "ok");
        // Relabelled, the namespace no longer counts.
        c.namespaces_mut().upsert(&namespace("team-x", "other"));
        assert_eq!(outcome(run_filter(&InterPodAffinity, &p, &c, "a")), "ok");

        // A placed pod's term, checked against the incoming pod's namespace's labels.
        let mut c = cache(&nodes, &[in_ns("guard", "web", Some("a"), anti)]);
        c.namespaces_mut().upsert(&namespace("team-x", "x"));
        c.namespaces_mut().upsert(&namespace("team-y", "y"));
        let from_x = in_ns("db-3", "team-x", None, json!(null));
        let from_y = in_ns("db-4", "team-y", None, json!(null));
        assert_eq!(
            outcome(run_filter(&InterPodAffinity, &from_x, &c, "a")),
            ERR_REASON_EXISTING_ANTI_AFFINITY
        );
        assert_eq!(outcome(run_filter(&InterPodAffinity, &from_y, &c, "a")), "ok");
    }

    #[test]
    fn anti_affinity_keeps_pods_apart() {
        let nodes = [zone_node("a", "z1"), zone_node("b", "z1"), zone_node("c", "z2")];
        let c = cache(&nodes, &[labelled("web-1", Some("a"), "web", json!(null))]);
        let p = labelled(
            "web-2",
            None,
            "web",
            json!({"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term("kubernetes.io/hostname", "web")]}}),
        );
        assert_eq!(outcome(run_filter(&InterPodAffinity, &p, &c, "a")), ERR_REASON_ANTI_AFFINITY);
        assert_eq!(outcome(run_filter(&InterPodAffinity, &p, &c, "b")), "ok");
        let p = labelled(
            "web-2",
            None,
            "web",
            json!({"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term("zone", "web")]}}),
        );
        assert_eq!(outcome(run_filter(&InterPodAffinity, &p, &c, "b")), ERR_REASON_ANTI_AFFINITY);
        assert_eq!(outcome(run_filter(&InterPodAffinity, &p, &c, "c")), "ok");
    }

    #[test]
    fn existing_pods_anti_affinity_is_honoured() {
        let nodes = [zone_node("a", "z1"), zone_node("b", "z2")];
        let loner = labelled(
            "db",
            Some("a"),
            "db",
            json!({"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term("zone", "web")]}}),
        );
        let c = cache(&nodes, &[loner]);
        let p = labelled("web", None, "web", json!(null));
        assert_eq!(outcome(run_filter(&InterPodAffinity, &p, &c, "a")), ERR_REASON_EXISTING_ANTI_AFFINITY);
        assert_eq!(outcome(run_filter(&InterPodAffinity, &p, &c, "b")), "ok");
    }

    #[test]
    fn affinity_needs_a_matching_pod_in_the_domain_unless_it_is_the_first() {
        let nodes = [zone_node("a", "z1"), zone_node("b", "z2")];
        let aff = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("zone", "cache")]}});
        let c = cache(&nodes, &[labelled("cache", Some("a"), "cache", json!(null))]);
        let p = labelled("web", None, "web", aff.clone());
        assert_eq!(outcome(run_filter(&InterPodAffinity, &p, &c, "a")), "ok");
        assert_eq!(outcome(run_filter(&InterPodAffinity, &p, &c, "b")), ERR_REASON_AFFINITY);
        // The first pod of a self-affine group may go anywhere.
        let c = cache(&nodes, &[]);
        let first = labelled("cache-0", None, "cache", aff);
        assert_eq!(outcome(run_filter(&InterPodAffinity, &first, &c, "b")), "ok");
    }

    #[test]
    fn preferred_affinity_scores_the_domain() {
        let nodes = [zone_node("a", "z1"), zone_node("b", "z2")];
        let c = cache(&nodes, &[labelled("cache", Some("a"), "cache", json!(null))]);
        let p = labelled(
            "web",
            None,
            "web",
            json!({"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "podAffinityTerm": term("zone", "cache")}]}}),
        );
        let mut s = CycleState::default();
        assert!(InterPodAffinity.pre_score(&p, &c, &[], &mut s));
        let mut scores = [
            InterPodAffinity.score(&p, c.node("a").unwrap(), &s),
            InterPodAffinity.score(&p, c.node("b").unwrap(), &s),
        ];
        InterPodAffinity.normalize(&mut scores);
        assert_eq!(scores, [100, 0]);
    }

    #[test]
    fn counts_follow_pods_placed_and_removed_after_the_first_cycle() {
        let nodes = [zone_node("a", "z1"), zone_node("b", "z2")];
        let mut c = cache(&nodes, &[]);
        let anti = json!({"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term("zone", "web")]}});
        let p = labelled("web-9", None, "web", anti.clone());
        assert_eq!(outcome(run_filter(&InterPodAffinity, &p, &c, "a")), "ok");
        c.assume(labelled("web-1", None, "web", anti.clone()), "a");
        assert_eq!(outcome(run_filter(&InterPodAffinity, &p, &c, "a")), ERR_REASON_EXISTING_ANTI_AFFINITY);
        c.forget("web-1");
        assert_eq!(outcome(run_filter(&InterPodAffinity, &p, &c, "a")), "ok");
        // A matching pod without terms of its own trips only the incoming pod's term.
        c.add_bound_pod(labelled("web-2", Some("a"), "web", json!(null)));
        assert_eq!(outcome(run_filter(&InterPodAffinity, &p, &c, "a")), ERR_REASON_ANTI_AFFINITY);
        assert_eq!(outcome(run_filter(&InterPodAffinity, &p, &c, "b")), "ok");
        c.remove_pod("web-2");
        assert_eq!(outcome(run_filter(&InterPodAffinity, &p, &c, "a")), "ok");
        // Required affinity to a pod placed after the counts were built.
        let aff = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("zone", "cache")]}});
        let q = labelled("web-8", None, "web", aff);
        assert_eq!(outcome(run_filter(&InterPodAffinity, &q, &c, "b")), ERR_REASON_AFFINITY);
        c.add_bound_pod(labelled("cache", Some("b"), "cache", json!(null)));
        assert_eq!(outcome(run_filter(&InterPodAffinity, &q, &c, "b")), "ok");
        assert_eq!(outcome(run_filter(&InterPodAffinity, &q, &c, "a")), ERR_REASON_AFFINITY);
    }
}
