//! Reading and writing JSON the way upstream's Go types do, so that converted objects and the
//! annotations carrying round-trip data look byte for byte like upstream's.
//!
//! Conversions read their input through a [`Reader`], which checks the type of every field it
//! hands out, and build their output as [`Go`] values, which keep struct fields in declaration
//! order (Go's encoder writes them that way; `serde_json` maps here sort their keys).

use std::sync::LazyLock;

use serde_json::{Map, Value};

/// Why a field could not be read: its dotted path and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Malformed(pub String);

pub(crate) type Read<T> = Result<T, Malformed>;

/// A JSON value being built in Go's field order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Go {
    /// Written as `serde_json` writes it: maps with sorted keys, as Go writes its maps.
    Json(Value),
    /// A struct: members in declaration order.
    Struct(Vec<(&'static str, Go)>),
    List(Vec<Go>),
}

impl Go {
    pub(crate) fn str(s: impl Into<String>) -> Go {
        Go::Json(Value::String(s.into()))
    }

    pub(crate) fn int(n: i64) -> Go {
        Go::Json(Value::from(n))
    }

    pub(crate) fn null() -> Go {
        Go::Json(Value::Null)
    }

    pub(crate) fn into_value(self) -> Value {
        match self {
            Go::Json(v) => v,
            Go::Struct(fields) => {
                Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v.into_value())).collect())
            }
            Go::List(items) => Value::Array(items.into_iter().map(Go::into_value).collect()),
        }
    }

    /// The text `json.Marshal` produces for this value.
    pub(crate) fn marshal(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        go_escape(&out)
    }

    fn write(&self, out: &mut String) {
        match self {
            Go::Json(v) => out.push_str(&v.to_string()),
            Go::Struct(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String((*key).to_string()).to_string());
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
            Go::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
        }
    }
}

