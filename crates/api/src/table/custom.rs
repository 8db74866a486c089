//! Tables for custom resources: Name, then the definition's `additionalPrinterColumns`
//! (or Age when it has none), with cells read by JSONPath.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{IncludeObject, age, envelope, object_row};
use crate::resources::PrinterColumn;

/// A Table of custom objects printed with `columns`.
pub fn custom_table(
    columns: &[PrinterColumn],
    objects: &[Value],
    resource_version: &str,
    include: IncludeObject,
    now: Timestamp,
) -> Value {
    let age_column = PrinterColumn {
        name: "Age".into(),
        type_: "date".into(),
        format: String::new(),
        description: String::new(),
        priority: 0,
        json_path: ".metadata.creationTimestamp".into(),
    };
    let columns: Vec<&PrinterColumn> =
        if columns.is_empty() { vec![&age_column] } else { columns.iter().collect() };
    let mut defs = vec![json!({
        "name": "Name", "type": "string", "format": "name", "priority": 0,
        "description": "Name must be unique within a namespace.",
    })];
    defs.extend(columns.iter().map(|c| {
        json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority})
    }));
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let mut cells = vec![json!(obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(""))];
            cells.extend(columns.iter().map(|c| cell(c, obj, now)));
            object_row(cells, obj, include)
        })
        .collect();
    envelope(defs, rows, resource_version)
}

fn cell(column: &PrinterColumn, obj: &Value, now: Timestamp) -> Value {
    match json_path(obj, &column.json_path) {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) if column.type_ == "date" => json!(age(s, now)),
        Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => v.clone(),
        Some(other) => json!(other.to_string()),
    }
}

/// The value at a simple JSONPath (`.spec.items[0].name`, with or without braces).
fn json_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}').trim_start_matches('$');
    let mut cur = obj;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (field, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !field.is_empty() {
            cur = cur.get(field)?;
        }
        for index in indexes.split('[').filter(|i| !i.is_empty()) {
            let i: usize = index.trim_end_matches(']').parse().ok()?;
            cur = cur.get(i)?;
        }
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, type_: &str, path: &str) -> PrinterColumn {
        PrinterColumn {
            name: name.into(),
            type_: type_.into(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            json_path: path.into(),
        }
    }

    #[test]
    fn printer_columns_read_their_paths() {
        let now: Timestamp = "2026-01-01T01:00:00Z".parse().unwrap();
        let obj = json!({
            "metadata": {"name": "my-cron", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"cronSpec": "* * * * */5", "replicas": 2, "items": [{"name": "a"}]},
        });
        let cols = [
            column("Spec", "string", ".spec.cronSpec"),
            column("Replicas", "integer", ".spec.replicas"),
            column("First", "string", ".spec.items[0].name"),
            column("Missing", "string", ".status.nope"),
            column("Age", "date", ".metadata.creationTimestamp"),
        ];
        let t = custom_table(&cols, std::slice::from_ref(&obj), "9", IncludeObject::None, now);
        assert_eq!(t["rows"][0]["cells"], json!(["my-cron", "* * * * */5", 2, "a", null, "60m"]));
        assert_eq!(t["columnDefinitions"][1]["name"], "Spec");
        let plain = custom_table(&[], &[obj], "9", IncludeObject::None, now);
        assert_eq!(plain["rows"][0]["cells"], json!(["my-cron", "60m"]));
    }
}
