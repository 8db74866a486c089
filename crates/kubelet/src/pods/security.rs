//! A pod's securityContext as CRI's Linux security contexts, pod and container levels merged
//! as upstream's `DetermineEffectiveSecurityContext`, and the pod's namespaces. Pure functions.

use k8s_openapi::api::core::v1::{Container, Pod, PodSecurityContext, SeccompProfile, SecurityContext};

use crate::runtime::proto::{
    Capability, Image, Int64Value, LinuxContainerSecurityContext, LinuxSandboxSecurityContext, NamespaceMode,
    NamespaceOption, SecurityProfile, security_profile::ProfileType,
};

/// Paths under /proc and /sys hidden from containers unless `procMount: Unmasked`.
const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
/// Paths under /proc read-only in containers unless `procMount: Unmasked`.
const DEFAULT_READONLY_PATHS: &[&str] =
    &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// The user an image runs as, from the runtime's ImageStatus.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageUser {
    pub uid: Option<i64>,
    pub username: String,
}

impl ImageUser {
    /// As upstream's `getImageUser`: a numeric uid, else a user name, else root.
    pub fn of(image: Option<&Image>) -> ImageUser {
        match image {
            Some(Image { uid: Some(uid), .. }) => ImageUser { uid: Some(uid.value), username: String::new() },
            Some(i) if !i.username.is_empty() => ImageUser { uid: None, username: i.username.clone() },
            _ => ImageUser { uid: Some(0), username: String::new() },
        }
    }
}

fn pod_context(pod: &Pod) -> PodSecurityContext {
    pod.spec.as_ref().and_then(|s| s.security_context.clone()).unwrap_or_default()
}

/// The container's securityContext with the pod's runAsUser, runAsGroup, runAsNonRoot,
/// seLinuxOptions and seccompProfile filling what the container leaves unset.
pub fn effective(pod: &Pod, container: &Container) -> SecurityContext {
    let p = pod_context(pod);
    let mut sc = container.security_context.clone().unwrap_or_default();
    sc.run_as_user = sc.run_as_user.or(p.run_as_user);
    sc.run_as_group = sc.run_as_group.or(p.run_as_group);
    sc.run_as_non_root = sc.run_as_non_root.or(p.run_as_non_root);
    sc.se_linux_options = sc.se_linux_options.or(p.se_linux_options);
    sc.seccomp_profile = sc.seccomp_profile.or(p.seccomp_profile);
    sc
}

/// The pod's namespaces, shared by the sandbox and every container: the node's network, PID
/// and IPC namespaces with `hostNetwork`, `hostPID`, `hostIPC`; one PID namespace for the pod
/// with `shareProcessNamespace`, else one per container.
pub fn namespaces(pod: &Pod) -> NamespaceOption {
    let spec = pod.spec.as_ref();
    let flag =
        |f: fn(&k8s_openapi::api::core::v1::PodSpec) -> Option<bool>| spec.and_then(f).unwrap_or(false);
    let mode = |host: bool| if host { NamespaceMode::Node } else { NamespaceMode::Pod } as i32;
    let pid = if flag(|s| s.host_pid) {
        NamespaceMode::Node
    } else if flag(|s| s.share_process_namespace) {
        NamespaceMode::Pod
    } else {
        NamespaceMode::Container
    };
    NamespaceOption {
        network: mode(flag(|s| s.host_network)),
        pid: pid as i32,
        ipc: mode(flag(|s| s.host_ipc)),
        ..Default::default()
    }
}

/// The seccomp profile: the container's, else the pod's, else Unconfined (the kubelet's
/// `seccompDefault` is off by default).
///
/// # Errors
/// For Localhost profiles, which need a profile directory this agent does not keep yet.
fn seccomp(profile: Option<&SeccompProfile>) -> Result<SecurityProfile, String> {
    let profile_type = match profile.map(|p| p.type_.as_str()) {
        Some("RuntimeDefault") => ProfileType::RuntimeDefault,
        Some("Localhost") => {
            return Err("seccomp profiles of type Localhost are not supported by this node".into());
        }
        _ => ProfileType::Unconfined,
    };
    Ok(SecurityProfile { profile_type: profile_type as i32, localhost_ref: String::new() })
}

/// The pod's supplemental groups with `fsGroup` (volumes are owned by it) last.
fn supplemental_groups(p: &PodSecurityContext) -> Vec<i64> {
    let mut groups = p.supplemental_groups.clone().unwrap_or_default();
    if let Some(fs_group) = p.fs_group
        && !groups.contains(&fs_group)
    {
        groups.push(fs_group);
    }
    groups
}

