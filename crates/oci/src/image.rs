//! Images: layers plus an image config, tied together by a manifest (OCI image spec v1).

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{Digest, Error, Layer, Result};

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// What a container runs and how, the `config` part of an image config. Empty fields are
/// left out of the JSON, as the runtime then applies its defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `NAME=value` pairs.
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    /// `8080/tcp`, `53/udp`.
    pub exposed_ports: Vec<String>,
    /// `uid`, `uid:gid` or a user name from the image's /etc/passwd.
    pub user: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// A content descriptor: what a manifest or an index says about a blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
}

impl Platform {
    /// The machine this program runs on, in Go's names (`amd64`, `arm64`) as images use them.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform { architecture: architecture.into(), os: "linux".into() }
    }
}

/// An image manifest (`application/vnd.oci.image.manifest.v1+json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// A blob with its media type and digest.
#[derive(Clone, Debug)]
pub struct Blob {
    pub media_type: String,
    pub digest: Digest,
    pub data: Bytes,
}

impl Blob {
    fn new(media_type: &str, data: Vec<u8>) -> Blob {
        Blob { media_type: media_type.into(), digest: Digest::of(&data), data: data.into() }
    }

    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.data.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
        }
    }
}

/// A built image: its layers, its config blob and the manifest naming both.
#[derive(Clone, Debug)]
pub struct Image {
    pub layers: Vec<Blob>,
    pub config: Blob,
    pub manifest: Blob,
    pub platform: Platform,
}

impl Image {
    /// Builds an image for the host platform from `layers` (lowest first) and `config`.
    ///
    /// # Errors
    /// [`Error::Invalid`] if there are no layers (runtimes refuse such images).
    pub fn build(layers: Vec<Layer>, config: &ImageConfig) -> Result<Image> {
        if layers.is_empty() {
            return Err(Error::Invalid("an image needs at least one layer".into()));
        }
        let platform = Platform::host();
        let config_json = config_document(&layers, config, &platform);
        let config_blob = Blob::new(CONFIG_MEDIA_TYPE, to_json(&config_json)?);
        let layers: Vec<Blob> = layers
            .into_iter()
            .map(|l| Blob { media_type: LAYER_MEDIA_TYPE.into(), digest: l.digest, data: l.data })
            .collect();
        let manifest = Manifest {
            schema_version: 2,
            media_type: MANIFEST_MEDIA_TYPE.into(),
            config: config_blob.descriptor(),
            layers: layers.iter().map(Blob::descriptor).collect(),
        };
        let manifest = Blob::new(MANIFEST_MEDIA_TYPE, to_json(&manifest)?);
        Ok(Image { layers, config: config_blob, manifest, platform })
    }

    /// The image's identity in registries and runtimes: the manifest's digest.
    pub fn digest(&self) -> &Digest {
        &self.manifest.digest
    }

    /// The config blob first, then the layers: the order a registry wants them before the
    /// manifest.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config).chain(&self.layers)
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Invalid(format!("encode JSON: {e}")))
}