/// Go's encoder escapes `<`, `>` and `&` (to keep JSON safe inside HTML) and the JavaScript
/// line separators. They can only occur inside strings, so replacing them in the text is safe.
fn go_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A struct being assembled member by member, with Go's `omitempty` decisions made by the
/// caller choosing `push` or `push_some`.
#[derive(Default)]
pub(crate) struct Fields(Vec<(&'static str, Go)>);

impl Fields {
    pub(crate) fn new() -> Self {
        Fields(Vec::new())
    }

    pub(crate) fn push(&mut self, key: &'static str, value: Go) -> &mut Self {
        self.0.push((key, value));
        self
    }

    /// An `omitempty` pointer or slice: written only when present.
    pub(crate) fn push_some(&mut self, key: &'static str, value: Option<Go>) -> &mut Self {
        if let Some(v) = value {
            self.0.push((key, v));
        }
        self
    }

    /// An `omitempty` string: written only when not empty.
    pub(crate) fn push_str(&mut self, key: &'static str, value: Option<String>) -> &mut Self {
        self.push_some(key, value.filter(|s| !s.is_empty()).map(Go::str))
    }

    /// An `omitempty` integer: written only when not zero.
    pub(crate) fn push_nonzero(&mut self, key: &'static str, value: Option<i64>) -> &mut Self {
        self.push_some(key, value.filter(|n| *n != 0).map(Go::int))
    }

    pub(crate) fn build(&mut self) -> Go {
        Go::Struct(std::mem::take(&mut self.0))
    }
}

/// Typed access to one JSON object. `fold` matches member names case-insensitively, as
/// `encoding/json` does (the annotations are decoded with it); request bodies and stored
/// objects are decoded case-sensitively upstream. A `null` member reads as absent, as Go
/// leaves the field at its zero value.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    map: &'a Map<String, Value>,
    fold: bool,
    path: String,
}

impl<'a> Reader<'a> {
    /// Reads `value`, which must be a JSON object; `path` names it in errors.
    pub(crate) fn new(value: &'a Value, path: &str, fold: bool) -> Read<Reader<'a>> {
        match value {
            Value::Object(map) => Ok(Reader { map, fold, path: path.to_string() }),
            other => Err(Malformed(format!("{path}: expected an object, got {}", type_name(other)))),
        }
    }

    fn at(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_string() } else { format!("{}.{key}", self.path) }
    }

    fn bad(&self, key: &str, want: &str, got: &Value) -> Malformed {
        Malformed(format!("{}: expected {want}, got {}", self.at(key), type_name(got)))
    }

    /// The member's value, `None` when absent or null.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        let found = self.map.get(key).or_else(|| {
            if self.fold {
                self.map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
            } else {
                None
            }
        });
        found.filter(|v| !v.is_null())
    }

    pub(crate) fn string(&self, key: &str) -> Read<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.bad(key, "a string", other)),
        }
    }

    /// A string field without `omitempty`: Go writes "" when it is unset.
    pub(crate) fn string_or_empty(&self, key: &str) -> Read<String> {
        Ok(self.string(key)?.unwrap_or_default())
    }

    /// An `int32`: Go rejects fractions and values out of range.
    pub(crate) fn int32(&self, key: &str) -> Read<Option<i64>> {
        self.integer(key, i64::from(i32::MIN), i64::from(i32::MAX))
    }

    pub(crate) fn int64(&self, key: &str) -> Read<Option<i64>> {
        self.integer(key, i64::MIN, i64::MAX)
    }

    fn integer(&self, key: &str, min: i64, max: i64) -> Read<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.as_i64().filter(|n| (min..=max).contains(n)) {
                Some(n) => Ok(Some(n)),
                None => Err(self.bad(key, "an integer in range", v)),
            },
        }
    }

    /// A `resource.Quantity`: a string (or bare number) that parses as one. It is kept as
    /// written; Go would print its canonical form.
    pub(crate) fn quantity(&self, key: &str) -> Read<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(v @ (Value::String(_) | Value::Number(_))) => match crate::defaults::quantity::nanos(v) {
                Some(_) => Ok(Some(match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })),
                None => {
                    Err(Malformed(format!("{}: quantities must match the regular expression", self.at(key))))
                }
            },
            Some(other) => Err(self.bad(key, "a quantity", other)),
        }
    }

    /// A `metav1.Time` or `MicroTime`: a string, kept as written.
    pub(crate) fn time(&self, key: &str) -> Read<Option<String>> {
        self.string(key)
    }

    pub(crate) fn object(&self, key: &str) -> Read<Option<Reader<'a>>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => Reader::new(v, &self.at(key), self.fold).map(Some),
        }
    }

    /// A struct member Go decodes into a non-pointer field: an absent one reads as empty.
    pub(crate) fn object_or_empty(&self, key: &str) -> Read<Reader<'a>> {
        static EMPTY: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);
        match self.object(key)? {
            Some(r) => Ok(r),
            None => Ok(Reader { map: &EMPTY, fold: self.fold, path: self.at(key) }),
        }
    }

    /// A member that must be an object, copied as it is (a type both versions share).
    pub(crate) fn raw_object(&self, key: &str) -> Read<Option<Value>> {
        Ok(self.object(key)?.map(|r| Value::Object(r.map.clone())))
    }

    /// A list of objects; `None` when absent or null (Go's nil slice).
    pub(crate) fn objects(&self, key: &str) -> Read<Option<Vec<Reader<'a>>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| Reader::new(item, &format!("{}[{i}]", self.at(key)), self.fold))
                .collect::<Read<Vec<_>>>()
                .map(Some),
            Some(other) => Err(self.bad(key, "a list", other)),
        }
    }

    /// A list of strings; `None` when absent or null.
    pub(crate) fn strings(&self, key: &str) -> Read<Option<Vec<String>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.bad(key, "a list of strings", other)),
                })
                .collect::<Read<Vec<_>>>()
                .map(Some),
            Some(other) => Err(self.bad(key, "a list", other)),
        }
    }

    /// A `map[string]string`; `None` when absent or null.
    pub(crate) fn string_map(&self, key: &str) -> Read<Option<Map<String, Value>>> {
        let Some(r) = self.object(key)? else { return Ok(None) };
        for (k, v) in r.map {
            if !v.is_string() {
                return Err(Malformed(format!("{}.{k}: expected a string, got {}", r.path, type_name(v))));
            }
        }
        Ok(Some(r.map.clone()))
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A `*metav1.LabelSelector` in Go's field order; wrong types are malformed.
pub(crate) fn label_selector(r: &Reader) -> Read<Go> {
    let expressions = match r.objects("matchExpressions")? {
        Some(items) => Some(Go::List(
            items
                .iter()
                .map(|e| {
                    Ok(Fields::new()
                        .push("key", Go::str(e.string_or_empty("key")?))
                        .push("operator", Go::str(e.string_or_empty("operator")?))
                        .push_some("values", e.strings("values")?.filter(|v| !v.is_empty()).map(strings))
                        .build())
                })
                .collect::<Read<Vec<_>>>()?,
        )),
        None => None,
    };
    Ok(Fields::new()
        .push_some(
            "matchLabels",
            r.string_map("matchLabels")?.filter(|m| !m.is_empty()).map(|m| Go::Json(Value::Object(m))),
        )
        .push_some("matchExpressions", expressions.filter(|e| !matches!(e, Go::List(l) if l.is_empty())))
        .build())
}

fn strings(items: Vec<String>) -> Go {
    Go::List(items.into_iter().map(Go::str).collect())
}

/// A `CrossVersionObjectReference` (`kind`, `name`, `apiVersion` when set).
pub(crate) fn object_reference(r: &Reader) -> Read<Go> {
    Ok(Fields::new()
        .push("kind", Go::str(r.string_or_empty("kind")?))
        .push("name", Go::str(r.string_or_empty("name")?))
        .push_str("apiVersion", r.string("apiVersion")?)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn structs_keep_field_order_and_escape_like_go() {
        let go = Fields::new()
            .push("type", Go::str("Pods"))
            .push("a<b>&c", Go::Json(json!({"z": 1, "a": "\u{2028}"})))
            .push("list", Go::List(vec![Go::int(1), Go::null()]))
            .build();
        assert_eq!(
            go.marshal(),
            r#"{"type":"Pods","a\u003cb\u003e\u0026c":{"a":"\u2028","z":1},"list":[1,null]}"#
        );
    }

    #[test]
    fn readers_check_types_and_fold_names_when_asked() {
        let v = json!({"MetricName": "qps", "n": 1.5, "big": 3_000_000_000_i64, "q": "10x", "gone": null});
        let strict = Reader::new(&v, "spec", false).unwrap();
        assert_eq!(strict.string("metricName").unwrap(), None);
        assert!(strict.get("gone").is_none());
        let folded = Reader::new(&v, "spec", true).unwrap();
        assert_eq!(folded.string("metricName").unwrap().as_deref(), Some("qps"));
        assert_eq!(folded.int32("n").unwrap_err().0, "spec.n: expected an integer in range, got a number");
        assert!(folded.int32("big").is_err());
        assert_eq!(folded.int64("big").unwrap(), Some(3_000_000_000));
        assert!(folded.quantity("q").is_err());
        assert!(Reader::new(&json!([]), "x", false).is_err());
    }

    #[test]
    fn label_selectors_are_written_in_go_order() {
        let v = json!({"matchExpressions": [{"values": ["a"], "operator": "In", "key": "k"}], "matchLabels": {"b": "1", "a": "2"}});
        let sel = label_selector(&Reader::new(&v, "", false).unwrap()).unwrap();
        assert_eq!(
            sel.marshal(),
            r#"{"matchLabels":{"a":"2","b":"1"},"matchExpressions":[{"key":"k","operator":"In","values":["a"]}]}"#
        );
    }
}
