//! Autoscaling, policy, storage, scheduling, RBAC and API extension kinds.

use serde_json::{Value, json};

use super::{Object, child, child_or_insert, default_str, default_value, is_empty_collection, items, str_of};

/// `autoscaling/v2` `SetDefaults_HorizontalPodAutoscaler`: one minimum replica, an 80% CPU
/// utilisation target when no metric is given, and a `behavior` that is present filled in
/// with the default scaling rules. Status serialises `desiredReplicas` and `currentMetrics`.
pub(super) fn hpa_v2(o: &mut Object) {
    if let Some(spec) = child_or_insert(o, "spec") {
        default_value(spec, "minReplicas", json!(1));
        if is_empty_collection(spec.get("metrics")) {
            spec.insert(
                "metrics".into(),
                json!([{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80}}}]),
            );
        }
        if let Some(behavior) = child(spec, "behavior") {
            let scale_up = json!({
                "stabilizationWindowSeconds": 0,
                "selectPolicy": "Max",
                "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                             {"type": "Percent", "value": 100, "periodSeconds": 15}]
            });
            let scale_down = json!({
                "selectPolicy": "Max",
                "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]
            });
            for (key, defaults) in [("scaleUp", scale_up), ("scaleDown", scale_down)] {
                let mut rules = defaults;
                if let (Some(given), Some(target)) =
                    (behavior.get(key).and_then(Value::as_object), rules.as_object_mut())
                {
                    for (k, v) in given.iter().filter(|(_, v)| !v.is_null()) {
                        target.insert(k.clone(), v.clone());
                    }
                }
                behavior.insert(key.into(), rules);
            }
        }
    }
    if let Some(status) = child_or_insert(o, "status") {
        default_value(status, "desiredReplicas", json!(0));
        status.entry("currentMetrics").or_insert(Value::Null);
    }
}

/// `autoscaling/v1`: one minimum replica. The 80% CPU target a v1 object without one reads
/// back with comes from the conversion to the stored v2 (see `convert`).
pub(super) fn hpa_v1(o: &mut Object) {
    if let Some(spec) = child_or_insert(o, "spec") {
        default_value(spec, "minReplicas", json!(1));
    }
    super::zero_status(o, &["currentReplicas", "desiredReplicas"]);
}

pub(super) fn pod_disruption_budget(o: &mut Object) {
    super::zero_status(o, &["disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"]);
}

pub(super) fn storage_class(o: &mut Object) {
    default_value(o, "reclaimPolicy", json!("Delete"));
    default_value(o, "volumeBindingMode", json!("Immediate"));
}

pub(super) fn priority_class(o: &mut Object) {
    default_value(o, "preemptionPolicy", json!("PreemptLowerPriority"));
}

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// RoleBinding and ClusterRoleBinding: `roleRef.apiGroup` and the API group of User and Group
/// subjects default to the RBAC group. A ServiceAccount subject's group defaults to "", which
/// Go omits, so nothing is written for it.
pub(super) fn role_binding(o: &mut Object) {
    if let Some(role_ref) = child_or_insert(o, "roleRef") {
        default_str(role_ref, "apiGroup", RBAC_GROUP);
    }
    for subject in items(o, "subjects") {
        if matches!(str_of(subject, "kind"), Some("User" | "Group")) {
            default_str(subject, "apiGroup", RBAC_GROUP);
        }
    }
}

