//! The resources the API server serves, from its discovery documents: which ones the garbage
//! collector and the namespace controller can list, watch and delete, and which resource an
//! ownerReference's `apiVersion` and `kind` name.

use std::collections::HashMap;

use kube::{
    Client,
    discovery::{ApiCapabilities, ApiResource, Discovery, Scope, verbs},
};

/// One served resource.
#[derive(Clone, Debug)]
pub struct Served {
    pub resource: ApiResource,
    pub namespaced: bool,
    pub verbs: Vec<String>,
}

impl Served {
    fn new(resource: ApiResource, caps: &ApiCapabilities) -> Served {
        Served { resource, namespaced: caps.scope == Scope::Namespaced, verbs: caps.operations.clone() }
    }

    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    /// `plural.group`, as upstream names a resource in messages (`pods.` for the core group).
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.resource.plural, self.resource.group)
    }
}

/// A snapshot of discovery.
#[derive(Clone, Debug, Default)]
pub struct Resources {
    /// Each resource once, at its group's preferred version.
    preferred: Vec<Served>,
    /// Every served (group, version, kind).
    by_kind: HashMap<(String, String, String), Served>,
}

impl Resources {
    /// Reads discovery (aggregated, or the per-group documents when that fails).
    ///
    /// # Errors
    /// If the API server does not answer discovery.
    pub async fn discover(client: &Client) -> Result<Resources, kube::Error> {
        let discovery = match Discovery::new(client.clone()).run_aggregated().await {
            Ok(d) => d,
            Err(_) => Discovery::new(client.clone()).run().await?,
        };
        let mut resources = Resources::default();
        for group in discovery.groups() {
            for (resource, caps) in group.recommended_resources() {
                resources.preferred.push(Served::new(resource, &caps));
            }
            for version in group.versions() {
                for (resource, caps) in group.versioned_resources(version) {
                    let key = (resource.group.clone(), resource.version.clone(), resource.kind.clone());
                    resources.by_kind.insert(key, Served::new(resource, &caps));
                }
            }
        }
        Ok(resources)
    }

    /// Resources with every one of `verbs`, at their preferred version.
    pub fn with_verbs<'a>(&'a self, wanted: &'a [&'a str]) -> impl Iterator<Item = &'a Served> + 'a {
        self.preferred.iter().filter(move |s| wanted.iter().all(|v| s.supports(v)))
    }

    /// The resources the garbage collector watches: listable, watchable and deletable.
    pub fn deletable(&self) -> impl Iterator<Item = &Served> {
        self.with_verbs(&[verbs::LIST, verbs::WATCH, verbs::DELETE])
    }

    /// The resource behind an `apiVersion` and `kind`; another served version of the same
    /// group and kind when that version is not served.
    pub fn resolve(&self, api_version: &str, kind: &str) -> Option<&Served> {
        let (group, version) = split_api_version(api_version);
        self.by_kind
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
            .or_else(|| self.preferred.iter().find(|s| s.resource.group == group && s.resource.kind == kind))
    }
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_split_into_group_and_version() {
        assert_eq!(split_api_version("apps/v1"), ("apps", "v1"));
        assert_eq!(split_api_version("v1"), ("", "v1"));
    }
}
