//! One container's probe of one kind, run on its own period as upstream's prober worker: it
//! waits out `initialDelaySeconds` from the run's start, holds liveness and readiness until the
//! startup probe passes (and startup once it has), counts `successThreshold` /
//! `failureThreshold` consecutive outcomes before a result changes, records an `Unhealthy`
//! event for every failed run, and after a failed liveness or startup result waits for the
//! next run of the container.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use k8s_openapi::api::core::v1::{Container, Probe};
use tokio::{
    sync::{Notify, watch},
    time::{Instant, MissedTickBehavior},
};

use super::{Kind, Outcome, Shared, Standing, action, lock};
use crate::{pods::worker::Note, runtime::Runtime};

/// What a worker probes.
#[derive(Clone, Debug)]
pub struct Config {
    pub kind: Kind,
    pub container: Container,
    pub probe: Probe,
    /// The container has a startup probe, which gates the others.
    pub has_startup: bool,
}

impl Config {
    fn period(&self) -> Duration {
        Duration::from_secs(self.probe.period_seconds.unwrap_or(10).max(1) as u64)
    }

    fn initial_delay(&self) -> Duration {
        Duration::from_secs(self.probe.initial_delay_seconds.unwrap_or(0).max(0) as u64)
    }

    /// The standing of a run before any probe decided: not ready, alive, start unknown.
    fn initial(&self) -> Standing {
        match self.kind {
            Kind::Readiness => Standing::Failure,
            Kind::Liveness => Standing::Success,
            Kind::Startup => Standing::Unknown,
        }
    }
}

/// Consecutive outcomes against the thresholds: pure, as upstream's `resultRun` counting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thresholds {
    success: u32,
    failure: u32,
    last: Option<Outcome>,
    run: u32,
}

impl Thresholds {
    /// Upstream's defaults: one success, three failures.
    pub fn of(probe: &Probe) -> Thresholds {
        Thresholds {
            success: probe.success_threshold.unwrap_or(1).max(1) as u32,
            failure: probe.failure_threshold.unwrap_or(3).max(1) as u32,
            last: None,
            run: 0,
        }
    }

    /// Counts `outcome`; returns the new standing once its threshold is reached.
    pub fn record(&mut self, outcome: Outcome) -> Option<Standing> {
        let outcome = if outcome == Outcome::Warning { Outcome::Success } else { outcome };
        if self.last == Some(outcome) {
            self.run += 1;
        } else {
            self.last = Some(outcome);
            self.run = 1;
        }
        match outcome {
            Outcome::Success if self.run >= self.success => Some(Standing::Success),
            Outcome::Failure if self.run >= self.failure => Some(Standing::Failure),
            _ => None,
        }
    }

    /// Starts counting afresh (a new run, or after a kill).
    pub fn reset(&mut self) {
        self.last = None;
        self.run = 0;
    }
}

/// A running prober.
pub struct Prober {
    pub config: Config,
    pub runtime: Arc<dyn Runtime>,
    pub(super) shared: Arc<Mutex<Shared>>,
    pub wake: Arc<Notify>,
}

/// Whether the worker goes on.
enum Next {
    Continue,
    Stop,
}

/// What the worker remembers between probes.
struct Memory {
    container_id: Option<String>,
    on_hold: bool,
    thresholds: Thresholds,
}

