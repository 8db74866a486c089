//! Field paths and field errors, rendered the way upstream's `field.Error` renders them: the
//! cause message is the error body (`Invalid value: 5: detail`), the field is the path.

use std::fmt::Write as _;

use serde_json::Value;

use crate::status::Cause;

/// A field path such as `spec.template.spec.containers[0].image`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    pub fn new(root: &str) -> Path {
        Path(root.to_string())
    }

    pub fn child(&self, name: &str) -> Path {
        if self.0.is_empty() { Path(name.to_string()) } else { Path(format!("{}.{name}", self.0)) }
    }

    pub fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }

    pub fn key(&self, k: &str) -> Path {
        Path(format!("{}[{k}]", self.0))
    }

    #[cfg(test)]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The offending value of an error, in the shapes upstream prints differently.
pub enum Bad<'a> {
    Str(&'a str),
    Int(i64),
    /// Any JSON value, printed as Go's `json.Marshal` prints it (strings quoted, maps with
    /// sorted keys).
    Json(&'a Value),
    /// Already rendered (for values whose Go type marshals differently from their JSON form).
    Raw(String),
}

impl Bad<'_> {
    fn render(&self) -> String {
        match self {
            Bad::Str(s) => go_quote(s),
            Bad::Int(i) => i.to_string(),
            Bad::Json(Value::String(s)) => go_quote(s),
            Bad::Json(v) => go_json(v),
            Bad::Raw(s) => s.clone(),
        }
    }
}

/// The causes collected while validating one object, in upstream's order.
#[derive(Default, Debug)]
pub struct Errors(pub Vec<Cause>);

impl Errors {
    fn push(&mut self, reason: &str, path: &Path, message: String) {
        let cause = Cause { reason: reason.to_string(), message, field: path.0.clone() };
        // Upstream's aggregate drops exact duplicates.
        if !self.0.contains(&cause) {
            self.0.push(cause);
        }
    }

    pub fn invalid(&mut self, path: &Path, value: Bad<'_>, detail: &str) {
        let mut message = format!("Invalid value: {}", value.render());
        if !detail.is_empty() {
            let _ = write!(message, ": {detail}");
        }
        self.push("FieldValueInvalid", path, message);
    }

    /// One `Invalid` error per message, as upstream loops over a format check's messages.
    pub fn invalid_each(&mut self, path: &Path, value: &str, messages: Vec<String>) {
        for m in messages {
            self.invalid(path, Bad::Str(value), &m);
        }
    }

    pub fn required(&mut self, path: &Path, detail: &str) {
        self.push("FieldValueRequired", path, with_detail("Required value", detail));
    }

    pub fn forbidden(&mut self, path: &Path, detail: &str) {
        self.push("FieldValueForbidden", path, with_detail("Forbidden", detail));
    }

    pub fn duplicate(&mut self, path: &Path, value: Bad<'_>) {
        self.push("FieldValueDuplicate", path, format!("Duplicate value: {}", value.render()));
    }

    pub fn not_found(&mut self, path: &Path, value: Bad<'_>) {
        self.push("FieldValueNotFound", path, format!("Not found: {}", value.render()));
    }

    pub fn not_supported(&mut self, path: &Path, value: Bad<'_>, supported: &[&str]) {
        let mut message = format!("Unsupported value: {}", value.render());
        if !supported.is_empty() {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            let _ = write!(message, ": supported values: {}", quoted.join(", "));
        }
        self.push("FieldValueNotSupported", path, message);
    }

    /// `TooLong`: the value itself is never shown.
    pub fn too_long(&mut self, path: &Path, max_bytes: usize) {
        self.push("FieldValueTooLong", path, format!("Too long: may not be more than {max_bytes} bytes"));
    }

    pub fn extend(&mut self, other: Errors) {
        for c in other.0 {
            if !self.0.contains(&c) {
                self.0.push(c);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn with_detail(kind: &str, detail: &str) -> String {
    if detail.is_empty() { kind.to_string() } else { format!("{kind}: {detail}") }
}

/// Go's `%q` for the strings in messages.
pub fn go_quote(s: &str) -> String {
    crate::selector::go_quote(s)
}

/// Go's `json.Marshal` output for a JSON value: compact, map keys sorted, and `<`, `>`, `&`
/// escaped as Go escapes them for HTML safety.
pub fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(k, out);
                out.push(':');
                write_json(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::String(s) => write_json_str(s, out),
        other => out.push_str(&other.to_string()),
    }
}

fn write_json_str(s: &str, out: &mut String) {
    let encoded = Value::String(s.to_string()).to_string();
    for c in encoded.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c => out.push(c),
        }
    }
}

// ---- reading JSON the way Go reads a typed field: absent, null and the zero value coincide ----

pub fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

/// A string field; absent or null reads as "".
pub fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// An integer field, if set to a number.
pub fn int_of(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

pub fn array_of<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

pub fn object_of<'a>(v: &'a Value, key: &str) -> Option<&'a serde_json::Map<String, Value>> {
    v.get(key).and_then(Value::as_object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_compose_like_upstream() {
        let p = Path::new("spec").child("containers").index(0).child("resources").child("limits").key("cpu");
        assert_eq!(p.as_str(), "spec.containers[0].resources.limits[cpu]");
        assert_eq!(Path::new("").child("a").as_str(), "a");
    }

    #[test]
    fn bodies_read_like_field_error_bodies() {
        let mut e = Errors::default();
        let p = Path::new("spec.replicas");
        e.invalid(&p, Bad::Int(-1), "must be greater than or equal to 0");
        e.required(&Path::new("spec.selector"), "");
        e.not_supported(&Path::new("spec.type"), Bad::Str("Foo"), &["A", "B"]);
        e.duplicate(&Path::new("x"), Bad::Str("a"));
        e.forbidden(&Path::new("y"), "no");
        e.too_long(&Path::new("metadata.annotations"), 262144);
        e.invalid(&p, Bad::Int(-1), "must be greater than or equal to 0");
        let messages: Vec<&str> = e.0.iter().map(|c| c.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "Invalid value: -1: must be greater than or equal to 0",
                "Required value",
                "Unsupported value: \"Foo\": supported values: \"A\", \"B\"",
                "Duplicate value: \"a\"",
                "Forbidden: no",
                "Too long: may not be more than 262144 bytes",
            ]
        );
        assert_eq!(e.0[2].reason, "FieldValueNotSupported");
    }

    #[test]
    fn json_values_print_like_go_marshal() {
        assert_eq!(go_json(&json!({"b": 1, "a": "<x>"})), r#"{"a":"\u003cx\u003e","b":1}"#);
        assert_eq!(Bad::Json(&json!("s")).render(), "\"s\"");
        assert_eq!(Bad::Json(&json!(null)).render(), "null");
    }
}
