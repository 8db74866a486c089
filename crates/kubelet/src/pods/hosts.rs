//! A pod's host name, domain and the `/etc/hosts` the kubelet manages for it, as upstream's
//! `GeneratePodHostNameAndDomain` and `ensureHostsFile`. Pure functions, but for [`write`].

use std::{
    io,
    path::{Path, PathBuf},
};

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::runtime::proto::Mount;

/// Where the managed file goes in each container.
pub const ETC_HOSTS: &str = "/etc/hosts";
/// Host names are DNS labels.
const MAX_HOSTNAME: usize = 63;

/// The pod's host name (`spec.hostname` or its name, cut to 63 characters without a trailing
/// `-` or `.`) and, with `spec.subdomain`, its domain `<subdomain>.<namespace>.svc.<cluster
/// domain>`.
pub fn hostname_and_domain(pod: &Pod, cluster_domain: &str) -> (String, Option<String>) {
    let spec = pod.spec.as_ref();
    let name = spec
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| pod.metadata.name.clone().unwrap_or_default());
    let hostname = truncate(&name);
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let domain = spec
        .and_then(|s| s.subdomain.as_deref())
        .filter(|s| !s.is_empty())
        .map(|sub| format!("{sub}.{namespace}.svc.{cluster_domain}"));
    (hostname, domain)
}

fn truncate(name: &str) -> String {
    if name.len() <= MAX_HOSTNAME {
        return name.to_string();
    }
    let cut: String = name.chars().take(MAX_HOSTNAME).collect();
    cut.trim_end_matches(['-', '.']).to_string()
}

/// The sandbox's host name: empty (the node's) with `hostNetwork`; the FQDN with
/// `setHostnameAsFQDN` and a domain; else the host name.
pub fn sandbox_hostname(pod: &Pod, cluster_domain: &str) -> String {
    let spec = pod.spec.as_ref();
    if spec.and_then(|s| s.host_network).unwrap_or(false) {
        return String::new();
    }
    let (hostname, domain) = hostname_and_domain(pod, cluster_domain);
    match domain {
        Some(domain) if spec.and_then(|s| s.set_hostname_as_fqdn).unwrap_or(false) => {
            format!("{hostname}.{domain}")
        }
        _ => hostname,
    }
}

fn host_aliases(pod: &Pod) -> String {
    let aliases = pod.spec.as_ref().and_then(|s| s.host_aliases.as_ref());
    let Some(aliases) = aliases.filter(|a| !a.is_empty()) else { return String::new() };
    let mut out = String::from("\n# Entries added by HostAliases.\n");
    for alias in aliases {
        let names = alias.hostnames.clone().unwrap_or_default().join("\t");
        out.push_str(&format!("{}\t{names}\n", alias.ip));
    }
    out
}

/// The managed `/etc/hosts` of a pod on its own network: localhost, the pod's addresses with
/// its host name (FQDN first with a subdomain), then `hostAliases`.
pub fn managed(pod: &Pod, pod_ips: &[String], cluster_domain: &str) -> String {
    let (hostname, domain) = hostname_and_domain(pod, cluster_domain);
    let mut out = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost \
         ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\n\
         fe00::2\tip6-allrouters\n",
    );
    for ip in pod_ips {
        match &domain {
            Some(domain) => out.push_str(&format!("{ip}\t{hostname}.{domain}\t{hostname}\n")),
            None => out.push_str(&format!("{ip}\t{hostname}\n")),
        }
    }
    out.push_str(&host_aliases(pod));
    out
}

/// The `/etc/hosts` of a `hostNetwork` pod: the node's, then `hostAliases`.
pub fn host_network(pod: &Pod, node_hosts: &str) -> String {
    let mut out = String::from("# Kubernetes-managed hosts file (host network).\n");
    out.push_str(node_hosts);
    out.push_str(&host_aliases(pod));
    out
}

