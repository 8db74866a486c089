//! Objects walked with their schema: the fields a value sets, what changed between two values,
//! the merge of an applied configuration into an object, and the removal of fields.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::{Map, Value};

use super::fieldset::{FieldSet, Path, PathElement};
use super::schema::{ApplySchema, KeyField, ListType, MapType};

/// A value that does not fit its schema (an associative-list item without its key, a
/// duplicate key), with the path of the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TypeError {
    pub path: Path,
    pub message: String,
}

impl std::fmt::Display for TypeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// What changed from one value to another. Added and removed subtrees have every node as a
/// member (the node itself and all below it), so that taking them out of a manager's set
/// leaves nothing behind; modified are the leaves (scalars, atomic values) whose value changed.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

impl Comparison {
    fn nest(&mut self, element: &PathElement, child: Comparison) {
        self.added.nest(element.clone(), child.added);
        self.modified.nest(element.clone(), child.modified);
        self.removed.nest(element.clone(), child.removed);
    }

    /// The comparison without the given paths (and what is below them).
    pub fn without(&self, ignored: &FieldSet) -> Comparison {
        Comparison {
            added: self.added.recursive_difference(ignored),
            modified: self.modified.recursive_difference(ignored),
            removed: self.removed.recursive_difference(ignored),
        }
    }
}

/// The schema and the fields the walk skips.
pub(crate) struct Typed<'s> {
    pub schema: &'s dyn ApplySchema,
    /// Field paths (names from the root) whose applied values are not merged.
    pub reset: Vec<Vec<String>>,
}

fn strs(path: &[String]) -> Vec<&str> {
    path.iter().map(String::as_str).collect()
}

