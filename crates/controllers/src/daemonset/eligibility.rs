//! Which nodes a DaemonSet's pod belongs on (upstream's `NodeShouldRunDaemonPod`): the node
//! name, node selector and required node affinity must match, and every NoSchedule and
//! NoExecute taint must be tolerated, counting the tolerations upstream adds to every daemon
//! pod. A pod already on a node whose taints it no longer tolerates keeps running there unless
//! a NoExecute taint says otherwise.

use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec,
    Taint, Toleration,
};
use tug_api::selector::{LabelOp, LabelRequirement};

/// The tolerations upstream gives every daemon pod: it stays through node trouble and
/// cordons; `network-unavailable` only for host-network pods.
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    let mut wanted = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if spec.host_network == Some(true) {
        wanted.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for (key, effect) in wanted {
        let toleration = Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some(effect.into()),
            ..Default::default()
        };
        // Upstream's AddOrUpdateTolerationInPodSpec: one with the same key and effect is replaced.
        match tolerations
            .iter_mut()
            .find(|t| t.key.as_deref() == Some(key) && t.effect.as_deref() == Some(effect))
        {
            Some(existing) => *existing = toleration,
            None => tolerations.push(toleration),
        }
    }
}

/// Whether `toleration` tolerates `taint` (upstream's `ToleratesTaint`).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if toleration.effect.as_deref().is_some_and(|e| !e.is_empty() && e != taint.effect) {
        return false;
    }
    if toleration.key.as_deref().is_some_and(|k| !k.is_empty() && k != taint.key) {
        return false;
    }
    match toleration.operator.as_deref() {
        Some("Exists") => true,
        None | Some("" | "Equal") => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

fn untolerated<'a>(spec: &PodSpec, node: &'a Node, effects: &[&str]) -> Option<&'a Taint> {
    let tolerations = spec.tolerations.as_deref().unwrap_or(&[]);
    node.spec.as_ref()?.taints.as_ref()?.iter().find(|taint| {
        effects.contains(&taint.effect.as_str()) && !tolerations.iter().any(|t| tolerates(t, taint))
    })
}

fn requirement_matches(r: &NodeSelectorRequirement, get: impl Fn(&str) -> Option<String>) -> bool {
    let op = match r.operator.as_str() {
        "In" => LabelOp::In,
        "NotIn" => LabelOp::NotIn,
        "Exists" => LabelOp::Exists,
        "DoesNotExist" => LabelOp::DoesNotExist,
        "Gt" => LabelOp::GreaterThan,
        "Lt" => LabelOp::LessThan,
        _ => return false,
    };
    let Ok(req) = LabelRequirement::new(&r.key, op, r.values.clone().unwrap_or_default()) else {
        return false;
    };
    let value = get(&r.key);
    req.matches_fn(|_| value.as_deref())
}

/// Whether a node selector term matches the node; an empty term matches nothing.
fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.metadata.labels.as_ref();
    exprs.iter().all(|r| requirement_matches(r, |k| labels.and_then(|l| l.get(k)).cloned()))
        && fields.iter().all(|r| {
            r.key == "metadata.name"
                && requirement_matches(r, |_| node.metadata.name.clone().map(|n| n.to_string()))
        })
}

/// The pod's node name, node selector and required node affinity all admit the node.
pub fn fits_node(spec: &PodSpec, node: &Node) -> bool {
    let name = node.metadata.name.as_deref().unwrap_or("");
    if spec.node_name.as_deref().is_some_and(|n| !n.is_empty() && n != name) {
        return false;
    }
    let labels = node.metadata.labels.as_ref();
    let selector_ok =
        spec.node_selector.iter().flatten().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref());
    selector_ok && required.is_none_or(|r| r.node_selector_terms.iter().any(|t| term_matches(t, node)))
}

/// `(should_run, should_continue_running)` for a daemon pod with `spec` (its daemon
/// tolerations added) on `node`.
pub fn should_run(spec: &PodSpec, node: &Node) -> (bool, bool) {
    if !fits_node(spec, node) {
        return (false, false);
    }
    if untolerated(spec, node, &["NoSchedule", "NoExecute"]).is_some() {
        return (false, untolerated(spec, node, &["NoExecute"]).is_none());
    }
    (true, true)
}

