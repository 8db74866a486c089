//! Upstream's patch and list metadata on the fields of the built-in types, which `k8s-openapi`
//! does not carry: `x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`,
//! `x-kubernetes-list-type` and `x-kubernetes-list-map-keys`.
//!
//! Source: the `patchStrategy`/`patchMergeKey` struct tags and `+listType`/`+listMapKey`
//! markers of the Go types in k8s.io/api and k8s.io/apimachinery, as the API server publishes
//! them. The merge rules are the ones `patch::BuiltinSchema` applies (a test walks the served
//! kinds and compares); the list types cover the lists of the served kinds that upstream marks.

use serde_json::{Map, Value, json};

/// The metadata of one field.
struct Ext {
    definition: &'static str,
    field: &'static str,
    strategy: Option<&'static str>,
    merge_key: Option<&'static str>,
    list_type: Option<&'static str>,
    map_keys: &'static [&'static str],
}

/// A list merged by `key` that is also a `map` list keyed by `keys`.
const fn merge(
    definition: &'static str,
    field: &'static str,
    key: &'static str,
    keys: &'static [&'static str],
) -> Ext {
    Ext {
        definition,
        field,
        strategy: Some("merge"),
        merge_key: Some(key),
        list_type: Some("map"),
        map_keys: keys,
    }
}

/// A list merged by `name` with upstream's `retainKeys` as well (volumes, resource claims).
const fn merge_retain(definition: &'static str, field: &'static str) -> Ext {
    Ext {
        definition,
        field,
        strategy: Some("merge,retainKeys"),
        merge_key: Some("name"),
        list_type: Some("map"),
        map_keys: NAME,
    }
}

/// A list merged by `key` that upstream nonetheless types as `atomic` (`hostIPs`, Job conditions).
const fn merge_atomic(definition: &'static str, field: &'static str, key: &'static str) -> Ext {
    Ext {
        definition,
        field,
        strategy: Some("merge"),
        merge_key: Some(key),
        list_type: Some("atomic"),
        map_keys: &[],
    }
}

/// A merged list of scalars: a set.
const fn merge_set(definition: &'static str, field: &'static str) -> Ext {
    Ext { definition, field, strategy: Some("merge"), merge_key: None, list_type: Some("set"), map_keys: &[] }
}

/// A list replaced whole.
const fn atomic(definition: &'static str, field: &'static str) -> Ext {
    Ext { definition, field, strategy: None, merge_key: None, list_type: Some("atomic"), map_keys: &[] }
}

const NAME: &[&str] = &["name"];
const TYPE: &[&str] = &["type"];
const IP: &[&str] = &["ip"];

