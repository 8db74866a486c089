//! An in-memory [`Runtime`] for unit tests of what drives a runtime: sandboxes and containers
//! move through CRI's states as containerd moves them, nothing runs, and the test decides when
//! a container exits ([`FakeRuntime::exit`]) and which images or calls fail.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use super::{
    Result, Runtime, RuntimeError,
    proto::{
        AuthConfig, Container, ContainerConfig, ContainerFilter, ContainerState, ContainerStatus,
        ExecSyncResponse, Image, ImageSpec, PodSandbox, PodSandboxConfig, PodSandboxFilter,
        PodSandboxNetworkStatus, PodSandboxState, PodSandboxStatus, RuntimeCondition, RuntimeStatus,
        VersionResponse,
    },
};

/// The in-memory runtime. Every call is recorded by name ([`FakeRuntime::calls`]).
#[derive(Debug, Default)]
pub struct FakeRuntime {
    state: Mutex<State>,
    exec: Mutex<Option<ExecScript>>,
}

/// What an `ExecSync` answers, by container id and command.
type ExecFn = dyn Fn(&str, &[String]) -> std::result::Result<ExecSyncResponse, tonic::Status> + Send + Sync;

struct ExecScript(Box<ExecFn>);

impl std::fmt::Debug for ExecScript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExecScript")
    }
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    images: BTreeMap<String, Image>,
    /// Images a pull fails for, with the message.
    unpullable: HashMap<String, String>,
    sandboxes: BTreeMap<String, (PodSandbox, PodSandboxConfig)>,
    containers: BTreeMap<String, (Container, ContainerStatus)>,
    /// Calls that fail once, by CRI name, with the status to fail with.
    failures: HashMap<&'static str, tonic::Status>,
    calls: Vec<&'static str>,
    /// Commands run with `ExecSync`, with the container's id.
    execs: Vec<(String, Vec<String>)>,
    /// Images that pull only with this user name's credentials.
    private: HashMap<String, String>,
    /// The user name each pull presented (empty: anonymous), in order.
    pull_users: Vec<String>,
}

impl FakeRuntime {
    pub fn new() -> FakeRuntime {
        FakeRuntime::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the call and fails it if [`FakeRuntime::fail_next`] asked.
    fn enter(&self, call: &'static str, subject: &str) -> Result<MutexGuard<'_, State>> {
        let mut state = self.lock();
        state.calls.push(call);
        if let Some(status) = state.failures.remove(call) {
            return Err(RuntimeError::call(call, subject, status));
        }
        Ok(state)
    }

    /// Makes pulls of `image` fail with `message` (as a registry's 404 reaches CRI).
    pub fn refuse_pull(&self, image: &str, message: &str) {
        self.lock().unpullable.insert(image.to_string(), message.to_string());
    }

    /// Puts `image` on the node as if pulled earlier.
    pub fn add_image(&self, image: &str) {
        let mut state = self.lock();
        let image_ref = state.image_ref(image);
        state.images.insert(image.to_string(), image_record(image, &image_ref));
    }

    /// Makes the next call named `call` (CRI's name: `StartContainer`) fail with `status`.
    pub fn fail_next(&self, call: &'static str, status: tonic::Status) {
        self.lock().failures.insert(call, status);
    }

    /// Makes `ExecSync` answer with `script(container id, command)` (an `Err` fails the call,
    /// `DeadlineExceeded` standing for a timeout). Without a script every command exits 0.
    pub fn script_exec(
        &self,
        script: impl Fn(&str, &[String]) -> std::result::Result<ExecSyncResponse, tonic::Status>
        + Send
        + Sync
        + 'static,
    ) {
        *self.exec.lock().unwrap_or_else(PoisonError::into_inner) = Some(ExecScript(Box::new(script)));
    }

    /// The commands run with `ExecSync` so far, with the container's id.
    pub fn execs(&self) -> Vec<(String, Vec<String>)> {
        self.lock().execs.clone()
    }

    /// Makes `image` pull only with credentials for `username` (else `unauthorized`).
    pub fn require_credentials(&self, image: &str, username: &str) {
        self.lock().private.insert(image.to_string(), username.to_string());
    }

    /// The user name each pull presented so far (empty for an anonymous pull).
    pub fn pull_users(&self) -> Vec<String> {
        self.lock().pull_users.clone()
    }

    /// The CRI calls made so far, by name.
    pub fn calls(&self) -> Vec<&'static str> {
        self.lock().calls.clone()
    }

    /// Ends a running container's process with `exit_code` (reason `Completed` for 0, else
    /// `Error`, as containerd reports them).
    ///
    /// # Panics
    ///
    /// If no such container runs: a test that exits what is not running is wrong.
    pub fn exit(&self, id: &str, exit_code: i32) {
        let mut state = self.lock();
        let (container, status) = state.containers.get_mut(id).expect("exit: no such container");
        assert_eq!(status.state(), ContainerState::ContainerRunning, "exit: container {id} is not running");
        finish(container, status, exit_code);
    }
}

impl State {
    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("{:064x}", self.next_id)
    }

