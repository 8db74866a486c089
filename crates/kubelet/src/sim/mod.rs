//! Simulated nodes: many nodes in one process whose pods run no code, for testing the control
//! plane at scale (what kubemark and kwok do upstream).
//!
//! [`Simulator::start`] registers the nodes, then runs two tasks for all of them: the heartbeat
//! ([`heartbeat`]) and the pod runtime ([`pods`]), which plays each pod through the life its
//! annotations script ([`script`], [`pod`]).

pub mod admission;
pub mod heartbeat;
pub mod logs;
pub mod nodes;
pub mod pod;
pub mod pods;
pub mod probes;
pub mod script;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::{Context, Result};
use kube::Client;
use tokio::{sync::watch, task::JoinHandle};

use crate::node::{Capacity, HostRelease, Taint};

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub nodes: u32,
    /// Node `i` is named `<prefix><i>`.
    pub name_prefix: String,
    pub capacity: Capacity,
    /// Labels on every node, besides the well-known ones.
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    /// Requests in flight at once, per task (registration and heartbeats; pod status writes).
    pub concurrency: usize,
    /// The host's release, reported by every node.
    pub host: HostRelease,
    /// Serve the nodes' kubelet endpoint (container logs), shared by all of them.
    pub serve: Option<ServeConfig>,
    /// `host:port` of that endpoint, published on every Node (set by [`Simulator::start`]).
    pub kubelet_endpoint: Option<String>,
}

/// The simulated nodes' kubelet server.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Where it listens; port 0 picks a free one. The API server must reach this address.
    pub addr: SocketAddr,
    /// Root of the containers' CRI log files (emptied at start).
    pub log_dir: PathBuf,
    /// The bearer token the API server presents: the join token.
    pub token: String,
}

impl SimConfig {
    /// `nodes` nodes with kwok-like defaults: 4 CPUs, 16 GiB, 110 pods.
    pub fn new(nodes: u32) -> SimConfig {
        SimConfig {
            nodes,
            name_prefix: "sim-node-".into(),
            capacity: Capacity::default(),
            labels: BTreeMap::from([(SIMULATED_LABEL.to_string(), "true".to_string())]),
            taints: Vec::new(),
            concurrency: 64,
            host: HostRelease::read(),
            serve: None,
            kubelet_endpoint: None,
        }
    }

    pub fn node_name(&self, index: u32) -> String {
        format!("{}{index}", self.name_prefix)
    }
}

/// Marks simulated nodes, so that workloads can be kept on or off them.
pub const SIMULATED_LABEL: &str = "sim.tugboat.dev/simulated";

/// Counters of what the simulator did.
#[derive(Debug, Default)]
pub struct Stats {
    pub lease_renewals: AtomicU64,
    pub node_status_reports: AtomicU64,
    pub pods_admitted: AtomicU64,
    pub pods_rejected: AtomicU64,
    pub status_writes: AtomicU64,
    pub pod_deletes: AtomicU64,
    pub errors: AtomicU64,
}

impl Stats {
    /// One line for logs.
    pub fn summary(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "lease renewals {}, node status reports {}, pods admitted {}, pods rejected {}, pod status writes {}, pod deletes {}, errors {}",
            get(&self.lease_renewals),
            get(&self.node_status_reports),
            get(&self.pods_admitted),
            get(&self.pods_rejected),
            get(&self.status_writes),
            get(&self.pod_deletes),
            get(&self.errors)
        )
    }
}

/// Starts simulated nodes.
pub struct Simulator;

impl Simulator {
    /// Registers `config.nodes` nodes through `client`, then heartbeats them and runs their
    /// pods in the background until the handle is stopped or dropped.
    ///
    /// # Errors
    /// If a node cannot be registered.
    pub async fn start(client: Client, mut config: SimConfig) -> Result<SimHandle> {
        let mut tasks = Vec::new();
        let mut logs = None;
        if let Some(serve) = config.serve.clone() {
            let sim_logs = Arc::new(
                logs::SimLogs::new(serve.log_dir.clone())
                    .with_context(|| format!("preparing the log directory {}", serve.log_dir.display()))?,
            );
            let server = crate::logs::server::AgentServer {
                log_dir: serve.log_dir,
                token: serve.token,
                liveness: sim_logs.clone(),
                streaming: None,
                metrics: None,
                port_forward: None,
            };
            let names = vec!["localhost".to_string(), serve.addr.ip().to_string()];
            let (bound, task) =
                server.start(serve.addr, names).await.context("starting the kubelet server")?;
            let host =
                if bound.ip().is_unspecified() { "127.0.0.1".to_string() } else { bound.ip().to_string() };
            config.kubelet_endpoint = Some(SocketAddr::new(host.parse()?, bound.port()).to_string());
            tasks.push(task);
            logs = Some(sim_logs);
        }
        let config = Arc::new(config);
        let table =
            Arc::new(nodes::register_all(&client, &config).await.context("registering simulated nodes")?);
        let stats = Arc::new(Stats::default());
        let (shutdown, stopped) = watch::channel(false);
        let allocatable = admission::Allocatable::from_list(&config.capacity.allocatable());
        let pods = tokio::spawn(pods::run(
            client.clone(),
            table.clone(),
            allocatable,
            config.concurrency,
            stats.clone(),
            logs,
            stopped.clone(),
        ));
        let heartbeat =
            tokio::spawn(heartbeat::run(client, config.clone(), table.clone(), stats.clone(), stopped));
        let names = table.nodes.iter().map(|n| n.name.clone()).collect();
        tasks.extend([pods, heartbeat]);
        Ok(SimHandle { shutdown, tasks, names, stats })
    }
}

/// Running simulated nodes. Dropping the handle stops them (their Nodes stay registered and
/// go stale, as when kubelets stop).
pub struct SimHandle {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    names: Vec<String>,
    stats: Arc<Stats>,
}

impl SimHandle {
    pub fn node_names(&self) -> &[String] {
        &self.names
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Stops heartbeats and pods and waits for the tasks to end.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}
