//! Sets of field paths, and their wire form `FieldsV1` (`metadata.managedFields[].fieldsV1`).
//!
//! A [`FieldSet`] is a tree: at each level some path elements are *members* (the path ending
//! there is in the set) and some have *children* (longer paths through them are). In
//! `FieldsV1` every element is an object key — `f:<field>`, `k:<key fields as JSON>`,
//! `v:<value as JSON>`, `i:<index>` — whose value lists the children; a member with children
//! also carries `".": {}`, a member without children is just `{}`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

/// A JSON value held as its canonical text: compact, object keys sorted by name. This is how
/// keys and set values appear in `FieldsV1` (`k:{"containerPort":80,"protocol":"TCP"}`), and it
/// gives them equality and order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Json(String);

impl Json {
    pub fn new(value: &Value) -> Json {
        let mut out = String::new();
        write_canonical(value, &mut out);
        Json(out)
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value back (the text is always valid JSON).
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// One step of a field path. The derived order (fields, then keys, then values, then indices)
/// is upstream's.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A field of an object: `f:replicas`.
    Field(String),
    /// An item of an associative list, by its key fields (a JSON object): `k:{"name":"nginx"}`.
    Key(Json),
    /// An item of a set list, by its value: `v:"example.com/finalizer"`.
    Value(Json),
    /// An item of a list by position: `i:0` (read and written, never produced here).
    Index(usize),
}

impl PathElement {
    pub fn field(name: &str) -> PathElement {
        PathElement::Field(name.to_owned())
    }

    /// The element of an associative-list item whose key fields are `fields`.
    pub fn key<'a>(fields: impl IntoIterator<Item = (&'a str, &'a Value)>) -> PathElement {
        let map: Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_owned(), v.clone())).collect();
        PathElement::Key(Json::new(&Value::Object(map)))
    }

    /// The element of a set-list item.
    pub fn value(value: &Value) -> PathElement {
        PathElement::Value(Json::new(value))
    }

    /// The `FieldsV1` object key of this element.
    pub fn to_fields_v1_key(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(json) => format!("k:{}", json.as_str()),
            PathElement::Value(json) => format!("v:{}", json.as_str()),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `FieldsV1` object key (not `"."`).
    pub fn from_fields_v1_key(key: &str) -> Result<PathElement, FieldsV1Error> {
        let bad = |why: &str| FieldsV1Error(format!("parsing key {key:?}: {why}"));
        let (kind, rest) = key.split_once(':').ok_or_else(|| bad("missing a type prefix"))?;
        match kind {
            "f" => Ok(PathElement::Field(rest.to_owned())),
            "k" => match serde_json::from_str::<Value>(rest) {
                Ok(value @ Value::Object(_)) => Ok(PathElement::Key(Json::new(&value))),
                Ok(_) => Err(bad("a key must be a JSON object")),
                Err(e) => Err(bad(&e.to_string())),
            },
            "v" => serde_json::from_str::<Value>(rest)
                .map(|value| PathElement::Value(Json::new(&value)))
                .map_err(|e| bad(&e.to_string())),
            "i" => rest.parse().map(PathElement::Index).map_err(|_| bad("an index must be a number")),
            _ => Err(bad("unknown type prefix")),
        }
    }
}

/// Upstream's text form of a path element, as conflicts print them: `.spec`,
/// `[name="nginx"]`, `[containerPort=80,protocol="TCP"]`, `[="a"]`, `[0]`.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(json) => {
                let Value::Object(fields) = json.value() else { return write!(f, "[{}]", json.as_str()) };
                let mut names: Vec<&String> = fields.keys().collect();
                names.sort();
                let parts: Vec<String> =
                    names.into_iter().map(|name| format!("{name}={}", Json::new(&fields[name]).0)).collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(json) => write!(f, "[={}]", json.as_str()),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A field path from the object root.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path(pub Vec<PathElement>);

impl Path {
    /// A path of field names only: `Path::fields(&["spec", "replicas"])`.
    pub fn fields(names: &[&str]) -> Path {
        Path(names.iter().map(|n| PathElement::field(n)).collect())
    }
}

/// `.spec.template.spec.containers[name="nginx"].image`.
impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|e| write!(f, "{e}"))
    }
}

/// `FieldsV1` that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FieldsV1Error(pub String);

