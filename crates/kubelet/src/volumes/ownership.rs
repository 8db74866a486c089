//! A pod's `fsGroup` on its volumes, as upstream's `SetVolumeOwnership`: every file and
//! directory in the volume gets the group, group read (and write, unless the volume is
//! read-only) and, on directories, group search and the setgid bit, so that what the pod's
//! processes (which have the group among theirs) create stays in the group. Symlinks (the
//! atomic writer's `..data` and its links) take the group but keep their mode.
//! `fsGroupChangePolicy: OnRootMismatch` skips a volume whose top directory is already set.

use std::{
    fs, io,
    os::unix::fs::{MetadataExt, PermissionsExt, lchown},
    path::Path,
};

const SETGID: u32 = 0o2000;
const GROUP_RW: u32 = 0o060;
const GROUP_R: u32 = 0o040;
const GROUP_X: u32 = 0o010;

/// Gives `dir` and everything below it to `group`.
///
/// # Errors
/// The first file that cannot be read, chowned or chmodded.
pub fn set(dir: &Path, group: u32, read_only: bool, on_root_mismatch: bool) -> io::Result<()> {
    if on_root_mismatch && root_is_set(dir, group, read_only)? {
        return Ok(());
    }
    walk(dir, group, read_only)
}

fn wanted(meta: &fs::Metadata, read_only: bool) -> u32 {
    let mut mode = meta.mode() & 0o7777 | if read_only { GROUP_R } else { GROUP_RW };
    if meta.is_dir() {
        mode |= SETGID | GROUP_X;
    }
    mode
}

fn root_is_set(dir: &Path, group: u32, read_only: bool) -> io::Result<bool> {
    let meta = fs::symlink_metadata(dir)?;
    Ok(meta.gid() == group && meta.mode() & 0o7777 == wanted(&meta, read_only))
}

fn walk(path: &Path, group: u32, read_only: bool) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.gid() != group {
        lchown(path, None, Some(group))?;
    }
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = wanted(&meta, read_only);
    if meta.mode() & 0o7777 != mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    if meta.is_dir() {
        for entry in fs::read_dir(path)? {
            walk(&entry?.path(), group, read_only)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn everything_below_takes_the_group_and_its_permissions() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("vol");
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("sub/file"), "x").unwrap();
        fs::set_permissions(dir.join("sub/file"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::set_permissions(dir.join("sub"), fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink("sub/file", dir.join("link")).unwrap();
        // As root any group will do; otherwise the one the files already have.
        let group = if unsafe { libc::geteuid() } == 0 { 4321 } else { fs::metadata(&dir).unwrap().gid() };

        set(&dir, group, false, false).unwrap();
        for path in [dir.clone(), dir.join("sub"), dir.join("sub/file"), dir.join("link")] {
            assert_eq!(fs::symlink_metadata(&path).unwrap().gid(), group, "{}", path.display());
        }
        assert_eq!(mode(&dir.join("sub")), 0o2770);
        assert_eq!(mode(&dir.join("sub/file")), 0o660);

        let ro = root.path().join("ro");
        fs::create_dir_all(&ro).unwrap();
        fs::write(ro.join("f"), "x").unwrap();
        fs::set_permissions(ro.join("f"), fs::Permissions::from_mode(0o400)).unwrap();
        set(&ro, group, true, false).unwrap();
        assert_eq!(mode(&ro.join("f")), 0o440);

        // OnRootMismatch leaves a volume whose top is already right alone.
        fs::set_permissions(ro.join("f"), fs::Permissions::from_mode(0o400)).unwrap();
        set(&ro, group, true, true).unwrap();
        assert_eq!(mode(&ro.join("f")), 0o400);
    }
}
