//! Which served resources share one stored collection, and in which version it is stored.
//!
//! Upstream serves some kinds in several group versions backed by one registry: objects are
//! stored in one version, and every served version is a view converted on the way in and out.
//! Everything else in Tugboat is stored in the version it is served in.

/// (group, plural, kind, storage group, storage version) of every shared collection.
const SHARED: &[(&str, &str, &str, &str, &str)] = &[
    ("autoscaling", "horizontalpodautoscalers", "HorizontalPodAutoscaler", "autoscaling", "v2"),
    ("", "events", "Event", "", "v1"),
    ("events.k8s.io", "events", "Event", "", "v1"),
];

/// The (group, version) objects of this group and kind are stored in, when one collection
/// backs several served versions (HorizontalPodAutoscaler: autoscaling/v2; Event, core or
/// events.k8s.io: core v1). `None` for kinds stored as they are served.
pub fn storage_version(group: &str, kind: &str) -> Option<(&'static str, &'static str)> {
    SHARED.iter().find(|s| s.0 == group && s.2 == kind).map(|s| (s.3, s.4))
}

/// [`storage_version`] by resource plural, as a request names it.
pub fn shared_storage(group: &str, plural: &str) -> Option<(&'static str, &'static str)> {
    SHARED.iter().find(|s| s.0 == group && s.1 == plural).map(|s| (s.3, s.4))
}

/// The storage key prefix of a resource, `/registry/<group or core>/<plural>/`, naming the
/// storage group for shared collections: events.k8s.io events live under
/// `/registry/core/events/` with the core ones. For every other resource this is
/// `Resource::key_prefix`.
pub fn storage_key_prefix(group: &str, plural: &str) -> String {
    let group = shared_storage(group, plural).map_or(group, |(g, _)| g);
    let group = if group.is_empty() { "core" } else { group };
    format!("/registry/{group}/{plural}/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtin;

    #[test]
    fn shared_collections() {
        assert_eq!(storage_version("autoscaling", "HorizontalPodAutoscaler"), Some(("autoscaling", "v2")));
        assert_eq!(storage_version("events.k8s.io", "Event"), Some(("", "v1")));
        assert_eq!(storage_version("", "Event"), Some(("", "v1")));
        assert_eq!(storage_version("apps", "Deployment"), None);
        assert_eq!(shared_storage("events.k8s.io", "events"), Some(("", "v1")));
        assert_eq!(shared_storage("autoscaling", "horizontalpodautoscalers"), Some(("autoscaling", "v2")));
        assert_eq!(shared_storage("", "pods"), None);
        assert_eq!(storage_key_prefix("events.k8s.io", "events"), "/registry/core/events/");
        assert_eq!(storage_key_prefix("", "events"), "/registry/core/events/");
        assert_eq!(
            storage_key_prefix("autoscaling", "horizontalpodautoscalers"),
            "/registry/autoscaling/horizontalpodautoscalers/"
        );
    }

    #[test]
    fn agrees_with_the_resource_table() {
        let all = builtin();
        for r in &all {
            if shared_storage(&r.group, &r.plural).is_none() {
                assert_eq!(storage_key_prefix(&r.group, &r.plural), r.key_prefix(), "{r:?}");
            }
        }
        // Every shared collection is served, in its storage version too, with one kind.
        for &(group, plural, kind, storage_group, storage_version) in SHARED {
            assert!(all.iter().any(|r| r.group == group && r.plural == plural && r.kind == kind));
            assert!(all.iter().any(|r| r.group == storage_group
                && r.version == storage_version
                && r.plural == plural
                && r.kind == kind));
        }
    }
}
