//! Pod status as upstream's kubelet computes it: the phase from container states, the kubelet's
//! five conditions, container statuses, and the strategic-merge patch that posts them.
//!
//! Pure functions of what the runtime reports; no I/O. Follows upstream's
//! `pkg/kubelet/status/generate.go` (conditions) and `getPhase` in `kubelet_pods.go`.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::time::rfc3339;

/// `spec.restartPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    /// The policy named in a spec; the API defaults it to `Always`.
    pub fn parse(policy: Option<&str>) -> RestartPolicy {
        match policy {
            Some("Never") => RestartPolicy::Never,
            Some("OnFailure") => RestartPolicy::OnFailure,
            _ => RestartPolicy::Always,
        }
    }

    /// Whether a container that exited with `exit_code` is started again.
    pub fn restarts(self, exit_code: i32) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => exit_code != 0,
            RestartPolicy::Never => false,
        }
    }
}

/// `status.phase`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed)
    }
}

/// A finished container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terminated {
    pub exit_code: i32,
    /// `Completed` for 0, `Error` otherwise (containerd's reasons), or what the kubelet decided
    /// (`ContainerStatusUnknown`).
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Timestamp,
    pub container_id: Option<String>,
}

impl Terminated {
    /// A container that exited on its own with `exit_code`.
    pub fn exited(exit_code: i32, started_at: Timestamp, finished_at: Timestamp, id: String) -> Self {
        let reason = if exit_code == 0 { "Completed" } else { "Error" };
        Terminated {
            exit_code,
            reason: reason.into(),
            message: None,
            started_at: Some(started_at),
            finished_at,
            container_id: Some(id),
        }
    }

    fn to_json(&self) -> Value {
        let mut t = json!({
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": self.started_at.map(rfc3339),
            "finishedAt": rfc3339(self.finished_at),
        });
        if let Some(message) = &self.message {
            t["message"] = json!(message);
        }
        if let Some(id) = &self.container_id {
            t["containerID"] = json!(id);
        }
        t
    }
}

/// `containerStatuses[].state`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Waiting { reason: String, message: Option<String> },
    Running { started_at: Timestamp },
    Terminated(Terminated),
}

impl State {
    pub fn waiting(reason: &str) -> State {
        State::Waiting { reason: reason.into(), message: None }
    }

    fn to_json(&self) -> Value {
        match self {
            State::Waiting { reason, message } => {
                let mut w = json!({"reason": reason});
                if let Some(m) = message {
                    w["message"] = json!(m);
                }
                json!({"waiting": w})
            }
            State::Running { started_at } => json!({"running": {"startedAt": rfc3339(*started_at)}}),
            State::Terminated(t) => json!({"terminated": t.to_json()}),
        }
    }
}

/// One entry of `containerStatuses` or `initContainerStatuses`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerStatus {
    pub name: String,
    /// An init container with `restartPolicy: Always` (a sidecar). Not serialized.
    pub restartable: bool,
    pub image: String,
    pub image_id: String,
    pub container_id: Option<String>,
    pub state: State,
    pub last_state: Option<Terminated>,
    pub ready: bool,
    pub started: bool,
    pub restart_count: u32,
}

impl ContainerStatus {
    fn to_json(&self) -> Value {
        let mut c = json!({
            "name": self.name,
            "state": self.state.to_json(),
            "lastState": self.last_state.as_ref().map_or(json!({}), |t| json!({"terminated": t.to_json()})),
            "ready": self.ready,
            "restartCount": self.restart_count,
            "image": self.image,
            "imageID": self.image_id,
            "started": self.started,
        });
        if let Some(id) = &self.container_id {
            c["containerID"] = json!(id);
        }
        c
    }
}

