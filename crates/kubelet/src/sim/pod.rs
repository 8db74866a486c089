//! One simulated pod: its containers' lives as a state machine over time, and the status they
//! add up to. Pure: the caller passes the clock, so tests drive it with made-up timestamps.

use std::{net::Ipv4Addr, time::Duration};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod};
use sha2::{Digest, Sha256};

use super::{probes::Probes, script::Script};
use crate::{
    pod_status::{
        self, ConditionInputs, ContainerStatus, Phase, PodStatus, RestartPolicy, State, Terminated,
    },
    time::{after, go_seconds},
};

/// Upstream's CrashLoopBackOff: 10 s, doubling, capped at 5 minutes.
const BACKOFF_INITIAL_SECS: u64 = 10;
const BACKOFF_MAX_SECS: u64 = 300;

/// A pod being run by a simulated node.
#[derive(Debug)]
pub struct SimPod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub generation: Option<i64>,
    policy: RestartPolicy,
    script: Script,
    host_network: bool,
    /// `spec.readinessGates`, with the status of the matching condition last seen.
    pub gates: Vec<(String, Option<String>)>,
    init: Vec<SimContainer>,
    containers: Vec<SimContainer>,
    pub pod_ip: Option<Ipv4Addr>,
    start_time: Timestamp,
    start_at: Timestamp,
    started: bool,
    /// Deletion: when the containers stop, and whether they are killed (137) then.
    stop_at: Option<(Timestamp, bool)>,
    stopped: bool,
    transitions: pod_status::Transitions,
}

#[derive(Debug)]
struct SimContainer {
    name: String,
    image: String,
    /// A restartable init container (sidecar): runs until the pod stops.
    sidecar: bool,
    probes: Probes,
    run: Run,
    /// Boxed, as is `Run::Exited`: most containers never exit, and thousands of pods are held.
    last: Option<Box<Terminated>>,
    /// Which run this is; also the container's `restartCount`.
    attempt: u32,
    backoff: Backoff,
    /// The startup probe passed (at once without one).
    started: bool,
    ready: bool,
}

#[derive(Debug, Clone)]
enum Run {
    Creating,
    Running {
        since: Timestamp,
        exit: Option<(Timestamp, i32)>,
        started_at: Timestamp,
        ready_at: Option<Timestamp>,
    },
    Exited(Box<Terminated>),
    BackOff {
        until: Timestamp,
        delay_secs: u64,
    },
}

/// Upstream's per-container back-off entry (`flowcontrol.Backoff`).
#[derive(Debug, Clone, Copy, Default)]
struct Backoff {
    delay_secs: u64,
    last_update: Option<Timestamp>,
}

impl Backoff {
    /// An entry untouched for twice the maximum is forgotten.
    fn expired(&self, at: Timestamp) -> bool {
        self.last_update.is_none_or(|last| {
            at.duration_since(last) > jiff::SignedDuration::from_secs(2 * BACKOFF_MAX_SECS as i64)
        })
    }

    fn in_backoff(&self, finished_at: Timestamp) -> bool {
        self.delay_secs > 0 && !self.expired(finished_at)
    }

    fn next(&mut self, at: Timestamp) {
        self.delay_secs = if self.delay_secs == 0 || self.expired(at) {
            BACKOFF_INITIAL_SECS
        } else {
            (self.delay_secs * 2).min(BACKOFF_MAX_SECS)
        };
        self.last_update = Some(at);
    }
}

impl SimContainer {
    fn new(c: &Container, sidecar: bool) -> SimContainer {
        SimContainer {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
            sidecar,
            probes: Probes::of(c),
            run: Run::Creating,
            last: None,
            attempt: 0,
            backoff: Backoff::default(),
            started: false,
            ready: false,
        }
    }
}

/// Why a pod cannot be run.
#[derive(Debug, PartialEq, Eq)]
pub enum Reject {
    NoContainers,
}