/// The file's content for `pod` (`node_hosts`: the node's own `/etc/hosts`).
pub fn content(pod: &Pod, pod_ips: &[String], cluster_domain: &str, node_hosts: &str) -> String {
    if pod.spec.as_ref().and_then(|s| s.host_network).unwrap_or(false) {
        host_network(pod, node_hosts)
    } else {
        managed(pod, pod_ips, cluster_domain)
    }
}

/// Whether `container` gets the managed file: not when it mounts a volume at `/etc/hosts`
/// itself, nor before the pod has an address (unless it is on the node's network).
pub fn wanted(pod: &Pod, container: &Container, pod_ips: &[String]) -> bool {
    let host_network = pod.spec.as_ref().and_then(|s| s.host_network).unwrap_or(false);
    let own_mount = container.volume_mounts.iter().flatten().any(|m| m.mount_path == ETC_HOSTS);
    (host_network || !pod_ips.is_empty()) && !own_mount
}

/// `<pods dir>/<uid>/etc-hosts`, as upstream keeps it in the pod's directory.
pub fn path(pods_dir: &Path, uid: &str) -> PathBuf {
    pods_dir.join(uid).join("etc-hosts")
}

/// Writes the file (0644) and returns its mount, read-write as upstream mounts it.
///
/// # Errors
/// When the pod's directory or the file cannot be written.
pub fn write(file: &Path, content: &str) -> io::Result<Mount> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(file, content)?;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644))?;
    Ok(Mount {
        container_path: ETC_HOSTS.to_string(),
        host_path: file.to_string_lossy().into_owned(),
        selinux_relabel: true,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: serde_json::Value) -> Pod {
        let mut spec = spec;
        spec["containers"] = serde_json::json!([{"name": "c", "image": "busybox"}]);
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-0", "namespace": "ns", "uid": "u1"},
            "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn hostname_and_subdomain_make_the_fqdn() {
        let plain = pod(serde_json::json!({}));
        assert_eq!(hostname_and_domain(&plain, "cluster.local"), ("web-0".into(), None));
        let sub = pod(serde_json::json!({"hostname": "db", "subdomain": "svc1"}));
        assert_eq!(
            hostname_and_domain(&sub, "cluster.local"),
            ("db".into(), Some("svc1.ns.svc.cluster.local".into()))
        );
        assert_eq!(sandbox_hostname(&sub, "cluster.local"), "db");
        let fqdn = pod(serde_json::json!({"subdomain": "s", "setHostnameAsFQDN": true}));
        assert_eq!(sandbox_hostname(&fqdn, "cluster.local"), "web-0.s.ns.svc.cluster.local");
        assert_eq!(sandbox_hostname(&pod(serde_json::json!({"hostNetwork": true})), "cluster.local"), "");
        let long = format!("{}-{}", "a".repeat(62), "b");
        assert_eq!(truncate(&long), "a".repeat(62), "cut without the trailing dash");
    }

    #[test]
    fn the_managed_file_has_localhost_the_pod_and_aliases() {
        let p = pod(serde_json::json!({
            "hostname": "db", "subdomain": "svc1",
            "hostAliases": [{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar.local"]}],
        }));
        let text = managed(&p, &["10.42.0.7".into()], "cluster.local");
        assert!(text.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost"));
        assert!(text.contains("\n10.42.0.7\tdb.svc1.ns.svc.cluster.local\tdb\n"), "{text}");
        assert!(
            text.ends_with("\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n"),
            "{text}"
        );
        let plain = managed(&pod(serde_json::json!({})), &["10.42.0.8".into()], "cluster.local");
        assert!(plain.ends_with("fe00::2\tip6-allrouters\n10.42.0.8\tweb-0\n"), "{plain}");

        let host = pod(serde_json::json!({"hostNetwork": true}));
        let text = content(&host, &[], "cluster.local", "127.0.0.1 localhost\n");
        assert_eq!(text, "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n");
        let c = &host.spec.as_ref().unwrap().containers[0];
        assert!(wanted(&host, c, &[]));
        let p = pod(serde_json::json!({}));
        assert!(!wanted(&p, &p.spec.as_ref().unwrap().containers[0], &[]), "no address yet");
    }
}
