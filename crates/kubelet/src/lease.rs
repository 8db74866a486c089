//! The node heartbeat: a Lease named after the node in `kube-node-lease`, renewed every 10 s.
//!
//! As upstream's kubelet: `leaseDurationSeconds` 40 (`nodeLeaseDurationSeconds`), renewed at a
//! quarter of it, owned by the Node so that deleting the Node removes it. The node's status is
//! reported far less often (every [`NODE_STATUS_REPORT`]) since the Lease says it is alive.

use std::time::Duration;

use anyhow::{Context, Result};
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use kube::{
    Api,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::json;

use crate::time::rfc3339_micros;

pub const NAMESPACE: &str = "kube-node-lease";
pub const LEASE_DURATION_SECONDS: i32 = 40;
/// How often the lease is renewed: a quarter of its duration, as upstream.
pub const RENEW_INTERVAL: Duration = Duration::from_secs(10);
/// How often the node status is posted when nothing changed (`nodeStatusReportFrequency`).
pub const NODE_STATUS_REPORT: Duration = Duration::from_secs(300);

/// What renewing a lease found.
#[derive(Debug, PartialEq, Eq)]
pub enum Renewal {
    Renewed,
    /// The lease is gone; [`create`] it again.
    Missing,
}

/// Renews the lease of `node`.
///
/// # Errors
/// On API errors other than NotFound.
pub async fn renew(leases: &Api<Lease>, node: &str, now: Timestamp) -> Result<Renewal> {
    let patch = json!({"spec": {"holderIdentity": node, "renewTime": rfc3339_micros(now)}});
    match leases.patch(node, &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => Ok(Renewal::Renewed),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Renewal::Missing),
        Err(e) => Err(e).with_context(|| format!("renewing the lease of node {node}")),
    }
}

/// Creates the lease of `node` (whose uid is `node_uid`), or renews it if it exists.
///
/// # Errors
/// On API errors.
pub async fn create(leases: &Api<Lease>, node: &str, node_uid: &str, now: Timestamp) -> Result<()> {
    let lease: Lease = serde_json::from_value(json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": node,
            "namespace": NAMESPACE,
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid}],
        },
        "spec": {
            "holderIdentity": node,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": rfc3339_micros(now),
        },
    }))
    .context("building a Lease")?;
    match leases.create(&PostParams::default(), &lease).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => renew(leases, node, now).await.map(|_| ()),
        Err(e) => Err(e).with_context(|| format!("creating the lease of node {node}")),
    }
}