/// The phase from container states, as upstream's `getPhase`. `terminal` says the kubelet has
/// stopped the pod for good (it is being deleted): then stopped containers decide the phase
/// whatever the restart policy.
pub fn phase(
    policy: RestartPolicy,
    init: &[ContainerStatus],
    containers: &[ContainerStatus],
    initialized: bool,
    terminal: bool,
) -> Phase {
    let (mut pending_init, mut pending_sidecars, mut failed_init) = (0, 0, 0);
    for c in init {
        if c.restartable {
            if !matches!(c.state, State::Running { .. }) || !c.started {
                pending_sidecars += 1;
            }
            continue;
        }
        match &c.state {
            State::Terminated(t) if t.exit_code != 0 => failed_init += 1,
            State::Terminated(_) => {}
            State::Waiting { .. } if c.last_state.as_ref().is_some_and(|t| t.exit_code != 0) => {
                failed_init += 1
            }
            State::Waiting { .. } if c.last_state.is_some() => {}
            _ => pending_init += 1,
        }
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for c in containers {
        match &c.state {
            State::Running { .. } => running += 1,
            State::Terminated(t) => {
                stopped += 1;
                if t.exit_code == 0 {
                    succeeded += 1;
                }
            }
            State::Waiting { .. } if c.last_state.is_some() => stopped += 1,
            State::Waiting { .. } => waiting += 1,
        }
    }
    if failed_init > 0 && policy == RestartPolicy::Never {
        return Phase::Failed;
    }
    if pending_init > 0 || (pending_sidecars > 0 && !initialized) || waiting > 0 {
        return Phase::Pending;
    }
    if running > 0 {
        return Phase::Running;
    }
    if stopped == 0 {
        return Phase::Pending;
    }
    if terminal {
        return if stopped == succeeded { Phase::Succeeded } else { Phase::Failed };
    }
    match policy {
        RestartPolicy::Always => Phase::Running,
        _ if stopped == succeeded => Phase::Succeeded,
        RestartPolicy::Never => Phase::Failed,
        RestartPolicy::OnFailure => Phase::Running,
    }
}

/// The condition types the kubelet owns, in the order it writes them.
pub const KUBELET_CONDITIONS: [&str; 5] =
    ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"];

/// One pod condition, without its timestamps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub kind: &'static str,
    pub status: bool,
    pub reason: Option<&'static str>,
    pub message: Option<String>,
}

impl Condition {
    fn new(kind: &'static str, status: bool) -> Self {
        Condition { kind, status, reason: None, message: None }
    }

    fn because(mut self, reason: &'static str, message: Option<String>) -> Self {
        self.reason = Some(reason);
        self.message = message.filter(|m| !m.is_empty());
        self
    }
}

/// What the conditions are computed from besides container statuses.
#[derive(Clone, Debug, Default)]
pub struct ConditionInputs<'a> {
    /// The sandbox exists with its network (PodReadyToStartContainers).
    pub sandbox_ready: bool,
    /// `spec.readinessGates[].conditionType`, with whether that condition is currently
    /// `True` (`None`: the pod has no such condition).
    pub readiness_gates: &'a [(String, Option<String>)],
}

/// The kubelet's five conditions, in [`KUBELET_CONDITIONS`] order.
pub fn conditions(
    inputs: &ConditionInputs<'_>,
    init: &[ContainerStatus],
    containers: &[ContainerStatus],
    phase: Phase,
) -> [Condition; 5] {
    let containers_ready = containers_ready(init, containers, phase);
    [
        Condition::new("PodReadyToStartContainers", inputs.sandbox_ready),
        initialized(init, containers, phase),
        pod_ready(&containers_ready, inputs.readiness_gates),
        containers_ready,
        Condition::new("PodScheduled", true),
    ]
}

/// Whether the Initialized condition holds (needed by [`phase`] before the statuses exist).
pub fn is_initialized(init: &[ContainerStatus], containers: &[ContainerStatus]) -> bool {
    initialized(init, containers, Phase::Pending).status
}

fn list(names: &[&str]) -> String {
    format!("[{}]", names.join(" "))
}

fn initialized(init: &[ContainerStatus], containers: &[ContainerStatus], phase: Phase) -> Condition {
    if phase == Phase::Succeeded {
        return Condition::new("Initialized", true).because("PodCompleted", None);
    }
    if containers.iter().any(|c| c.started || c.last_state.is_some()) {
        return Condition::new("Initialized", true);
    }
    let incomplete: Vec<&str> = init
        .iter()
        .filter(|c| if c.restartable { !c.started } else { !c.ready })
        .map(|c| c.name.as_str())
        .collect();
    if incomplete.is_empty() {
        Condition::new("Initialized", true)
    } else {
        Condition::new("Initialized", false).because(
            "ContainersNotInitialized",
            Some(format!("containers with incomplete status: {}", list(&incomplete))),
        )
    }
}

