//! One pod on the runtime: observe what the runtime holds for it, do what [`plan`] says, and
//! compute the status to post. The CRI calls are here; the decisions are in [`plan`].

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use anyhow::{Context, Result};
use jiff::Timestamp;
use k8s_openapi::{
    api::core::v1::{Container, Pod},
    apimachinery::pkg::api::resource::Quantity,
};

use super::{
    cgroups,
    cluster::Cluster,
    config::{self, POD_UID_LABEL, PodRef, SandboxSettings},
    dns::{self, NodeDns},
    env::{self, Downward},
    hooks, hosts,
    plan::{self, Action, BackOff, Observed, Run, RunState, StatusInputs, Waiting, Wanted},
    probes::{Health, Kind, ProbeSet, Target},
    resources::{self, NodeResources},
    security::ImageUser,
};
use crate::{
    pod_status::{self, ConditionInputs, Phase, PodStatus, RestartPolicy, Transitions},
    runtime::{
        Runtime,
        proto::{ContainerFilter, ContainerState, PodSandboxFilter, PodSandboxState},
    },
    volumes::{self, PodVolumes, Ready},
};

/// What every pod worker of a node shares.
#[derive(Clone, Debug)]
pub struct NodeContext {
    pub node_name: String,
    pub host_ip: String,
    /// Where pods' log directories go (`/var/log/pods` upstream).
    pub log_root: PathBuf,
    /// Where each pod's own files go, `<pods_root>/<uid>/` (`/var/lib/kubelet/pods` upstream):
    /// its volumes (`volumes/`) and managed `/etc/hosts` (`etc-hosts`).
    pub pods_root: PathBuf,
    /// The node's allocatable resources, what `resourceFieldRef` reads for an unset limit.
    pub allocatable: BTreeMap<String, Quantity>,
    pub dns: NodeDns,
    pub resources: NodeResources,
}

impl NodeContext {
    fn sandbox_settings(&self, dns: crate::runtime::proto::DnsConfig) -> SandboxSettings {
        SandboxSettings { dns, cluster_domain: self.dns.cluster_domain.clone(), resources: self.resources }
    }
}

/// An event about the pod for the API (`Pulling`, `Started`, `BackOff`, ...), as upstream's
/// kubelet records them; the caller posts them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
    /// `spec.containers{name}` or `spec.initContainers{name}`.
    pub field_path: Option<String>,
}

fn field_path(init: bool, name: &str) -> Option<String> {
    Some(if init { format!("spec.initContainers{{{name}}}") } else { format!("spec.containers{{{name}}}") })
}

/// The kubelet's memory of one pod between syncs.
pub struct PodWorker {
    runtime: Arc<dyn Runtime>,
    node: Arc<NodeContext>,
    cluster: Arc<dyn Cluster>,
    /// Set up on the first sync, when the pod's uid is known.
    volumes: Option<PodVolumes>,
    /// The volumes as last set up, for the containers' mounts.
    ready: HashMap<String, Ready>,
    /// The last volume set-up failure reported (`FailedMount`), reported again only on change.
    mount_error: Option<String>,
    /// Containers whose config cannot be built (`CreateContainerConfigError`).
    config_errors: HashMap<String, Waiting>,
    backoff: BackOff,
    pull_backoff: BackOff,
    /// When each container's last image pull failed, and why.
    pull_errors: HashMap<String, (Timestamp, Waiting)>,
    transitions: Transitions,
    start_time: Option<Timestamp>,
    notes: Vec<Note>,
    /// Exited runs whose back-off was already reported.
    backoff_reported: HashSet<String>,
    probes: ProbeSet,
    /// Runs stopped for a failed liveness or startup probe (restarted whatever their exit).
    killed: HashSet<String>,
    /// When each run started, on tokio's clock, for the probes' initial delays.
    run_starts: HashMap<String, tokio::time::Instant>,
    /// The last run of each container whose postStart hook failed, and why.
    failed_starts: HashMap<String, (String, Waiting)>,
}

/// Minimum time a container is given to stop, as upstream's `minimumGracePeriodInSeconds`.
const MIN_GRACE: u64 = 2;

/// Stops run `id` of `container` as upstream's `killContainer`: its preStop hook first (if
/// there is time), bounded by `grace`, then the stop signal with what is left of `grace` (at
/// least [`MIN_GRACE`]), then SIGKILL. Returns the events to record.
async fn kill(
    runtime: &dyn Runtime,
    pod: &PodRef,
    container: Option<&Container>,
    id: &str,
    pod_ip: &str,
    grace: u64,
) -> (Vec<Note>, Result<()>) {
    let mut notes = Vec::new();
    let mut left = grace;
    let pre_stop = container.and_then(|c| c.lifecycle.as_ref()?.pre_stop.as_ref().map(|h| (c, h)));
    if let Some((c, handler)) = pre_stop
        && grace > 0
    {
        let started = std::time::Instant::now();
        let ran = tokio::time::timeout(
            Duration::from_secs(grace),
            hooks::run(runtime, handler, pod, c, id, pod_ip),
        )
        .await;
        match ran {
            Ok(Ok(())) => {}
            Ok(Err(message)) => {
                tracing::warn!("{message}");
                let path = field_path(false, &c.name);
                notes.push(Note {
                    warning: true,
                    reason: "FailedPreStopHook",
                    message: "PreStopHook failed".into(),
                    field_path: path,
                });
            }
            Err(_) => tracing::info!("the preStop hook of container {} did not end within {grace} s", c.name),
        }
        left = grace.saturating_sub(started.elapsed().as_secs());
    }
    let stopped = match runtime.stop_container(id, Duration::from_secs(left.max(MIN_GRACE))).await {
        Err(err) if !err.is_not_found() => Err(err.into()),
        _ => Ok(()),
    };
    (notes, stopped)
}

/// The runtime's view of the pod: its newest sandbox and that sandbox's runs.
struct Seen {
    observed: Observed,
    sandbox_id: Option<String>,
    pod_ip: Option<String>,
    /// Every sandbox of the pod, newest first (older ones are removed).
    sandboxes: Vec<String>,
    /// The newest sandbox's attempt: a new sandbox takes the next (containerd reserves names).
    sandbox_attempt: Option<u32>,
}

fn nanos(t: i64) -> Option<Timestamp> {
    (t > 0).then(|| Timestamp::from_nanosecond(i128::from(t)).ok()).flatten()
}

fn wanted(containers: &[Container]) -> Vec<Wanted> {
    containers
        .iter()
        .map(|c| Wanted { name: c.name.clone(), image: c.image.clone().unwrap_or_default() })
        .collect()
}

fn policy(pod: &Pod) -> RestartPolicy {
    RestartPolicy::parse(pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()))
}

