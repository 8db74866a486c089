//! Liveness, readiness and startup probes of the real node's containers, as upstream's prober
//! manager: one task per container and probe kind ([`worker`]), which probes on its own period
//! and records results here; the pod worker reads them at each sync (ready, started, and
//! containers to kill) and is woken when one changes. Probes never run inside a pod's sync, so a
//! slow probe delays no pod.
//!
//! [`action`] runs one probe (exec, httpGet, tcpSocket, grpc); [`http`] is the GET that probes
//! and lifecycle hooks share.

pub mod action;
mod grpc;
pub mod http;
pub mod worker;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use tokio::{
    sync::{Notify, watch},
    task::JoinHandle,
    time::Instant,
};

use super::worker::Note;
use crate::runtime::Runtime;

/// Which probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Liveness,
    Readiness,
    Startup,
}

impl Kind {
    /// As upstream's events name it (`Liveness probe failed: ...`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
            Kind::Startup => "Startup",
        }
    }

    fn of(self, c: &Container) -> Option<&Probe> {
        match self {
            Kind::Liveness => c.liveness_probe.as_ref(),
            Kind::Readiness => c.readiness_probe.as_ref(),
            Kind::Startup => c.startup_probe.as_ref(),
        }
    }
}

/// One probe run's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// A success with something to report (an HTTP redirect not followed).
    Warning,
    Failure,
}

/// A probe kind's standing result for one container run (`Unknown` until decided: startup).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Unknown,
    Success,
    Failure,
}

/// The container run a prober probes: the newest run of its container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub container_id: String,
    pub running: bool,
    /// Exited and not to be started again: the prober stops.
    pub finished: bool,
    /// When the run started, on tokio's clock (initial delays count from it).
    pub started_at: Instant,
    pub pod_ip: String,
}

/// What the probes say of a container's current run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Health {
    /// The startup probe has passed (or there is none).
    pub started: bool,
    /// Started, and the readiness probe passes (or there is none).
    pub ready: bool,
}

/// What the pod worker and the probers share.
#[derive(Debug, Default)]
struct Shared {
    targets: HashMap<String, Target>,
    results: HashMap<(String, Kind), (String, Standing)>,
    notes: Vec<Note>,
    /// The pod is being deleted: liveness and startup probers stop.
    deleting: bool,
}

/// The probe workers of one pod and their results.
pub struct ProbeSet {
    runtime: Arc<dyn Runtime>,
    shared: Arc<Mutex<Shared>>,
    /// Wakes the pod's task when a result or a note arrives.
    wake: Arc<Notify>,
    /// Tells the probers that the targets changed (a new run to probe at once).
    poke: watch::Sender<u64>,
    /// The kinds of probe each container has, once the workers were started.
    kinds: Option<HashMap<String, Vec<Kind>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for ProbeSet {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ProbeSet {
    pub fn new(runtime: Arc<dyn Runtime>) -> ProbeSet {
        ProbeSet {
            runtime,
            shared: Arc::default(),
            wake: Arc::new(Notify::new()),
            poke: watch::channel(0).0,
            kinds: None,
            tasks: Vec::new(),
        }
    }

    /// Notified when a probe result changes or an event is waiting.
    pub fn wakeups(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Starts a worker per probe of the pod's regular containers, once.
    pub fn start(&mut self, pod: &Pod) {
        if self.kinds.is_some() {
            return;
        }
        let spec = pod.spec.clone().unwrap_or_default();
        let mut kinds = HashMap::new();
        for c in &spec.containers {
            let has: Vec<Kind> = [Kind::Startup, Kind::Readiness, Kind::Liveness]
                .into_iter()
                .filter(|k| k.of(c).is_some())
                .collect();
            for kind in &has {
                let Some(probe) = kind.of(c) else { continue };
                let config = worker::Config {
                    kind: *kind,
                    container: c.clone(),
                    probe: probe.clone(),
                    has_startup: c.startup_probe.is_some(),
                };
                let prober = worker::Prober {
                    config,
                    runtime: self.runtime.clone(),
                    shared: self.shared.clone(),
                    wake: self.wake.clone(),
                };
                self.tasks.push(tokio::spawn(prober.run(self.poke.subscribe())));
            }
            if !has.is_empty() {
                kinds.insert(c.name.clone(), has);
            }
        }
        self.kinds = Some(kinds);
    }

    /// Publishes the runs to probe, by container name; probers see a new run at once.
    pub fn set_targets(&self, targets: HashMap<String, Target>) {
        let changed = {
            let mut shared = lock(&self.shared);
            let changed = shared.targets != targets;
            shared.targets = targets;
            changed
        };
        if changed {
            self.poke.send_modify(|n| *n += 1);
        }
    }

    /// The pod is being deleted: liveness and startup probes stop, as upstream's.
    pub fn deleting(&self) {
        lock(&self.shared).deleting = true;
        self.poke.send_modify(|n| *n += 1);
    }

    /// What the probes say of run `container_id` of `name`; `None` if it has no probes.
    pub fn health(&self, name: &str, container_id: &str) -> Option<Health> {
        let kinds = self.kinds.as_ref()?.get(name)?;
        let shared = lock(&self.shared);
        let passed = |kind| {
            shared
                .results
                .get(&(name.to_string(), kind))
                .is_some_and(|(id, s)| id == container_id && *s == Standing::Success)
        };
        let started = !kinds.contains(&Kind::Startup) || passed(Kind::Startup);
        let ready = started && (!kinds.contains(&Kind::Readiness) || passed(Kind::Readiness));
        Some(Health { started, ready })
    }

    /// The probe (liveness or startup) that failed run `container_id` of `name`, if any: the
    /// run is to be killed.
    pub fn failed(&self, name: &str, container_id: &str) -> Option<Kind> {
        let shared = lock(&self.shared);
        [Kind::Liveness, Kind::Startup].into_iter().find(|kind| {
            shared
                .results
                .get(&(name.to_string(), *kind))
                .is_some_and(|(id, s)| id == container_id && *s == Standing::Failure)
        })
    }

    /// The probers' events since the last call.
    pub fn take_notes(&self) -> Vec<Note> {
        std::mem::take(&mut lock(&self.shared).notes)
    }

    /// Stops every prober.
    pub fn stop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}