fn containers_ready(init: &[ContainerStatus], containers: &[ContainerStatus], phase: Phase) -> Condition {
    match phase {
        Phase::Succeeded => return Condition::new("ContainersReady", false).because("PodCompleted", None),
        Phase::Failed => return Condition::new("ContainersReady", false).because("PodFailed", None),
        _ => {}
    }
    let unready: Vec<&str> = init
        .iter()
        .filter(|c| c.restartable)
        .chain(containers)
        .filter(|c| !c.ready)
        .map(|c| c.name.as_str())
        .collect();
    if unready.is_empty() {
        Condition::new("ContainersReady", true)
    } else {
        Condition::new("ContainersReady", false).because(
            "ContainersNotReady",
            Some(format!("containers with unready status: {}", list(&unready))),
        )
    }
}

fn pod_ready(containers_ready: &Condition, gates: &[(String, Option<String>)]) -> Condition {
    if !containers_ready.status {
        let mut ready = containers_ready.clone();
        ready.kind = "Ready";
        return ready;
    }
    let unready: Vec<String> = gates
        .iter()
        .filter_map(|(kind, status)| match status.as_deref() {
            None => Some(format!("corresponding condition of pod readiness gate {kind:?} does not exist.")),
            Some("True") => None,
            Some(other) => {
                Some(format!("the status of pod readiness gate {kind:?} is not \"True\", but {other}"))
            }
        })
        .collect();
    if unready.is_empty() {
        Condition::new("Ready", true)
    } else {
        Condition::new("Ready", false).because("ReadinessGatesNotReady", Some(unready.join(", ")))
    }
}

/// When each kubelet condition last changed: kept across updates so that `lastTransitionTime`
/// moves only when the status does, as upstream's status manager does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transitions([Option<(bool, Timestamp)>; 5]);

impl Transitions {
    /// Records `conditions` observed at `now` and returns their transition times.
    pub fn observe(&mut self, conditions: &[Condition; 5], now: Timestamp) -> [Timestamp; 5] {
        let mut times = [now; 5];
        for (i, c) in conditions.iter().enumerate() {
            match self.0[i] {
                Some((status, since)) if status == c.status => times[i] = since,
                _ => self.0[i] = Some((c.status, now)),
            }
        }
        times
    }
}

/// Everything the kubelet posts to `pods/{name}/status`.
#[derive(Clone, Debug)]
pub struct PodStatus {
    pub phase: Phase,
    pub conditions: [Condition; 5],
    pub transitions: [Timestamp; 5],
    pub host_ip: Option<String>,
    pub pod_ip: Option<String>,
    pub start_time: Option<Timestamp>,
    pub init_container_statuses: Vec<ContainerStatus>,
    pub container_statuses: Vec<ContainerStatus>,
    /// `metadata.generation` of the pod this status describes.
    pub observed_generation: Option<i64>,
}