impl PodWorker {
    pub fn new(runtime: Arc<dyn Runtime>, node: Arc<NodeContext>, cluster: Arc<dyn Cluster>) -> PodWorker {
        PodWorker {
            probes: ProbeSet::new(runtime.clone()),
            runtime,
            node,
            cluster,
            volumes: None,
            ready: HashMap::new(),
            mount_error: None,
            config_errors: HashMap::new(),
            backoff: BackOff::default(),
            pull_backoff: BackOff::default(),
            pull_errors: HashMap::new(),
            transitions: Transitions::default(),
            start_time: None,
            notes: Vec::new(),
            backoff_reported: HashSet::new(),
            killed: HashSet::new(),
            run_starts: HashMap::new(),
            failed_starts: HashMap::new(),
        }
    }

    /// Notified when a probe result changes or a prober has an event: time to sync.
    pub fn wakeups(&self) -> Arc<tokio::sync::Notify> {
        self.probes.wakeups()
    }

    /// The events since the last call, the probers' included.
    pub fn take_notes(&mut self) -> Vec<Note> {
        let mut notes = std::mem::take(&mut self.notes);
        notes.extend(self.probes.take_notes());
        notes
    }

    /// Kills running containers whose liveness or startup probe failed, as upstream's
    /// `computePodActions`; the plan then starts them again. Returns whether any was killed.
    async fn kill_unhealthy(&mut self, pod: &Pod, seen: &Seen) -> Result<bool> {
        let r = PodRef::of(pod);
        let policy = policy(pod);
        let spec = pod.spec.clone().unwrap_or_default();
        let mut any = false;
        for c in &spec.containers {
            let Some(run) = seen.observed.runs.get(&c.name).and_then(|r| r.first()) else { continue };
            if !matches!(run.state, RunState::Running { .. }) {
                continue;
            }
            let Some(kind) = self.probes.failed(&c.name, &run.id) else { continue };
            let (what, probe) = match kind {
                Kind::Startup => ("startup", c.startup_probe.as_ref()),
                _ => ("liveness", c.liveness_probe.as_ref()),
            };
            let mut message = format!("Container {} failed {what} probe", c.name);
            if policy != RestartPolicy::Never {
                message.push_str(", will be restarted");
            }
            self.note(false, "Killing", message, field_path(false, &c.name));
            let grace = probe
                .and_then(|p| p.termination_grace_period_seconds)
                .or(spec.termination_grace_period_seconds)
                .unwrap_or(30)
                .max(0) as u64;
            let pod_ip = seen.pod_ip.clone().unwrap_or_default();
            let (notes, stopped) = kill(self.runtime.as_ref(), &r, Some(c), &run.id, &pod_ip, grace).await;
            self.notes.extend(notes);
            stopped?;
            self.killed.insert(run.id.clone());
            any = true;
        }
        Ok(any)
    }

    /// Tells the probers which run of each container to probe.
    fn publish_targets(&mut self, pod: &Pod, seen: &Seen) {
        let policy = policy(pod);
        let pod_ip = seen.pod_ip.clone().unwrap_or_default();
        let mut targets = HashMap::new();
        let live: HashSet<&String> = seen.observed.runs.values().flatten().map(|r| &r.id).collect();
        self.run_starts.retain(|id, _| live.contains(id));
        self.killed.retain(|id| live.contains(id));
        for (name, runs) in &seen.observed.runs {
            let Some(run) = runs.first() else { continue };
            let (running, finished, started) = match &run.state {
                RunState::Running { started_at } => (true, false, Some(*started_at)),
                RunState::Exited { exit_code, .. } => (false, !run.restarts(policy, *exit_code), None),
                RunState::Created => (false, false, None),
            };
            let started_at = *self.run_starts.entry(run.id.clone()).or_insert_with(|| {
                let ago = started
                    .and_then(|s| Timestamp::now().duration_since(s).try_into().ok())
                    .unwrap_or(Duration::ZERO);
                let now = tokio::time::Instant::now();
                now.checked_sub(ago).unwrap_or(now)
            });
            let target = Target {
                container_id: run.id.clone(),
                running,
                finished,
                started_at,
                pod_ip: pod_ip.clone(),
            };
            targets.insert(name.clone(), target);
        }
        self.probes.set_targets(targets);
    }

