//! What to do next for a pod, and what its status is, from its spec and what the runtime
//! reports: pure functions, as upstream's `computePodActions` and
//! `convertToAPIContainerStatuses`.

use std::{collections::HashMap, time::Duration};

use jiff::Timestamp;

use super::probes::Health;
use crate::{
    pod_status::{ContainerStatus, RestartPolicy, State, Terminated},
    time::after,
};

/// The first restart back-off, doubled after each restart up to [`MAX_BACKOFF`].
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(10);
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// A container's run as the runtime reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub id: String,
    pub attempt: u32,
    pub state: RunState,
    /// The image's id as the runtime reports it (`imageID`).
    pub image_ref: String,
    /// Stopped by the kubelet for a failed liveness or startup probe: started again unless
    /// the policy is `Never`, whatever its exit code, as upstream.
    pub killed: bool,
}

impl Run {
    /// Whether this run, once exited with `exit_code`, is followed by another under `policy`.
    pub fn restarts(&self, policy: RestartPolicy, exit_code: i32) -> bool {
        policy.restarts(exit_code) || (self.killed && policy != RestartPolicy::Never)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunState {
    Created,
    Running {
        started_at: Timestamp,
    },
    Exited {
        exit_code: i32,
        reason: String,
        message: String,
        started_at: Option<Timestamp>,
        finished_at: Timestamp,
    },
}

/// A container of the spec, as the planner needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub name: String,
    pub image: String,
}

/// What the runtime holds for one pod: the runs of each container, newest first.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub sandbox_ready: bool,
    pub runs: HashMap<String, Vec<Run>>,
}

impl Observed {
    fn latest(&self, name: &str) -> Option<&Run> {
        self.runs.get(name).and_then(|r| r.first())
    }
}

/// One thing to do to the runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    CreateSandbox,
    /// Pull (per policy), create and start run `attempt` of a container.
    Start {
        name: String,
        init: bool,
        attempt: u32,
    },
    /// Start a run created earlier but never started (the agent stopped in between).
    StartCreated {
        id: String,
    },
    /// The pod is finished: stop its sandbox (containers and network).
    StopSandbox,
}

/// Per-container restart back-off, as upstream's `flowcontrol.Backoff` keyed by container: the
/// first restart is immediate, then a run that exits within the back-off waits it out.
#[derive(Clone, Debug, Default)]
pub struct BackOff(HashMap<String, Duration>);

impl BackOff {
    /// How long from `finished_at` a restart of `name` waits (`None`: no back-off yet).
    pub fn current(&self, name: &str) -> Option<Duration> {
        self.0.get(name).copied()
    }

    /// Whether `name`, finished at `finished_at`, is still backing off at `now`.
    pub fn waiting(&self, name: &str, finished_at: Timestamp, now: Timestamp) -> bool {
        self.current(name).is_some_and(|d| now < after(finished_at, d))
    }

    /// Records a restart of `name`: the next one waits twice as long.
    pub fn restarted(&mut self, name: &str) {
        let next = self.current(name).map_or(INITIAL_BACKOFF, |d| (d * 2).min(MAX_BACKOFF));
        self.0.insert(name.to_string(), next);
    }
}

