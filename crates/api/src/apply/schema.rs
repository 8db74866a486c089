//! What server-side apply needs to know about a type: how each list merges (upstream's
//! `x-kubernetes-list-type`, `x-kubernetes-list-map-keys`) and which objects are atomic
//! (`x-kubernetes-map-type: atomic`, Go's `+structType=atomic`).

use serde_json::Value;

use crate::patch::{BuiltinSchema, FieldMeta, ListStrategy, NoSchema, PatchSchema};

/// How the items of a list field are owned and merged.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum ListType {
    /// The list is one value: owned whole, replaced whole (`x-kubernetes-list-type: atomic`,
    /// the default).
    #[default]
    Atomic,
    /// A list of distinct scalars, owned item by item (`x-kubernetes-list-type: set`).
    Set,
    /// An associative list: objects identified by the key fields, owned field by field
    /// (`x-kubernetes-list-type: map` with `x-kubernetes-list-map-keys`).
    Map(Vec<KeyField>),
}

/// A key field of an associative list, with the value an item that omits it is taken to
/// have (upstream's schema default: `protocol` of ports defaults to `TCP`).
#[derive(Clone, Debug, PartialEq)]
pub struct KeyField {
    pub name: String,
    pub default: Option<Value>,
}

impl KeyField {
    pub fn new(name: &str) -> KeyField {
        KeyField { name: name.to_owned(), default: None }
    }

    pub fn with_default(name: &str, default: Value) -> KeyField {
        KeyField { name: name.to_owned(), default: Some(default) }
    }
}

impl ListType {
    /// An associative list with these key fields, none defaulted.
    pub fn map(keys: &[&str]) -> ListType {
        ListType::Map(keys.iter().map(|k| KeyField::new(k)).collect())
    }
}

/// How the fields of an object are owned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MapType {
    /// A structure with declared fields, owned field by field (the default).
    #[default]
    Struct,
    /// A map with free-form keys (`additionalProperties`, Go's `map[string]T`), owned key by
    /// key. Differs from `Struct` only in that a key whose value has fields of its own is also
    /// owned itself (`".": {}` next to those fields), as upstream marks undeclared fields.
    Map,
    /// The object is one value, owned and replaced whole.
    Atomic,
}

/// Where server-side apply finds the list and map semantics of an object's fields.
///
/// Paths are JSON field names from the object root; list items are not part of them, so the
/// ports of a container are at `["spec","template","spec","containers","ports"]` and the
/// items of an associative list have the list's path.
pub trait ApplySchema {
    /// The semantics of the list at `path`.
    fn list_type(&self, path: &[&str]) -> ListType;

    /// The semantics of the object at `path` (for a list, of its items).
    fn map_type(&self, path: &[&str]) -> MapType {
        let _ = path;
        MapType::Struct
    }
}

/// The list semantics of strategic-merge-patch metadata, as upstream's OpenAPI conversion
/// derives them when a field has no explicit list type: a merged list with a merge key is an
/// associative list, a merged list without one is a set, anything else is atomic. The few
/// built-in lists whose apply keys are wider than their patch merge key are widened here:
/// container ports and Service ports are keyed by port and `protocol` (defaulted to `TCP`), and
/// topology spread constraints by `topologyKey` and `whenUnsatisfiable`.
pub fn list_type_of(meta: &FieldMeta, path: &[&str]) -> ListType {
    if meta.strategy != ListStrategy::Merge {
        return ListType::Atomic;
    }
    let Some(key) = meta.merge_key.as_deref() else { return ListType::Set };
    let tcp = || KeyField::with_default("protocol", Value::String("TCP".into()));
    match key {
        "containerPort" => ListType::Map(vec![KeyField::new("containerPort"), tcp()]),
        "port" if path == ["spec", "ports"] => ListType::Map(vec![KeyField::new("port"), tcp()]),
        "topologyKey" if path.last() == Some(&"topologySpreadConstraints") => {
            ListType::map(&["topologyKey", "whenUnsatisfiable"])
        }
        key => ListType::map(&[key]),
    }
}

/// Any strategic-merge-patch schema, lists only: objects are all granular structures.
impl ApplySchema for dyn PatchSchema + '_ {
    fn list_type(&self, path: &[&str]) -> ListType {
        list_type_of(&self.field(path), path)
    }
}

/// A one-off schema: any function from path to patch metadata, as for [`PatchSchema`].
impl<F: Fn(&[&str]) -> FieldMeta> ApplySchema for F {
    fn list_type(&self, path: &[&str]) -> ListType {
        list_type_of(&self(path), path)
    }
}

/// Nothing known: lists are atomic, objects granular (upstream's behaviour for fields a
/// custom resource's schema does not describe).
impl ApplySchema for NoSchema {
    fn list_type(&self, _path: &[&str]) -> ListType {
        ListType::Atomic
    }
}

