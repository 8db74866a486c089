//! The resources this server serves, looked up by group, version and plural: the built-ins and
//! whatever CustomResourceDefinitions define.

use std::{
    collections::BTreeMap,
    sync::{Arc, PoisonError, RwLock},
};

use tug_api::resources::{Resource, builtin};

/// Served resources. Cheap to clone; custom resources change at run time.
#[derive(Clone)]
pub struct Registry {
    builtin: Arc<Vec<Arc<Resource>>>,
    /// By CRD name (`<plural>.<group>`).
    custom: Arc<RwLock<BTreeMap<String, Vec<Arc<Resource>>>>>,
}

impl Registry {
    pub fn builtin() -> Self {
        Registry { builtin: Arc::new(builtin().into_iter().map(Arc::new).collect()), custom: Arc::default() }
    }

    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<Resource>> {
        self.all().into_iter().find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    pub fn all(&self) -> Vec<Arc<Resource>> {
        let custom = self.custom.read().unwrap_or_else(PoisonError::into_inner);
        self.builtin.iter().cloned().chain(custom.values().flatten().cloned()).collect()
    }

    /// Serves (or re-serves) the resources of one CustomResourceDefinition.
    pub fn set_custom(&self, crd: &str, resources: Vec<Resource>) {
        let resources = resources.into_iter().map(Arc::new).collect();
        self.custom.write().unwrap_or_else(PoisonError::into_inner).insert(crd.to_string(), resources);
    }

    pub fn remove_custom(&self, crd: &str) {
        self.custom.write().unwrap_or_else(PoisonError::into_inner).remove(crd);
    }

    /// Groups in serving order, each with its versions in preference order.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for r in self.all() {
            match groups.iter_mut().find(|(g, _)| *g == r.group) {
                Some((_, versions)) => {
                    if !versions.contains(&r.version) {
                        versions.push(r.version.clone());
                    }
                }
                None => groups.push((r.group.clone(), vec![r.version.clone()])),
            }
        }
        groups
    }
}
