//! [`Runtime`] over CRI v1's gRPC services on a unix socket.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use tonic::transport::{Channel, Endpoint};

use super::{
    Result, Runtime, RuntimeError,
    proto::{
        self, Container, ContainerConfig, ContainerFilter, ContainerStatus, ExecSyncResponse, Image,
        ImageSpec, PodSandbox, PodSandboxConfig, PodSandboxFilter, PodSandboxStatus, RuntimeStatus,
        VersionResponse, image_service_client::ImageServiceClient,
        runtime_service_client::RuntimeServiceClient,
    },
};

/// The CRI version the client speaks, sent with `Version`.
const CRI_VERSION: &str = "v1";
/// Longest answer accepted, as upstream's kubelet (containerd's own limit is also 16 MiB).
const MAX_MESSAGE: usize = 16 << 20;
/// Deadline of every call but image pulls, upstream's `--runtime-request-timeout` default.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long past an `ExecSync` timeout the call may take before it is given up.
const EXEC_SLACK: Duration = Duration::from_secs(5);

/// A CRI runtime (containerd) reached over its unix socket. Cheap to clone; calls may run
/// concurrently, and the channel reconnects by itself after the runtime restarts.
#[derive(Clone, Debug)]
pub struct CriRuntime {
    socket: PathBuf,
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
}

impl CriRuntime {
    /// Connects to the runtime listening on `socket`.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Connect`] when nothing accepts connections there.
    pub async fn connect(socket: &Path) -> Result<CriRuntime> {
        let channel = endpoint(socket)?
            .connect()
            .await
            .map_err(|source| RuntimeError::Connect { socket: socket.to_path_buf(), source })?;
        Ok(CriRuntime::over(socket, channel))
    }

    fn over(socket: &Path, channel: Channel) -> CriRuntime {
        CriRuntime {
            socket: socket.to_path_buf(),
            runtime: RuntimeServiceClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            images: ImageServiceClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
        }
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

fn endpoint(socket: &Path) -> Result<Endpoint> {
    let connect_error = |source| RuntimeError::Connect { socket: socket.to_path_buf(), source };
    Ok(Endpoint::from_shared(format!("unix://{}", socket.display()))
        .map_err(connect_error)?
        .connect_timeout(Duration::from_secs(5)))
}

/// A request with the usual deadline.
fn request<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(CALL_TIMEOUT);
    request
}

fn image_spec(image: &str) -> ImageSpec {
    ImageSpec { image: image.to_string(), ..Default::default() }
}

#[async_trait::async_trait]
impl Runtime for CriRuntime {
    async fn version(&self) -> Result<VersionResponse> {
        let message = proto::VersionRequest { version: CRI_VERSION.to_string() };
        let answer = self.runtime.clone().version(request(message)).await;
        Ok(answer.map_err(|s| RuntimeError::call("Version", CRI_VERSION, s))?.into_inner())
    }

    async fn status(&self) -> Result<RuntimeStatus> {
        let message = proto::StatusRequest { verbose: false };
        let answer = self.runtime.clone().status(request(message)).await;
        let answer = answer.map_err(|s| RuntimeError::call("Status", "of the runtime", s))?.into_inner();
        answer.status.ok_or(RuntimeError::Incomplete {
            call: "Status",
            subject: "of the runtime".into(),
            field: "status",
        })
    }

    async fn pull_image(
        &self,
        image: &str,
        auth: Option<proto::AuthConfig>,
        sandbox: Option<&PodSandboxConfig>,
    ) -> Result<String> {
        let message = proto::PullImageRequest {
            image: Some(image_spec(image)),
            auth,
            sandbox_config: sandbox.cloned(),
        };
        // No deadline: a large image may take long, and upstream sets none either.
        let answer = self.images.clone().pull_image(message).await;
        Ok(answer.map_err(|s| RuntimeError::call("PullImage", image, s))?.into_inner().image_ref)
    }

