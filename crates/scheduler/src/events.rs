//! What the scheduler tells users: events through events.k8s.io/v1 (reporting controller
//! `default-scheduler`, as upstream's) and the pod's `PodScheduled` condition through the
//! status subresource. Both are best effort and never hold up scheduling.

use std::sync::Arc;

use k8s_openapi::{
    api::{
        core::v1::{ObjectReference, Pod},
        events::v1::Event,
    },
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
};
use tokio::sync::Semaphore;

use crate::pod_info::PodInfo;

pub const REPORTING_CONTROLLER: &str = "default-scheduler";
/// Writes in flight at once; the rest wait their turn.
const MAX_IN_FLIGHT: usize = 64;

#[derive(Clone)]
pub struct Recorder {
    client: Client,
    instance: String,
    permits: Arc<Semaphore>,
}

impl Recorder {
    pub fn new(client: Client, instance: String) -> Recorder {
        Recorder { client, instance, permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)) }
    }

    /// "Scheduled": "Successfully assigned ns/pod to node".
    pub fn scheduled(&self, pod: &PodInfo, node: &str) {
        let note = format!("Successfully assigned {}/{} to {node}", pod.namespace, pod.name);
        self.event(pod, "Normal", "Scheduled", "Binding", note);
    }

    /// "FailedScheduling" with upstream's message.
    pub fn failed(&self, pod: &PodInfo, message: &str) {
        self.event(pod, "Warning", "FailedScheduling", "Scheduling", message.to_string());
    }

    fn event(&self, pod: &PodInfo, type_: &str, reason: &str, action: &str, note: String) {
        let now = Timestamp::now();
        let event = Event {
            metadata: ObjectMeta {
                // Upstream's recorder names events "<object>.<hex nanoseconds>".
                name: Some(format!("{}.{:x}", pod.name, now.as_nanosecond())),
                namespace: Some(pod.namespace.clone()),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(now)),
            reporting_controller: Some(REPORTING_CONTROLLER.into()),
            reporting_instance: Some(self.instance.clone()),
            action: Some(action.into()),
            reason: Some(reason.into()),
            note: Some(note),
            type_: Some(type_.into()),
            regarding: Some(ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                namespace: Some(pod.namespace.clone()),
                name: Some(pod.name.clone()),
                uid: Some(pod.uid.clone()),
                ..ObjectReference::default()
            }),
            ..Event::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &pod.namespace);
        let permits = self.permits.clone();
        tokio::spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else { return };
            if let Err(err) = api.create(&PostParams::default(), &event).await {
                tracing::debug!(%err, "writing a scheduler event");
            }
        });
    }

    /// Sets `PodScheduled=False`, reason Unschedulable, and optionally the nominated node.
    pub fn unschedulable(&self, pod: &PodInfo, message: &str, nominated_node: Option<&str>) {
        let mut status = serde_json::json!({
            "conditions": [{
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
                "lastProbeTime": null,
                "lastTransitionTime": Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            }]
        });
        if let Some(node) = nominated_node {
            status["nominatedNodeName"] = node.into();
        }
        self.patch_status(pod, serde_json::json!({"status": status}));
    }

    fn patch_status(&self, pod: &PodInfo, patch: serde_json::Value) {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace);
        let name = pod.name.clone();
        let permits = self.permits.clone();
        tokio::spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else { return };
            if let Err(err) = api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(patch)).await
            {
                tracing::debug!(%err, pod = %name, "updating the PodScheduled condition");
            }
        });
    }

    /// Evicts a preemption victim as upstream's preemption does: marks it with a
    /// `DisruptionTarget` condition (reason `PreemptionByScheduler`), then deletes it.
    pub fn evict(&self, victim: &PodInfo, preemptor: &PodInfo, node: &str) {
        let note = format!("Preempted by pod {} on node {node}", preemptor.uid);
        self.event(victim, "Normal", "Preempted", "Preempting", note);
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &victim.namespace);
        let name = victim.name.clone();
        let condition = serde_json::json!({"status": {"conditions": [{
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "PreemptionByScheduler",
            "message": format!("{}: preempting to accommodate a higher priority pod", preemptor.scheduler_name),
            "lastTransitionTime": Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }]}});
        tokio::spawn(async move {
            match api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(condition)).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => return,
                Err(err) => {
                    // Upstream gives up on the victim rather than delete it unmarked.
                    tracing::warn!(%err, pod = %name, "marking a preemption victim");
                    return;
                }
            }
            if let Err(err) = api.delete(&name, &Default::default()).await {
                tracing::warn!(%err, pod = %name, "deleting a preemption victim");
            }
        });
    }
}
