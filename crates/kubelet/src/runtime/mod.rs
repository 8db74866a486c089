//! The container runtime behind one small trait, [`Runtime`], and its implementation over CRI v1
//! ([`CriRuntime`], talking to containerd's unix socket).
//!
//! The trait takes and returns CRI's own messages ([`proto`]), as upstream's kubelet does with
//! `internalapi.RuntimeService`: the pod workers build `PodSandboxConfig` and `ContainerConfig`
//! directly, and [`FakeRuntime`], the in-memory runtime for unit tests, needs no translation.

mod cri;
mod error;
mod fake;
pub mod proto;

use std::time::Duration;

pub use cri::CriRuntime;
pub use error::RuntimeError;
pub use fake::FakeRuntime;
use proto::{
    Container, ContainerConfig, ContainerFilter, ContainerStatus, ExecSyncResponse, Image, PodSandbox,
    PodSandboxConfig, PodSandboxFilter, PodSandboxStatus, RuntimeStatus, VersionResponse,
};

pub type Result<T> = std::result::Result<T, RuntimeError>;

/// What the node agent asks of a container runtime. Each call is one CRI call; ids are the
/// runtime's.
///
/// # Errors
///
/// Every method fails with [`RuntimeError`], which names the call and its subject; use
/// [`RuntimeError::is_not_found`] to tell a missing sandbox, container or image apart.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync {
    /// The runtime's name and version, and the CRI version it speaks.
    async fn version(&self) -> Result<VersionResponse>;
    /// The runtime's conditions (`RuntimeReady`, `NetworkReady`).
    async fn status(&self) -> Result<RuntimeStatus>;

    /// Pulls `image` (with registry credentials, if any) and returns its image reference.
    async fn pull_image(
        &self,
        image: &str,
        auth: Option<proto::AuthConfig>,
        sandbox: Option<&PodSandboxConfig>,
    ) -> Result<String>;
    /// The image if present on the node, `None` if not.
    async fn image_status(&self, image: &str) -> Result<Option<Image>>;
    async fn list_images(&self) -> Result<Vec<Image>>;
    async fn remove_image(&self, image: &str) -> Result<()>;

    /// Creates and starts a pod sandbox (its network namespace and pause container); returns
    /// its id.
    async fn run_pod_sandbox(&self, config: &PodSandboxConfig, runtime_handler: &str) -> Result<String>;
    /// Stops the sandbox and its containers and releases its network; idempotent.
    async fn stop_pod_sandbox(&self, id: &str) -> Result<()>;
    /// Removes a stopped sandbox and its containers; idempotent.
    async fn remove_pod_sandbox(&self, id: &str) -> Result<()>;
    async fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatus>;
    async fn list_pod_sandboxes(&self, filter: Option<PodSandboxFilter>) -> Result<Vec<PodSandbox>>;

    /// Creates a container in a sandbox; returns its id.
    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
        sandbox_config: &PodSandboxConfig,
    ) -> Result<String>;
    async fn start_container(&self, id: &str) -> Result<()>;
    /// Stops a container: its stop signal, then SIGKILL after `grace`.
    async fn stop_container(&self, id: &str, grace: Duration) -> Result<()>;
    async fn remove_container(&self, id: &str) -> Result<()>;
    async fn list_containers(&self, filter: Option<ContainerFilter>) -> Result<Vec<Container>>;
    async fn container_status(&self, id: &str) -> Result<ContainerStatus>;
    /// Usage of every container the runtime runs (CRI `ListContainerStats`).
    async fn list_container_stats(&self) -> Result<Vec<proto::ContainerStats>>;

    // Streaming: the runtime prepares the session and answers with a URL on its own streaming
    // server, which the agent's exec and attach endpoints then connect to.
    /// Prepares running `cmd` in a running container; returns the URL that runs it.
    async fn exec(&self, request: &proto::ExecRequest) -> Result<String>;
    /// Prepares joining a running container's own stdio; returns the URL that joins it.
    async fn attach(&self, request: &proto::AttachRequest) -> Result<String>;

    // Probes and lifecycle hooks.
    /// Runs `cmd` in a running container and waits for it (CRI `ExecSync`), for exec probes
    /// and hooks. `timeout` of zero means none; past it the call fails with gRPC's
    /// `DeadlineExceeded` ([`RuntimeError::code`]). A command that runs and exits non-zero is an
    /// answer, not an error: see `exit_code`.
    async fn exec_sync(&self, id: &str, cmd: &[String], timeout: Duration) -> Result<ExecSyncResponse>;

    /// The runtime's verbose information about a sandbox (CRI's `PodSandboxStatus` with
    /// `verbose`); containerd puts its OCI spec, with the network namespace's path, under
    /// `info`. Runtimes without any answer an empty map.
    async fn pod_sandbox_info(&self, id: &str) -> Result<std::collections::HashMap<String, String>> {
        let _ = id;
        Ok(std::collections::HashMap::new())
    }
}
