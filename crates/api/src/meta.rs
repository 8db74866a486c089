//! Object metadata rules: names, and the fields the server owns on create and update.

use serde_json::{Value, json};

use crate::{
    resources::Resource,
    status::{ApiError, Cause},
};

/// Kinds whose `metadata.generation` the server maintains (bumped on spec changes).
const GENERATION_KINDS: &[&str] = &[
    "Pod",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "ReplicationController",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Ingress",
    "NetworkPolicy",
    "CustomResourceDefinition",
];

pub fn tracks_generation(kind: &str) -> bool {
    GENERATION_KINDS.contains(&kind)
}

/// Characters upstream uses for `generateName` suffixes (no vowels, no confusable digits).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A five-character `generateName` suffix from the given random bytes.
pub fn name_suffix(random: [u8; 5]) -> String {
    random.iter().map(|b| SUFFIX_ALPHABET[*b as usize % SUFFIX_ALPHABET.len()] as char).collect()
}

/// Whether names of this resource must be DNS-1123 labels (at most 63 characters, no dots)
/// rather than subdomains.
fn label_named(resource: &Resource) -> bool {
    matches!(resource.plural.as_str(), "namespaces" | "services")
}

/// Checks `metadata.name` the way upstream's validation does for this resource.
pub fn validate_name(resource: &Resource, name: &str) -> Vec<Cause> {
    let invalid = |message: String| Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: \"{name}\": {message}"),
        field: "metadata.name".into(),
    };
    if name.is_empty() {
        return vec![Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value: name or generateName is required".into(),
            field: "metadata.name".into(),
        }];
    }
    if label_named(resource) {
        if let Some(msg) = dns1123_label_error(name) {
            return vec![invalid(msg)];
        }
    } else if let Some(msg) = dns1123_subdomain_error(name) {
        return vec![invalid(msg)];
    }
    Vec::new()
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

fn valid_label(s: &str) -> bool {
    !s.is_empty() && s.len() <= 63 && s.chars().all(is_label_char) && !s.starts_with('-') && !s.ends_with('-')
}

/// Upstream's message for a string that is not a DNS-1123 label, if it is not one.
pub fn dns1123_label_error(s: &str) -> Option<String> {
    if s.len() > 63 {
        return Some("must be no more than 63 characters".into());
    }
    (!valid_label(s)).then(|| {
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start \
         and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is \
         '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            .into()
    })
}

/// Upstream's message for a string that is not a DNS-1123 subdomain, if it is not one.
pub fn dns1123_subdomain_error(s: &str) -> Option<String> {
    if s.len() > 253 {
        return Some("must be no more than 253 characters".into());
    }
    let ok = s.split('.').all(|part| {
        !part.is_empty() && part.chars().all(is_label_char) && !part.starts_with('-') && !part.ends_with('-')
    });
    (!ok).then(|| {
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must \
         start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is \
         '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            .into()
    })
}

/// Checks that the body names the resource's kind and apiVersion (filling them in if absent).
pub fn check_type(obj: &mut Value, resource: &Resource) -> Result<(), ApiError> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request("the request body must be a JSON object"));
    };
    let api_version = resource.api_version();
    let kind_ok = map.get("kind").and_then(Value::as_str).is_none_or(|k| k == resource.kind);
    let version_ok = map.get("apiVersion").and_then(Value::as_str).is_none_or(|v| v == api_version);
    if !kind_ok || !version_ok {
        let got_kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
        let got_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({got_version}) does not match the expected API version ({api_version})"
        ))
        .with_kind_hint(got_kind, &resource.kind));
    }
    map.insert("kind".into(), json!(resource.kind));
    map.insert("apiVersion".into(), json!(api_version));
    if !map.get("metadata").is_some_and(Value::is_object) {
        map.insert("metadata".into(), json!({}));
    }
    Ok(())
}

impl ApiError {
    fn with_kind_hint(self, got: &str, want: &str) -> Self {
        if !got.is_empty() && got != want {
            return ApiError::bad_request(format!(
                "the kind in the data ({got}) does not match the expected kind ({want})"
            ));
        }
        self
    }
}

/// `metadata` of an object (created empty if missing).
pub fn metadata_mut(obj: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    match obj.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        _ => unreachable!("metadata was just made an object"),
    }
}

/// A string field of `metadata`.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// The object without the fields that do not count as a spec change (for generation bumps):
/// metadata and status.
pub fn spec_part(obj: &Value) -> Value {
    let mut copy = obj.clone();
    if let Some(m) = copy.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("kind");
        m.remove("apiVersion");
    }
    copy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtin;

    fn res(plural: &str) -> Resource {
        builtin().into_iter().find(|r| r.plural == plural).unwrap()
    }

    #[test]
    fn names_follow_dns_rules() {
        assert!(validate_name(&res("configmaps"), "my.config-1").is_empty());
        assert_eq!(validate_name(&res("namespaces"), "my.ns").len(), 1, "namespaces are labels");
        assert_eq!(validate_name(&res("pods"), "Bad_Name")[0].field, "metadata.name");
        assert!(validate_name(&res("pods"), "")[0].message.contains("name or generateName is required"));
        assert!(validate_name(&res("pods"), &"a".repeat(254))[0].message.contains("253"));
    }

    #[test]
    fn type_mismatch_is_a_bad_request() {
        let mut obj = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}});
        let err = check_type(&mut obj, &res("configmaps")).unwrap_err();
        assert!(err.message.contains("kind in the data (Secret)"), "{}", err.message);
        let mut obj = json!({"metadata": {"name": "x"}});
        check_type(&mut obj, &res("deployments")).unwrap();
        assert_eq!(obj["apiVersion"], "apps/v1");
    }

    #[test]
    fn suffixes_use_the_safe_alphabet() {
        let s = name_suffix([0, 1, 26, 27, 255]);
        assert_eq!(s.len(), 5);
        assert!(s.bytes().all(|b| SUFFIX_ALPHABET.contains(&b)));
    }
}
