//! Patch metadata of the built-in Kubernetes types, for strategic merge patch.

use super::schema::{FieldMeta, ListStrategy, PatchSchema};

/// The schema of the built-in types.
///
/// Source: the `patchStrategy` / `patchMergeKey` struct tags of the Go types in k8s.io/api
/// (core/v1, apps/v1, batch/v1) and k8s.io/apimachinery (meta/v1 ObjectMeta), which the API
/// server also publishes as `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key` in
/// its OpenAPI. Fields without a tag (tolerations, taints, envFrom, most lists) are atomic:
/// the patch's list replaces the object's; those the tutorials touch are listed explicitly so
/// that the choice is visible.
///
/// Lookup is by path rather than by Go type: the object's kind is not needed because the
/// tagged field names do not collide across kinds. Custom resources have no such metadata;
/// upstream refuses strategic merge patches for them, and so should the API server before it
/// reaches for this schema.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuiltinSchema;

impl PatchSchema for BuiltinSchema {
    fn field(&self, path: &[&str]) -> FieldMeta {
        RULES.iter().find(|rule| rule.matches(path)).map(Rule::meta).unwrap_or_default()
    }
}

/// The three lists of containers a pod spec has; their items share one set of tags.
const CONTAINERS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];

enum Seg {
    Is(&'static str),
    AnyOf(&'static [&'static str]),
}

enum Anchor {
    /// The pattern is the whole path: fields of one kind's top level (`spec.ports` of a Service).
    Root,
    /// The pattern is the end of the path: fields of structures that nest (a pod spec sits
    /// at `spec`, `spec.template.spec`, `spec.jobTemplate.spec.template.spec`, `template.spec`).
    Tail,
}

struct Rule {
    anchor: Anchor,
    pattern: &'static [Seg],
    strategy: ListStrategy,
    merge_key: Option<&'static str>,
    retain_keys: bool,
}

impl Rule {
    fn matches(&self, path: &[&str]) -> bool {
        let n = self.pattern.len();
        let fits = match self.anchor {
            Anchor::Root => path.len() == n,
            Anchor::Tail => path.len() >= n,
        };
        fits && self.pattern.iter().zip(&path[path.len() - n..]).all(|(seg, name)| match seg {
            Seg::Is(want) => want == name,
            Seg::AnyOf(options) => options.contains(name),
        })
    }

    fn meta(&self) -> FieldMeta {
        FieldMeta {
            strategy: self.strategy,
            merge_key: self.merge_key.map(str::to_owned),
            retain_keys: self.retain_keys,
        }
    }
}

const fn rule(
    anchor: Anchor,
    pattern: &'static [Seg],
    strategy: ListStrategy,
    merge_key: Option<&'static str>,
) -> Rule {
    Rule { anchor, pattern, strategy, merge_key, retain_keys: false }
}

const fn merge(anchor: Anchor, pattern: &'static [Seg], key: &'static str) -> Rule {
    rule(anchor, pattern, ListStrategy::Merge, Some(key))
}

const fn merge_retain(anchor: Anchor, pattern: &'static [Seg], key: Option<&'static str>) -> Rule {
    Rule { anchor, pattern, strategy: ListStrategy::Merge, merge_key: key, retain_keys: true }
}

const fn atomic(anchor: Anchor, pattern: &'static [Seg]) -> Rule {
    rule(anchor, pattern, ListStrategy::Replace, None)
}

use Anchor::{Root, Tail};
use Seg::{AnyOf, Is};