impl SimPod {
    /// Admits `pod` at `now`, with `script` from its annotations.
    ///
    /// # Errors
    /// If the pod has no containers (the API server should not have let it in).
    pub fn admit(pod: &Pod, script: Script, now: Timestamp) -> Result<SimPod, Reject> {
        let spec = pod.spec.as_ref().ok_or(Reject::NoContainers)?;
        if spec.containers.is_empty() {
            return Err(Reject::NoContainers);
        }
        let init = spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| SimContainer::new(c, c.restart_policy.as_deref() == Some("Always")))
            .collect();
        let containers = spec.containers.iter().map(|c| SimContainer::new(c, false)).collect();
        let gates = spec.readiness_gates.iter().flatten().map(|g| (g.condition_type.clone(), None)).collect();
        let start_at = after(now, script.start_after);
        let mut sim = SimPod {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            generation: pod.metadata.generation,
            policy: RestartPolicy::parse(spec.restart_policy.as_deref()),
            script,
            host_network: spec.host_network.unwrap_or(false),
            gates,
            init,
            containers,
            pod_ip: None,
            start_time: now,
            start_at,
            started: false,
            stop_at: None,
            stopped: false,
            transitions: Default::default(),
        };
        sim.observe(pod);
        Ok(sim)
    }

    /// Whether the pod shares the node's network (and so its IP).
    pub fn host_network(&self) -> bool {
        self.host_network
    }

    /// Takes in what others changed on the pod: readiness-gate conditions and the generation.
    /// Returns whether the status to post changed.
    pub fn observe(&mut self, pod: &Pod) -> bool {
        let mut changed = false;
        if pod.metadata.generation != self.generation {
            self.generation = pod.metadata.generation;
            changed = true;
        }
        let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
        for (kind, status) in &mut self.gates {
            let now =
                conditions.and_then(|cs| cs.iter().find(|c| c.type_ == *kind)).map(|c| c.status.clone());
            if *status != now {
                *status = now;
                changed = true;
            }
        }
        changed
    }

    /// Starts graceful termination at `now` with `grace` seconds: containers stop after the
    /// script's `stop-after`, killed (137) if that is past the grace period. A second deletion
    /// can only bring the stop forward.
    pub fn delete(&mut self, now: Timestamp, grace: Duration) {
        let kill = self.script.stop_after > grace;
        let at = after(now, self.script.stop_after.min(grace));
        match self.stop_at {
            Some((current, _)) if current <= at => {}
            _ => self.stop_at = Some((at, kill)),
        }
    }

    /// Whether the pod is being deleted.
    pub fn deleting(&self) -> bool {
        self.stop_at.is_some()
    }

    /// Whether every container has stopped for good: the phase is final.
    pub fn finished(&self) -> bool {
        self.stopped || self.containers.iter().all(|c| matches!(c.run, Run::Exited(_)))
    }

    /// Moves the containers along to `now`. Returns whether anything changed.
    pub fn advance(&mut self, now: Timestamp) -> bool {
        if self.stopped {
            return false;
        }
        // What was due before a stop still happens first.
        let stop_due = self.stop_at.filter(|(at, _)| *at <= now);
        let until = stop_due.map_or(now, |(at, _)| at);
        let mut changed = false;
        if !self.started && self.start_at <= until {
            self.start(self.start_at);
            changed = true;
        }
        if self.started {
            changed |= self.advance_containers(until);
        }
        if let Some((at, kill)) = stop_due {
            self.stop(at, kill);
            changed = true;
        }
        changed
    }

    /// When [`SimPod::advance`] next has something to do.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        if self.stopped {
            return None;
        }
        let mut next = self.stop_at.map(|(t, _)| t);
        let mut consider = |t: Timestamp| next = Some(next.map_or(t, |n: Timestamp| n.min(t)));
        if !self.started {
            consider(self.start_at);
            return next;
        }
        for c in self.init.iter().chain(&self.containers) {
            match &c.run {
                Run::Running { exit, started_at, ready_at, .. } => {
                    if let Some((at, _)) = exit {
                        consider(*at);
                    }
                    if !c.started {
                        consider(*started_at);
                    }
                    if let Some(at) = ready_at.filter(|_| !c.ready) {
                        consider(at);
                    }
                }
                Run::BackOff { until, .. } => consider(*until),
                Run::Creating | Run::Exited(_) => {}
            }
        }
        next
    }

    fn start(&mut self, at: Timestamp) {
        self.started = true;
        // Regular init containers run to completion at once; sidecars keep running.
        let uid = self.uid.clone();
        for c in &mut self.init {
            if c.sidecar {
                start_run(c, at, None, &self.script, true);
            } else {
                let id = container_id(&uid, &c.name, 0);
                c.run = Run::Exited(Box::new(Terminated::exited(0, at, at, id)));
                c.ready = true;
            }
        }
        let (script, policy) = (&self.script, self.policy);
        for c in &mut self.containers {
            let exit = script.exit_of_run(policy, c.attempt);
            start_run(c, at, exit, script, false);
        }
    }

    fn advance_containers(&mut self, now: Timestamp) -> bool {
        let mut changed = false;
        for c in &mut self.containers {
            changed |= advance_container(c, now, &self.script, self.policy, &self.uid);
        }
        for c in self.init.iter_mut().filter(|c| c.sidecar) {
            if let Run::Running { started_at, ready_at, .. } = c.run {
                changed |= probe_passes(c, started_at, ready_at, now);
            }
        }
        changed
    }

    fn stop(&mut self, at: Timestamp, kill: bool) {
        self.stopped = true;
        let uid = self.uid.clone();
        for c in self.init.iter_mut().chain(&mut self.containers) {
            c.ready = false;
            c.started = false;
            c.run = match std::mem::replace(&mut c.run, Run::Creating) {
                Run::Running { since, .. } => {
                    let code = if kill { 137 } else { 0 };
                    let id = container_id(&uid, &c.name, c.attempt);
                    Run::Exited(Box::new(Terminated::exited(code, since, at, id)))
                }
                Run::Creating => Run::Exited(Box::new(Terminated {
                    exit_code: 137,
                    reason: "ContainerStatusUnknown".into(),
                    message: Some("The container could not be located when the pod was terminated".into()),
                    started_at: None,
                    finished_at: at,
                    container_id: None,
                })),
                Run::BackOff { .. } => match c.last.clone() {
                    Some(last) => Run::Exited(last),
                    None => Run::Creating,
                },
                exited @ Run::Exited(_) => exited,
            };
        }
    }

    /// The status to post at `now`, on a node at `host_ip`.
    pub fn status(&mut self, now: Timestamp, host_ip: Ipv4Addr) -> PodStatus {
        let has_init = !self.init.is_empty();
        let init: Vec<ContainerStatus> =
            self.init.iter().map(|c| self.container_status(c, has_init)).collect();
        let containers: Vec<ContainerStatus> =
            self.containers.iter().map(|c| self.container_status(c, has_init)).collect();
        let initialized = pod_status::is_initialized(&init, &containers);
        let phase = pod_status::phase(self.policy, &init, &containers, initialized, self.stopped);
        let pod_ip = if self.host_network { Some(host_ip) } else { self.pod_ip };
        let inputs = ConditionInputs {
            sandbox_ready: pod_ip.is_some() && !phase.is_terminal() && !self.stopped,
            readiness_gates: &self.gates,
        };
        let conditions = pod_status::conditions(&inputs, &init, &containers, phase);
        let transitions = self.transitions.observe(&conditions, now);
        PodStatus {
            phase,
            conditions,
            transitions,
            host_ip: Some(host_ip.to_string()),
            pod_ip: pod_ip.map(|ip| ip.to_string()),
            start_time: Some(self.start_time),
            init_container_statuses: init,
            container_statuses: containers,
            observed_generation: self.generation,
        }
    }

    /// The phase the status would report (without recording condition transitions).
    pub fn phase(&self) -> Phase {
        let has_init = !self.init.is_empty();
        let init: Vec<ContainerStatus> =
            self.init.iter().map(|c| self.container_status(c, has_init)).collect();
        let containers: Vec<ContainerStatus> =
            self.containers.iter().map(|c| self.container_status(c, has_init)).collect();
        let initialized = pod_status::is_initialized(&init, &containers);
        pod_status::phase(self.policy, &init, &containers, initialized, self.stopped)
    }

    fn container_status(&self, c: &SimContainer, has_init: bool) -> ContainerStatus {
        let image = normalize_image(&c.image);
        let (state, container_id) = match &c.run {
            Run::Creating => {
                let reason = if has_init { "PodInitializing" } else { "ContainerCreating" };
                (State::waiting(reason), None)
            }
            Run::Running { since, .. } => {
                (State::Running { started_at: *since }, Some(container_id(&self.uid, &c.name, c.attempt)))
            }
            Run::Exited(t) => (State::Terminated((**t).clone()), t.container_id.clone()),
            Run::BackOff { delay_secs, .. } => (
                State::Waiting {
                    reason: "CrashLoopBackOff".into(),
                    message: Some(format!(
                        "back-off {} restarting failed container={} pod={}_{}({})",
                        go_seconds(*delay_secs),
                        c.name,
                        self.name,
                        self.namespace,
                        self.uid
                    )),
                },
                c.last.as_ref().and_then(|t| t.container_id.clone()),
            ),
        };
        let running = matches!(c.run, Run::Running { .. });
        ContainerStatus {
            name: c.name.clone(),
            restartable: c.sidecar,
            image_id: image_id(&image),
            image,
            container_id,
            state,
            last_state: c.last.as_deref().cloned(),
            ready: c.ready && running,
            started: c.started && running,
            restart_count: c.attempt,
        }
    }
}

