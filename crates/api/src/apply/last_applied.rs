//! Interplay with client-side apply's `kubectl.kubernetes.io/last-applied-configuration`,
//! for the `kubectl` field manager only (what `kubectl apply --server-side` uses), as upstream:
//! - conflicts on fields the annotation lists are not conflicts: the object was applied by
//!   the same user with client-side apply, and is being upgraded to server-side apply;
//! - when the object has the annotation, it is rewritten to the newly applied configuration,
//!   so that a later client-side apply computes its patches from it.

use serde_json::Value;

use super::fieldset::{FieldSet, Json};
use super::typed::Typed;

/// The annotation client-side apply keeps its applied configuration in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The field manager of `kubectl apply --server-side`.
const KUBECTL: &str = "kubectl";

/// Upstream's limit on the total size of an object's annotations.
const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

fn annotation(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/annotations")?.get(LAST_APPLIED_ANNOTATION)?.as_str().filter(|s| !s.is_empty())
}

/// The fields `manager` may take from others without forcing: those of the live object's
/// last-applied configuration, when the manager is `kubectl`.
pub(crate) fn allowed_conflicts(live: &Value, manager: &str, typed: &Typed) -> Option<FieldSet> {
    if manager != KUBECTL {
        return None;
    }
    let config: Value = serde_json::from_str(annotation(live)?).ok()?;
    typed.applied_set(&config, false).ok()
}

/// Rewrites the last-applied annotation of `obj`, if it has one and `manager` is `kubectl`,
/// to the applied configuration (without that annotation), encoded as upstream does: compact
/// JSON, keys sorted, HTML characters escaped, a trailing newline. An annotation that would
/// push the annotations past their size limit is dropped instead.
pub(crate) fn sync(obj: &mut Value, applied: &Value, manager: &str) {
    if manager != KUBECTL || annotation(obj).is_none() {
        return;
    }
    let mut config = applied.clone();
    if let Some(Value::Object(annotations)) = config.pointer_mut("/metadata/annotations") {
        annotations.remove(LAST_APPLIED_ANNOTATION);
    }
    let encoded = go_json(&config);
    let Some(Value::Object(annotations)) = obj.pointer_mut("/metadata/annotations") else { return };
    annotations.insert(LAST_APPLIED_ANNOTATION.into(), Value::String(encoded));
    let size: usize = annotations
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or_else(|| v.to_string().len(), str::len))
        .sum();
    if size > MAX_ANNOTATIONS_BYTES {
        annotations.remove(LAST_APPLIED_ANNOTATION);
    }
}

/// JSON as Go's encoder writes it.
fn go_json(value: &Value) -> String {
    let mut out = String::new();
    for c in Json::new(value).as_str().chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_like_go() {
        assert_eq!(go_json(&json!({"b": "<a&b>", "a": 1})), "{\"a\":1,\"b\":\"\\u003ca\\u0026b\\u003e\"}\n");
    }

    #[test]
    fn sync_only_rewrites_an_existing_annotation_for_kubectl() {
        let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c",
            "annotations": {LAST_APPLIED_ANNOTATION: "old", "x": "y"}}, "data": {"k": "v"}});
        let mut obj = json!({"metadata": {"annotations": {LAST_APPLIED_ANNOTATION: "old"}}});
        sync(&mut obj, &applied, "helm");
        assert_eq!(obj["metadata"]["annotations"][LAST_APPLIED_ANNOTATION], "old");
        sync(&mut obj, &applied, KUBECTL);
        assert_eq!(
            obj["metadata"]["annotations"][LAST_APPLIED_ANNOTATION],
            "{\"apiVersion\":\"v1\",\"data\":{\"k\":\"v\"},\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{\"x\":\"y\"},\"name\":\"c\"}}\n"
        );
        let mut bare = json!({"metadata": {}});
        sync(&mut bare, &applied, KUBECTL);
        assert_eq!(bare, json!({"metadata": {}}));
    }

    #[test]
    fn too_large_an_annotation_is_dropped() {
        let big = "x".repeat(MAX_ANNOTATIONS_BYTES);
        let applied = json!({"data": {"k": big}});
        let mut obj = json!({"metadata": {"annotations": {LAST_APPLIED_ANNOTATION: "old", "a": "b"}}});
        sync(&mut obj, &applied, KUBECTL);
        assert_eq!(obj, json!({"metadata": {"annotations": {"a": "b"}}}));
    }
}
