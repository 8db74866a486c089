//! Server-side printing: `meta.k8s.io/v1` Tables with upstream's columns per kind.
//!
//! Each kind has a [`Printer`]: its column definitions and a function from an object to its
//! cells. Upstream's API server always prints with `Wide: true`, so every row carries the
//! priority-1 cells too and the client hides them unless asked for `-o wide`.

mod apps;
mod batch;
mod core;
mod custom;

pub use custom::custom_table;
mod networking;
mod other;

use std::cmp::Ordering;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

/// What each row carries besides its cells (the `includeObject` parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn from_param(p: Option<&str>) -> Self {
        match p {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

struct Column {
    name: &'static str,
    kind: &'static str,
    format: &'static str,
    description: &'static str,
    priority: u8,
}

/// A priority-0 column.
const fn col(name: &'static str, kind: &'static str, description: &'static str) -> Column {
    Column { name, kind, format: "", description, priority: 0 }
}

/// A priority-1 column, shown only by `-o wide`.
const fn wide(name: &'static str, kind: &'static str, description: &'static str) -> Column {
    Column { name, kind, format: "", description, priority: 1 }
}

const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    description: "Name must be unique within a namespace.",
    priority: 0,
};
const AGE: Column = col(
    "Age",
    "string",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
);
const CONTAINERS: Column = wide("Containers", "string", "Names of each container in the template.");
const IMAGES: Column = wide("Images", "string", "Images referenced by each container in the template.");
const SELECTOR: Column = wide("Selector", "string", "Label query over pods.");

/// A kind's column definitions.
type Columns = fn() -> Vec<Column>;
/// A kind's cells for one object, one per column.
type Cells = fn(&Value, Timestamp) -> Vec<Value>;

/// How one kind prints: its columns, and the cells of one object.
struct Printer {
    columns: Columns,
    cells: Cells,
}

fn printer(kind: &str) -> Printer {
    self::core::printer(kind)
        .or_else(|| apps::printer(kind))
        .or_else(|| batch::printer(kind))
        .or_else(|| networking::printer(kind))
        .or_else(|| other::printer(kind))
        .unwrap_or(Printer { columns: default_columns, cells: default_cells })
}

fn default_columns() -> Vec<Column> {
    vec![
        NAME,
        col(
            "Created At",
            "date",
            "CreationTimestamp is a timestamp representing the server time when this object was created.",
        ),
    ]
}

fn default_cells(obj: &Value, _now: Timestamp) -> Vec<Value> {
    vec![json!(name(obj)), json!(s(obj, "/metadata/creationTimestamp"))]
}

fn columns(kind: &str) -> Vec<Column> {
    (printer(kind).columns)()
}

fn cells(kind: &str, obj: &Value, now: Timestamp) -> Vec<Value> {
    (printer(kind).cells)(obj, now)
}

/// A Table of `objects` of `kind`, read at `resource_version`.
pub fn table(
    kind: &str,
    objects: &[Value],
    resource_version: &str,
    include: IncludeObject,
    now: Timestamp,
) -> Value {
    let defs: Vec<Value> = columns(kind)
        .iter()
        .map(|c| {
            json!({"name": c.name, "type": c.kind, "format": c.format, "description": c.description, "priority": c.priority})
        })
        .collect();
    let rows: Vec<Value> = objects.iter().map(|o| row(kind, o, include, now)).collect();
    envelope(defs, rows, resource_version)
}

/// The Table object around column definitions and rows.
fn envelope(defs: Vec<Value>, rows: Vec<Value>, resource_version: &str) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": defs,
        "rows": rows,
    })
}

fn row(kind: &str, obj: &Value, include: IncludeObject, now: Timestamp) -> Value {
    let mut row = object_row(cells(kind, obj, now), obj, include);
    if let Some(conditions) = row_conditions(kind, obj) {
        row["conditions"] = conditions;
    }
    row
}

/// A row of `cells` carrying what `include` asks of `obj`.
fn object_row(cells: Vec<Value>, obj: &Value, include: IncludeObject) -> Value {
    let mut row = json!({"cells": cells});
    match include {
        IncludeObject::None => {}
        IncludeObject::Object => row["object"] = obj.clone(),
        IncludeObject::Metadata => {
            row["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
            })
        }
    }
    row
}

/// Upstream marks the rows of finished pods as Completed.
fn row_conditions(kind: &str, obj: &Value) -> Option<Value> {
    if kind != "Pod" {
        return None;
    }
    let (reason, message) = match s(obj, "/status/phase") {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}

/// Age of an RFC 3339 timestamp, as upstream's `HumanDuration` prints it.
pub fn age(created: &str, now: Timestamp) -> String {
    match created.parse::<Timestamp>() {
        Ok(t) => human_duration(now.as_second() - t.as_second()),
        Err(_) => "<invalid>".into(),
    }
}

/// Upstream's `duration.HumanDuration` over whole seconds.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let s = seconds.max(0);
    let (m, h) = (s / 60, s / 3600);
    let d = h / 24;
    let y = d / 365;
    let with = |big: i64, bu: &str, small: i64, su: &str| {
        if small == 0 { format!("{big}{bu}") } else { format!("{big}{bu}{small}{su}") }
    };
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        with(m, "m", s % 60, "s")
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        with(h, "h", m % 60, "m")
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        with(d, "d", h % 24, "h")
    } else if h < 24 * 365 * 2 {
        format!("{d}d")
    } else if h < 24 * 365 * 8 {
        with(y, "y", d % 365, "d")
    } else {
        format!("{y}y")
    }
}

