//! Tugboat's scheduler: binds pods to nodes as kube-scheduler does, as a client of the API
//! (watches for nodes and pods, `pods/binding` to bind, events and conditions to explain).

pub mod bind;
pub mod events;
pub mod fit_error;
pub mod framework;
pub mod labels;
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

/// Runs the scheduler: waits to lead (a Lease in kube-system), schedules while leading, and
/// waits to lead again if the lease is lost.
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
    loop {
        elector.acquire().await;
        let instance = format!("{}-{}", events::REPORTING_CONTROLLER, hostname());
        let scheduler = scheduler::Scheduler::new(client.clone(), instance);
        tokio::select! {
            () = elector.hold() => tracing::warn!("lost the scheduler lease; scheduling paused until it is regained"),
            result = scheduler.run() => return result,
        }
    }
}

use tug_leader::hostname;
pub use tug_leader::identity;
