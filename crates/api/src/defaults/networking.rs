//! `networking.k8s.io/v1`, `discovery.k8s.io/v1` and `events.k8s.io/v1`.

use serde_json::{Value, json};

use super::{Object, child, child_or_insert, default_value, is_empty_collection, items};

/// `SetDefaults_NetworkPolicy`: `policyTypes` is `[Ingress]`, plus `Egress` when egress rules are
/// given; every port's protocol defaults to TCP.
pub(super) fn network_policy(o: &mut Object) {
    let Some(spec) = child_or_insert(o, "spec") else { return };
    if is_empty_collection(spec.get("policyTypes")) {
        let mut types = vec![json!("Ingress")];
        if !is_empty_collection(spec.get("egress")) {
            types.push(json!("Egress"));
        }
        spec.insert("policyTypes".into(), Value::Array(types));
    }
    for direction in ["ingress", "egress"] {
        for rule in items(spec, direction) {
            for port in items(rule, "ports") {
                default_value(port, "protocol", json!("TCP"));
            }
        }
    }
}

/// An Ingress has no defaults; its status always serialises `loadBalancer`.
pub(super) fn ingress(o: &mut Object) {
    if let Some(status) = child_or_insert(o, "status") {
        child_or_insert(status, "loadBalancer");
    }
}

/// `SetDefaults_IngressClass`: parameters are cluster-scoped unless said otherwise.
pub(super) fn ingress_class(o: &mut Object) {
    if let Some(parameters) = child(o, "spec").and_then(|s| child(s, "parameters")) {
        default_value(parameters, "scope", json!("Cluster"));
    }
}

/// `SetDefaults_EndpointPort`: ports are named "" and speak TCP unless said otherwise;
/// `endpoints` and `ports` serialise as null when unset.
pub(super) fn endpoint_slice(o: &mut Object) {
    for field in ["endpoints", "ports"] {
        o.entry(field).or_insert(Value::Null);
    }
    for port in items(o, "ports") {
        default_value(port, "name", json!(""));
        default_value(port, "protocol", json!("TCP"));
    }
}

/// An `events.k8s.io/v1` Event as Go serialises it: `eventTime` and the deprecated timestamps
/// as null when unset, `regarding` and `deprecatedSource` as objects.
pub(super) fn events_event(o: &mut Object) {
    for field in ["eventTime", "deprecatedFirstTimestamp", "deprecatedLastTimestamp"] {
        o.entry(field).or_insert(Value::Null);
    }
    child_or_insert(o, "regarding");
    child_or_insert(o, "deprecatedSource");
}

#[cfg(test)]
mod tests {
    use super::super::testing::defaulted;
    use serde_json::json;

    #[test]
    fn network_policies() {
        let ingress_only = defaulted(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            json!({
                "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}]}
            }),
        );
        assert_eq!(
            ingress_only,
            json!({
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                         "ingress": [{"ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}]}
            })
        );
        let with_egress = defaulted(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            json!({
                "spec": {"podSelector": {}, "egress": [{"ports": [{"port": 443}]}]}
            }),
        );
        assert_eq!(with_egress["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(with_egress["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");
        let explicit = defaulted(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            json!({"spec": {"podSelector": {}, "policyTypes": ["Egress"]}}),
        );
        assert_eq!(explicit["spec"]["policyTypes"], json!(["Egress"]));
    }

    #[test]
    fn ingresses_and_classes() {
        let ing = defaulted(
            "networking.k8s.io",
            "v1",
            "Ingress",
            json!({"spec": {"rules": [{"host": "a.example",
            "http": {"paths": [{"path": "/", "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}),
        );
        assert_eq!(ing["status"], json!({"loadBalancer": {}}));
        assert!(ing["spec"]["rules"][0]["http"]["paths"][0].get("pathType").is_some());

        let class = defaulted(
            "networking.k8s.io",
            "v1",
            "IngressClass",
            json!({"spec": {"controller": "x/y",
            "parameters": {"kind": "Params", "name": "p"}}}),
        );
        assert_eq!(class["spec"]["parameters"], json!({"kind": "Params", "name": "p", "scope": "Cluster"}));
        let bare =
            defaulted("networking.k8s.io", "v1", "IngressClass", json!({"spec": {"controller": "x/y"}}));
        assert_eq!(bare, json!({"spec": {"controller": "x/y"}}));
    }

    #[test]
    fn endpoint_slices_and_events() {
        let slice = defaulted(
            "discovery.k8s.io",
            "v1",
            "EndpointSlice",
            json!({
                "addressType": "IPv4", "ports": [{"port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]
            }),
        );
        assert_eq!(
            slice,
            json!({
                "addressType": "IPv4", "endpoints": null,
                "ports": [{"name": "", "port": 80, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}]
            })
        );
        let ev = defaulted(
            "events.k8s.io",
            "v1",
            "Event",
            json!({"eventTime": "2025-01-01T00:00:00.000000Z",
            "reason": "Pulled", "regarding": {"kind": "Pod", "name": "p"}}),
        );
        assert_eq!(
            ev,
            json!({"eventTime": "2025-01-01T00:00:00.000000Z", "reason": "Pulled",
            "regarding": {"kind": "Pod", "name": "p"}, "deprecatedSource": {},
            "deprecatedFirstTimestamp": null, "deprecatedLastTimestamp": null})
        );
    }
}
