//! CRI's sandbox and container configs from a pod's spec, as upstream's
//! `kuberuntime_sandbox.go` and `kuberuntime_container.go` build them. Pure functions.

use std::{collections::HashMap, path::Path};

use k8s_openapi::api::core::v1::{Container, Pod};

use super::{
    env::Env,
    hosts,
    resources::{self, NodeResources},
    security::{self, ImageUser},
};
use crate::runtime::proto::{
    ContainerConfig, ContainerMetadata, DnsConfig, ImageSpec, KeyValue, LinuxContainerConfig,
    LinuxPodSandboxConfig, Mount, PodSandboxConfig, PodSandboxMetadata, PortMapping, Protocol,
};

/// Labels upstream's kubelet puts on sandboxes and containers, by which it finds them again.
pub const POD_NAME_LABEL: &str = "io.kubernetes.pod.name";
pub const POD_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
pub const POD_UID_LABEL: &str = "io.kubernetes.pod.uid";
pub const CONTAINER_NAME_LABEL: &str = "io.kubernetes.container.name";

/// The pod's name, namespace and uid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRef {
    pub name: String,
    pub namespace: String,
    pub uid: String,
}

impl PodRef {
    pub fn of(pod: &Pod) -> PodRef {
        PodRef {
            name: pod.metadata.name.clone().unwrap_or_default(),
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
        }
    }

    /// `<namespace>_<name>_<uid>`: the pod's log directory under `/var/log/pods`.
    pub fn log_dir_name(&self) -> String {
        format!("{}_{}_{}", self.namespace, self.name, self.uid)
    }

    /// `<name>_<namespace>(<uid>)`, as upstream's messages name a pod.
    pub fn display(&self) -> String {
        format!("{}_{}({})", self.name, self.namespace, self.uid)
    }

    fn labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (POD_NAME_LABEL.to_string(), self.name.clone()),
            (POD_NAMESPACE_LABEL.to_string(), self.namespace.clone()),
            (POD_UID_LABEL.to_string(), self.uid.clone()),
        ])
    }
}

/// What a sandbox takes from the node besides the pod.
#[derive(Clone, Debug)]
pub struct SandboxSettings {
    /// The pod's resolver (see [`super::dns::pod_dns`]).
    pub dns: DnsConfig,
    pub cluster_domain: String,
    pub resources: NodeResources,
}

