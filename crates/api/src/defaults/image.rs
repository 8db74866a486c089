//! The default `imagePullPolicy` of an image reference.

/// `Always` when the reference's tag is `latest` (a reference with neither tag nor digest means
/// `latest`), `IfNotPresent` otherwise: another tag, a digest alone, or a reference that does
/// not parse (upstream ignores the parse error and treats the tag as empty).
pub(super) fn default_pull_policy(image: &str) -> &'static str {
    match tag(image) {
        Some("latest") => "Always",
        _ => "IfNotPresent",
    }
}

/// The tag a reference resolves to: its explicit tag, `latest` when it has neither tag nor
/// digest, empty when it has a digest alone; `None` when it is not a valid reference.
fn tag(image: &str) -> Option<&str> {
    let (name_and_tag, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest
        && !valid_digest(d)
    {
        return None;
    }
    // A tag follows the last ':' that comes after the last '/' (earlier colons are a port).
    let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
        Some(i) => (&name_and_tag[..last_slash + i], Some(&name_and_tag[last_slash + i + 1..])),
        None => (name_and_tag, None),
    };
    if !valid_name(name) {
        return None;
    }
    match tag {
        Some(t) if !valid_tag(t) => None,
        Some(t) => Some(t),
        None if digest.is_some() => Some(""),
        None => Some("latest"),
    }
}

/// `algorithm:hex`, as in `sha256:<64 hex digits>`.
fn valid_digest(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else { return false };
    !alg.is_empty()
        && alg.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c))
        && hex.len() >= 32
        && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let mut chars = t.chars();
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    t.len() <= 128 && chars.next().is_some_and(word) && chars.all(|c| word(c) || c == '.' || c == '-')
}

/// An optional registry host (with port) followed by lowercase path components.
fn valid_name(name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let mut components: Vec<&str> = name.split('/').collect();
    let first = components[0];
    let has_domain = components.len() > 1
        && (first.contains('.')
            || first.contains(':')
            || first == "localhost"
            || first.chars().any(|c| c.is_ascii_uppercase()));
    if has_domain {
        let (host, port) = match first.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (first, None),
        };
        let host_ok = !host.is_empty()
            && host.split('.').all(|l| {
                !l.is_empty()
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !host_ok || port.is_some_and(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit())) {
            return false;
        }
        components.remove(0);
    }
    // A bare 64-hex-digit name is refused as ambiguous with an image ID.
    if components.len() == 1 && name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit()) {
        return false;
    }
    components.iter().all(|c| valid_component(c))
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or runs of `-`.
fn valid_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-')) {
            return false;
        }
    }
    true
}

fn alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn latest_or_untagged_images_are_always_pulled() {
        for image in
            ["nginx", "nginx:latest", "docker.io/library/nginx", "localhost:5000/app", "a/b/c:latest"]
        {
            assert_eq!(default_pull_policy(image), "Always", "{image}");
        }
        assert_eq!(default_pull_policy(&format!("nginx:latest@{DIGEST}")), "Always");
    }

    #[test]
    fn tagged_digested_or_invalid_images_are_pulled_if_not_present() {
        for image in [
            "nginx:1.27".to_string(),
            "registry.k8s.io/pause:3.10".to_string(),
            "localhost:5000/app:v2".to_string(),
            format!("nginx@{DIGEST}"),
            format!("nginx:1.2@{DIGEST}"),
            String::new(),
            "Nginx".to_string(),
            "nginx:".to_string(),
            "nginx@sha256:short".to_string(),
            "-bad".to_string(),
        ] {
            assert_eq!(default_pull_policy(&image), "IfNotPresent", "{image}");
        }
    }

    #[test]
    fn registry_hosts_may_have_uppercase_and_ports() {
        assert_eq!(tag("Registry.Example.com:443/team/app"), Some("latest"));
        assert_eq!(tag("my_registry/app"), Some("latest"));
        assert_eq!(tag("a__b/c-d--e.f:1"), Some("1"));
        assert_eq!(tag("a___b"), None);
    }
}
