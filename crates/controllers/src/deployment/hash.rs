//! The `pod-template-hash`: names a Deployment's ReplicaSets after their pod template, and tells
//! which ReplicaSet carries the Deployment's current template.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

/// The label (and ReplicaSet name suffix) that ties pods to one template of a Deployment.
pub const LABEL: &str = "pod-template-hash";

/// Upstream's alphabet for generated name parts: no vowels (no words), no look-alikes.
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// FNV-32a over the template, then over `collision_count` (little endian) when set, rendered as
/// upstream renders it: the decimal digits of the sum, each mapped into the safe alphabet.
///
/// Upstream feeds FNV a Go-specific dump of its structs; we feed it the template's canonical
/// JSON (empty fields dropped, as `equal_ignore_hash` ignores them), so equal templates get equal
/// hashes and a changed template a new one, but the strings differ from a Go cluster's.
pub fn compute(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut hash = Fnv32a::new();
    hash.write(canonical(template).to_string().as_bytes());
    if let Some(count) = collision_count {
        hash.write(&(count as u32).to_le_bytes());
    }
    safe_encode(&hash.0.to_string())
}

/// Whether two templates are the same apart from the hash label (upstream's `EqualIgnoreHash`,
/// where nil and empty maps and lists compare equal).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    canonical(a) == canonical(b)
}

/// The template as JSON without the hash label and without empty objects, lists and nulls.
fn canonical(template: &PodTemplateSpec) -> Value {
    let mut value = serde_json::to_value(template).unwrap_or(Value::Null);
    if let Some(labels) = value.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        labels.remove(LABEL);
    }
    prune(&mut value);
    value
}

/// Drops nulls and empty containers, bottom up; says whether `v` itself is now empty.
fn prune(v: &mut Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(map) => {
            map.retain(|_, child| !prune(child));
            map.is_empty()
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                prune(item);
            }
            items.is_empty()
        }
        _ => false,
    }
}

fn safe_encode(s: &str) -> String {
    s.bytes().map(|b| ALPHABET[b as usize % ALPHABET.len()] as char).collect()
}

struct Fnv32a(u32);

impl Fnv32a {
    fn new() -> Fnv32a {
        Fnv32a(0x811c_9dc5)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u32::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0193);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn template(labels: &[(&str, &str)]) -> PodTemplateSpec {
        let labels: BTreeMap<String, String> =
            labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        PodTemplateSpec {
            metadata: Some(ObjectMeta { labels: Some(labels), ..Default::default() }),
            spec: None,
        }
    }

    #[test]
    fn fnv32a_matches_the_reference_vectors() {
        let mut h = Fnv32a::new();
        h.write(b"a");
        assert_eq!(h.0, 0xe40c_292c);
        let mut h = Fnv32a::new();
        h.write(b"foobar");
        assert_eq!(h.0, 0xbf9c_f968);
    }

    #[test]
    fn hashes_use_the_safe_alphabet_and_depend_on_template_and_collisions() {
        let t = template(&[("app", "web")]);
        let h = compute(&t, None);
        assert!(h.chars().all(|c| ALPHABET.contains(&(c as u8))), "{h}");
        assert_eq!(h, compute(&t, None));
        assert_ne!(h, compute(&template(&[("app", "api")]), None));
        assert_ne!(h, compute(&t, Some(1)));
        // Digits map to fixed letters, as in upstream's names ("66b6c48dd5"): '0' (48) is ALPHABET[21].
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn the_hash_label_and_empty_fields_do_not_count() {
        let plain = template(&[("app", "web")]);
        let labeled = template(&[("app", "web"), (LABEL, "abc")]);
        assert!(equal_ignore_hash(&plain, &labeled));
        assert_eq!(compute(&plain, None), compute(&labeled, None));
        let mut annotated = plain.clone();
        annotated.metadata.as_mut().unwrap().annotations = Some(BTreeMap::new());
        assert!(equal_ignore_hash(&plain, &annotated));
        assert!(!equal_ignore_hash(&plain, &template(&[("app", "api")])));
    }
}