/// `apiextensions.k8s.io/v1`: the singular name and list kind from the kind, conversion
/// strategy `None`, webhook service port 443, and the storage version recorded as stored.
pub(super) fn custom_resource_definition(o: &mut Object) {
    let mut storage_version = None;
    if let Some(spec) = child_or_insert(o, "spec") {
        if let Some(names) = child_or_insert(spec, "names") {
            let kind = str_of(names, "kind").unwrap_or("").to_string();
            default_str(names, "singular", &kind.to_lowercase());
            if !kind.is_empty() {
                default_str(names, "listKind", &format!("{kind}List"));
            }
        }
        default_value(spec, "conversion", json!({"strategy": "None"}));
        if let Some(service) = child(spec, "conversion")
            .and_then(|c| child(c, "webhook"))
            .and_then(|w| child(w, "clientConfig"))
            .and_then(|c| child(c, "service"))
        {
            default_value(service, "port", json!(443));
        }
        storage_version = spec
            .get("versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|v| v.get("storage") == Some(&Value::Bool(true)))
            .and_then(|v| v.get("name"))
            .cloned();
    }
    if let Some(version) = storage_version
        && let Some(status) = child_or_insert(o, "status")
        && is_empty_collection(status.get("storedVersions"))
    {
        status.insert("storedVersions".into(), json!([version]));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::defaulted;
    use serde_json::json;

    #[test]
    fn hpa_v2_defaults_metrics_and_fills_a_given_behavior() {
        let hpa = defaulted(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            json!({
                "metadata": {"name": "web"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5}
            }),
        );
        assert_eq!(
            hpa,
            json!({
                "metadata": {"name": "web"},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "maxReplicas": 5,
                    "minReplicas": 1,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 80}}}]
                },
                "status": {"desiredReplicas": 0, "currentMetrics": null}
            })
        );

        let with_behavior = defaulted(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            json!({
                "spec": {"minReplicas": 2, "maxReplicas": 5,
                         "metrics": [{"type": "Resource", "resource": {"name": "memory",
                                      "target": {"type": "Utilization", "averageUtilization": 60}}}],
                         "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}}}
            }),
        );
        assert_eq!(with_behavior["spec"]["minReplicas"], 2);
        assert_eq!(with_behavior["spec"]["metrics"][0]["resource"]["name"], "memory");
        assert_eq!(
            with_behavior["spec"]["behavior"],
            json!({
                "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                    {"type": "Pods", "value": 4, "periodSeconds": 15},
                    {"type": "Percent", "value": 100, "periodSeconds": 15}]},
                "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max", "policies": [
                    {"type": "Percent", "value": 100, "periodSeconds": 15}]}
            })
        );
    }

    #[test]
    fn hpa_v1_gets_one_minimum_replica() {
        let hpa =
            defaulted("autoscaling", "v1", "HorizontalPodAutoscaler", json!({"spec": {"maxReplicas": 3}}));
        assert_eq!(
            hpa,
            json!({
                "spec": {"maxReplicas": 3, "minReplicas": 1},
                "status": {"currentReplicas": 0, "desiredReplicas": 0}
            })
        );
        let kept = defaulted(
            "autoscaling",
            "v1",
            "HorizontalPodAutoscaler",
            json!({"spec": {"maxReplicas": 3, "minReplicas": 2, "targetCPUUtilizationPercentage": 50}}),
        );
        assert_eq!(kept["spec"]["targetCPUUtilizationPercentage"], 50);
        assert_eq!(kept["spec"]["minReplicas"], 2);
    }

    #[test]
    fn storage_scheduling_policy_and_rbac() {
        assert_eq!(
            defaulted("storage.k8s.io", "v1", "StorageClass", json!({"provisioner": "x"})),
            json!({"provisioner": "x", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"})
        );
        assert_eq!(
            defaulted(
                "storage.k8s.io",
                "v1",
                "StorageClass",
                json!({"reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer"})
            ),
            json!({"reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer"})
        );
        assert_eq!(
            defaulted("scheduling.k8s.io", "v1", "PriorityClass", json!({"value": 1000})),
            json!({"value": 1000, "preemptionPolicy": "PreemptLowerPriority"})
        );
        assert_eq!(
            defaulted("policy", "v1", "PodDisruptionBudget", json!({"spec": {"minAvailable": 1}})),
            json!({"spec": {"minAvailable": 1}, "status": {"disruptionsAllowed": 0, "currentHealthy": 0,
                   "desiredHealthy": 0, "expectedPods": 0}})
        );
        let rb = defaulted(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            json!({
                "roleRef": {"kind": "Role", "name": "reader"},
                "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
                             {"kind": "ServiceAccount", "name": "default", "namespace": "ns"}]
            }),
        );
        assert_eq!(
            rb,
            json!({
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"},
                             {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "devs"},
                             {"kind": "ServiceAccount", "name": "default", "namespace": "ns"}]
            })
        );
    }

    #[test]
    fn custom_resource_definitions() {
        let crd = defaulted(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            json!({
                "spec": {"group": "example.com", "scope": "Namespaced",
                         "names": {"kind": "Widget", "plural": "widgets"},
                         "versions": [{"name": "v1alpha1", "served": true, "storage": false},
                                      {"name": "v1", "served": true, "storage": true}]}
            }),
        );
        assert_eq!(
            crd["spec"]["names"],
            json!({"kind": "Widget", "plural": "widgets", "singular": "widget",
                                                "listKind": "WidgetList"})
        );
        assert_eq!(crd["spec"]["conversion"], json!({"strategy": "None"}));
        assert_eq!(crd["status"], json!({"storedVersions": ["v1"]}));

        let webhook = defaulted(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            json!({
                "spec": {"names": {"kind": "A", "singular": "aa"}, "conversion": {"strategy": "Webhook",
                    "webhook": {"clientConfig": {"service": {"name": "conv", "namespace": "x"}}}}}
            }),
        );
        assert_eq!(webhook["spec"]["names"]["singular"], "aa");
        assert_eq!(webhook["spec"]["conversion"]["webhook"]["clientConfig"]["service"]["port"], 443);
    }
}
