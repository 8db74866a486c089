//! Object metadata (`ValidateObjectMeta` beyond the name, which `crate::meta` checks), label
//! maps, and `LabelSelector` objects.

use serde_json::{Map, Value};

use super::field::{Bad, Errors, Path, array_of, get, go_json, go_quote, object_of, str_of};
use super::format;

/// The most annotation bytes (keys plus values) an object may carry.
const TOTAL_ANNOTATION_SIZE: usize = 256 * 1024;

/// Finalizers without a domain prefix that are still allowed.
const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

/// Metadata checks for a new or updated object. `old` is the stored object on update.
pub fn object_meta(obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    let meta = obj.get("metadata").unwrap_or(&Value::Null);
    let path = Path::new("metadata");
    let generate_name = str_of(meta, "generateName");
    if old.is_none() && !generate_name.is_empty() {
        errs.invalid_each(
            &path.child("generateName"),
            generate_name,
            format::dns1123_subdomain_prefix(generate_name),
        );
    }
    labels(object_of(meta, "labels"), &path.child("labels"), errs);
    annotations(object_of(meta, "annotations"), &path.child("annotations"), errs);
    owner_references(array_of(meta, "ownerReferences"), &path.child("ownerReferences"), errs);
    finalizers(meta, old.and_then(|o| o.get("metadata")), &path, errs);
}

/// `ValidateLabels`: every key a qualified name, every value a label value. Errors name the
/// map, not the key, as upstream's do.
pub fn labels(map: Option<&Map<String, Value>>, path: &Path, errs: &mut Errors) {
    for (k, v) in sorted(map) {
        errs.invalid_each(path, k, format::qualified_name_errors(k));
        let v = v.as_str().unwrap_or("");
        errs.invalid_each(path, v, format::label_value_errors(v));
    }
}

/// `ValidateAnnotations`: keys are qualified names in any case; the total size is bounded.
pub fn annotations(map: Option<&Map<String, Value>>, path: &Path, errs: &mut Errors) {
    let mut total = 0usize;
    for (k, v) in sorted(map) {
        errs.invalid_each(path, k, format::qualified_name_errors(&k.to_lowercase()));
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE {
        errs.too_long(path, TOTAL_ANNOTATION_SIZE);
    }
}

// Go iterates maps in random order; sorting keeps the causes stable.
fn sorted(map: Option<&Map<String, Value>>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = map.into_iter().flatten().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

fn owner_references(refs: &[Value], path: &Path, errs: &mut Errors) {
    let mut first_controller: Option<String> = None;
    for r in refs {
        let api_version = str_of(r, "apiVersion");
        let version = api_version.rsplit('/').next().unwrap_or("");
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        if version.is_empty() {
            errs.invalid(&path.child("apiVersion"), Bad::Str(api_version), "version must not be empty");
        }
        let kind = str_of(r, "kind");
        if kind.is_empty() {
            errs.invalid(&path.child("kind"), Bad::Str(kind), "kind must not be empty");
        }
        let name = str_of(r, "name");
        if name.is_empty() {
            errs.invalid(&path.child("name"), Bad::Str(name), "name must not be empty");
        }
        let uid = str_of(r, "uid");
        if uid.is_empty() {
            errs.invalid(&path.child("uid"), Bad::Str(uid), "uid must not be empty");
        }
        if group.is_empty() && version == "v1" && kind == "Event" {
            errs.invalid(path, Bad::Json(r), "/v1, Kind=Event is disallowed from being an owner");
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            let current = format!("{kind}/{name}");
            match &first_controller {
                Some(first) => errs.invalid(
                    path,
                    Bad::Json(&Value::Array(refs.to_vec())),
                    &format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for \
                         {first} and {current}"
                    ),
                ),
                None => first_controller = Some(current),
            }
        }
    }
}

fn finalizers(meta: &Value, old_meta: Option<&Value>, path: &Path, errs: &mut Errors) {
    let names: Vec<&str> = array_of(meta, "finalizers").iter().filter_map(Value::as_str).collect();
    let list = path.child("finalizers");
    for f in &names {
        errs.invalid_each(&list, f, format::qualified_name_errors(f));
    }
    if names.contains(&"orphan") && names.contains(&"foregroundDeletion") {
        let all: Vec<Value> = names.iter().map(|n| Value::String(n.to_string())).collect();
        errs.invalid(
            &list,
            Bad::Json(&Value::Array(all)),
            "finalizer orphan and foregroundDeletion cannot be both set",
        );
    }
    if let Some(old_meta) = old_meta.filter(|m| get(m, "deletionTimestamp").is_some()) {
        let old: Vec<&str> = array_of(old_meta, "finalizers").iter().filter_map(Value::as_str).collect();
        let mut extra: Vec<&str> = names.iter().copied().filter(|n| !old.contains(n)).collect();
        extra.sort_unstable();
        extra.dedup();
        if !extra.is_empty() {
            let shown: Vec<String> = extra.iter().map(|n| go_quote(n)).collect();
            errs.forbidden(
                &list,
                &format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers \
                     []string{{{}}}",
                    shown.join(", ")
                ),
            );
        }
    }
    for (i, f) in names.iter().enumerate() {
        let qualified = format::qualified_name_errors(f).is_empty();
        if qualified && !f.contains('/') && !STANDARD_FINALIZERS.contains(f) {
            errs.invalid(
                &list.index(i),
                Bad::Str(f),
                "name is neither a standard finalizer name nor is it fully qualified",
            );
        }
    }
}