    async fn image_status(&self, image: &str) -> Result<Option<Image>> {
        let message = proto::ImageStatusRequest { image: Some(image_spec(image)), verbose: false };
        let answer = self.images.clone().image_status(request(message)).await;
        Ok(answer.map_err(|s| RuntimeError::call("ImageStatus", image, s))?.into_inner().image)
    }

    async fn list_images(&self) -> Result<Vec<Image>> {
        let answer =
            self.images.clone().list_images(request(proto::ListImagesRequest { filter: None })).await;
        Ok(answer.map_err(|s| RuntimeError::call("ListImages", "", s))?.into_inner().images)
    }

    async fn remove_image(&self, image: &str) -> Result<()> {
        let message = proto::RemoveImageRequest { image: Some(image_spec(image)) };
        let answer = self.images.clone().remove_image(request(message)).await;
        answer.map_err(|s| RuntimeError::call("RemoveImage", image, s))?;
        Ok(())
    }

    async fn run_pod_sandbox(&self, config: &PodSandboxConfig, runtime_handler: &str) -> Result<String> {
        let subject = sandbox_name(config);
        let message = proto::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: runtime_handler.to_string(),
        };
        let answer = self.runtime.clone().run_pod_sandbox(request(message)).await;
        Ok(answer.map_err(|s| RuntimeError::call("RunPodSandbox", subject, s))?.into_inner().pod_sandbox_id)
    }

