//! `hostPath` volumes: the path on the node, checked (or created) per its `type` as upstream's
//! `hostPathTypeChecker`.

use std::{
    fs,
    os::unix::fs::{FileTypeExt, PermissionsExt},
    path::Path,
};

/// Checks `path` against `kind` (`""`, `DirectoryOrCreate`, `Directory`, `FileOrCreate`,
/// `File`, `Socket`, `CharDevice`, `BlockDevice`), creating it for the `OrCreate` types.
///
/// # Errors
/// Upstream's `hostPath type check failed: ...` message.
pub fn check(path: &Path, kind: &str) -> Result<(), String> {
    let shown = path.display();
    let failed = |what: &str| format!("hostPath type check failed: {shown} is not a {what}");
    let meta = fs::metadata(path);
    match kind {
        "" => Ok(()),
        "DirectoryOrCreate" => {
            if meta.is_err() {
                fs::create_dir_all(path).map_err(|e| format!("failed to create {shown}: {e}"))?;
                let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o755));
                return Ok(());
            }
            meta.ok().filter(fs::Metadata::is_dir).map(drop).ok_or_else(|| failed("directory"))
        }
        "Directory" => meta.ok().filter(fs::Metadata::is_dir).map(drop).ok_or_else(|| failed("directory")),
        "FileOrCreate" => {
            if meta.is_err() {
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent)
                        .map_err(|e| format!("failed to create {}: {e}", parent.display()))?;
                }
                fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("failed to create {shown}: {e}"))?;
                let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o644));
                return Ok(());
            }
            meta.ok().filter(|m| m.is_file()).map(drop).ok_or_else(|| failed("file"))
        }
        "File" => meta.ok().filter(|m| m.is_file()).map(drop).ok_or_else(|| failed("file")),
        "Socket" => {
            meta.ok().filter(|m| m.file_type().is_socket()).map(drop).ok_or_else(|| failed("socket file"))
        }
        "CharDevice" => meta
            .ok()
            .filter(|m| m.file_type().is_char_device())
            .map(drop)
            .ok_or_else(|| failed("character device")),
        "BlockDevice" => meta
            .ok()
            .filter(|m| m.file_type().is_block_device())
            .map(drop)
            .ok_or_else(|| failed("block device")),
        other => Err(format!("hostPath type check failed: unknown type {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_checked_and_created() {
        let dir = tempfile::tempdir().unwrap();
        let made = dir.path().join("a/b");
        check(&made, "DirectoryOrCreate").unwrap();
        assert!(made.is_dir());
        check(&made, "Directory").unwrap();
        let file = dir.path().join("c/f.txt");
        check(&file, "FileOrCreate").unwrap();
        assert!(file.is_file());
        check(&file, "File").unwrap();
        check(&dir.path().join("nothing"), "").unwrap();
        assert_eq!(
            check(&file, "Directory").unwrap_err(),
            format!("hostPath type check failed: {} is not a directory", file.display())
        );
        assert!(check(&made, "File").unwrap_err().ends_with("is not a file"));
        assert!(check(&made, "Socket").unwrap_err().ends_with("is not a socket file"));
        assert!(check(&dir.path().join("missing"), "Directory").is_err());
    }
}