/// `ValidateLabelSelector` (strict: label values in expressions must be valid).
pub fn label_selector(sel: &Value, path: &Path, errs: &mut Errors) {
    if sel.is_null() {
        return;
    }
    labels(object_of(sel, "matchLabels"), &path.child("matchLabels"), errs);
    for (i, expr) in array_of(sel, "matchExpressions").iter().enumerate() {
        let p = path.child("matchExpressions").index(i);
        let values = array_of(expr, "values");
        match str_of(expr, "operator") {
            "In" | "NotIn" if values.is_empty() => {
                errs.required(&p.child("values"), "must be specified when `operator` is 'In' or 'NotIn'")
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.forbidden(
                &p.child("values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            ),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.invalid(&p.child("operator"), Bad::Str(other), "not a valid selector operator"),
        }
        let key = str_of(expr, "key");
        errs.invalid_each(&p.child("key"), key, format::qualified_name_errors(key));
        for (j, v) in values.iter().enumerate() {
            let v = v.as_str().unwrap_or("");
            errs.invalid_each(&p.child("values").index(j), v, format::label_value_errors(v));
        }
    }
}

/// Whether a selector has neither `matchLabels` nor `matchExpressions`.
pub fn selector_is_empty(sel: &Value) -> bool {
    object_of(sel, "matchLabels").is_none_or(Map::is_empty) && array_of(sel, "matchExpressions").is_empty()
}

/// A `LabelSelector` as Go marshals the struct: `matchLabels` before `matchExpressions`, each
/// requirement as `key`, `operator`, `values`, empty fields left out.
pub fn render_selector(sel: &Value) -> String {
    if sel.is_null() {
        return "null".into();
    }
    let mut parts = Vec::new();
    if let Some(m) = object_of(sel, "matchLabels").filter(|m| !m.is_empty()) {
        parts.push(format!("\"matchLabels\":{}", go_json(&Value::Object(m.clone()))));
    }
    let exprs = array_of(sel, "matchExpressions");
    if !exprs.is_empty() {
        let rendered: Vec<String> = exprs
            .iter()
            .map(|e| {
                let mut fields = vec![
                    format!("\"key\":{}", go_json(&Value::String(str_of(e, "key").into()))),
                    format!("\"operator\":{}", go_json(&Value::String(str_of(e, "operator").into()))),
                ];
                let values = array_of(e, "values");
                if !values.is_empty() {
                    fields.push(format!("\"values\":{}", go_json(&Value::Array(values.to_vec()))));
                }
                format!("{{{}}}", fields.join(","))
            })
            .collect();
        parts.push(format!("\"matchExpressions\":[{}]", rendered.join(",")));
    }
    format!("{{{}}}", parts.join(","))
}

/// A label map as Go marshals `map[string]string` (`null` when unset).
pub fn render_labels(map: Option<&Value>) -> String {
    match map {
        Some(v @ Value::Object(_)) => go_json(v),
        _ => "null".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(obj: Value, old: Option<Value>) -> Vec<(String, String)> {
        let mut errs = Errors::default();
        object_meta(&obj, old.as_ref(), &mut errs);
        errs.0.into_iter().map(|c| (c.field, c.message)).collect()
    }

    #[test]
    fn good_metadata_passes() {
        let obj = json!({"metadata": {"name": "x", "labels": {"app": "web", "example.com/tier": ""},
            "annotations": {"Example.com/Note": "anything at all"}, "finalizers": ["kubernetes.io/pvc-protection", "orphan"]}});
        assert!(run(obj, None).is_empty());
    }

    #[test]
    fn bad_labels_name_the_map() {
        let got = run(json!({"metadata": {"labels": {"app": "a b"}}}), None);
        assert_eq!(got[0].0, "metadata.labels");
        assert!(
            got[0].1.starts_with("Invalid value: \"a b\": a valid label must be an empty string"),
            "{got:?}"
        );
        let got = run(json!({"metadata": {"labels": {"-x": "ok"}}}), None);
        assert!(got[0].1.starts_with("Invalid value: \"-x\": name part must consist of"), "{got:?}");
    }

    #[test]
    fn annotations_are_bounded() {
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE);
        let got = run(json!({"metadata": {"annotations": {"a": big}}}), None);
        assert_eq!(
            got,
            [("metadata.annotations".into(), "Too long: may not be more than 262144 bytes".into())]
        );
    }

    #[test]
    fn generate_name_may_end_in_a_dash() {
        assert!(run(json!({"metadata": {"generateName": "web-"}}), None).is_empty());
        let got = run(json!({"metadata": {"generateName": "Web-"}}), None);
        assert_eq!(got[0].0, "metadata.generateName");
    }

    #[test]
    fn owner_references_need_their_fields() {
        let got = run(
            json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet"}]}}),
            None,
        );
        assert_eq!(
            got,
            [
                (
                    "metadata.ownerReferences.name".into(),
                    "Invalid value: \"\": name must not be empty".into()
                ),
                ("metadata.ownerReferences.uid".into(), "Invalid value: \"\": uid must not be empty".into()),
            ]
        );
    }

    #[test]
    fn finalizers_need_a_domain_unless_standard() {
        let got = run(json!({"metadata": {"finalizers": ["custom"]}}), None);
        assert_eq!(
            got,
            [(
                "metadata.finalizers[0]".into(),
                "Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"
                    .into()
            )]
        );
        let old =
            json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["a.io/x"]}});
        let got = run(json!({"metadata": {"finalizers": ["a.io/x", "b.io/y"]}}), Some(old));
        assert_eq!(
            got[0].1,
            "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"b.io/y\"}"
        );
    }

    #[test]
    fn selectors_check_operators_and_render_like_go() {
        let mut errs = Errors::default();
        let sel =
            json!({"matchExpressions": [{"key": "a", "operator": "In"}, {"key": "b", "operator": "Bad"}]});
        label_selector(&sel, &Path::new("spec.selector"), &mut errs);
        let got: Vec<(&str, &str)> = errs.0.iter().map(|c| (c.field.as_str(), c.message.as_str())).collect();
        assert_eq!(
            got,
            [
                (
                    "spec.selector.matchExpressions[0].values",
                    "Required value: must be specified when `operator` is 'In' or 'NotIn'"
                ),
                (
                    "spec.selector.matchExpressions[1].operator",
                    "Invalid value: \"Bad\": not a valid selector operator"
                ),
            ]
        );
        let sel = json!({"matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}], "matchLabels": {"b": "2", "a": "1"}});
        assert_eq!(
            render_selector(&sel),
            r#"{"matchLabels":{"a":"1","b":"2"},"matchExpressions":[{"key":"k","operator":"In","values":["v"]}]}"#
        );
        assert!(selector_is_empty(&json!({})));
    }
}
