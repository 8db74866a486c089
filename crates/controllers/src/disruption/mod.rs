//! The disruption controller, as upstream's: keeps each PodDisruptionBudget's status (expected
//! pods, healthy pods, how many may be disrupted now) so that the eviction API can honour it.
//! Percentages and `maxUnavailable` are shares of the owning controllers' scale ([`scale`]);
//! only an integer `minAvailable` counts the selected pods.

mod scale;

use std::{sync::Arc, time::Duration};

use k8s_openapi::{
    api::{core::v1::Pod, policy::v1::PodDisruptionBudget},
    apimachinery::pkg::util::intstr::IntOrString,
};
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::json;

use crate::{
    events::{Recorder, Type},
    informer::{Change, Informer, Informers, Key},
    owner::Selector,
    pods,
    queue::Queue,
};

/// The component upstream's disruption controller records events as.
const COMPONENT: &str = "controllermanager";

/// How long a pod stays counted as disrupted after an eviction allowed it, while its deletion
/// is expected (upstream's DeletionTimeout).
const DISRUPTION_TIMEOUT: i64 = 120;

/// A percentage or a count of `total`, rounded up (upstream's
/// `GetScaledValueFromIntOrPercent(.., true)`).
fn scaled(v: &IntOrString, total: i32) -> i32 {
    match v {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => {
            let pct: f64 = s.trim_end_matches('%').parse().unwrap_or(0.0);
            (pct * f64::from(total) / 100.0).ceil() as i32
        }
    }
}

/// Whether the budget is a share of the controllers' scale rather than a pod count.
pub fn needs_scale(min_available: Option<&IntOrString>, max_unavailable: Option<&IntOrString>) -> bool {
    max_unavailable.is_some() || matches!(min_available, Some(IntOrString::String(_)))
}

/// The desired healthy pods of a budget over `expected` pods (the controllers' scale when
/// [`needs_scale`], else the number of selected pods).
pub fn desired(
    min_available: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    expected: i32,
) -> i32 {
    match (max_unavailable, min_available) {
        (Some(max), _) => (expected - scaled(max, expected)).max(0),
        (None, Some(min)) => scaled(min, expected),
        (None, None) => 0,
    }
}

/// Upstream's `%v` of a `*metav1.LabelSelector`, as its UnmanagedPods event quotes it.
fn selector_text(sel: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>) -> String {
    let Some(sel) = sel else { return "nil".into() };
    let labels: String = sel.match_labels.iter().flatten().map(|(k, v)| format!("{k}: {v},")).collect();
    let exprs: String = sel
        .match_expressions
        .iter()
        .flatten()
        .map(|e| {
            let values: String = e.values.iter().flatten().map(|v| format!("{v},")).collect();
            format!(
                "LabelSelectorRequirement{{Key:{},Operator:{},Values:[]string{{{values}}},}},",
                e.key, e.operator
            )
        })
        .collect();
    format!(
        "&LabelSelector{{MatchLabels:map[string]string{{{labels}}},MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}"
    )
}

pub struct Controller {
    budgets: Arc<Informer<PodDisruptionBudget>>,
    pods: Arc<Informer<Pod>>,
    queue: Arc<Queue<Key>>,
    client: kube::Client,
    scales: scale::ScaleFinder,
    recorder: Recorder,
}