/// First match wins; the root-anchored rules come first so they are never shadowed.
static RULES: &[Rule] = &[
    // Service.spec.ports: merge key `port` (upstream's known wart: TCP and UDP on one port collide).
    merge(Root, &[Is("spec"), Is("ports")], "port"),
    // Deployment.spec.strategy: retainKeys, so switching to Recreate can drop rollingUpdate.
    Rule {
        anchor: Root,
        pattern: &[Is("spec"), Is("strategy")],
        strategy: ListStrategy::Replace,
        merge_key: None,
        retain_keys: true,
    },
    // Node.spec: podCIDRs is a merged set; taints carry no tag and are atomic.
    rule(Root, &[Is("spec"), Is("podCIDRs")], ListStrategy::Merge, None),
    atomic(Root, &[Is("spec"), Is("taints")]),
    // Status of Pods, Nodes, Namespaces, PVCs, workloads, Jobs, Services: conditions by `type`.
    merge(Root, &[Is("status"), Is("conditions")], "type"),
    merge(Root, &[Is("status"), Is("addresses")], "type"),
    merge(Root, &[Is("status"), Is("podIPs")], "ip"),
    merge(Root, &[Is("status"), Is("hostIPs")], "ip"),
    merge_retain(Root, &[Is("status"), Is("resourceClaimStatuses")], Some("name")),
    // ServiceAccount.secrets (its imagePullSecrets is untagged, hence atomic).
    merge(Root, &[Is("secrets")], "name"),
    // ObjectMeta, wherever it sits (pod templates carry one too).
    rule(Tail, &[Is("metadata"), Is("finalizers")], ListStrategy::Merge, None),
    merge(Tail, &[Is("metadata"), Is("ownerReferences")], "uid"),
    // Container fields, for all three container lists of any pod spec.
    merge(Tail, &[Is("spec"), AnyOf(CONTAINERS), Is("ports")], "containerPort"),
    merge(Tail, &[Is("spec"), AnyOf(CONTAINERS), Is("env")], "name"),
    merge(Tail, &[Is("spec"), AnyOf(CONTAINERS), Is("volumeMounts")], "mountPath"),
    merge(Tail, &[Is("spec"), AnyOf(CONTAINERS), Is("volumeDevices")], "devicePath"),
    atomic(Tail, &[Is("spec"), AnyOf(CONTAINERS), Is("envFrom")]),
    // PodSpec fields, for a pod spec at any depth.
    merge(Tail, &[Is("spec"), AnyOf(CONTAINERS)], "name"),
    merge_retain(Tail, &[Is("spec"), Is("volumes")], Some("name")),
    merge(Tail, &[Is("spec"), Is("imagePullSecrets")], "name"),
    merge(Tail, &[Is("spec"), Is("hostAliases")], "ip"),
    merge(Tail, &[Is("spec"), Is("topologySpreadConstraints")], "topologyKey"),
    merge_retain(Tail, &[Is("spec"), Is("resourceClaims")], Some("name")),
    merge(Tail, &[Is("spec"), Is("schedulingGates")], "name"),
    atomic(Tail, &[Is("spec"), Is("tolerations")]),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(path: &str) -> FieldMeta {
        let path: Vec<&str> = path.split('.').collect();
        BuiltinSchema.field(&path)
    }

    fn key(path: &str) -> Option<String> {
        let m = meta(path);
        assert_eq!(m.strategy, ListStrategy::Merge, "{path} should merge");
        m.merge_key
    }

    #[test]
    fn containers_at_any_depth() {
        for path in [
            "spec.containers",
            "spec.initContainers",
            "spec.ephemeralContainers",
            "spec.template.spec.containers",
            "spec.jobTemplate.spec.template.spec.containers",
            "template.spec.containers",
        ] {
            assert_eq!(key(path).as_deref(), Some("name"), "{path}");
        }
    }

    #[test]
    fn container_fields() {
        assert_eq!(key("spec.template.spec.containers.ports").as_deref(), Some("containerPort"));
        assert_eq!(key("spec.containers.env").as_deref(), Some("name"));
        assert_eq!(key("spec.initContainers.volumeMounts").as_deref(), Some("mountPath"));
        assert_eq!(
            key("spec.jobTemplate.spec.template.spec.containers.volumeDevices").as_deref(),
            Some("devicePath")
        );
        assert_eq!(meta("spec.containers.envFrom"), FieldMeta::default());
        assert_eq!(meta("spec.containers.args"), FieldMeta::default());
        assert_eq!(meta("spec.containers.command"), FieldMeta::default());
    }

    #[test]
    fn pod_spec_fields() {
        let volumes = meta("spec.template.spec.volumes");
        assert_eq!(volumes, FieldMeta::merge_by("name").retaining_keys());
        assert_eq!(key("spec.imagePullSecrets").as_deref(), Some("name"));
        assert_eq!(key("spec.hostAliases").as_deref(), Some("ip"));
        assert_eq!(key("spec.template.spec.topologySpreadConstraints").as_deref(), Some("topologyKey"));
        assert_eq!(key("spec.resourceClaims").as_deref(), Some("name"));
        assert!(meta("spec.resourceClaims").retain_keys);
        assert_eq!(key("spec.schedulingGates").as_deref(), Some("name"));
        assert_eq!(meta("spec.template.spec.tolerations"), FieldMeta::default());
    }

    #[test]
    fn object_meta() {
        assert_eq!(meta("metadata.finalizers"), FieldMeta::merge_set());
        assert_eq!(meta("spec.template.metadata.finalizers"), FieldMeta::merge_set());
        assert_eq!(key("metadata.ownerReferences").as_deref(), Some("uid"));
    }

    #[test]
    fn kind_level_fields() {
        assert_eq!(key("spec.ports").as_deref(), Some("port"));
        assert_eq!(key("status.conditions").as_deref(), Some("type"));
        assert_eq!(key("status.addresses").as_deref(), Some("type"));
        assert_eq!(key("status.podIPs").as_deref(), Some("ip"));
        assert_eq!(key("secrets").as_deref(), Some("name"));
        assert_eq!(meta("spec.podCIDRs"), FieldMeta::merge_set());
        assert_eq!(meta("spec.taints"), FieldMeta::default());
        let strategy = meta("spec.strategy");
        assert!(strategy.retain_keys);
        assert_eq!(strategy.merge_key, None);
    }

    #[test]
    fn anchored_rules_do_not_leak_into_nested_structures() {
        // NetworkPolicy ports and a ServiceAccount-style imagePullSecrets are atomic.
        assert_eq!(meta("spec.ingress.ports"), FieldMeta::default());
        assert_eq!(meta("imagePullSecrets"), FieldMeta::default());
        assert_eq!(meta("spec.template.status.conditions"), FieldMeta::default());
        assert_eq!(meta("spec.template.spec.ports"), FieldMeta::default());
        // Container status lists are untagged.
        assert_eq!(meta("status.containerStatuses"), FieldMeta::default());
        assert_eq!(meta("containers"), FieldMeta::default());
        assert_eq!(meta(""), FieldMeta::default());
    }
}
