//! The files of ConfigMap, Secret, downward API and projected volumes, as upstream's
//! `MakePayload`s compute them: every key (or only `items`, at their `path`s), each with its
//! item `mode` or the volume's `defaultMode` (0644). Pure.

use std::collections::BTreeMap;

use k8s_openapi::{
    ByteString,
    api::core::v1::{
        ConfigMap, DownwardAPIVolumeFile, KeyToPath, Pod, ProjectedVolumeSource, Secret, VolumeProjection,
    },
};

use crate::pods::{
    cluster::Cluster,
    env::{self, Downward},
};

/// Upstream's `defaultMode` for API data volumes (0644).
pub const DEFAULT_MODE: u32 = 0o644;

/// One file of a volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    pub data: Vec<u8>,
    pub mode: u32,
}

/// A volume's files by relative path.
pub type Payload = BTreeMap<String, File>;

fn mode(item: Option<i32>, default: Option<i32>) -> u32 {
    item.or(default).map_or(DEFAULT_MODE, |m| (m as u32) & 0o7777)
}

/// `data` (and `binaryData`) as files: all keys, or only `items`.
fn key_files(
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
    default_mode: Option<i32>,
    optional: bool,
    missing_key: impl Fn(&str) -> String,
) -> Result<Payload, String> {
    let mut out = Payload::new();
    let Some(items) = items.filter(|i| !i.is_empty()) else {
        for (k, v) in data {
            out.insert(k.clone(), File { data: v.clone(), mode: mode(None, default_mode) });
        }
        return Ok(out);
    };
    for item in items {
        match data.get(&item.key) {
            Some(v) => {
                out.insert(item.path.clone(), File { data: v.clone(), mode: mode(item.mode, default_mode) });
            }
            None if optional => {}
            None => return Err(missing_key(&item.key)),
        }
    }
    Ok(out)
}

fn config_map_data(cm: &ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let mut data: BTreeMap<String, Vec<u8>> =
        cm.data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect();
    for (k, ByteString(v)) in cm.binary_data.iter().flatten() {
        data.insert(k.clone(), v.clone());
    }
    data
}

fn secret_data(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut data: BTreeMap<String, Vec<u8>> =
        secret.string_data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect();
    for (k, ByteString(v)) in secret.data.iter().flatten() {
        data.insert(k.clone(), v.clone());
    }
    data
}

/// The files of a ConfigMap volume (or projection); an optional missing ConfigMap gives none.
///
/// # Errors
/// Upstream's message for a missing ConfigMap or key.
pub fn config_map(
    cluster: &dyn Cluster,
    namespace: &str,
    name: &str,
    items: Option<&Vec<KeyToPath>>,
    default_mode: Option<i32>,
    optional: bool,
) -> Result<Payload, String> {
    match cluster.config_map(namespace, name) {
        Some(cm) => key_files(&config_map_data(&cm), items, default_mode, optional, |k| {
            format!("configmap references non-existent config key: {k}")
        }),
        None if optional => Ok(Payload::new()),
        None => Err(format!("configmap \"{name}\" not found")),
    }
}

/// The files of a Secret volume (or projection), values as the API decoded them.
///
/// # Errors
/// Upstream's message for a missing Secret or key.
pub fn secret(
    cluster: &dyn Cluster,
    namespace: &str,
    name: &str,
    items: Option<&Vec<KeyToPath>>,
    default_mode: Option<i32>,
    optional: bool,
) -> Result<Payload, String> {
    match cluster.secret(namespace, name) {
        Some(secret) => key_files(&secret_data(&secret), items, default_mode, optional, |k| {
            format!("references non-existent secret key: {k}")
        }),
        None if optional => Ok(Payload::new()),
        None => Err(format!("secret \"{name}\" not found")),
    }
}

/// The files of a downward API volume (or projection).
///
/// # Errors
/// When an item names a field or resource the downward API does not offer.
pub fn downward_api(
    pod: &Pod,
    downward: &Downward,
    items: &[DownwardAPIVolumeFile],
    default_mode: Option<i32>,
) -> Result<Payload, String> {
    let mut out = Payload::new();
    for item in items {
        let value = if let Some(field) = &item.field_ref {
            env::field_value(pod, downward, &field.field_path, true)?
        } else if let Some(resource) = &item.resource_field_ref {
            let container = resource.container_name.clone().unwrap_or_default();
            env::resource_value(pod, &container, resource, downward)?
        } else {
            continue;
        };
        out.insert(item.path.clone(), File { data: value.into_bytes(), mode: mode(item.mode, default_mode) });
    }
    Ok(out)
}

