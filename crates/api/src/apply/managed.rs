//! `metadata.managedFields`: decoding, encoding, upstream's entry order and its cap on
//! update entries.

use serde_json::{Map, Value, json};

use super::fieldset::{FieldSet, FieldsV1Error};

/// The operation an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One entry of `metadata.managedFields`.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedFieldsEntry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    /// RFC 3339, as written.
    pub time: Option<String>,
    /// `""` for the main resource.
    pub subresource: String,
    pub fields: FieldSet,
}

/// Upstream's identity of a manager: the name, the operation, the subresource and, for
/// updates only, the API version (an applier is one manager whatever version it applies in).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ManagerId {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub subresource: String,
}

impl ManagedFieldsEntry {
    pub(crate) fn id(&self) -> ManagerId {
        ManagerId {
            manager: self.manager.clone(),
            operation: self.operation,
            api_version: match self.operation {
                Operation::Apply => String::new(),
                Operation::Update => self.api_version.clone(),
            },
            subresource: self.subresource.clone(),
        }
    }

    /// Parses one entry. Upstream rejects entries whose operation is not `Apply` or
    /// `Update`, or whose `fieldsType` is not `FieldsV1`.
    pub fn from_json(value: &Value) -> Result<ManagedFieldsEntry, FieldsV1Error> {
        let text = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
        let operation = match value.get("operation").and_then(Value::as_str) {
            Some("Apply") => Operation::Apply,
            Some("Update") => Operation::Update,
            other => {
                return Err(FieldsV1Error(format!(
                    "operation must be `Apply` or `Update`, got {:?}",
                    other.unwrap_or_default()
                )));
            }
        };
        let fields_type = text("fieldsType");
        if fields_type != "FieldsV1" {
            return Err(FieldsV1Error(format!("invalid fieldsType {fields_type:?}")));
        }
        let fields = match value.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(v) => FieldSet::from_fields_v1(v)?,
        };
        Ok(ManagedFieldsEntry {
            manager: text("manager"),
            operation,
            api_version: text("apiVersion"),
            time: value.get("time").and_then(Value::as_str).map(str::to_owned),
            subresource: text("subresource"),
            fields,
        })
    }

    /// The wire form, fields in upstream's order.
    pub fn to_json(&self) -> Value {
        let mut entry = Map::new();
        entry.insert("manager".into(), json!(self.manager));
        entry.insert("operation".into(), json!(self.operation.as_str()));
        entry.insert("apiVersion".into(), json!(self.api_version));
        if let Some(time) = &self.time {
            entry.insert("time".into(), json!(time));
        }
        entry.insert("fieldsType".into(), json!("FieldsV1"));
        entry.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if !self.subresource.is_empty() {
            entry.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(entry)
    }

    fn seconds(&self) -> i64 {
        self.time.as_deref().and_then(|t| t.parse::<jiff::Timestamp>().ok()).map_or(0, |t| t.as_second())
    }
}

/// The entries of an object's `metadata.managedFields` (none when absent). Entries of the
/// same manager are merged, as upstream's decoding into a map by manager does.
pub fn decode_managed_fields(obj: &Value) -> Result<Vec<ManagedFieldsEntry>, FieldsV1Error> {
    match obj.pointer("/metadata/managedFields") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(list) => decode_list(list),
    }
}

pub(crate) fn decode_list(list: &Value) -> Result<Vec<ManagedFieldsEntry>, FieldsV1Error> {
    let Value::Array(items) = list else {
        return Err(FieldsV1Error("metadata.managedFields must be a list".into()));
    };
    let mut entries: Vec<ManagedFieldsEntry> = Vec::with_capacity(items.len());
    for item in items {
        let entry = ManagedFieldsEntry::from_json(item)?;
        match entries.iter_mut().find(|e| e.id() == entry.id()) {
            Some(same) => same.fields = same.fields.union(&entry.fields),
            None => entries.push(entry),
        }
    }
    Ok(entries)
}

/// Whether a request's `managedFields` asks for them to be cleared: an empty list, or a list
/// of one empty entry.
pub(crate) fn is_reset(list: &Value) -> bool {
    match list {
        Value::Array(items) => {
            items.is_empty() || (items.len() == 1 && items[0].as_object().is_some_and(Map::is_empty))
        }
        _ => false,
    }
}

/// The most update entries upstream keeps; older ones are merged into [`ANCIENT_CHANGES`].
pub const MAX_UPDATE_MANAGERS: usize = 10;

/// The manager older update entries are merged into, one per API version.
pub const ANCIENT_CHANGES: &str = "ancient-changes";