// ---- Reading objects -------------------------------------------------------------------------

/// The string at a JSON pointer, or "" when absent or not a string.
fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The non-empty string at a JSON pointer.
fn opt_s<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str).filter(|x| !x.is_empty())
}

/// The integer at a JSON pointer, if there is one.
fn opt_int(v: &Value, ptr: &str) -> Option<i64> {
    v.pointer(ptr).and_then(|x| x.as_i64().or_else(|| x.as_f64().map(|f| f as i64)))
}

/// The integer at a JSON pointer, 0 when absent (Go's zero value).
fn int(v: &Value, ptr: &str) -> i64 {
    opt_int(v, ptr).unwrap_or(0)
}

/// The boolean at a JSON pointer, false when absent.
fn boolean(v: &Value, ptr: &str) -> bool {
    v.pointer(ptr).and_then(Value::as_bool).unwrap_or(false)
}

/// The array at a JSON pointer, empty when absent.
fn arr<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// The object at a JSON pointer.
fn map<'a>(v: &'a Value, ptr: &str) -> Option<&'a Map<String, Value>> {
    v.pointer(ptr).and_then(Value::as_object)
}

fn name(obj: &Value) -> &str {
    s(obj, "/metadata/name")
}

/// The Age cell: time since creation, `<unknown>` without a creation timestamp.
fn age_cell(obj: &Value, now: Timestamp) -> Value {
    json!(since(opt_s(obj, "/metadata/creationTimestamp"), now))
}

/// Upstream's `translateTimestampSince`: `<unknown>` for a zero (absent) time.
fn since(ts: Option<&str>, now: Timestamp) -> String {
    match ts.filter(|t| !t.is_empty()) {
        Some(t) => age(t, now),
        None => "<unknown>".into(),
    }
}

/// Whole seconds from `from` to `to`, both RFC 3339.
fn seconds_between(from: &str, to: &str) -> Option<i64> {
    let (a, b) = (from.parse::<Timestamp>().ok()?, to.parse::<Timestamp>().ok()?);
    Some(b.as_second() - a.as_second())
}

/// A resource quantity as a string; quantities are strings in JSON but tolerate numbers.
fn quantity(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(q)) => q.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "0".into(),
    }
}

/// An int-or-string value as upstream's `IntOrString.String()` prints it.
fn int_or_string(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Upstream's `labels.FormatLabels`: sorted `k=v` pairs, `<none>` when empty.
fn format_labels(m: Option<&Map<String, Value>>) -> String {
    let mut pairs: Vec<String> =
        m.into_iter().flatten().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect();
    if pairs.is_empty() {
        return "<none>".into();
    }
    pairs.sort();
    pairs.join(",")
}

/// A `metav1.LabelSelector` as upstream's `LabelSelectorAsSelector(..).String()` prints it:
/// requirements sorted by key, set values sorted. Err for a malformed selector.
fn selector_string(sel: Option<&Value>) -> Result<String, ()> {
    let Some(sel) = sel.filter(|v| !v.is_null()) else {
        return Ok(String::new());
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    for (k, v) in map(sel, "/matchLabels").into_iter().flatten() {
        reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())));
    }
    for e in arr(sel, "/matchExpressions") {
        let key = s(e, "/key");
        let mut values: Vec<&str> = arr(e, "/values").iter().filter_map(Value::as_str).collect();
        values.sort_unstable();
        let text = match (s(e, "/operator"), values.is_empty()) {
            ("In", false) => format!("{key} in ({})", values.join(",")),
            ("NotIn", false) => format!("{key} notin ({})", values.join(",")),
            ("Exists", true) => key.to_string(),
            ("DoesNotExist", true) => format!("!{key}"),
            _ => return Err(()),
        };
        reqs.push((key.to_string(), text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(reqs.into_iter().map(|(_, t)| t).collect::<Vec<_>>().join(","))
}

/// Upstream's `metav1.FormatLabelSelector`: `<none>` for an empty selector, `<error>` for a bad one.
fn format_label_selector(sel: Option<&Value>) -> String {
    match selector_string(sel) {
        Ok(x) if x.is_empty() => "<none>".into(),
        Ok(x) => x,
        Err(()) => "<error>".into(),
    }
}

/// The names and images of the containers of the pod spec at `spec_ptr`, comma-joined.
fn layout_containers(obj: &Value, spec_ptr: &str) -> (String, String) {
    let containers = arr(obj, &format!("{spec_ptr}/containers"));
    let names: Vec<&str> = containers.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| s(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// Upstream's `listWithMoreString`: the first `max` items, then "+ N more...".
fn list_with_more(list: &[String], count: usize, max: usize) -> String {
    let shown = list.iter().take(max).cloned().collect::<Vec<_>>().join(",");
    if count > max {
        return format!("{shown} + {} more...", count - max);
    }
    if shown.is_empty() { "<unset>".into() } else { shown }
}

/// The condition of `kind` in a `conditions` array; upstream looks at the first of a type only.
fn condition<'a>(conditions: &'a [Value], kind: &str) -> Option<&'a Value> {
    conditions.iter().find(|c| s(c, "/type") == kind)
}

fn condition_true(conditions: &[Value], kind: &str) -> bool {
    condition(conditions, kind).is_some_and(|c| s(c, "/status") == "True")
}

/// Compares two RFC 3339 timestamps by instant; unparsable ones sort first.
fn cmp_time(a: &str, b: &str) -> Ordering {
    a.parse::<Timestamp>().ok().cmp(&b.parse::<Timestamp>().ok())
}

#[cfg(test)]
mod tests;
