//! Tugboat's scheduler: binds pods to nodes as kube-scheduler does, as a client of the API
//! (watches for nodes and pods, `pods/binding` to bind, events and conditions to explain).

pub mod bind;
pub mod events;
pub mod fit_error;
pub mod framework;
pub mod labels;
pub mod matching;
pub mod namespaces;
pub mod plugins;
pub mod pod_info;
pub mod preemption;
pub mod quantity;
pub mod queue;
pub mod schedule_one;
pub mod scheduler;
pub mod snapshot;

use kube::Client;

pub use scheduler::SCHEDULER_NAME;

/// The Lease the scheduler leads by, upstream's name and namespace.
pub const LEASE_NAMESPACE: &str = "kube-system";
pub const LEASE_NAME: &str = "kube-scheduler";

/// The thread the scheduling loop runs on while leading (its CPU shows apart in /proc).
pub const THREAD_NAME: &str = "tug-scheduler";

/// Runs the scheduler: waits to lead (a Lease in kube-system), schedules while leading, and
/// when the lease is lost stops scheduling (the loop, its watches and bindings in flight, on
/// a runtime of their own) and waits to lead again.
///
/// # Errors
/// Only if the scheduler cannot run at all; API errors are retried.
pub async fn run(client: Client, identity: String) -> anyhow::Result<()> {
    let elector = tug_leader::LeaderElector::new(
        client.clone(),
        LEASE_NAMESPACE,
        LEASE_NAME,
        &identity,
        Default::default(),
    );
    elector
        .lead_forever(THREAD_NAME, 1, move || async move {
            let instance = format!("{}-{}", events::REPORTING_CONTROLLER, hostname());
            scheduler::Scheduler::new(client, instance).run().await
        })
        .await
}

use tug_leader::hostname;
pub use tug_leader::identity;
