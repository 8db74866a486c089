//! Custom resources against their CRD version's `openAPIV3Schema`: upstream's structural
//! pruning, defaulting and OpenAPI validation (apiextensions-apiserver with kube-openapi's
//! validator), with upstream's cause reasons and messages.
//!
//! Not covered: `pattern` (it needs a regular expression engine), string `format`s
//! (`date-time`, `uuid`, ...), `allOf`/`anyOf`/`oneOf`/`not`, `x-kubernetes-validations`
//! (CEL), list-type uniqueness (`set`/`map` lists) and the checks of embedded resources'
//! `apiVersion`/`kind`. As in Kubernetes 1.35, `format: int32`/`int64` set no range.

use serde_json::{Map, Value};

use super::builtin::registry;
use super::strict::{self, go_quote};
use crate::status::Cause;

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// Nesting beyond which the object is no longer looked into.
const MAX_DEPTH: usize = 256;

/// Prunes `obj` as upstream's decoder does for a custom resource: fields its schema has no
/// place for are removed, except under `x-kubernetes-preserve-unknown-fields: true` and the
/// `apiVersion`, `kind` and `metadata` of the object (and of embedded resources); unknown
/// `metadata` fields are removed too. Null values of fields that are neither `nullable` nor
/// defaulted are dropped silently. Returns the removed fields' paths (`spec.foo`,
/// `spec.items[0].bar`, `metadata.labelz`), the body's sorted, then metadata's sorted: under
/// `fieldValidation=Strict` each is an `unknown field "<path>"` error, under `Warn` a warning.
pub fn prune_custom(schema: &Value, obj: &mut Value) -> Vec<String> {
    let mut pruned = Vec::new();
    let mut metadata = Vec::new();
    let mut path = String::new();
    prune(obj, schema, true, &mut path, &mut pruned, &mut metadata, 0);
    pruned.sort();
    metadata.sort();
    pruned.extend(metadata);
    drop_nulls(obj, schema, 0);
    pruned
}

/// Fills in the schema's `default`s, as upstream does on decoding: a property that is missing
/// (or null without `nullable`) takes its default, and so do null items and map values.
pub fn default_custom(schema: &Value, obj: &mut Value) {
    apply_defaults(obj, schema, 0);
}

/// Prunes ([`prune_custom`]), defaults ([`default_custom`]) and validates a custom resource
/// against its version's `openAPIV3Schema`, returning upstream's causes:
/// `{FieldValueRequired, "Required value", "spec.cronSpec"}`,
/// `{FieldValueTypeInvalid, "Invalid value: \"string\": spec.replicas in body must be of type
/// integer: \"string\"", "spec.replicas"}`, `FieldValueNotSupported` for enums, and
/// `FieldValueInvalid`, `FieldValueTooLong`, `FieldValueTooMany` for the bounds. Empty when
/// the object is valid. Call [`prune_custom`] first to learn what was pruned.
pub fn validate_custom(schema: &Value, obj: &mut Value) -> Vec<Cause> {
    prune_custom(schema, obj);
    default_custom(schema, obj);
    let mut causes = Vec::new();
    let mut path = String::new();
    validate(obj, schema, true, &mut path, &mut causes, 0);
    causes
}

fn flag(schema: &Value, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool).unwrap_or(false)
}

fn properties(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

fn prune(
    value: &mut Value,
    schema: &Value,
    resource: bool,
    path: &mut String,
    pruned: &mut Vec<String>,
    metadata: &mut Vec<String>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let len = path.len();
    match value {
        Value::Object(map) => {
            let resource = resource || flag(schema, "x-kubernetes-embedded-resource");
            let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
            let props = properties(schema);
            let additional = schema.get("additionalProperties");
            map.retain(|key, child| {
                push_key(path, key);
                let keep = if resource && (key == "apiVersion" || key == "kind") {
                    true
                } else if resource && key == "metadata" {
                    prune_metadata(child, path, metadata);
                    true
                } else if let Some(field) = props.and_then(|p| p.get(key)) {
                    prune(child, field, false, path, pruned, metadata, depth + 1);
                    true
                } else if let Some(values @ Value::Object(_)) = additional {
                    prune(child, values, false, path, pruned, metadata, depth + 1);
                    true
                } else if preserve || additional == Some(&Value::Bool(true)) {
                    true
                } else {
                    pruned.push(path.clone());
                    false
                };
                path.truncate(len);
                keep
            });
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items").filter(|i| i.is_object()) {
                for (index, child) in items.iter_mut().enumerate() {
                    path.push_str(&format!("[{index}]"));
                    prune(child, item, false, path, pruned, metadata, depth + 1);
                    path.truncate(len);
                }
            }
        }
        _ => {}
    }
}