/// The sandbox of `pod`, its logs under `log_root/<namespace>_<name>_<uid>`, in the pod's
/// cgroup (cgroupfs driver) with the pod's namespaces and security context.
pub fn sandbox_config(pod: &Pod, attempt: u32, log_root: &Path, node: &SandboxSettings) -> PodSandboxConfig {
    let r = PodRef::of(pod);
    let spec = pod.spec.clone().unwrap_or_default();
    let hostname = hosts::sandbox_hostname(pod, &node.cluster_domain);
    let mut labels: HashMap<String, String> =
        pod.metadata.labels.clone().unwrap_or_default().into_iter().collect();
    labels.extend(r.labels());
    let port_mappings = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.host_port.is_some_and(|h| h > 0))
        .map(|p| PortMapping {
            protocol: match p.protocol.as_deref() {
                Some("UDP") => Protocol::Udp,
                Some("SCTP") => Protocol::Sctp,
                _ => Protocol::Tcp,
            } as i32,
            container_port: p.container_port,
            host_port: p.host_port.unwrap_or_default(),
            host_ip: p.host_ip.clone().unwrap_or_default(),
        })
        .collect();
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: r.name.clone(),
            uid: r.uid.clone(),
            namespace: r.namespace.clone(),
            attempt,
        }),
        hostname,
        log_directory: log_root.join(r.log_dir_name()).to_string_lossy().into_owned(),
        dns_config: Some(node.dns.clone()),
        port_mappings,
        labels,
        annotations: pod.metadata.annotations.clone().unwrap_or_default().into_iter().collect(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: resources::cgroup_parent(pod),
            security_context: Some(security::sandbox_security(pod)),
            resources: Some(resources::sandbox_resources(pod, &node.resources)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The container's cgroup settings and security context, run as the image's user unless the
/// pod says otherwise.
///
/// # Errors
/// The message of a `CreateContainerConfigError` (see [`security::container_security`]).
pub fn linux_container_config(
    pod: &Pod,
    container: &Container,
    node: &NodeResources,
    image: &ImageUser,
) -> Result<LinuxContainerConfig, String> {
    Ok(LinuxContainerConfig {
        resources: Some(resources::container_resources(pod, container, node)),
        security_context: Some(security::container_security(pod, container, image)?),
    })
}

/// The config of run `attempt` of `container`, from the image `image_ref` the runtime has, with
/// its resolved environment (which `$(VAR)`s in `command` and `args` expand to), mounts and
/// Linux settings from [`linux_container_config`].
pub fn container_config(
    pod: &Pod,
    container: &Container,
    attempt: u32,
    image_ref: &str,
    env: &Env,
    mounts: Vec<Mount>,
    linux: LinuxContainerConfig,
) -> ContainerConfig {
    let r = PodRef::of(pod);
    let mut labels = r.labels();
    labels.insert(CONTAINER_NAME_LABEL.to_string(), container.name.clone());
    ContainerConfig {
        metadata: Some(ContainerMetadata { name: container.name.clone(), attempt }),
        image: Some(ImageSpec { image: image_ref.to_string(), ..Default::default() }),
        command: env.expand_all(container.command.as_deref().unwrap_or_default()),
        args: env.expand_all(container.args.as_deref().unwrap_or_default()),
        working_dir: container.working_dir.clone().unwrap_or_default(),
        envs: env
            .vars
            .iter()
            .map(|(key, value)| KeyValue { key: key.clone(), value: value.clone() })
            .collect(),
        mounts,
        labels,
        annotations: HashMap::from([(
            "io.kubernetes.container.restartCount".to_string(),
            attempt.to_string(),
        )]),
        log_path: format!("{}/{attempt}.log", container.name),
        stdin: container.stdin.unwrap_or(false),
        stdin_once: container.stdin_once.unwrap_or(false),
        tty: container.tty.unwrap_or(false),
        linux: Some(linux),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1", "labels": {"app": "web"}},
            "spec": {
                "nodeName": "n1",
                "containers": [{
                    "name": "c",
                    "image": "busybox",
                    "command": ["sh", "-c"],
                    "args": ["echo $POD $(PLAIN)"],
                    "workingDir": "/tmp",
                    "ports": [{"containerPort": 80, "hostPort": 8080}],
                }],
            },
        }))
        .unwrap()
    }

    #[test]
    fn the_sandbox_carries_the_pods_identity_network_and_logs() {
        let node = SandboxSettings {
            dns: DnsConfig { servers: vec!["10.0.0.2".into()], ..Default::default() },
            cluster_domain: "cluster.local".into(),
            resources: NodeResources { memory_capacity: 1 << 30, cgroup_v2: false, swap_accounting: false },
        };
        let config = sandbox_config(&pod(), 0, Path::new("/data/pods"), &node);
        assert_eq!(config.hostname, "web");
        assert_eq!(config.log_directory, "/data/pods/ns_web_u1");
        assert_eq!(config.labels[POD_UID_LABEL], "u1");
        assert_eq!(config.labels["app"], "web");
        assert_eq!(config.port_mappings[0].host_port, 8080);
        assert_eq!(config.dns_config.unwrap().servers, vec!["10.0.0.2"]);
        let linux = config.linux.unwrap();
        assert_eq!(linux.cgroup_parent, "/kubepods/besteffort/podu1");
        let ns = linux.security_context.unwrap().namespace_options.unwrap();
        assert_eq!(ns.pid(), crate::runtime::proto::NamespaceMode::Container);
    }

    #[test]
    fn containers_get_command_args_and_resolved_env() {
        let p = pod();
        let c = &p.spec.as_ref().unwrap().containers[0];
        let env =
            Env { vars: vec![("PLAIN".into(), "v".into()), ("POD".into(), "web".into())], skipped: vec![] };
        let mount =
            Mount { container_path: "/data".into(), host_path: "/v/data".into(), ..Default::default() };
        let node = NodeResources { memory_capacity: 1 << 30, cgroup_v2: false, swap_accounting: false };
        let linux = linux_container_config(&p, c, &node, &ImageUser::default()).unwrap();
        assert_eq!(linux.resources.as_ref().unwrap().oom_score_adj, 1000, "BestEffort");
        let config = container_config(&p, c, 2, "sha256:ab", &env, vec![mount.clone()], linux);
        assert_eq!(config.command, vec!["sh", "-c"]);
        assert_eq!(config.args, vec!["echo $POD v"]);
        assert_eq!(config.mounts, vec![mount]);
        assert_eq!(config.working_dir, "/tmp");
        assert_eq!(config.log_path, "c/2.log");
        let env: Vec<(&str, &str)> = config.envs.iter().map(|e| (e.key.as_str(), e.value.as_str())).collect();
        assert_eq!(env, vec![("PLAIN", "v"), ("POD", "web")]);
        assert_eq!(config.labels[CONTAINER_NAME_LABEL], "c");
    }
}
