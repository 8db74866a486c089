//! Strict field validation of the built-in kinds: unknown and duplicate fields, found and
//! worded the way upstream's strict JSON decoding (sigs.k8s.io/json) finds and words them.
//!
//! Upstream decodes a request body into the Go type of its kind. A key that names no field of
//! a struct is an unknown field; a field or map key given twice is a duplicate field. Paths
//! join field names and map keys with `.` and add list indexes as `[i]`
//! (`spec.template.spec.containers[0].imagePullPolcy`). The values of unknown fields, and of
//! types that decode themselves (`RawExtension`, `IntOrString`, `Quantity`, `FieldsV1`, the
//! `JSON` of a CRD schema), are not looked into. Errors come in document order, each once, at
//! most [`MAX_STRICT_ERRORS`].

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::builtin::{REF_PREFIX, definition_for, registry};

/// Upstream stops recording strict errors after this many.
pub const MAX_STRICT_ERRORS: usize = 100;

/// Nesting beyond which values are no longer looked into (serde_json refuses bodies nested
/// past 128 anyway).
const MAX_DEPTH: usize = 256;

/// One strict decoding error. `Display` gives upstream's text, which is also the text of the
/// warning upstream returns for it under `fieldValidation=Warn`: `unknown field "spec.foo"`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StrictError {
    Unknown(String),
    Duplicate(String),
}

impl StrictError {
    /// The field's path, `spec.template.spec.containers[0].name`.
    pub fn path(&self) -> &str {
        match self {
            StrictError::Unknown(path) | StrictError::Duplicate(path) => path,
        }
    }
}

impl fmt::Display for StrictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrictError::Unknown(path) => write!(f, "unknown field {}", go_quote(path)),
            StrictError::Duplicate(path) => write!(f, "duplicate field {}", go_quote(path)),
        }
    }
}

/// `strict decoding error: unknown field "spec.foo", duplicate field "spec.replicas"`: the
/// text of a strict decoding failure, as a failed patch reports it.
pub fn strict_decoding_message(errors: &[StrictError]) -> String {
    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("strict decoding error: {}", list.join(", "))
}

/// The message of the `BadRequest` a create or update fails with under
/// `fieldValidation=Strict`, listing `errors` in their order:
/// `Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: ...`.
pub fn strict_errors_message(kind: &str, version: &str, errors: &[StrictError]) -> String {
    format!(
        "{kind} in version {} cannot be handled as a {kind}: {}",
        go_quote(version),
        strict_decoding_message(errors)
    )
}

/// [`strict_errors_message`] with the unknown fields first, then the duplicates. Upstream
/// lists them in the order decoding met them, which [`strict_errors`] keeps; prefer that
/// where the raw body is at hand.
pub fn strict_error_message(kind: &str, version: &str, unknown: &[String], duplicates: &[String]) -> String {
    let errors: Vec<StrictError> = unknown
        .iter()
        .cloned()
        .map(StrictError::Unknown)
        .chain(duplicates.iter().cloned().map(StrictError::Duplicate))
        .collect();
    strict_errors_message(kind, version, &errors)
}

/// The unknown and duplicate fields of a request body for a built-in kind, in document order,
/// as upstream's strict decoding of that kind reports them. For a kind without a schema, only
/// duplicates, looked for everywhere. A body that is not JSON yields what was found before
/// the fault; its parse error is the caller's to report.
pub fn strict_errors(group: &str, version: &str, kind: &str, body: &[u8]) -> Vec<StrictError> {
    let defs = &registry().schemas;
    let root = definition_for(group, version, kind).and_then(|name| defs.get(name));
    let shape = root.map_or(Shape::Any, |schema| shape_of(schema, defs));
    let mut scanner = Scanner { bytes: body, pos: 0, defs, errors: Errors::default() };
    let mut path = String::new();
    let _ = scanner.value(shape, &mut path, 0);
    scanner.errors.list
}

/// The paths of fields given twice in a JSON text, in any object at any depth
/// (`spec.replicas`, `metadata.labels.app`, `spec.containers[0].name`), each once, in
/// document order. This is what upstream finds in bodies it decodes without a type: patches,
/// custom resources. serde_json keeps the last of the duplicates silently.
pub fn duplicate_fields(body: &[u8]) -> Vec<String> {
    // The schema-less scan needs no definitions, and must not generate them for nothing.
    let defs = Map::new();
    let mut scanner = Scanner { bytes: body, pos: 0, defs: &defs, errors: Errors::default() };
    let mut path = String::new();
    let _ = scanner.value(Shape::Any, &mut path, 0);
    scanner.errors.list.into_iter().map(|e| e.path().to_string()).collect()
}

