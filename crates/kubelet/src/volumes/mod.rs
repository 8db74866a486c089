//! A pod's volumes on the node, set up before its sandbox as upstream's volume manager does and
//! laid out as upstream's kubelet lays them out: `<pods>/<uid>/volumes/<plugin>/<name>`
//! (`kubernetes.io~empty-dir`, `~configmap`, `~secret`, `~downward-api`, `~projected`).
//! hostPath and PersistentVolumeClaim volumes (bound to a hostPath or local PV) are the node's
//! own paths. Containers get them as CRI mounts ([`mounts`]).
//!
//! ConfigMap, Secret, downward API and projected volumes are recomputed on every sync and
//! rewritten ([`atomic`]) when they changed, so running containers see updates within a sync,
//! as upstream's kubelet refreshes them within its sync period. Secret and projected volumes
//! and `emptyDir.medium: Memory` are tmpfs, unmounted when the pod is removed.

pub mod atomic;
pub mod hostpath;
pub mod mounts;
pub mod ownership;
pub mod payload;

use std::{
    collections::HashMap,
    ffi::CString,
    fs,
    os::unix::{ffi::OsStrExt, fs::MetadataExt, fs::PermissionsExt},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::{
    authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec},
    core::v1::{Pod, Volume},
};
pub use mounts::Ready;
use payload::Payload;

use crate::pods::{cluster::Cluster, env::Downward};

/// Upstream's default `expirationSeconds` of a projected service account token.
const TOKEN_EXPIRATION: i64 = 3600;

/// Why a volume cannot be set up now; the pod stays `ContainerCreating` and the kubelet
/// reports a `FailedMount` event with [`SetUpError::event_message`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetUpError {
    pub volume: String,
    pub message: String,
}

impl SetUpError {
    pub fn event_message(&self) -> String {
        format!("MountVolume.SetUp failed for volume \"{}\" : {}", self.volume, self.message)
    }
}

/// A projected service account token and when to ask for a new one.
struct Token {
    value: String,
    refresh_at: Timestamp,
}

/// One pod's volumes.
pub struct PodVolumes {
    /// `<pods>/<uid>`.
    dir: PathBuf,
    /// What each API data volume last had written, to rewrite only on change.
    written: HashMap<String, Payload>,
    /// Tokens by volume and source index.
    tokens: HashMap<(String, usize), Token>,
    /// The node path of each claim volume, resolved once as upstream mounts a PV once.
    claims: HashMap<String, PathBuf>,
    /// emptyDir volumes already given to the pod's `fsGroup` (once, when made, as upstream
    /// sets them up once).
    owned: std::collections::HashSet<String>,
}

/// `<pods>/<uid>`, the pod's directory on the node.
pub fn pod_dir(pods_root: &Path, uid: &str) -> PathBuf {
    pods_root.join(uid)
}

fn is_mount_point(path: &Path) -> bool {
    let (Ok(me), Some(Ok(parent))) = (fs::metadata(path), path.parent().map(fs::metadata)) else {
        return false;
    };
    me.dev() != parent.dev()
}

/// Mounts a tmpfs at `path` unless one is there already.
fn ensure_tmpfs(path: &Path, size: Option<i64>) -> Result<()> {
    fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    if is_mount_point(path) {
        return Ok(());
    }
    let mut options = String::from("mode=0755");
    if let Some(size) = size.filter(|s| *s > 0) {
        options.push_str(&format!(",size={size}"));
    }
    let target = CString::new(path.as_os_str().as_bytes()).context("a path with a NUL byte")?;
    let (source, kind, data) = (c"tmpfs", c"tmpfs", CString::new(options).context("tmpfs options")?);
    // SAFETY: every pointer is a valid NUL-terminated string that outlives the call.
    let rc = unsafe { libc::mount(source.as_ptr(), target.as_ptr(), kind.as_ptr(), 0, data.as_ptr().cast()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("mounting tmpfs at {}", path.display()));
    }
    Ok(())
}

fn unmount(path: &Path) -> Result<()> {
    let target = CString::new(path.as_os_str().as_bytes()).context("a path with a NUL byte")?;
    // SAFETY: `target` is a valid NUL-terminated string that outlives the call.
    let rc = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("unmounting {}", path.display()));
    }
    Ok(())
}

/// The size of a `medium: Memory` emptyDir, as upstream sizes it: the smallest of its
/// `sizeLimit`, the pod's memory limit (when every container has one) and the node's
/// allocatable memory.
pub fn memory_volume_size(pod: &Pod, size_limit: Option<i64>, downward: &Downward) -> i64 {
    let containers = pod.spec.iter().flat_map(|s| s.containers.iter());
    let limits: Option<Vec<i64>> = containers
        .map(|c| {
            let limit = c.resources.as_ref()?.limits.as_ref()?.get("memory")?;
            tug_scheduler::quantity::value(&limit.0)
        })
        .collect();
    let pod_limit = limits.map(|l| l.iter().sum::<i64>()).filter(|l| *l > 0);
    let node = downward.allocatable.get("memory").and_then(|q| tug_scheduler::quantity::value(&q.0));
    [size_limit, pod_limit, node].into_iter().flatten().filter(|s| *s > 0).min().unwrap_or(0)
}