impl PodStatus {
    /// A strategic-merge patch for the status subresource. Conditions merge by `type`, so those
    /// other writers own (readiness gates, DisruptionTarget) survive; reasons and messages that
    /// no longer apply are nulled explicitly. Container status lists are atomic and replaced.
    pub fn to_patch(&self) -> Value {
        let conditions: Vec<Value> = self
            .conditions
            .iter()
            .zip(self.transitions)
            .map(|(c, since)| {
                let mut cond = json!({
                    "type": c.kind,
                    "status": if c.status { "True" } else { "False" },
                    "lastProbeTime": null,
                    "lastTransitionTime": rfc3339(since),
                    "reason": c.reason,
                    "message": c.message,
                });
                if let Some(g) = self.observed_generation {
                    cond["observedGeneration"] = json!(g);
                }
                cond
            })
            .collect();
        let mut status = Map::new();
        status.insert("phase".into(), json!(self.phase.as_str()));
        status.insert("conditions".into(), Value::Array(conditions));
        if let Some(ip) = &self.host_ip {
            status.insert("hostIP".into(), json!(ip));
            status.insert("hostIPs".into(), json!([{"ip": ip}]));
        }
        if let Some(ip) = &self.pod_ip {
            status.insert("podIP".into(), json!(ip));
            status.insert("podIPs".into(), json!([{"ip": ip}]));
        }
        if let Some(t) = self.start_time {
            status.insert("startTime".into(), json!(rfc3339(t)));
        }
        if !self.init_container_statuses.is_empty() {
            let init = self.init_container_statuses.iter().map(ContainerStatus::to_json).collect();
            status.insert("initContainerStatuses".into(), Value::Array(init));
        }
        let containers = self.container_statuses.iter().map(ContainerStatus::to_json).collect();
        status.insert("containerStatuses".into(), Value::Array(containers));
        if let Some(g) = self.observed_generation {
            status.insert("observedGeneration".into(), json!(g));
        }
        json!({"status": status})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn container(name: &str, state: State, ready: bool) -> ContainerStatus {
        let started = matches!(state, State::Running { .. });
        ContainerStatus {
            name: name.into(),
            restartable: false,
            image: "docker.io/library/nginx:latest".into(),
            image_id: "docker.io/library/nginx@sha256:00".into(),
            container_id: Some("containerd://00".into()),
            state,
            last_state: None,
            ready,
            started,
            restart_count: 0,
        }
    }

    fn running(name: &str, ready: bool) -> ContainerStatus {
        container(name, State::Running { started_at: t(1) }, ready)
    }

    fn exited(name: &str, code: i32) -> ContainerStatus {
        container(
            name,
            State::Terminated(Terminated::exited(code, t(1), t(2), "containerd://00".into())),
            false,
        )
    }

    #[test]
    fn phase_follows_container_states_and_restart_policy() {
        use RestartPolicy::*;
        let creating = container("a", State::waiting("ContainerCreating"), false);
        assert_eq!(phase(Always, &[], &[creating], true, false), Phase::Pending);
        assert_eq!(phase(Always, &[], &[running("a", true)], true, false), Phase::Running);
        assert_eq!(phase(Never, &[], &[exited("a", 0)], true, false), Phase::Succeeded);
        assert_eq!(phase(Never, &[], &[exited("a", 1)], true, false), Phase::Failed);
        assert_eq!(phase(OnFailure, &[], &[exited("a", 0)], true, false), Phase::Succeeded);
        assert_eq!(phase(OnFailure, &[], &[exited("a", 2)], true, false), Phase::Running);
        assert_eq!(phase(Always, &[], &[exited("a", 0)], true, false), Phase::Running);
        assert_eq!(phase(Always, &[], &[exited("a", 0)], true, true), Phase::Succeeded);
        assert_eq!(phase(Always, &[], &[exited("a", 0), exited("b", 137)], true, true), Phase::Failed);
        let mut backing_off = container("a", State::waiting("CrashLoopBackOff"), false);
        backing_off.last_state = Some(Terminated::exited(1, t(1), t(2), "x".into()));
        assert_eq!(phase(Always, &[], &[backing_off], true, false), Phase::Running);
        let init = container("init", State::waiting("PodInitializing"), false);
        assert_eq!(phase(Always, &[init], &[running("a", true)], false, false), Phase::Pending);
        assert_eq!(phase(Never, &[exited("init", 1)], &[], false, false), Phase::Failed);
    }

    #[test]
    fn ready_conditions_explain_themselves() {
        let none: [(String, Option<String>); 0] = [];
        let inputs = ConditionInputs { sandbox_ready: true, readiness_gates: &none };
        let c = conditions(&inputs, &[], &[running("a", true), running("b", false)], Phase::Running);
        let kinds: Vec<_> = c.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, KUBELET_CONDITIONS);
        assert!(c[0].status && c[1].status && c[4].status);
        assert!(!c[2].status && !c[3].status);
        assert_eq!(c[2].reason, Some("ContainersNotReady"));
        assert_eq!(c[2].message.as_deref(), Some("containers with unready status: [b]"));

        let done = conditions(&inputs, &[], &[exited("a", 0)], Phase::Succeeded);
        assert_eq!((done[1].status, done[1].reason), (true, Some("PodCompleted")));
        assert_eq!((done[2].status, done[2].reason), (false, Some("PodCompleted")));
        let failed = conditions(&inputs, &[], &[exited("a", 1)], Phase::Failed);
        assert_eq!(failed[3].reason, Some("PodFailed"));

        let gates =
            [("example.com/lb".to_string(), None), ("example.com/x".to_string(), Some("False".into()))];
        let inputs = ConditionInputs { sandbox_ready: true, readiness_gates: &gates };
        let gated = conditions(&inputs, &[], &[running("a", true)], Phase::Running);
        assert!(gated[3].status, "ContainersReady ignores gates");
        assert_eq!(gated[2].reason, Some("ReadinessGatesNotReady"));
        assert_eq!(
            gated[2].message.as_deref(),
            Some(
                "corresponding condition of pod readiness gate \"example.com/lb\" does not exist., \
                 the status of pod readiness gate \"example.com/x\" is not \"True\", but False"
            )
        );
    }

