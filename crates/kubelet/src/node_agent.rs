//! The real node's registration and heartbeat: the Node (without a pod range: the server's node
//! IPAM assigns `spec.podCIDR`), its Lease, the CNI config once the range is known, and Ready
//! only when the container runtime says its network is ready, as upstream's kubelet.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use jiff::Timestamp;
use k8s_openapi::api::{coordination::v1::Lease, core::v1::Node};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::json;
use tokio::sync::watch;

use crate::{
    cni::PodNetwork,
    lease::{self, NODE_STATUS_REPORT, RENEW_INTERVAL, Renewal},
    node::NodeSpec,
    node_status::{self, Pressure},
    runtime::{Runtime, proto::RuntimeStatus},
};

/// How often the agent looks again while the node is not ready (waiting for its pod range or
/// for containerd to load the CNI config).
const NOT_READY_POLL: Duration = Duration::from_secs(1);

/// The real node's settings.
#[derive(Clone, Debug)]
pub struct NodeAgentConfig {
    /// The Node to register (`pod_cidr` is ignored: the server assigns it).
    pub spec: NodeSpec,
    /// Where the CNI config goes (containerd's `cni.conf_dir`).
    pub cni_conf_dir: PathBuf,
    /// The agent's data dir, where host-local keeps its address records.
    pub data_dir: PathBuf,
    /// The Linux bridge pods attach to.
    pub bridge: String,
}

