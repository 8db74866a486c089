//! Server-side printing: `meta.k8s.io/v1` Tables with upstream's columns per kind.

use jiff::Timestamp;
use serde_json::{Value, json};

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

const fn col(name: &'static str, kind: &'static str, description: &'static str) -> Column {
    Column { name, kind, format: "", description, priority: 0 }
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

fn columns(kind: &str) -> Vec<Column> {
    match kind {
        "Namespace" => vec![NAME, col("Status", "string", "The status of the namespace"), AGE],
        "ConfigMap" => vec![NAME, col("Data", "string", "Data contains the configuration data."), AGE],
        "Secret" => vec![
            NAME,
            col("Type", "string", "Used to facilitate programmatic handling of secret data."),
            col("Data", "string", "Data contains the secret data."),
            AGE,
        ],
        "ServiceAccount" => vec![NAME, col("Secrets", "string", "Secrets"), AGE],
        _ => vec![
            NAME,
            col(
                "Created At",
                "date",
                "CreationTimestamp is a timestamp representing the server time when this object was created.",
            ),
        ],
    }
}

fn cells(kind: &str, obj: &Value, now: Timestamp) -> Vec<Value> {
    let name = json!(obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(""));
    let created = obj.pointer("/metadata/creationTimestamp").and_then(Value::as_str);
    let age = json!(created.map_or_else(|| "<unknown>".to_string(), |c| age(c, now)));
    let count = |field: &str| {
        let n = obj.get(field).and_then(Value::as_object).map_or(0, |m| m.len());
        json!(n)
    };
    match kind {
        "Namespace" => {
            vec![name, json!(obj.pointer("/status/phase").and_then(Value::as_str).unwrap_or("")), age]
        }
        "ConfigMap" => {
            let n = obj.get("data").and_then(Value::as_object).map_or(0, |m| m.len())
                + obj.get("binaryData").and_then(Value::as_object).map_or(0, |m| m.len());
            vec![name, json!(n), age]
        }
        "Secret" => {
            vec![name, json!(obj.get("type").and_then(Value::as_str).unwrap_or("")), count("data"), age]
        }
        "ServiceAccount" => {
            let n = obj.get("secrets").and_then(Value::as_array).map_or(0, Vec::len);
            vec![name, json!(n), age]
        }
        _ => vec![name, json!(created.unwrap_or(""))],
    }
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
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": defs,
        "rows": rows,
    })
}

fn row(kind: &str, obj: &Value, include: IncludeObject, now: Timestamp) -> Value {
    let mut row = json!({"cells": cells(kind, obj, now)});
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_match_upstream() {
        for (secs, want) in [
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (125, "2m5s"),
            (600, "10m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60, "3h1m"),
            (47 * 3600, "47h"),
            (50 * 3600, "2d2h"),
            (10 * 86400, "10d"),
            (3 * 365 * 86400, "3y"),
            (3 * 365 * 86400 + 86400, "3y1d"),
            (9 * 365 * 86400, "9y"),
            (-5, "<invalid>"),
        ] {
            assert_eq!(human_duration(secs), want, "{secs}");
        }
    }

    #[test]
    fn namespace_rows() {
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let ns = json!({"metadata": {"name": "default", "creationTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Active"}});
        let t = table("Namespace", &[ns], "42", IncludeObject::Metadata, now);
        assert_eq!(t["rows"][0]["cells"], json!(["default", "Active", "10m"]));
        assert_eq!(t["metadata"]["resourceVersion"], "42");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["columnDefinitions"][0]["name"], "Name");
    }
}