impl Controller {
    pub fn start(informers: &Informers) {
        let me = Arc::new(Controller {
            budgets: informers.get::<PodDisruptionBudget>(),
            pods: informers.get::<Pod>(),
            queue: Queue::new(),
            client: informers.client(),
            scales: scale::ScaleFinder::new(informers),
            recorder: Recorder::new(informers.client(), COMPONENT),
        });
        let mut budget_changes = me.budgets.subscribe();
        let mut pod_changes = me.pods.subscribe();
        let follower = me.clone();
        tokio::spawn(async move {
            follower.budgets.wait_synced().await;
            follower.pods.wait_synced().await;
            follower.scales.wait_synced().await;
            follower.enqueue_all();
            loop {
                tokio::select! {
                    change = budget_changes.recv() => match change {
                        Ok(c) => follower.queue.add(Key::of(c.object().as_ref())),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => follower.enqueue_all(),
                        Err(_) => return,
                    },
                    change = pod_changes.recv() => match change {
                        Ok(c) => follower.pod_changed(&c),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => follower.enqueue_all(),
                        Err(_) => return,
                    },
                }
            }
        });
        crate::runner::spawn_workers(me.queue.clone(), 1, "disruption-controller", move |key| {
            let me = me.clone();
            async move { me.sync(&key).await }
        });
    }

    fn enqueue_all(&self) {
        for pdb in self.budgets.list(None) {
            self.queue.add(Key::of(pdb.as_ref()));
        }
    }

    fn pod_changed(&self, change: &Change<Pod>) {
        let pod = change.object();
        for pdb in self.budgets.list(pod.metadata.namespace.as_deref()) {
            let selector = Selector::from_label_selector(pdb.spec.as_ref().and_then(|s| s.selector.as_ref()));
            if selector.matches(pod.metadata.labels.as_ref()) {
                self.queue.add(Key::of(pdb.as_ref()));
            }
        }
    }

