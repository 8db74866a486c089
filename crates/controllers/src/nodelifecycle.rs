//! The node lifecycle controller, as upstream's: a node whose kubelet stops renewing its Lease
//! (and stops posting status) for the grace period turns Ready=Unknown and gets the
//! `node.kubernetes.io/unreachable` taints; a node that reports Ready=False gets the
//! `not-ready` ones. Pods on a node with a NoExecute taint they do not tolerate are evicted
//! (deleted), at once or after their toleration's `tolerationSeconds`; pods on an unreachable
//! node are marked not Ready first.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use k8s_openapi::{
    api::{
        coordination::v1::Lease,
        core::v1::{Node, Pod, Taint, Toleration},
    },
    apimachinery::pkg::apis::meta::v1::Time,
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams},
};
use serde_json::json;

use crate::{
    events::{Recorder, Type},
    informer::{Informer, Informers, Key},
};

pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// How often node health is checked (upstream's `--node-monitor-period`).
const MONITOR_PERIOD: Duration = Duration::from_secs(5);

/// What the controller decides for one node.
#[derive(Debug, PartialEq, Eq)]
pub enum Health {
    Ready,
    /// The kubelet reports Ready=False.
    NotReady,
    /// Nothing heard for longer than the grace period.
    Unreachable,
}

/// A node's health from its Ready condition and its kubelet's last sign of life (the Lease's
/// renewTime or the condition's heartbeat, whichever is later).
pub fn health(node: &Node, lease: Option<&Lease>, now: jiff::Timestamp, grace: Duration) -> Health {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
    let heartbeat = ready.and_then(|c| c.last_heartbeat_time.as_ref()).map(|t| t.0);
    let renewed = lease.and_then(|l| l.spec.as_ref()).and_then(|s| s.renew_time.as_ref()).map(|t| t.0);
    let created = node.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let last = [heartbeat, renewed, created].into_iter().flatten().max();
    let silent = last.is_none_or(|t| now.as_second() - t.as_second() > grace.as_secs() as i64);
    if silent {
        return Health::Unreachable;
    }
    match ready.map(|c| c.status.as_str()) {
        // A node that has not reported yet gets the grace period, as upstream.
        Some("True") | None => Health::Ready,
        Some("Unknown") => Health::Unreachable,
        _ => Health::NotReady,
    }
}

/// The NoExecute/NoSchedule taints a node in this state carries (upstream adds both effects).
pub fn wanted_taints(health: &Health) -> Vec<(&'static str, &'static str)> {
    match health {
        Health::Ready => Vec::new(),
        Health::NotReady => vec![(NOT_READY, "NoExecute"), (NOT_READY, "NoSchedule")],
        Health::Unreachable => vec![(UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")],
    }
}

/// When a pod must go from a node with `taints`: `None` if it tolerates every NoExecute
/// taint for good, `Some(0)` at once, else after the shortest `tolerationSeconds`.
pub fn eviction_delay(taints: &[Taint], tolerations: &[Toleration]) -> Option<i64> {
    let mut delay: Option<i64> = None;
    for taint in taints.iter().filter(|t| t.effect == "NoExecute") {
        let matching: Vec<&Toleration> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Some(0);
        }
        // The longest toleration that matches wins; none set means forever.
        if matching.iter().any(|t| t.toleration_seconds.is_none()) {
            continue;
        }
        let secs = matching.iter().filter_map(|t| t.toleration_seconds).max().unwrap_or(0).max(0);
        delay = Some(delay.map_or(secs, |d| d.min(secs)));
    }
    delay
}

fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if t.effect.as_deref().is_some_and(|e| !e.is_empty() && e != taint.effect) {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => t.key.as_deref().is_none_or(|k| k.is_empty() || k == taint.key),
        _ => {
            t.key.as_deref() == Some(taint.key.as_str())
                && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
    }
}

pub struct Controller {
    nodes: Arc<Informer<Node>>,
    leases: Arc<Informer<Lease>>,
    pods: Arc<Informer<Pod>>,
    client: kube::Client,
    recorder: Recorder,
    grace: Duration,
}

impl Controller {
    pub fn start(informers: &Informers, grace: Duration) {
        let client = informers.client();
        let me = Arc::new(Controller {
            nodes: informers.get::<Node>(),
            leases: informers.get::<Lease>(),
            pods: informers.get::<Pod>(),
            recorder: Recorder::new(client.clone(), "node-controller"),
            client,
            grace,
        });
        tokio::spawn(async move {
            me.nodes.wait_synced().await;
            me.leases.wait_synced().await;
            me.pods.wait_synced().await;
            let mut tick = tokio::time::interval(MONITOR_PERIOD);
            loop {
                tick.tick().await;
                me.monitor().await;
            }
        });
    }

    async fn monitor(&self) {
        let now = jiff::Timestamp::now();
        for node in self.nodes.list(None) {
            let name = node.name_any();
            let lease = self.leases.get(&Key::namespaced("kube-node-lease", &name));
            let health = health(&node, lease.as_deref(), now, self.grace);
            if let Err(err) = self.reconcile(&node, &health, now).await {
                tracing::debug!(error = %err, node = %name, "node lifecycle update failed");
            }
        }
    }

    async fn reconcile(&self, node: &Node, health: &Health, now: jiff::Timestamp) -> anyhow::Result<()> {
        let name = node.name_any();
        let api: Api<Node> = Api::all(self.client.clone());
        if *health == Health::Unreachable && ready_status(node) != Some("Unknown") {
            self.mark_unknown(&api, node, now).await?;
            let msg = format!("Node {name} status is now: NodeNotReady");
            self.recorder.record(node, Type::Normal, "NodeNotReady", &msg).await;
            self.mark_pods_not_ready(&name).await;
        }
        // Taints: ours are replaced to match the node's state, others are kept.
        let current: Vec<Taint> = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
        let wanted = wanted_taints(health);
        let mut taints: Vec<Taint> =
            current.iter().filter(|t| t.key != UNREACHABLE && t.key != NOT_READY).cloned().collect();
        for (key, effect) in &wanted {
            let existing = current.iter().find(|t| t.key == *key && t.effect == *effect);
            taints.push(existing.cloned().unwrap_or_else(|| Taint {
                key: key.to_string(),
                effect: effect.to_string(),
                time_added: (*effect == "NoExecute").then_some(Time(now)),
                value: None,
            }));
        }
        if !same_taints(&taints, &current) {
            let patch = json!({"spec": {"taints": taints}});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        }
        self.evict(&name, &taints, now).await;
        Ok(())
    }

    async fn mark_unknown(&self, api: &Api<Node>, node: &Node, now: jiff::Timestamp) -> anyhow::Result<()> {
        let conditions: Vec<serde_json::Value> = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .map(|c| {
                json!({
                    "type": c.type_,
                    "status": "Unknown",
                    "reason": "NodeStatusUnknown",
                    "message": "Kubelet stopped posting node status.",
                    "lastHeartbeatTime": c.last_heartbeat_time,
                    "lastTransitionTime": Time(now),
                })
            })
            .collect();
        let patch = json!({"status": {"conditions": conditions}});
        api.patch_status(&node.name_any(), &PatchParams::default(), &Patch::Strategic(&patch)).await?;
        Ok(())
    }

    /// Upstream marks the pods of an unreachable node not Ready: nobody vouches for them.
    async fn mark_pods_not_ready(&self, node: &str) {
        for pod in self.pods_on(node) {
            let ns = pod.namespace().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
            let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}});
            let _ =
                api.patch_status(&pod.name_any(), &PatchParams::default(), &Patch::Strategic(&patch)).await;
        }
    }

    /// Deletes the pods that do not tolerate the node's NoExecute taints (or whose tolerance
    /// ran out), as upstream's taint eviction controller.
    async fn evict(&self, node: &str, taints: &[Taint], now: jiff::Timestamp) {
        if !taints.iter().any(|t| t.effect == "NoExecute") {
            return;
        }
        let tainted_at = |t: &Taint| t.time_added.as_ref().map_or(now.as_second(), |a| a.0.as_second());
        let since = taints
            .iter()
            .filter(|t| t.effect == "NoExecute")
            .map(tainted_at)
            .max()
            .unwrap_or(now.as_second());
        for pod in self.pods_on(node) {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.clone()).unwrap_or_default();
            let Some(delay) = eviction_delay(taints, &tolerations) else { continue };
            if now.as_second() < since + delay {
                continue;
            }
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
            if api.delete(&pod.name_any(), &DeleteParams::default()).await.is_ok() {
                let msg = format!(
                    "Marking for deletion Pod {}/{}",
                    pod.namespace().unwrap_or_default(),
                    pod.name_any()
                );
                self.recorder.record(pod.as_ref(), Type::Normal, "TaintManagerEviction", &msg).await;
            }
        }
    }

    fn pods_on(&self, node: &str) -> Vec<Arc<Pod>> {
        self.pods
            .list(None)
            .into_iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
            .collect()
    }
}