/// Starts run `c.attempt` of a container at `at`.
fn start_run(
    c: &mut SimContainer,
    at: Timestamp,
    exit: Option<(Duration, i32)>,
    script: &Script,
    sidecar: bool,
) {
    let started_at = after(at, c.probes.started_after());
    let ready_at = if script.never_ready && !sidecar {
        None
    } else {
        // A scripted delay stands in for the readiness probe, never before startup passed.
        Some(match script.ready_after {
            Some(d) => after(at, d).max(started_at),
            None => after(at, c.probes.ready_after()),
        })
    };
    let mut exit = exit.map(|(d, code)| (after(at, d), code));
    // A failing liveness probe has the kubelet kill the container (SIGKILL: 137), unless it
    // exits first.
    if !sidecar
        && let Some(kill) = script.liveness_fail_after.and_then(|f| c.probes.liveness_kill(f))
        && exit.is_none_or(|(t, _)| after(at, kill) < t)
    {
        exit = Some((after(at, kill), LIVENESS_KILL_CODE));
    }
    c.started = started_at <= at;
    c.ready = ready_at.is_some_and(|r| r <= at);
    c.run = Run::Running { since: at, exit, started_at, ready_at };
}

/// The exit code of a container the kubelet killed for failing its liveness probe.
const LIVENESS_KILL_CODE: i32 = 137;

