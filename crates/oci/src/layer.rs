//! Layers: a root filesystem as a gzip'd tar, with the two digests images refer to it by.

use std::io::Write;

use bytes::Bytes;
use flate2::{Compression, GzBuilder};

use crate::{
    Digest, Error, Result,
    rootfs::{Entry, Rootfs},
};

/// A gzip'd tar layer. The bytes are reproducible: entries are in path order, owned by root,
/// with modification time 0, and the gzip header carries no name or time, so the same
/// root filesystem always gives the same digests (and registries and containerd dedupe it).
#[derive(Clone, Debug)]
pub struct Layer {
    /// The compressed tar, as stored in registries.
    pub data: Bytes,
    /// The digest of `data` (the layer's name in manifests).
    pub digest: Digest,
    /// The digest of the uncompressed tar (the image config's `rootfs.diff_ids`).
    pub diff_id: Digest,
}

impl Layer {
    /// Writes `rootfs` as a layer.
    ///
    /// # Errors
    /// [`Error::Io`] if an entry cannot be encoded (a link target too long for tar, say).
    pub fn from_rootfs(rootfs: &Rootfs) -> Result<Layer> {
        let tar = tar_bytes(rootfs)?;
        let diff_id = Digest::of(&tar);
        let mut gz = GzBuilder::new().mtime(0).write(Vec::new(), Compression::default());
        gz.write_all(&tar).map_err(|e| Error::io("gzip layer", e))?;
        let data = gz.finish().map_err(|e| Error::io("gzip layer", e))?;
        Ok(Layer { digest: Digest::of(&data), diff_id, data: data.into() })
    }
}

fn tar_bytes(rootfs: &Rootfs) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, entry) in rootfs.entries() {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        let context = || format!("add {path} to layer");
        match entry {
            Entry::Dir { mode } => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(mode);
                header.set_size(0);
                builder.append_data(&mut header, format!("{path}/"), std::io::empty())
            }
            Entry::File { data, mode } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(mode);
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, &path, data.as_slice())
            }
            Entry::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, &path, &target)
            }
        }
        .map_err(|e| Error::io(context(), e))?;
    }
    builder.into_inner().map_err(|e| Error::io("finish layer tar", e))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn sample() -> Rootfs {
        let mut fs = Rootfs::new();
        fs.file("bin/tool", b"binary".to_vec(), 0o755)
            .symlink("bin/sh", "/bin/tool")
            .dir("tmp", 0o1777)
            .file(&format!("deep/{}/file", "d".repeat(120)), b"long".to_vec(), 0o600);
        fs
    }

    #[test]
    fn same_rootfs_gives_same_digests() {
        let a = Layer::from_rootfs(&sample()).unwrap();
        let b = Layer::from_rootfs(&sample()).unwrap();
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.diff_id, b.diff_id);
        assert_eq!(a.digest, Digest::of(&a.data));
        assert_ne!(a.digest, a.diff_id);
    }

    #[test]
    fn layer_holds_entries_with_modes_owners_and_links() {
        let layer = Layer::from_rootfs(&sample()).unwrap();
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&layer.data[..]).read_to_end(&mut tar).unwrap();
        assert_eq!(Digest::of(&tar), layer.diff_id);
        let mut archive = tar::Archive::new(&tar[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let header = entry.header().clone();
            assert_eq!((header.uid().unwrap(), header.gid().unwrap(), header.mtime().unwrap()), (0, 0, 0));
            let mut body = Vec::new();
            entry.read_to_end(&mut body).unwrap();
            let link = entry.link_name().unwrap().map(|l| l.to_string_lossy().into_owned());
            seen.push((path, header.entry_type(), header.mode().unwrap(), body, link));
        }
        let find =
            |p: &str| seen.iter().find(|s| s.0.trim_end_matches('/') == p).unwrap_or_else(|| panic!("{p}"));
        let tool = find("bin/tool");
        assert_eq!((tool.1, tool.2, tool.3.as_slice()), (tar::EntryType::Regular, 0o755, &b"binary"[..]));
        let sh = find("bin/sh");
        assert_eq!((sh.1, sh.4.as_deref()), (tar::EntryType::Symlink, Some("/bin/tool")));
        let tmp = find("tmp");
        assert_eq!((tmp.1, tmp.2), (tar::EntryType::Directory, 0o1777));
        assert_eq!(find(&format!("deep/{}/file", "d".repeat(120))).3, b"long");
        // Parents come before children, so extraction never meets a missing directory.
        let pos = |p: &str| seen.iter().position(|s| s.0.trim_end_matches('/') == p).unwrap();
        assert!(pos("bin") < pos("bin/tool"));
    }
}