    /// A URL on no streaming server, for a running container (as containerd refuses others).
    fn streaming_url(&self, call: &'static str, id: &str) -> Result<String> {
        match self.containers.get(id) {
            Some((container, _)) if container.state() == ContainerState::ContainerRunning => {
                Ok(format!("http://127.0.0.1:0/{}/{id}", call.to_ascii_lowercase()))
            }
            Some(_) => Err(RuntimeError::call(
                call,
                id,
                tonic::Status::failed_precondition(format!("container {id} is not running")),
            )),
            None => Err(RuntimeError::call(call, id, not_found("container", id))),
        }
    }

    fn image_ref(&self, image: &str) -> String {
        use sha2::Digest as _;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(image.as_bytes())))
    }
}

fn image_record(image: &str, image_ref: &str) -> Image {
    Image {
        id: image_ref.to_string(),
        repo_tags: vec![image.to_string()],
        size: 1 << 20,
        ..Default::default()
    }
}

fn now_nanos() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

fn finish(container: &mut Container, status: &mut ContainerStatus, exit_code: i32) {
    container.state = ContainerState::ContainerExited as i32;
    status.state = ContainerState::ContainerExited as i32;
    status.exit_code = exit_code;
    status.finished_at = now_nanos();
    status.reason = if exit_code == 0 { "Completed" } else { "Error" }.to_string();
}

fn not_found(what: &str, id: &str) -> tonic::Status {
    tonic::Status::not_found(format!("an error occurred when try to find {what} {id:?}: not found"))
}