fn ready_status(node: &Node) -> Option<&str> {
    node.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready").map(|c| c.status.as_str())
}

fn same_taints(a: &[Taint], b: &[Taint]) -> bool {
    let key = |ts: &[Taint]| -> BTreeMap<(String, String), Option<String>> {
        ts.iter().map(|t| ((t.key.clone(), t.effect.clone()), t.value.clone())).collect()
    };
    key(a) == key(b)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::{
        api::{
            coordination::v1::LeaseSpec,
            core::v1::{NodeCondition, NodeStatus},
        },
        apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    };

    use super::*;

    fn at(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(s).unwrap()
    }

    fn node(ready: &str, heartbeat: i64) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some("n".into()),
                creation_timestamp: Some(Time(at(0))),
                ..Default::default()
            },
            status: Some(NodeStatus {
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: ready.into(),
                    last_heartbeat_time: Some(Time(at(heartbeat))),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            spec: None,
        }
    }

    fn lease(renewed: i64) -> Lease {
        Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec { renew_time: Some(MicroTime(at(renewed))), ..Default::default() }),
        }
    }

    #[test]
    fn a_node_is_unreachable_once_its_lease_goes_stale() {
        let grace = Duration::from_secs(50);
        assert_eq!(health(&node("True", 100), Some(&lease(1_000)), at(1_040), grace), Health::Ready);
        assert_eq!(health(&node("True", 100), Some(&lease(1_000)), at(1_051), grace), Health::Unreachable);
        assert_eq!(health(&node("False", 1_000), None, at(1_010), grace), Health::NotReady);
    }

    fn taint(key: &str) -> Taint {
        Taint { key: key.into(), effect: "NoExecute".into(), ..Default::default() }
    }

    fn toleration(key: &str, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some("NoExecute".into()),
            toleration_seconds: seconds,
            ..Default::default()
        }
    }

    #[test]
    fn eviction_waits_for_the_toleration() {
        let taints = [taint(UNREACHABLE)];
        assert_eq!(eviction_delay(&taints, &[]), Some(0));
        assert_eq!(eviction_delay(&taints, &[toleration(UNREACHABLE, Some(300))]), Some(300));
        assert_eq!(eviction_delay(&taints, &[toleration(UNREACHABLE, None)]), None);
        assert_eq!(eviction_delay(&taints, &[toleration(NOT_READY, Some(5))]), Some(0));
    }
}