/// The built-in types: lists as their patch metadata says (see [`list_type_of`]), plus the
/// objects upstream declares atomic that the tutorials' kinds use.
impl ApplySchema for BuiltinSchema {
    fn list_type(&self, path: &[&str]) -> ListType {
        // Merged by `ip` when patched, but `+listType=atomic` for apply.
        if path == ["status", "hostIPs"] {
            return ListType::Atomic;
        }
        list_type_of(&self.field(path), path)
    }

    fn map_type(&self, path: &[&str]) -> MapType {
        if ATOMIC_ROOT.contains(&path) || ATOMIC_TAIL.iter().any(|p| path.ends_with(p)) {
            MapType::Atomic
        } else {
            MapType::Struct
        }
    }
}

/// Atomic objects at a kind's top level.
const ATOMIC_ROOT: &[&[&str]] = &[
    // LabelSelector (+structType=atomic) of workloads, Jobs, PDBs; Service and
    // ReplicationController selectors (+mapType=atomic).
    &["spec", "selector"],
    // NetworkPolicy.
    &["spec", "podSelector"],
    // PersistentVolume.spec.claimRef (ObjectReference).
    &["spec", "claimRef"],
    // RoleBinding / ClusterRoleBinding.
    &["roleRef"],
];

/// Atomic objects wherever their structure nests.
const ATOMIC_TAIL: &[&[&str]] = &[
    &["jobTemplate", "spec", "selector"],
    // Items of ownerReferences (OwnerReference is +structType=atomic).
    &["metadata", "ownerReferences"],
    // PodSpec.nodeSelector (+mapType=atomic), its node affinity NodeSelector, and the
    // label selector of topology spread constraints.
    &["spec", "nodeSelector"],
    &["nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"],
    &["topologySpreadConstraints", "labelSelector"],
    // EnvVarSource selectors.
    &["valueFrom", "secretKeyRef"],
    &["valueFrom", "configMapKeyRef"],
    &["valueFrom", "fieldRef"],
    &["valueFrom", "resourceFieldRef"],
];

/// A structural OpenAPI v3 schema (a CRD version's `schema.openAPIV3Schema`), read for its
/// `x-kubernetes-list-type`, `x-kubernetes-list-map-keys` (with the keys' `default`s) and
/// `x-kubernetes-map-type`. `metadata` is always the built-in ObjectMeta.
#[derive(Clone, Copy, Debug)]
pub struct OpenApiSchema<'a> {
    root: &'a Value,
}

impl<'a> OpenApiSchema<'a> {
    pub fn new(root: &'a Value) -> Self {
        OpenApiSchema { root }
    }

    /// The schema node at `path`, stepping through list items.
    fn node(&self, path: &[&str]) -> Option<&'a Value> {
        let mut node = self.root;
        for field in path {
            node = items_of(node);
            node = match node.get("properties").and_then(|p| p.get(*field)) {
                Some(child) => child,
                None => node.get("additionalProperties").filter(|a| a.is_object())?,
            };
        }
        Some(node)
    }
}

fn items_of(mut node: &Value) -> &Value {
    while node.get("type").and_then(Value::as_str) == Some("array") {
        match node.get("items") {
            Some(items) => node = items,
            None => break,
        }
    }
    node
}

