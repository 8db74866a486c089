//! What the agent learns from and leaves in the host's cgroup tree: its version, whether swap
//! can be limited, and the removal of a pod's cgroup once its containers are gone (runc
//! creates the pod's directory with the first container but never removes it).

use std::path::Path;

use super::resources::NodeResources;

const ROOT: &str = "/sys/fs/cgroup";

/// The node's resources as the container settings need them.
pub fn node_resources(memory_capacity: i64) -> NodeResources {
    let root = Path::new(ROOT);
    NodeResources {
        memory_capacity,
        cgroup_v2: root.join("cgroup.controllers").exists(),
        swap_accounting: root.join("memory/memory.memsw.limit_in_bytes").exists(),
    }
}

/// Removes the pod's cgroup `parent` (`/kubepods/...`) from every hierarchy it is in. Best
/// effort: a cgroup still holding processes stays.
pub fn remove(parent: &str) {
    let relative = parent.trim_start_matches('/');
    if relative.is_empty() {
        return;
    }
    let root = Path::new(ROOT);
    let mut dirs = vec![root.join(relative)];
    if let Ok(entries) = std::fs::read_dir(root) {
        dirs.extend(entries.flatten().map(|e| e.path().join(relative)));
    }
    for dir in dirs {
        match std::fs::remove_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {}
            Err(e) => tracing::debug!("removing cgroup {}: {e}", dir.display()),
        }
    }
}
