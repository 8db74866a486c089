//! The containerd configuration the agent owns: its own socket, root and state, the CRI
//! plugin's CNI and sandbox settings, and one `hosts.toml` per configured registry.
//!
//! Written for containerd 1.6 (Debian 12's), which reads config `version = 2` and the CRI
//! plugin as `plugins."io.containerd.grpc.v1.cri"`; containerd 2 reads version 2 as well.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};

/// The sandbox (pause) image when none is configured, as upstream's kubelet 1.35 uses.
pub const DEFAULT_SANDBOX_IMAGE: &str = "registry.k8s.io/pause:3.10";

/// Where containerd lives and what its CRI plugin does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerdConfig {
    /// The config file the agent writes and containerd reads.
    pub config_file: PathBuf,
    /// containerd's persistent data: images, snapshots, container metadata.
    pub root: PathBuf,
    /// containerd's runtime state (sockets, network namespaces); lost on reboot.
    pub state: PathBuf,
    /// The gRPC socket (CRI and containerd's own API).
    pub socket: PathBuf,
    /// containerd's own output.
    pub log_file: PathBuf,
    /// Where the CNI plugin binaries are (Debian: /usr/lib/cni).
    pub cni_bin_dir: PathBuf,
    /// Where the agent writes its CNI network config.
    pub cni_conf_dir: PathBuf,
    /// One `<host>/hosts.toml` per registry (containerd's `config_path`).
    pub registry_dir: PathBuf,
    /// The image of each pod's sandbox (pause) container.
    pub sandbox_image: String,
    /// Keep containers' `oom_score_adj` at or above containerd's own. Needed where the agent
    /// lacks CAP_SYS_RESOURCE (some VMs and containers): CRI gives sandboxes -998, which runc
    /// then fails to set ("can't get final child's PID from pipe: EOF").
    pub restrict_oom_score_adj: bool,
    pub registries: Registries,
}

impl ContainerdConfig {
    /// The layout under the agent's data dir (`/var/lib/tugboat/agent`) and its run dir
    /// (`/run/tugboat`), as k3s lays out `/var/lib/rancher/k3s/agent` and `/run/k3s`.
    pub fn under(data_dir: &Path, run_dir: &Path) -> ContainerdConfig {
        let state = run_dir.join("containerd");
        ContainerdConfig {
            config_file: data_dir.join("etc/containerd/config.toml"),
            root: data_dir.join("containerd"),
            socket: state.join("containerd.sock"),
            state,
            log_file: data_dir.join("containerd/containerd.log"),
            cni_bin_dir: PathBuf::from("/usr/lib/cni"),
            cni_conf_dir: data_dir.join("etc/cni/net.d"),
            registry_dir: data_dir.join("etc/containerd/certs.d"),
            sandbox_image: DEFAULT_SANDBOX_IMAGE.to_string(),
            restrict_oom_score_adj: !has_sys_resource(),
            registries: Registries::default(),
        }
    }

    /// The TOML of the config file.
    pub fn render(&self) -> String {
        let cri = r#"plugins."io.containerd.grpc.v1.cri""#;
        format!(
            r#"# Written by the Tugboat agent at each start; edits are lost.
version = 2
root = {root}
state = {state}
# Snapshotters this node cannot use would only fill the log with errors.
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = {socket}

[plugins."io.containerd.internal.v1.opt"]
  path = {opt}

[{cri}]
  sandbox_image = {sandbox}
  # Streaming (exec, attach, port-forward) on loopback only: the agent proxies it.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # Network namespaces under `state`, not in the host's /var/run/netns.
  netns_mounts_under_state_dir = true
  enable_unprivileged_ports = true
  enable_unprivileged_icmp = true
  restrict_oom_score_adj = {restrict_oom}

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  # cgroupfs: nothing here assumes systemd.
  SystemdCgroup = false
  # runc's state beside containerd's, not in /run/containerd/runc with another containerd's.
  Root = {runc_root}

[{cri}.cni]
  bin_dir = {cni_bin}
  conf_dir = {cni_conf}

[{cri}.registry]
  config_path = {registry}
"#,
            root = quote(&self.root),
            state = quote(&self.state),
            socket = quote(&self.socket),
            opt = quote(&self.root.join("opt")),
            runc_root = quote(&self.state.join("runc")),
            sandbox = quote_str(&self.sandbox_image),
            restrict_oom = self.restrict_oom_score_adj,
            cni_bin = quote(&self.cni_bin_dir),
            cni_conf = quote(&self.cni_conf_dir),
            registry = quote(&self.registry_dir),
        )
    }

