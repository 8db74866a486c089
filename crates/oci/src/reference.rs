//! Image references: `[registry/]repository[:tag|@digest]`, read as containerd and Docker do.

use std::fmt;

use crate::{Error, Result};

/// A parsed image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`; `docker.io` when the name has no registry part.
    pub registry: String,
    /// `tugboat/busybox`; names on Docker Hub without a slash get `library/`.
    pub repository: String,
    /// A tag or a `sha256:` digest.
    pub reference: String,
}

impl Reference {
    /// Parses a reference; a missing tag is `latest`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty repository or characters references may not hold.
    pub fn parse(name: &str) -> Result<Reference> {
        let invalid = |why: &str| Error::Invalid(format!("image reference {name:?}: {why}"));
        let (rest, digest) = match name.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (name, None),
        };
        let (registry, path) = match rest.split_once('/') {
            Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => (first, path),
            _ => ("docker.io", rest),
        };
        // A colon after the last slash starts the tag (one before it belongs to the port).
        let (path, tag) = match path.rsplit_once(':') {
            Some((p, t)) if !t.contains('/') => (p, Some(t)),
            _ => (path, None),
        };
        if path.is_empty() || path.split('/').any(str::is_empty) {
            return Err(invalid("empty repository path component"));
        }
        let path_ok =
            path.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b));
        if !path_ok {
            return Err(invalid("repository must be lowercase letters, digits, '.', '_', '-' and '/'"));
        }
        let repository = if registry == "docker.io" && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        let reference = match (digest, tag) {
            (Some(d), _) => crate::Digest::parse(d)?.to_string(),
            (None, Some(t)) if t.is_empty() || t.len() > 128 => return Err(invalid("bad tag")),
            (None, Some(t)) => t.to_string(),
            (None, None) => "latest".to_string(),
        };
        Ok(Reference { registry: registry.to_string(), repository, reference })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = if self.reference.starts_with("sha256:") { '@' } else { ':' };
        write!(f, "{}/{}{sep}{}", self.registry, self.repository, self.reference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(name: &str) -> (String, String, String) {
        let r = Reference::parse(name).unwrap();
        (r.registry, r.repository, r.reference)
    }

    #[test]
    fn references_split_like_containerd_does() {
        let p = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(
            parts("127.0.0.1:5000/tugboat/busybox:1.35"),
            p("127.0.0.1:5000", "tugboat/busybox", "1.35")
        );
        assert_eq!(parts("localhost/x"), p("localhost", "x", "latest"));
        assert_eq!(parts("busybox"), p("docker.io", "library/busybox", "latest"));
        assert_eq!(parts("nginx:1.27"), p("docker.io", "library/nginx", "1.27"));
        assert_eq!(parts("bitnami/redis"), p("docker.io", "bitnami/redis", "latest"));
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(parts(&format!("node1:5000/app@{digest}")), p("node1:5000", "app", &digest));
        assert_eq!(
            Reference::parse("127.0.0.1:5000/tugboat/pause:3.10").unwrap().to_string(),
            "127.0.0.1:5000/tugboat/pause:3.10"
        );
    }

    #[test]
    fn malformed_references_are_refused() {
        for bad in ["", "UPPER/case", "host:5000//x", "x:", "x@sha256:zz"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