/// Removes the fields `ObjectMeta` does not have, as upstream's round trip through the typed
/// `ObjectMeta` does.
fn prune_metadata(metadata: &mut Value, path: &mut String, pruned: &mut Vec<String>) {
    let defs = &registry().schemas;
    let Some(meta) = defs.get(OBJECT_META) else { return };
    let shape = strict::shape_of(meta, defs);
    let mut found = Vec::new();
    strict::prune(metadata, shape, defs, path, &mut |p| found.push(p.to_string()), 0);
    pruned.extend(found);
}

fn nullable(schema: &Value) -> bool {
    flag(schema, "nullable")
}

fn drop_nulls(value: &mut Value, schema: &Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(map) => {
            let props = properties(schema);
            if let Some(props) = props {
                map.retain(|key, child| {
                    !(child.is_null()
                        && props.get(key).is_some_and(|f| f.get("default").is_none() && !nullable(f)))
                });
            }
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, child) in map.iter_mut() {
                if let Some(field) = props.and_then(|p| p.get(key)).or(additional) {
                    drop_nulls(child, field, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items").filter(|i| i.is_object()) {
                items.iter_mut().for_each(|child| drop_nulls(child, item, depth + 1));
            }
        }
        _ => {}
    }
}

/// The default a null or missing value of this schema takes, if any.
fn default_for(schema: &Value) -> Option<&Value> {
    schema.get("default").filter(|_| !nullable(schema))
}

