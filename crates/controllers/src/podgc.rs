//! The pod garbage collector, as upstream's: force-deletes pods bound to nodes that no longer
//! exist (after a quarantine and a live read of the node), terminating pods never scheduled,
//! and the oldest finished pods past a threshold.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, Preconditions},
};
use serde_json::json;

use crate::{informer::Informers, pods};

/// Upstream's `--terminated-pod-gc-threshold` default.
pub const TERMINATED_POD_THRESHOLD: usize = 12_500;
/// Upstream checks every 20 s.
const CHECK_PERIOD: Duration = Duration::from_secs(10);
/// How long a node must be missing before its pods go (upstream: 40 s), so that a node
/// informer that lags behind a new node's pods does not cost them.
const QUARANTINE: Duration = Duration::from_secs(20);

/// Starts the collector; `threshold` is the number of finished pods kept (0: all).
pub fn start(informers: &Informers, threshold: usize) {
    let pods = informers.get::<Pod>();
    let nodes = informers.get::<Node>();
    let client = informers.client();
    tokio::spawn(async move {
        pods.wait_synced().await;
        nodes.wait_synced().await;
        let mut missing_since: HashMap<String, Instant> = HashMap::new();
        let mut tick = tokio::time::interval(CHECK_PERIOD);
        loop {
            tick.tick().await;
            let all = pods.list(None);
            let node_names: HashSet<String> = nodes.list(None).iter().map(|n| n.name_any()).collect();

            for pod in terminated_to_delete(&all, threshold) {
                force_delete(&client, &pod).await;
            }
            for pod in all.iter().filter(|p| unscheduled_terminating(p)) {
                force_delete(&client, pod).await;
            }

            let missing = missing_nodes(&all, &node_names);
            missing_since.retain(|n, _| missing.contains(n));
            for node in &missing {
                missing_since.entry(node.clone()).or_insert_with(Instant::now);
            }
            let due: Vec<String> = missing_since
                .iter()
                .filter(|(_, t)| t.elapsed() >= QUARANTINE)
                .map(|(n, _)| n.clone())
                .collect();
            for node in due {
                missing_since.remove(&node);
                // The cache may lag: only a live read saying the node is gone counts.
                let api: Api<Node> = Api::all(client.clone());
                match api.get_opt(&node).await {
                    Ok(None) => {}
                    Ok(Some(_)) => continue,
                    Err(err) => {
                        tracing::debug!(error = %err, %node, "podgc: reading the node");
                        continue;
                    }
                }
                for pod in all.iter().filter(|p| node_of(p) == Some(node.as_str())) {
                    mark_failed(&client, pod).await;
                    force_delete(&client, pod).await;
                }
            }
        }
    });
}

fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref()?.node_name.as_deref().filter(|n| !n.is_empty())
}

fn is_terminated(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

/// Nodes pods are bound to that the node cache does not hold.
pub fn missing_nodes(pods: &[Arc<Pod>], nodes: &HashSet<String>) -> BTreeSet<String> {
    pods.iter().filter_map(|p| node_of(p)).filter(|n| !nodes.contains(*n)).map(str::to_string).collect()
}

/// Pods being deleted that no node will ever stop.
pub fn unscheduled_terminating(pod: &Pod) -> bool {
    pods::is_terminating(pod) && node_of(pod).is_none()
}

/// The oldest finished pods beyond `threshold` (by creation time, then name).
/// A threshold of 0 deletes nothing, as upstream's.
pub fn terminated_to_delete(pods: &[Arc<Pod>], threshold: usize) -> Vec<Arc<Pod>> {
    let mut done: Vec<&Arc<Pod>> = pods.iter().filter(|p| is_terminated(p)).collect();
    if threshold == 0 || done.len() <= threshold {
        return Vec::new();
    }
    done.sort_by(|a, b| {
        (a.metadata.creation_timestamp.as_ref().map(|t| t.0), a.name_any())
            .cmp(&(b.metadata.creation_timestamp.as_ref().map(|t| t.0), b.name_any()))
    });
    let excess = done.len() - threshold;
    done.into_iter().take(excess).cloned().collect()
}

/// Upstream marks a pod it deletes for a missing node: Failed unless finished, with a
/// `DisruptionTarget` condition saying why.
async fn mark_failed(client: &kube::Client, pod: &Pod) {
    let mut status = json!({"conditions": [{
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "DeletionByPodGC",
        "message": "PodGC: node no longer exists",
        "lastTransitionTime": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    }]});
    if !is_terminated(pod) {
        status["phase"] = json!("Failed");
    }
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
    let patch = json!({"status": status});
    if let Err(err) =
        api.patch_status(&pod.name_any(), &PatchParams::default(), &Patch::Strategic(&patch)).await
    {
        tracing::debug!(error = %err, pod = %pod.name_any(), "podgc: marking the pod failed");
    }
}

/// Deletes with grace 0, conditional on the uid.
async fn force_delete(client: &kube::Client, pod: &Pod) {
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions { uid: pod.metadata.uid.clone(), resource_version: None }),
        ..Default::default()
    };
    match api.delete(&pod.name_any(), &params).await {
        Ok(_) => tracing::debug!(pod = %pod.name_any(), "podgc: deleted"),
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
        Err(err) => tracing::debug!(error = %err, pod = %pod.name_any(), "podgc: deleting"),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::{
        api::core::v1::{PodSpec, PodStatus},
        apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time},
    };

    use super::*;

    fn pod(name: &str, node: &str, phase: &str, created: i64) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                creation_timestamp: Some(Time(jiff::Timestamp::from_second(created).unwrap())),
                ..Default::default()
            },
            spec: Some(PodSpec { node_name: Some(node.into()), ..Default::default() }),
            status: Some(PodStatus { phase: Some(phase.into()), ..Default::default() }),
        })
    }

    #[test]
    fn the_oldest_finished_pods_past_the_threshold_go() {
        let pods = [
            pod("new", "n", "Succeeded", 30),
            pod("old", "n", "Failed", 10),
            pod("running", "n", "Running", 0),
            pod("mid", "n", "Succeeded", 20),
        ];
        let names: Vec<String> = terminated_to_delete(&pods, 1).iter().map(|p| p.name_any()).collect();
        assert_eq!(names, ["old", "mid"]);
        assert!(terminated_to_delete(&pods, 3).is_empty());
        assert!(terminated_to_delete(&pods, 0).is_empty(), "0 keeps every finished pod");
    }

    #[test]
    fn nodes_missing_from_the_cache_are_suspects() {
        let pods =
            [pod("a", "gone", "Running", 0), pod("b", "here", "Running", 0), pod("c", "", "Pending", 0)];
        let nodes = HashSet::from(["here".to_string()]);
        assert_eq!(missing_nodes(&pods, &nodes), BTreeSet::from(["gone".to_string()]));
    }
}
