//! One cached object and one cached change. An object is kept as the bytes the datastore holds
//! (rendered by splicing in its resourceVersion, never re-encoded) plus its labels and the
//! values of the fields selectors can read, so that matching a selector needs no parse.

use std::sync::{Arc, OnceLock};

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::Value;
use tug_api::selector::selectable_field;
use tug_store::{KeyValue, Revision};

use crate::rest::{raw, selectable_fields};

/// An object as the cache holds it.
#[derive(Debug)]
pub struct Entry {
    pub key: String,
    /// The stored JSON, without `metadata.resourceVersion`.
    stored: Bytes,
    pub create_revision: Revision,
    pub mod_revision: Revision,
    /// Where the resourceVersion goes in `stored`: just inside the top-level metadata object.
    metadata_at: Option<usize>,
    /// What selectors read.
    pub attrs: Attrs,
}

impl Entry {
    /// A cached entry of a stored key; `None` if the bytes are not a JSON object (nothing the
    /// API server writes).
    pub fn from_kv(kv: &KeyValue) -> Option<Entry> {
        let obj = super::pruned::parse(&kv.value)?;
        Some(Entry {
            key: kv.key.clone(),
            stored: kv.value.clone(),
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            metadata_at: raw::metadata_body_offset(&kv.value),
            attrs: Attrs::of(&obj),
        })
    }

    /// The datastore's key and value this entry was made from.
    pub fn to_kv(&self) -> KeyValue {
        KeyValue {
            key: self.key.clone(),
            value: self.stored.clone(),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
        }
    }

    /// Appends the object with `resourceVersion` set to `rv`.
    pub fn write_json(&self, rv: Revision, out: &mut BytesMut) {
        match self.metadata_at {
            Some(at) => raw::splice_resource_version(&self.stored, at, rv, out),
            None => match self.object(rv) {
                Some(obj) => out.put_slice(&serde_json::to_vec(&obj).unwrap_or_default()),
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

/// What selectors read of an object: its labels, and its name, namespace and every field a
/// field selector may name for its kind, as strings. Kept compact: every cached object has one.
#[derive(Debug, Default, PartialEq)]
pub struct Attrs {
    /// Sorted by key.
    labels: Box<[(Box<str>, Box<str>)]>,
    fields: Box<[(&'static str, Box<str>)]>,
}

impl Attrs {
    fn of(obj: &Value) -> Attrs {
        let mut labels: Vec<(Box<str>, Box<str>)> = obj
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str().into(), v.as_str()?.into())))
            .collect();
        labels.sort();
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let fields = ["metadata.name", "metadata.namespace"]
            .into_iter()
            .chain(selectable_fields(kind).iter().copied())
            .filter_map(|path| {
                let value = match path {
                    "source" if kind == "Event" => tug_api::convert::event_source_field(obj),
                    _ => selectable_field(obj, path)?,
                };
                (!value.is_empty()).then(|| (path, value.into_boxed_str()))
            })
            .collect();
        Attrs { labels: labels.into(), fields }
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        let at = self.labels.binary_search_by(|(k, _)| (**k).cmp(key)).ok()?;
        Some(&self.labels[at].1)
    }

    /// A field's value; unset fields read as the empty string, as upstream.
    pub fn field(&self, path: &str) -> Option<String> {
        let value = self.fields.iter().find(|(p, _)| *p == path).map_or("", |(_, v)| v);
        Some(value.to_string())
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
    fn attrs_from_the_partial_parse_match_those_of_the_whole_object() {
        let objects = [
            json!({"kind": "Pod", "metadata": {"name": "p", "namespace": "n", "labels": {"a": "1"}},
                   "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "s",
                            "serviceAccountName": "sa", "hostNetwork": true, "containers": [{"name": "c"}]},
                   "status": {"phase": "Running", "podIP": "10.0.0.1", "nominatedNodeName": "n2"}}),
            json!({"kind": "Pod", "metadata": {"name": "bare"}}),
            json!({"kind": "Event", "metadata": {"name": "e", "namespace": "n"},
                   "involvedObject": {"kind": "Pod", "name": "p", "uid": "u", "fieldPath": "spec"},
                   "reason": "Scheduled", "type": "Normal", "source": {"component": "sched"}}),
            json!({"kind": "Event", "metadata": {"name": "e2"}, "reportingComponent": "kubelet"}),
            json!({"kind": "Node", "metadata": {"name": "n"}, "spec": {"unschedulable": true}}),
            json!({"kind": "Node", "metadata": {"name": "m"}}),
            json!({"kind": "Job", "metadata": {"name": "j"}, "status": {"succeeded": 3}}),
            json!({"kind": "ReplicaSet", "metadata": {"name": "r"}, "status": {"replicas": 2}}),
            json!({"kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque", "data": {"k": "dg=="}}),
            json!({"kind": "Namespace", "metadata": {"name": "ns"}, "status": {"phase": "Active"}}),
        ];
        for obj in objects {
            let entry = Entry::from_kv(&kv("/registry/x", &obj, 1)).unwrap();
            assert_eq!(entry.attrs, Attrs::of(&obj), "{obj}");
        }
    }

    /// The partial parse keeps scalars down to the second level only: a selectable field
    /// deeper than that would read as unset.
    #[test]
    fn selectable_fields_are_within_the_partial_parse() {
        let kinds = ["Pod", "Event", "Secret", "Namespace", "Node", "ReplicaSet", "ReplicationController"];
        for kind in kinds.into_iter().chain(["Job", "CertificateSigningRequest"]) {
            for path in selectable_fields(kind) {
                assert!(path.matches('.').count() <= 1, "{kind} {path}");
            }
        }
    }

    #[test]
    fn attrs_keep_what_selectors_read() {
        let pod = json!({
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "x"}, "annotations": {"a": "b"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
            "status": {"phase": "Running"},
        });
        let entry = Entry::from_kv(&kv("/registry/core/pods/ns/p", &pod, 3)).unwrap();
        let attrs = &entry.attrs;
        assert_eq!((attrs.label("app"), attrs.label("a")), (Some("x"), None));
        assert_eq!(attrs.field("metadata.name").as_deref(), Some("p"));
        assert_eq!(attrs.field("metadata.namespace").as_deref(), Some("ns"));
        assert_eq!(attrs.field("spec.nodeName").as_deref(), Some("n1"));
        assert_eq!(attrs.field("status.phase").as_deref(), Some("Running"));
        assert_eq!(attrs.field("status.podIP").as_deref(), Some(""));
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