fn privileged(c: &Container) -> bool {
    c.security_context.as_ref().and_then(|s| s.privileged).unwrap_or(false)
}

/// The sandbox's security context: the pod's user, groups and seccomp profile, its
/// namespaces, and privileged when any container is.
pub fn sandbox_security(pod: &Pod) -> LinuxSandboxSecurityContext {
    let p = pod_context(pod);
    let spec = pod.spec.clone().unwrap_or_default();
    let any_privileged = spec.containers.iter().chain(spec.init_containers.iter().flatten()).any(privileged);
    LinuxSandboxSecurityContext {
        namespace_options: Some(namespaces(pod)),
        run_as_user: p.run_as_user.map(|value| Int64Value { value }),
        run_as_group: p.run_as_group.map(|value| Int64Value { value }),
        supplemental_groups: supplemental_groups(&p),
        privileged: any_privileged,
        // An unsupported profile fails the containers, with the reason; the pause process
        // runs unconfined meanwhile.
        seccomp: Some(seccomp(p.seccomp_profile.as_ref()).unwrap_or_default()),
        ..Default::default()
    }
}

/// The container's security context, run as `image` says unless the pod says otherwise.
///
/// # Errors
/// The message of upstream's `CreateContainerConfigError` when `runAsNonRoot` cannot hold
/// (the user is root or not numeric) or the seccomp profile is not supported.
pub fn container_security(
    pod: &Pod,
    container: &Container,
    image: &ImageUser,
) -> Result<LinuxContainerSecurityContext, String> {
    let sc = effective(pod, container);
    verify_run_as_non_root(pod, container, &sc, image)?;
    let p = pod_context(pod);
    let mut out = LinuxContainerSecurityContext {
        namespace_options: Some(namespaces(pod)),
        privileged: sc.privileged.unwrap_or(false),
        readonly_rootfs: sc.read_only_root_filesystem.unwrap_or(false),
        run_as_group: sc.run_as_group.map(|value| Int64Value { value }),
        supplemental_groups: supplemental_groups(&p),
        no_new_privs: sc.allow_privilege_escalation == Some(false),
        seccomp: Some(seccomp(sc.seccomp_profile.as_ref())?),
        ..Default::default()
    };
    match (sc.run_as_user, image.uid) {
        (Some(value), _) | (None, Some(value)) => out.run_as_user = Some(Int64Value { value }),
        (None, None) => out.run_as_username.clone_from(&image.username),
    }
    if let Some(caps) = &sc.capabilities {
        out.capabilities = Some(Capability {
            add_capabilities: caps.add.clone().unwrap_or_default(),
            drop_capabilities: caps.drop.clone().unwrap_or_default(),
            ..Default::default()
        });
    }
    if sc.proc_mount.as_deref() != Some("Unmasked") {
        out.masked_paths = DEFAULT_MASKED_PATHS.iter().map(|p| (*p).to_string()).collect();
        out.readonly_paths = DEFAULT_READONLY_PATHS.iter().map(|p| (*p).to_string()).collect();
    }
    Ok(out)
}