    async fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        let message = proto::StopPodSandboxRequest { pod_sandbox_id: id.to_string() };
        let answer = self.runtime.clone().stop_pod_sandbox(request(message)).await;
        answer.map_err(|s| RuntimeError::call("StopPodSandbox", id, s))?;
        Ok(())
    }

    async fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        let message = proto::RemovePodSandboxRequest { pod_sandbox_id: id.to_string() };
        let answer = self.runtime.clone().remove_pod_sandbox(request(message)).await;
        answer.map_err(|s| RuntimeError::call("RemovePodSandbox", id, s))?;
        Ok(())
    }

    async fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatus> {
        let message = proto::PodSandboxStatusRequest { pod_sandbox_id: id.to_string(), verbose: false };
        let answer = self.runtime.clone().pod_sandbox_status(request(message)).await;
        let answer = answer.map_err(|s| RuntimeError::call("PodSandboxStatus", id, s))?.into_inner();
        answer.status.ok_or(RuntimeError::Incomplete {
            call: "PodSandboxStatus",
            subject: id.into(),
            field: "status",
        })
    }

    async fn pod_sandbox_info(&self, id: &str) -> Result<std::collections::HashMap<String, String>> {
        let message = proto::PodSandboxStatusRequest { pod_sandbox_id: id.to_string(), verbose: true };
        let answer = self.runtime.clone().pod_sandbox_status(request(message)).await;
        Ok(answer.map_err(|s| RuntimeError::call("PodSandboxStatus", id, s))?.into_inner().info)
    }

    async fn list_pod_sandboxes(&self, filter: Option<PodSandboxFilter>) -> Result<Vec<PodSandbox>> {
        let answer =
            self.runtime.clone().list_pod_sandbox(request(proto::ListPodSandboxRequest { filter })).await;
        Ok(answer.map_err(|s| RuntimeError::call("ListPodSandbox", "", s))?.into_inner().items)
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
        sandbox_config: &PodSandboxConfig,
    ) -> Result<String> {
        let name = config.metadata.as_ref().map_or("", |m| m.name.as_str());
        let subject = format!("{name} in sandbox {sandbox_id}");
        let message = proto::CreateContainerRequest {
            pod_sandbox_id: sandbox_id.to_string(),
            config: Some(config.clone()),
            sandbox_config: Some(sandbox_config.clone()),
        };
        let answer = self.runtime.clone().create_container(request(message)).await;
        Ok(answer.map_err(|s| RuntimeError::call("CreateContainer", subject, s))?.into_inner().container_id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        let message = proto::StartContainerRequest { container_id: id.to_string() };
        let answer = self.runtime.clone().start_container(request(message)).await;
        answer.map_err(|s| RuntimeError::call("StartContainer", id, s))?;
        Ok(())
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<()> {
        let message =
            proto::StopContainerRequest { container_id: id.to_string(), timeout: grace.as_secs() as i64 };
        // The call lasts as long as the grace period; give it that on top of the usual deadline.
        let mut call = tonic::Request::new(message);
        call.set_timeout(CALL_TIMEOUT + grace);
        let answer = self.runtime.clone().stop_container(call).await;
        answer.map_err(|s| RuntimeError::call("StopContainer", id, s))?;
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let message = proto::RemoveContainerRequest { container_id: id.to_string() };
        let answer = self.runtime.clone().remove_container(request(message)).await;
        answer.map_err(|s| RuntimeError::call("RemoveContainer", id, s))?;
        Ok(())
    }

    async fn list_containers(&self, filter: Option<ContainerFilter>) -> Result<Vec<Container>> {
        let answer =
            self.runtime.clone().list_containers(request(proto::ListContainersRequest { filter })).await;
        Ok(answer.map_err(|s| RuntimeError::call("ListContainers", "", s))?.into_inner().containers)
    }

    async fn list_container_stats(&self) -> Result<Vec<proto::ContainerStats>> {
        let message = proto::ListContainerStatsRequest { filter: None };
        let answer = self.runtime.clone().list_container_stats(request(message)).await;
        Ok(answer.map_err(|s| RuntimeError::call("ListContainerStats", "", s))?.into_inner().stats)
    }

    async fn container_status(&self, id: &str) -> Result<ContainerStatus> {
        let message = proto::ContainerStatusRequest { container_id: id.to_string(), verbose: false };
        let answer = self.runtime.clone().container_status(request(message)).await;
        let answer = answer.map_err(|s| RuntimeError::call("ContainerStatus", id, s))?.into_inner();
        answer.status.ok_or(RuntimeError::Incomplete {
            call: "ContainerStatus",
            subject: id.into(),
            field: "status",
        })
    }

    async fn exec(&self, message: &proto::ExecRequest) -> Result<String> {
        let id = message.container_id.clone();
        let answer = self.runtime.clone().exec(request(message.clone())).await;
        Ok(answer.map_err(|s| RuntimeError::call("Exec", &id, s))?.into_inner().url)
    }

    async fn attach(&self, message: &proto::AttachRequest) -> Result<String> {
        let id = message.container_id.clone();
        let answer = self.runtime.clone().attach(request(message.clone())).await;
        Ok(answer.map_err(|s| RuntimeError::call("Attach", &id, s))?.into_inner().url)
    }

    async fn exec_sync(&self, id: &str, cmd: &[String], timeout: Duration) -> Result<ExecSyncResponse> {
        let message = proto::ExecSyncRequest {
            container_id: id.to_string(),
            cmd: cmd.to_vec(),
            timeout: timeout.as_secs() as i64,
        };
        // The runtime enforces `timeout` and answers DeadlineExceeded; the call's own deadline
        // only guards against a runtime that never answers.
        let mut call = tonic::Request::new(message);
        if !timeout.is_zero() {
            call.set_timeout(timeout + EXEC_SLACK);
        }
        let answer = self.runtime.clone().exec_sync(call).await.map_err(|s| {
            // tonic reports its own deadline as Cancelled; it is the command's timeout all the same.
            if !timeout.is_zero() && s.code() == tonic::Code::Cancelled {
                tonic::Status::deadline_exceeded(s.message().to_string())
            } else {
                s
            }
        });
        Ok(answer.map_err(|s| RuntimeError::call("ExecSync", id, s))?.into_inner())
    }
}

/// `namespace/name` of a sandbox, for error messages.
fn sandbox_name(config: &PodSandboxConfig) -> String {
    match &config.metadata {
        Some(m) => format!("{}/{}", m.namespace, m.name),
        None => "(unnamed sandbox)".to_string(),
    }
}
