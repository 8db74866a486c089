//! Merging a patch map into an object map, with the map-level directives.

use serde_json::{Map, Value};

use super::{
    Ctx, DELETE_FROM_PRIMITIVE_LIST, Directive, Merged, RETAIN_KEYS, SET_ELEMENT_ORDER, child_path,
    directive_of, error, is_directive, list,
};
use crate::patch::PatchError;
use crate::patch::value::{json_eq, kind, remove_member};

/// Merges `patch` into `original` (absent: the patch builds the map from nothing).
pub(super) fn merge_map(
    ctx: &Ctx<'_>,
    original: Option<Map<String, Value>>,
    patch: &Map<String, Value>,
    path: &[String],
) -> Result<Merged, PatchError> {
    let base = match directive_of(patch, path)? {
        Some(Directive::Delete) => return Ok(Merged::Delete),
        // Merging into nothing, rather than copying, still processes the patch's own nulls and directives.
        Some(Directive::Replace) => Map::new(),
        Some(Directive::Merge) | None => original.unwrap_or_default(),
    };
    merge_fields(ctx, base, patch, path).map(Merged::Keep)
}

fn merge_fields(
    ctx: &Ctx<'_>,
    mut out: Map<String, Value>,
    patch: &Map<String, Value>,
    path: &[String],
) -> Result<Map<String, Value>, PatchError> {
    // Clearing comes first so that the patch can still set any retained key.
    retain_keys(&mut out, patch, path)?;
    let ordered = set_element_orders(ctx, &mut out, patch, path)?;
    for (key, value) in patch {
        if let Some(rest) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            delete_from_primitive_list(&mut out, rest, value, path)?;
        } else if !is_directive(key) && !ordered.contains(key) {
            merge_field(ctx, &mut out, key, value, path)?;
        }
    }
    Ok(out)
}

fn merge_field(
    ctx: &Ctx<'_>,
    out: &mut Map<String, Value>,
    key: &str,
    value: &Value,
    path: &[String],
) -> Result<(), PatchError> {
    if value.is_null() {
        remove_member(out, key);
        return Ok(());
    }
    let child = child_path(path, key);
    let merged = match (out.get_mut(key), value) {
        (Some(Value::Object(current)), Value::Object(patch)) => {
            match merge_map(ctx, Some(std::mem::take(current)), patch, &child)? {
                Merged::Keep(map) => Some(Value::Object(map)),
                Merged::Delete => None,
            }
        }
        (Some(Value::Array(current)), Value::Array(patch)) => {
            Some(Value::Array(list::merge_list(ctx, std::mem::take(current), patch, &child)?))
        }
        // Absent, or of another type: the patch's value stands, minus its nulls and directives.
        _ => fresh(ctx, value, &child)?,
    };
    match merged {
        Some(v) => {
            out.insert(key.to_owned(), v);
        }
        None => {
            remove_member(out, key);
        }
    }
    Ok(())
}

/// A patch value for a field the object lacks; `None` if it asks for its own deletion.
pub(super) fn fresh(ctx: &Ctx<'_>, value: &Value, path: &[String]) -> Result<Option<Value>, PatchError> {
    Ok(match value {
        Value::Object(patch) => match merge_map(ctx, None, patch, path)? {
            Merged::Keep(map) => Some(Value::Object(map)),
            Merged::Delete => None,
        },
        Value::Array(items) => Some(Value::Array(list::fresh_list(ctx, items, path)?)),
        other => Some(other.clone()),
    })
}

/// `$retainKeys`: keys of the object not listed are dropped (a union type switching member).
fn retain_keys(
    out: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    path: &[String],
) -> Result<(), PatchError> {
    let Some(spec) = patch.get(RETAIN_KEYS) else {
        return Ok(());
    };
    let bad_format = || error(path, format!("invalid patch format of retainKeys: {spec}"));
    let Value::Array(names) = spec else {
        return Err(bad_format());
    };
    let keep = names.iter().map(|n| n.as_str().ok_or_else(bad_format)).collect::<Result<Vec<&str>, _>>()?;
    // A patch that sets a key it does not retain contradicts itself; upstream refuses it.
    if let Some((key, _)) =
        patch.iter().find(|(k, v)| !v.is_null() && !is_directive(k) && !keep.contains(&k.as_str()))
    {
        return Err(error(
            path,
            format!("patch content doesn't match retainKeys list: {key} is not in {spec}"),
        ));
    }
    out.retain(|k, _| keep.contains(&k.as_str()));
    Ok(())
}