/// `runAsNonRoot` checked against the user the container will run as, with upstream's
/// messages.
fn verify_run_as_non_root(
    pod: &Pod,
    container: &Container,
    sc: &SecurityContext,
    image: &ImageUser,
) -> Result<(), String> {
    if sc.run_as_non_root != Some(true) {
        return Ok(());
    }
    let r = super::config::PodRef::of(pod);
    let (pod_name, name) = (r.display(), &container.name);
    match (sc.run_as_user, image.uid) {
        (Some(0), _) => Err(format!(
            "container's runAsUser breaks non-root policy (pod: {pod_name:?}, container: {name})"
        )),
        (Some(_), _) => Ok(()),
        (None, Some(0)) => Err(format!(
            "container has runAsNonRoot and image will run as root (pod: {pod_name:?}, container: {name})"
        )),
        (None, None) if !image.username.is_empty() => Err(format!(
            "container has runAsNonRoot and image has non-numeric user ({}), cannot verify user is non-root \
             (pod: {pod_name:?}, container: {name})",
            image.username
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(pod_sc: serde_json::Value, container_sc: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
            "spec": {
                "securityContext": pod_sc,
                "containers": [{"name": "c", "image": "busybox", "securityContext": container_sc}],
            },
        }))
        .unwrap()
    }

    fn root() -> ImageUser {
        ImageUser::of(None)
    }

    fn security(p: &Pod, image: &ImageUser) -> Result<LinuxContainerSecurityContext, String> {
        container_security(p, &p.spec.as_ref().unwrap().containers[0], image)
    }

    #[test]
    fn pod_and_container_levels_merge() {
        let p = pod(
            serde_json::json!({"runAsUser": 1000, "runAsGroup": 3000, "supplementalGroups": [4000], "fsGroup": 2000}),
            serde_json::json!({"runAsUser": 1001, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}}),
        );
        let sc = security(&p, &root()).unwrap();
        assert_eq!(sc.run_as_user, Some(Int64Value { value: 1001 }), "the container's user wins");
        assert_eq!(sc.run_as_group, Some(Int64Value { value: 3000 }), "the pod's group fills in");
        assert_eq!(sc.supplemental_groups, vec![4000, 2000], "fsGroup is a supplemental group");
        assert!(sc.readonly_rootfs && sc.no_new_privs && !sc.privileged);
        let caps = sc.capabilities.unwrap();
        assert_eq!(
            (caps.add_capabilities, caps.drop_capabilities),
            (vec!["NET_ADMIN".into()], vec!["ALL".into()])
        );
        assert_eq!(sc.seccomp.unwrap().profile_type(), ProfileType::Unconfined);
        assert!(sc.masked_paths.contains(&"/proc/kcore".to_string()));
        assert!(sc.readonly_paths.contains(&"/proc/sys".to_string()));
        let sandbox = sandbox_security(&p);
        assert_eq!(sandbox.run_as_user, Some(Int64Value { value: 1000 }));
        assert_eq!(sandbox.supplemental_groups, vec![4000, 2000]);
    }

    #[test]
    fn the_image_user_applies_when_the_pod_names_none() {
        let p = pod(serde_json::json!({}), serde_json::json!({"seccompProfile": {"type": "RuntimeDefault"}}));
        let image = ImageUser { uid: Some(65534), username: String::new() };
        let sc = security(&p, &image).unwrap();
        assert_eq!(sc.run_as_user, Some(Int64Value { value: 65534 }));
        assert_eq!(sc.seccomp.unwrap().profile_type(), ProfileType::RuntimeDefault);
        let named = ImageUser { uid: None, username: "nginx".into() };
        let sc = security(&p, &named).unwrap();
        assert_eq!((sc.run_as_user, sc.run_as_username.as_str()), (None, "nginx"));
        let unmasked =
            pod(serde_json::json!({}), serde_json::json!({"procMount": "Unmasked", "privileged": true}));
        let sc = security(&unmasked, &root()).unwrap();
        assert!(sc.masked_paths.is_empty() && sc.privileged);
        assert!(sandbox_security(&unmasked).privileged, "a privileged container makes a privileged sandbox");
    }

    #[test]
    fn run_as_non_root_refuses_root_and_unknown_users() {
        let p = pod(serde_json::json!({"runAsNonRoot": true}), serde_json::json!({}));
        assert_eq!(
            security(&p, &root()).unwrap_err(),
            "container has runAsNonRoot and image will run as root (pod: \"p_ns(u1)\", container: c)"
        );
        let named = ImageUser { uid: None, username: "nginx".into() };
        assert!(security(&p, &named).unwrap_err().contains("image has non-numeric user (nginx)"));
        assert!(security(&p, &ImageUser { uid: Some(10), username: String::new() }).is_ok());
        let explicit_root =
            pod(serde_json::json!({"runAsNonRoot": true}), serde_json::json!({"runAsUser": 0}));
        assert!(
            security(&explicit_root, &root())
                .unwrap_err()
                .starts_with("container's runAsUser breaks non-root")
        );
        let user = pod(serde_json::json!({"runAsNonRoot": true, "runAsUser": 5}), serde_json::json!({}));
        assert!(security(&user, &root()).is_ok());
    }

    #[test]
    fn host_namespaces_follow_the_spec() {
        let mut p = pod(serde_json::json!({}), serde_json::json!({}));
        let ns = namespaces(&p);
        assert_eq!(
            (ns.network(), ns.pid(), ns.ipc()),
            (NamespaceMode::Pod, NamespaceMode::Container, NamespaceMode::Pod)
        );
        let spec = p.spec.as_mut().unwrap();
        spec.host_network = Some(true);
        spec.host_pid = Some(true);
        spec.host_ipc = Some(true);
        let ns = namespaces(&p);
        assert_eq!(
            (ns.network(), ns.pid(), ns.ipc()),
            (NamespaceMode::Node, NamespaceMode::Node, NamespaceMode::Node)
        );
        let spec = p.spec.as_mut().unwrap();
        spec.host_pid = None;
        spec.share_process_namespace = Some(true);
        assert_eq!(namespaces(&p).pid(), NamespaceMode::Pod);
    }
}