/// Caps the update entries at [`MAX_UPDATE_MANAGERS`]: oldest first, each is merged into the
/// `ancient-changes` entry of its API version, which takes its time.
pub(crate) fn cap_update_managers(entries: &mut Vec<ManagedFieldsEntry>) {
    let updates = |entries: &Vec<ManagedFieldsEntry>| {
        entries.iter().filter(|e| e.operation == Operation::Update).count()
    };
    while updates(entries) > MAX_UPDATE_MANAGERS {
        // The oldest update that is not a bucket with nothing to merge into.
        let mut candidates: Vec<usize> = (0..entries.len())
            .filter(|&i| entries[i].operation == Operation::Update)
            .filter(|&i| entries[i].manager != ANCIENT_CHANGES)
            .collect();
        candidates.sort_by_key(|&i| (entries[i].seconds(), entries[i].manager.clone()));
        let Some(&oldest) = candidates.first() else { return };
        let entry = entries.remove(oldest);
        let bucket = entries.iter_mut().find(|e| {
            e.manager == ANCIENT_CHANGES
                && e.operation == Operation::Update
                && e.api_version == entry.api_version
                && e.subresource.is_empty()
        });
        match bucket {
            Some(bucket) => {
                bucket.fields = bucket.fields.union(&entry.fields);
                bucket.time = entry.time;
            }
            None => entries.push(ManagedFieldsEntry {
                manager: ANCIENT_CHANGES.into(),
                subresource: String::new(),
                ..entry
            }),
        }
    }
}

/// Writes `entries` into the object: empty entries dropped, upstream's order (operation, time
/// in seconds, manager, API version, subresource), no `managedFields` at all when none is
/// left.
pub(crate) fn encode(obj: &mut Value, mut entries: Vec<ManagedFieldsEntry>) {
    entries.retain(|e| !e.fields.is_empty());
    cap_update_managers(&mut entries);
    entries.sort_by(|a, b| {
        (a.operation, a.seconds(), &a.manager, &a.api_version, &a.subresource).cmp(&(
            b.operation,
            b.seconds(),
            &b.manager,
            &b.api_version,
            &b.subresource,
        ))
    });
    let Some(Value::Object(meta)) = obj.get_mut("metadata") else {
        if entries.is_empty() {
            return;
        }
        obj["metadata"] = json!({});
        return encode(obj, entries);
    };
    if entries.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(entries.iter().map(|e| e.to_json()).collect()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(manager: &str, op: Operation, time: &str) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: manager.into(),
            operation: op,
            api_version: "apps/v1".into(),
            time: Some(time.into()),
            subresource: String::new(),
            fields: FieldSet::from_fields_v1(&json!({ format!("f:{manager}"): {} })).unwrap(),
        }
    }

    #[test]
    fn wire_form_round_trips() {
        let wire = json!({
            "manager": "kubelet",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2025-01-02T03:04:05Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {"f:phase": {}}},
            "subresource": "status"
        });
        let parsed = ManagedFieldsEntry::from_json(&wire).unwrap();
        assert_eq!(parsed.subresource, "status");
        assert_eq!(parsed.operation, Operation::Update);
        assert_eq!(parsed.to_json(), wire);
    }

    #[test]
    fn bad_entries() {
        let bad_op = json!({"manager": "m", "operation": "Patch", "fieldsType": "FieldsV1", "fieldsV1": {}});
        assert!(ManagedFieldsEntry::from_json(&bad_op).is_err());
        let bad_type =
            json!({"manager": "m", "operation": "Apply", "fieldsType": "FieldsV2", "fieldsV1": {}});
        assert!(ManagedFieldsEntry::from_json(&bad_type).is_err());
        assert!(decode_list(&json!({})).is_err());
        assert!(is_reset(&json!([])));
        assert!(is_reset(&json!([{}])));
        assert!(!is_reset(&json!([{}, {}])));
        assert!(!is_reset(&json!(null)));
    }

    #[test]
    fn order_is_upstreams() {
        let mut obj = json!({"metadata": {}});
        encode(
            &mut obj,
            vec![
                entry("z-update", Operation::Update, "2025-01-01T00:00:00Z"),
                entry("b-apply", Operation::Apply, "2025-01-01T00:00:09Z"),
                entry("a-update", Operation::Update, "2025-01-01T00:00:00Z"),
                entry("c-apply", Operation::Apply, "2025-01-01T00:00:01Z"),
            ],
        );
        let managers: Vec<&str> = obj["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, ["c-apply", "b-apply", "a-update", "z-update"]);
        encode(&mut obj, Vec::new());
        assert_eq!(obj, json!({"metadata": {}}));
    }

    #[test]
    fn update_entries_are_capped() {
        let mut entries: Vec<ManagedFieldsEntry> = (0..12)
            .map(|i| entry(&format!("m{i:02}"), Operation::Update, &format!("2025-01-01T00:00:{i:02}Z")))
            .collect();
        entries.push(entry("applier", Operation::Apply, "2025-01-01T00:00:00Z"));
        cap_update_managers(&mut entries);
        let updates: Vec<&ManagedFieldsEntry> =
            entries.iter().filter(|e| e.operation == Operation::Update).collect();
        assert_eq!(updates.len(), MAX_UPDATE_MANAGERS);
        let bucket = entries.iter().find(|e| e.manager == ANCIENT_CHANGES).unwrap();
        // m00, m01 and m02 went into the bucket, which has the newest of their times.
        assert_eq!(
            bucket.fields,
            FieldSet::from_fields_v1(&json!({"f:m00": {}, "f:m01": {}, "f:m02": {}})).unwrap()
        );
        assert_eq!(bucket.time.as_deref(), Some("2025-01-01T00:00:02Z"));
        assert!(entries.iter().any(|e| e.manager == "applier"));
    }
}