/// The actions that move a pod on: the sandbox first, then init containers one at a time, each
/// to completion, then every regular container; exited runs are restarted per the restart
/// policy once out of back-off. `finished` says the pod's phase is already terminal.
pub fn plan(
    policy: RestartPolicy,
    init: &[Wanted],
    containers: &[Wanted],
    observed: &Observed,
    backoff: &BackOff,
    finished: bool,
    now: Timestamp,
) -> Vec<Action> {
    if finished {
        return if observed.sandbox_ready { vec![Action::StopSandbox] } else { vec![] };
    }
    if !observed.sandbox_ready {
        return vec![Action::CreateSandbox];
    }
    for c in init {
        match observed.latest(&c.name) {
            None => return vec![Action::Start { name: c.name.clone(), init: true, attempt: 0 }],
            Some(Run { state: RunState::Created, id, .. }) => {
                return vec![Action::StartCreated { id: id.clone() }];
            }
            Some(Run { state: RunState::Running { .. }, .. }) => return vec![],
            Some(Run { state: RunState::Exited { exit_code: 0, .. }, .. }) => {}
            Some(Run { state: RunState::Exited { finished_at, .. }, attempt, .. }) => {
                // A failed init container fails the pod under Never; else it runs again.
                if policy == RestartPolicy::Never || backoff.waiting(&c.name, *finished_at, now) {
                    return vec![];
                }
                return vec![Action::Start { name: c.name.clone(), init: true, attempt: attempt + 1 }];
            }
        }
    }
    let mut actions = Vec::new();
    for c in containers {
        match observed.latest(&c.name) {
            None => actions.push(Action::Start { name: c.name.clone(), init: false, attempt: 0 }),
            Some(Run { state: RunState::Created, id, .. }) => {
                actions.push(Action::StartCreated { id: id.clone() })
            }
            Some(Run { state: RunState::Running { .. }, .. }) => {}
            Some(run @ Run { state: RunState::Exited { exit_code, finished_at, .. }, attempt, .. }) => {
                if run.restarts(policy, *exit_code) && !backoff.waiting(&c.name, *finished_at, now) {
                    actions.push(Action::Start { name: c.name.clone(), init: false, attempt: attempt + 1 });
                }
            }
        }
    }
    actions
}

/// Why a container has no run yet, besides waiting for its turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub reason: String,
    pub message: Option<String>,
}

/// What the statuses are computed from besides the runs.
#[derive(Clone, Debug)]
pub struct StatusInputs<'a> {
    pub policy: Option<RestartPolicy>,
    /// `<name>_<namespace>(<uid>)`, for back-off messages.
    pub pod_ref: &'a str,
    /// Containers that cannot start, by name (image pull errors).
    pub waiting: &'a HashMap<String, Waiting>,
    pub backoff: Option<&'a BackOff>,
    /// The pod is being stopped for good: exited runs stay terminated.
    pub terminal: bool,
    /// What the probes say of running containers that have probes, by name; others are
    /// started and ready while they run.
    pub health: &'a HashMap<String, Health>,
    /// Runs whose start failed after they ran (postStart), by container name with the run's
    /// id: shown waiting with the reason until the next run, as upstream's reason cache.
    pub failed_starts: &'a HashMap<String, (String, Waiting)>,
}

/// `initContainerStatuses` and `containerStatuses`.
pub fn statuses(
    inputs: &StatusInputs<'_>,
    init: &[Wanted],
    containers: &[Wanted],
    observed: &Observed,
    now: Timestamp,
) -> (Vec<ContainerStatus>, Vec<ContainerStatus>) {
    let init_done = init.iter().all(|c| {
        observed.latest(&c.name).is_some_and(|r| matches!(r.state, RunState::Exited { exit_code: 0, .. }))
    });
    let init_statuses =
        init.iter().map(|c| status(inputs, c, true, observed, "PodInitializing", now)).collect();
    let pending = if init_done { "ContainerCreating" } else { "PodInitializing" };
    let statuses = containers.iter().map(|c| status(inputs, c, false, observed, pending, now)).collect();
    (init_statuses, statuses)
}

fn terminated(run: &Run) -> Option<Terminated> {
    let RunState::Exited { exit_code, reason, message, started_at, finished_at } = &run.state else {
        return None;
    };
    let reason = if reason.is_empty() {
        if *exit_code == 0 { "Completed" } else { "Error" }.to_string()
    } else {
        reason.clone()
    };
    Some(Terminated {
        exit_code: *exit_code,
        reason,
        message: Some(message.clone()).filter(|m| !m.is_empty()),
        started_at: *started_at,
        finished_at: *finished_at,
        container_id: Some(format!("containerd://{}", run.id)),
    })
}