impl Prober {
    /// Probes every period, and at once when a new run appears, until the container is
    /// finished for good or the pod is deleted (liveness, startup).
    pub async fn run(self, mut poke: watch::Receiver<u64>) {
        let mut ticks = tokio::time::interval(self.config.period());
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut memory =
            Memory { container_id: None, on_hold: false, thresholds: Thresholds::of(&self.config.probe) };
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                changed = poke.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    // Only a new run (or deletion) is probed early; otherwise keep the period.
                    let new_run = {
                        let shared = lock(&self.shared);
                        let id = shared.targets.get(&self.config.container.name).map(|t| &t.container_id);
                        id != memory.container_id.as_ref() || shared.deleting
                    };
                    if !new_run {
                        continue;
                    }
                    ticks.reset();
                }
            }
            if let Next::Stop = self.step(&mut memory).await {
                return;
            }
        }
    }

    fn set(&self, container_id: &str, standing: Standing) {
        let key = (self.config.container.name.clone(), self.config.kind);
        let changed = {
            let mut shared = lock(&self.shared);
            let old = shared.results.insert(key, (container_id.to_string(), standing));
            old.as_ref() != Some(&(container_id.to_string(), standing))
        };
        if changed {
            self.wake.notify_one();
        }
    }

    fn note(&self, reason: &'static str, message: String) {
        let field_path = Some(format!("spec.containers{{{}}}", self.config.container.name));
        lock(&self.shared).notes.push(Note { warning: true, reason, message, field_path });
        self.wake.notify_one();
    }

    async fn step(&self, memory: &mut Memory) -> Next {
        let name = &self.config.container.name;
        let kind = self.config.kind;
        let (target, deleting, started) = {
            let shared = lock(&self.shared);
            let Some(target) = shared.targets.get(name).cloned() else { return Next::Continue };
            let started = !self.config.has_startup
                || shared
                    .results
                    .get(&(name.clone(), Kind::Startup))
                    .is_some_and(|(id, s)| *id == target.container_id && *s == Standing::Success);
            (target, shared.deleting, started)
        };
        if memory.container_id.as_ref() != Some(&target.container_id) {
            memory.container_id = Some(target.container_id.clone());
            memory.on_hold = false;
            memory.thresholds.reset();
            self.set(&target.container_id, self.config.initial());
        }
        if memory.on_hold {
            return Next::Continue;
        }
        if !target.running {
            self.set(&target.container_id, Standing::Failure);
            return if target.finished { Next::Stop } else { Next::Continue };
        }
        if deleting && kind != Kind::Readiness {
            // A quiet shutdown: nothing is killed for a probe while the pod stops.
            self.set(&target.container_id, Standing::Success);
            return Next::Stop;
        }
        if Instant::now().saturating_duration_since(target.started_at) < self.config.initial_delay() {
            return Next::Continue;
        }
        // Startup gates the others; once passed it rests until the next run.
        if started == (kind == Kind::Startup) {
            return Next::Continue;
        }
        let ran = action::run(
            self.runtime.as_ref(),
            &self.config.probe,
            &self.config.container,
            &target.container_id,
            &target.pod_ip,
        )
        .await;
        let outcome = match ran {
            Ok((outcome, output)) => {
                match outcome {
                    Outcome::Failure => {
                        self.note("Unhealthy", format!("{} probe failed: {output}", kind.name()))
                    }
                    Outcome::Warning => {
                        self.note("ProbeWarning", format!("{} probe warning: {output}", kind.name()))
                    }
                    Outcome::Success => {}
                }
                outcome
            }
            Err(err) => {
                // Upstream retries an errored probe, records it, and throws the result away.
                tracing::debug!("{} probe of container {name}: {err}", kind.name());
                self.note(
                    "Unhealthy",
                    format!("{} probe errored and resulted in unknown state: {err}", kind.name()),
                );
                return Next::Continue;
            }
        };
        let Some(standing) = memory.thresholds.record(outcome) else { return Next::Continue };
        self.set(&target.container_id, standing);
        if kind != Kind::Readiness && standing == Standing::Failure {
            // The run will be killed: wait for the next one.
            memory.on_hold = true;
            memory.thresholds.reset();
        }
        Next::Continue
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::{
        pods::probes::{ProbeSet, Target},
        runtime::{
            FakeRuntime,
            proto::{ContainerConfig, ExecSyncResponse, ImageSpec},
        },
    };

    #[test]
    fn thresholds_count_consecutive_outcomes() {
        let probe: Probe =
            serde_json::from_value(serde_json::json!({"successThreshold": 2, "failureThreshold": 3}))
                .unwrap();
        let mut t = Thresholds::of(&probe);
        assert_eq!(t.record(Outcome::Success), None);
        assert_eq!(t.record(Outcome::Success), Some(Standing::Success));
        assert_eq!(t.record(Outcome::Failure), None);
        assert_eq!(t.record(Outcome::Success), None, "a success breaks the run of failures");
        assert_eq!(t.record(Outcome::Failure), None);
        assert_eq!(t.record(Outcome::Failure), None);
        assert_eq!(t.record(Outcome::Failure), Some(Standing::Failure));
        assert_eq!(t.record(Outcome::Failure), Some(Standing::Failure));
        let defaults = Thresholds::of(&Probe::default());
        assert_eq!((defaults.success, defaults.failure), (1, 3));
    }

    async fn running(fake: &FakeRuntime) -> String {
        let sandbox = fake.run_pod_sandbox(&Default::default(), "").await.unwrap();
        fake.add_image("img");
        let config = ContainerConfig {
            image: Some(ImageSpec { image: "img".into(), ..Default::default() }),
            ..Default::default()
        };
        let id = fake.create_container(&sandbox, &config, &Default::default()).await.unwrap();
        fake.start_container(&id).await.unwrap();
        id
    }

    /// Lets the probers run until the paused clock reaches `secs` from now.
    async fn advance(secs: u64) {
        for _ in 0..secs * 10 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn pod(container: serde_json::Value) -> k8s_openapi::api::core::v1::Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
            "spec": {"containers": [container]},
        }))
        .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn startup_gates_readiness_and_liveness_failures_wait_for_the_next_run() {
        let fake = Arc::new(FakeRuntime::new());
        let id = running(&fake).await;
        // `ready` and `live` files decide, as a script would.
        let state =
            Arc::new(Mutex::new(HashMap::from([("started", false), ("ready", true), ("live", true)])));
        let script = state.clone();
        fake.script_exec(move |_, cmd| {
            let ok = script.lock().unwrap()[cmd[1].as_str()];
            Ok(ExecSyncResponse {
                exit_code: if ok { 0 } else { 1 },
                stderr: b"no".to_vec(),
                ..Default::default()
            })
        });
        let probe = |what: &str, extra: serde_json::Value| {
            let mut p = serde_json::json!({"exec": {"command": ["test", what]}, "periodSeconds": 1});
            p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            p
        };
        let pod = pod(serde_json::json!({
            "name": "main", "image": "img",
            "startupProbe": probe("started", serde_json::json!({"failureThreshold": 30})),
            "readinessProbe": probe("ready", serde_json::json!({})),
            "livenessProbe": probe("live", serde_json::json!({"failureThreshold": 2})),
        }));
        let mut probes = ProbeSet::new(fake.clone());
        probes.start(&pod);
        let target = |id: &str| Target {
            container_id: id.to_string(),
            running: true,
            finished: false,
            started_at: Instant::now(),
            pod_ip: "10.42.0.2".into(),
        };
        probes.set_targets(HashMap::from([("main".to_string(), target(&id))]));
        advance(3).await;
        assert_eq!(probes.health("main", &id), Some(super::super::Health { started: false, ready: false }));
        let probed: Vec<String> = fake.execs().iter().map(|(_, cmd)| cmd[1].clone()).collect();
        assert!(probed.iter().all(|w| w == "started"), "only the startup probe runs: {probed:?}");
        let notes = probes.take_notes();
        assert!(notes.iter().all(|n| n.message == "Startup probe failed: no"), "{notes:?}");

        state.lock().unwrap().insert("started", true);
        advance(3).await;
        assert_eq!(probes.health("main", &id), Some(super::super::Health { started: true, ready: true }));
        assert_eq!(probes.failed("main", &id), None);

        state.lock().unwrap().insert("ready", false);
        advance(2).await;
        assert_eq!(probes.health("main", &id).map(|h| h.ready), Some(true), "three failures by default");
        advance(2).await;
        assert_eq!(probes.health("main", &id).map(|h| h.ready), Some(false));
        state.lock().unwrap().insert("live", false);
        advance(3).await;
        assert_eq!(probes.failed("main", &id), Some(Kind::Liveness));
        let notes = probes.take_notes();
        assert!(notes.iter().any(|n| n.message == "Liveness probe failed: no"), "{notes:?}");
        assert!(notes.iter().any(|n| n.message == "Readiness probe failed: no"), "{notes:?}");
        let lives = |fake: &FakeRuntime| fake.execs().iter().filter(|(_, c)| c[1] == "live").count();
        let before = lives(&fake);
        advance(3).await;
        assert_eq!(lives(&fake), before, "liveness holds until the next run");

        // The next run starts over: not started until its startup probe passes.
        state.lock().unwrap().insert("live", true);
        let next = running(&fake).await;
        probes.set_targets(HashMap::from([("main".to_string(), target(&next))]));
        tokio::task::yield_now().await;
        advance(1).await;
        assert_eq!(probes.failed("main", &next), None);
        assert!(probes.health("main", &next).unwrap().started);
        assert!(lives(&fake) > before, "liveness probes the new run");
        probes.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn initial_delay_holds_the_first_probe() {
        let fake = Arc::new(FakeRuntime::new());
        let id = running(&fake).await;
        let pod = pod(serde_json::json!({
            "name": "main", "image": "img",
            "readinessProbe": {"exec": {"command": ["true"]}, "initialDelaySeconds": 5, "periodSeconds": 1},
        }));
        let mut probes = ProbeSet::new(fake.clone());
        probes.start(&pod);
        let target = Target {
            container_id: id.clone(),
            running: true,
            finished: false,
            started_at: Instant::now(),
            pod_ip: String::new(),
        };
        probes.set_targets(HashMap::from([("main".to_string(), target)]));
        advance(4).await;
        assert!(fake.execs().is_empty());
        assert_eq!(probes.health("main", &id).map(|h| h.ready), Some(false));
        advance(2).await;
        assert_eq!(probes.health("main", &id).map(|h| h.ready), Some(true));
        probes.stop();
    }
}
