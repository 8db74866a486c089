//! What a DaemonSet sync does, decided from nodes and pods alone: one daemon pod on every node
//! that should run it, none elsewhere (upstream's `manage`), then, once that holds, pods at an
//! old revision replaced within maxUnavailable or maxSurge (upstream's `rollingUpdate`).

use std::{collections::BTreeMap, sync::Arc};

use k8s_openapi::{
    api::core::v1::{Node, Pod, PodSpec},
    apimachinery::pkg::util::intstr::IntOrString,
};

use super::eligibility::should_run;
use crate::pods;

/// The label a daemon pod carries its template hash under.
pub const HASH_LABEL: &str = "controller-revision-hash";

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Nodes to create a daemon pod for.
    pub create_on: Vec<String>,
    /// Pods to delete, by name.
    pub delete: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.create_on.is_empty() && self.delete.is_empty()
    }
}

pub type ByNode = BTreeMap<String, Vec<Arc<Pod>>>;

fn name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

fn is_new(pod: &Pod, hash: &str) -> bool {
    pod.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)).map(String::as_str) == Some(hash)
}

fn failed(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed")
}

/// Oldest first; at equal age, running before pending.
fn by_age(pods: &mut [&Arc<Pod>]) {
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    pods.sort_by(|a, b| created(a).cmp(&created(b)).then_with(|| name(a).cmp(&name(b))));
}

/// Creates and deletes that put exactly one daemon pod on each node that should run one.
/// `spec` is the template's pod spec with the daemon tolerations added.
pub fn manage(nodes: &[Arc<Node>], spec: &PodSpec, by_node: &ByNode, hash: &str, surge: bool) -> Plan {
    let mut plan = Plan::default();
    let empty = Vec::new();
    for node in nodes {
        let node_name = node.metadata.name.clone().unwrap_or_default();
        let pods = by_node.get(&node_name).unwrap_or(&empty);
        let (run, keep) = should_run(spec, node);
        if run && pods.is_empty() {
            plan.create_on.push(node_name);
            continue;
        }
        if !keep {
            plan.delete.extend(pods.iter().filter(|p| !pods::is_terminating(p)).map(|p| name(p)));
            continue;
        }
        let mut running = Vec::new();
        for pod in pods.iter().filter(|p| !pods::is_terminating(p)) {
            if failed(pod) {
                // Replaced on a later sync, once it is gone.
                plan.delete.push(name(pod));
            } else {
                running.push(pod);
            }
        }
        if running.len() <= 1 {
            continue;
        }
        by_age(&mut running);
        if !surge {
            plan.delete.extend(running[1..].iter().map(|p| name(p)));
            continue;
        }
        // With surge, an old ready pod may stay beside an unready new one; nothing else does.
        let oldest_new = running.iter().find(|p| is_new(p, hash));
        let oldest_old = running.iter().find(|p| !is_new(p, hash));
        let keep: Vec<&Arc<Pod>> = match (oldest_new, oldest_old) {
            (Some(n), Some(o)) if !pods::is_ready(n) && pods::is_ready(o) => vec![n, o],
            (Some(n), _) => vec![n],
            (None, Some(o)) => vec![o],
            (None, None) => vec![],
        };
        plan.delete
            .extend(running.iter().filter(|p| !keep.iter().any(|k| Arc::ptr_eq(k, p))).map(|p| name(p)));
    }
    // Pods on nodes that are gone (upstream's pod GC deletes them; there is none here yet).
    for (node, pods) in by_node {
        if !nodes.iter().any(|n| n.metadata.name.as_deref() == Some(node)) {
            plan.delete.extend(pods.iter().filter(|p| !pods::is_terminating(p)).map(|p| name(p)));
        }
    }
    plan
}

/// An absolute or percentage value scaled to `total`, rounding up.
pub fn scaled(value: Option<&IntOrString>, total: i32, default: i32) -> i32 {
    match value {
        None => default,
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(s)) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(percent) => ((percent * i64::from(total) + 99) / 100) as i32,
            None => default,
        },
    }
}

/// A node's pod at the current revision and its pod at an older one, either possibly absent.
type NewAndOld<'a> = (Option<&'a Arc<Pod>>, Option<&'a Arc<Pod>>);

/// The node's new and old pod, ignoring terminating ones; `None` if it has two of either.
fn new_and_old<'a>(pods: &'a [Arc<Pod>], hash: &str) -> Option<NewAndOld<'a>> {
    let (mut new, mut old) = (None, None);
    for pod in pods.iter().filter(|p| !pods::is_terminating(p)) {
        let slot = if is_new(pod, hash) { &mut new } else { &mut old };
        if slot.is_some() {
            return None;
        }
        *slot = Some(pod);
    }
    Some((new, old))
}

