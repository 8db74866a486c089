//! A container's `volumeMounts` as CRI mounts of the pod's set-up volumes, as upstream's
//! `makeMounts`: `subPath` (or `subPathExpr` expanded with the container's env) below the
//! volume, read-only per the mount or the volume. A missing sub path of a writable volume is
//! created as a directory, as upstream's kubelet does; nothing else touches the disk.

use std::{
    collections::HashMap,
    path::{Component, Path, PathBuf},
};

use k8s_openapi::api::core::v1::Container;

use crate::{
    pods::env::{Env, expand},
    runtime::proto::{Mount, MountPropagation},
};

/// A volume ready on the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ready {
    pub path: PathBuf,
    /// ConfigMap, Secret, downward API and projected volumes are always mounted read-only.
    pub read_only: bool,
}

/// Where a mount's `subPath` is, below the volume: `None` without one.
///
/// # Errors
/// When the sub path is absolute or climbs out with `..`, as upstream rejects it.
pub fn sub_path(volume: &Path, sub: &str) -> Result<Option<PathBuf>, String> {
    if sub.is_empty() {
        return Ok(None);
    }
    let p = Path::new(sub);
    if p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!("invalid subpath {sub:?}: must be a relative path without '..'"));
    }
    Ok(Some(volume.join(p)))
}

/// The mounts of `container`.
///
/// # Errors
/// When a mount names a volume that is not ready or has a bad sub path.
pub fn mounts(
    container: &Container,
    volumes: &HashMap<String, Ready>,
    env: &Env,
) -> Result<Vec<Mount>, String> {
    let mut out = Vec::new();
    for vm in container.volume_mounts.iter().flatten() {
        let volume = volumes.get(&vm.name).ok_or_else(|| {
            format!("cannot find volume {:?} to mount into container {:?}", vm.name, container.name)
        })?;
        let sub = match (&vm.sub_path, &vm.sub_path_expr) {
            (Some(s), _) if !s.is_empty() => s.clone(),
            (_, Some(e)) => expand(e, |k| env.get(k)),
            _ => String::new(),
        };
        let host = match sub_path(&volume.path, &sub)? {
            Some(path) => {
                if !volume.read_only && std::fs::symlink_metadata(&path).is_err() {
                    std::fs::create_dir_all(&path)
                        .map_err(|e| format!("failed to create subPath directory {}: {e}", path.display()))?;
                }
                path
            }
            None => volume.path.clone(),
        };
        let propagation = match vm.mount_propagation.as_deref() {
            Some("HostToContainer") => MountPropagation::PropagationHostToContainer,
            Some("Bidirectional") => MountPropagation::PropagationBidirectional,
            _ => MountPropagation::PropagationPrivate,
        };
        out.push(Mount {
            container_path: vm.mount_path.clone(),
            host_path: host.to_string_lossy().into_owned(),
            readonly: vm.read_only == Some(true) || volume.read_only,
            propagation: propagation as i32,
            ..Default::default()
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn mounts_resolve_volumes_sub_paths_and_read_only() {
        let c: Container = serde_json::from_value(json!({
            "name": "c",
            "volumeMounts": [
                {"name": "data", "mountPath": "/data"},
                {"name": "data", "mountPath": "/one", "subPath": "a/b", "readOnly": true},
                {"name": "cfg", "mountPath": "/etc/app"},
                {"name": "data", "mountPath": "/mine", "subPathExpr": "$(POD)"},
            ],
        }))
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (data, cfg) = (dir.path().join("data"), dir.path().join("cfg"));
        let volumes = HashMap::from([
            ("data".to_string(), Ready { path: data.clone(), read_only: false }),
            ("cfg".to_string(), Ready { path: cfg.clone(), read_only: true }),
        ]);
        let env = Env { vars: vec![("POD".into(), "web-0".into())], skipped: vec![] };
        let m = mounts(&c, &volumes, &env).unwrap();
        let got: Vec<(&str, PathBuf, bool)> =
            m.iter().map(|m| (m.container_path.as_str(), PathBuf::from(&m.host_path), m.readonly)).collect();
        assert_eq!(
            got,
            vec![
                ("/data", data.clone(), false),
                ("/one", data.join("a/b"), true),
                ("/etc/app", cfg, true),
                ("/mine", data.join("web-0"), false),
            ]
        );
        assert!(data.join("a/b").is_dir() && data.join("web-0").is_dir(), "sub paths are created");
        assert!(sub_path(Path::new("/v"), "../etc").is_err());
        assert!(sub_path(Path::new("/v"), "/etc").is_err());
        let missing = HashMap::new();
        assert!(mounts(&c, &missing, &env).is_err());
    }
}
