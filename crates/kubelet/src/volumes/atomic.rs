//! Writes a volume's files so that a running container sees either the old set or the new one,
//! never a mix, as upstream's `AtomicWriter`: the files live in a hidden timestamped directory,
//! `..data` links to it, and each visible top-level name links through `..data`. An update
//! writes a new directory and renames a fresh `..data` link over the old one.

use std::{
    collections::BTreeSet,
    fs,
    io::Write,
    os::unix::fs::{PermissionsExt, symlink},
    path::Path,
};

use anyhow::{Context, Result};

use super::payload::Payload;

const DATA: &str = "..data";
const DATA_TMP: &str = "..data_tmp";

/// Replaces the files under `dir` with `payload`.
///
/// # Errors
/// When a file or link cannot be written; the previous files stay in place.
pub fn write(dir: &Path, payload: &Payload) -> Result<()> {
    for path in payload.keys() {
        check_path(path)?;
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let old = fs::read_link(dir.join(DATA)).ok();
    let now = jiff::Timestamp::now();
    let stamp = format!("..{}.{}", now.strftime("%Y_%m_%d_%H_%M_%S"), now.subsec_nanosecond());
    let fresh = dir.join(&stamp);
    fs::create_dir(&fresh).with_context(|| format!("creating {}", fresh.display()))?;
    fs::set_permissions(&fresh, fs::Permissions::from_mode(0o755))?;
    for (path, file) in payload {
        let target = fresh.join(path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let mut out = fs::File::create(&target).with_context(|| format!("writing {}", target.display()))?;
        out.write_all(&file.data).with_context(|| format!("writing {}", target.display()))?;
        // Set explicitly: the umask would otherwise narrow it.
        fs::set_permissions(&target, fs::Permissions::from_mode(file.mode))?;
    }
    let tmp = dir.join(DATA_TMP);
    let _ = fs::remove_file(&tmp);
    symlink(&stamp, &tmp).with_context(|| format!("linking {}", tmp.display()))?;
    fs::rename(&tmp, dir.join(DATA)).with_context(|| format!("swapping {}", dir.join(DATA).display()))?;

    let visible: BTreeSet<&str> = payload.keys().filter_map(|p| p.split('/').next()).collect();
    for name in &visible {
        let link = dir.join(name);
        if fs::symlink_metadata(&link).is_err() {
            symlink(Path::new(DATA).join(name), &link)
                .with_context(|| format!("linking {}", link.display()))?;
        }
    }
    for entry in fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("..") && !visible.contains(name.as_str()) {
            let _ = fs::remove_file(entry.path());
        }
    }
    if let Some(old) = old.filter(|o| o.as_os_str() != stamp.as_str()) {
        let old = dir.join(old);
        fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
    }
    Ok(())
}

/// Upstream's checks on an item's `path`: relative, no `..` element, not starting with `..`.
fn check_path(path: &str) -> Result<()> {
    if path.is_empty()
        || path.starts_with('/')
        || path.starts_with("..")
        || path.split('/').any(|part| part == ".." || part.is_empty())
    {
        anyhow::bail!("invalid path {path:?} in the volume's items");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volumes::payload::File;

    fn payload(files: &[(&str, &str, u32)]) -> Payload {
        files
            .iter()
            .map(|(p, d, m)| (p.to_string(), File { data: d.as_bytes().to_vec(), mode: *m }))
            .collect()
    }

    #[test]
    fn updates_swap_the_data_link_and_keep_only_current_names() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("vol");
        write(&root, &payload(&[("a", "1", 0o644), ("sub/b", "2", 0o600)])).unwrap();
        assert_eq!(fs::read_to_string(root.join("a")).unwrap(), "1");
        assert_eq!(fs::read_to_string(root.join("sub/b")).unwrap(), "2");
        assert_eq!(fs::read_link(root.join("a")).unwrap(), Path::new("..data/a"));
        let mode = fs::metadata(root.join("sub/b")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let first = fs::read_link(root.join(DATA)).unwrap();

        write(&root, &payload(&[("a", "changed", 0o644), ("c", "3", 0o644)])).unwrap();
        assert_eq!(fs::read_to_string(root.join("a")).unwrap(), "changed");
        assert_eq!(fs::read_to_string(root.join("c")).unwrap(), "3");
        assert!(fs::symlink_metadata(root.join("sub")).is_err(), "names gone from the payload are removed");
        assert!(!root.join(first).exists(), "the old data directory is removed");
        let hidden = fs::read_dir(&root).unwrap().filter(|e| e.as_ref().unwrap().file_name() != DATA).count();
        assert_eq!(hidden, 3, "a, c and one timestamped directory");
        assert!(write(&root, &payload(&[("../x", "", 0o644)])).is_err());
    }
}
