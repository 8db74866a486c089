//! One cached object and one cached change. An object is kept as the bytes the datastore holds
//! (rendered by splicing in its resourceVersion, never re-encoded) plus a small skeleton of
//! the fields selectors can read, so that matching a selector needs no parse.

use std::sync::{Arc, OnceLock};

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Map, Value};
use tug_store::{KeyValue, Revision};

use crate::rest::{raw, selectable_fields};

/// An object as the cache holds it.
#[derive(Debug)]
pub struct Entry {
    pub key: String,
    /// The stored JSON, without `metadata.resourceVersion`.
    stored: Bytes,
    pub mod_revision: Revision,
    /// Where the resourceVersion goes in `stored`: just inside the top-level metadata object.
    metadata_at: Option<usize>,
    /// The object's name, namespace, labels and selectable fields, for selectors.
    pub skeleton: Value,
}

impl Entry {
    /// A cached entry of a stored key; `None` if the bytes are not a JSON object (nothing the
    /// API server writes).
    pub fn from_kv(kv: &KeyValue) -> Option<Entry> {
        let obj: Value = serde_json::from_slice(&kv.value).ok()?;
        Some(Entry {
            key: kv.key.clone(),
            stored: kv.value.clone(),
            mod_revision: kv.mod_revision,
            metadata_at: raw::metadata_body_offset(&kv.value),
            skeleton: skeleton(&obj),
        })
    }

    /// Appends the object with `resourceVersion` set to `rv`.
    pub fn write_json(&self, rv: Revision, out: &mut BytesMut) {
        match self.metadata_at {
            Some(at) => raw::splice_resource_version(&self.stored, at, rv, out),
            None => match self.object(rv) {
                Some(obj) => out.put_slice(obj.to_string().as_bytes()),
                None => out.put_slice(b"{}"),
            },
        }
    }

    /// Length of the JSON [`Entry::write_json`] appends, near enough to size a buffer.
    pub fn len_hint(&self) -> usize {
        self.stored.len() + 40
    }

    /// The object, parsed, with `resourceVersion` set to `rv`.
    pub fn object(&self, rv: Revision) -> Option<Value> {
        let mut obj: Value = serde_json::from_slice(&self.stored).ok()?;
        tug_api::meta::metadata_mut(&mut obj).insert("resourceVersion".into(), Value::String(rv.to_string()));
        Some(obj)
    }
}

/// What a change did, as a watch event names it when the watcher's selectors do not change
/// the picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "ADDED",
            ChangeKind::Modified => "MODIFIED",
            ChangeKind::Deleted => "DELETED",
        }
    }
}

/// One change to one key.
#[derive(Debug)]
pub struct Change {
    pub kind: ChangeKind,
    pub revision: Revision,
    /// The object after the change; for a delete, the object that was deleted.
    pub object: Arc<Entry>,
    /// The object before the change (`None` for a create).
    pub prev: Option<Arc<Entry>>,
    /// The plain JSON watch line of this change, made by the first watcher that needs it and
    /// shared by the rest.
    line: OnceLock<Bytes>,
}

impl Change {
    pub fn new(kind: ChangeKind, revision: Revision, object: Arc<Entry>, prev: Option<Arc<Entry>>) -> Change {
        Change { kind, revision, object, prev, line: OnceLock::new() }
    }

    pub fn key(&self) -> &str {
        &self.object.key
    }

    /// `{"type":KIND,"object":OBJECT}\n` with the object at this change's revision.
    pub fn json_line(&self, kind: ChangeKind) -> Bytes {
        if kind == self.kind {
            return self.line.get_or_init(|| event_line(kind, &self.object, self.revision)).clone();
        }
        event_line(kind, &self.object, self.revision)
    }
}

/// A JSON watch line for `entry` at revision `rv`.
pub fn event_line(kind: ChangeKind, entry: &Entry, rv: Revision) -> Bytes {
    let mut out = BytesMut::with_capacity(entry.len_hint() + 32);
    out.put_slice(b"{\"type\":\"");
    out.put_slice(kind.as_str().as_bytes());
    out.put_slice(b"\",\"object\":");
    entry.write_json(rv, &mut out);
    out.put_slice(b"}\n");
    out.freeze()
}

/// The parts of an object selectors read: metadata's name, namespace and labels, and every
/// field a field selector may name for the object's kind.
fn skeleton(obj: &Value) -> Value {
    let mut metadata = Map::new();
    if let Some(m) = obj.get("metadata") {
        for key in ["name", "namespace", "labels"] {
            if let Some(v) = m.get(key) {
                metadata.insert(key.into(), v.clone());
            }
        }
    }
    let mut out = Value::Object(Map::from_iter([("metadata".to_string(), Value::Object(metadata))]));
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    for path in selectable_fields(kind) {
        if let Some(v) = pointer_path(obj, path) {
            set_path(&mut out, path, v.clone());
        }
    }
    out
}

fn pointer_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(obj, |cur, seg| cur.get(seg))
}

fn set_path(out: &mut Value, path: &str, value: Value) {
    let mut cur = out;
    let mut segments = path.split('.').peekable();
    while let Some(seg) = segments.next() {
        let Some(map) = cur.as_object_mut() else { return };
        if segments.peek().is_none() {
            map.insert(seg.to_string(), value);
            return;
        }
        cur = map.entry(seg.to_string()).or_insert_with(|| Value::Object(Map::new()));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn kv(key: &str, obj: &Value, rev: Revision) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Bytes::from(obj.to_string()),
            create_revision: rev,
            mod_revision: rev,
        }
    }

    #[test]
    fn renders_the_stored_bytes_with_the_revision() {
        let obj = json!({"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}});
        let entry = Entry::from_kv(&kv("/registry/core/configmaps/default/a", &obj, 7)).unwrap();
        let mut out = BytesMut::new();
        entry.write_json(9, &mut out);
        let back: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(back["metadata"]["resourceVersion"], "9");
        assert_eq!(back["data"], json!({"k": "v"}));
    }

    #[test]
    fn the_skeleton_keeps_what_selectors_read() {
        let pod = json!({
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "x"}, "annotations": {"a": "b"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
            "status": {"phase": "Running"},
        });
        let entry = Entry::from_kv(&kv("/registry/core/pods/ns/p", &pod, 3)).unwrap();
        assert_eq!(
            entry.skeleton,
            json!({
                "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "x"}},
                "spec": {"nodeName": "n1"},
                "status": {"phase": "Running"},
            })
        );
    }

    #[test]
    fn a_change_line_is_made_once() {
        let obj = json!({"kind": "ConfigMap", "metadata": {"name": "a"}});
        let entry = Arc::new(Entry::from_kv(&kv("/registry/core/configmaps/default/a", &obj, 4)).unwrap());
        let change = Change::new(ChangeKind::Added, 4, entry, None);
        let a = change.json_line(ChangeKind::Added);
        let b = change.json_line(ChangeKind::Added);
        assert_eq!(a.as_ptr(), b.as_ptr());
        let line: Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(line["type"], "ADDED");
        assert_eq!(line["object"]["metadata"]["resourceVersion"], "4");
        let deleted: Value = serde_json::from_slice(&change.json_line(ChangeKind::Deleted)).unwrap();
        assert_eq!(deleted["type"], "DELETED");
    }
}