/// The fields of `obj` that the schema of the built-in kind has no place for, with upstream's
/// paths (`metadata.labelz`, `spec.template.spec.containers[0].imagePullPolcy`). Object keys
/// come in serde_json's (sorted) order. Empty for a kind without a schema.
pub fn unknown_fields(group: &str, version: &str, kind: &str, obj: &Value) -> Vec<String> {
    let defs = &registry().schemas;
    let Some(root) = definition_for(group, version, kind).and_then(|name| defs.get(name)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut path = String::new();
    walk(obj, shape_of(root, defs), defs, &mut path, &mut |p| out.push(p.to_string()), 0);
    out.truncate(MAX_STRICT_ERRORS);
    out
}

/// What decoding does with a value, from its schema.
#[derive(Clone, Copy)]
pub(super) enum Shape<'s> {
    /// A struct: these fields and no others.
    Struct(&'s Map<String, Value>),
    /// A map with values of this schema.
    Map(&'s Value),
    /// A list with items of this schema.
    List(&'s Value),
    /// An untyped value: any keys, duplicates reported at any depth.
    Any,
    /// A scalar, or a type that decodes itself: nothing inside is checked.
    Opaque,
}

/// Follows `$ref` and single-element `allOf` wrappers to the schema that describes the value.
#[cfg(test)]
pub(super) fn resolve<'s>(schema: &'s Value, defs: &'s Map<String, Value>) -> &'s Value {
    resolve_named(schema, defs).0
}

/// [`resolve`], with the name of the last definition followed.
pub(super) fn resolve_named<'s>(
    mut schema: &'s Value,
    defs: &'s Map<String, Value>,
) -> (&'s Value, Option<&'s str>) {
    let mut name = None;
    for _ in 0..32 {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            match reference.strip_prefix(REF_PREFIX).and_then(|n| defs.get_key_value(n)) {
                Some((n, target)) => {
                    name = Some(n.as_str());
                    schema = target;
                    continue;
                }
                None => return (schema, name),
            }
        }
        match schema.get("allOf") {
            Some(Value::Array(all)) if all.len() == 1 && schema.get("properties").is_none() => {
                schema = &all[0];
            }
            _ => return (schema, name),
        }
    }
    (schema, name)
}

/// The object types that decode themselves from any JSON object.
const SELF_DECODING: &[&str] =
    &["io.k8s.apimachinery.pkg.runtime.RawExtension", "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1"];

pub(super) fn shape_of<'s>(schema: &'s Value, defs: &'s Map<String, Value>) -> Shape<'s> {
    static NO_FIELDS: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);
    let (schema, name) = resolve_named(schema, defs);
    if let Some(Value::Object(properties)) = schema.get("properties") {
        return Shape::Struct(properties);
    }
    if let Some(values @ Value::Object(_)) = schema.get("additionalProperties") {
        return Shape::Map(values);
    }
    if let Some(items @ Value::Object(_)) = schema.get("items") {
        return Shape::List(items);
    }
    // An object type without fields is a struct without fields (a CRD's `subresources.status`),
    // unless it decodes itself.
    match name {
        Some(name)
            if schema.get("type") == Some(&Value::from("object")) && !SELF_DECODING.contains(&name) =>
        {
            Shape::Struct(&NO_FIELDS)
        }
        _ => Shape::Opaque,
    }
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

fn push_index(path: &mut String, index: usize) {
    use std::fmt::Write;
    let _ = write!(path, "[{index}]");
}

/// Calls `unknown` with the path of every field of `value` its shape has no place for.
pub(super) fn walk(
    value: &Value,
    shape: Shape<'_>,
    defs: &Map<String, Value>,
    path: &mut String,
    unknown: &mut dyn FnMut(&str),
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let len = path.len();
    match (shape, value) {
        (Shape::Struct(properties), Value::Object(map)) => {
            for (key, child) in map {
                push_key(path, key);
                match properties.get(key) {
                    Some(field) => walk(child, shape_of(field, defs), defs, path, unknown, depth + 1),
                    None => unknown(path),
                }
                path.truncate(len);
            }
        }
        (Shape::Map(values), Value::Object(map)) => {
            let inner = shape_of(values, defs);
            for (key, child) in map {
                push_key(path, key);
                walk(child, inner, defs, path, unknown, depth + 1);
                path.truncate(len);
            }
        }
        (Shape::List(items), Value::Array(list)) => {
            let inner = shape_of(items, defs);
            for (index, child) in list.iter().enumerate() {
                push_index(path, index);
                walk(child, inner, defs, path, unknown, depth + 1);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Removes the fields of `value` its shape has no place for, calling `pruned` with the path of
/// each.
pub(super) fn prune(
    value: &mut Value,
    shape: Shape<'_>,
    defs: &Map<String, Value>,
    path: &mut String,
    pruned: &mut dyn FnMut(&str),
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let len = path.len();
    match (shape, value) {
        (Shape::Struct(properties), Value::Object(map)) => {
            map.retain(|key, child| {
                push_key(path, key);
                let keep = match properties.get(key) {
                    Some(field) => {
                        prune(child, shape_of(field, defs), defs, path, pruned, depth + 1);
                        true
                    }
                    None => {
                        pruned(path);
                        false
                    }
                };
                path.truncate(len);
                keep
            });
        }
        (Shape::Map(values), Value::Object(map)) => {
            let inner = shape_of(values, defs);
            for (key, child) in map.iter_mut() {
                push_key(path, key);
                prune(child, inner, defs, path, pruned, depth + 1);
                path.truncate(len);
            }
        }
        (Shape::List(items), Value::Array(list)) => {
            let inner = shape_of(items, defs);
            for (index, child) in list.iter_mut().enumerate() {
                push_index(path, index);
                prune(child, inner, defs, path, pruned, depth + 1);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// The errors found so far: each once, at most [`MAX_STRICT_ERRORS`].
#[derive(Default)]
struct Errors {
    list: Vec<StrictError>,
    seen: HashSet<StrictError>,
}

impl Errors {
    fn push(&mut self, error: StrictError) {
        if self.list.len() < MAX_STRICT_ERRORS && self.seen.insert(error.clone()) {
            self.list.push(error);
        }
    }
}

fn joined(path: &str, key: &str) -> String {
    let mut path = path.to_string();
    push_key(&mut path, key);
    path
}

/// A single pass over JSON text that follows the shapes of the schema. It checks structure
/// only as far as it needs to find its way; `None` means the text is not JSON.
struct Scanner<'b, 's> {
    bytes: &'b [u8],
    pos: usize,
    defs: &'s Map<String, Value>,
    errors: Errors,
}

impl<'b, 's> Scanner<'b, 's> {
    fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// Skips a string (at its opening quote); `true` when it held escapes.
    fn skip_string(&mut self) -> Option<bool> {
        self.pos += 1;
        let mut escaped = false;
        loop {
            match *self.bytes.get(self.pos)? {
                b'"' => {
                    self.pos += 1;
                    return Some(escaped);
                }
                b'\\' => {
                    escaped = true;
                    self.pos += 2;
                }
                _ => self.pos += 1,
            }
        }
    }

    /// A string's value (at its opening quote).
    fn string(&mut self) -> Option<Cow<'b, str>> {
        let start = self.pos;
        let escaped = self.skip_string()?;
        let raw = self.bytes.get(start..self.pos)?;
        if escaped {
            serde_json::from_slice::<String>(raw).ok().map(Cow::Owned)
        } else {
            std::str::from_utf8(&raw[1..raw.len() - 1]).ok().map(Cow::Borrowed)
        }
    }

    /// Skips one value of any kind, without recursion.
    fn skip(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'{' | b'[' => {
                    depth += 1;
                    self.pos += 1;
                }
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    self.pos += 1;
                }
                b',' | b':' if depth > 0 => self.pos += 1,
                b',' | b':' => return None,
                b'"' => {
                    self.skip_string()?;
                }
                _ => {
                    let start = self.pos;
                    while let Some(byte) = self.bytes.get(self.pos)
                        && !matches!(
                            byte,
                            b',' | b':' | b'{' | b'}' | b'[' | b']' | b'"' | b' ' | b'\t' | b'\n' | b'\r'
                        )
                    {
                        self.pos += 1;
                    }
                    if self.pos == start {
                        return None;
                    }
                }
            }
            if depth == 0 {
                return Some(());
            }
        }
    }

    fn value(&mut self, shape: Shape<'s>, path: &mut String, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return self.skip();
        }
        match (self.peek()?, shape) {
            (b'{', Shape::Struct(_) | Shape::Map(_) | Shape::Any) => self.object(shape, path, depth),
            (b'[', Shape::List(_) | Shape::Any) => self.array(shape, path, depth),
            _ => self.skip(),
        }
    }

    fn object(&mut self, shape: Shape<'s>, path: &mut String, depth: usize) -> Option<()> {
        self.pos += 1;
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        let mut seen: HashSet<Cow<'b, str>> = HashSet::new();
        let len = path.len();
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            self.eat(b':')?;
            let inner = match shape {
                Shape::Struct(properties) => {
                    properties.get(key.as_ref()).map(|field| shape_of(field, self.defs))
                }
                Shape::Map(values) => Some(shape_of(values, self.defs)),
                _ => Some(Shape::Any),
            };
            match inner {
                Some(inner) => {
                    if seen.contains(&key) {
                        self.errors.push(StrictError::Duplicate(joined(path, &key)));
                    }
                    push_key(path, &key);
                    seen.insert(key);
                    self.value(inner, path, depth + 1)?;
                    path.truncate(len);
                }
                None => {
                    self.errors.push(StrictError::Unknown(joined(path, &key)));
                    self.skip()?;
                }
            }
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, shape: Shape<'s>, path: &mut String, depth: usize) -> Option<()> {
        self.pos += 1;
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(());
        }
        let inner = match shape {
            Shape::List(items) => shape_of(items, self.defs),
            _ => Shape::Any,
        };
        let len = path.len();
        for index in 0.. {
            push_index(path, index);
            self.value(inner, path, depth + 1)?;
            path.truncate(len);
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => break,
                _ => return None,
            }
        }
        self.pos += 1;
        Some(())
    }
}

/// Go's `strconv.Quote` for the strings that occur here: quotes and backslashes escaped,
/// control characters written as escapes.
pub(super) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