    async fn sync(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some(pdb) = self.budgets.get(key) else { return Ok(None) };
        let spec = pdb.spec.clone().unwrap_or_default();
        let selector = Selector::from_label_selector(spec.selector.as_ref());
        let ns = key.namespace.clone().unwrap_or_default();
        let matching: Vec<Arc<Pod>> = self
            .pods
            .list(Some(&ns))
            .into_iter()
            .filter(|p| selector.matches(p.metadata.labels.as_ref()))
            .collect();
        let now = jiff::Timestamp::now();
        // Pods an eviction was allowed for count as gone until they are, or the timeout passes.
        let mut disrupted = serde_json::Map::new();
        let mut requeue = None;
        if let Some(map) = pdb.status.as_ref().and_then(|s| s.disrupted_pods.as_ref()) {
            for (name, at) in map {
                let still_there =
                    matching.iter().any(|p| p.name_any() == *name && p.metadata.deletion_timestamp.is_none());
                let age = now.as_second() - at.0.as_second();
                if still_there && age < DISRUPTION_TIMEOUT {
                    disrupted.insert(name.clone(), json!(at));
                    requeue = Some(Duration::from_secs((DISRUPTION_TIMEOUT - age).max(1) as u64));
                }
            }
        }
        if matching.is_empty() {
            self.recorder.record(pdb.as_ref(), Type::Normal, "NoPods", "No matching pods found").await;
        }
        let (min, max) = (spec.min_available.as_ref(), spec.max_unavailable.as_ref());
        let expected = if needs_scale(min, max) {
            match self.scales.expected_scale(&matching).await {
                Ok(found) => {
                    if !found.unmanaged.is_empty() {
                        let message = format!(
                            "Pods selected by this PodDisruptionBudget (selector: {}) were found to be unmanaged. \
                             As a result, the status of the PDB cannot be calculated correctly, which may result \
                             in undefined behavior. To account for these pods please set \".spec.minAvailable\" \
                             field of the PDB to an integer value.",
                            selector_text(spec.selector.as_ref())
                        );
                        self.recorder.record(pdb.as_ref(), Type::Warning, "UnmanagedPods", &message).await;
                    }
                    found.count
                }
                Err(err) => {
                    let message = err.to_string();
                    let note = format!("Failed to calculate the number of expected pods: {message}");
                    self.recorder
                        .record(pdb.as_ref(), Type::Warning, "CalculateExpectedPodCountFailed", &note)
                        .await;
                    self.fail_safe(&pdb, &message).await?;
                    return Err(err);
                }
            }
        } else {
            matching.len() as i32
        };
        // Pods being deleted, or expected to be (an eviction was allowed), are not healthy.
        let healthy = matching
            .iter()
            .filter(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && !disrupted.contains_key(&p.name_any())
                    && pods::is_ready(p)
            })
            .count() as i32;
        let desired = desired(min, max, expected);
        let allowed = (healthy - desired).max(0);
        let condition_status = if allowed > 0 { "True" } else { "False" };
        let reason = if allowed > 0 { "SufficientPods" } else { "InsufficientPods" };
        let status = json!({
            "observedGeneration": pdb.metadata.generation,
            "disruptionsAllowed": allowed,
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "expectedPods": expected,
            "disruptedPods": if disrupted.is_empty() { serde_json::Value::Null } else { serde_json::Value::Object(disrupted) },
            "conditions": [condition(&pdb, condition_status, reason, "", pdb.metadata.generation, now)],
        });
        let current = serde_json::to_value(&pdb.status).unwrap_or_default();
        let changed =
            ["observedGeneration", "disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"]
                .iter()
                .any(|f| current.get(*f) != status.get(*f))
                || ["status", "reason", "message"].iter().any(|f| {
                    let at = format!("/conditions/0/{f}");
                    current.pointer(&at) != status.pointer(&at)
                });
        if changed {
            self.patch_status(&pdb, status).await?;
        }
        Ok(requeue)
    }

    /// Upstream's `failSafe`: when the expected pods cannot be known, no disruption is allowed
    /// and the condition says why.
    async fn fail_safe(&self, pdb: &PodDisruptionBudget, message: &str) -> anyhow::Result<()> {
        let generation = pdb.status.as_ref().and_then(|s| s.observed_generation);
        let now = jiff::Timestamp::now();
        let status = json!({
            "disruptionsAllowed": 0,
            "conditions": [condition(pdb, "False", "SyncFailed", message, generation, now)],
        });
        self.patch_status(pdb, status).await
    }

    async fn patch_status(&self, pdb: &PodDisruptionBudget, status: serde_json::Value) -> anyhow::Result<()> {
        let ns = pdb.namespace().unwrap_or_default();
        let api: Api<PodDisruptionBudget> = Api::namespaced(self.client.clone(), &ns);
        let patch = json!({"status": status});
        match api.patch_status(&pdb.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The `DisruptionAllowed` condition, keeping its transition time while its status holds.
fn condition(
    pdb: &PodDisruptionBudget,
    status: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: jiff::Timestamp,
) -> serde_json::Value {
    let previous = pdb
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "DisruptionAllowed"));
    let transition = match previous {
        Some(c) if c.status == status => json!(c.last_transition_time),
        _ => json!(now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
    };
    json!({
        "type": "DisruptionAllowed",
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": transition,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_in_numbers_and_percentages() {
        let int = |n| IntOrString::Int(n);
        let pct = |s: &str| IntOrString::String(s.into());
        assert_eq!(desired(Some(&int(2)), None, 3), 2);
        assert_eq!(desired(Some(&pct("50%")), None, 3), 2);
        assert_eq!(desired(None, Some(&int(1)), 3), 2);
        assert_eq!(desired(None, Some(&pct("50%")), 3), 1);
        assert_eq!(desired(None, Some(&int(5)), 3), 0);
        // Only an integer minAvailable counts pods; the rest are shares of the scale.
        assert!(!needs_scale(Some(&int(2)), None));
        assert!(needs_scale(Some(&pct("50%")), None));
        assert!(needs_scale(None, Some(&int(1))));
    }

    #[test]
    fn selectors_print_as_upstream_formats_them() {
        let sel: k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector =
            serde_json::from_value(json!({"matchLabels": {"app": "web"}})).unwrap();
        assert_eq!(
            selector_text(Some(&sel)),
            "&LabelSelector{MatchLabels:map[string]string{app: web,},MatchExpressions:[]LabelSelectorRequirement{},}"
        );
    }
}
