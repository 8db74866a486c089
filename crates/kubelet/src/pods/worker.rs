//! One pod on the runtime: observe what the runtime holds for it, do what [`plan`] says, and
//! compute the status to post. The CRI calls are here; the decisions are in [`plan`].

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod};

use super::{
    cgroups,
    config::{self, Downward, POD_UID_LABEL, PodRef, SandboxSettings},
    dns::{self, NodeDns},
    hosts,
    plan::{self, Action, BackOff, Observed, Run, RunState, StatusInputs, Waiting, Wanted},
    resources::{self, NodeResources},
    security::ImageUser,
};
use crate::{
    pod_status::{self, ConditionInputs, Phase, PodStatus, RestartPolicy, Transitions},
    runtime::{
        Runtime,
        proto::{ContainerFilter, ContainerState, PodSandboxFilter, PodSandboxState},
    },
};

/// What every pod worker of a node shares.
#[derive(Clone, Debug)]
pub struct NodeContext {
    pub node_name: String,
    pub host_ip: String,
    /// Where pods' log directories go (`/var/log/pods` upstream).
    pub log_root: PathBuf,
    /// Where each pod's own files go, `<pods dir>/<uid>/` (`/var/lib/kubelet/pods` upstream):
    /// its managed `/etc/hosts`.
    pub pods_dir: PathBuf,
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
    backoff: BackOff,
    pull_backoff: BackOff,
    /// When each container's last image pull failed, and why.
    pull_errors: HashMap<String, (Timestamp, Waiting)>,
    /// Containers whose config cannot be made (`CreateContainerConfigError`), and why.
    config_errors: HashMap<String, Waiting>,
    transitions: Transitions,
    start_time: Option<Timestamp>,
    notes: Vec<Note>,
    /// Exited runs whose back-off was already reported.
    backoff_reported: std::collections::HashSet<String>,
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
    pub fn new(runtime: Arc<dyn Runtime>, node: Arc<NodeContext>) -> PodWorker {
        PodWorker {
            runtime,
            node,
            backoff: BackOff::default(),
            pull_backoff: BackOff::default(),
            pull_errors: HashMap::new(),
            config_errors: HashMap::new(),
            transitions: Transitions::default(),
            start_time: None,
            notes: Vec::new(),
            backoff_reported: std::collections::HashSet::new(),
        }
    }

    /// The events since the last call.
    pub fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
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
                || !policy.restarts(exit_code)
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
            let run = Run { id: container.id.clone(), attempt, state, image_ref: status.image_ref.clone() };
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
        let mut seen = self.observe(pod).await?;
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
                let Some(image_ref) = self.ensure_image(container, *init, now).await? else { return Ok(()) };
                let attempt_of_sandbox = seen.sandbox_attempt.unwrap_or(0);
                let settings = self.node.sandbox_settings(dns::pod_dns(pod, &self.node.dns).0);
                let sandbox = config::sandbox_config(pod, attempt_of_sandbox, &self.node.log_root, &settings);
                let downward = Downward {
                    pod_ip: seen.pod_ip.clone().unwrap_or_default(),
                    host_ip: self.node.host_ip.clone(),
                };
                let Some(linux) = self.linux_config(pod, container, *init).await? else { return Ok(()) };
                let mut config =
                    config::container_config(pod, container, *attempt, &image_ref, &downward, linux);
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
            }
        }
        Ok(())
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
                let name = &container.name;
                if self.config_errors.get(name).is_none_or(|w| w.message.as_ref() != Some(&message)) {
                    self.note(true, "Failed", format!("Error: {message}"), field_path(init, name));
                }
                let waiting = Waiting { reason: "CreateContainerConfigError".into(), message: Some(message) };
                self.config_errors.insert(name.clone(), waiting);
                Ok(None)
            }
        }
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
        let file = hosts::path(&self.node.pods_dir, uid);
        hosts::write(&file, &content).with_context(|| format!("writing {}", file.display()))
    }

    /// Removes what the pod left on the node besides the runtime's: its managed files and its
    /// cgroup.
    fn clean_up(&self, pod: &Pod) {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let file = hosts::path(&self.node.pods_dir, uid);
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
    async fn ensure_image(
        &mut self,
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
        match self.runtime.pull_image(&image, None, None).await {
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
        waiting.extend(self.config_errors.iter().map(|(k, w)| (k.clone(), w.clone())));
        let inputs = StatusInputs {
            policy: Some(policy),
            pod_ref: &pod_ref,
            waiting: &waiting,
            backoff: Some(&self.backoff),
            terminal,
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
        let seen = self.observe(pod).await?;
        let running: Vec<&Run> = seen
            .observed
            .runs
            .values()
            .filter_map(|runs| runs.first())
            .filter(|run| !matches!(run.state, RunState::Exited { .. }))
            .collect();
        let stopping: Vec<String> = seen
            .observed
            .runs
            .iter()
            .filter(|(_, runs)| runs.first().is_some_and(|r| !matches!(r.state, RunState::Exited { .. })))
            .map(|(name, _)| name.clone())
            .collect();
        for name in stopping {
            let init = pod
                .spec
                .as_ref()
                .and_then(|s| s.init_containers.as_ref())
                .is_some_and(|i| i.iter().any(|c| c.name == name));
            self.note(false, "Killing", format!("Stopping container {name}"), field_path(init, &name));
        }
        let stops = running.iter().map(|run| self.runtime.stop_container(&run.id, grace));
        for result in futures::future::join_all(stops).await {
            if let Err(err) = result
                && !err.is_not_found()
            {
                return Err(err.into());
            }
        }
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
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{pod_status::State, runtime::FakeRuntime};

    fn node() -> Arc<NodeContext> {
        let dir = std::env::temp_dir().join(format!("tug-pod-worker-{}", std::process::id()));
        Arc::new(NodeContext {
            node_name: "n1".into(),
            host_ip: "192.168.0.2".into(),
            pods_dir: dir.join("pods"),
            log_root: dir,
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
        let mut worker = PodWorker::new(fake.clone(), node());
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
        let mut worker = PodWorker::new(fake.clone(), node());
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
        let mut worker = PodWorker::new(fake.clone(), node());
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
        let mut worker = PodWorker::new(fake.clone(), node());
        worker.sync(&running, false, t(1)).await.unwrap();
        let status = worker.terminate(&running, Duration::from_secs(30), t(2)).await.unwrap();
        assert!(matches!(&status.container_statuses[0].state, State::Terminated(t) if t.exit_code == 137));
        assert_eq!(status.phase, Phase::Failed);
        assert!(fake.list_containers(None).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_dead_sandbox_is_replaced_with_the_next_attempt() {
        let fake = Arc::new(FakeRuntime::new());
        let mut worker = PodWorker::new(fake.clone(), node());
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

    #[tokio::test]
    async fn run_as_non_root_with_a_root_image_is_a_config_error() {
        let fake = Arc::new(FakeRuntime::new());
        let mut worker = PodWorker::new(fake.clone(), node());
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
        let mut worker = PodWorker::new(fake.clone(), node.clone());
        let mut pod = pod("Always", false);
        pod.metadata.uid = Some("u-hostnet".into());
        pod.spec.as_mut().unwrap().host_network = Some(true);
        let status = worker.sync(&pod, false, t(1)).await.unwrap();
        assert_eq!(status.pod_ip.as_deref(), Some("192.168.0.2"));
        let id = container_id(&status, false);
        let mounts = fake.container_status(&id).await.unwrap().mounts;
        let file = hosts::path(&node.pods_dir, "u-hostnet");
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
        let mut worker = PodWorker::new(fake.clone(), node());
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
}
