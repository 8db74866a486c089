//! The resources this server serves, looked up by group, version and plural.

use std::sync::{Arc, RwLock};

use tug_api::resources::{Resource, builtin};

/// Served resources. Behind a lock because custom resources will be added at run time.
#[derive(Clone)]
pub struct Registry {
    resources: Arc<RwLock<Vec<Arc<Resource>>>>,
}

impl Registry {
    pub fn builtin() -> Self {
        Registry { resources: Arc::new(RwLock::new(builtin().into_iter().map(Arc::new).collect())) }
    }

    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<Resource>> {
        self.all().into_iter().find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    pub fn all(&self) -> Vec<Arc<Resource>> {
        self.resources.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
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
