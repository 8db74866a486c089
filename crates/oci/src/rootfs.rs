//! A root filesystem described in memory: directories, files with modes, symlinks.

use std::{
    collections::BTreeMap,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::Path,
};

use crate::{Error, Result};

/// One entry of a [`Rootfs`]. Every entry is owned by root (uid and gid 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Dir { mode: u32 },
    File { data: Vec<u8>, mode: u32 },
    Symlink { target: String },
}

/// Entries keyed by their path relative to `/` (`bin/sh`, no leading slash). Parents that are not
/// listed are created as 0755 directories when the layer is written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rootfs {
    entries: BTreeMap<String, Entry>,
}

impl Rootfs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a directory (`mode` holds permission bits, e.g. `0o1777` for `/tmp`).
    pub fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
        self.entries.insert(normalize(path), Entry::Dir { mode });
        self
    }

    /// Adds a regular file.
    pub fn file(&mut self, path: &str, data: Vec<u8>, mode: u32) -> &mut Self {
        self.entries.insert(normalize(path), Entry::File { data, mode });
        self
    }

    /// Adds a symbolic link pointing at `target` (absolute or relative, kept as given).
    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.entries.insert(normalize(path), Entry::Symlink { target: target.to_string() });
        self
    }

    /// Copies a host file into the root filesystem at `path`, keeping its permission bits.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read.
    pub fn copy_file(&mut self, host: &Path, path: &str) -> Result<&mut Self> {
        let data = std::fs::read(host).map_err(|e| Error::io(format!("read {}", host.display()), e))?;
        let mode = std::fs::metadata(host)
            .map_err(|e| Error::io(format!("stat {}", host.display()), e))?
            .permissions()
            .mode();
        Ok(self.file(path, data, mode & 0o7777))
    }

    /// Reads a whole host directory tree as a root filesystem (files, directories, symlinks;
    /// other kinds of files are refused).
    ///
    /// # Errors
    /// [`Error::Io`] on read errors, [`Error::Invalid`] for devices, sockets and pipes.
    pub fn from_dir(root: &Path) -> Result<Self> {
        let mut rootfs = Rootfs::new();
        rootfs.add_dir_tree(root, "")?;
        Ok(rootfs)
    }

    fn add_dir_tree(&mut self, host_dir: &Path, prefix: &str) -> Result<()> {
        let read =
            std::fs::read_dir(host_dir).map_err(|e| Error::io(format!("read {}", host_dir.display()), e))?;
        for item in read {
            let item = item.map_err(|e| Error::io(format!("read {}", host_dir.display()), e))?;
            let host = item.path();
            let name = item.file_name();
            let name = name
                .to_str()
                .ok_or_else(|| Error::Invalid(format!("{}: file name is not UTF-8", host.display())))?;
            let path = if prefix.is_empty() { name.to_string() } else { format!("{prefix}/{name}") };
            let meta = std::fs::symlink_metadata(&host)
                .map_err(|e| Error::io(format!("stat {}", host.display()), e))?;
            let kind = meta.file_type();
            if kind.is_symlink() {
                let target = std::fs::read_link(&host)
                    .map_err(|e| Error::io(format!("readlink {}", host.display()), e))?;
                let target = target
                    .to_str()
                    .ok_or_else(|| Error::Invalid(format!("{}: link target is not UTF-8", host.display())))?;
                self.symlink(&path, target);
            } else if kind.is_dir() {
                self.dir(&path, meta.mode() & 0o7777);
                self.add_dir_tree(&host, &path)?;
            } else if kind.is_file() {
                self.copy_file(&host, &path)?;
            } else {
                return Err(Error::Invalid(format!(
                    "{}: only files, directories and symlinks",
                    host.display()
                )));
            }
        }
        Ok(())
    }

    /// The entries in path order, with every missing parent directory filled in, so that
    /// a parent always comes before its children.
    pub fn entries(&self) -> Vec<(String, Entry)> {
        let mut all = self.entries.clone();
        for path in self.entries.keys() {
            let mut parent = Path::new(path).parent();
            while let Some(p) = parent.and_then(Path::to_str).filter(|p| !p.is_empty()) {
                all.entry(p.to_string()).or_insert(Entry::Dir { mode: 0o755 });
                parent = Path::new(p).parent();
            }
        }
        all.into_iter().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn normalize(path: &str) -> String {
    path.split('/').filter(|part| !part.is_empty() && *part != ".").collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_filled_in_before_children() {
        let mut fs = Rootfs::new();
        fs.file("/usr/bin/tool", b"x".to_vec(), 0o755).dir("tmp", 0o1777);
        let paths: Vec<_> = fs.entries().into_iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["tmp", "usr", "usr/bin", "usr/bin/tool"]);
    }

    #[test]
    fn from_dir_reads_files_links_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("bin/tool"), b"#!").unwrap();
        std::fs::set_permissions(dir.path().join("bin/tool"), std::fs::Permissions::from_mode(0o750))
            .unwrap();
        std::os::unix::fs::symlink("tool", dir.path().join("bin/alias")).unwrap();
        let fs = Rootfs::from_dir(dir.path()).unwrap();
        let entries: BTreeMap<_, _> = fs.entries().into_iter().collect();
        assert_eq!(entries["bin/tool"], Entry::File { data: b"#!".to_vec(), mode: 0o750 });
        assert_eq!(entries["bin/alias"], Entry::Symlink { target: "tool".into() });
        assert!(matches!(entries["bin"], Entry::Dir { .. }));
    }
}