/// Marks the container started and ready once their times (before `now`) have come.
fn probe_passes(
    c: &mut SimContainer,
    started_at: Timestamp,
    ready_at: Option<Timestamp>,
    now: Timestamp,
) -> bool {
    let mut changed = false;
    if !c.started && started_at <= now {
        c.started = true;
        changed = true;
    }
    if let Some(r) = ready_at
        && !c.ready
        && r <= now
    {
        c.ready = true;
        changed = true;
    }
    changed
}

/// Moves one app container along to `now`, through as many exits and restarts as are due.
fn advance_container(
    c: &mut SimContainer,
    now: Timestamp,
    script: &Script,
    policy: RestartPolicy,
    uid: &str,
) -> bool {
    let mut changed = false;
    loop {
        match c.run.clone() {
            Run::Running { since, exit: Some((exit_at, code)), started_at, ready_at } => {
                changed |= probe_passes(c, started_at, ready_at, now.min(exit_at));
                if exit_at > now {
                    break;
                }
                let terminated =
                    Box::new(Terminated::exited(code, since, exit_at, container_id(uid, &c.name, c.attempt)));
                c.ready = false;
                c.started = false;
                changed = true;
                if !policy.restarts(code) {
                    c.run = Run::Exited(terminated);
                    break;
                }
                c.last = Some(terminated);
                if c.backoff.in_backoff(exit_at) {
                    let delay_secs = c.backoff.delay_secs;
                    c.run =
                        Run::BackOff { until: after(exit_at, Duration::from_secs(delay_secs)), delay_secs };
                } else {
                    restart(c, exit_at, exit_at, script, policy);
                }
            }
            Run::Running { started_at, ready_at, .. } => {
                changed |= probe_passes(c, started_at, ready_at, now);
                break;
            }
            Run::BackOff { until, .. } if until <= now => {
                let finished = c.last.as_ref().map_or(until, |t| t.finished_at);
                restart(c, until, finished, script, policy);
                changed = true;
            }
            _ => break,
        }
    }
    changed
}

