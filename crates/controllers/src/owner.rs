//! Owner references and selectors: who controls an object, and which objects a controller's
//! selector claims.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::Resource;
use tug_api::selector;

/// The owner reference with `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.as_ref()?.iter().find(|r| r.controller == Some(true))
}

/// A controller reference to `owner`, as its controller sets it on the objects it makes.
pub fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).to_string(),
        kind: K::kind(&()).to_string(),
        name: owner.meta().name.clone().unwrap_or_default(),
        uid: owner.meta().uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether `meta` is controlled by the object with `uid`.
pub fn is_controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    controller_of(meta).is_some_and(|r| r.uid == uid)
}

/// A parsed label selector. An empty or missing selector matches nothing, as upstream's
/// controllers treat it (validation refuses it anyway).
pub struct Selector(Option<selector::LabelSelector>);

impl Selector {
    pub fn from_label_selector(sel: Option<&LabelSelector>) -> Selector {
        let parsed = sel
            .and_then(|s| serde_json::to_value(s).ok())
            .and_then(|v| selector::LabelSelector::from_label_selector_json(&v).ok())
            .filter(|s| !s.is_empty());
        Selector(parsed)
    }

    pub fn from_map(map: Option<&BTreeMap<String, String>>) -> Selector {
        let sel = map
            .filter(|m| !m.is_empty())
            .map(|m| LabelSelector { match_labels: Some(m.clone()), match_expressions: None });
        Selector::from_label_selector(sel.as_ref())
    }

    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        match &self.0 {
            Some(sel) => sel.matches_fn(|k| labels.and_then(|l| l.get(k)).map(String::as_str)),
            None => false,
        }
    }
}