/// Removes the volumes of pod `uid`: unmounts its tmpfs volumes, then deletes its directory.
///
/// # Errors
/// When a mount cannot be undone or the directory removed.
pub fn tear_down(pods_root: &Path, uid: &str) -> Result<()> {
    let dir = pod_dir(pods_root, uid);
    let volumes = dir.join("volumes");
    for plugin in fs::read_dir(&volumes).into_iter().flatten().flatten() {
        for volume in fs::read_dir(plugin.path()).into_iter().flatten().flatten() {
            if is_mount_point(&volume.path()) {
                unmount(&volume.path())?;
            }
        }
    }
    match fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// The uids of the pods with a directory under `pods_root` untouched for at least `min_age`.
pub fn known_pods(pods_root: &Path, min_age: std::time::Duration) -> Vec<String> {
    let old = |e: &fs::DirEntry| {
        e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().is_ok_and(|age| age >= min_age))
    };
    fs::read_dir(pods_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir() && old(e))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

impl PodVolumes {
    pub fn new(pods_root: &Path, uid: &str) -> PodVolumes {
        PodVolumes {
            dir: pod_dir(pods_root, uid),
            written: HashMap::new(),
            tokens: HashMap::new(),
            claims: HashMap::new(),
            owned: std::collections::HashSet::new(),
        }
    }

    fn volume_dir(&self, plugin: &str, name: &str) -> PathBuf {
        self.dir.join("volumes").join(format!("kubernetes.io~{plugin}")).join(name)
    }

    /// Sets up (or refreshes) every volume of `pod`.
    ///
    /// # Errors
    /// The first volume that cannot be set up.
    pub async fn set_up(
        &mut self,
        pod: &Pod,
        downward: &Downward,
        cluster: &dyn Cluster,
    ) -> Result<HashMap<String, Ready>, SetUpError> {
        let mut ready = HashMap::new();
        for volume in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
            let fail = |message: String| SetUpError { volume: volume.name.clone(), message };
            let r = self.set_up_one(pod, volume, downward, cluster).await.map_err(fail)?;
            ready.insert(volume.name.clone(), r);
        }
        Ok(ready)
    }

    async fn set_up_one(
        &mut self,
        pod: &Pod,
        volume: &Volume,
        downward: &Downward,
        cluster: &dyn Cluster,
    ) -> Result<Ready, String> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let name = &volume.name;
        let writable = |path: PathBuf| Ready { path, read_only: false };
        let security = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
        let fs_group = security.and_then(|s| s.fs_group).and_then(|g| u32::try_from(g).ok());
        let on_root_mismatch =
            security.and_then(|s| s.fs_group_change_policy.as_deref()) == Some("OnRootMismatch");
        let own = |dir: &Path, read_only: bool| match fs_group {
            Some(group) => ownership::set(dir, group, read_only, on_root_mismatch)
                .map_err(|e| format!("applying fsGroup {group} to {}: {e}", dir.display())),
            None => Ok(()),
        };
        if let Some(empty) = &volume.empty_dir {
            let dir = self.volume_dir("empty-dir", name);
            if empty.medium.as_deref() == Some("Memory") {
                let limit = empty.size_limit.as_ref().and_then(|q| tug_scheduler::quantity::value(&q.0));
                ensure_tmpfs(&dir, Some(memory_volume_size(pod, limit, downward)))
                    .map_err(|e| format!("{e:#}"))?;
            } else {
                fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
            }
            // As upstream: any user of the pod may write an emptyDir.
            if !self.owned.contains(name) {
                let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o777));
                own(&dir, false)?;
                self.owned.insert(name.clone());
            }
            return Ok(writable(dir));
        }
        if let Some(host) = &volume.host_path {
            let path = PathBuf::from(&host.path);
            hostpath::check(&path, host.type_.as_deref().unwrap_or_default())?;
            return Ok(writable(path));
        }
        if let Some(claim) = &volume.persistent_volume_claim {
            let path = match self.claims.get(name) {
                Some(path) => path.clone(),
                None => self.claim_path(namespace, &claim.claim_name, cluster).await?,
            };
            self.claims.insert(name.clone(), path.clone());
            return Ok(Ready { path, read_only: claim.read_only == Some(true) });
        }
        let (plugin, files, tmpfs) = if let Some(cm) = &volume.config_map {
            let optional = cm.optional == Some(true);
            let files = payload::config_map(
                cluster,
                namespace,
                &cm.name,
                cm.items.as_ref(),
                cm.default_mode,
                optional,
            )?;
            ("configmap", files, false)
        } else if let Some(s) = &volume.secret {
            let secret_name = s.secret_name.clone().unwrap_or_default();
            let optional = s.optional == Some(true);
            let files = payload::secret(
                cluster,
                namespace,
                &secret_name,
                s.items.as_ref(),
                s.default_mode,
                optional,
            )?;
            ("secret", files, true)
        } else if let Some(d) = &volume.downward_api {
            let items = d.items.as_deref().unwrap_or_default();
            ("downward-api", payload::downward_api(pod, downward, items, d.default_mode)?, false)
        } else if let Some(p) = &volume.projected {
            self.refresh_tokens(pod, name, p, cluster).await?;
            let tokens = &self.tokens;
            let files = payload::projected(pod, downward, cluster, p, |i| {
                tokens.get(&(name.clone(), i)).map(|t| t.value.clone())
            })?;
            ("projected", files, true)
        } else {
            return Err(
                "unsupported volume type: only emptyDir, hostPath, persistentVolumeClaim, configMap, \
                        secret, downwardAPI and projected volumes are supported"
                    .into(),
            );
        };
        let dir = self.volume_dir(plugin, name);
        if tmpfs {
            ensure_tmpfs(&dir, None).map_err(|e| format!("{e:#}"))?;
        }
        if self.written.get(name) != Some(&files) || !dir.join("..data").exists() {
            atomic::write(&dir, &files).map_err(|e| format!("{e:#}"))?;
            own(&dir, true)?;
            self.written.insert(name.clone(), files);
        }
        Ok(Ready { path: dir, read_only: true })
    }

    /// The node path of the PersistentVolume bound to claim `claim`.
    async fn claim_path(
        &self,
        namespace: &str,
        claim: &str,
        cluster: &dyn Cluster,
    ) -> Result<PathBuf, String> {
        let context = |m: String| format!("error processing PVC {namespace}/{claim}: {m}");
        let pvc = cluster
            .claim(namespace, claim)
            .await
            .map_err(|e| context(format!("failed to fetch PVC from API server: {e:#}")))?
            .ok_or_else(|| {
                context(format!(
                    "failed to fetch PVC from API server: persistentvolumeclaims \"{claim}\" not found"
                ))
            })?;
        let bound = pvc.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
        let pv_name = pvc.spec.as_ref().and_then(|s| s.volume_name.clone()).filter(|n| !n.is_empty());
        let Some(pv_name) = pv_name.filter(|_| bound) else {
            return Err(context("PVC is not bound".into()));
        };
        let pv = cluster
            .volume(&pv_name)
            .await
            .map_err(|e| context(format!("failed to fetch PV {pv_name} from API server: {e:#}")))?
            .ok_or_else(|| {
                context(format!(
                    "failed to fetch PV {pv_name} from API server: persistentvolumes \"{pv_name}\" not found"
                ))
            })?;
        let spec = pv.spec.unwrap_or_default();
        if let Some(host) = spec.host_path {
            let path = PathBuf::from(&host.path);
            hostpath::check(&path, host.type_.as_deref().unwrap_or_default())?;
            return Ok(path);
        }
        if let Some(local) = spec.local {
            let path = PathBuf::from(&local.path);
            if !path.exists() {
                return Err(format!("path \"{}\" does not exist", local.path));
            }
            return Ok(path);
        }
        Err(format!("persistent volume {pv_name} is neither hostPath nor local: not supported on this node"))
    }

    /// Asks for the tokens of `volume`'s `serviceAccountToken` sources that are new or due for
    /// renewal (past 80% of their life, as upstream's token manager).
    async fn refresh_tokens(
        &mut self,
        pod: &Pod,
        volume: &str,
        source: &k8s_openapi::api::core::v1::ProjectedVolumeSource,
        cluster: &dyn Cluster,
    ) -> Result<(), String> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let account = pod
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_else(|| "default".into());
        let now = Timestamp::now();
        for (index, projection) in source.sources.iter().flatten().enumerate() {
            let Some(t) = &projection.service_account_token else { continue };
            let key = (volume.to_string(), index);
            if self.tokens.get(&key).is_some_and(|t| now < t.refresh_at) {
                continue;
            }
            let ttl = t.expiration_seconds.unwrap_or(TOKEN_EXPIRATION);
            let request = TokenRequest {
                spec: TokenRequestSpec {
                    audiences: t.audience.iter().filter(|a| !a.is_empty()).cloned().collect(),
                    expiration_seconds: Some(ttl),
                    bound_object_ref: Some(BoundObjectReference {
                        api_version: Some("v1".into()),
                        kind: Some("Pod".into()),
                        name: pod.metadata.name.clone(),
                        uid: pod.metadata.uid.clone(),
                    }),
                },
                ..Default::default()
            };
            let issued = cluster
                .token(namespace, &account, &request)
                .await
                .map_err(|e| format!("failed to fetch token: {e:#}"))?;
            let value = issued.status.map(|s| s.token).unwrap_or_default();
            let refresh_at = now + SignedDuration::from_secs(ttl * 8 / 10);
            self.tokens.insert(key, Token { value, refresh_at });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::pods::cluster::StaticCluster;

    fn pod(volumes: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c"}], "volumes": volumes},
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn disk_volumes_are_laid_out_as_upstreams_and_refreshed() {
        let root = tempfile::tempdir().unwrap();
        let host = root.path().join("host/dir");
        let p = pod(json!([
            {"name": "scratch", "emptyDir": {}},
            {"name": "cfg", "configMap": {"name": "cfg"}},
            {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
            {"name": "host", "hostPath": {"path": host.to_str().unwrap(), "type": "DirectoryOrCreate"}},
        ]));
        let cluster = StaticCluster::default()
            .with_config_map("ns", json!({"metadata": {"name": "cfg"}, "data": {"k": "v1"}}));
        let mut volumes = PodVolumes::new(root.path(), "u1");
        let ready = volumes.set_up(&p, &Downward::default(), &cluster).await.unwrap();
        let base = root.path().join("u1/volumes");
        assert_eq!(
            ready["scratch"],
            Ready { path: base.join("kubernetes.io~empty-dir/scratch"), read_only: false }
        );
        assert_eq!(ready["cfg"].path, base.join("kubernetes.io~configmap/cfg"));
        assert!(ready["cfg"].read_only);
        assert_eq!(fs::read_to_string(ready["cfg"].path.join("k")).unwrap(), "v1");
        assert_eq!(fs::read_to_string(ready["info"].path.join("labels")).unwrap(), "a=\"b\"");
        assert!(host.is_dir());

        let cluster = StaticCluster::default()
            .with_config_map("ns", json!({"metadata": {"name": "cfg"}, "data": {"k": "v2"}}));
        let ready = volumes.set_up(&p, &Downward::default(), &cluster).await.unwrap();
        assert_eq!(fs::read_to_string(ready["cfg"].path.join("k")).unwrap(), "v2");

        let missing = StaticCluster::default();
        let err =
            PodVolumes::new(root.path(), "u2").set_up(&p, &Downward::default(), &missing).await.unwrap_err();
        assert_eq!(
            err.event_message(),
            "MountVolume.SetUp failed for volume \"cfg\" : configmap \"cfg\" not found"
        );

        tear_down(root.path(), "u1").unwrap();
        assert!(!root.path().join("u1").exists());
        assert!(host.is_dir(), "hostPath volumes stay");
    }

    #[test]
    fn memory_volumes_take_the_smallest_bound() {
        let mut p = pod(json!([]));
        let mut downward = Downward::default();
        assert_eq!(memory_volume_size(&p, None, &downward), 0, "no bound: tmpfs's default");
        downward
            .allocatable
            .insert("memory".into(), k8s_openapi::apimachinery::pkg::api::resource::Quantity("1Gi".into()));
        assert_eq!(memory_volume_size(&p, None, &downward), 1 << 30);
        assert_eq!(memory_volume_size(&p, Some(16 << 20), &downward), 16 << 20);
        p.spec.as_mut().unwrap().containers[0].resources =
            Some(serde_json::from_value(json!({"limits": {"memory": "64Mi"}})).unwrap());
        assert_eq!(memory_volume_size(&p, None, &downward), 64 << 20);
    }

    #[tokio::test]
    async fn claims_resolve_to_their_bound_host_path_volume() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("pv");
        let mut cluster = StaticCluster::default();
        let p = pod(json!([{"name": "d", "persistentVolumeClaim": {"claimName": "c"}}]));
        let mut volumes = PodVolumes::new(root.path(), "u1");
        let err = volumes.set_up(&p, &Downward::default(), &cluster).await.unwrap_err();
        assert!(err.message.contains("persistentvolumeclaims \"c\" not found"), "{err:?}");
        cluster.claims.insert(
            ("ns".into(), "c".into()),
            serde_json::from_value(json!({"spec": {"volumeName": "pv1"}, "status": {"phase": "Bound"}}))
                .unwrap(),
        );
        cluster.volumes.insert(
            "pv1".into(),
            serde_json::from_value(
                json!({"spec": {"hostPath": {"path": data.to_str().unwrap(), "type": "DirectoryOrCreate"}}}),
            )
            .unwrap(),
        );
        let ready = volumes.set_up(&p, &Downward::default(), &cluster).await.unwrap();
        assert_eq!(ready["d"].path, data);
        assert!(data.is_dir());
    }
}
