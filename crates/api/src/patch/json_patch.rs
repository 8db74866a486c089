//! RFC 6902 JSON patch (`application/json-patch+json`), reporting failures in the upstream server's words.

use serde_json::Value;

use super::PatchError;
use super::pointer;
use super::value::{json_eq, kind, remove_member};

/// Most operations one JSON patch may carry; the upstream API server answers 413 beyond this.
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// Applies a JSON patch. All operations apply or none do: on error `target` is unchanged.
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), PatchError> {
    let Value::Array(list) = ops else {
        return Err(PatchError::Malformed(format!(
            "a JSON patch must be a JSON array of operations, got a {}",
            kind(ops)
        )));
    };
    if list.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations { count: list.len(), max: MAX_JSON_PATCH_OPERATIONS });
    }
    // Decode everything first: a malformed entry is a bad request even when earlier ones would apply.
    let decoded =
        list.iter().enumerate().map(|(i, op)| Operation::decode(i, op)).collect::<Result<Vec<_>, _>>()?;
    let mut doc = target.clone();
    for (index, op) in decoded.iter().enumerate() {
        op.apply(&mut doc).map_err(|message| PatchError::OperationFailed {
            index,
            op: op.kind.to_owned(),
            path: op.path.unwrap_or_default().to_owned(),
            message,
        })?;
    }
    *target = doc;
    Ok(())
}

/// One entry of the patch. Fields are checked when the operation runs, as upstream does, so a
/// missing `path` is reported as that operation failing (422), not as an undecodable body (400).
struct Operation<'a> {
    kind: &'a str,
    path: Option<&'a str>,
    from: Option<&'a str>,
    value: Option<&'a Value>,
}

/// Why a location could not be used.
enum Miss {
    /// The parent of the location does not exist or is not a container.
    Parent,
    /// The parent exists but has no such member.
    Key,
    /// The parent is an array and the index is unusable (the text says why).
    Index(String),
}

impl<'a> Operation<'a> {
    fn decode(index: usize, op: &'a Value) -> Result<Self, PatchError> {
        let Value::Object(fields) = op else {
            return Err(PatchError::Malformed(format!(
                "JSON patch operation {index} must be an object, got a {}",
                kind(op)
            )));
        };
        Ok(Operation {
            kind: fields.get("op").and_then(Value::as_str).unwrap_or("unknown"),
            path: fields.get("path").and_then(Value::as_str),
            from: fields.get("from").and_then(Value::as_str),
            value: fields.get("value"),
        })
    }

    fn apply(&self, doc: &mut Value) -> Result<(), String> {
        let kind = self.kind;
        if !matches!(kind, "add" | "remove" | "replace" | "move" | "copy" | "test") {
            return Err(format!("Unexpected kind: {kind}"));
        }
        let path =
            self.path.ok_or_else(|| format!("{kind} operation failed to decode path: missing value"))?;
        let tokens =
            pointer::parse(path).map_err(|e| format!("{kind} operation failed to decode path: {e}"))?;
        match kind {
            "add" => add(doc, path, &tokens, self.value()?.clone()),
            "remove" => remove(doc, path, &tokens),
            "replace" => replace(doc, path, &tokens, self.value()?.clone()),
            "test" => test(doc, path, &tokens, self.value()?),
            _ => {
                let from = self
                    .from
                    .ok_or_else(|| format!("{kind} operation failed to decode from: missing value"))?;
                let from_tokens = pointer::parse(from)
                    .map_err(|e| format!("{kind} operation failed to decode from: {e}"))?;
                if kind == "move" {
                    move_value(doc, (from, &from_tokens), (path, &tokens))
                } else {
                    copy(doc, (from, &from_tokens), (path, &tokens))
                }
            }
        }
    }

    fn value(&self) -> Result<&'a Value, String> {
        // `"value": null` is a value; only an absent member is missing.
        self.value.ok_or_else(|| format!("{} operation, missing value field: missing value", self.kind))
    }
}

