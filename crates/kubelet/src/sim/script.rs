//! What a simulated container does, from the pod's `sim.tugboat.dev/*` annotations (documented
//! in the crate root).

use std::{collections::BTreeMap, time::Duration};

use crate::{pod_status::RestartPolicy, time::parse_duration};

pub const EXIT_CODE: &str = "sim.tugboat.dev/exit-code";
pub const EXIT_AFTER: &str = "sim.tugboat.dev/exit-after";
pub const EXIT_RUNS: &str = "sim.tugboat.dev/exit-runs";
pub const CRASH_LOOP: &str = "sim.tugboat.dev/crash-loop";
pub const READY: &str = "sim.tugboat.dev/ready";
pub const READY_AFTER: &str = "sim.tugboat.dev/ready-after";
pub const START_AFTER: &str = "sim.tugboat.dev/start-after";
pub const STOP_AFTER: &str = "sim.tugboat.dev/stop-after";
pub const LIVENESS_FAIL_AFTER: &str = "sim.tugboat.dev/liveness-fail-after";

/// How long an unscripted container of a run-to-completion pod runs.
pub const DEFAULT_RUN: Duration = Duration::from_secs(1);

/// A pod's script. Invalid annotation values are reported and ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script {
    pub exit_code: Option<i32>,
    pub exit_after: Option<Duration>,
    pub exit_runs: Option<u32>,
    pub crash_loop: bool,
    pub never_ready: bool,
    pub ready_after: Option<Duration>,
    pub start_after: Duration,
    pub stop_after: Duration,
    /// Liveness probes fail from this long after each start on.
    pub liveness_fail_after: Option<Duration>,
}

impl Script {
    /// Reads the script from annotations; returns it with a message per value it ignored.
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> (Script, Vec<String>) {
        let mut problems = Vec::new();
        let mut duration = |key: &str| {
            let value = annotations.get(key)?;
            parse_duration(value).map_err(|e| problems.push(format!("{key}: {e}"))).ok()
        };
        let exit_after = duration(EXIT_AFTER);
        let ready_after = duration(READY_AFTER);
        let start_after = duration(START_AFTER).unwrap_or_default();
        let stop_after = duration(STOP_AFTER).unwrap_or_default();
        let liveness_fail_after = duration(LIVENESS_FAIL_AFTER);
        let mut number = |key: &str| {
            let value = annotations.get(key)?;
            value
                .trim()
                .parse::<i64>()
                .map_err(|_| problems.push(format!("{key}: {value:?} is not a number")))
                .ok()
        };
        let exit_code = number(EXIT_CODE).map(|c| c.clamp(0, 255) as i32);
        let exit_runs = number(EXIT_RUNS).map(|n| n.clamp(0, u32::MAX as i64) as u32);
        let flag = |key: &str| annotations.get(key).map(|v| v.trim().to_ascii_lowercase());
        let crash_loop = flag(CRASH_LOOP).is_some_and(|v| v == "true");
        let never_ready = flag(READY).is_some_and(|v| v == "false");
        let script = Script {
            exit_code,
            exit_after,
            exit_runs,
            crash_loop,
            never_ready,
            ready_after,
            start_after,
            stop_after,
            liveness_fail_after,
        };
        (script, problems)
    }

    /// When run number `attempt` (0 for the first) of a container exits, and with what code;
    /// `None` runs until stopped.
    pub fn exit_of_run(&self, policy: RestartPolicy, attempt: u32) -> Option<(Duration, i32)> {
        let scripted = self.exit_runs.is_none_or(|runs| attempt < runs);
        if scripted && self.crash_loop {
            return Some((self.exit_after.unwrap_or(DEFAULT_RUN), self.exit_code.unwrap_or(1)));
        }
        if scripted && (self.exit_code.is_some() || self.exit_after.is_some()) {
            return Some((self.exit_after.unwrap_or(DEFAULT_RUN), self.exit_code.unwrap_or(0)));
        }
        match policy {
            RestartPolicy::Always => None,
            RestartPolicy::OnFailure | RestartPolicy::Never => Some((DEFAULT_RUN, 0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(pairs: &[(&str, &str)]) -> Script {
        let annotations = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let (script, problems) = Script::from_annotations(&annotations);
        assert!(problems.is_empty(), "{problems:?}");
        script
    }

    #[test]
    fn unscripted_containers_follow_the_restart_policy() {
        let s = Script::default();
        assert_eq!(s.exit_of_run(RestartPolicy::Always, 0), None);
        assert_eq!(s.exit_of_run(RestartPolicy::Never, 0), Some((DEFAULT_RUN, 0)));
        assert_eq!(s.exit_of_run(RestartPolicy::OnFailure, 3), Some((DEFAULT_RUN, 0)));
    }

    #[test]
    fn scripts_set_codes_delays_and_how_many_runs_they_cover() {
        let s = script(&[(EXIT_CODE, "3"), (EXIT_AFTER, "2s"), (EXIT_RUNS, "2")]);
        assert_eq!(s.exit_of_run(RestartPolicy::Always, 0), Some((Duration::from_secs(2), 3)));
        assert_eq!(s.exit_of_run(RestartPolicy::Always, 1), Some((Duration::from_secs(2), 3)));
        assert_eq!(s.exit_of_run(RestartPolicy::Always, 2), None);
        let crash = script(&[(CRASH_LOOP, "true")]);
        assert_eq!(crash.exit_of_run(RestartPolicy::Always, 7), Some((DEFAULT_RUN, 1)));
        let once = script(&[(EXIT_AFTER, "500ms")]);
        assert_eq!(once.exit_of_run(RestartPolicy::Always, 0), Some((Duration::from_millis(500), 0)));
    }

    #[test]
    fn bad_values_are_reported_and_ignored() {
        let annotations =
            [(EXIT_CODE.to_string(), "x".to_string()), (READY.to_string(), "False".to_string())].into();
        let (s, problems) = Script::from_annotations(&annotations);
        assert_eq!((s.exit_code, s.never_ready), (None, true));
        assert_eq!(problems.len(), 1);
    }
}
