//! Kubernetes controllers, as API clients: shared informers feed work queues, and each
//! controller reconciles one kind of object towards its spec, as upstream's
//! kube-controller-manager does. Nothing here reads the datastore.

pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod discovery;
pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod events;
pub mod expectations;
pub mod gc;
pub mod history;
pub mod informer;
pub mod job;
pub mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod owner;
pub mod podgc;
pub mod pods;
pub mod queue;
pub mod replicaset;
pub mod rootca;
pub mod runner;
pub mod serviceaccount;
pub mod statefulset;
pub mod ttl;

use k8s_openapi::api::{apps::v1::ReplicaSet, core::v1::ReplicationController};

use informer::Informers;

/// Which controllers run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Controller names to leave off (`replicaset`, `replicationcontroller`, ...).
    pub disabled: Vec<String>,
    /// How long a node may stay silent before it is Unknown (upstream's
    /// `--node-monitor-grace-period`, 50 s).
    pub node_monitor_grace_period: std::time::Duration,
    /// The range node pod CIDRs come from (k3s's `--cluster-cidr`, 10.42.0.0/16).
    pub cluster_cidr: String,
    /// How many finished pods may exist before the oldest are deleted (upstream's
    /// `--terminated-pod-gc-threshold`, 12,500; 0 keeps them all).
    pub terminated_pod_gc_threshold: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            disabled: Vec::new(),
            node_monitor_grace_period: std::time::Duration::from_secs(50),
            cluster_cidr: nodeipam::DEFAULT_CLUSTER_CIDR.to_string(),
            terminated_pod_gc_threshold: podgc::TERMINATED_POD_THRESHOLD,
        }
    }
}

/// Names of the controllers, as `--disable-controller` takes them.
pub const NAMES: &[&str] = &[
    "deployment",
    "replicaset",
    "replicationcontroller",
    "nodelifecycle",
    "nodeipam",
    "statefulset",
    "daemonset",
    "endpoint",
    "endpointslice",
    "job",
    "cronjob",
    "ttl-after-finished",
    GARBAGE_COLLECTOR,
    "namespace",
    "serviceaccount",
    "root-ca-cert-publisher",
    "podgc",
    "disruption",
];

/// The garbage collector's name: the API server adds `orphan` and `foregroundDeletion`
/// finalizers only when it runs.
pub const GARBAGE_COLLECTOR: &str = "garbagecollector";

/// The thread the controllers run on while leading (their CPU shows apart in /proc).
pub const THREAD_NAME: &str = "tug-controllers";

/// The Lease the controller manager leads by, as upstream's.
pub const LEASE_NAME: &str = "kube-controller-manager";

/// Waits to lead (the `kube-controller-manager` Lease in kube-system), then runs every
/// enabled controller on a runtime of their own (one thread, named as the caller's:
/// `tug-controllers`). Upstream's controller manager exits when it
/// loses the lease; here the runtime is shut down instead (every controller, informer and
/// sync in flight stops) and the campaign starts again, so that two servers never both act.
///
/// # Errors
/// Only if the controllers' thread cannot be started.
pub async fn run(client: kube::Client, options: Options) -> anyhow::Result<()> {
    let elector = tug_leader::LeaderElector::new(
        client.clone(),
        "kube-system",
        LEASE_NAME,
        &tug_leader::identity(),
        Default::default(),
    );
    elector
        .lead_forever(THREAD_NAME, 1, move || async move {
            let _informers = start(client, &options);
            std::future::pending::<anyhow::Result<()>>().await
        })
        .await
}

/// Starts every enabled controller on `client`; they run until the runtime stops.
pub fn start(client: kube::Client, options: &Options) -> informer::Informers {
    let informers = Informers::new(client);
    let on = |name: &str| !options.disabled.iter().any(|d| d == name);
    if on("replicaset") {
        replicaset::Controller::<ReplicaSet>::start(&informers);
    }
    if on("deployment") {
        deployment::Controller::start(&informers);
    }
    if on("replicationcontroller") {
        replicaset::Controller::<ReplicationController>::start(&informers);
    }
    if on("nodelifecycle") {
        nodelifecycle::Controller::start(&informers, options.node_monitor_grace_period);
    }
    if on("nodeipam")
        && let Err(err) =
            nodeipam::Controller::start(&informers, &options.cluster_cidr, nodeipam::DEFAULT_NODE_MASK)
    {
        // The server checks --cluster-cidr before it gets here.
        tracing::error!(error = %err, "node IPAM controller not started");
    }
    if on("statefulset") {
        statefulset::Controller::start(&informers);
    }
    if on("daemonset") {
        daemonset::Controller::start(&informers);
    }
    if on("endpoint") {
        endpoints::EndpointsSync::start(&informers);
    }
    if on("endpointslice") {
        endpointslice::EndpointSliceSync::start(&informers);
    }
    if on("job") {
        job::Controller::start(&informers);
    }
    if on("cronjob") {
        cronjob::Controller::start(&informers);
    }
    if on("ttl-after-finished") {
        ttl::Controller::start(&informers);
    }
    if on(GARBAGE_COLLECTOR) {
        gc::GarbageCollector::start(&informers);
    }
    if on("namespace") {
        namespace::Controller::start(&informers);
    }
    if on("serviceaccount") {
        serviceaccount::Controller::start(&informers);
    }
    if on("root-ca-cert-publisher") {
        rootca::Controller::start(&informers);
    }
    if on("podgc") {
        podgc::start(&informers, options.terminated_pod_gc_threshold);
    }
    if on("disruption") {
        disruption::Controller::start(&informers);
    }
    informers
}