/// A set of field paths (upstream's `fieldpath.Set`).
///
/// Invariant: no child set is empty, so structural equality is set equality.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds a path. The empty path is not a member of anything and is ignored.
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Whether `path` is in the set.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// Whether some path of the set starts with `prefix` (a path equal to it included).
    pub fn has_prefix(&self, prefix: &[PathElement]) -> bool {
        match prefix {
            [] => !self.is_empty(),
            [last] => self.members.contains(last) || self.children.contains_key(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has_prefix(rest)),
        }
    }

    /// Whether the one-element path `element` is in the set.
    pub fn is_member(&self, element: &PathElement) -> bool {
        self.members.contains(element)
    }

    /// The paths below `element`, relative to it.
    pub fn child(&self, element: &PathElement) -> Option<&FieldSet> {
        self.children.get(element)
    }

    /// The elements at this level, members or with children, in order.
    pub fn elements(&self) -> Vec<&PathElement> {
        let all: BTreeSet<&PathElement> = self.members.iter().chain(self.children.keys()).collect();
        all.into_iter().collect()
    }

    /// Adds `element` as a member.
    pub(crate) fn insert_member(&mut self, element: PathElement) {
        self.members.insert(element);
    }

    /// Adds the paths of `child` below `element`.
    pub(crate) fn nest(&mut self, element: PathElement, child: FieldSet) {
        if child.is_empty() {
            return;
        }
        match self.children.get_mut(&element) {
            Some(existing) => existing.union_with(&child),
            None => {
                self.children.insert(element, child);
            }
        }
    }

    fn union_with(&mut self, other: &FieldSet) {
        self.members.extend(other.members.iter().cloned());
        for (element, child) in &other.children {
            self.nest(element.clone(), child.clone());
        }
    }

    /// Paths in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.union_with(other);
        out
    }

    /// Paths in `self` and not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (element, child) in &self.children {
            let rest = match other.children.get(element) {
                Some(theirs) => child.difference(theirs),
                None => child.clone(),
            };
            if !rest.is_empty() {
                children.insert(element.clone(), rest);
            }
        }
        FieldSet { members, children }
    }

    /// Paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (element, child) in &self.children {
            if let Some(theirs) = other.children.get(element) {
                let both = child.intersection(theirs);
                if !both.is_empty() {
                    children.insert(element.clone(), both);
                }
            }
        }
        FieldSet { members, children }
    }

    /// Paths in `self` none of whose prefixes (themselves included) is in `other`: removes
    /// whole subtrees.
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (element, child) in &self.children {
            if other.members.contains(element) {
                continue;
            }
            let rest = match other.children.get(element) {
                Some(theirs) => child.recursive_difference(theirs),
                None => child.clone(),
            };
            if !rest.is_empty() {
                children.insert(element.clone(), rest);
            }
        }
        FieldSet { members, children }
    }

    /// Every path of the set, in upstream's iteration order: a level's members, then the
    /// paths below each element.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Path>) {
        for member in &self.members {
            prefix.push(member.clone());
            out.push(Path(prefix.clone()));
            prefix.pop();
        }
        for (element, child) in &self.children {
            prefix.push(element.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The number of paths.
    pub fn len(&self) -> usize {
        self.members.len() + self.children.values().map(FieldSet::len).sum::<usize>()
    }

    /// Parses `FieldsV1`.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, FieldsV1Error> {
        let Value::Object(map) = value else {
            return Err(FieldsV1Error(format!("FieldsV1 must be a JSON object, got {value}")));
        };
        let mut set = FieldSet::new();
        for (key, child) in map {
            if key == "." {
                // Marks the parent, which the caller handles; at the root it means nothing.
                continue;
            }
            let element = PathElement::from_fields_v1_key(key)?;
            let Value::Object(inner) = child else {
                return Err(FieldsV1Error(format!("the value of {key:?} must be a JSON object")));
            };
            if inner.is_empty() || inner.contains_key(".") {
                set.members.insert(element.clone());
            }
            let below = FieldSet::from_fields_v1(child)?;
            set.nest(element, below);
        }
        Ok(set)
    }

    /// The `FieldsV1` form.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        for element in self.elements() {
            let mut inner = Map::new();
            if let Some(child) = self.children.get(element) {
                if self.members.contains(element) {
                    inner.insert(".".into(), Value::Object(Map::new()));
                }
                if let Value::Object(below) = child.to_fields_v1() {
                    inner.extend(below);
                }
            }
            map.insert(element.to_fields_v1_key(), Value::Object(inner));
        }
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(v: Value) -> FieldSet {
        FieldSet::from_fields_v1(&v).expect("valid FieldsV1")
    }

    fn p(s: &[PathElement]) -> Vec<PathElement> {
        s.to_vec()
    }

    fn f(name: &str) -> PathElement {
        PathElement::field(name)
    }

    #[test]
    fn round_trip_of_an_apply_entry() {
        let wire = json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}
                }}}
            }
        });
        let parsed = set(wire.clone());
        assert_eq!(parsed.to_fields_v1(), wire);
        assert!(parsed.contains(&[f("spec"), f("replicas")]));
        assert!(!parsed.contains(&[f("spec")]));
        let nginx = PathElement::key([("name", &json!("nginx"))]);
        let containers = [f("spec"), f("template"), f("spec"), f("containers")];
        let mut item = containers.to_vec();
        item.push(nginx.clone());
        assert!(parsed.contains(&item));
        item.push(f("image"));
        assert!(parsed.contains(&item));
        assert_eq!(parsed.len(), 6);
    }

    #[test]
    fn round_trip_of_an_update_entry() {
        // As the API server records `kubectl create deployment` and a kubelet status update.
        let wire = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}, "f:finalizers": {
                ".": {}, "v:\"example.com/protect\"": {}
            }, "f:ownerReferences": {".": {}, "k:{\"uid\":\"0b5a\"}": {}}},
            "f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"nginx\"}": {
                    ".": {},
                    "f:ports": {".": {}, "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                        ".": {}, "f:containerPort": {}, "f:protocol": {}
                    }},
                    "f:resources": {}
                }
            }}}},
            "f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}}}},
            "f:data": {"i:3": {}}
        });
        let parsed = set(wire.clone());
        assert_eq!(parsed.to_fields_v1(), wire);
        let port = PathElement::key([("protocol", &json!("TCP")), ("containerPort", &json!(80))]);
        assert_eq!(port.to_fields_v1_key(), r#"k:{"containerPort":80,"protocol":"TCP"}"#);
        assert!(parsed.contains(&[f("metadata"), f("labels")]));
        assert!(parsed.contains(&[
            f("metadata"),
            f("finalizers"),
            PathElement::value(&json!("example.com/protect"))
        ]));
        assert!(parsed.contains(&[f("data"), PathElement::Index(3)]));
    }

    #[test]
    fn key_order_inside_k_does_not_matter() {
        let a = set(json!({"k:{\"protocol\":\"TCP\",\"containerPort\":80}": {}}));
        let b = set(json!({"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {}}));
        assert_eq!(a, b);
        assert_eq!(a.to_fields_v1(), json!({"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {}}));
    }

    #[test]
    fn malformed_fields_v1() {
        assert!(FieldSet::from_fields_v1(&json!([])).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"x:a": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"replicas": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"f:a": 1})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"k:[1]": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"k:{": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"i:x": {}})).is_err());
        assert_eq!(FieldSet::from_fields_v1(&json!({})).unwrap(), FieldSet::new());
    }

    #[test]
    fn set_operations() {
        let a =
            set(json!({"f:spec": {"f:replicas": {}, "f:paused": {}, "f:template": {".": {}, "f:x": {}}}}));
        let b =
            set(json!({"f:spec": {"f:replicas": {}, "f:template": {"f:x": {}, "f:y": {}}}, "f:data": {}}));
        assert_eq!(
            a.union(&b),
            set(
                json!({"f:spec": {"f:replicas": {}, "f:paused": {}, "f:template": {".": {}, "f:x": {}, "f:y": {}}}, "f:data": {}})
            )
        );
        assert_eq!(a.intersection(&b), set(json!({"f:spec": {"f:replicas": {}, "f:template": {"f:x": {}}}})));
        assert_eq!(a.difference(&b), set(json!({"f:spec": {"f:paused": {}, "f:template": {".": {}}}})));
        assert_eq!(b.difference(&a), set(json!({"f:spec": {"f:template": {"f:y": {}}}, "f:data": {}})));
        // Nothing left below an element means no entry for it.
        assert_eq!(a.difference(&a), FieldSet::new());
        assert!(a.difference(&a).is_empty());
    }

    #[test]
    fn recursive_difference_drops_subtrees() {
        let a =
            set(json!({"f:spec": {"f:replicas": {}}, "f:status": {"f:replicas": {}, "f:conditions": {}}}));
        let status = set(json!({"f:status": {}}));
        assert_eq!(a.recursive_difference(&status), set(json!({"f:spec": {"f:replicas": {}}})));
        // A plain difference keeps what is below.
        assert_eq!(a.difference(&status), a);
    }

    #[test]
    fn prefixes_and_paths() {
        let a = set(json!({"f:spec": {"f:replicas": {}, "f:template": {".": {}, "f:x": {}}}, "f:a": {}}));
        assert!(a.has_prefix(&p(&[f("spec")])));
        assert!(a.has_prefix(&p(&[f("spec"), f("template")])));
        assert!(!a.has_prefix(&p(&[f("status")])));
        let shown: Vec<String> = a.paths().iter().map(Path::to_string).collect();
        assert_eq!(shown, [".a", ".spec.replicas", ".spec.template", ".spec.template.x"]);
    }

    #[test]
    fn path_display_is_upstreams() {
        let path = Path(vec![
            f("spec"),
            f("template"),
            f("spec"),
            f("containers"),
            PathElement::key([("name", &json!("nginx"))]),
            f("ports"),
            PathElement::key([("containerPort", &json!(80)), ("protocol", &json!("TCP"))]),
        ]);
        assert_eq!(
            path.to_string(),
            r#".spec.template.spec.containers[name="nginx"].ports[containerPort=80,protocol="TCP"]"#
        );
        assert_eq!(
            Path(vec![f("metadata"), f("finalizers"), PathElement::value(&json!("a"))]).to_string(),
            r#".metadata.finalizers[="a"]"#
        );
        assert_eq!(Path(vec![f("a"), PathElement::Index(2)]).to_string(), ".a[2]");
        assert_eq!(Path::fields(&["spec", "replicas"]).to_string(), ".spec.replicas");
    }

    #[test]
    fn canonical_json() {
        let v = json!({"b": [1, {"z": true, "a": null}], "a": "x\"y"});
        assert_eq!(Json::new(&v).as_str(), r#"{"a":"x\"y","b":[1,{"a":null,"z":true}]}"#);
        assert_eq!(Json::new(&v).value(), v);
    }
}