fn apply_defaults(value: &mut Value, schema: &Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(map) => {
            let props = properties(schema);
            for (key, field) in props.into_iter().flatten() {
                let Some(default) = field.get("default") else { continue };
                match map.get(key) {
                    None => {
                        map.insert(key.clone(), default.clone());
                    }
                    Some(Value::Null) if !nullable(field) => {
                        map.insert(key.clone(), default.clone());
                    }
                    Some(_) => {}
                }
            }
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, child) in map.iter_mut() {
                match props.and_then(|p| p.get(key)) {
                    Some(field) => apply_defaults(child, field, depth + 1),
                    None => {
                        if let Some(values) = additional {
                            if child.is_null()
                                && let Some(default) = default_for(values)
                            {
                                *child = default.clone();
                            }
                            apply_defaults(child, values, depth + 1);
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items").filter(|i| i.is_object()) {
                for child in items.iter_mut() {
                    if child.is_null()
                        && let Some(default) = default_for(item)
                    {
                        *child = default.clone();
                    }
                    apply_defaults(child, item, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// The JSON type of a value as kube-openapi names it, and the format it infers
/// (`int64` for integers, `double` for other numbers).
fn data_type(value: &Value) -> (&'static str, &'static str) {
    match value {
        Value::Null => ("null", ""),
        Value::Bool(_) => ("boolean", ""),
        Value::Number(n) if n.is_f64() => ("number", "double"),
        Value::Number(_) => ("integer", "int64"),
        Value::String(_) => ("string", ""),
        Value::Array(_) => ("array", ""),
        Value::Object(_) => ("object", ""),
    }
}

/// A number with no fractional part, as Go's `swag.IsFloat64AJSONInteger` sees it.
fn integral(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.as_f64().is_some_and(|f| f.is_finite() && f.fract() == 0.0),
        _ => false,
    }
}

/// Go's `%v` of a float64: shortest digits, in exponent form below 1e-4 and from 1e6 on.
pub(super) fn go_float(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        format!("{f}")
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

/// A value as upstream's field errors print it: strings quoted, numbers and booleans bare,
/// anything else as JSON.
fn go_value(value: &Value) -> String {
    match value {
        Value::String(s) => go_quote(s),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), ..) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            (.., Some(f)) => go_float(f),
            _ => n.to_string(),
        },
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

fn cause(reason: &str, field: &str, message: String) -> Cause {
    Cause { reason: reason.into(), message, field: field.into() }
}

/// `Invalid value: <value>: <detail>`.
fn invalid(field: &str, value: &str, detail: String) -> Cause {
    cause("FieldValueInvalid", field, format!("Invalid value: {value}: {detail}"))
}

/// kube-openapi's `<path> in body must be of type <type>: "<found>"`, as a type cause.
fn type_invalid(field: &str, expected: &str, found: &str) -> Cause {
    let found = go_quote(found);
    cause(
        "FieldValueTypeInvalid",
        field,
        format!("Invalid value: {found}: {field} in body must be of type {expected}: {found}"),
    )
}

fn number(schema: &Value, key: &str) -> Option<f64> {
    schema.get(key).and_then(Value::as_f64)
}

/// A bound as upstream prints it: as an integer when it and the value checked are integers.
fn bound(limit: f64, value: &Value) -> String {
    let integer = matches!(value, Value::Number(n) if !n.is_f64());
    if integer && limit.fract() == 0.0 { (limit as i64).to_string() } else { go_float(limit) }
}

fn validate(
    value: &Value,
    schema: &Value,
    root: bool,
    path: &mut String,
    causes: &mut Vec<Cause>,
    depth: usize,
) {
    if depth > MAX_DEPTH || !schema.is_object() {
        return;
    }
    let field = path.clone();
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) if !t.is_empty() => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ if flag(schema, "x-kubernetes-int-or-string") => vec!["integer", "string"],
        _ => Vec::new(),
    };
    let format = schema.get("format").and_then(Value::as_str).unwrap_or_default();
    let (found, found_format) = data_type(value);

    if value.is_null() {
        if !types.is_empty() && !types.contains(&"null") && !nullable(schema) {
            causes.push(type_invalid(&field, &types.join(","), "null"));
        }
        if !nullable(schema) {
            check_enum(value, schema, &field, causes);
        }
        return;
    }

    // kube-openapi's type validator, which runs when a type or a format is given.
    if !types.is_empty() || !format.is_empty() {
        let float_int = found == "number" && integral(value) && types.contains(&"integer");
        let int_float = found == "integer" && types.contains(&"number");
        let matches = types.contains(&found) || float_int || int_float;
        let lower_int = format == "int64" && found_format == "int32";
        let text_or_list = matches!(value, Value::String(_) | Value::Array(_));
        let numeric = types.contains(&"number") || types.contains(&"integer");
        let has_format = !format.is_empty();
        if has_format && !text_or_list && !(matches || found_format == format || lower_int) {
            // A non-string value against a format: named by the format.
            causes.push(type_invalid(&field, format, found_format));
        } else if has_format && text_or_list && !numeric {
            // A string or list with a format: the type is not checked (the format is).
        } else if !matches {
            causes.push(type_invalid(&field, &types.join(","), found));
        }
    }

    match value {
        Value::String(s) => {
            let chars = s.chars().count() as f64;
            if let Some(max) = number(schema, "maxLength")
                && chars > max
            {
                let max = max as i64;
                let unit = if max == 1 { "byte" } else { "bytes" };
                causes.push(cause(
                    "FieldValueTooLong",
                    &field,
                    format!("Too long: may not be more than {max} {unit}"),
                ));
            } else if let Some(min) = number(schema, "minLength")
                && chars < min
            {
                causes.push(invalid(
                    &field,
                    &go_value(value),
                    format!("{field} in body should be at least {} chars long", min as i64),
                ));
            }
        }
        Value::Number(n) => {
            let data = n.as_f64().unwrap_or_default();
            if let Some(factor) = number(schema, "multipleOf")
                && factor > 0.0
                && (data / factor).fract() != 0.0
            {
                causes.push(invalid(
                    &field,
                    &go_value(value),
                    format!("{field} in body should be a multiple of {}", go_float(factor)),
                ));
            }
            if let Some(max) = number(schema, "maximum") {
                let exclusive = flag(schema, "exclusiveMaximum");
                if (!exclusive && data > max) || (exclusive && data >= max) {
                    let relation = if exclusive { "less than" } else { "less than or equal to" };
                    causes.push(invalid(
                        &field,
                        &go_value(value),
                        format!("{field} in body should be {relation} {}", bound(max, value)),
                    ));
                }
            }
            if let Some(min) = number(schema, "minimum") {
                let exclusive = flag(schema, "exclusiveMinimum");
                if (!exclusive && data < min) || (exclusive && data <= min) {
                    let relation = if exclusive { "greater than" } else { "greater than or equal to" };
                    causes.push(invalid(
                        &field,
                        &go_value(value),
                        format!("{field} in body should be {relation} {}", bound(min, value)),
                    ));
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items").filter(|i| i.is_object()) {
                for (index, child) in items.iter().enumerate() {
                    path.push_str(&format!("[{index}]"));
                    validate(child, item, false, path, causes, depth + 1);
                    path.truncate(field.len());
                }
            }
            let size = items.len() as f64;
            if let Some(min) = number(schema, "minItems")
                && size < min
            {
                causes.push(invalid(
                    &field,
                    &items.len().to_string(),
                    format!("{field} in body should have at least {} items", min as i64),
                ));
            }
            if let Some(max) = number(schema, "maxItems")
                && size > max
            {
                causes.push(too_many(&field, items.len(), max as i64));
            }
        }
        _ => {}
    }

    check_enum(value, schema, &field, causes);

    if let Value::Object(map) = value {
        let size = map.len() as f64;
        if let Some(min) = number(schema, "minProperties")
            && size < min
        {
            causes.push(invalid(
                &field,
                &map.len().to_string(),
                format!("{field} in body should have at least {} properties", min as i64),
            ));
        }
        if let Some(max) = number(schema, "maxProperties")
            && size > max
        {
            causes.push(too_many(&field, map.len(), max as i64));
        }
        let resource = root || flag(schema, "x-kubernetes-embedded-resource");
        let props = properties(schema);
        if let Some(values @ Value::Object(_)) = schema.get("additionalProperties") {
            for (key, child) in map {
                if props.is_some_and(|p| p.contains_key(key)) {
                    continue;
                }
                push_key(path, key);
                validate(child, values, false, path, causes, depth + 1);
                path.truncate(field.len());
            }
        }
        for (key, prop) in props.into_iter().flatten() {
            // The metadata of a resource is ObjectMeta's to validate, not the schema's.
            if resource && key == "metadata" {
                continue;
            }
            if let Some(child) = map.get(key) {
                push_key(path, key);
                validate(child, prop, false, path, causes, depth + 1);
                path.truncate(field.len());
            }
        }
        for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            if let Some(key) = required.as_str()
                && !map.contains_key(key)
            {
                let mut at = field.clone();
                push_key(&mut at, key);
                causes.push(cause("FieldValueRequired", &at, "Required value".into()));
            }
        }
    }
}

/// `Too many: <n>: must have at most <max> items`.
fn too_many(field: &str, actual: usize, max: i64) -> Cause {
    let unit = if max == 1 { "item" } else { "items" };
    cause("FieldValueTooMany", field, format!("Too many: {actual}: must have at most {max} {unit}"))
}

/// Values equal as kube-openapi compares them: numbers by value, the rest structurally.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn check_enum(value: &Value, schema: &Value, field: &str, causes: &mut Vec<Cause>) {
    let Some(Value::Array(allowed)) = schema.get("enum") else { return };
    if allowed.is_empty() || allowed.iter().any(|a| same(a, value)) {
        return;
    }
    let supported: Vec<String> = allowed
        .iter()
        .map(|a| match a {
            Value::String(s) => go_quote(s),
            other => go_quote(&other.to_string()),
        })
        .collect();
    causes.push(cause(
        "FieldValueNotSupported",
        field,
        format!("Unsupported value: {}: supported values: {}", go_value(value), supported.join(", ")),
    ));
}