    /// Writes the config file, the registry hosts files and the directories containerd and
    /// CNI expect.
    ///
    /// # Errors
    ///
    /// When a directory or file cannot be written.
    pub fn write(&self) -> anyhow::Result<()> {
        for dir in [&self.root, &self.state, &self.cni_conf_dir, &self.registry_dir] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        if let Some(parent) = self.config_file.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        if let Some(parent) = self.log_file.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        write_file(&self.config_file, &self.render())?;
        self.registries.write(&self.registry_dir)
    }
}

/// Registries reached over plain HTTP and registry mirrors, from `--insecure-registry` and
/// `--registry-mirror`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registries {
    /// `HOST:PORT`s served over plain HTTP.
    pub insecure: Vec<String>,
    /// `(registry, mirror URL)`: pulls from the registry try the mirror first.
    pub mirrors: Vec<(String, String)>,
}

impl Registries {
    /// Parses the flags' values.
    ///
    /// # Errors
    ///
    /// When an insecure registry has a scheme or path, or a mirror is not `REGISTRY=URL`
    /// with an `http` or `https` URL.
    pub fn from_flags(insecure: &[String], mirrors: &[String]) -> anyhow::Result<Registries> {
        let mut registries = Registries::default();
        for host in insecure {
            if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
                bail!("--insecure-registry {host:?}: expected HOST or HOST:PORT, without a scheme or path");
            }
            registries.insecure.push(host.clone());
        }
        for mirror in mirrors {
            let Some((registry, url)) = mirror.split_once('=') else {
                bail!(
                    "--registry-mirror {mirror:?}: expected REGISTRY=URL, like docker.io=http://127.0.0.1:5000"
                );
            };
            if registry.is_empty() || registry.contains('/') {
                bail!("--registry-mirror {mirror:?}: {registry:?} is not a registry host");
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("--registry-mirror {mirror:?}: the mirror's URL must start with http:// or https://");
            }
            registries.mirrors.push((registry.to_string(), url.trim_end_matches('/').to_string()));
        }
        Ok(registries)
    }

    /// The `hosts.toml` of each registry, by directory name (the registry's host).
    pub fn hosts_files(&self) -> Vec<(String, String)> {
        let mut files: Vec<(String, String)> = Vec::new();
        for (registry, url) in &self.mirrors {
            let server = if self.insecure.contains(registry) {
                format!("http://{registry}")
            } else {
                upstream_server(registry)
            };
            let mut text = format!("server = {}\n", quote_str(&server));
            let _ = write!(text, "\n[host.{}]\n  capabilities = [\"pull\", \"resolve\"]\n", quote_str(url));
            files.push((registry.clone(), text));
        }
        for host in &self.insecure {
            if files.iter().any(|(name, _)| name == host) {
                continue;
            }
            let server = format!("http://{host}");
            let text = format!(
                "server = {}\n\n[host.{}]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n",
                quote_str(&server),
                quote_str(&server)
            );
            files.push((host.clone(), text));
        }
        files
    }

    fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let wanted = self.hosts_files();
        // Registries dropped from the flags since the last start lose their hosts file.
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !wanted.iter().any(|(host, _)| *host == name) {
                    let path = entry.path();
                    std::fs::remove_dir_all(&path).with_context(|| format!("removing {}", path.display()))?;
                }
            }
        }
        for (host, text) in wanted {
            let host_dir = dir.join(&host);
            std::fs::create_dir_all(&host_dir).with_context(|| format!("creating {}", host_dir.display()))?;
            write_file(&host_dir.join("hosts.toml"), &text)?;
        }
        Ok(())
    }
}

