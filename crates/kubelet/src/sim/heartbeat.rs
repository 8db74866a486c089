//! Heartbeats for every simulated node from one task: leases renewed every 10 s and node status
//! reported every 5 minutes, spread evenly over the interval so that 10,000 nodes make a steady
//! 1,000 renewals a second rather than bursts.

use std::sync::{Arc, atomic::Ordering};

use jiff::Timestamp;
use k8s_openapi::api::{coordination::v1::Lease, core::v1::Node};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use tokio::sync::{Semaphore, watch};

use super::{SimConfig, Stats, nodes};
use crate::{
    lease::{self, NODE_STATUS_REPORT, RENEW_INTERVAL, Renewal},
    node,
};

/// The renewal interval is cut into this many slots; each tick serves one slot.
const SLOTS: u32 = 100;

/// Runs until `shutdown` turns true.
pub async fn run(
    client: Client,
    config: Arc<SimConfig>,
    table: nodes::SharedTable,
    stats: Arc<Stats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let leases: Api<Lease> = Api::namespaced(client.clone(), lease::NAMESPACE);
    let nodes_api: Api<Node> = Api::all(client.clone());
    let rounds_per_report = (NODE_STATUS_REPORT.as_secs() / RENEW_INTERVAL.as_secs()).max(1) as u32;
    let mut ticker = tokio::time::interval(RENEW_INTERVAL / SLOTS);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Registration just renewed every lease; the first tick is a round later.
    let mut tick: u64 = u64::from(SLOTS);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = ticker.tick() => {}
        }
        let slot = (tick % u64::from(SLOTS)) as u32;
        let round = (tick / u64::from(SLOTS)) as u32;
        tick += 1;
        for index in (slot..table.len() as u32).step_by(SLOTS as usize) {
            // Waiting for a permit slows the loop down when the server is slow: back-pressure
            // instead of a pile of requests.
            let permit = tokio::select! {
                _ = shutdown.changed() => return,
                permit = permits.clone().acquire_owned() => permit,
            };
            let Ok(permit) = permit else { return };
            let report_status = (round + index / SLOTS).is_multiple_of(rounds_per_report);
            let (client, config, table, stats) =
                (client.clone(), config.clone(), table.clone(), stats.clone());
            let (leases, nodes_api) = (leases.clone(), nodes_api.clone());
            tokio::spawn(async move {
                let _permit = permit;
                beat(&client, &config, &table, &stats, &leases, &nodes_api, index, report_status).await;
            });
        }
    }
}

/// One heartbeat of node `index`: renew its lease (recreating it, or the whole node, if gone)
/// and, when due, report its status.
#[allow(clippy::too_many_arguments)]
async fn beat(
    client: &Client,
    config: &SimConfig,
    table: &nodes::NodeTable,
    stats: &Stats,
    leases: &Api<Lease>,
    nodes_api: &Api<Node>,
    index: u32,
    report_status: bool,
) {
    let node = table.get(index);
    let now = Timestamp::now();
    if report_status {
        let patch = node::heartbeat_patch(now);
        match nodes_api.patch_status(&node.name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
            Ok(_) => {
                stats.node_status_reports.fetch_add(1, Ordering::Relaxed);
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {
                reregister(client, config, node, index, stats).await;
                return;
            }
            Err(e) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(node = %node.name, error = %e, "reporting node status");
            }
        }
    }
    let result = match lease::renew(leases, &node.name, now).await {
        Ok(Renewal::Renewed) => Ok(()),
        Ok(Renewal::Missing) => {
            let uid = node.uid.lock().map(|u| u.clone()).unwrap_or_default();
            lease::create(leases, &node.name, &uid, now).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            stats.lease_renewals.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            stats.errors.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(node = %node.name, error = %format!("{e:#}"), "renewing the node lease");
        }
    }
}

/// The Node was deleted under us: register it again, as a restarted kubelet would.
async fn reregister(client: &Client, config: &SimConfig, node: &nodes::SimNode, index: u32, stats: &Stats) {
    match nodes::register(client, config, index).await {
        Ok(registered) => {
            let uid = registered.uid.lock().map(|u| u.clone()).unwrap_or_default();
            if let Ok(mut current) = node.uid.lock() {
                *current = uid;
            }
            tracing::info!(node = %node.name, "registered the node again after it was deleted");
        }
        Err(e) => {
            stats.errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(node = %node.name, error = %format!("{e:#}"), "registering the node again");
        }
    }
}
