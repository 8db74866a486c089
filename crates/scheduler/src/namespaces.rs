//! The labels of every namespace, for the namespace selectors of pod (anti-)affinity terms.
//!
//! As upstream, a term of the pod being scheduled has its selector turned into the list of
//! namespaces it selects at the start of each cycle (`mergeAffinityTermNamespacesIfNotEmpty`),
//! so the per-selector counts of placed pods never depend on namespace labels that may change;
//! the terms of placed pods are checked against the labels of the incoming pod's namespace.

use std::{borrow::Cow, collections::HashMap};

use k8s_openapi::api::core::v1::Namespace;

use crate::{
    labels::{Labels, Selector},
    matching::PodMatcher,
};

const NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The label every namespace has: its name.
pub fn name_label(ns: &str) -> Labels {
    [(NAME_LABEL.to_string(), ns.to_string())].into()
}

#[derive(Default)]
pub struct Namespaces {
    labels: HashMap<String, Labels>,
}

impl Namespaces {
    /// Records a namespace; whether its labels are new.
    pub fn upsert(&mut self, ns: &Namespace) -> bool {
        let name = ns.metadata.name.clone().unwrap_or_default();
        let labels: Labels = ns.metadata.labels.clone().unwrap_or_default().into_iter().collect();
        if self.labels.get(&name) == Some(&labels) {
            return false;
        }
        self.labels.insert(name, labels);
        true
    }

    pub fn remove(&mut self, name: &str) {
        self.labels.remove(name);
    }

    /// Keeps only the namespaces named (after a relist).
    pub fn retain(&mut self, names: &std::collections::HashSet<String>) {
        self.labels.retain(|name, _| names.contains(name));
    }

    /// The labels of `ns`; one not seen yet has the name label the API server gives every
    /// namespace.
    pub fn labels_of(&self, ns: &str) -> Cow<'_, Labels> {
        match self.labels.get(ns) {
            Some(labels) => Cow::Borrowed(labels),
            None => Cow::Owned(name_label(ns)),
        }
    }

    /// `m` with its namespace selector replaced by the namespaces it selects now.
    pub fn resolve<'a>(&self, m: &'a PodMatcher) -> Cow<'a, PodMatcher> {
        if m.namespace_selector.is_nothing() {
            return Cow::Borrowed(m);
        }
        let mut namespaces = m.namespaces.clone();
        namespaces.extend(
            self.labels
                .iter()
                .filter(|(_, labels)| m.namespace_selector.matches(labels))
                .map(|(name, _)| name.clone()),
        );
        namespaces.sort();
        namespaces.dedup();
        Cow::Owned(PodMatcher { namespaces, namespace_selector: Selector::nothing(), ..m.clone() })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn namespace(name: &str, labels: serde_json::Value) -> Namespace {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
    }

    #[test]
    fn selectors_resolve_to_the_namespaces_they_select_now() {
        let mut n = Namespaces::default();
        assert!(n.upsert(&namespace("a", json!({"team": "x", NAME_LABEL: "a"}))));
        assert!(n.upsert(&namespace("b", json!({"team": "y", NAME_LABEL: "b"}))));
        assert!(n.upsert(&namespace("c", json!({"team": "x", NAME_LABEL: "c"}))));
        assert!(!n.upsert(&namespace("c", json!({"team": "x", NAME_LABEL: "c"}))));
        let selector = |json| Selector::from_api(Some(&serde_json::from_value(json).unwrap()));
        let m = PodMatcher {
            namespaces: vec!["b".into()],
            namespace_selector: selector(json!({"matchLabels": {"team": "x"}})),
            selector: selector(json!({})),
            skip_terminating: false,
        };
        let resolved = n.resolve(&m);
        assert_eq!(resolved.namespaces, ["a", "b", "c"]);
        assert!(resolved.namespace_selector.is_nothing());

        n.upsert(&namespace("a", json!({"team": "y"})));
        n.remove("c");
        assert_eq!(n.resolve(&m).namespaces, ["b"]);
        assert_eq!(n.labels_of("new")[NAME_LABEL], "new");
        assert_eq!(n.labels_of("a")["team"], "y");
    }
}