    #[test]
    fn init_containers_gate_initialized() {
        let none: [(String, Option<String>); 0] = [];
        let inputs = ConditionInputs { sandbox_ready: true, readiness_gates: &none };
        let waiting = container("a", State::waiting("PodInitializing"), false);
        let init = running("init", false);
        let c =
            conditions(&inputs, std::slice::from_ref(&init), std::slice::from_ref(&waiting), Phase::Pending);
        assert_eq!(c[1].message.as_deref(), Some("containers with incomplete status: [init]"));
        let mut done = exited("init", 0);
        done.ready = true;
        assert!(is_initialized(&[done], &[waiting]));
    }

    #[test]
    fn transition_times_move_only_on_change() {
        let none: [(String, Option<String>); 0] = [];
        let inputs = ConditionInputs { sandbox_ready: true, readiness_gates: &none };
        let mut memo = Transitions::default();
        let first = conditions(&inputs, &[], &[running("a", false)], Phase::Running);
        assert_eq!(memo.observe(&first, t(0)), [t(0); 5]);
        let second = conditions(&inputs, &[], &[running("a", true)], Phase::Running);
        assert_eq!(memo.observe(&second, t(5)), [t(0), t(0), t(5), t(5), t(0)]);
    }

    #[test]
    fn the_patch_nulls_stale_reasons_and_replaces_container_lists() {
        let none: [(String, Option<String>); 0] = [];
        let inputs = ConditionInputs { sandbox_ready: true, readiness_gates: &none };
        let containers = vec![running("a", true)];
        let conds = conditions(&inputs, &[], &containers, Phase::Running);
        let status = PodStatus {
            phase: Phase::Running,
            conditions: conds,
            transitions: [t(0); 5],
            host_ip: Some("172.16.0.1".into()),
            pod_ip: Some("10.42.0.2".into()),
            start_time: Some(t(0)),
            init_container_statuses: vec![],
            container_statuses: containers,
            observed_generation: Some(1),
        };
        let patch = status.to_patch();
        let s = &patch["status"];
        assert_eq!(s["phase"], "Running");
        assert_eq!(s["podIPs"], json!([{"ip": "10.42.0.2"}]));
        assert_eq!(s["hostIPs"], json!([{"ip": "172.16.0.1"}]));
        assert_eq!(s["conditions"][2]["type"], "Ready");
        assert_eq!(s["conditions"][2]["reason"], Value::Null);
        assert!(s["conditions"][2].as_object().unwrap().contains_key("reason"));
        assert_eq!(s["conditions"][2]["observedGeneration"], 1);
        assert_eq!(
            s["containerStatuses"][0]["state"],
            json!({"running": {"startedAt": "2023-11-14T22:13:21Z"}})
        );
        assert_eq!(s["containerStatuses"][0]["lastState"], json!({}));
        assert_eq!(s["startTime"], "2023-11-14T22:13:20Z");
    }
}
