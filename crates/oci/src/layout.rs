//! OCI image layouts as tarballs (`oci-layout`, `index.json`, `blobs/sha256/…`), the format
//! `ctr images import` reads.

use std::{collections::BTreeSet, io::Write};

use crate::{Error, Image, Result, image::INDEX_MEDIA_TYPE};

/// The annotation containerd names an imported image by.
pub const CONTAINERD_NAME_ANNOTATION: &str = "io.containerd.image.name";
/// The OCI annotation for a manifest's name in a layout (the tag).
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// Writes a layout holding `images`, each under its full name (`127.0.0.1:5000/tugboat/busybox:1.35`).
/// Blobs shared between images are written once.
///
/// # Errors
/// [`Error::Io`] if writing fails.
pub fn write_layout<W: Write>(out: W, images: &[(&str, &Image)]) -> Result<W> {
    let mut tar = tar::Builder::new(out);
    let mut manifests = Vec::new();
    for (name, image) in images {
        let mut descriptor = image.manifest.descriptor();
        descriptor.platform = Some(image.platform.clone());
        descriptor.annotations.insert(CONTAINERD_NAME_ANNOTATION.into(), name.to_string());
        let tag = crate::Reference::parse(name).map(|r| r.reference).unwrap_or_else(|_| name.to_string());
        descriptor.annotations.insert(REF_NAME_ANNOTATION.into(), tag);
        manifests.push(descriptor);
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": manifests,
    });
    append(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    append(&mut tar, "index.json", &serde_json::to_vec(&index).map_err(|e| Error::Invalid(e.to_string()))?)?;
    let mut written = BTreeSet::new();
    for (_, image) in images {
        for blob in image.blobs().chain(std::iter::once(&image.manifest)) {
            if written.insert(blob.digest.clone()) {
                append(&mut tar, &format!("blobs/sha256/{}", blob.digest.hex()), &blob.data)?;
            }
        }
    }
    tar.into_inner().map_err(|e| Error::io("finish image layout", e))
}

fn append<W: Write>(tar: &mut tar::Builder<W>, path: &str, data: &[u8]) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_size(data.len() as u64);
    tar.append_data(&mut header, path, data)
        .map_err(|e| Error::io(format!("write {path} to image layout"), e))
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, io::Read};

    use super::*;
    use crate::{Digest, ImageConfig, Layer, Rootfs};

    fn image(content: &str) -> Image {
        let mut fs = Rootfs::new();
        fs.file("f", content.as_bytes().to_vec(), 0o644);
        Image::build(vec![Layer::from_rootfs(&fs).unwrap()], &ImageConfig::default()).unwrap()
    }

    #[test]
    fn layout_has_index_and_every_blob_once() {
        let (a, b) = (image("a"), image("b"));
        let bytes = write_layout(Vec::new(), &[("reg:5000/x/a:1", &a), ("reg:5000/x/a:also", &a), ("b", &b)])
            .unwrap();
        let mut files = BTreeMap::new();
        let mut archive = tar::Archive::new(&bytes[..]);
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            assert!(files.insert(path, data).is_none(), "no file twice");
        }
        assert_eq!(files["oci-layout"], br#"{"imageLayoutVersion":"1.0.0"}"#);
        for (path, data) in &files {
            if let Some(hex) = path.strip_prefix("blobs/sha256/") {
                assert_eq!(Digest::of(data).hex(), *hex);
            }
        }
        // Two names for a, one for b: a config, a layer and a manifest each, written once.
        assert_eq!(files.keys().filter(|p| p.starts_with("blobs/")).count(), 6);
        let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
        let manifests = index["manifests"].as_array().unwrap();
        assert_eq!(manifests.len(), 3);
        assert_eq!(manifests[0]["digest"], a.digest().to_string());
        assert_eq!(manifests[0]["annotations"][CONTAINERD_NAME_ANNOTATION], "reg:5000/x/a:1");
        assert_eq!(manifests[1]["annotations"][REF_NAME_ANNOTATION], "also");
        assert_eq!(manifests[2]["platform"]["os"], "linux");
        assert!(files.contains_key(&format!("blobs/sha256/{}", b.digest().hex())));
    }
}