/// Pins a daemon pod to `node` the way upstream does: its required node affinity becomes one
/// term, `metadata.name In [node]`, and the scheduler binds it there.
pub fn pin_to_node(spec: &mut PodSpec, node: &str) {
    let term = NodeSelectorTerm {
        match_expressions: None,
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".into(),
            operator: "In".into(),
            values: Some(vec![node.into()]),
        }]),
    };
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let node_affinity = affinity.node_affinity.get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution =
        Some(NodeSelector { node_selector_terms: vec![term] });
}

/// The node a daemon pod is on, or, not yet scheduled, the node its affinity pins it to
/// (upstream's `GetTargetNodeName`).
pub fn target_node(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(node) = spec.node_name.clone().filter(|n| !n.is_empty()) {
        return Some(node);
    }
    let required = spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?;
    required.node_selector_terms.iter().find_map(|t| {
        t.match_fields.as_ref()?.iter().find_map(|f| {
            (f.key == "metadata.name" && f.operator == "In")
                .then(|| f.values.as_ref().filter(|v| v.len() == 1).map(|v| v[0].clone()))
                .flatten()
        })
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn node(value: serde_json::Value) -> Node {
        serde_json::from_value(value).unwrap()
    }

    fn spec(value: serde_json::Value) -> PodSpec {
        let mut spec: PodSpec = serde_json::from_value(value).unwrap();
        add_daemon_tolerations(&mut spec);
        spec
    }

    #[test]
    fn selectors_and_affinity_pick_nodes() {
        let a = node(json!({"metadata": {"name": "a", "labels": {"disk": "ssd", "cores": "8"}}}));
        let b = node(json!({"metadata": {"name": "b", "labels": {"disk": "hdd"}}}));
        let selector = spec(json!({"containers": [], "nodeSelector": {"disk": "ssd"}}));
        assert_eq!((should_run(&selector, &a), should_run(&selector, &b)), ((true, true), (false, false)));
        let affinity = spec(json!({"containers": [], "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]}]}}}}));
        assert_eq!((should_run(&affinity, &a).0, should_run(&affinity, &b).0), (true, false));
    }

    #[test]
    fn taints_must_be_tolerated_and_daemon_tolerations_are_added() {
        let tainted = |key: &str, effect: &str| {
            node(json!({"metadata": {"name": "n"}, "spec": {"taints": [{"key": key, "effect": effect}]}}))
        };
        let plain = spec(json!({"containers": []}));
        assert_eq!(should_run(&plain, &tainted("dedicated", "NoSchedule")), (false, true));
        assert_eq!(should_run(&plain, &tainted("dedicated", "NoExecute")), (false, false));
        assert_eq!(
            should_run(&plain, &tainted("node.kubernetes.io/unschedulable", "NoSchedule")),
            (true, true)
        );
        assert_eq!(should_run(&plain, &tainted("node.kubernetes.io/not-ready", "NoExecute")), (true, true));
        assert_eq!(should_run(&plain, &tainted("dedicated", "PreferNoSchedule")), (true, true));
        let tolerant =
            spec(json!({"containers": [], "tolerations": [{"key": "dedicated", "operator": "Exists"}]}));
        assert_eq!(should_run(&tolerant, &tainted("dedicated", "NoExecute")), (true, true));
        assert_eq!(plain.tolerations.as_ref().unwrap().len(), 6);
        let host = spec(json!({"containers": [], "hostNetwork": true}));
        assert_eq!(host.tolerations.as_ref().unwrap().len(), 7);
    }

    #[test]
    fn pods_are_pinned_by_node_affinity() {
        let mut s = spec(json!({"containers": []}));
        pin_to_node(&mut s, "sim-node-1");
        assert!(fits_node(&s, &node(json!({"metadata": {"name": "sim-node-1"}}))));
        assert!(!fits_node(&s, &node(json!({"metadata": {"name": "sim-node-2"}}))));
        let pod = Pod { spec: Some(s), ..Default::default() };
        assert_eq!(target_node(&pod).as_deref(), Some("sim-node-1"));
    }
}