fn status(
    inputs: &StatusInputs<'_>,
    c: &Wanted,
    init: bool,
    observed: &Observed,
    pending: &str,
    now: Timestamp,
) -> ContainerStatus {
    let runs = observed.runs.get(&c.name).map(Vec::as_slice).unwrap_or_default();
    let mut status = ContainerStatus {
        name: c.name.clone(),
        restartable: false,
        image: crate::sim::pod::normalize_image(&c.image),
        image_id: String::new(),
        container_id: None,
        state: State::waiting(pending),
        last_state: None,
        ready: false,
        started: false,
        restart_count: 0,
    };
    let Some(latest) = runs.first() else {
        if let Some(w) = inputs.waiting.get(&c.name) {
            status.state = State::Waiting { reason: w.reason.clone(), message: w.message.clone() };
        }
        return status;
    };
    status.image_id = latest.image_ref.clone();
    status.container_id = Some(format!("containerd://{}", latest.id));
    status.restart_count = latest.attempt;
    status.last_state = runs.get(1).and_then(terminated);
    match &latest.state {
        RunState::Created => status.state = State::waiting("ContainerCreating"),
        RunState::Running { started_at } => {
            status.state = State::Running { started_at: *started_at };
            let health = inputs.health.get(&c.name).copied();
            status.ready = !init && health.is_none_or(|h| h.ready);
            status.started = health.is_none_or(|h| h.started);
        }
        RunState::Exited { exit_code, finished_at, .. } => {
            let Some(done) = terminated(latest) else { return status };
            let restarts = inputs.policy.is_some_and(|p| latest.restarts(p, *exit_code))
                && !(init && *exit_code == 0)
                && !inputs.terminal;
            let backing_off = inputs.backoff.is_some_and(|b| b.waiting(&c.name, *finished_at, now));
            if restarts && backing_off {
                let delay = inputs.backoff.and_then(|b| b.current(&c.name)).unwrap_or(INITIAL_BACKOFF);
                status.state = State::Waiting {
                    reason: "CrashLoopBackOff".into(),
                    message: Some(format!(
                        "back-off {} restarting failed container={} pod={}",
                        crate::time::go_seconds(delay.as_secs()),
                        c.name,
                        inputs.pod_ref
                    )),
                };
                status.last_state = Some(done);
            } else if let Some((_, why)) =
                inputs.failed_starts.get(&c.name).filter(|(id, _)| restarts && *id == latest.id)
            {
                status.state = State::Waiting { reason: why.reason.clone(), message: why.message.clone() };
                status.last_state = Some(done);
            } else {
                // A completed init container counts as ready (the Initialized condition).
                status.ready = init && *exit_code == 0;
                status.state = State::Terminated(done);
            }
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_status::RestartPolicy::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn wanted(name: &str) -> Wanted {
        Wanted { name: name.into(), image: "busybox".into() }
    }

    fn run(attempt: u32, state: RunState) -> Run {
        Run { id: format!("id{attempt}"), attempt, state, image_ref: "sha256:00".into(), killed: false }
    }

    fn exited(code: i32, at: i64) -> RunState {
        RunState::Exited {
            exit_code: code,
            reason: String::new(),
            message: String::new(),
            started_at: Some(t(at - 1)),
            finished_at: t(at),
        }
    }

    fn observed(runs: &[(&str, Vec<Run>)]) -> Observed {
        Observed { sandbox_ready: true, runs: runs.iter().map(|(n, r)| (n.to_string(), r.clone())).collect() }
    }

    #[test]
    fn the_sandbox_comes_first_then_init_containers_one_by_one() {
        let (init, main) = ([wanted("i1"), wanted("i2")], [wanted("a"), wanted("b")]);
        let none = BackOff::default();
        let empty = Observed::default();
        assert_eq!(plan(Always, &init, &main, &empty, &none, false, t(0)), vec![Action::CreateSandbox]);
        let fresh = observed(&[]);
        let start = |name: &str, init, attempt| Action::Start { name: name.into(), init, attempt };
        assert_eq!(plan(Always, &init, &main, &fresh, &none, false, t(0)), vec![start("i1", true, 0)]);
        let running = observed(&[("i1", vec![run(0, RunState::Running { started_at: t(0) })])]);
        assert!(plan(Always, &init, &main, &running, &none, false, t(0)).is_empty());
        let first_done = observed(&[("i1", vec![run(0, exited(0, 1))])]);
        assert_eq!(plan(Always, &init, &main, &first_done, &none, false, t(2)), vec![start("i2", true, 0)]);
        let all_done = observed(&[("i1", vec![run(0, exited(0, 1))]), ("i2", vec![run(0, exited(0, 2))])]);
        assert_eq!(
            plan(Always, &init, &main, &all_done, &none, false, t(3)),
            vec![start("a", false, 0), start("b", false, 0)]
        );
        let failed = observed(&[("i1", vec![run(0, exited(1, 1))])]);
        assert!(plan(Never, &init, &main, &failed, &none, false, t(2)).is_empty(), "Never: the pod fails");
        assert_eq!(plan(OnFailure, &init, &main, &failed, &none, false, t(2)), vec![start("i1", true, 1)]);
        let created = observed(&[("i1", vec![run(0, RunState::Created)])]);
        assert_eq!(
            plan(Always, &init, &main, &created, &none, false, t(0)),
            vec![Action::StartCreated { id: "id0".into() }]
        );
    }

    #[test]
    fn exited_containers_restart_per_policy_and_back_off() {
        let main = [wanted("a")];
        let mut backoff = BackOff::default();
        let ok = observed(&[("a", vec![run(0, exited(0, 10))])]);
        let failed = observed(&[("a", vec![run(0, exited(1, 10))])]);
        let restart = vec![Action::Start { name: "a".into(), init: false, attempt: 1 }];
        assert!(plan(Never, &[], &main, &failed, &backoff, false, t(11)).is_empty());
        assert!(plan(OnFailure, &[], &main, &ok, &backoff, false, t(11)).is_empty());
        assert_eq!(plan(OnFailure, &[], &main, &failed, &backoff, false, t(11)), restart);
        // The first restart is immediate; later ones wait 10 s, 20 s, ... from the exit.
        assert_eq!(plan(Always, &[], &main, &ok, &backoff, false, t(11)), restart);
        backoff.restarted("a");
        assert!(plan(Always, &[], &main, &ok, &backoff, false, t(15)).is_empty());
        assert_eq!(plan(Always, &[], &main, &ok, &backoff, false, t(20)), restart);
        backoff.restarted("a");
        assert_eq!(backoff.current("a"), Some(Duration::from_secs(20)));
        for _ in 0..10 {
            backoff.restarted("a");
        }
        assert_eq!(backoff.current("a"), Some(MAX_BACKOFF));
        assert_eq!(plan(Always, &[], &main, &ok, &backoff, true, t(11)), vec![Action::StopSandbox]);
        let stopped = Observed { sandbox_ready: false, ..ok };
        assert!(plan(Always, &[], &main, &stopped, &backoff, true, t(11)).is_empty());
    }

    #[test]
    fn runs_killed_for_a_probe_restart_unless_the_policy_is_never() {
        let main = [wanted("a")];
        let none = BackOff::default();
        let killed = Run { killed: true, ..run(0, exited(0, 10)) };
        let obs = observed(&[("a", vec![killed])]);
        let restart = vec![Action::Start { name: "a".into(), init: false, attempt: 1 }];
        assert_eq!(plan(OnFailure, &[], &main, &obs, &none, false, t(11)), restart, "exit 0, yet restarted");
        assert!(plan(Never, &[], &main, &obs, &none, false, t(11)).is_empty());
    }

    #[test]
    fn probes_decide_ready_and_started() {
        let main = [wanted("a")];
        let health = HashMap::from([("a".to_string(), Health { started: true, ready: false })]);
        let waiting = HashMap::new();
        let inputs = StatusInputs {
            policy: Some(Always),
            pod_ref: "p_ns(u)",
            waiting: &waiting,
            backoff: None,
            terminal: false,
            health: &health,
            failed_starts: &HashMap::new(),
        };
        let running = observed(&[("a", vec![run(0, RunState::Running { started_at: t(1) })])]);
        let (_, s) = statuses(&inputs, &[], &main, &running, t(2));
        assert!(s[0].started && !s[0].ready, "{s:?}");
        let health = HashMap::from([("a".to_string(), Health { started: false, ready: false })]);
        let (_, s) =
            statuses(&StatusInputs { health: &health, ..inputs.clone() }, &[], &main, &running, t(2));
        assert!(!s[0].started && !s[0].ready, "{s:?}");
        let (_, s) =
            statuses(&StatusInputs { health: &HashMap::new(), ..inputs }, &[], &main, &running, t(2));
        assert!(s[0].started && s[0].ready, "no probes: ready while running");
    }

    #[test]
    fn the_runtimes_reason_passes_through() {
        let oom = RunState::Exited {
            exit_code: 137,
            reason: "OOMKilled".into(),
            message: String::new(),
            started_at: Some(t(1)),
            finished_at: t(2),
        };
        let inputs = StatusInputs {
            policy: Some(Never),
            pod_ref: "p_ns(u)",
            waiting: &HashMap::new(),
            backoff: None,
            terminal: false,
            health: &HashMap::new(),
            failed_starts: &HashMap::new(),
        };
        let (_, s) = statuses(&inputs, &[], &[wanted("a")], &observed(&[("a", vec![run(0, oom)])]), t(3));
        assert!(
            matches!(&s[0].state, State::Terminated(t) if t.reason == "OOMKilled" && t.exit_code == 137),
            "{s:?}"
        );
    }

    #[test]
    fn statuses_show_runs_back_off_and_pull_errors() {
        let main = [wanted("a"), wanted("b")];
        let mut backoff = BackOff::default();
        backoff.restarted("a");
        let waiting = HashMap::from([(
            "b".to_string(),
            Waiting { reason: "ErrImagePull".into(), message: Some("not found".into()) },
        )]);
        let health = HashMap::new();
        let inputs = StatusInputs {
            policy: Some(Always),
            pod_ref: "p_ns(u)",
            waiting: &waiting,
            backoff: Some(&backoff),
            terminal: false,
            health: &health,
            failed_starts: &HashMap::new(),
        };
        let obs = observed(&[("a", vec![run(1, exited(1, 10)), run(0, exited(1, 5))])]);
        let (_, s) = statuses(&inputs, &[], &main, &obs, t(12));
        assert_eq!(
            s[0].state,
            State::Waiting {
                reason: "CrashLoopBackOff".into(),
                message: Some("back-off 10s restarting failed container=a pod=p_ns(u)".into())
            }
        );
        assert_eq!(s[0].restart_count, 1);
        assert_eq!(s[0].last_state.as_ref().map(|t| (t.exit_code, t.reason.as_str())), Some((1, "Error")));
        assert_eq!(s[0].container_id.as_deref(), Some("containerd://id1"));
        assert_eq!(s[0].image, "docker.io/library/busybox:latest");
        assert_eq!(
            s[1].state,
            State::Waiting { reason: "ErrImagePull".into(), message: Some("not found".into()) }
        );

        let (_, s) = statuses(&inputs, &[], &main, &obs, t(30));
        assert!(matches!(&s[0].state, State::Terminated(t) if t.exit_code == 1), "out of back-off: {s:?}");
        let never = StatusInputs { policy: Some(Never), ..inputs.clone() };
        let done = observed(&[("a", vec![run(0, exited(0, 10))])]);
        let (_, s) = statuses(&never, &[], &main, &done, t(11));
        assert!(matches!(&s[0].state, State::Terminated(t) if t.reason == "Completed"));
        let running = observed(&[("a", vec![run(0, RunState::Running { started_at: t(1) })])]);
        let (_, s) = statuses(&never, &[wanted("i")], &[wanted("a"), wanted("c")], &running, t(11));
        assert!(s[0].ready && s[0].started);
        assert_eq!(s[1].state, State::waiting("PodInitializing"));
    }
}