/// The rolling update's next step.
pub fn rolling_update(
    by_node: &ByNode,
    hash: &str,
    max_surge: i32,
    max_unavailable: i32,
    min_ready_seconds: i32,
    now: jiff::Timestamp,
) -> Plan {
    let available = |p: &Pod| pods::is_available(p, min_ready_seconds, now);
    let mut plan = Plan::default();
    if max_surge == 0 {
        let mut unavailable = 0;
        let (mut replace_now, mut candidates) = (Vec::new(), Vec::new());
        for pods in by_node.values() {
            match new_and_old(pods, hash) {
                None | Some((None, None)) | Some((Some(_), Some(_))) => unavailable += 1,
                Some((Some(new), None)) => {
                    if !available(new) {
                        unavailable += 1;
                    }
                }
                Some((None, Some(old))) => {
                    if !available(old) {
                        replace_now.push(name(old));
                    } else if unavailable < max_unavailable {
                        candidates.push(name(old));
                    }
                }
            }
        }
        let room = (max_unavailable - unavailable).clamp(0, candidates.len() as i32) as usize;
        plan.delete = replace_now;
        plan.delete.extend(candidates.into_iter().take(room));
        return plan;
    }
    let mut surging = 0;
    let (mut allowed, mut candidates) = (Vec::new(), Vec::new());
    for (node, pods) in by_node {
        match new_and_old(pods, hash) {
            None | Some((_, None)) => {}
            Some((None, Some(old))) => {
                if !available(old) {
                    allowed.push(node.clone());
                } else if surging < max_surge {
                    candidates.push(node.clone());
                }
            }
            Some((Some(new), Some(old))) => {
                if available(new) {
                    plan.delete.push(name(old));
                } else {
                    surging += 1;
                }
            }
        }
    }
    let room = (max_surge - surging).clamp(0, candidates.len() as i32) as usize;
    plan.create_on = allowed;
    plan.create_on.extend(candidates.into_iter().take(room));
    plan
}

#[cfg(test)]
pub(crate) mod tests {
    use k8s_openapi::{
        api::core::v1::{PodCondition, PodStatus},
        apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time},
    };
    use serde_json::json;

    use super::*;

    pub(crate) fn node(name: &str) -> Arc<Node> {
        Arc::new(serde_json::from_value(json!({"metadata": {"name": name}})).unwrap())
    }

    pub(crate) fn pod(name: &str, hash: &str, ready: bool) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some([(HASH_LABEL.to_string(), hash.to_string())].into()),
                ..Default::default()
            },
            spec: None,
            status: Some(PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    last_transition_time: Some(Time(jiff::Timestamp::UNIX_EPOCH)),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        })
    }

    fn by_node(entries: &[(&str, &[Arc<Pod>])]) -> ByNode {
        entries.iter().map(|(n, p)| (n.to_string(), p.to_vec())).collect()
    }

    #[test]
    fn every_eligible_node_gets_one_pod_and_gone_nodes_lose_theirs() {
        let nodes = [node("a"), node("b")];
        let spec = PodSpec::default();
        let pods =
            by_node(&[("a", &[pod("x", "h", true), pod("y", "h", true)]), ("gone", &[pod("z", "h", true)])]);
        let plan = manage(&nodes, &spec, &pods, "h", false);
        assert_eq!(plan.create_on, ["b"]);
        assert_eq!(plan.delete, ["y", "z"]);
    }

    #[test]
    fn rolling_update_without_surge_stays_within_max_unavailable() {
        let pods = by_node(&[
            ("a", &[pod("a-old", "old", true)]),
            ("b", &[pod("b-old", "old", true)]),
            ("c", &[pod("c-old", "old", false)]),
        ]);
        let now = jiff::Timestamp::now();
        let plan = rolling_update(&pods, "new", 0, 1, 0, now);
        // The unavailable old pod goes at once, and one available one within the budget.
        assert_eq!(plan.delete, ["c-old", "a-old"]);
        let pods = by_node(&[("a", &[pod("a-new", "new", false)]), ("b", &[pod("b-old", "old", true)])]);
        assert_eq!(rolling_update(&pods, "new", 0, 1, 0, now), Plan::default());
        assert_eq!(scaled(Some(&IntOrString::String("25%".into())), 3, 1), 1);
        assert_eq!(scaled(None, 3, 1), 1);
    }

    #[test]
    fn rolling_update_with_surge_creates_first_and_deletes_once_available() {
        let now = jiff::Timestamp::now();
        let pods = by_node(&[("a", &[pod("a-old", "old", true)]), ("b", &[pod("b-old", "old", true)])]);
        assert_eq!(rolling_update(&pods, "new", 1, 0, 0, now).create_on, ["a"]);
        let pods = by_node(&[
            ("a", &[pod("a-old", "old", true), pod("a-new", "new", true)]),
            ("b", &[pod("b-old", "old", true)]),
        ]);
        let plan = rolling_update(&pods, "new", 1, 0, 0, now);
        assert_eq!((plan.delete, plan.create_on), (vec!["a-old".to_string()], vec!["b".to_string()]));
    }
}