fn labels_match(selector: &HashMap<String, String>, labels: &HashMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[async_trait::async_trait]
impl Runtime for FakeRuntime {
    async fn version(&self) -> Result<VersionResponse> {
        drop(self.enter("Version", "v1")?);
        Ok(VersionResponse {
            version: "0.1.0".into(),
            runtime_name: "fake".into(),
            runtime_version: "0.0.0".into(),
            runtime_api_version: "v1".into(),
        })
    }

    async fn status(&self) -> Result<RuntimeStatus> {
        drop(self.enter("Status", "of the runtime")?);
        let ready = |kind: &str| RuntimeCondition { r#type: kind.into(), status: true, ..Default::default() };
        Ok(RuntimeStatus { conditions: vec![ready("RuntimeReady"), ready("NetworkReady")] })
    }

    async fn pull_image(
        &self,
        image: &str,
        auth: Option<AuthConfig>,
        _sandbox: Option<&PodSandboxConfig>,
    ) -> Result<String> {
        let mut state = self.enter("PullImage", image)?;
        let user = auth.map(|a| a.username).unwrap_or_default();
        state.pull_users.push(user.clone());
        if let Some(message) = state.unpullable.get(image) {
            return Err(RuntimeError::call("PullImage", image, tonic::Status::not_found(message.clone())));
        }
        if state.private.get(image).is_some_and(|wanted| *wanted != user) {
            let status = tonic::Status::unknown("failed to authorize: 401 Unauthorized");
            return Err(RuntimeError::call("PullImage", image, status));
        }
        let image_ref = state.image_ref(image);
        state.images.insert(image.to_string(), image_record(image, &image_ref));
        Ok(image_ref)
    }

    async fn image_status(&self, image: &str) -> Result<Option<Image>> {
        Ok(self.enter("ImageStatus", image)?.images.get(image).cloned())
    }

    async fn list_images(&self) -> Result<Vec<Image>> {
        Ok(self.enter("ListImages", "")?.images.values().cloned().collect())
    }

    async fn remove_image(&self, image: &str) -> Result<()> {
        self.enter("RemoveImage", image)?.images.remove(image);
        Ok(())
    }

    async fn run_pod_sandbox(&self, config: &PodSandboxConfig, runtime_handler: &str) -> Result<String> {
        let mut state = self.enter("RunPodSandbox", "")?;
        let id = state.id();
        let sandbox = PodSandbox {
            id: id.clone(),
            metadata: config.metadata.clone(),
            state: PodSandboxState::SandboxReady as i32,
            created_at: now_nanos(),
            labels: config.labels.clone(),
            annotations: config.annotations.clone(),
            runtime_handler: runtime_handler.to_string(),
        };
        state.sandboxes.insert(id.clone(), (sandbox, config.clone()));
        Ok(id)
    }

    async fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        let mut state = self.enter("StopPodSandbox", id)?;
        let Some((sandbox, _)) = state.sandboxes.get_mut(id) else { return Ok(()) };
        sandbox.state = PodSandboxState::SandboxNotready as i32;
        for (container, status) in state.containers.values_mut() {
            if container.pod_sandbox_id == id && status.state() == ContainerState::ContainerRunning {
                finish(container, status, 137);
            }
        }
        Ok(())
    }

    async fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        let mut state = self.enter("RemovePodSandbox", id)?;
        state.sandboxes.remove(id);
        state.containers.retain(|_, (c, _)| c.pod_sandbox_id != id);
        Ok(())
    }

    async fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatus> {
        let state = self.enter("PodSandboxStatus", id)?;
        let Some((sandbox, _)) = state.sandboxes.get(id) else {
            return Err(RuntimeError::call("PodSandboxStatus", id, not_found("sandbox", id)));
        };
        Ok(PodSandboxStatus {
            id: sandbox.id.clone(),
            metadata: sandbox.metadata.clone(),
            state: sandbox.state,
            created_at: sandbox.created_at,
            network: Some(PodSandboxNetworkStatus { ip: "10.42.0.2".into(), ..Default::default() }),
            labels: sandbox.labels.clone(),
            annotations: sandbox.annotations.clone(),
            runtime_handler: sandbox.runtime_handler.clone(),
            ..Default::default()
        })
    }

    async fn list_pod_sandboxes(&self, filter: Option<PodSandboxFilter>) -> Result<Vec<PodSandbox>> {
        let state = self.enter("ListPodSandbox", "")?;
        let filter = filter.unwrap_or_default();
        Ok(state
            .sandboxes
            .values()
            .map(|(s, _)| s)
            .filter(|s| filter.id.is_empty() || s.id == filter.id)
            .filter(|s| filter.state.as_ref().is_none_or(|v| v.state == s.state))
            .filter(|s| labels_match(&filter.label_selector, &s.labels))
            .cloned()
            .collect())
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
        _sandbox_config: &PodSandboxConfig,
    ) -> Result<String> {
        let name = config.metadata.as_ref().map_or("", |m| m.name.as_str());
        let subject = format!("{name} in sandbox {sandbox_id}");
        let mut state = self.enter("CreateContainer", &subject)?;
        let Some((_, sandbox_config)) = state.sandboxes.get(sandbox_id) else {
            return Err(RuntimeError::call("CreateContainer", subject, not_found("sandbox", sandbox_id)));
        };
        let log_dir = sandbox_config.log_directory.clone();
        let image = config.image.clone().unwrap_or_default();
        // By name or by id, as containerd finds them (the kubelet passes the pulled image's id).
        let found =
            state.images.get(&image.image).or_else(|| state.images.values().find(|i| i.id == image.image));
        let Some(image_ref) = found.map(|i| i.id.clone()) else {
            let status =
                tonic::Status::not_found(format!("failed to get image {:?}: not found", image.image));
            return Err(RuntimeError::call("CreateContainer", subject, status));
        };
        let id = state.id();
        let created_at = now_nanos();
        let container = Container {
            id: id.clone(),
            pod_sandbox_id: sandbox_id.to_string(),
            metadata: config.metadata.clone(),
            image: Some(ImageSpec { image: image.image.clone(), ..Default::default() }),
            image_ref: image_ref.clone(),
            state: ContainerState::ContainerCreated as i32,
            created_at,
            labels: config.labels.clone(),
            annotations: config.annotations.clone(),
            ..Default::default()
        };
        let status = ContainerStatus {
            id: id.clone(),
            metadata: config.metadata.clone(),
            state: ContainerState::ContainerCreated as i32,
            created_at,
            image: Some(image),
            image_ref,
            labels: config.labels.clone(),
            annotations: config.annotations.clone(),
            log_path: format!("{log_dir}/{}", config.log_path),
            mounts: config.mounts.clone(),
            ..Default::default()
        };
        state.containers.insert(id.clone(), (container, status));
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        let mut state = self.enter("StartContainer", id)?;
        let Some((container, status)) = state.containers.get_mut(id) else {
            return Err(RuntimeError::call("StartContainer", id, not_found("container", id)));
        };
        if status.state() != ContainerState::ContainerCreated {
            let message = format!("container {id} is not in created state: {:?}", status.state());
            return Err(RuntimeError::call(
                "StartContainer",
                id,
                tonic::Status::failed_precondition(message),
            ));
        }
        container.state = ContainerState::ContainerRunning as i32;
        status.state = ContainerState::ContainerRunning as i32;
        status.started_at = now_nanos();
        Ok(())
    }

    async fn stop_container(&self, id: &str, _grace: Duration) -> Result<()> {
        let mut state = self.enter("StopContainer", id)?;
        let Some((container, status)) = state.containers.get_mut(id) else {
            return Err(RuntimeError::call("StopContainer", id, not_found("container", id)));
        };
        if status.state() == ContainerState::ContainerRunning {
            // As a process that does not handle SIGTERM: killed once the grace period is over.
            finish(container, status, 137);
        }
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        self.enter("RemoveContainer", id)?.containers.remove(id);
        Ok(())
    }

    async fn list_containers(&self, filter: Option<ContainerFilter>) -> Result<Vec<Container>> {
        let state = self.enter("ListContainers", "")?;
        let filter = filter.unwrap_or_default();
        Ok(state
            .containers
            .values()
            .map(|(c, _)| c)
            .filter(|c| filter.id.is_empty() || c.id == filter.id)
            .filter(|c| filter.pod_sandbox_id.is_empty() || c.pod_sandbox_id == filter.pod_sandbox_id)
            .filter(|c| filter.state.as_ref().is_none_or(|v| v.state == c.state))
            .filter(|c| labels_match(&filter.label_selector, &c.labels))
            .cloned()
            .collect())
    }

    /// Every container at one core-second and 1 MiB, at its creation time.
    async fn list_container_stats(&self) -> Result<Vec<super::proto::ContainerStats>> {
        use super::proto::{ContainerAttributes, ContainerStats, CpuUsage, MemoryUsage, UInt64Value};
        let state = self.enter("ListContainerStats", "")?;
        Ok(state
            .containers
            .values()
            .map(|(c, _)| ContainerStats {
                attributes: Some(ContainerAttributes {
                    id: c.id.clone(),
                    metadata: c.metadata.clone(),
                    labels: c.labels.clone(),
                    annotations: c.annotations.clone(),
                }),
                cpu: Some(CpuUsage {
                    timestamp: c.created_at,
                    usage_core_nano_seconds: Some(UInt64Value { value: 1_000_000_000 }),
                    ..CpuUsage::default()
                }),
                memory: Some(MemoryUsage {
                    timestamp: c.created_at,
                    working_set_bytes: Some(UInt64Value { value: 1 << 20 }),
                    ..MemoryUsage::default()
                }),
                ..ContainerStats::default()
            })
            .collect())
    }

    async fn container_status(&self, id: &str) -> Result<ContainerStatus> {
        let state = self.enter("ContainerStatus", id)?;
        match state.containers.get(id) {
            Some((_, status)) => Ok(status.clone()),
            None => Err(RuntimeError::call("ContainerStatus", id, not_found("container", id))),
        }
    }

    async fn exec(&self, request: &super::proto::ExecRequest) -> Result<String> {
        let state = self.enter("Exec", &request.container_id)?;
        state.streaming_url("Exec", &request.container_id)
    }

    async fn attach(&self, request: &super::proto::AttachRequest) -> Result<String> {
        let state = self.enter("Attach", &request.container_id)?;
        state.streaming_url("Attach", &request.container_id)
    }

    async fn exec_sync(&self, id: &str, cmd: &[String], _timeout: Duration) -> Result<ExecSyncResponse> {
        {
            let mut state = self.enter("ExecSync", id)?;
            let running = state.containers.get(id).map(|(_, s)| s.state());
            if running != Some(ContainerState::ContainerRunning) {
                let status = tonic::Status::failed_precondition(format!("container {id} is not running"));
                return Err(RuntimeError::call("ExecSync", id, status));
            }
            state.execs.push((id.to_string(), cmd.to_vec()));
        }
        let exec = self.exec.lock().unwrap_or_else(PoisonError::into_inner);
        match exec.as_ref() {
            Some(ExecScript(script)) => script(id, cmd).map_err(|s| RuntimeError::call("ExecSync", id, s)),
            None => Ok(ExecSyncResponse::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::proto::{ContainerMetadata, ContainerStateValue, PodSandboxMetadata};

    fn sandbox_config() -> PodSandboxConfig {
        PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: "p".into(),
                uid: "u".into(),
                namespace: "ns".into(),
                attempt: 0,
            }),
            log_directory: "/var/log/pods/ns_p_u".into(),
            ..Default::default()
        }
    }

    fn container_config(image: &str) -> ContainerConfig {
        ContainerConfig {
            metadata: Some(ContainerMetadata { name: "c".into(), attempt: 0 }),
            image: Some(ImageSpec { image: image.into(), ..Default::default() }),
            log_path: "c/0.log".into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn containers_move_through_cri_states() {
        let runtime = FakeRuntime::new();
        let sandbox = runtime.run_pod_sandbox(&sandbox_config(), "").await.unwrap();
        let err = runtime.create_container(&sandbox, &container_config("busybox"), &sandbox_config()).await;
        assert!(err.unwrap_err().is_not_found(), "an image not pulled");

        runtime.pull_image("busybox", None, None).await.unwrap();
        let id = runtime
            .create_container(&sandbox, &container_config("busybox"), &sandbox_config())
            .await
            .unwrap();
        assert_eq!(runtime.container_status(&id).await.unwrap().log_path, "/var/log/pods/ns_p_u/c/0.log");
        runtime.start_container(&id).await.unwrap();
        assert!(runtime.start_container(&id).await.is_err(), "started twice");
        let running = ContainerFilter {
            state: Some(ContainerStateValue { state: ContainerState::ContainerRunning as i32 }),
            ..Default::default()
        };
        assert_eq!(runtime.list_containers(Some(running.clone())).await.unwrap().len(), 1);

        runtime.exit(&id, 2);
        let status = runtime.container_status(&id).await.unwrap();
        assert_eq!(
            (status.state(), status.exit_code, status.reason.as_str()),
            (ContainerState::ContainerExited, 2, "Error")
        );
        assert!(runtime.list_containers(Some(running)).await.unwrap().is_empty());

        runtime.stop_pod_sandbox(&sandbox).await.unwrap();
        runtime.remove_pod_sandbox(&sandbox).await.unwrap();
        assert!(runtime.container_status(&id).await.unwrap_err().is_not_found());
        assert!(runtime.list_pod_sandboxes(None).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn failures_are_injected_once() {
        let runtime = FakeRuntime::new();
        runtime.refuse_pull("nope:1", "manifest unknown");
        let err = runtime.pull_image("nope:1", None, None).await.unwrap_err();
        assert_eq!(err.to_string(), "PullImage nope:1: manifest unknown (NotFound)");

        runtime.fail_next("Version", tonic::Status::unavailable("down"));
        assert!(runtime.version().await.is_err());
        assert!(runtime.version().await.is_ok());
        assert_eq!(runtime.calls(), ["PullImage", "Version", "Version"]);
    }
}