/// The image config document; keys in `config` are capitalized, as the spec has them.
fn config_document(layers: &[Layer], config: &ImageConfig, platform: &Platform) -> serde_json::Value {
    let mut run = serde_json::Map::new();
    if let Some(user) = &config.user {
        run.insert("User".into(), user.clone().into());
    }
    if !config.exposed_ports.is_empty() {
        let ports: serde_json::Map<_, _> =
            config.exposed_ports.iter().map(|p| (p.clone(), serde_json::json!({}))).collect();
        run.insert("ExposedPorts".into(), ports.into());
    }
    if !config.env.is_empty() {
        run.insert("Env".into(), config.env.clone().into());
    }
    if !config.entrypoint.is_empty() {
        run.insert("Entrypoint".into(), config.entrypoint.clone().into());
    }
    if !config.cmd.is_empty() {
        run.insert("Cmd".into(), config.cmd.clone().into());
    }
    if let Some(dir) = &config.working_dir {
        run.insert("WorkingDir".into(), dir.clone().into());
    }
    if !config.labels.is_empty() {
        run.insert("Labels".into(), serde_json::to_value(&config.labels).unwrap_or_default());
    }
    serde_json::json!({
        // A fixed time keeps the config, and so the image digest, reproducible.
        "created": "1970-01-01T00:00:00Z",
        "architecture": platform.architecture,
        "os": platform.os,
        "config": run,
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
        },
        "history": layers.iter().map(|_| serde_json::json!({"created_by": "tug-oci"})).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rootfs;

    fn layer(name: &str) -> Layer {
        let mut fs = Rootfs::new();
        fs.file(name, name.as_bytes().to_vec(), 0o644);
        Layer::from_rootfs(&fs).unwrap()
    }

    #[test]
    fn manifest_names_config_and_layers_by_digest_and_size() {
        let (a, b) = (layer("a"), layer("b"));
        let image = Image::build(vec![a.clone(), b.clone()], &ImageConfig::default()).unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&image.manifest.data).unwrap();
        assert_eq!(manifest["schemaVersion"], 2);
        assert_eq!(manifest["mediaType"], MANIFEST_MEDIA_TYPE);
        assert_eq!(manifest["config"]["mediaType"], CONFIG_MEDIA_TYPE);
        assert_eq!(manifest["config"]["digest"], Digest::of(&image.config.data).to_string());
        assert_eq!(manifest["config"]["size"], image.config.data.len());
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[0]["mediaType"], LAYER_MEDIA_TYPE);
        assert_eq!(layers[0]["digest"], a.digest.to_string());
        assert_eq!(layers[1]["digest"], b.digest.to_string());
        assert_eq!(layers[1]["size"], b.data.len());
        assert_eq!(image.digest(), &Digest::of(&image.manifest.data));
        let parsed: Manifest = serde_json::from_slice(&image.manifest.data).unwrap();
        assert_eq!(parsed.layers[0].digest, a.digest);
    }

    #[test]
    fn config_carries_run_settings_and_diff_ids() {
        let l = layer("a");
        let config = ImageConfig {
            entrypoint: vec!["/bin/server".into()],
            cmd: vec!["--port".into(), "8080".into()],
            env: vec!["PATH=/bin".into()],
            working_dir: Some("/srv".into()),
            exposed_ports: vec!["8080/tcp".into()],
            user: Some("65534".into()),
            labels: BTreeMap::from([("org.example".into(), "yes".into())]),
        };
        let image = Image::build(vec![l.clone()], &config).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&image.config.data).unwrap();
        assert_eq!(doc["os"], "linux");
        assert_eq!(doc["architecture"], Platform::host().architecture);
        assert_eq!(doc["rootfs"]["type"], "layers");
        assert_eq!(doc["rootfs"]["diff_ids"], serde_json::json!([l.diff_id.to_string()]));
        let run = &doc["config"];
        assert_eq!(run["Entrypoint"], serde_json::json!(["/bin/server"]));
        assert_eq!(run["Cmd"], serde_json::json!(["--port", "8080"]));
        assert_eq!(run["Env"], serde_json::json!(["PATH=/bin"]));
        assert_eq!(run["WorkingDir"], "/srv");
        assert_eq!(run["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
        assert_eq!(run["User"], "65534");
        assert_eq!(run["Labels"]["org.example"], "yes");
    }

    #[test]
    fn empty_settings_are_left_out_and_builds_are_reproducible() {
        let image = Image::build(vec![layer("a")], &ImageConfig::default()).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&image.config.data).unwrap();
        assert_eq!(doc["config"], serde_json::json!({}));
        let again = Image::build(vec![layer("a")], &ImageConfig::default()).unwrap();
        assert_eq!(again.digest(), image.digest());
    }

    #[test]
    fn an_image_without_layers_is_refused() {
        assert!(Image::build(vec![], &ImageConfig::default()).is_err());
    }
}