/// The files of a projected volume; `token` gives the token of each `serviceAccountToken`
/// source by its index (fetched beforehand: it needs the API).
///
/// # Errors
/// The first source that cannot be had.
pub fn projected(
    pod: &Pod,
    downward: &Downward,
    cluster: &dyn Cluster,
    source: &ProjectedVolumeSource,
    token: impl Fn(usize) -> Option<String>,
) -> Result<Payload, String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let default_mode = source.default_mode;
    let mut out = Payload::new();
    for (index, projection) in source.sources.iter().flatten().enumerate() {
        let VolumeProjection {
            config_map: cm_source,
            secret: secret_source,
            downward_api: api,
            service_account_token,
            ..
        } = projection;
        let files = if let Some(cm) = cm_source {
            let optional = cm.optional == Some(true);
            config_map(cluster, namespace, &cm.name, cm.items.as_ref(), default_mode, optional)?
        } else if let Some(s) = secret_source {
            let optional = s.optional == Some(true);
            secret(cluster, namespace, &s.name, s.items.as_ref(), default_mode, optional)?
        } else if let Some(d) = api {
            downward_api(pod, downward, d.items.as_deref().unwrap_or_default(), default_mode)?
        } else if let Some(t) = service_account_token {
            let Some(value) = token(index) else { continue };
            let file = File { data: value.into_bytes(), mode: mode(None, default_mode) };
            Payload::from([(t.path.clone(), file)])
        } else {
            continue;
        };
        out.extend(files);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::pods::cluster::StaticCluster;

    fn cluster() -> StaticCluster {
        StaticCluster::default()
            .with_config_map(
                "ns",
                json!({"metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}, "binaryData": {"bin": "AAE="}}),
            )
            .with_secret("ns", json!({"metadata": {"name": "pw"}, "data": {"password": "czNjcjN0"}}))
    }

    fn items(v: serde_json::Value) -> Vec<KeyToPath> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn config_maps_and_secrets_become_files_with_modes() {
        let c = cluster();
        let all = config_map(&c, "ns", "cfg", None, None, false).unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), ["a", "b", "bin"]);
        assert_eq!(all["bin"].data, vec![0, 1]);
        assert_eq!(all["a"].mode, 0o644);
        let picked = items(json!([{"key": "b", "path": "dir/b.conf", "mode": 0o600}]));
        let some = config_map(&c, "ns", "cfg", Some(&picked), Some(0o640), false).unwrap();
        assert_eq!(some.len(), 1);
        assert_eq!(some["dir/b.conf"], File { data: b"2".to_vec(), mode: 0o600 });
        let s = secret(&c, "ns", "pw", None, Some(0o400), false).unwrap();
        assert_eq!(s["password"], File { data: b"s3cr3t".to_vec(), mode: 0o400 });

        assert_eq!(config_map(&c, "ns", "x", None, None, false).unwrap_err(), "configmap \"x\" not found");
        assert!(config_map(&c, "ns", "x", None, None, true).unwrap().is_empty());
        assert_eq!(secret(&c, "ns", "x", None, None, false).unwrap_err(), "secret \"x\" not found");
        let bad = items(json!([{"key": "zz", "path": "zz"}]));
        assert_eq!(
            config_map(&c, "ns", "cfg", Some(&bad), None, false).unwrap_err(),
            "configmap references non-existent config key: zz"
        );
    }

    #[test]
    fn projected_volumes_merge_their_sources() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "labels": {"x": "y"}},
            "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "1Gi"}}}]},
        }))
        .unwrap();
        let source: ProjectedVolumeSource = serde_json::from_value(json!({
            "defaultMode": 0o440,
            "sources": [
                {"configMap": {"name": "cfg", "items": [{"key": "a", "path": "a.txt"}]}},
                {"secret": {"name": "pw"}},
                {"downwardAPI": {"items": [
                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                    {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}},
                ]}},
                {"serviceAccountToken": {"path": "token"}},
            ],
        }))
        .unwrap();
        let files =
            projected(&pod, &Downward::default(), &cluster(), &source, |i| (i == 3).then(|| "t".into()))
                .unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), ["a.txt", "labels", "mem", "password", "token"]);
        assert_eq!(files["labels"].data, b"x=\"y\"");
        assert_eq!(files["mem"].data, b"1024");
        assert_eq!(files["token"], File { data: b"t".to_vec(), mode: 0o440 });
    }
}