/// `$setElementOrder/<list>`: merges that list with its patch (if any) and orders the result.
/// Returns the lists handled, which the field loop must then skip.
fn set_element_orders(
    ctx: &Ctx<'_>,
    out: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    path: &[String],
) -> Result<Vec<String>, PatchError> {
    let mut handled = Vec::new();
    for (key, order) in patch {
        let Some(rest) = key.strip_prefix(SET_ELEMENT_ORDER) else { continue };
        let bad_format = || error(path, format!("invalid patch format of setElementOrder list: {key}"));
        let field = rest.strip_prefix('/').filter(|f| !f.is_empty()).ok_or_else(bad_format)?;
        let Value::Array(order) = order else {
            return Err(bad_format());
        };
        let child = child_path(path, field);
        let patch_list = list_at(patch, field, &child)?;
        let live = match out.get_mut(field) {
            Some(Value::Array(items)) => Some(std::mem::take(items)),
            None => None,
            Some(other) => return Err(error(&child, format!("expected a list, found a {}", kind(other)))),
        };
        if let Some(merged) = list::merge_ordered(ctx, live, patch_list, order, &child)? {
            out.insert(field.to_owned(), Value::Array(merged));
        }
        handled.push(field.to_owned());
    }
    Ok(handled)
}

fn list_at<'p>(
    patch: &'p Map<String, Value>,
    field: &str,
    path: &[String],
) -> Result<Option<&'p [Value]>, PatchError> {
    match patch.get(field) {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items)),
        Some(other) => Err(error(path, format!("expected a list, found a {}", kind(other)))),
    }
}