/// Whether this process may lower `oom_score_adj` (CAP_SYS_RESOURCE in its effective set).
fn has_sys_resource() -> bool {
    const CAP_SYS_RESOURCE: u32 = 24;
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return false };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_SYS_RESOURCE) != 0)
}

/// Where a registry's images come from when no mirror has them.
fn upstream_server(registry: &str) -> String {
    // Docker Hub's API is not served on docker.io itself.
    if registry == "docker.io" {
        "https://registry-1.docker.io".to_string()
    } else {
        format!("https://{registry}")
    }
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn quote(path: &Path) -> String {
    quote_str(&path.to_string_lossy())
}

/// A TOML basic string.
fn quote_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(quote_str(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote_str("x\u{1}"), r#""x\u0001""#);
    }

    #[test]
    fn the_config_points_containerd_at_the_agents_dirs() {
        let config = ContainerdConfig::under(Path::new("/var/lib/tugboat/agent"), Path::new("/run/tugboat"));
        let toml = config.render();
        for line in [
            "version = 2",
            r#"root = "/var/lib/tugboat/agent/containerd""#,
            r#"state = "/run/tugboat/containerd""#,
            r#"  address = "/run/tugboat/containerd/containerd.sock""#,
            r#"[plugins."io.containerd.grpc.v1.cri"]"#,
            r#"  sandbox_image = "registry.k8s.io/pause:3.10""#,
            r#"[plugins."io.containerd.grpc.v1.cri".containerd]"#,
            r#"[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]"#,
            r#"[plugins."io.containerd.grpc.v1.cri".cni]"#,
            r#"  bin_dir = "/usr/lib/cni""#,
            r#"  conf_dir = "/var/lib/tugboat/agent/etc/cni/net.d""#,
            r#"  config_path = "/var/lib/tugboat/agent/etc/containerd/certs.d""#,
        ] {
            assert!(toml.lines().any(|l| l == line), "missing {line:?} in\n{toml}");
        }
    }

    #[test]
    fn registry_flags_become_hosts_files() {
        let registries = Registries::from_flags(
            &["node1:5000".into()],
            &["docker.io=http://127.0.0.1:5000/".into(), "node1:5000=http://10.0.0.9:5000".into()],
        )
        .unwrap();
        let files = registries.hosts_files();
        assert_eq!(files.len(), 2, "{files:?}");
        assert_eq!(
            files[0],
            (
                "docker.io".to_string(),
                "server = \"https://registry-1.docker.io\"\n\n[host.\"http://127.0.0.1:5000\"]\n  \
                 capabilities = [\"pull\", \"resolve\"]\n"
                    .to_string()
            )
        );
        // A mirrored insecure registry falls back to itself over plain HTTP.
        assert!(files[1].1.starts_with("server = \"http://node1:5000\"\n"), "{:?}", files[1]);

        let plain = Registries::from_flags(&["reg:5000".into()], &[]).unwrap().hosts_files();
        assert_eq!(
            plain,
            vec![(
                "reg:5000".to_string(),
                "server = \"http://reg:5000\"\n\n[host.\"http://reg:5000\"]\n  \
                 capabilities = [\"pull\", \"resolve\", \"push\"]\n"
                    .to_string()
            )]
        );
    }

    #[test]
    fn malformed_registry_flags_are_refused() {
        assert!(Registries::from_flags(&["http://reg:5000".into()], &[]).is_err());
        assert!(Registries::from_flags(&[], &["docker.io".into()]).is_err());
        assert!(Registries::from_flags(&[], &["docker.io=127.0.0.1:5000".into()]).is_err());
    }
}