fn insert(doc: &mut Value, tokens: &[String], value: Value) -> Result<(), Miss> {
    let Some((last, parent)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match pointer::get_mut(doc, parent) {
        Some(Value::Object(map)) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Some(Value::Array(items)) => {
            let at = pointer::insert_index(last, items.len()).map_err(Miss::Index)?;
            items.insert(at, value);
            Ok(())
        }
        _ => Err(Miss::Parent),
    }
}

fn take(doc: &mut Value, tokens: &[String]) -> Result<Value, Miss> {
    let Some((last, parent)) = tokens.split_last() else {
        return Err(Miss::Parent);
    };
    match pointer::get_mut(doc, parent) {
        Some(Value::Object(map)) => remove_member(map, last).ok_or(Miss::Key),
        Some(Value::Array(items)) => {
            let at = pointer::element_index(last, items.len()).map_err(Miss::Index)?;
            Ok(items.remove(at))
        }
        _ => Err(Miss::Parent),
    }
}

fn add(doc: &mut Value, path: &str, tokens: &[String], value: Value) -> Result<(), String> {
    insert(doc, tokens, value).map_err(|miss| match miss {
        Miss::Index(why) => format!("error in add for path: '{path}': {why}"),
        Miss::Parent | Miss::Key => {
            format!("add operation does not apply: doc is missing path: \"{path}\": missing value")
        }
    })
}

fn remove(doc: &mut Value, path: &str, tokens: &[String]) -> Result<(), String> {
    take(doc, tokens).map(drop).map_err(|miss| match miss {
        Miss::Parent => {
            format!("remove operation does not apply: doc is missing path: \"{path}\": missing value")
        }
        Miss::Key => {
            let key = tokens.last().map(String::as_str).unwrap_or_default();
            format!(
                "error in remove for path: '{path}': Unable to remove nonexistent key: {key}: missing value"
            )
        }
        Miss::Index(why) => format!("error in remove for path: '{path}': {why}"),
    })
}

fn replace(doc: &mut Value, path: &str, tokens: &[String], value: Value) -> Result<(), String> {
    let Some((last, parent)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    let parent = match pointer::get_mut(doc, parent) {
        Some(node @ (Value::Object(_) | Value::Array(_))) => node,
        _ => {
            return Err(format!(
                "replace operation does not apply: doc is missing path: {path}: missing value"
            ));
        }
    };
    match pointer::get_mut(parent, std::slice::from_ref(last)) {
        Some(slot) => {
            *slot = value;
            Ok(())
        }
        None => Err(format!("replace operation does not apply: doc is missing key: {path}: missing value")),
    }
}

fn move_value(doc: &mut Value, from: (&str, &[String]), to: (&str, &[String])) -> Result<(), String> {
    let ((from, from_tokens), (path, tokens)) = (from, to);
    if from_tokens == tokens {
        return Ok(());
    }
    if tokens.starts_with(from_tokens) {
        return Err(format!(
            "move operation does not apply: cannot move {from:?} into its own child {path:?}"
        ));
    }
    let value = take(doc, from_tokens).map_err(|_| {
        format!("move operation does not apply: doc is missing from path: {from}: missing value")
    })?;
    insert(doc, tokens, value).map_err(|_| {
        format!("move operation does not apply: doc is missing destination path: {path}: missing value")
    })
}

fn copy(doc: &mut Value, from: (&str, &[String]), to: (&str, &[String])) -> Result<(), String> {
    let ((from, from_tokens), (path, tokens)) = (from, to);
    let value = pointer::get(doc, from_tokens).cloned().ok_or_else(|| {
        format!("copy operation does not apply: doc is missing from path: {from}: missing value")
    })?;
    insert(doc, tokens, value).map_err(|_| {
        format!("copy operation does not apply: doc is missing destination path: {path}: missing value")
    })
}

fn test(doc: &Value, path: &str, tokens: &[String], expected: &Value) -> Result<(), String> {
    let failed = || format!("testing value {path} failed: test failed");
    let Some((last, parent)) = tokens.split_last() else {
        return if json_eq(doc, expected) { Ok(()) } else { Err(failed()) };
    };
    let parent = pointer::get(doc, parent)
        .filter(|node| node.is_object() || node.is_array())
        .ok_or_else(|| format!("test operation does not apply: is missing path: {path}: missing value"))?;
    match pointer::child(parent, last) {
        Some(actual) if json_eq(actual, expected) => Ok(()),
        // Upstream treats an absent member as matching null; clients use it to assert absence.
        None if expected.is_null() => Ok(()),
        _ => Err(failed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::pointer::escape;
    use serde_json::json;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 1,
                "template": {"spec": {"containers": [
                    {"name": "nginx", "image": "nginx:1.24"},
                    {"name": "sidecar", "image": "busybox"}
                ]}}
            }
        })
    }

    fn apply(doc: &Value, ops: Value) -> Result<Value, PatchError> {
        let mut doc = doc.clone();
        json_patch(&mut doc, &ops)?;
        Ok(doc)
    }

    fn failure(doc: &Value, ops: Value) -> (usize, String, String) {
        match apply(doc, ops) {
            Err(PatchError::OperationFailed { index, op, message, .. }) => (index, op, message),
            other => panic!("expected an operation failure, got {other:?}"),
        }
    }

    #[test]
    fn replace_add_remove() {
        let got = apply(
            &deployment(),
            json!([
                {"op": "replace", "path": "/spec/replicas", "value": 3},
                {"op": "add", "path": "/metadata/labels/tier", "value": "frontend"},
                {"op": "remove", "path": "/spec/template/spec/containers/1"},
                {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.25"}
            ]),
        )
        .expect("patch applies");
        assert_eq!(got["spec"]["replicas"], json!(3));
        assert_eq!(got["metadata"]["labels"], json!({"app": "web", "tier": "frontend"}));
        assert_eq!(
            got["spec"]["template"]["spec"]["containers"],
            json!([{"name": "nginx", "image": "nginx:1.25"}])
        );
    }

    #[test]
    fn add_into_arrays() {
        let doc = json!({"a": [1, 2]});
        assert_eq!(
            apply(&doc, json!([{"op": "add", "path": "/a/-", "value": 3}])).ok(),
            Some(json!({"a": [1, 2, 3]}))
        );
        assert_eq!(
            apply(&doc, json!([{"op": "add", "path": "/a/0", "value": 0}])).ok(),
            Some(json!({"a": [0, 1, 2]}))
        );
        assert_eq!(
            apply(&doc, json!([{"op": "add", "path": "/a/2", "value": 3}])).ok(),
            Some(json!({"a": [1, 2, 3]}))
        );
        let (_, _, message) = failure(&doc, json!([{"op": "add", "path": "/a/5", "value": 3}]));
        assert_eq!(
            message,
            "error in add for path: '/a/5': Unable to access invalid index: 5: invalid index referenced"
        );
    }

    #[test]
    fn add_replaces_existing_member_and_whole_document() {
        let doc = json!({"a": 1});
        assert_eq!(apply(&doc, json!([{"op": "add", "path": "/a", "value": 2}])).ok(), Some(json!({"a": 2})));
        assert_eq!(apply(&doc, json!([{"op": "add", "path": "", "value": [1]}])).ok(), Some(json!([1])));
        assert_eq!(
            apply(&doc, json!([{"op": "replace", "path": "", "value": {"b": 1}}])).ok(),
            Some(json!({"b": 1}))
        );
    }

    #[test]
    fn add_null_value_is_a_value() {
        let got = apply(&json!({}), json!([{"op": "add", "path": "/a", "value": null}]));
        assert_eq!(got.ok(), Some(json!({"a": null})));
    }

    #[test]
    fn escaped_annotation_keys() {
        // The pointer kubectl users write for `kubectl.kubernetes.io/restartedAt`.
        let key = "kubectl.kubernetes.io/restartedAt";
        let path = format!("/metadata/annotations/{}", escape(key));
        let doc = json!({"metadata": {"annotations": {}}});
        let got = apply(&doc, json!([{"op": "add", "path": path, "value": "now"}])).expect("applies");
        assert_eq!(got["metadata"]["annotations"][key], json!("now"));
    }

    #[test]
    fn replace_missing_key_fails_like_upstream() {
        let (index, op, message) = failure(
            &deployment(),
            json!([
                {"op": "replace", "path": "/spec/replicas", "value": 2},
                {"op": "replace", "path": "/spec/foo", "value": 1}
            ]),
        );
        assert_eq!((index, op.as_str()), (1, "replace"));
        assert_eq!(message, "replace operation does not apply: doc is missing key: /spec/foo: missing value");
    }

    #[test]
    fn replace_missing_parent() {
        let (_, _, message) =
            failure(&deployment(), json!([{"op": "replace", "path": "/status/x", "value": 1}]));
        assert_eq!(
            message,
            "replace operation does not apply: doc is missing path: /status/x: missing value"
        );
    }

    #[test]
    fn add_missing_parent() {
        let (_, op, message) =
            failure(&deployment(), json!([{"op": "add", "path": "/status/x", "value": 1}]));
        assert_eq!(op, "add");
        assert_eq!(
            message,
            "add operation does not apply: doc is missing path: \"/status/x\": missing value"
        );
    }

    #[test]
    fn remove_missing_key() {
        let (_, op, message) =
            failure(&deployment(), json!([{"op": "remove", "path": "/metadata/labels/nope"}]));
        assert_eq!(op, "remove");
        assert_eq!(
            message,
            "error in remove for path: '/metadata/labels/nope': \
             Unable to remove nonexistent key: nope: missing value"
        );
        let (_, _, message) = failure(&deployment(), json!([{"op": "remove", "path": "/nope/x"}]));
        assert_eq!(
            message,
            "remove operation does not apply: doc is missing path: \"/nope/x\": missing value"
        );
    }

    #[test]
    fn test_operation_guards_the_patch() {
        let ok = apply(
            &deployment(),
            json!([
                {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "nginx"},
                {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.25"}
            ]),
        )
        .expect("test passes");
        assert_eq!(ok["spec"]["template"]["spec"]["containers"][0]["image"], json!("nginx:1.25"));

        let (index, op, message) = failure(
            &deployment(),
            json!([
                {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "apache"},
                {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "httpd"}
            ]),
        );
        assert_eq!((index, op.as_str()), (0, "test"));
        assert_eq!(message, "testing value /spec/template/spec/containers/0/name failed: test failed");
    }

    #[test]
    fn test_compares_numbers_by_value_and_absent_as_null() {
        let doc = json!({"spec": {"replicas": 3}});
        assert!(apply(&doc, json!([{"op": "test", "path": "/spec/replicas", "value": 3.0}])).is_ok());
        assert!(apply(&doc, json!([{"op": "test", "path": "/spec/paused", "value": null}])).is_ok());
        assert!(apply(&doc, json!([{"op": "test", "path": "/spec/paused", "value": false}])).is_err());
        assert!(apply(&doc, json!([{"op": "test", "path": "", "value": {"spec": {"replicas": 3}}}])).is_ok());
        let (_, _, message) = failure(&doc, json!([{"op": "test", "path": "/status/x", "value": 1}]));
        assert_eq!(message, "test operation does not apply: is missing path: /status/x: missing value");
    }

    #[test]
    fn failed_patch_leaves_target_unchanged() {
        let original = deployment();
        let mut doc = original.clone();
        let err = json_patch(
            &mut doc,
            &json!([
                {"op": "replace", "path": "/spec/replicas", "value": 5},
                {"op": "remove", "path": "/metadata/labels/app"},
                {"op": "test", "path": "/spec/replicas", "value": 1}
            ]),
        );
        assert!(matches!(err, Err(PatchError::OperationFailed { index: 2, .. })));
        assert_eq!(doc, original);
    }

    #[test]
    fn move_and_copy() {
        let doc = json!({"a": {"x": 1}, "b": [1, 2, 3]});
        let got = apply(
            &doc,
            json!([
                {"op": "move", "from": "/a/x", "path": "/c"},
                {"op": "copy", "from": "/b/0", "path": "/b/-"},
                {"op": "move", "from": "/b/0", "path": "/b/2"}
            ]),
        )
        .expect("applies");
        assert_eq!(got, json!({"a": {}, "c": 1, "b": [2, 3, 1, 1]}));

        assert!(apply(&doc, json!([{"op": "move", "from": "/a", "path": "/a"}])).is_ok());
        let (_, _, message) = failure(&doc, json!([{"op": "move", "from": "/a", "path": "/a/y"}]));
        assert!(message.contains("into its own child"), "{message}");
        let (_, _, message) = failure(&doc, json!([{"op": "move", "from": "/nope", "path": "/z"}]));
        assert_eq!(message, "move operation does not apply: doc is missing from path: /nope: missing value");
        let (_, _, message) = failure(&doc, json!([{"op": "copy", "from": "/a", "path": "/q/r"}]));
        assert_eq!(
            message,
            "copy operation does not apply: doc is missing destination path: /q/r: missing value"
        );
        let (_, _, message) = failure(&doc, json!([{"op": "copy", "path": "/q"}]));
        assert_eq!(message, "copy operation failed to decode from: missing value");
    }

    #[test]
    fn malformed_operations() {
        let doc = json!({});
        let (_, op, message) = failure(&doc, json!([{"op": "frobnicate", "path": "/a"}]));
        assert_eq!((op.as_str(), message.as_str()), ("frobnicate", "Unexpected kind: frobnicate"));
        let (_, _, message) = failure(&doc, json!([{"path": "/a"}]));
        assert_eq!(message, "Unexpected kind: unknown");
        let (_, _, message) = failure(&doc, json!([{"op": "add", "value": 1}]));
        assert_eq!(message, "add operation failed to decode path: missing value");
        let (_, _, message) = failure(&doc, json!([{"op": "add", "path": "/a"}]));
        assert_eq!(message, "add operation, missing value field: missing value");
        let (_, _, message) = failure(&doc, json!([{"op": "add", "path": "a", "value": 1}]));
        assert!(
            message.starts_with("add operation failed to decode path: invalid JSON pointer"),
            "{message}"
        );
    }

    #[test]
    fn body_must_be_an_array_of_objects() {
        let mut doc = json!({});
        let err = json_patch(&mut doc, &json!({"op": "add", "path": "/a", "value": 1}));
        assert!(matches!(err, Err(PatchError::Malformed(ref m)) if m.contains("array")), "{err:?}");
        let err = json_patch(&mut doc, &json!([{"op": "add", "path": "/a", "value": 1}, "oops"]));
        assert!(matches!(err, Err(PatchError::Malformed(ref m)) if m.contains("operation 1")), "{err:?}");
        assert_eq!(doc, json!({}));
        assert!(json_patch(&mut doc, &json!([])).is_ok());
    }

    #[test]
    fn too_many_operations() {
        let ops =
            Value::Array(vec![json!({"op": "test", "path": "", "value": {}}); MAX_JSON_PATCH_OPERATIONS + 1]);
        let err = json_patch(&mut json!({}), &ops).expect_err("too many");
        assert_eq!(err.to_string(), "The allowed maximum operations in a JSON patch is 10000, got 10001");
        assert_eq!(err.status_code(), 413);
    }
}