#[rustfmt::skip]
static TABLE: &[Ext] = &[
    // meta/v1
    merge_set("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers"),
    merge("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "ownerReferences", "uid", &["uid"]),
    atomic("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "managedFields"),
    atomic("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector", "matchExpressions"),
    atomic("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement", "values"),
    // core/v1 containers (Container and EphemeralContainer share their fields)
    atomic("io.k8s.api.core.v1.Container", "command"),
    atomic("io.k8s.api.core.v1.Container", "args"),
    merge("io.k8s.api.core.v1.Container", "ports", "containerPort", &["containerPort", "protocol"]),
    atomic("io.k8s.api.core.v1.Container", "envFrom"),
    merge("io.k8s.api.core.v1.Container", "env", "name", NAME),
    merge("io.k8s.api.core.v1.Container", "volumeMounts", "mountPath", &["mountPath"]),
    merge("io.k8s.api.core.v1.Container", "volumeDevices", "devicePath", &["devicePath"]),
    atomic("io.k8s.api.core.v1.Container", "resizePolicy"),
    atomic("io.k8s.api.core.v1.EphemeralContainer", "command"),
    atomic("io.k8s.api.core.v1.EphemeralContainer", "args"),
    merge("io.k8s.api.core.v1.EphemeralContainer", "ports", "containerPort", &["containerPort", "protocol"]),
    atomic("io.k8s.api.core.v1.EphemeralContainer", "envFrom"),
    merge("io.k8s.api.core.v1.EphemeralContainer", "env", "name", NAME),
    merge("io.k8s.api.core.v1.EphemeralContainer", "volumeMounts", "mountPath", &["mountPath"]),
    merge("io.k8s.api.core.v1.EphemeralContainer", "volumeDevices", "devicePath", &["devicePath"]),
    atomic("io.k8s.api.core.v1.EphemeralContainer", "resizePolicy"),
    // core/v1 pods
    merge_retain("io.k8s.api.core.v1.PodSpec", "volumes"),
    merge("io.k8s.api.core.v1.PodSpec", "initContainers", "name", NAME),
    merge("io.k8s.api.core.v1.PodSpec", "containers", "name", NAME),
    merge("io.k8s.api.core.v1.PodSpec", "ephemeralContainers", "name", NAME),
    merge("io.k8s.api.core.v1.PodSpec", "imagePullSecrets", "name", NAME),
    atomic("io.k8s.api.core.v1.PodSpec", "tolerations"),
    merge("io.k8s.api.core.v1.PodSpec", "hostAliases", "ip", IP),
    atomic("io.k8s.api.core.v1.PodSpec", "readinessGates"),
    merge("io.k8s.api.core.v1.PodSpec", "topologySpreadConstraints", "topologyKey", &["topologyKey", "whenUnsatisfiable"]),
    merge("io.k8s.api.core.v1.PodSpec", "schedulingGates", "name", NAME),
    merge_retain("io.k8s.api.core.v1.PodSpec", "resourceClaims"),
    merge("io.k8s.api.core.v1.PodStatus", "conditions", "type", TYPE),
    merge("io.k8s.api.core.v1.PodStatus", "podIPs", "ip", IP),
    merge_atomic("io.k8s.api.core.v1.PodStatus", "hostIPs", "ip"),
    atomic("io.k8s.api.core.v1.PodStatus", "initContainerStatuses"),
    atomic("io.k8s.api.core.v1.PodStatus", "containerStatuses"),
    atomic("io.k8s.api.core.v1.PodStatus", "ephemeralContainerStatuses"),
    merge_retain("io.k8s.api.core.v1.PodStatus", "resourceClaimStatuses"),
    atomic("io.k8s.api.core.v1.PodDNSConfig", "nameservers"),
    atomic("io.k8s.api.core.v1.PodDNSConfig", "searches"),
    atomic("io.k8s.api.core.v1.PodDNSConfig", "options"),
    atomic("io.k8s.api.core.v1.PodSecurityContext", "supplementalGroups"),
    atomic("io.k8s.api.core.v1.PodSecurityContext", "sysctls"),
    atomic("io.k8s.api.core.v1.Capabilities", "add"),
    atomic("io.k8s.api.core.v1.Capabilities", "drop"),
    atomic("io.k8s.api.core.v1.ExecAction", "command"),
    atomic("io.k8s.api.core.v1.NodeSelector", "nodeSelectorTerms"),
    atomic("io.k8s.api.core.v1.NodeSelectorTerm", "matchExpressions"),
    atomic("io.k8s.api.core.v1.NodeSelectorTerm", "matchFields"),
    atomic("io.k8s.api.core.v1.NodeSelectorRequirement", "values"),
    atomic("io.k8s.api.core.v1.NodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution"),
    atomic("io.k8s.api.core.v1.PodAffinity", "requiredDuringSchedulingIgnoredDuringExecution"),
    atomic("io.k8s.api.core.v1.PodAffinity", "preferredDuringSchedulingIgnoredDuringExecution"),
    atomic("io.k8s.api.core.v1.PodAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution"),
    atomic("io.k8s.api.core.v1.PodAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution"),
    atomic("io.k8s.api.core.v1.PodAffinityTerm", "namespaces"),
    atomic("io.k8s.api.core.v1.PodAffinityTerm", "matchLabelKeys"),
    atomic("io.k8s.api.core.v1.PodAffinityTerm", "mismatchLabelKeys"),
    atomic("io.k8s.api.core.v1.TopologySpreadConstraint", "matchLabelKeys"),
    atomic("io.k8s.api.core.v1.ConfigMapVolumeSource", "items"),
    atomic("io.k8s.api.core.v1.SecretVolumeSource", "items"),
    atomic("io.k8s.api.core.v1.DownwardAPIVolumeSource", "items"),
    atomic("io.k8s.api.core.v1.ProjectedVolumeSource", "sources"),
    // core/v1 other kinds
    merge("io.k8s.api.core.v1.ServiceSpec", "ports", "port", &["port", "protocol"]),
    atomic("io.k8s.api.core.v1.ServiceSpec", "clusterIPs"),
    atomic("io.k8s.api.core.v1.ServiceSpec", "externalIPs"),
    atomic("io.k8s.api.core.v1.ServiceSpec", "loadBalancerSourceRanges"),
    atomic("io.k8s.api.core.v1.ServiceSpec", "ipFamilies"),
    merge("io.k8s.api.core.v1.ServiceStatus", "conditions", "type", TYPE),
    atomic("io.k8s.api.core.v1.LoadBalancerStatus", "ingress"),
    merge_set("io.k8s.api.core.v1.NodeSpec", "podCIDRs"),
    atomic("io.k8s.api.core.v1.NodeSpec", "taints"),
    merge("io.k8s.api.core.v1.NodeStatus", "conditions", "type", TYPE),
    merge("io.k8s.api.core.v1.NodeStatus", "addresses", "type", TYPE),
    atomic("io.k8s.api.core.v1.NodeStatus", "images"),
    atomic("io.k8s.api.core.v1.NodeStatus", "volumesInUse"),
    atomic("io.k8s.api.core.v1.NodeStatus", "volumesAttached"),
    atomic("io.k8s.api.core.v1.NamespaceSpec", "finalizers"),
    merge("io.k8s.api.core.v1.NamespaceStatus", "conditions", "type", TYPE),
    merge("io.k8s.api.core.v1.ServiceAccount", "secrets", "name", NAME),
    atomic("io.k8s.api.core.v1.ServiceAccount", "imagePullSecrets"),
    atomic("io.k8s.api.core.v1.PersistentVolumeClaimSpec", "accessModes"),
    merge("io.k8s.api.core.v1.PersistentVolumeClaimStatus", "conditions", "type", TYPE),
    atomic("io.k8s.api.core.v1.PersistentVolumeClaimStatus", "accessModes"),
    atomic("io.k8s.api.core.v1.PersistentVolumeSpec", "accessModes"),
    atomic("io.k8s.api.core.v1.PersistentVolumeSpec", "mountOptions"),
    merge("io.k8s.api.core.v1.ReplicationControllerStatus", "conditions", "type", TYPE),
    atomic("io.k8s.api.core.v1.Endpoints", "subsets"),
    atomic("io.k8s.api.core.v1.EndpointSubset", "addresses"),
    atomic("io.k8s.api.core.v1.EndpointSubset", "notReadyAddresses"),
    atomic("io.k8s.api.core.v1.EndpointSubset", "ports"),
    atomic("io.k8s.api.core.v1.LimitRangeSpec", "limits"),
    // apps/v1
    Ext {
        definition: "io.k8s.api.apps.v1.DeploymentSpec",
        field: "strategy",
        strategy: Some("retainKeys"),
        merge_key: None,
        list_type: None,
        map_keys: &[],
    },
    merge("io.k8s.api.apps.v1.DeploymentStatus", "conditions", "type", TYPE),
    merge("io.k8s.api.apps.v1.ReplicaSetStatus", "conditions", "type", TYPE),
    merge("io.k8s.api.apps.v1.StatefulSetStatus", "conditions", "type", TYPE),
    merge("io.k8s.api.apps.v1.DaemonSetStatus", "conditions", "type", TYPE),
    atomic("io.k8s.api.apps.v1.StatefulSetSpec", "volumeClaimTemplates"),
    // batch/v1
    merge_atomic("io.k8s.api.batch.v1.JobStatus", "conditions", "type"),
    atomic("io.k8s.api.batch.v1.CronJobStatus", "active"),
    atomic("io.k8s.api.batch.v1.PodFailurePolicy", "rules"),
    atomic("io.k8s.api.batch.v1.SuccessPolicy", "rules"),
    // autoscaling
    atomic("io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec", "metrics"),
    merge("io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus", "conditions", "type", TYPE),
    atomic("io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus", "currentMetrics"),
    atomic("io.k8s.api.autoscaling.v2.HPAScalingRules", "policies"),
    // networking.k8s.io/v1
    atomic("io.k8s.api.networking.v1.IngressSpec", "tls"),
    atomic("io.k8s.api.networking.v1.IngressSpec", "rules"),
    atomic("io.k8s.api.networking.v1.IngressTLS", "hosts"),
    atomic("io.k8s.api.networking.v1.HTTPIngressRuleValue", "paths"),
    atomic("io.k8s.api.networking.v1.IngressLoadBalancerStatus", "ingress"),
    atomic("io.k8s.api.networking.v1.NetworkPolicySpec", "ingress"),
    atomic("io.k8s.api.networking.v1.NetworkPolicySpec", "egress"),
    atomic("io.k8s.api.networking.v1.NetworkPolicySpec", "policyTypes"),
    atomic("io.k8s.api.networking.v1.NetworkPolicyIngressRule", "ports"),
    atomic("io.k8s.api.networking.v1.NetworkPolicyIngressRule", "from"),
    atomic("io.k8s.api.networking.v1.NetworkPolicyEgressRule", "ports"),
    atomic("io.k8s.api.networking.v1.NetworkPolicyEgressRule", "to"),
    // discovery.k8s.io/v1
    atomic("io.k8s.api.discovery.v1.EndpointSlice", "endpoints"),
    atomic("io.k8s.api.discovery.v1.EndpointSlice", "ports"),
    Ext {
        definition: "io.k8s.api.discovery.v1.Endpoint",
        field: "addresses",
        strategy: None,
        merge_key: None,
        list_type: Some("set"),
        map_keys: &[],
    },
    // policy/v1
    merge("io.k8s.api.policy.v1.PodDisruptionBudgetStatus", "conditions", "type", TYPE),
    // rbac.authorization.k8s.io/v1
    atomic("io.k8s.api.rbac.v1.ClusterRole", "rules"),
    atomic("io.k8s.api.rbac.v1.Role", "rules"),
    atomic("io.k8s.api.rbac.v1.ClusterRoleBinding", "subjects"),
    atomic("io.k8s.api.rbac.v1.RoleBinding", "subjects"),
    atomic("io.k8s.api.rbac.v1.PolicyRule", "verbs"),
    atomic("io.k8s.api.rbac.v1.PolicyRule", "apiGroups"),
    atomic("io.k8s.api.rbac.v1.PolicyRule", "resources"),
    atomic("io.k8s.api.rbac.v1.PolicyRule", "resourceNames"),
    atomic("io.k8s.api.rbac.v1.PolicyRule", "nonResourceURLs"),
    // apiextensions.k8s.io/v1: condition lists keyed by type, without a patch strategy.
    Ext {
        definition: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionStatus",
        field: "conditions",
        strategy: None,
        merge_key: None,
        list_type: Some("map"),
        map_keys: TYPE,
    },
    atomic("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionStatus", "storedVersions"),
    atomic("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionSpec", "versions"),
    // certificates.k8s.io/v1: conditions keyed by type, without a patch strategy.
    Ext {
        definition: "io.k8s.api.certificates.v1.CertificateSigningRequestStatus",
        field: "conditions",
        strategy: None,
        merge_key: None,
        list_type: Some("map"),
        map_keys: TYPE,
    },
    atomic("io.k8s.api.certificates.v1.CertificateSigningRequestSpec", "usages"),
    atomic("io.k8s.api.certificates.v1.CertificateSigningRequestSpec", "groups"),
    // apiregistration.k8s.io/v1
    merge("io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceStatus", "conditions", "type", TYPE),
];

/// Puts the table's metadata on the fields it names. A field that is a bare `$ref` becomes
/// `allOf: [{"$ref": ...}]` first, as upstream writes references with siblings.
pub(super) fn apply(schemas: &mut Map<String, Value>) {
    for ext in TABLE {
        let Some(Value::Object(field)) = schemas
            .get_mut(ext.definition)
            .and_then(|d| d.get_mut("properties"))
            .and_then(|p| p.get_mut(ext.field))
        else {
            continue;
        };
        if let Some(reference) = field.remove("$ref") {
            field.insert("allOf".into(), json!([{"$ref": reference}]));
        }
        if let Some(strategy) = ext.strategy {
            field.insert("x-kubernetes-patch-strategy".into(), json!(strategy));
        }
        if let Some(key) = ext.merge_key {
            field.insert("x-kubernetes-patch-merge-key".into(), json!(key));
        }
        if let Some(list_type) = ext.list_type {
            field.insert("x-kubernetes-list-type".into(), json!(list_type));
        }
        if !ext.map_keys.is_empty() {
            field.insert("x-kubernetes-list-map-keys".into(), json!(ext.map_keys));
        }
    }
}

/// The (definition, field) pairs of the table, for tests that check every one exists.
#[cfg(test)]
pub(super) fn fields() -> impl Iterator<Item = (&'static str, &'static str)> {
    TABLE.iter().map(|e| (e.definition, e.field))
}