impl ApplySchema for OpenApiSchema<'_> {
    fn list_type(&self, path: &[&str]) -> ListType {
        if path.first() == Some(&"metadata") {
            return BuiltinSchema.list_type(path);
        }
        let Some(node) = self.node(path) else { return ListType::Atomic };
        match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => ListType::Set,
            Some("map") => {
                let item = node.get("items");
                let keys = node.get("x-kubernetes-list-map-keys").and_then(Value::as_array);
                let keys = keys.into_iter().flatten().filter_map(Value::as_str).map(|name| {
                    let default = item
                        .and_then(|i| i.get("properties"))
                        .and_then(|p| p.get(name))
                        .and_then(|k| k.get("default"))
                        .cloned();
                    KeyField { name: name.to_owned(), default }
                });
                ListType::Map(keys.collect())
            }
            _ => ListType::Atomic,
        }
    }

    fn map_type(&self, path: &[&str]) -> MapType {
        if path.first() == Some(&"metadata") {
            return BuiltinSchema.map_type(path);
        }
        let Some(node) = self.node(path).map(items_of) else { return MapType::Struct };
        if node.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic") {
            MapType::Atomic
        } else if node.get("properties").is_some() {
            MapType::Struct
        } else if node.get("additionalProperties").is_some_and(|a| a.is_object() || a.as_bool() == Some(true))
            || node.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
        {
            MapType::Map
        } else {
            MapType::Struct
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Vec<&str> {
        s.split('.').collect()
    }

    #[test]
    fn builtin_lists() {
        let s = &BuiltinSchema;
        assert_eq!(s.list_type(&p("spec.template.spec.containers")), ListType::map(&["name"]));
        assert_eq!(
            s.list_type(&p("spec.template.spec.containers.ports")),
            ListType::Map(vec![
                KeyField::new("containerPort"),
                KeyField::with_default("protocol", json!("TCP"))
            ])
        );
        assert_eq!(
            s.list_type(&p("spec.ports")),
            ListType::Map(vec![KeyField::new("port"), KeyField::with_default("protocol", json!("TCP"))])
        );
        assert_eq!(
            s.list_type(&p("spec.template.spec.topologySpreadConstraints")),
            ListType::map(&["topologyKey", "whenUnsatisfiable"])
        );
        assert_eq!(s.list_type(&p("spec.containers.env")), ListType::map(&["name"]));
        assert_eq!(s.list_type(&p("metadata.finalizers")), ListType::Set);
        assert_eq!(s.list_type(&p("spec.containers.args")), ListType::Atomic);
        assert_eq!(s.list_type(&p("spec.tolerations")), ListType::Atomic);
        assert_eq!(s.list_type(&p("status.hostIPs")), ListType::Atomic);
        assert_eq!(s.list_type(&p("status.podIPs")), ListType::map(&["ip"]));
    }

    #[test]
    fn builtin_atomic_objects() {
        let s = &BuiltinSchema;
        assert_eq!(s.map_type(&p("spec.selector")), MapType::Atomic);
        assert_eq!(s.map_type(&p("spec.jobTemplate.spec.selector")), MapType::Atomic);
        assert_eq!(s.map_type(&p("metadata.ownerReferences")), MapType::Atomic);
        assert_eq!(s.map_type(&p("spec.template.spec.nodeSelector")), MapType::Atomic);
        assert_eq!(
            s.map_type(&p("spec.template.spec.containers.env.valueFrom.secretKeyRef")),
            MapType::Atomic
        );
        assert_eq!(s.map_type(&p("spec.template.spec.containers.resources")), MapType::Struct);
        assert_eq!(s.map_type(&p("spec.template.spec.selector")), MapType::Struct);
        assert_eq!(s.map_type(&p("metadata.labels")), MapType::Struct);
    }

    #[test]
    fn patch_schemas_as_apply_schemas() {
        let closure = |path: &[&str]| {
            if path == ["items"] { FieldMeta::merge_by("id") } else { FieldMeta::default() }
        };
        assert_eq!(closure.list_type(&["items"]), ListType::map(&["id"]));
        let dynamic: &dyn PatchSchema = &closure;
        assert_eq!(dynamic.list_type(&["items"]), ListType::map(&["id"]));
        assert_eq!(dynamic.list_type(&["other"]), ListType::Atomic);
        assert_eq!(dynamic.map_type(&["spec", "selector"]), MapType::Struct);
        assert_eq!(NoSchema.list_type(&p("spec.containers")), ListType::Atomic);
    }

    #[test]
    fn openapi_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "items": {
                            "type": "array",
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["name", "proto"],
                            "items": {"type": "object", "properties": {
                                "name": {"type": "string"},
                                "proto": {"type": "string", "default": "TCP"},
                                "tags": {"type": "array", "x-kubernetes-list-type": "set",
                                         "items": {"type": "string"}}
                            }}
                        },
                        "plain": {"type": "array", "items": {"type": "string"}},
                        "ref": {"type": "object", "x-kubernetes-map-type": "atomic",
                                "properties": {"name": {"type": "string"}}},
                        "labels": {"type": "object", "additionalProperties": {"type": "object",
                                   "properties": {"a": {"type": "string"}}}},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                    }
                }
            }
        });
        let s = OpenApiSchema::new(&schema);
        assert_eq!(
            s.list_type(&p("spec.items")),
            ListType::Map(vec![KeyField::new("name"), KeyField::with_default("proto", json!("TCP"))])
        );
        assert_eq!(s.list_type(&p("spec.items.tags")), ListType::Set);
        assert_eq!(s.list_type(&p("spec.plain")), ListType::Atomic);
        assert_eq!(s.list_type(&p("spec.missing")), ListType::Atomic);
        assert_eq!(s.map_type(&p("spec.ref")), MapType::Atomic);
        assert_eq!(s.map_type(&p("spec.items")), MapType::Struct);
        assert_eq!(s.map_type(&p("spec.labels")), MapType::Map);
        assert_eq!(s.map_type(&p("spec.labels.x")), MapType::Struct);
        assert_eq!(s.map_type(&p("spec.free")), MapType::Map);
        assert_eq!(s.list_type(&p("metadata.finalizers")), ListType::Set);
    }
}