/// `$deleteFromPrimitiveList/<list>`: removes every occurrence of the given values.
fn delete_from_primitive_list(
    out: &mut Map<String, Value>,
    rest: &str,
    value: &Value,
    path: &[String],
) -> Result<(), PatchError> {
    let bad_format =
        || error(path, format!("invalid patch format of primitive list: {DELETE_FROM_PRIMITIVE_LIST}{rest}"));
    let field = rest.strip_prefix('/').filter(|f| !f.is_empty()).ok_or_else(bad_format)?;
    let Value::Array(remove) = value else {
        return Err(bad_format());
    };
    // Absent lists stay absent: deleting must never create the field.
    if let Some(Value::Array(items)) = out.get_mut(field) {
        items.retain(|item| !remove.iter().any(|r| json_eq(r, item)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{NoSchema, strategic_merge_patch};
    use crate::patch::PatchError;
    use serde_json::{Value, json};

    fn apply(target: Value, patch: Value) -> Result<Value, PatchError> {
        let mut target = target;
        strategic_merge_patch(&mut target, &patch, &NoSchema)?;
        Ok(target)
    }

    fn message(result: Result<Value, PatchError>) -> String {
        match result {
            Err(e) => e.to_string(),
            Ok(v) => panic!("expected an error, got {v}"),
        }
    }

    #[test]
    fn maps_merge_and_null_deletes() {
        let got = apply(json!({"a": {"b": 1, "c": 2}, "d": 3}), json!({"a": {"b": null, "e": 4}, "d": null}));
        assert_eq!(got.ok(), Some(json!({"a": {"c": 2, "e": 4}})));
    }

    #[test]
    fn scalars_and_mismatched_types_are_replaced() {
        let got = apply(
            json!({"a": {"b": 1}, "c": "x", "d": [1]}),
            json!({"a": "s", "c": {"k": null, "v": 1}, "d": {"m": 1}}),
        );
        assert_eq!(got.ok(), Some(json!({"a": "s", "c": {"v": 1}, "d": {"m": 1}})));
    }

    #[test]
    fn replace_directive_on_a_map() {
        let got = apply(
            json!({"spec": {"selector": {"a": "1", "b": "2"}, "x": 1}}),
            json!({"spec": {"selector": {"$patch": "replace", "c": "3", "d": null}}}),
        );
        assert_eq!(got.ok(), Some(json!({"spec": {"selector": {"c": "3"}, "x": 1}})));
    }

    #[test]
    fn delete_directive_on_a_map() {
        let got = apply(
            json!({"spec": {"securityContext": {"runAsUser": 1}, "x": 1}}),
            json!({"spec": {"securityContext": {"$patch": "delete"}}}),
        );
        assert_eq!(got.ok(), Some(json!({"spec": {"x": 1}})));
        // On a field the object lacks, nothing is created.
        let got = apply(json!({"spec": {}}), json!({"spec": {"securityContext": {"$patch": "delete"}}}));
        assert_eq!(got.ok(), Some(json!({"spec": {}})));
        // On the whole object, an empty object remains.
        let got = apply(json!({"a": 1}), json!({"$patch": "delete"}));
        assert_eq!(got.ok(), Some(json!({})));
    }

    #[test]
    fn merge_directive_is_the_default() {
        let got = apply(json!({"a": {"b": 1}}), json!({"a": {"$patch": "merge", "c": 2}}));
        assert_eq!(got.ok(), Some(json!({"a": {"b": 1, "c": 2}})));
    }

    #[test]
    fn unknown_directive_is_an_error() {
        let got = apply(json!({"a": {}}), json!({"a": {"$patch": "explode"}}));
        assert_eq!(message(got), r#"unknown patch type: explode in map: {"$patch":"explode"}"#);
    }

    #[test]
    fn retain_keys_drops_unlisted_keys() {
        let got = apply(
            json!({"u": {"kind": "a", "a": {"x": 1}, "b": {"y": 2}, "keep": true}}),
            json!({"u": {"$retainKeys": ["kind", "c", "keep"], "kind": "c", "c": {"z": 3}, "a": null}}),
        );
        assert_eq!(got.ok(), Some(json!({"u": {"kind": "c", "c": {"z": 3}, "keep": true}})));
    }

    #[test]
    fn retain_keys_must_cover_the_patch() {
        let got = apply(json!({"u": {}}), json!({"u": {"$retainKeys": ["kind"], "kind": "c", "other": 1}}));
        assert!(message(got).starts_with("patch content doesn't match retainKeys list: other"));
        let got = apply(json!({"u": {}}), json!({"u": {"$retainKeys": "kind"}}));
        assert!(message(got).starts_with("invalid patch format of retainKeys"));
        let got = apply(json!({"u": {}}), json!({"u": {"$retainKeys": [1]}}));
        assert!(message(got).starts_with("invalid patch format of retainKeys"));
    }

    #[test]
    fn delete_from_primitive_list_never_creates_the_list() {
        let got = apply(
            json!({"a": ["x", "y", "x"]}),
            json!({"$deleteFromPrimitiveList/a": ["x", "q"], "$deleteFromPrimitiveList/b": ["x"]}),
        );
        assert_eq!(got.ok(), Some(json!({"a": ["y"]})));
    }

    #[test]
    fn malformed_list_directives() {
        let got = apply(json!({"a": [1]}), json!({"$deleteFromPrimitiveList": [1]}));
        assert!(message(got).starts_with("invalid patch format of primitive list"));
        let got = apply(json!({"a": [1]}), json!({"$deleteFromPrimitiveList/a": 1}));
        assert!(message(got).starts_with("invalid patch format of primitive list"));
        let got = apply(json!({"a": [1]}), json!({"$setElementOrder": [1]}));
        assert!(message(got).starts_with("invalid patch format of setElementOrder list"));
        let got = apply(json!({"a": [1]}), json!({"$setElementOrder/a": {"x": 1}}));
        assert!(message(got).starts_with("invalid patch format of setElementOrder list"));
        let got = apply(json!({"a": "s"}), json!({"$setElementOrder/a": [1]}));
        assert_eq!(message(got), "expected a list, found a string");
    }

    #[test]
    fn new_values_lose_their_directives_and_nulls() {
        let got = apply(
            json!({}),
            json!({"spec": {
                "a": {"$patch": "replace", "x": 1, "y": null},
                "b": {"$retainKeys": ["k"], "k": 1},
                "c": {"$patch": "delete"},
                "d": [{"$patch": "replace"}, {"v": 1, "w": null}],
                "$setElementOrder/e": [3, 1, 2],
                "e": [3, 2],
                "$deleteFromPrimitiveList/f": [1]
            }}),
        );
        assert_eq!(got, Ok(json!({"spec": {"a": {"x": 1}, "b": {"k": 1}, "d": [{"v": 1}], "e": [3, 2]}})));
    }

    #[test]
    fn directive_keys_never_reach_the_result() {
        fn has_directive(v: &Value) -> bool {
            match v {
                Value::Object(m) => m.iter().any(|(k, v)| k.starts_with('$') || has_directive(v)),
                Value::Array(items) => items.iter().any(has_directive),
                _ => false,
            }
        }
        let got = apply(
            json!({"m": {"a": 1}, "l": [{"k": 1}]}),
            json!({
                "$patch": "merge",
                "m": {"$patch": "replace", "n": {"$retainKeys": ["x"], "x": 1}},
                "l": [{"$patch": "replace"}, {"k": 2, "$setElementOrder/z": [], "z": []}]
            }),
        )
        .expect("applies");
        assert_eq!(got, json!({"m": {"n": {"x": 1}}, "l": [{"k": 2, "z": []}]}));
        assert!(!has_directive(&got));
    }

    #[test]
    fn top_level_shapes() {
        assert_eq!(apply(json!({"a": 1}), Value::Null).ok(), Some(json!({"a": 1})));
        assert!(message(apply(json!({"a": 1}), json!([1]))).starts_with("invalid JSON document"));
        assert!(message(apply(json!([1]), json!({}))).starts_with("invalid JSON document"));
        assert_eq!(
            apply(json!({"a": 1, "b": 2}), json!({"$patch": "replace", "c": 3})).ok(),
            Some(json!({"c": 3}))
        );
    }
}