impl Typed<'_> {
    fn list_type(&self, path: &[String]) -> ListType {
        match self.schema.list_type(&strs(path)) {
            // A map without keys cannot tell its items apart.
            ListType::Map(keys) if keys.is_empty() => ListType::Atomic,
            other => other,
        }
    }

    fn map_type(&self, path: &[String]) -> MapType {
        self.schema.map_type(&strs(path))
    }

    fn is_reset(&self, path: &[String]) -> bool {
        self.reset.iter().any(|r| r == path)
    }

    /// The path elements of a granular list's items, in order; `Ok(None)` for an atomic list.
    /// Errors say why the items cannot be told apart.
    fn elements(&self, items: &[Value], path: &[String]) -> Result<Option<Vec<PathElement>>, String> {
        let ty = self.list_type(path);
        let elements = match &ty {
            ListType::Atomic => return Ok(None),
            ListType::Set => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(_) | Value::Array(_) => {
                        Err(format!("element {i}: set lists may only hold scalars"))
                    }
                    scalar => Ok(PathElement::value(scalar)),
                })
                .collect::<Result<Vec<_>, _>>()?,
            ListType::Map(keys) => items
                .iter()
                .enumerate()
                .map(|(i, item)| item_key(item, keys).map_err(|m| format!("element {i}: {m}")))
                .collect::<Result<Vec<_>, _>>()?,
        };
        let mut seen = HashSet::new();
        for element in &elements {
            if !seen.insert(element) {
                return Err(format!("duplicate entries for key {element}"));
            }
        }
        Ok(Some(elements))
    }

    /// `elements`, with lists that cannot be keyed treated as atomic (for objects already
    /// stored, which upstream also tolerates).
    fn lenient_elements(&self, items: &[Value], path: &[String]) -> Option<Vec<PathElement>> {
        self.elements(items, path).ok().flatten()
    }

    /// The fields an applied configuration sets (upstream's `ToFieldSet`): every scalar,
    /// null, empty object and atomic value; every item of a granular list; free-form map keys.
    /// Structures are not members themselves: applying `{spec: {replicas: 1}}` owns
    /// `.spec.replicas`, not `.spec`. With `strict`, lists that cannot be keyed are errors,
    /// otherwise they are owned whole.
    pub fn applied_set(&self, obj: &Value, strict: bool) -> Result<FieldSet, TypeError> {
        let (_, set) = self.applied_node(obj, &mut Vec::new(), &mut Vec::new(), strict)?;
        Ok(set)
    }

    /// Whether the node is a member, and its children.
    fn applied_node(
        &self,
        value: &Value,
        path: &mut Vec<String>,
        at: &mut Vec<PathElement>,
        strict: bool,
    ) -> Result<(bool, FieldSet), TypeError> {
        match value {
            Value::Object(map) => {
                let ty = self.map_type(path);
                if map.is_empty() || ty == MapType::Atomic {
                    return Ok((true, FieldSet::new()));
                }
                let mut set = FieldSet::new();
                for (key, child) in map {
                    let element = PathElement::Field(key.clone());
                    path.push(key.clone());
                    at.push(element.clone());
                    let result = self.applied_node(child, path, at, strict);
                    path.pop();
                    at.pop();
                    let (member, below) = result?;
                    if member || ty == MapType::Map {
                        set.insert_member(element.clone());
                    }
                    set.nest(element, below);
                }
                Ok((false, set))
            }
            Value::Array(items) => {
                let elements = match self.elements(items, path) {
                    Ok(Some(elements)) => elements,
                    Ok(None) => return Ok((true, FieldSet::new())),
                    Err(message) if strict => return Err(TypeError { path: Path(at.clone()), message }),
                    Err(_) => return Ok((true, FieldSet::new())),
                };
                let mut set = FieldSet::new();
                for (element, item) in elements.into_iter().zip(items) {
                    set.insert_member(element.clone());
                    if item.is_object() {
                        at.push(element.clone());
                        let result = self.applied_node(item, path, at, strict);
                        at.pop();
                        set.nest(element, result?.1);
                    }
                }
                Ok((false, set))
            }
            _ => Ok((true, FieldSet::new())),
        }
    }

    /// Every node below `value`, each a member.
    fn all_nodes(&self, value: &Value, path: &mut Vec<String>) -> FieldSet {
        let mut set = FieldSet::new();
        match value {
            Value::Object(map) if self.map_type(path) != MapType::Atomic => {
                for (key, child) in map {
                    let element = PathElement::Field(key.clone());
                    path.push(key.clone());
                    let below = self.all_nodes(child, path);
                    path.pop();
                    set.insert_member(element.clone());
                    set.nest(element, below);
                }
            }
            Value::Array(items) => {
                for (element, item) in self.lenient_elements(items, path).into_iter().flatten().zip(items) {
                    let below = self.all_nodes(item, path);
                    set.insert_member(element.clone());
                    set.nest(element, below);
                }
            }
            _ => {}
        }
        set
    }

    /// What changed from `old` to `new` (both objects at the root).
    pub fn compare(&self, old: &Value, new: &Value) -> Comparison {
        self.compare_node(old, new, &mut Vec::new()).1
    }

    /// Whether the node itself changed as a leaf, and what changed below it.
    fn compare_node(&self, old: &Value, new: &Value, path: &mut Vec<String>) -> (bool, Comparison) {
        // A null stands for an empty granular object or list (Go's nil map or slice): what
        // is in the other one is added or removed, the node itself is not.
        if let Some(empty) = self.empty_like(new, path).filter(|_| old.is_null()) {
            return self.compare_node(&empty, new, path);
        }
        if let Some(empty) = self.empty_like(old, path).filter(|_| new.is_null()) {
            return self.compare_node(old, &empty, path);
        }
        let mut cmp = Comparison::default();
        match (old, new) {
            (Value::Object(a), Value::Object(b))
                if self.map_type(path) != MapType::Atomic && !(a.is_empty() && b.is_empty()) =>
            {
                let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                for key in keys {
                    let element = PathElement::Field(key.clone());
                    path.push(key.clone());
                    self.compare_child(&element, a.get(key), b.get(key), path, &mut cmp);
                    path.pop();
                }
                return (false, cmp);
            }
            (Value::Array(a), Value::Array(b)) if !(a.is_empty() && b.is_empty()) => {
                if let (Some(ea), Some(eb)) = (self.lenient_elements(a, path), self.lenient_elements(b, path))
                {
                    let old_items: HashMap<&PathElement, &Value> = ea.iter().zip(a).collect();
                    let new_items: HashMap<&PathElement, &Value> = eb.iter().zip(b).collect();
                    let elements: BTreeSet<&PathElement> = ea.iter().chain(&eb).collect();
                    for element in elements {
                        let (before, after) =
                            (old_items.get(element).copied(), new_items.get(element).copied());
                        self.compare_child(element, before, after, path, &mut cmp);
                    }
                    return (false, cmp);
                }
            }
            _ => {}
        }
        if old == new {
            return (false, cmp);
        }
        cmp.removed = self.all_nodes(old, path);
        cmp.added = self.all_nodes(new, path);
        (true, cmp)
    }

    /// An empty value of the kind of a non-empty granular object or list.
    fn empty_like(&self, value: &Value, path: &[String]) -> Option<Value> {
        match value {
            Value::Object(map) if !map.is_empty() && self.map_type(path) != MapType::Atomic => {
                Some(Value::Object(Map::new()))
            }
            Value::Array(items) if !items.is_empty() && self.list_type(path) != ListType::Atomic => {
                Some(Value::Array(Vec::new()))
            }
            _ => None,
        }
    }

    fn compare_child(
        &self,
        element: &PathElement,
        old: Option<&Value>,
        new: Option<&Value>,
        path: &mut Vec<String>,
        cmp: &mut Comparison,
    ) {
        match (old, new) {
            (Some(old), Some(new)) => {
                let (modified, below) = self.compare_node(old, new, path);
                if modified {
                    cmp.modified.insert_member(element.clone());
                }
                cmp.nest(element, below);
            }
            (None, Some(new)) => {
                cmp.added.insert_member(element.clone());
                let below = self.all_nodes(new, path);
                cmp.added.nest(element.clone(), below);
            }
            (Some(old), None) => {
                cmp.removed.insert_member(element.clone());
                let below = self.all_nodes(old, path);
                cmp.removed.nest(element.clone(), below);
            }
            (None, None) => {}
        }
    }

    /// `config` merged into `live`: objects field by field, associative lists by key and sets
    /// by value (see [`merge_order`]), anything else replaced. A null in `config` removes the
    /// field. Reset paths keep the live value.
    pub fn merge(&self, live: &Value, config: &Value) -> Result<Value, TypeError> {
        self.merge_node(live, config, &mut Vec::new(), &mut Vec::new())
    }

    fn merge_node(
        &self,
        live: &Value,
        config: &Value,
        path: &mut Vec<String>,
        at: &mut Vec<PathElement>,
    ) -> Result<Value, TypeError> {
        match (live, config) {
            (Value::Object(l), Value::Object(c)) if self.map_type(path) != MapType::Atomic => {
                let mut out = l.clone();
                for (key, value) in c {
                    path.push(key.clone());
                    at.push(PathElement::Field(key.clone()));
                    let result = if self.is_reset(path) {
                        Ok(())
                    } else if value.is_null() {
                        out.remove(key);
                        Ok(())
                    } else {
                        let merged = match l.get(key) {
                            Some(existing) => self.merge_node(existing, value, path, at),
                            None => Ok(self.fresh_node(value, path)),
                        };
                        merged.map(|merged| {
                            out.insert(key.clone(), merged);
                        })
                    };
                    path.pop();
                    at.pop();
                    result?;
                }
                Ok(Value::Object(out))
            }
            (Value::Array(l), Value::Array(c)) => {
                let config_elements = match self.elements(c, path) {
                    Ok(Some(elements)) => elements,
                    Ok(None) => return Ok(self.fresh_node(config, path)),
                    Err(message) => return Err(TypeError { path: Path(at.clone()), message }),
                };
                let Some(live_elements) = self.lenient_elements(l, path) else {
                    return Ok(self.fresh_node(config, path));
                };
                let live_index: HashMap<&PathElement, usize> =
                    live_elements.iter().enumerate().map(|(i, e)| (e, i)).collect();
                let mut out = Vec::with_capacity(l.len() + c.len());
                for take in merge_order(&live_elements, &config_elements) {
                    match take {
                        Take::Live(i) => out.push(l[i].clone()),
                        Take::Config(i) => {
                            let element = &config_elements[i];
                            let item = match live_index.get(element) {
                                Some(&li) => {
                                    at.push(element.clone());
                                    let merged = self.merge_node(&l[li], &c[i], path, at);
                                    at.pop();
                                    merged?
                                }
                                None => self.fresh_node(&c[i], path),
                            };
                            out.push(item);
                        }
                    }
                }
                Ok(Value::Array(out))
            }
            _ => Ok(self.fresh_node(config, path)),
        }
    }

    /// An applied value the object does not have yet: nulls in objects dropped, reset paths
    /// left out.
    pub fn fresh(&self, value: &Value) -> Value {
        self.fresh_node(value, &mut Vec::new())
    }

    fn fresh_node(&self, value: &Value, path: &mut Vec<String>) -> Value {
        match value {
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, child) in map {
                    if child.is_null() {
                        continue;
                    }
                    path.push(key.clone());
                    if !self.is_reset(path) {
                        out.insert(key.clone(), self.fresh_node(child, path));
                    }
                    path.pop();
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(|i| self.fresh_node(i, path)).collect()),
            scalar => scalar.clone(),
        }
    }

    /// Removes from `obj` what `last` holds and `owned` does not: a field, item or set value
    /// nobody owns (at or below it) goes whole; one still partly owned is descended into.
    /// The key fields of kept associative-list items, and `apiVersion`, `kind` and
    /// `metadata` at the root, are never removed.
    pub fn prune(&self, obj: &mut Value, last: &FieldSet, owned: &FieldSet) {
        self.prune_node(obj, last, Some(owned), &mut Vec::new(), &["apiVersion", "kind", "metadata"]);
    }

    fn prune_node(
        &self,
        value: &mut Value,
        last: &FieldSet,
        owned: Option<&FieldSet>,
        path: &mut Vec<String>,
        keep: &[&str],
    ) {
        let owns =
            |element: &PathElement| owned.is_some_and(|o| o.is_member(element) || o.child(element).is_some());
        match value {
            Value::Object(map) => {
                for element in last.elements() {
                    let PathElement::Field(name) = element else { continue };
                    if !owns(element) && !keep.contains(&name.as_str()) {
                        map.remove(name);
                        continue;
                    }
                    if let (Some(below), Some(child)) = (last.child(element), map.get_mut(name)) {
                        path.push(name.clone());
                        self.prune_node(child, below, owned.and_then(|o| o.child(element)), path, &[]);
                        path.pop();
                    }
                }
            }
            Value::Array(items) => {
                let Some(elements) = self.lenient_elements(items, path) else { return };
                let keys: Vec<String> = match self.list_type(path) {
                    ListType::Map(keys) => keys.into_iter().map(|k| k.name).collect(),
                    _ => Vec::new(),
                };
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                let mut gone = HashSet::new();
                for (i, element) in elements.iter().enumerate() {
                    if !last.is_member(element) && last.child(element).is_none() {
                        continue;
                    }
                    if !owns(element) {
                        gone.insert(i);
                    } else if let Some(below) = last.child(element) {
                        self.prune_node(
                            &mut items[i],
                            below,
                            owned.and_then(|o| o.child(element)),
                            path,
                            &keys,
                        );
                    }
                }
                let mut i = 0;
                items.retain(|_| {
                    i += 1;
                    !gone.contains(&(i - 1))
                });
            }
            _ => {}
        }
    }
}

