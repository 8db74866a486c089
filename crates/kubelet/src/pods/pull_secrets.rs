//! Registry credentials from a pod's `imagePullSecrets`, as upstream's kubelet keyring reads
//! them: Secrets of type `kubernetes.io/dockerconfigjson` (`.dockerconfigjson`, `{"auths":
//! {...}}`) or `kubernetes.io/dockercfg` (`.dockercfg`, the entries at the top level), each
//! entry keyed by a registry host, optionally with a path or a `*.` wildcard. Every entry that
//! matches the image is a candidate, the most specific first; the puller tries them in turn.

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use serde::Deserialize;

use crate::runtime::proto::AuthConfig;

#[derive(Deserialize, Default)]
struct Entry {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    auth: String,
    #[serde(default, rename = "identitytoken")]
    identity_token: String,
}

/// The credentials for pulling `image` from the given Secrets, most specific match first.
/// Secrets of other types, or whose data does not parse, are skipped (upstream logs and skips
/// them too).
pub fn credentials(image: &str, secrets: &[&Secret]) -> Vec<AuthConfig> {
    let target = image_location(image);
    let mut found: Vec<(usize, AuthConfig)> = Vec::new();
    for secret in secrets {
        for (key, entry) in entries(secret) {
            let Some(specificity) = matches(&key, &target) else { continue };
            let (mut username, mut password) = (entry.username, entry.password);
            if username.is_empty()
                && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(entry.auth.trim())
                && let Some((u, p)) = String::from_utf8_lossy(&decoded).split_once(':')
            {
                (username, password) = (u.to_string(), p.to_string());
            }
            // No server address: containerd would compare it with the host it dials (Docker
            // Hub's is registry-1.docker.io, a mirror's its own) and drop a mismatch; the match
            // is made here.
            let auth = AuthConfig {
                username,
                password,
                identity_token: entry.identity_token,
                ..AuthConfig::default()
            };
            found.push((specificity, auth));
        }
    }
    // Stable: equally specific entries keep the order of the pod's secrets.
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().map(|(_, auth)| auth).collect()
}

fn entries(secret: &Secret) -> Vec<(String, Entry)> {
    let data = secret.data.as_ref();
    let read = |key: &str| data.and_then(|d| d.get(key)).map(|b| b.0.clone());
    let parsed: Option<std::collections::BTreeMap<String, Entry>> = match secret.type_.as_deref() {
        Some("kubernetes.io/dockerconfigjson") => read(".dockerconfigjson").and_then(|json| {
            #[derive(Deserialize)]
            struct Config {
                #[serde(default)]
                auths: std::collections::BTreeMap<String, Entry>,
            }
            serde_json::from_slice::<Config>(&json).ok().map(|c| c.auths)
        }),
        Some("kubernetes.io/dockercfg") => {
            read(".dockercfg").and_then(|json| serde_json::from_slice(&json).ok())
        }
        _ => None,
    };
    parsed.map(|m| m.into_iter().collect()).unwrap_or_default()
}

/// `host/path` of an image reference, Docker Hub's host spelled `docker.io`.
fn image_location(image: &str) -> String {
    let name = image.split('@').next().unwrap_or(image);
    // Drop the tag (a colon after the last slash).
    let name = match (name.rfind(':'), name.rfind('/')) {
        (Some(colon), slash) if slash.is_none_or(|s| colon > s) => &name[..colon],
        _ => name,
    };
    match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            format!("{}/{rest}", canonical_host(first))
        }
        Some(_) => format!("docker.io/{name}"),
        None => format!("docker.io/library/{name}"),
    }
}

fn canonical_host(host: &str) -> String {
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io".into(),
        other => other.to_ascii_lowercase(),
    }
}

/// The key without scheme and Docker Hub's `/v1/` path: `host[/path]`.
fn normalized_key(key: &str) -> String {
    let key = key.trim();
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let key = key.trim_end_matches('/');
    let (host, path) = key.split_once('/').unwrap_or((key, ""));
    let host = canonical_host(host);
    let path = if host == "docker.io" && matches!(path, "v1" | "v2") { "" } else { path };
    if path.is_empty() { host } else { format!("{host}/{path}") }
}

/// How specifically `key` matches `target` (`None`: not at all): longer keys win.
fn matches(key: &str, target: &str) -> Option<usize> {
    let key = normalized_key(key);
    let (key_host, key_path) = key.split_once('/').unwrap_or((key.as_str(), ""));
    let (host, path) = target.split_once('/').unwrap_or((target, ""));
    let host_matches = match key_host.strip_prefix("*.") {
        // As upstream's glob: one label for the star.
        Some(suffix) => {
            host.strip_suffix(suffix).is_some_and(|l| l.ends_with('.') && !l[..l.len() - 1].contains('.'))
        }
        None => key_host == host,
    };
    let path_matches = key_path.is_empty() || path == key_path || path.starts_with(&format!("{key_path}/"));
    (host_matches && path_matches).then_some(key.len())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::ByteString;

    use super::*;

    fn secret(kind: &str, key: &str, json: serde_json::Value) -> Secret {
        Secret {
            type_: Some(kind.into()),
            data: Some([(key.to_string(), ByteString(serde_json::to_vec(&json).unwrap()))].into()),
            ..Secret::default()
        }
    }

    #[test]
    fn images_name_their_registry() {
        assert_eq!(image_location("busybox"), "docker.io/library/busybox");
        assert_eq!(image_location("nginx:1.25"), "docker.io/library/nginx");
        assert_eq!(image_location("me/app:v1"), "docker.io/me/app");
        assert_eq!(image_location("node1:5000/app:v1"), "node1:5000/app");
        assert_eq!(
            image_location("Registry.Example.com/team/app@sha256:ab"),
            "registry.example.com/team/app"
        );
        assert_eq!(image_location("localhost/app"), "localhost/app");
    }

    #[test]
    fn matching_entries_come_most_specific_first() {
        let auth = base64::engine::general_purpose::STANDARD.encode("bob:b0b");
        let json = secret(
            "kubernetes.io/dockerconfigjson",
            ".dockerconfigjson",
            serde_json::json!({"auths": {
                "https://index.docker.io/v1/": {"username": "hub", "password": "h"},
                "registry.example.com": {"auth": auth},
                "registry.example.com/team": {"username": "team", "password": "t"},
                "*.example.com": {"username": "star", "password": "s"},
            }}),
        );
        let cfg = secret(
            "kubernetes.io/dockercfg",
            ".dockercfg",
            serde_json::json!({"node1:5000": {"username": "n", "password": "p"}}),
        );
        let opaque = Secret { type_: Some("Opaque".into()), ..Secret::default() };
        let secrets = [&opaque, &json, &cfg];
        let users = |image: &str| -> Vec<String> {
            credentials(image, &secrets).into_iter().map(|a| a.username).collect()
        };
        assert_eq!(users("registry.example.com/team/app:v1"), ["team", "bob", "star"]);
        assert_eq!(users("registry.example.com/other/app"), ["bob", "star"]);
        assert_eq!(users("a.b.example.com/app"), Vec::<String>::new());
        assert_eq!(users("busybox"), ["hub"]);
        assert_eq!(users("node1:5000/app"), ["n"]);
        assert_eq!(users("quay.io/app"), Vec::<String>::new());
        let bob = &credentials("registry.example.com/x", &secrets)[0];
        assert_eq!(bob.password, "b0b");
    }
}
