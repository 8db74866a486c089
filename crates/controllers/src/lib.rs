//! Kubernetes controllers, as API clients: shared informers feed work queues, and each
//! controller reconciles one kind of object towards its spec, as upstream's
//! kube-controller-manager does. Nothing here reads the datastore.

pub mod discovery;
pub mod events;
pub mod expectations;
pub mod gc;
pub mod informer;
pub mod namespace;
pub mod owner;
pub mod podgc;
pub mod pods;
pub mod queue;
pub mod replicaset;
pub mod rootca;
pub mod serviceaccount;

use k8s_openapi::api::{apps::v1::ReplicaSet, core::v1::ReplicationController};

use informer::Informers;

/// Which controllers run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Controller names to leave off (`replicaset`, `replicationcontroller`, ...).
    pub disabled: Vec<String>,
}

/// Names of the controllers, as `--disable-controller` takes them.
pub const NAMES: &[&str] = &[
    "replicaset",
    "replicationcontroller",
    GARBAGE_COLLECTOR,
    "namespace",
    "serviceaccount",
    "root-ca-cert-publisher",
    "podgc",
];

/// The garbage collector's name: the API server adds `orphan` and `foregroundDeletion`
/// finalizers only when it runs.
pub const GARBAGE_COLLECTOR: &str = "garbagecollector";

/// Starts every enabled controller on `client`; they run until the runtime stops.
pub fn start(client: kube::Client, options: &Options) -> informer::Informers {
    let informers = Informers::new(client);
    let on = |name: &str| !options.disabled.iter().any(|d| d == name);
    if on("replicaset") {
        replicaset::Controller::<ReplicaSet>::start(&informers);
    }
    if on("replicationcontroller") {
        replicaset::Controller::<ReplicationController>::start(&informers);
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
        podgc::start(&informers);
    }
    informers
}