fn restart(
    c: &mut SimContainer,
    at: Timestamp,
    finished_at: Timestamp,
    script: &Script,
    policy: RestartPolicy,
) {
    c.backoff.next(finished_at);
    c.attempt += 1;
    let exit = script.exit_of_run(policy, c.attempt);
    start_run(c, at, exit, script, false);
}

/// A made-up but stable containerd container ID for run `attempt` of a container.
fn container_id(pod_uid: &str, name: &str, attempt: u32) -> String {
    let digest = Sha256::digest(format!("{pod_uid}/{name}/{attempt}").as_bytes());
    format!("containerd://{}", hex::encode(digest))
}

/// The image reference as containerd reports it: registry and tag made explicit.
pub fn normalize_image(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let first = name.split('/').next().unwrap_or_default();
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let mut full = match (has_registry, name.contains('/')) {
        (true, _) => name.to_string(),
        (false, true) => format!("docker.io/{name}"),
        (false, false) => format!("docker.io/library/{name}"),
    };
    let last = full.rsplit('/').next().unwrap_or_default();
    if digest.is_none() && !last.contains(':') {
        full.push_str(":latest");
    }
    match digest {
        Some(d) => format!("{full}@{d}"),
        None => full,
    }
}

/// `imageID`: the repository with a digest (made up from the reference when it has none).
fn image_id(normalized: &str) -> String {
    if normalized.contains('@') {
        return normalized.to_string();
    }
    let repo = match normalized.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => normalized,
    };
    format!("{repo}@sha256:{}", hex::encode(Sha256::digest(normalized.as_bytes())))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::sim::script::{self, Script};

    fn t(secs: f64) -> Timestamp {
        Timestamp::from_millisecond(1_700_000_000_000 + (secs * 1000.0) as i64).unwrap()
    }

    fn pod(policy: &str, annotations: &[(&str, &str)]) -> (Pod, Script) {
        let annotations: BTreeMap<String, String> =
            annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u1", "generation": 1,
                         "annotations": annotations},
            "spec": {"restartPolicy": policy, "nodeName": "n", "containers": [{"name": "c", "image": "nginx"}]},
        }))
        .unwrap();
        let (script, problems) = Script::from_annotations(&annotations);
        assert!(problems.is_empty());
        (pod, script)
    }

    fn admit(policy: &str, annotations: &[(&str, &str)]) -> SimPod {
        let (p, script) = pod(policy, annotations);
        let mut sim = SimPod::admit(&p, script, t(0.0)).unwrap();
        sim.pod_ip = Some(Ipv4Addr::new(10, 42, 0, 2));
        sim
    }

    fn state(sim: &mut SimPod, at: f64) -> (Phase, State, u32, bool) {
        let status = sim.status(t(at), Ipv4Addr::new(172, 16, 0, 1));
        let c = &status.container_statuses[0];
        (status.phase, c.state.clone(), c.restart_count, c.ready)
    }

    /// Advances through every deadline up to `until`, as the runtime's timer would.
    fn run_until(sim: &mut SimPod, until: f64) {
        sim.advance(t(0.0));
        while let Some(next) = sim.next_deadline() {
            if next > t(until) {
                break;
            }
            assert!(sim.advance(next), "a deadline that changes nothing");
        }
    }

    #[test]
    fn a_long_running_pod_runs_ready_until_deleted() {
        let mut sim = admit("Always", &[]);
        assert!(sim.advance(t(0.0)));
        let (phase, st, restarts, ready) = state(&mut sim, 0.0);
        assert_eq!((phase, restarts, ready), (Phase::Running, 0, true));
        assert_eq!(st, State::Running { started_at: t(0.0) });
        assert_eq!(sim.next_deadline(), None);
        let status = sim.status(t(0.0), Ipv4Addr::new(172, 16, 0, 1));
        assert_eq!(status.pod_ip.as_deref(), Some("10.42.0.2"));
        assert!(status.conditions.iter().all(|c| c.status), "{:?}", status.conditions);
        assert_eq!(status.container_statuses[0].image, "docker.io/library/nginx:latest");

        sim.delete(t(5.0), Duration::from_secs(30));
        assert_eq!(sim.next_deadline(), Some(t(5.0)));
        assert!(sim.advance(t(5.0)));
        assert!(sim.finished());
        let (phase, st, _, ready) = state(&mut sim, 5.0);
        assert_eq!((phase, ready), (Phase::Succeeded, false));
        assert!(matches!(st, State::Terminated(ref t) if t.exit_code == 0 && t.reason == "Completed"));
    }

    #[test]
    fn run_to_completion_pods_exit_zero_after_a_second() {
        let mut sim = admit("Never", &[]);
        sim.advance(t(0.0));
        assert_eq!(sim.next_deadline(), Some(t(1.0)));
        assert!(!sim.advance(t(0.5)));
        assert!(sim.advance(t(1.0)));
        assert!(sim.finished());
        let status = sim.status(t(1.0), Ipv4Addr::new(172, 16, 0, 1));
        assert_eq!(status.phase, Phase::Succeeded);
        assert!(!status.conditions[0].status, "the sandbox is gone");
        assert_eq!(status.conditions[2].reason, Some("PodCompleted"));
    }

    #[test]
    fn an_exit_code_fails_a_never_pod() {
        let mut sim = admit("Never", &[(script::EXIT_CODE, "1"), (script::EXIT_AFTER, "2s")]);
        run_until(&mut sim, 10.0);
        let (phase, st, _, _) = state(&mut sim, 10.0);
        assert_eq!(phase, Phase::Failed);
        assert!(matches!(st, State::Terminated(ref term) if term.exit_code == 1 && term.reason == "Error"
                && term.finished_at == t(2.0)));
    }

    #[test]
    fn crash_loops_back_off_10s_doubling() {
        let mut sim = admit("Always", &[(script::CRASH_LOOP, "true")]);
        sim.advance(t(0.0));
        // Run 0 exits at 1 s and restarts at once; run 1 exits at 2 s and waits 10 s.
        assert!(sim.advance(t(2.0)));
        let (phase, st, restarts, ready) = state(&mut sim, 2.0);
        assert_eq!((phase, restarts, ready), (Phase::Running, 1, false));
        let State::Waiting { reason, message } = st else { panic!("{st:?}") };
        assert_eq!(reason, "CrashLoopBackOff");
        assert_eq!(message.unwrap(), "back-off 10s restarting failed container=c pod=p_default(u1)");
        assert_eq!(sim.next_deadline(), Some(t(12.0)));
        // Run 2 starts at 12 s, exits at 13 s, waits 20 s.
        assert!(sim.advance(t(13.0)));
        assert_eq!(sim.next_deadline(), Some(t(33.0)));
        let status = sim.status(t(13.0), Ipv4Addr::new(172, 16, 0, 1));
        let c = &status.container_statuses[0];
        assert_eq!(c.restart_count, 2);
        assert_eq!(c.last_state.as_ref().unwrap().exit_code, 1);
        // Far later the delay is capped at 5 minutes.
        run_until(&mut sim, 3000.0);
        let State::Waiting { message, .. } = state(&mut sim, 3000.0).1 else { panic!() };
        assert!(message.unwrap().starts_with("back-off 5m0s "));
    }

    #[test]
    fn on_failure_restarts_until_the_scripted_runs_are_over() {
        let mut sim = admit("OnFailure", &[(script::EXIT_CODE, "2"), (script::EXIT_RUNS, "1")]);
        run_until(&mut sim, 100.0);
        let (phase, st, restarts, _) = state(&mut sim, 100.0);
        assert_eq!((phase, restarts), (Phase::Succeeded, 1));
        assert!(matches!(st, State::Terminated(ref term) if term.exit_code == 0));
    }

    #[test]
    fn readiness_can_be_late_or_never() {
        let mut late = admit("Always", &[(script::READY_AFTER, "3s")]);
        late.advance(t(0.0));
        assert!(!state(&mut late, 0.0).3);
        assert_eq!(late.next_deadline(), Some(t(3.0)));
        assert!(late.advance(t(3.0)));
        assert!(state(&mut late, 3.0).3);
        let mut never = admit("Always", &[(script::READY, "false")]);
        never.advance(t(0.0));
        let status = never.status(t(0.0), Ipv4Addr::new(172, 16, 0, 1));
        assert_eq!((status.phase, status.conditions[2].status), (Phase::Running, false));
        assert_eq!(never.next_deadline(), None);
    }

    fn with_probes(policy: &str, annotations: &[(&str, &str)], probes: serde_json::Value) -> SimPod {
        let (mut p, script) = pod(policy, annotations);
        let mut c = serde_json::to_value(&p.spec.as_ref().unwrap().containers[0]).unwrap();
        if let (Some(c), Some(probes)) = (c.as_object_mut(), probes.as_object()) {
            c.extend(probes.clone());
        }
        p.spec.as_mut().unwrap().containers[0] = serde_json::from_value(c).unwrap();
        let mut sim = SimPod::admit(&p, script, t(0.0)).unwrap();
        sim.pod_ip = Some(Ipv4Addr::new(10, 42, 0, 2));
        sim
    }

    #[test]
    fn the_startup_probe_holds_started_and_ready() {
        let mut sim = with_probes(
            "Always",
            &[],
            json!({"startupProbe": {"exec": {"command": ["true"]}, "initialDelaySeconds": 4},
                   "readinessProbe": {"exec": {"command": ["true"]}, "initialDelaySeconds": 1, "periodSeconds": 2}}),
        );
        sim.advance(t(0.0));
        let status = sim.status(t(0.0), Ipv4Addr::new(172, 16, 0, 1));
        let c = &status.container_statuses[0];
        assert_eq!((status.phase, c.started, c.ready), (Phase::Running, false, false));
        assert_eq!(sim.next_deadline(), Some(t(4.0)));
        assert!(sim.advance(t(4.0)));
        let c = &sim.status(t(4.0), Ipv4Addr::new(172, 16, 0, 1)).container_statuses[0];
        assert_eq!((c.started, c.ready), (true, false));
        // Readiness runs at 1, 3, 5 s; the first after startup passes is at 5 s.
        assert_eq!(sim.next_deadline(), Some(t(5.0)));
        assert!(sim.advance(t(5.0)));
        assert!(state(&mut sim, 5.0).3);
    }

    #[test]
    fn a_failing_liveness_probe_restarts_the_container() {
        let probe =
            json!({"livenessProbe": {"httpGet": {"port": 80}, "periodSeconds": 5, "failureThreshold": 2}});
        let mut sim = with_probes("Always", &[(script::LIVENESS_FAIL_AFTER, "3s")], probe.clone());
        sim.advance(t(0.0));
        // Runs at 0, 5, 10 s: failing from 3 s, the second failure (10 s) kills.
        assert_eq!(sim.next_deadline(), Some(t(10.0)));
        assert!(sim.advance(t(10.0)));
        let status = sim.status(t(10.0), Ipv4Addr::new(172, 16, 0, 1));
        let c = &status.container_statuses[0];
        assert_eq!((c.restart_count, &c.state), (1, &State::Running { started_at: t(10.0) }));
        let last = c.last_state.as_ref().unwrap();
        assert_eq!((last.exit_code, last.reason.as_str(), last.finished_at), (137, "Error", t(10.0)));
        // Without a liveness probe the annotation does nothing; under Never the kill fails the pod.
        let mut unprobed = admit("Always", &[(script::LIVENESS_FAIL_AFTER, "3s")]);
        unprobed.advance(t(0.0));
        assert_eq!(unprobed.next_deadline(), None);
        let mut once =
            with_probes("Never", &[(script::LIVENESS_FAIL_AFTER, "0s"), (script::EXIT_AFTER, "1h")], probe);
        run_until(&mut once, 60.0);
        assert_eq!(state(&mut once, 60.0).0, Phase::Failed);
    }

    #[test]
    fn start_after_keeps_the_pod_pending() {
        let mut sim = admit("Always", &[(script::START_AFTER, "2s")]);
        assert!(!sim.advance(t(1.0)));
        let (phase, st, _, _) = state(&mut sim, 1.0);
        assert_eq!((phase, st), (Phase::Pending, State::waiting("ContainerCreating")));
        assert!(sim.advance(t(2.0)));
        assert_eq!(state(&mut sim, 2.0).1, State::Running { started_at: t(2.0) });
    }

    #[test]
    fn slow_stops_are_killed_at_the_grace_period() {
        let mut sim = admit("Always", &[(script::STOP_AFTER, "1m")]);
        sim.advance(t(0.0));
        sim.delete(t(1.0), Duration::from_secs(5));
        assert_eq!(sim.next_deadline(), Some(t(6.0)));
        assert!(sim.advance(t(6.0)));
        let (phase, st, _, _) = state(&mut sim, 6.0);
        assert_eq!(phase, Phase::Failed);
        assert!(matches!(st, State::Terminated(ref term) if term.exit_code == 137));
        let mut quick = admit("Always", &[(script::STOP_AFTER, "2s")]);
        quick.advance(t(0.0));
        quick.delete(t(1.0), Duration::from_secs(30));
        assert_eq!(quick.next_deadline(), Some(t(3.0)));
    }

    #[test]
    fn readiness_gates_hold_ready() {
        let (mut p, script) = pod("Always", &[]);
        p.spec.as_mut().unwrap().readiness_gates =
            Some(vec![serde_json::from_value(json!({"conditionType": "example.com/lb"})).unwrap()]);
        let mut sim = SimPod::admit(&p, script, t(0.0)).unwrap();
        sim.advance(t(0.0));
        let status = sim.status(t(0.0), Ipv4Addr::new(172, 16, 0, 1));
        assert_eq!(status.conditions[2].reason, Some("ReadinessGatesNotReady"));
        p.status = Some(
            serde_json::from_value(json!({"conditions": [{"type": "example.com/lb", "status": "True"}]}))
                .unwrap(),
        );
        assert!(sim.observe(&p));
        assert!(!sim.observe(&p));
        let status = sim.status(t(1.0), Ipv4Addr::new(172, 16, 0, 1));
        assert!(status.conditions[2].status);
        assert_eq!(status.transitions[2], t(1.0));
    }

    #[test]
    fn images_are_normalized_as_containerd_reports_them() {
        assert_eq!(normalize_image("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(normalize_image("nginx:1.27"), "docker.io/library/nginx:1.27");
        assert_eq!(normalize_image("bitnami/redis"), "docker.io/bitnami/redis:latest");
        assert_eq!(normalize_image("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(normalize_image("registry.k8s.io/pause:3.10"), "registry.k8s.io/pause:3.10");
        assert!(image_id("docker.io/library/nginx:1.27").starts_with("docker.io/library/nginx@sha256:"));
    }
}

/// Measures what a running pod costs the simulator (about 950 bytes at the last count):
/// `cargo test -p tug-kubelet per_pod_memory -- --ignored --nocapture`.
#[cfg(test)]
mod memory_probe {
    use super::*;

    fn rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .unwrap()
            .trim()
            .trim_end_matches(" kB")
            .parse()
            .unwrap()
    }

    #[test]
    #[ignore = "a measurement, not a check"]
    fn per_pod_memory() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-7d9f8c6b5-x2x9q", "namespace": "default", "uid": "0f3c2a9e-1b2c-4d5e-8f90-123456789abc", "generation": 1},
            "spec": {"nodeName": "n", "containers": [{"name": "nginx", "image": "nginx:1.27"}]},
        }))
        .unwrap();
        let before = rss_kib();
        let now = Timestamp::now();
        let mut pods: std::collections::HashMap<String, Box<SimPod>> = Default::default();
        for i in 0..100_000 {
            let mut sim = SimPod::admit(&pod, Script::default(), now).unwrap();
            sim.advance(now);
            let _ = sim.status(now, Ipv4Addr::new(1, 2, 3, 4));
            pods.insert(format!("{}-{i}", sim.uid), Box::new(sim));
        }
        let after = rss_kib();
        eprintln!(
            "SimPod {} bytes, SimContainer {} bytes; {} bytes per pod",
            std::mem::size_of::<SimPod>(),
            std::mem::size_of::<SimContainer>(),
            (after - before) * 1024 / 100_000
        );
    }
}