/// The path element of an associative-list item: its key fields (or their defaults).
fn item_key(item: &Value, keys: &[KeyField]) -> Result<PathElement, String> {
    let Value::Object(fields) = item else {
        return Err("associative list with keys may not have non-map elements".into());
    };
    let mut values = Vec::with_capacity(keys.len());
    for key in keys {
        match fields.get(&key.name).filter(|v| !v.is_null()).or(key.default.as_ref()) {
            Some(value) => values.push((key.name.as_str(), value)),
            None => {
                return Err(format!(
                    "associative list with keys has an element that omits key field {:?} (and doesn't have default value)",
                    key.name
                ));
            }
        }
    }
    Ok(PathElement::key(values))
}

/// Where an item of a merged list comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Take {
    Live(usize),
    Config(usize),
}

/// The order of a merged granular list (upstream's): the live items the configuration does
/// not mention keep their places; the configuration's items come in its order, each merged
/// with its live namesake, and an item new to the list goes where the configuration puts it
/// relative to the items around it. Live `[a, b, c]` and configuration `[c, d]` give
/// `[a, b, c, d]`; configuration `[d, a]` gives `[d, a, b, c]`.
pub(crate) fn merge_order(live: &[PathElement], config: &[PathElement]) -> Vec<Take> {
    let in_config: HashSet<&PathElement> = config.iter().collect();
    let in_live: HashSet<&PathElement> = live.iter().collect();
    // The configuration's items the live list has, in the configuration's order: the next
    // one is where a live item the configuration also holds may be emitted.
    let shared: Vec<&PathElement> = config.iter().filter(|e| in_live.contains(e)).collect();
    let mut next_shared = 0;
    let mut emitted: HashSet<&PathElement> = HashSet::new();
    let (mut l, mut r) = (0, 0);
    let mut out = Vec::with_capacity(live.len() + config.len());
    while l < live.len() || r < config.len() {
        let mut take_config = r < config.len();
        if l < live.len() {
            let element = &live[l];
            if r < config.len() && *element == config[r] {
                take_config = true;
                l += 1;
            } else if !in_config.contains(element) {
                out.push(Take::Live(l));
                l += 1;
                continue;
            } else if emitted.contains(element) || shared.get(next_shared) != Some(&element) {
                // Emitted already, or to be emitted when the configuration reaches it.
                l += 1;
                continue;
            }
        }
        if !take_config {
            break;
        }
        let element = &config[r];
        out.push(Take::Config(r));
        emitted.insert(element);
        if shared.get(next_shared) == Some(&element) {
            next_shared += 1;
        }
        r += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::BuiltinSchema;
    use serde_json::json;

    fn typed() -> Typed<'static> {
        Typed { schema: &BuiltinSchema, reset: vec![vec!["status".into()]] }
    }

    fn fs(v: Value) -> FieldSet {
        FieldSet::from_fields_v1(&v).unwrap()
    }

    fn names(elements: &[&str]) -> Vec<PathElement> {
        elements.iter().map(|n| PathElement::value(&json!(n))).collect()
    }

    fn order(live: &[&str], config: &[&str]) -> String {
        let (l, c) = (names(live), names(config));
        merge_order(&l, &c)
            .into_iter()
            .map(|t| match t {
                Take::Live(i) => live[i],
                Take::Config(i) => config[i],
            })
            .collect()
    }

    #[test]
    fn merge_orders() {
        assert_eq!(order(&["a", "b", "c"], &["c", "d"]), "abcd");
        assert_eq!(order(&["a", "b", "c"], &["d", "a"]), "dabc");
        assert_eq!(order(&["a", "b", "c"], &["c", "a"]), "bca");
        assert_eq!(order(&["a", "b"], &["a", "x", "b"]), "axb");
        assert_eq!(order(&[], &["a", "b"]), "ab");
        assert_eq!(order(&["a", "b"], &[]), "ab");
        assert_eq!(order(&["a", "b", "c"], &["b"]), "abc");
        assert_eq!(order(&["a", "b", "c"], &["x", "b", "y"]), "axbcy");
    }

    #[test]
    fn applied_sets() {
        let obj = json!({
            "metadata": {"labels": {"app": "web"}, "finalizers": ["a"]},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{
                    "name": "nginx", "image": "nginx", "resources": {},
                    "ports": [{"containerPort": 80}], "args": ["x"]
                }]}}
            }
        });
        let set = typed().applied_set(&obj, true).unwrap();
        assert_eq!(
            set,
            fs(json!({
                "f:metadata": {"f:labels": {"f:app": {}}, "f:finalizers": {"v:\"a\"": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                        ".": {}, "f:image": {}, "f:name": {}, "f:resources": {}, "f:args": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}
                    }}}}
                }
            }))
        );
    }

    #[test]
    fn invalid_lists_are_errors_when_strict() {
        let dup = json!({"spec": {"containers": [{"name": "a"}, {"name": "a"}]}});
        let err = typed().applied_set(&dup, true).unwrap_err();
        assert_eq!(err.to_string(), r#".spec.containers: duplicate entries for key [name="a"]"#);
        // Leniently the list is owned whole.
        assert_eq!(typed().applied_set(&dup, false).unwrap(), fs(json!({"f:spec": {"f:containers": {}}})));
        let keyless = json!({"spec": {"containers": [{"image": "a"}]}});
        assert_eq!(
            typed().applied_set(&keyless, true).unwrap_err().to_string(),
            ".spec.containers: element 0: associative list with keys has an element that omits key field \"name\" (and doesn't have default value)"
        );
        let scalar = json!({"spec": {"containers": ["a"]}});
        assert!(typed().applied_set(&scalar, true).is_err());
    }

    #[test]
    fn comparisons() {
        let old = json!({
            "metadata": {"labels": {"a": "1", "b": "2"}},
            "spec": {"replicas": 1, "containers": [{"name": "x", "image": "1"}, {"name": "y", "image": "1"}]}
        });
        let new = json!({
            "metadata": {"labels": {"a": "1", "c": "3"}},
            "spec": {"replicas": 2, "containers": [{"name": "x", "image": "2"}, {"name": "z", "image": "1"}],
                     "strategy": {"type": "Recreate"}}
        });
        let cmp = typed().compare(&old, &new);
        assert_eq!(
            cmp.added,
            fs(json!({"f:metadata": {"f:labels": {"f:c": {}}}, "f:spec": {
                "f:containers": {"k:{\"name\":\"z\"}": {".": {}, "f:name": {}, "f:image": {}}},
                "f:strategy": {".": {}, "f:type": {}}
            }}))
        );
        assert_eq!(
            cmp.modified,
            fs(
                json!({"f:spec": {"f:replicas": {}, "f:containers": {"k:{\"name\":\"x\"}": {"f:image": {}}}}})
            )
        );
        assert_eq!(
            cmp.removed,
            fs(json!({"f:metadata": {"f:labels": {"f:b": {}}}, "f:spec": {
                "f:containers": {"k:{\"name\":\"y\"}": {".": {}, "f:name": {}, "f:image": {}}}
            }}))
        );
        assert_eq!(typed().compare(&old, &old), Comparison::default());

        // Null is an empty granular value: its contents are added, the node is not.
        let cmp = typed().compare(
            &json!({"spec": {"containers": null}}),
            &json!({"spec": {"containers": [{"name": "x"}]}}),
        );
        assert_eq!(
            cmp.added,
            fs(json!({"f:spec": {"f:containers": {"k:{\"name\":\"x\"}": {".": {}, "f:name": {}}}}}))
        );
        assert!(cmp.modified.is_empty());
        // Not so for an atomic value.
        let cmp = typed().compare(&json!({"spec": {"args": null}}), &json!({"spec": {"args": ["a"]}}));
        assert_eq!(cmp.modified, fs(json!({"f:spec": {"f:args": {}}})));
    }

    #[test]
    fn merges() {
        let live = json!({
            "spec": {"replicas": 3, "paused": false, "template": {"spec": {"containers": [
                {"name": "a", "image": "a:1", "imagePullPolicy": "Always", "args": ["x", "y"]},
                {"name": "b", "image": "b:1"}
            ]}}},
            "status": {"replicas": 3}
        });
        let config = json!({
            "spec": {"replicas": 1, "paused": null, "template": {"spec": {"containers": [
                {"name": "c", "image": "c:1", "env": [{"name": "E", "value": null}]},
                {"name": "a", "image": "a:2", "args": ["z"]}
            ]}}},
            "status": {"replicas": 0}
        });
        let merged = typed().merge(&live, &config).unwrap();
        assert_eq!(
            merged,
            json!({
                "spec": {"replicas": 1, "template": {"spec": {"containers": [
                    {"name": "c", "image": "c:1", "env": [{"name": "E"}]},
                    {"name": "a", "image": "a:2", "imagePullPolicy": "Always", "args": ["z"]},
                    {"name": "b", "image": "b:1"}
                ]}}},
                "status": {"replicas": 3}
            })
        );
    }

    #[test]
    fn prunes() {
        let mut obj = json!({
            "apiVersion": "v1",
            "metadata": {"name": "x", "labels": {"a": "1", "b": "2"}},
            "spec": {"containers": [{"name": "c", "image": "i", "tty": true}, {"name": "d", "image": "j"}]}
        });
        let last = fs(json!({
            "f:metadata": {"f:labels": {"f:a": {}}},
            "f:spec": {"f:containers": {
                "k:{\"name\":\"c\"}": {".": {}, "f:name": {}, "f:image": {}},
                "k:{\"name\":\"d\"}": {".": {}, "f:name": {}, "f:image": {}}
            }}
        }));
        // Someone else still owns c's tty; nobody owns d any more.
        let owned = fs(json!({
            "f:metadata": {"f:labels": {"f:b": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {"f:tty": {}}}}
        }));
        typed().prune(&mut obj, &last, &owned);
        assert_eq!(
            obj,
            json!({
                "apiVersion": "v1",
                "metadata": {"name": "x", "labels": {"b": "2"}},
                "spec": {"containers": [{"name": "c", "tty": true}]}
            })
        );
    }
}
