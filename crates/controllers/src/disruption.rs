//! The disruption controller, as upstream's: keeps each PodDisruptionBudget's status (expected
//! pods, healthy pods, how many may be disrupted now) so that the eviction API can honour it.

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
    informer::{Change, Informer, Informers, Key},
    owner::Selector,
    pods,
    queue::Queue,
};

/// How long a pod stays counted as disrupted after an eviction allowed it, while its deletion
/// is expected (upstream's DeletionTimeout).
const DISRUPTION_TIMEOUT: i64 = 120;

/// (expected pods, desired healthy) for a budget over `expected` pods.
pub fn desired(
    min_available: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    expected: i32,
) -> (i32, i32) {
    let scaled = |v: &IntOrString, round_up: bool| -> i32 {
        match v {
            IntOrString::Int(n) => *n,
            IntOrString::String(s) => {
                let pct: f64 = s.trim_end_matches('%').parse().unwrap_or(0.0);
                let raw = pct * f64::from(expected) / 100.0;
                if round_up { raw.ceil() as i32 } else { raw.floor() as i32 }
            }
        }
    };
    match (min_available, max_unavailable) {
        (Some(min), _) => (expected, scaled(min, true)),
        (None, Some(max)) => (expected, (expected - scaled(max, true)).max(0)),
        (None, None) => (expected, expected),
    }
}

pub struct Controller {
    budgets: Arc<Informer<PodDisruptionBudget>>,
    pods: Arc<Informer<Pod>>,
    queue: Arc<Queue<Key>>,
    client: kube::Client,
}

impl Controller {
    pub fn start(informers: &Informers) {
        let me = Arc::new(Controller {
            budgets: informers.get::<PodDisruptionBudget>(),
            pods: informers.get::<Pod>(),
            queue: Queue::new(),
            client: informers.client(),
        });
        let mut budget_changes = me.budgets.subscribe();
        let mut pod_changes = me.pods.subscribe();
        let follower = me.clone();
        tokio::spawn(async move {
            follower.budgets.wait_synced().await;
            follower.pods.wait_synced().await;
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
        let expected = matching.iter().filter(|p| pods::is_active(p)).count() as i32;
        let healthy = matching
            .iter()
            .filter(|p| pods::is_active(p) && pods::is_ready(p) && !disrupted.contains_key(&p.name_any()))
            .count() as i32;
        let (expected, desired) =
            desired(spec.min_available.as_ref(), spec.max_unavailable.as_ref(), expected);
        let allowed = (healthy - desired).max(0);
        let condition_status = if allowed > 0 { "True" } else { "False" };
        let reason = if allowed > 0 { "SufficientPods" } else { "InsufficientPods" };
        let previous = pdb
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "DisruptionAllowed"));
        let transition = match previous {
            Some(c) if c.status == condition_status => json!(c.last_transition_time),
            _ => json!(now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
        };
        let status = json!({
            "observedGeneration": pdb.metadata.generation,
            "disruptionsAllowed": allowed,
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "expectedPods": expected,
            "disruptedPods": if disrupted.is_empty() { serde_json::Value::Null } else { serde_json::Value::Object(disrupted) },
            "conditions": [{
                "type": "DisruptionAllowed",
                "status": condition_status,
                "reason": reason,
                "message": "",
                "observedGeneration": pdb.metadata.generation,
                "lastTransitionTime": transition,
            }],
        });
        let current = serde_json::to_value(&pdb.status).unwrap_or_default();
        let changed =
            ["observedGeneration", "disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"]
                .iter()
                .any(|f| current.get(*f) != status.get(*f))
                || current.pointer("/conditions/0/status") != status.pointer("/conditions/0/status");
        if changed {
            let api: Api<PodDisruptionBudget> = Api::namespaced(self.client.clone(), &ns);
            let patch = json!({"status": status});
            match api.patch_status(&pdb.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(requeue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_in_numbers_and_percentages() {
        let int = |n| IntOrString::Int(n);
        let pct = |s: &str| IntOrString::String(s.into());
        assert_eq!(desired(Some(&int(2)), None, 3), (3, 2));
        assert_eq!(desired(Some(&pct("50%")), None, 3), (3, 2));
        assert_eq!(desired(None, Some(&int(1)), 3), (3, 2));
        assert_eq!(desired(None, Some(&pct("50%")), 3), (3, 1));
    }
}