/// Why the node is not ready, from the runtime's conditions (`None`: ready). The message is
/// upstream's (`container runtime network not ready: NetworkReady=false reason:... message:...`).
pub fn not_ready_reason(status: &RuntimeStatus) -> Option<String> {
    for kind in ["RuntimeReady", "NetworkReady"] {
        let condition = status.conditions.iter().find(|c| c.r#type == kind);
        if condition.is_some_and(|c| c.status) {
            continue;
        }
        let (reason, message) = condition.map_or(("", ""), |c| (c.reason.as_str(), c.message.as_str()));
        let what = if kind == "RuntimeReady" { "container runtime" } else { "container runtime network" };
        return Some(format!("{what} not ready: {kind}=false reason:{reason} message:{message}"));
    }
    None
}

/// Registers the node and keeps it alive until `shutdown` turns true: the lease every 10 s,
/// the status every 5 minutes or when readiness changes. Returns once the node is registered;
/// the heartbeat runs in the returned task.
///
/// # Errors
/// When the node cannot be registered.
pub async fn start(
    client: Client,
    runtime: Arc<dyn Runtime>,
    config: NodeAgentConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>> {
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client, lease::NAMESPACE);
    let mut agent =
        Agent { nodes, leases, runtime, config, pod_cidr: None, not_ready: None, live: Live::default() };
    // A restarted agent whose CNI config is still in place is ready at once.
    agent.not_ready = agent.check_readiness().await;
    let uid = agent.register(Timestamp::now()).await?;
    agent.lease_create(&uid).await?;
    tracing::info!(node = %agent.config.spec.name, "node registered");
    Ok(tokio::spawn(async move {
        let mut since = Timestamp::now();
        let mut reported = Instant::now();
        let mut renewed = Instant::now();
        loop {
            if let Err(err) = agent.beat(&mut since, &mut reported, &mut renewed).await {
                tracing::warn!("node heartbeat: {err:#}");
            }
            let pause = if agent.not_ready.is_some() { NOT_READY_POLL } else { RENEW_INTERVAL };
            tokio::select! {
                _ = shutdown.changed() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }))
}

struct Agent {
    nodes: Api<Node>,
    leases: Api<Lease>,
    runtime: Arc<dyn Runtime>,
    config: NodeAgentConfig,
    /// The pod range the CNI config was written for.
    pod_cidr: Option<String>,
    /// Why the node is not ready, as last reported.
    not_ready: Option<String>,
    /// The images and pressure conditions as last reported.
    live: Live,
}

/// What changes while the node runs, reported when it changes (`node_status.rs`).
#[derive(Clone, Debug, Default, PartialEq)]
struct Live {
    images: serde_json::Value,
    pressure: Pressure,
}

impl Agent {
    fn name(&self) -> &str {
        &self.config.spec.name
    }

    /// Creates the Node, or takes over an existing one (a restarted agent), and posts its status.
    async fn register(&mut self, now: Timestamp) -> Result<String> {
        let mut spec = self.config.spec.clone();
        spec.pod_cidr = None;
        let object: Node = serde_json::from_value(spec.to_object(now)).context("building a Node")?;
        let uid = match self.nodes.create(&PostParams::default(), &object).await {
            Ok(created) => created.metadata.uid.unwrap_or_default(),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let labels = json!({"metadata": {"labels": spec.all_labels()}});
                let existing = self
                    .nodes
                    .patch(self.name(), &PatchParams::default(), &Patch::Merge(&labels))
                    .await
                    .with_context(|| format!("labelling node {}", self.name()))?;
                existing.metadata.uid.unwrap_or_default()
            }
            Err(e) => return Err(e).with_context(|| format!("registering node {}", self.name())),
        };
        self.post_status(now, now).await?;
        Ok(uid)
    }

    async fn lease_create(&self, uid: &str) -> Result<()> {
        lease::create(&self.leases, self.name(), uid, Timestamp::now()).await
    }

    /// The images on the node and the pressure conditions, read now; on a failed read, what
    /// was last reported.
    async fn read_live(&self) -> Live {
        let images = match self.runtime.list_images().await {
            Ok(images) => node_status::images(&images),
            Err(err) => {
                tracing::warn!("listing the node's images: {err}");
                self.live.images.clone()
            }
        };
        let pressure = match node_status::read(&self.config.data_dir) {
            Ok(readings) => Pressure::from(&readings),
            Err(err) => {
                tracing::warn!("reading the node's memory and disk: {err:#}");
                self.live.pressure
            }
        };
        Live { images, pressure }
    }

    async fn post_status(&self, since: Timestamp, now: Timestamp) -> Result<()> {
        let mut status = self.config.spec.status_with(since, now, self.not_ready.as_deref());
        self.live.pressure.apply(&mut status["conditions"]);
        if !self.live.images.is_null() {
            status["images"] = self.live.images.clone();
        }
        self.nodes
            .patch_status(self.name(), &PatchParams::default(), &Patch::Strategic(&json!({"status": status})))
            .await
            .with_context(|| format!("posting the status of node {}", self.name()))?;
        Ok(())
    }

    /// Writes the CNI config once the server has given the node its pod range, then asks the
    /// runtime whether it is ready.
    async fn check_readiness(&mut self) -> Option<String> {
        if self.pod_cidr.is_none() {
            match self.nodes.get_opt(self.name()).await {
                Ok(Some(node)) => {
                    if let Some(cidr) = node.spec.and_then(|s| s.pod_cidr) {
                        let mut network = PodNetwork::new(&cidr, &self.config.data_dir);
                        network.bridge.clone_from(&self.config.bridge);
                        match network.write(&self.config.cni_conf_dir) {
                            Ok(path) => {
                                tracing::info!(pod_cidr = %cidr, config = %path.display(), "pod network configured");
                                self.pod_cidr = Some(cidr);
                            }
                            Err(err) => return Some(format!("writing the CNI config: {err:#}")),
                        }
                    }
                }
                Ok(None) => {}
                Err(err) => tracing::warn!("reading node {}: {err}", self.name()),
            }
        }
        match self.runtime.status().await {
            Ok(status) => not_ready_reason(&status),
            Err(err) => Some(format!("container runtime status check may not have completed yet: {err}")),
        }
    }

    async fn beat(
        &mut self,
        since: &mut Timestamp,
        reported: &mut Instant,
        renewed: &mut Instant,
    ) -> Result<()> {
        let now = Timestamp::now();
        let not_ready = self.check_readiness().await;
        let live = self.read_live().await;
        let readiness_changed = not_ready.is_some() != self.not_ready.is_some();
        if readiness_changed || live.pressure != self.live.pressure {
            // A condition changed.
            *since = now;
        }
        if readiness_changed {
            match &not_ready {
                None => tracing::info!(node = %self.name(), "node ready"),
                Some(why) => tracing::warn!(node = %self.name(), "node not ready: {why}"),
            }
        }
        if readiness_changed || live != self.live || reported.elapsed() >= NODE_STATUS_REPORT {
            self.not_ready = not_ready;
            self.live = live;
            self.post_status(*since, now).await?;
            *reported = Instant::now();
        }
        if renewed.elapsed() >= RENEW_INTERVAL.saturating_sub(NOT_READY_POLL) {
            if lease::renew(&self.leases, self.name(), now).await? == Renewal::Missing {
                // The lease goes with its Node: register both again.
                let uid = self.register(now).await?;
                self.lease_create(&uid).await?;
            }
            *renewed = Instant::now();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::proto::RuntimeCondition;

    fn condition(kind: &str, status: bool, reason: &str, message: &str) -> RuntimeCondition {
        RuntimeCondition { r#type: kind.into(), status, reason: reason.into(), message: message.into() }
    }

    #[test]
    fn readiness_follows_the_runtime_conditions() {
        let ready = RuntimeStatus {
            conditions: vec![
                condition("RuntimeReady", true, "", ""),
                condition("NetworkReady", true, "", ""),
            ],
        };
        assert_eq!(not_ready_reason(&ready), None);
        let no_cni = RuntimeStatus {
            conditions: vec![
                condition("RuntimeReady", true, "", ""),
                condition(
                    "NetworkReady",
                    false,
                    "NetworkPluginNotReady",
                    "Network plugin returns error: cni plugin not initialized",
                ),
            ],
        };
        assert_eq!(
            not_ready_reason(&no_cni).as_deref(),
            Some(
                "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady \
                 message:Network plugin returns error: cni plugin not initialized"
            )
        );
        let empty = RuntimeStatus { conditions: vec![] };
        assert!(
            not_ready_reason(&empty).unwrap().starts_with("container runtime not ready: RuntimeReady=false")
        );
    }
}
