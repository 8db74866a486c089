//! A simulated container's probes, from its spec: when the startup probe lets it count as
//! started, when the readiness probe first passes, and when a failing liveness probe gets it
//! killed. Simulated probes always pass unless a script says otherwise, so each comes down to
//! a delay after the container starts, on upstream's schedule: a probe first runs at
//! `initialDelaySeconds`, then every `periodSeconds`; readiness and liveness wait for the
//! startup probe; `successThreshold` passes make a success, `failureThreshold` failures a
//! failure.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe as ApiProbe};

/// One probe's schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    pub initial_delay: Duration,
    pub period: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl Probe {
    /// Upstream's defaults: period 10 s, success threshold 1, failure threshold 3.
    pub fn from_api(p: &ApiProbe) -> Probe {
        let secs = |v: Option<i32>, default: i32| Duration::from_secs(v.unwrap_or(default).max(0) as u64);
        Probe {
            initial_delay: secs(p.initial_delay_seconds, 0),
            period: secs(p.period_seconds, 10).max(Duration::from_secs(1)),
            success_threshold: p.success_threshold.unwrap_or(1).max(1) as u32,
            failure_threshold: p.failure_threshold.unwrap_or(3).max(1) as u32,
        }
    }

    /// The first probe run at or after `t` (since the container started).
    fn first_run_from(&self, t: Duration) -> Duration {
        if t <= self.initial_delay {
            return self.initial_delay;
        }
        let periods = (t - self.initial_delay).as_millis().div_ceil(self.period.as_millis());
        self.initial_delay + self.period * periods as u32
    }

    /// When `threshold` consecutive runs from the first run at or after `from` are done.
    fn after_runs(&self, from: Duration, threshold: u32) -> Duration {
        self.first_run_from(from) + self.period * threshold.saturating_sub(1)
    }
}

/// The probes of one container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Probes {
    pub startup: Option<Probe>,
    pub readiness: Option<Probe>,
    pub liveness: Option<Probe>,
}

impl Probes {
    pub fn of(c: &Container) -> Probes {
        Probes {
            startup: c.startup_probe.as_ref().map(Probe::from_api),
            readiness: c.readiness_probe.as_ref().map(Probe::from_api),
            liveness: c.liveness_probe.as_ref().map(Probe::from_api),
        }
    }

    /// Since the container started, when it counts as started (`started: true`).
    pub fn started_after(&self) -> Duration {
        self.startup.map_or(Duration::ZERO, |p| p.after_runs(Duration::ZERO, p.success_threshold))
    }

    /// Since the container started, when it is first ready.
    pub fn ready_after(&self) -> Duration {
        let started = self.started_after();
        self.readiness.map_or(started, |p| p.after_runs(started, p.success_threshold))
    }

    /// Since the container started, when the liveness probe has failed often enough to have
    /// the container killed, if it fails from `failing_from` on; `None` without a liveness
    /// probe.
    pub fn liveness_kill(&self, failing_from: Duration) -> Option<Duration> {
        let p = self.liveness?;
        Some(p.after_runs(failing_from.max(self.started_after()), p.failure_threshold))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn container(probes: serde_json::Value) -> Container {
        let mut c = json!({"name": "c", "image": "nginx"});
        if let (Some(c), Some(p)) = (c.as_object_mut(), probes.as_object()) {
            c.extend(p.clone());
        }
        serde_json::from_value(c).unwrap()
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn without_probes_a_container_is_started_and_ready_at_once() {
        let p = Probes::of(&container(json!({})));
        assert_eq!((p.started_after(), p.ready_after(), p.liveness_kill(S(5))), (S(0), S(0), None));
    }

    #[test]
    fn readiness_waits_for_its_delay_and_successes_and_for_startup() {
        let ready = json!({"readinessProbe": {"exec": {"command": ["true"]}, "initialDelaySeconds": 5,
            "periodSeconds": 2, "successThreshold": 3}});
        assert_eq!(Probes::of(&container(ready.clone())).ready_after(), S(9));
        let mut both = ready;
        both["startupProbe"] =
            json!({"exec": {"command": ["true"]}, "initialDelaySeconds": 12, "periodSeconds": 4});
        let p = Probes::of(&container(both));
        assert_eq!(p.started_after(), S(12));
        // The first readiness run at or after 12 s on its 5 s + 2 s grid is 13 s, then two more.
        assert_eq!(p.ready_after(), S(17));
    }

    #[test]
    fn a_failing_liveness_probe_kills_after_its_failure_threshold() {
        let p = Probes::of(&container(json!({"livenessProbe": {"exec": {"command": ["true"]},
            "initialDelaySeconds": 3, "periodSeconds": 10}})));
        // Failing from 1 s: runs at 3, 13, 23 s fail; the third failure kills.
        assert_eq!(p.liveness_kill(S(1)), Some(S(23)));
        // Failing from 4 s: the first failing run is at 13 s.
        assert_eq!(p.liveness_kill(S(4)), Some(S(33)));
    }
}
