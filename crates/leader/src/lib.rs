//! Leader election on a coordination.k8s.io Lease, as client-go's leaderelection: whoever holds
//! an unexpired lease leads; the leader renews it, others retry until it expires. Knows
//! nothing of what it guards, so that the controllers can use it too.

pub mod term;

use std::time::Duration;

use anyhow::Context;
use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{Api, Client, api::PostParams};

/// Upstream's defaults for kube-scheduler and kube-controller-manager.
#[derive(Clone, Debug)]
pub struct Timings {
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    timings: Timings,
}

impl LeaderElector {
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        timings: Timings,
    ) -> LeaderElector {
        LeaderElector {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            timings,
        }
    }

    /// Returns once this identity holds the lease.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(lease = %self.name, identity = %self.identity, "acquired the lease");
                    return;
                }
                Ok(false) => {}
                Err(err) => tracing::debug!(lease = %self.name, "acquiring the lease: {err:#}"),
            }
            tokio::time::sleep(self.timings.retry_period).await;
        }
    }

    /// Leads for as long as this runs: campaigns, runs `lead()` for the term (see
    /// [`term::run_term`]), and when the lease is lost stops it, every task it spawned with it,
    /// and campaigns again, as a restarted upstream component would.
    ///
    /// # Errors
    /// What `lead()` returns when it ends by itself, or a failure to start a term's thread.
    pub async fn lead_forever<F, Fut>(&self, name: &str, workers: usize, lead: F) -> anyhow::Result<()>
    where
        F: FnOnce() -> Fut + Clone + Send + 'static,
        Fut: std::future::Future<Output = anyhow::Result<()>> + 'static,
    {
        loop {
            self.acquire().await;
            match term::run_term(name, workers, lead.clone(), self.hold()).await? {
                term::TermEnd::Lost => {
                    tracing::warn!(lease = %self.name, "lost the lease: stopped leading; campaigning again")
                }
                term::TermEnd::Finished(result) => return result,
            }
        }
    }

    /// Renews the lease every retry period; returns when it could not be renewed within the
    /// renew deadline (leadership is lost: the caller must stop leading).
    pub async fn hold(&self) {
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.timings.retry_period).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewed = tokio::time::Instant::now(),
                Ok(false) => {
                    tracing::warn!(lease = %self.name, "another holder took the lease");
                    return;
                }
                Err(err) => tracing::warn!(lease = %self.name, "renewing the lease: {err:#}"),
            }
            if last_renewed.elapsed() >= self.timings.renew_deadline {
                tracing::warn!(lease = %self.name, "could not renew the lease in time");
                return;
            }
        }
    }

    /// One attempt: `Ok(true)` when this identity holds the lease afterwards.
    async fn try_acquire_or_renew(&self) -> anyhow::Result<bool> {
        let now = Timestamp::now();
        let duration_secs = self.timings.lease_duration.as_secs() as i32;
        let Some(mut lease) = self.api.get_opt(&self.name).await.context("reading the lease")? else {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(self.name.clone()), ..ObjectMeta::default() },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(duration_secs),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(err) => Err(err).context("creating the lease"),
            };
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let ours = holder == self.identity;
        if !ours && !holder.is_empty() {
            let renewed = spec.renew_time.as_ref().map(|t| t.0).unwrap_or(Timestamp::UNIX_EPOCH);
            let held_for = spec.lease_duration_seconds.unwrap_or(duration_secs).max(0) as i64;
            if renewed.as_second() + held_for > now.as_second() {
                return Ok(false);
            }
        }
        if !ours {
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            spec.holder_identity = Some(self.identity.clone());
        }
        spec.renew_time = Some(MicroTime(now));
        spec.lease_duration_seconds = Some(duration_secs);
        // The resourceVersion read above makes this a compare-and-swap.
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(err) => Err(err).context("updating the lease"),
        }
    }
}

/// A leader-election identity for this process: `<hostname>_<random>`, as upstream's.
pub fn identity() -> String {
    format!("{}_{:016x}", hostname(), fastrand::u64(..))
}

/// This machine's host name (`tug` if it cannot be read).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "tug".into())
}