    /// Runs the postStart hook of a just started run; on failure kills it, as upstream.
    async fn post_start(&mut self, pod: &Pod, container: &Container, id: &str, pod_ip: &str) -> Result<()> {
        let Some(handler) = container.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) else {
            return Ok(());
        };
        let r = PodRef::of(pod);
        let Err(message) = hooks::run(self.runtime.as_ref(), handler, &r, container, id, pod_ip).await else {
            return Ok(());
        };
        tracing::warn!("{message}");
        let why = Waiting { reason: "PostStartHookError".into(), message: Some(message) };
        self.failed_starts.insert(container.name.clone(), (id.to_string(), why));
        let path = field_path(false, &container.name);
        self.note(true, "FailedPostStartHook", "PostStartHook failed".into(), path.clone());
        self.note(false, "Killing", "FailedPostStartHook".into(), path);
        let grace = pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds).unwrap_or(30).max(0);
        let (notes, stopped) =
            kill(self.runtime.as_ref(), &r, Some(container), id, pod_ip, grace as u64).await;
        self.notes.extend(notes);
        stopped
    }

    fn note(&mut self, warning: bool, reason: &'static str, message: String, field_path: Option<String>) {
        self.notes.push(Note { warning, reason, message, field_path });
    }

    /// A `BackOff` event once per exited run that waits out its back-off.
    fn note_backoffs(&mut self, pod: &Pod, seen: &Seen, now: Timestamp) {
        let r = PodRef::of(pod);
        let policy = policy(pod);
        let spec = pod.spec.clone().unwrap_or_default();
        let all = spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| (true, c))
            .chain(spec.containers.iter().map(|c| (false, c)));
        for (init, c) in all {
            let Some(run) = seen.observed.runs.get(&c.name).and_then(|r| r.first()) else { continue };
            let RunState::Exited { exit_code, finished_at, .. } = run.state else { continue };
            if (init && exit_code == 0)
                || !run.restarts(policy, exit_code)
                || !self.backoff.waiting(&c.name, finished_at, now)
            {
                continue;
            }
            if self.backoff_reported.insert(run.id.clone()) {
                let message =
                    format!("Back-off restarting failed container {} in pod {}", c.name, r.display());
                self.note(true, "BackOff", message, field_path(init, &c.name));
            }
        }
    }

    async fn observe(&self, pod: &Pod) -> Result<Seen> {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let filter = PodSandboxFilter {
            label_selector: HashMap::from([(POD_UID_LABEL.to_string(), uid.to_string())]),
            ..Default::default()
        };
        let mut sandboxes = self.runtime.list_pod_sandboxes(Some(filter)).await?;
        sandboxes.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        let mut seen = Seen {
            observed: Observed::default(),
            sandbox_id: None,
            pod_ip: None,
            sandboxes: sandboxes.iter().map(|s| s.id.clone()).collect(),
            sandbox_attempt: None,
        };
        let Some(newest) = sandboxes.first() else { return Ok(seen) };
        seen.observed.sandbox_ready = newest.state() == PodSandboxState::SandboxReady;
        seen.sandbox_id = Some(newest.id.clone());
        seen.sandbox_attempt = Some(newest.metadata.as_ref().map_or(0, |m| m.attempt));
        let status = self.runtime.pod_sandbox_status(&newest.id).await?;
        seen.pod_ip = status.network.map(|n| n.ip).filter(|ip| !ip.is_empty());
        if pod.spec.as_ref().and_then(|s| s.host_network).unwrap_or(false) {
            // The runtime reports no address for a sandbox on the node's network: it is the node's.
            seen.pod_ip = Some(self.node.host_ip.clone());
        }
        let filter = ContainerFilter { pod_sandbox_id: newest.id.clone(), ..Default::default() };
        for container in self.runtime.list_containers(Some(filter)).await? {
            let status = match self.runtime.container_status(&container.id).await {
                Ok(s) => s,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            let name = status.metadata.as_ref().map(|m| m.name.clone()).unwrap_or_default();
            let attempt = status.metadata.as_ref().map_or(0, |m| m.attempt);
            let state = match status.state() {
                ContainerState::ContainerCreated => RunState::Created,
                ContainerState::ContainerRunning => {
                    RunState::Running { started_at: nanos(status.started_at).unwrap_or_else(Timestamp::now) }
                }
                ContainerState::ContainerExited | ContainerState::ContainerUnknown => RunState::Exited {
                    exit_code: status.exit_code,
                    reason: status.reason.clone(),
                    message: status.message.clone(),
                    started_at: nanos(status.started_at),
                    finished_at: nanos(status.finished_at).unwrap_or_else(Timestamp::now),
                },
            };
            let run = Run {
                id: container.id.clone(),
                attempt,
                state,
                image_ref: status.image_ref.clone(),
                killed: self.killed.contains(&container.id),
            };
            seen.observed.runs.entry(name).or_default().push(run);
        }
        for runs in seen.observed.runs.values_mut() {
            runs.sort_by_key(|r| std::cmp::Reverse(r.attempt));
        }
        Ok(seen)
    }

    /// Moves the pod on one step (sandbox, containers, restarts) and returns its status.
    /// `finished` says the API already shows a terminal phase: the pod only has its sandbox
    /// stopped.
    ///
    /// # Errors
    /// When the runtime fails a call other than an image pull.
    pub async fn sync(&mut self, pod: &Pod, finished: bool, now: Timestamp) -> Result<PodStatus> {
        let r = PodRef::of(pod);
        let spec = pod.spec.clone().unwrap_or_default();
        let (init, containers) =
            (wanted(spec.init_containers.as_deref().unwrap_or_default()), wanted(&spec.containers));
        let policy = policy(pod);
        self.start_time.get_or_insert_with(|| {
            pod.status.as_ref().and_then(|s| s.start_time.as_ref()).map_or(now, |t| t.0)
        });
        self.probes.start(pod);
        let mut seen = self.observe(pod).await?;
        if !finished {
            self.cluster.prepare(pod).await;
        }
        if !finished && !self.set_up_volumes(pod, &seen).await {
            // As upstream: nothing starts until every volume is ready; what runs keeps running.
            self.note_backoffs(pod, &seen, now);
            return Ok(self.status(pod, &seen, false, now));
        }
        if !finished && self.kill_unhealthy(pod, &seen).await? {
            seen = self.observe(pod).await?;
        }
        // A new sandbox is followed at once by the containers' first step.
        for _ in 0..2 {
            let actions =
                plan::plan(policy, &init, &containers, &seen.observed, &self.backoff, finished, now);
            for action in &actions {
                self.act(pod, &r, action, &seen, now).await?;
            }
            if actions.is_empty() {
                break;
            }
            seen = self.observe(pod).await?;
            if actions != [Action::CreateSandbox] {
                break;
            }
        }
        self.collect_garbage(&seen).await;
        self.publish_targets(pod, &seen);
        if finished && !seen.observed.sandbox_ready && self.volumes.take().is_some() {
            // As upstream: a finished pod's volumes are torn down (tmpfs released) before the
            // pod object goes.
            if let Err(err) = volumes::tear_down(&self.node.pods_root, &r.uid) {
                tracing::warn!(pod = %r.display(), "removing the volumes of a finished pod: {err:#}");
            }
        }
        self.note_backoffs(pod, &seen, now);
        let status = self.status(pod, &seen, false, now);
        if status.phase.is_terminal() && seen.observed.sandbox_ready {
            // As upstream: a finished pod's sandbox is stopped, releasing its address.
            if let Some(id) = &seen.sandbox_id {
                self.runtime.stop_pod_sandbox(id).await?;
            }
        }
        Ok(status)
    }

    async fn act(
        &mut self,
        pod: &Pod,
        r: &PodRef,
        action: &Action,
        seen: &Seen,
        now: Timestamp,
    ) -> Result<()> {
        match action {
            Action::CreateSandbox => {
                // A dead sandbox goes first with its containers, whose names the new runs reuse.
                for old in &seen.sandboxes {
                    self.runtime.stop_pod_sandbox(old).await?;
                    self.runtime.remove_pod_sandbox(old).await?;
                }
                let attempt = seen.sandbox_attempt.map_or(0, |a| a + 1);
                let (dns, missing) = dns::pod_dns(pod, &self.node.dns);
                if let Some(missing) = missing {
                    self.note(true, "MissingClusterDNS", missing.message, None);
                }
                let settings = self.node.sandbox_settings(dns);
                let config = config::sandbox_config(pod, attempt, &self.node.log_root, &settings);
                std::fs::create_dir_all(&config.log_directory)
                    .with_context(|| format!("creating {}", config.log_directory))?;
                self.runtime.run_pod_sandbox(&config, "").await?;
                tracing::info!(pod = %format!("{}/{}", r.namespace, r.name), "sandbox created");
            }
            Action::StartCreated { id } => self.runtime.start_container(id).await?,
            Action::StopSandbox => {
                if let Some(id) = &seen.sandbox_id {
                    self.runtime.stop_pod_sandbox(id).await?;
                }
            }
            Action::Start { name, init, attempt } => {
                let spec = pod.spec.as_ref();
                let list = if *init {
                    spec.and_then(|s| s.init_containers.as_ref())
                } else {
                    spec.map(|s| &s.containers)
                };
                let Some(container) = list.into_iter().flatten().find(|c| &c.name == name) else {
                    return Ok(());
                };
                let Some(sandbox_id) = &seen.sandbox_id else { return Ok(()) };
                let Some(image_ref) = self.ensure_image(pod, container, *init, now).await? else {
                    return Ok(());
                };
                let attempt_of_sandbox = seen.sandbox_attempt.unwrap_or(0);
                let settings = self.node.sandbox_settings(dns::pod_dns(pod, &self.node.dns).0);
                let sandbox = config::sandbox_config(pod, attempt_of_sandbox, &self.node.log_root, &settings);
                let downward = self.downward(pod, seen);
                let built = env::resolve(pod, container, &downward, self.cluster.as_ref()).and_then(|env| {
                    let mounts = volumes::mounts::mounts(container, &self.ready, &env)?;
                    Ok((env, mounts))
                });
                let (env, mounts) = match built {
                    Ok(built) => built,
                    Err(message) => {
                        self.config_error(name, *init, message);
                        return Ok(());
                    }
                };
                for skipped in &env.skipped {
                    // As upstream: about the pod, not one of its containers.
                    self.note(true, "InvalidEnvironmentVariableNames", skipped.message.clone(), None);
                }
                // Clears the container's config error once this part builds too.
                let Some(linux) = self.linux_config(pod, container, *init).await? else { return Ok(()) };
                let mut config =
                    config::container_config(pod, container, *attempt, &image_ref, &env, mounts, linux);
                let pod_ips: Vec<String> = seen.pod_ip.iter().cloned().collect();
                if hosts::wanted(pod, container, &pod_ips) {
                    // Last, as upstream's makeMounts adds it after the volumes.
                    config.mounts.push(self.write_hosts(pod, &pod_ips)?);
                }
                let id = self.runtime.create_container(sandbox_id, &config, &sandbox).await?;
                self.note(false, "Created", format!("Created container: {name}"), field_path(*init, name));
                self.runtime.start_container(&id).await?;
                self.note(false, "Started", format!("Started container {name}"), field_path(*init, name));
                if *attempt > 0 {
                    self.backoff.restarted(name);
                }
                let pod_ip = downward.pod_ips.first().cloned().unwrap_or_default();
                self.post_start(pod, container, &id, &pod_ip).await?;
            }
        }
        Ok(())
    }

    fn downward(&self, pod: &Pod, seen: &Seen) -> Downward {
        let host_network = pod.spec.as_ref().and_then(|s| s.host_network).unwrap_or(false);
        // As upstream: a pod on the host's network has the node's addresses.
        let pod_ip = seen.pod_ip.clone().or_else(|| host_network.then(|| self.node.host_ip.clone()));
        Downward {
            pod_ips: pod_ip.into_iter().collect(),
            host_ips: vec![self.node.host_ip.clone()],
            allocatable: self.node.allocatable.clone(),
        }
    }

    /// Sets up or refreshes the pod's volumes; on failure records a `FailedMount` event (once
    /// per distinct failure) and returns false.
    async fn set_up_volumes(&mut self, pod: &Pod, seen: &Seen) -> bool {
        let downward = self.downward(pod, seen);
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let volumes = self.volumes.get_or_insert_with(|| PodVolumes::new(&self.node.pods_root, &uid));
        match volumes.set_up(pod, &downward, self.cluster.as_ref()).await {
            Ok(ready) => {
                self.ready = ready;
                self.mount_error = None;
                true
            }
            Err(err) => {
                let message = err.event_message();
                if self.mount_error.as_ref() != Some(&message) {
                    tracing::warn!(pod = %PodRef::of(pod).display(), "{message}");
                    self.note(true, "FailedMount", message.clone(), None);
                    self.mount_error = Some(message);
                }
                false
            }
        }
    }

    /// The container's Linux settings, run as its image's user unless the pod says otherwise;
    /// `None` (with `CreateContainerConfigError` recorded for the status) when they cannot be
    /// made.
    async fn linux_config(
        &mut self,
        pod: &Pod,
        container: &Container,
        init: bool,
    ) -> Result<Option<crate::runtime::proto::LinuxContainerConfig>> {
        let image = container.image.clone().unwrap_or_default();
        let user = ImageUser::of(self.runtime.image_status(&image).await?.as_ref());
        match config::linux_container_config(pod, container, &self.node.resources, &user) {
            Ok(linux) => {
                self.config_errors.remove(&container.name);
                Ok(Some(linux))
            }
            Err(message) => {
                self.config_error(&container.name, init, message);
                Ok(None)
            }
        }
    }

    /// A container whose config cannot be built waits with `CreateContainerConfigError`, and a
    /// `Failed` event says why (once per distinct message).
    fn config_error(&mut self, name: &str, init: bool, message: String) {
        if self.config_errors.get(name).and_then(|w| w.message.as_ref()) != Some(&message) {
            self.note(true, "Failed", format!("Error: {message}"), field_path(init, name));
        }
        let waiting = Waiting { reason: "CreateContainerConfigError".into(), message: Some(message) };
        self.config_errors.insert(name.to_string(), waiting);
    }

    /// Writes the pod's managed `/etc/hosts` and returns its mount.
    fn write_hosts(&self, pod: &Pod, pod_ips: &[String]) -> Result<crate::runtime::proto::Mount> {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let node_hosts = if pod.spec.as_ref().and_then(|s| s.host_network).unwrap_or(false) {
            std::fs::read_to_string(hosts::ETC_HOSTS).unwrap_or_default()
        } else {
            String::new()
        };
        let content = hosts::content(pod, pod_ips, &self.node.dns.cluster_domain, &node_hosts);
        let file = hosts::path(&self.node.pods_root, uid);
        hosts::write(&file, &content).with_context(|| format!("writing {}", file.display()))
    }

    /// Removes what the pod left on the node besides the runtime's: its managed files and its
    /// cgroup.
    fn clean_up(&self, pod: &Pod) {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let file = hosts::path(&self.node.pods_root, uid);
        if let Err(e) = std::fs::remove_file(&file)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("removing {}: {e}", file.display());
        }
        if let Some(dir) = file.parent() {
            // Only when empty: other files of the pod (volumes) are not this code's to remove.
            let _ = std::fs::remove_dir(dir);
        }
        cgroups::remove(&resources::cgroup_parent(pod));
    }

    /// The image of `container` per its pull policy; `None` (with the reason recorded for the
    /// status) when it cannot be had now.
    /// Pulls `image` with the pod's `imagePullSecrets`: each matching credential in turn (as
    /// upstream's puller), anonymously when none matches; the last failure if all fail.
    async fn pull(&self, pod: &Pod, image: &str) -> crate::runtime::Result<String> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let refs = pod.spec.as_ref().and_then(|s| s.image_pull_secrets.as_ref());
        let secrets: Vec<_> =
            refs.into_iter().flatten().filter_map(|r| self.cluster.secret(namespace, &r.name)).collect();
        let secrets: Vec<&k8s_openapi::api::core::v1::Secret> = secrets.iter().map(AsRef::as_ref).collect();
        // With no candidate the first pull is anonymous.
        let mut candidates = super::pull_secrets::credentials(image, &secrets).into_iter();
        let mut result = self.runtime.pull_image(image, candidates.next(), None).await;
        for auth in candidates {
            if result.is_ok() {
                break;
            }
            result = self.runtime.pull_image(image, Some(auth), None).await;
        }
        result
    }

    async fn ensure_image(
        &mut self,
        pod: &Pod,
        container: &Container,
        init: bool,
        now: Timestamp,
    ) -> Result<Option<String>> {
        let image = container.image.clone().unwrap_or_default();
        let name = &container.name;
        let path = field_path(init, name);
        let policy = container.image_pull_policy.clone().unwrap_or_else(|| {
            let tag = image.rsplit('/').next().unwrap_or_default();
            if image.contains('@') || (tag.contains(':') && !tag.ends_with(":latest")) {
                "IfNotPresent".into()
            } else {
                "Always".into()
            }
        });
        if policy != "Always"
            && let Some(present) = self.runtime.image_status(&image).await?
        {
            self.pull_errors.remove(name);
            let message = format!("Container image {image:?} already present on machine");
            self.note(false, "Pulled", message, path);
            return Ok(Some(present.id));
        }
        if policy == "Never" {
            let message = format!("Container image {image:?} is not present with pull policy of Never");
            if self.pull_errors.get(name).is_none_or(|(_, w)| w.reason != "ErrImageNeverPull") {
                self.note(true, "ErrImageNeverPull", message.clone(), path);
            }
            self.pull_errors.insert(
                name.clone(),
                (now, Waiting { reason: "ErrImageNeverPull".into(), message: Some(message) }),
            );
            return Ok(None);
        }
        let previous = self.pull_errors.get(name).map(|(at, w)| (*at, w.reason.clone()));
        if let Some((failed_at, reason)) = previous
            && self.pull_backoff.waiting(name, failed_at, now)
        {
            let message = format!("Back-off pulling image {image:?}");
            if reason != "ImagePullBackOff" {
                self.note(false, "BackOff", message.clone(), path);
            }
            let waiting = Waiting { reason: "ImagePullBackOff".into(), message: Some(message) };
            self.pull_errors.insert(name.clone(), (failed_at, waiting));
            return Ok(None);
        }
        self.note(false, "Pulling", format!("Pulling image {image:?}"), path.clone());
        let started = std::time::Instant::now();
        match self.pull(pod, &image).await {
            Ok(image_ref) => {
                self.pull_errors.remove(name);
                let took = started.elapsed().as_secs_f64();
                self.note(
                    false,
                    "Pulled",
                    format!("Successfully pulled image {image:?} in {took:.3}s"),
                    path,
                );
                Ok(Some(image_ref))
            }
            Err(err) => {
                tracing::warn!("pulling {image}: {err}");
                self.note(true, "Failed", format!("Failed to pull image {image:?}: {err}"), path);
                self.pull_backoff.restarted(name);
                let waiting = Waiting { reason: "ErrImagePull".into(), message: Some(err.to_string()) };
                self.pull_errors.insert(name.clone(), (now, waiting));
                Ok(None)
            }
        }
    }

    /// Removes all but the two newest runs of each container (the running one and the last
    /// exited, which `lastState` shows), and stopped sandboxes older than the newest.
    async fn collect_garbage(&self, seen: &Seen) {
        for runs in seen.observed.runs.values() {
            for old in runs.iter().skip(2) {
                if let Err(err) = self.runtime.remove_container(&old.id).await {
                    tracing::warn!("removing an old container: {err}");
                }
            }
        }
        for old in seen.sandboxes.iter().skip(1) {
            let stopped = self.runtime.stop_pod_sandbox(old).await;
            if let Err(err) = stopped.and(self.runtime.remove_pod_sandbox(old).await) {
                tracing::warn!("removing an old sandbox: {err}");
            }
        }
    }

    fn status(&mut self, pod: &Pod, seen: &Seen, terminal: bool, now: Timestamp) -> PodStatus {
        let r = PodRef::of(pod);
        let spec = pod.spec.clone().unwrap_or_default();
        let (init, containers) =
            (wanted(spec.init_containers.as_deref().unwrap_or_default()), wanted(&spec.containers));
        let policy = policy(pod);
        let pod_ref = r.display();
        let mut waiting: HashMap<String, Waiting> =
            self.pull_errors.iter().map(|(k, (_, w))| (k.clone(), w.clone())).collect();
        let health: HashMap<String, Health> = seen
            .observed
            .runs
            .iter()
            .filter_map(|(name, runs)| Some((name.clone(), self.probes.health(name, &runs.first()?.id)?)))
            .collect();
        waiting.extend(self.config_errors.iter().map(|(k, w)| (k.clone(), w.clone())));
        let inputs = StatusInputs {
            policy: Some(policy),
            pod_ref: &pod_ref,
            waiting: &waiting,
            backoff: Some(&self.backoff),
            terminal,
            health: &health,
            failed_starts: &self.failed_starts,
        };
        let (init_statuses, statuses) = plan::statuses(&inputs, &init, &containers, &seen.observed, now);
        let initialized = pod_status::is_initialized(&init_statuses, &statuses);
        let phase = pod_status::phase(policy, &init_statuses, &statuses, initialized, terminal);
        let inputs = ConditionInputs { sandbox_ready: seen.observed.sandbox_ready, readiness_gates: &[] };
        let conditions = pod_status::conditions(&inputs, &init_statuses, &statuses, phase);
        let transitions = self.transitions.observe(&conditions, now);
        PodStatus {
            phase,
            conditions,
            transitions,
            host_ip: Some(self.node.host_ip.clone()),
            pod_ip: seen.pod_ip.clone(),
            start_time: self.start_time,
            init_container_statuses: init_statuses,
            container_statuses: statuses,
            observed_generation: pod.metadata.generation,
        }
    }

    /// Stops the pod for good: its containers with `grace` (their stop signal, then SIGKILL),
    /// then its sandboxes, which are removed. Returns the final status.
    ///
    /// # Errors
    /// When the runtime fails.
    pub async fn terminate(&mut self, pod: &Pod, grace: Duration, now: Timestamp) -> Result<PodStatus> {
        let r = PodRef::of(pod);
        self.probes.deleting();
        let seen = self.observe(pod).await?;
        let spec = pod.spec.clone().unwrap_or_default();
        let all: Vec<(bool, &Container)> = spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| (true, c))
            .chain(spec.containers.iter().map(|c| (false, c)))
            .collect();
        let mut stops = Vec::new();
        for (name, runs) in &seen.observed.runs {
            let Some(run) = runs.first().filter(|r| !matches!(r.state, RunState::Exited { .. })) else {
                continue;
            };
            let found = all.iter().find(|(_, c)| &c.name == name);
            let init = found.is_some_and(|(init, _)| *init);
            self.note(false, "Killing", format!("Stopping container {name}"), field_path(init, name));
            // Only a running container gets its preStop hook; one never started is just removed.
            let running = matches!(run.state, RunState::Running { .. });
            stops.push((found.filter(|_| running).map(|(_, c)| *c), run.id.clone()));
        }
        let pod_ip = seen.pod_ip.clone().unwrap_or_default();
        let runtime = self.runtime.clone();
        let kills = stops.iter().map(|(c, id)| kill(runtime.as_ref(), &r, *c, id, &pod_ip, grace.as_secs()));
        for (notes, stopped) in futures::future::join_all(kills).await {
            self.notes.extend(notes);
            stopped?;
        }
        self.probes.stop();
        for id in &seen.sandboxes {
            self.runtime.stop_pod_sandbox(id).await?;
        }
        let seen = self.observe(pod).await?;
        let mut status = self.status(pod, &seen, true, now);
        if status.phase == Phase::Pending || status.phase == Phase::Running {
            // Nothing ever ran (or the runtime lost it): the kubelet reports the pod failed.
            status.phase = Phase::Failed;
        }
        for id in &seen.sandboxes {
            self.runtime.remove_pod_sandbox(id).await?;
        }
        self.clean_up(pod);
        volumes::tear_down(&self.node.pods_root, &r.uid)?;
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{pod_status::State, pods::cluster::StaticCluster, runtime::FakeRuntime};

    fn node() -> Arc<NodeContext> {
        let dir = std::env::temp_dir().join(format!("tug-pod-worker-{}", std::process::id()));
        Arc::new(NodeContext {
            node_name: "n1".into(),
            host_ip: "192.168.0.2".into(),
            pods_root: dir.join("pods"),
            log_root: dir,
            allocatable: BTreeMap::new(),
            dns: NodeDns { cluster_domain: "cluster.local".into(), ..Default::default() },
            resources: NodeResources { memory_capacity: 1 << 30, cgroup_v2: false, swap_accounting: false },
        })
    }

    fn pod(policy: &str, init: bool) -> Pod {
        let mut pod = serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
            "spec": {
                "nodeName": "n1",
                "restartPolicy": policy,
                "containers": [{"name": "main", "image": "busybox:1", "command": ["sh"]}],
            },
        });
        if init {
            pod["spec"]["initContainers"] = serde_json::json!([{"name": "setup", "image": "busybox:1"}]);
        }
        serde_json::from_value(pod).unwrap()
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn container_id(status: &PodStatus, init: bool) -> String {
        let list = if init { &status.init_container_statuses } else { &status.container_statuses };
        list[0].container_id.clone().unwrap().trim_start_matches("containerd://").to_string()
    }

    #[tokio::test]
    async fn init_containers_run_to_completion_before_the_main_container() {
        let fake = Arc::new(FakeRuntime::new());
        let mut worker = PodWorker::new(fake.clone(), node(), Arc::new(StaticCluster::default()));
        let pod = pod("Always", true);
        let status = worker.sync(&pod, false, t(0)).await.unwrap();
        assert_eq!(status.phase, Phase::Pending);
        assert_eq!(status.pod_ip.as_deref(), Some("10.42.0.2"));
        assert!(matches!(status.init_container_statuses[0].state, State::Running { .. }));
        assert_eq!(status.container_statuses[0].state, State::waiting("PodInitializing"));
        fake.exit(&container_id(&status, true), 0);
        let status = worker.sync(&pod, false, t(2)).await.unwrap();
        assert_eq!(status.phase, Phase::Running);
        assert!(status.init_container_statuses[0].ready);
        assert!(matches!(status.container_statuses[0].state, State::Running { .. }));
        assert!(status.conditions.iter().all(|c| c.status), "{:?}", status.conditions);
        let pulls = fake.calls().iter().filter(|c| **c == "PullImage").count();
        assert_eq!(pulls, 1, "busybox:1 is pulled only if absent: {:?}", fake.calls());
    }

    #[tokio::test]
    async fn a_crashing_container_restarts_with_back_off() {
        let fake = Arc::new(FakeRuntime::new());
        let mut worker = PodWorker::new(fake.clone(), node(), Arc::new(StaticCluster::default()));
        let pod = pod("Always", false);
        let status = worker.sync(&pod, false, t(0)).await.unwrap();
        fake.exit(&container_id(&status, false), 1);
        // The first restart is immediate.
        let status = worker.sync(&pod, false, Timestamp::now()).await.unwrap();
        assert_eq!(status.container_statuses[0].restart_count, 1);
        assert!(matches!(status.container_statuses[0].state, State::Running { .. }));
        fake.exit(&container_id(&status, false), 1);
        let status = worker.sync(&pod, false, Timestamp::now()).await.unwrap();
        let c = &status.container_statuses[0];
        assert!(matches!(&c.state, State::Waiting { reason, .. } if reason == "CrashLoopBackOff"), "{c:?}");
        assert_eq!(c.last_state.as_ref().map(|t| t.exit_code), Some(1));
        assert_eq!(status.phase, Phase::Running);
        // Ten seconds later it runs again.
        let later = crate::time::after(Timestamp::now(), Duration::from_secs(11));
        let status = worker.sync(&pod, false, later).await.unwrap();
        assert_eq!(status.container_statuses[0].restart_count, 2);
        let reasons: Vec<&str> =
            worker.take_notes().iter().map(|n| n.reason).collect::<Vec<_>>().leak().to_vec();
        assert_eq!(reasons.iter().filter(|r| **r == "BackOff").count(), 1, "{reasons:?}");
        assert_eq!(reasons.iter().filter(|r| **r == "Started").count(), 3, "{reasons:?}");
    }

    #[tokio::test]
    async fn a_finished_pod_stops_its_sandbox_and_deletion_removes_it() {
        let fake = Arc::new(FakeRuntime::new());
        let mut worker = PodWorker::new(fake.clone(), node(), Arc::new(StaticCluster::default()));
        let pod = pod("Never", false);
        let status = worker.sync(&pod, false, t(1)).await.unwrap();
        fake.exit(&container_id(&status, false), 0);
        let status = worker.sync(&pod, false, t(2)).await.unwrap();
        assert_eq!(status.phase, Phase::Succeeded);
        assert!(
            matches!(&status.container_statuses[0].state, State::Terminated(t) if t.reason == "Completed")
        );
        assert!(fake.calls().contains(&"StopPodSandbox"));
        let status = worker.terminate(&pod, Duration::from_secs(30), t(3)).await.unwrap();
        assert_eq!(status.phase, Phase::Succeeded);
        assert!(fake.list_pod_sandboxes(None).await.unwrap().is_empty());

        let running = self::pod("Always", false);
        let mut worker = PodWorker::new(fake.clone(), node(), Arc::new(StaticCluster::default()));
        worker.sync(&running, false, t(1)).await.unwrap();
        let status = worker.terminate(&running, Duration::from_secs(30), t(2)).await.unwrap();
        assert!(matches!(&status.container_statuses[0].state, State::Terminated(t) if t.exit_code == 137));
        assert_eq!(status.phase, Phase::Failed);
        assert!(fake.list_containers(None).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_dead_sandbox_is_replaced_with_the_next_attempt() {
        let fake = Arc::new(FakeRuntime::new());
        let mut worker = PodWorker::new(fake.clone(), node(), Arc::new(StaticCluster::default()));
        let pod = pod("Always", false);
        worker.sync(&pod, false, t(0)).await.unwrap();
        let first = fake.list_pod_sandboxes(None).await.unwrap();
        fake.stop_pod_sandbox(&first[0].id).await.unwrap();
        let status = worker.sync(&pod, false, t(1)).await.unwrap();
        assert!(matches!(status.container_statuses[0].state, State::Running { .. }), "{status:?}");
        let sandboxes = fake.list_pod_sandboxes(None).await.unwrap();
        assert_eq!(sandboxes.len(), 1, "the dead sandbox is removed");
        assert_eq!(sandboxes[0].metadata.as_ref().unwrap().attempt, 1);
    }

    fn probed_pod(main: serde_json::Value) -> Pod {
        let mut container = serde_json::json!({"name": "main", "image": "busybox:1"});
        container.as_object_mut().unwrap().extend(main.as_object().unwrap().clone());
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
            "spec": {"nodeName": "n1", "restartPolicy": "Always", "containers": [container]},
        }))
        .unwrap()
    }

    /// `ExecSync` of `[word]` exits 0 while `word` is in `passing`.
    fn script(fake: &FakeRuntime) -> Arc<std::sync::Mutex<HashSet<String>>> {
        let passing = Arc::new(std::sync::Mutex::new(HashSet::new()));
        let read = passing.clone();
        fake.script_exec(move |_, cmd| {
            let ok = read.lock().unwrap().contains(&cmd[0]);
            let stdout = format!("{} said no", cmd[0]).into_bytes();
            Ok(crate::runtime::proto::ExecSyncResponse { exit_code: i32::from(!ok), stdout, stderr: vec![] })
        });
        passing
    }

    async fn advance(secs: u64) {
        for _ in 0..secs * 10 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn probes_gate_readiness_and_a_failed_liveness_probe_restarts_the_container() {
        let fake = Arc::new(FakeRuntime::new());
        let passing = script(&fake);
        passing.lock().unwrap().insert("live".to_string());
        let mut worker = PodWorker::new(fake.clone(), node(), Arc::new(StaticCluster::default()));
        let pod = probed_pod(serde_json::json!({
            "readinessProbe": {"exec": {"command": ["ready"]}, "periodSeconds": 1, "failureThreshold": 1},
            "livenessProbe": {"exec": {"command": ["live"]}, "periodSeconds": 1, "failureThreshold": 2},
        }));
        let status = worker.sync(&pod, false, Timestamp::now()).await.unwrap();
        assert!(!status.container_statuses[0].ready, "not ready before the readiness probe passes");
        advance(2).await;
        let status = worker.sync(&pod, false, Timestamp::now()).await.unwrap();
        assert!(!status.container_statuses[0].ready);
        let ready = status.conditions.iter().find(|c| c.kind == "Ready").unwrap();
        assert_eq!(ready.message.as_deref(), Some("containers with unready status: [main]"));
        passing.lock().unwrap().insert("ready".to_string());
        advance(2).await;
        let status = worker.sync(&pod, false, Timestamp::now()).await.unwrap();
        assert!(status.container_statuses[0].ready);
        assert!(status.conditions.iter().all(|c| c.status), "{:?}", status.conditions);
        let notes = worker.take_notes();
        assert!(
            notes
                .iter()
                .any(|n| n.reason == "Unhealthy" && n.message == "Readiness probe failed: ready said no")
        );

        passing.lock().unwrap().remove("live");
        advance(3).await;
        let status = worker.sync(&pod, false, Timestamp::now()).await.unwrap();
        let c = &status.container_statuses[0];
        assert_eq!(c.restart_count, 1, "{c:?}");
        assert!(matches!(c.state, State::Running { .. }), "{c:?}");
        assert_eq!(c.last_state.as_ref().map(|t| t.exit_code), Some(137));
        assert!(!c.ready, "the new run waits for its readiness probe");
        let notes = worker.take_notes();
        let killing = notes.iter().find(|n| n.reason == "Killing").expect("a Killing event");
        assert_eq!(killing.message, "Container main failed liveness probe, will be restarted");
        assert_eq!(killing.field_path.as_deref(), Some("spec.containers{main}"));
        let unhealthy = notes.iter().filter(|n| n.message == "Liveness probe failed: live said no").count();
        assert_eq!(unhealthy, 2, "{notes:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn hooks_run_after_start_and_before_stop() {
        let fake = Arc::new(FakeRuntime::new());
        let passing = script(&fake);
        passing.lock().unwrap().insert("bye".to_string());
        let mut worker = PodWorker::new(fake.clone(), node(), Arc::new(StaticCluster::default()));
        let pod = probed_pod(serde_json::json!({
            "lifecycle": {"postStart": {"exec": {"command": ["hello"]}}, "preStop": {"exec": {"command": ["bye"]}}},
        }));
        // A failing postStart hook kills the run; the next sync starts another.
        let status = worker.sync(&pod, false, Timestamp::now()).await.unwrap();
        let c = &status.container_statuses[0];
        let State::Waiting { reason, message } = &c.state else { panic!("{c:?}") };
        assert_eq!(reason, "PostStartHookError");
        let message = message.as_deref().unwrap_or_default();
        assert!(message.starts_with("Exec lifecycle hook ([hello]) for Container \"main\""), "{message}");
        assert_eq!(c.last_state.as_ref().map(|t| t.exit_code), Some(137));
        let notes = worker.take_notes();
        let reasons: Vec<(&str, &str)> = notes.iter().map(|n| (n.reason, n.message.as_str())).collect();
        assert!(reasons.contains(&("FailedPostStartHook", "PostStartHook failed")), "{reasons:?}");
        assert!(reasons.contains(&("Killing", "FailedPostStartHook")), "{reasons:?}");
        assert_eq!(fake.execs().iter().filter(|(_, c)| c[0] == "bye").count(), 1, "preStop runs on any kill");

        passing.lock().unwrap().insert("hello".to_string());
        let status = worker.sync(&pod, false, Timestamp::now()).await.unwrap();
        assert!(matches!(status.container_statuses[0].state, State::Running { .. }), "{status:?}");
        let calls = fake.calls();
        let before = calls.len();
        worker.terminate(&pod, Duration::from_secs(30), Timestamp::now()).await.unwrap();
        let calls = &fake.calls()[before..];
        let exec = calls.iter().position(|c| *c == "ExecSync").expect("the preStop hook ran");
        let stop = calls.iter().position(|c| *c == "StopContainer").expect("then the container stopped");
        assert!(exec < stop, "{calls:?}");

        // A failing preStop hook is reported without its output; the container stops anyway.
        passing.lock().unwrap().remove("bye");
        let mut worker = PodWorker::new(fake.clone(), node(), Arc::new(StaticCluster::default()));
        let pod = probed_pod(serde_json::json!({"lifecycle": {"preStop": {"exec": {"command": ["bye"]}}}}));
        worker.sync(&pod, false, Timestamp::now()).await.unwrap();
        let status = worker.terminate(&pod, Duration::from_secs(30), Timestamp::now()).await.unwrap();
        assert!(matches!(&status.container_statuses[0].state, State::Terminated(_)));
        let notes = worker.take_notes();
        assert!(notes.iter().any(|n| n.reason == "FailedPreStopHook" && n.message == "PreStopHook failed"));
    }

    #[tokio::test]
    async fn a_missing_config_map_holds_the_container_until_it_appears() {
        let fake = Arc::new(FakeRuntime::new());
        let mut pod = pod("Always", false);
        let env =
            serde_json::json!([{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "a"}}}]);
        pod.spec.as_mut().unwrap().containers[0].env = serde_json::from_value(env).unwrap();
        let mut worker = PodWorker::new(fake.clone(), node(), Arc::new(StaticCluster::default()));
        let status = worker.sync(&pod, false, t(0)).await.unwrap();
        assert_eq!(
            status.container_statuses[0].state,
            State::Waiting {
                reason: "CreateContainerConfigError".into(),
                message: Some("configmap \"cfg\" not found".into())
            }
        );
        assert_eq!(status.phase, Phase::Pending);
        worker.sync(&pod, false, t(1)).await.unwrap();
        let failed: Vec<String> =
            worker.take_notes().into_iter().filter(|n| n.reason == "Failed").map(|n| n.message).collect();
        assert_eq!(failed, vec!["Error: configmap \"cfg\" not found"], "reported once");

        let cluster = StaticCluster::default()
            .with_config_map("ns", serde_json::json!({"metadata": {"name": "cfg"}, "data": {"a": "1"}}));
        let mut worker = PodWorker::new(fake.clone(), node(), Arc::new(cluster));
        let status = worker.sync(&pod, false, t(2)).await.unwrap();
        assert!(matches!(status.container_statuses[0].state, State::Running { .. }), "{status:?}");
    }

    #[tokio::test]
    async fn a_volume_that_cannot_be_set_up_keeps_the_pod_creating() {
        let fake = Arc::new(FakeRuntime::new());
        let mut pod = pod("Always", false);
        let volumes = serde_json::json!([{"name": "cfg", "configMap": {"name": "x"}}]);
        pod.spec.as_mut().unwrap().volumes = serde_json::from_value(volumes).unwrap();
        pod.metadata.uid = Some(format!("u-{}", std::process::id()));
        let mut worker = PodWorker::new(fake.clone(), node(), Arc::new(StaticCluster::default()));
        let status = worker.sync(&pod, false, t(0)).await.unwrap();
        assert_eq!(status.container_statuses[0].state, State::waiting("ContainerCreating"));
        assert!(fake.list_pod_sandboxes(None).await.unwrap().is_empty(), "no sandbox before the volumes");
        let notes = worker.take_notes();
        assert_eq!(notes.len(), 1);
        assert_eq!(
            (notes[0].reason, notes[0].message.as_str()),
            ("FailedMount", "MountVolume.SetUp failed for volume \"cfg\" : configmap \"x\" not found")
        );
    }

    #[tokio::test]
    async fn run_as_non_root_with_a_root_image_is_a_config_error() {
        let fake = Arc::new(FakeRuntime::new());
        let mut worker = PodWorker::new(fake.clone(), node(), Arc::new(StaticCluster::default()));
        let mut pod = pod("Always", false);
        pod.spec.as_mut().unwrap().security_context =
            Some(serde_json::from_value(serde_json::json!({"runAsNonRoot": true})).unwrap());
        let status = worker.sync(&pod, false, t(1)).await.unwrap();
        let State::Waiting { reason, message } = &status.container_statuses[0].state else {
            panic!("{status:?}")
        };
        assert_eq!(reason, "CreateContainerConfigError");
        assert_eq!(
            message.as_deref(),
            Some(
                "container has runAsNonRoot and image will run as root (pod: \"p_ns(u1)\", container: main)"
            )
        );
        assert!(!fake.calls().contains(&"CreateContainer"));
        let failed: Vec<Note> = worker.take_notes().into_iter().filter(|n| n.reason == "Failed").collect();
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(failed[0].warning && failed[0].message.starts_with("Error: container has runAsNonRoot"));
        worker.sync(&pod, false, t(2)).await.unwrap();
        assert!(worker.take_notes().iter().all(|n| n.reason != "Failed"), "reported once");
    }

    #[tokio::test]
    async fn host_network_pods_have_the_nodes_address_and_every_container_a_hosts_file() {
        let fake = Arc::new(FakeRuntime::new());
        let node = node();
        let mut worker = PodWorker::new(fake.clone(), node.clone(), Arc::new(StaticCluster::default()));
        let mut pod = pod("Always", false);
        pod.metadata.uid = Some("u-hostnet".into());
        pod.spec.as_mut().unwrap().host_network = Some(true);
        let status = worker.sync(&pod, false, t(1)).await.unwrap();
        assert_eq!(status.pod_ip.as_deref(), Some("192.168.0.2"));
        let id = container_id(&status, false);
        let mounts = fake.container_status(&id).await.unwrap().mounts;
        let file = hosts::path(&node.pods_root, "u-hostnet");
        assert_eq!(
            mounts.last().map(|m| (m.container_path.as_str(), m.host_path.clone())),
            Some(("/etc/hosts", file.to_string_lossy().into_owned()))
        );
        let content = std::fs::read_to_string(&file).unwrap();
        assert!(content.starts_with("# Kubernetes-managed hosts file (host network).\n"), "{content}");
        worker.terminate(&pod, Duration::from_secs(1), t(2)).await.unwrap();
        assert!(!file.exists(), "removed with the pod");
    }

    #[tokio::test]
    async fn image_pull_failures_show_and_back_off() {
        let fake = Arc::new(FakeRuntime::new());
        fake.refuse_pull("busybox:1", "not found");
        let mut worker = PodWorker::new(fake.clone(), node(), Arc::new(StaticCluster::default()));
        let pod = pod("Always", false);
        let status = worker.sync(&pod, false, t(1)).await.unwrap();
        assert!(
            matches!(&status.container_statuses[0].state, State::Waiting { reason, .. } if reason == "ErrImagePull")
        );
        let status = worker.sync(&pod, false, t(2)).await.unwrap();
        assert!(
            matches!(&status.container_statuses[0].state, State::Waiting { reason, .. } if reason == "ImagePullBackOff")
        );
        assert_eq!(status.phase, Phase::Pending);
    }

    #[tokio::test]
    async fn private_images_pull_with_the_pods_image_pull_secrets() {
        use base64::Engine as _;
        let fake = Arc::new(FakeRuntime::new());
        fake.require_credentials("registry.example.com/app:v1", "right");
        let config = |user: &str| {
            let json =
                serde_json::json!({"auths": {"registry.example.com": {"username": user, "password": "pw"}}});
            base64::engine::general_purpose::STANDARD.encode(json.to_string())
        };
        let secret = |name: &str, user: &str| {
            serde_json::json!({
                "metadata": {"name": name},
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": config(user)},
            })
        };
        let cluster = StaticCluster::default()
            .with_secret("ns", secret("wrong", "wrong"))
            .with_secret("ns", secret("right", "right"));
        let mut worker = PodWorker::new(fake.clone(), node(), Arc::new(cluster));
        let mut pod = pod("Always", false);
        let spec = pod.spec.as_mut().unwrap();
        spec.containers[0].image = Some("registry.example.com/app:v1".into());
        spec.image_pull_secrets = Some(
            ["missing", "wrong", "right"]
                .iter()
                .map(|n| k8s_openapi::api::core::v1::LocalObjectReference { name: (*n).into() })
                .collect(),
        );
        let status = worker.sync(&pod, false, t(1)).await.unwrap();
        assert!(
            !matches!(&status.container_statuses[0].state, State::Waiting { reason, .. } if reason == "ErrImagePull"),
            "{:?}",
            status.container_statuses[0].state
        );
        // Each matching credential in the pod's order until one works; the sandbox image is
        // public (anonymous).
        let users = fake.pull_users();
        assert!(users.ends_with(&["wrong".to_string(), "right".to_string()]), "{users:?}");
    }
}
