//! The core group (`v1`) beside Pods: ReplicationController, Service, Namespace, Secret,
//! PersistentVolume(Claim), Endpoints, Node, LimitRange and Event.

use serde_json::{Value, json};

use super::{
    Object, child, child_or_insert, default_str, default_value, is_empty_collection, is_empty_str, items,
    str_of, zero_status,
};

/// `SetDefaults_ReplicationController`: selector and labels from the template's labels when
/// empty, one replica.
pub(super) fn replication_controller(o: &mut Object) {
    let template_labels = o
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .filter(|l| l.as_object().is_some_and(|l| !l.is_empty()))
        .cloned();
    if let Some(labels) = template_labels {
        if let Some(spec) = child_or_insert(o, "spec")
            && is_empty_collection(spec.get("selector"))
        {
            spec.insert("selector".into(), labels.clone());
        }
        if let Some(meta) = child_or_insert(o, "metadata")
            && is_empty_collection(meta.get("labels"))
        {
            meta.insert("labels".into(), labels);
        }
    }
    if let Some(spec) = child_or_insert(o, "spec") {
        default_value(spec, "replicas", json!(1));
        if let Some(t) = child(spec, "template") {
            super::pod::template(t);
        }
    }
    zero_status(o, &["replicas"]);
}

/// `SetDefaults_Service`, plus the IP family fields the Service REST storage fills in on a
/// single-stack IPv4 cluster, and the always-serialised `status.loadBalancer`.
pub(super) fn service(o: &mut Object) {
    if let Some(spec) = child_or_insert(o, "spec") {
        service_spec(spec);
    }
    let load_balancer = str_of_path(o, &["spec", "type"]) == Some("LoadBalancer");
    if let Some(status) = child_or_insert(o, "status")
        && let Some(lb) = child_or_insert(status, "loadBalancer")
        && load_balancer
    {
        for ingress in items(lb, "ingress") {
            if !is_empty_str(ingress.get("ip")) {
                default_value(ingress, "ipMode", json!("VIP"));
            }
        }
    }
}

fn service_spec(spec: &mut Object) {
    default_str(spec, "sessionAffinity", "None");
    match str_of(spec, "sessionAffinity") {
        Some("None") => {
            spec.remove("sessionAffinityConfig");
        }
        Some("ClientIP") => {
            let timeout = spec
                .get("sessionAffinityConfig")
                .and_then(|c| c.get("clientIP"))
                .and_then(|c| c.get("timeoutSeconds"))
                .filter(|t| !t.is_null());
            if timeout.is_none() {
                spec.insert("sessionAffinityConfig".into(), json!({"clientIP": {"timeoutSeconds": 10800}}));
            }
        }
        _ => {}
    }
    default_str(spec, "type", "ClusterIP");
    for port in items(spec, "ports") {
        default_str(port, "protocol", "TCP");
        let unset = match port.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_f64() == Some(0.0),
            Some(Value::String(s)) => s.is_empty(),
            _ => false,
        };
        if unset && let Some(p) = port.get("port").cloned() {
            port.insert("targetPort".into(), p);
        }
    }
    let service_type = str_of(spec, "type").unwrap_or("").to_string();
    let externally_accessible = service_type == "LoadBalancer"
        || service_type == "NodePort"
        || (service_type == "ClusterIP" && !is_empty_collection(spec.get("externalIPs")));
    if externally_accessible {
        default_str(spec, "externalTrafficPolicy", "Cluster");
    }
    if matches!(service_type.as_str(), "ClusterIP" | "NodePort" | "LoadBalancer") {
        default_value(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if service_type == "LoadBalancer" {
        default_value(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    if service_type != "ExternalName" {
        ip_families(spec);
    }
}

/// What the Service REST storage sets on a single-stack IPv4 cluster: `SingleStack` with the
/// family of the cluster IPs (IPv4 when none is assigned yet), except for headless Services
/// without a selector, which get `RequireDualStack` and every family the cluster has.
fn ip_families(spec: &mut Object) {
    let headless = str_of(spec, "clusterIP") == Some("None")
        || spec.get("clusterIPs").and_then(|c| c.get(0)).and_then(Value::as_str) == Some("None");
    if headless && is_empty_collection(spec.get("selector")) {
        default_value(spec, "ipFamilyPolicy", json!("RequireDualStack"));
        if is_empty_collection(spec.get("ipFamilies")) {
            spec.insert("ipFamilies".into(), json!(["IPv4"]));
        }
        return;
    }
    default_value(spec, "ipFamilyPolicy", json!("SingleStack"));
    if is_empty_collection(spec.get("ipFamilies")) {
        let mut families: Vec<Value> = spec
            .get("clusterIPs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|ip| *ip != "None" && !ip.is_empty())
            .map(|ip| json!(if ip.contains(':') { "IPv6" } else { "IPv4" }))
            .collect();
        if families.is_empty()
            && let Some(ip) = str_of(spec, "clusterIP").filter(|ip| *ip != "None" && !ip.is_empty())
        {
            families.push(json!(if ip.contains(':') { "IPv6" } else { "IPv4" }));
        }
        if families.is_empty() {
            families.push(json!("IPv4"));
        }
        spec.insert("ipFamilies".into(), Value::Array(families));
    }
}

fn str_of_path<'a>(o: &'a Object, path: &[&str]) -> Option<&'a str> {
    let (last, parents) = path.split_last()?;
    let mut cur = o;
    for p in parents {
        cur = cur.get(*p)?.as_object()?;
    }
    str_of(cur, last)
}

/// `SetDefaults_Namespace` and `SetDefaults_NamespaceStatus`: the `kubernetes.io/metadata.name`
/// label always equals the name; the phase is `Active` when unset.
pub(super) fn namespace(o: &mut Object) {
    let name = o.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).map(str::to_string);
    if let Some(name) = name.filter(|n| !n.is_empty())
        && let Some(meta) = child_or_insert(o, "metadata")
        && let Some(labels) = child_or_insert(meta, "labels")
    {
        labels.insert("kubernetes.io/metadata.name".into(), json!(name));
    }
    if let Some(status) = child_or_insert(o, "status") {
        default_str(status, "phase", "Active");
    }
}

/// The Namespace strategy on create: status `{phase: Active}` whatever the client sent, and
/// the `kubernetes` finalizer added to `spec.finalizers`.
pub(super) fn namespace_create(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    o.insert("status".into(), json!({"phase": "Active"}));
    let Some(spec) = child_or_insert(o, "spec") else { return };
    if !matches!(spec.get("finalizers"), Some(Value::Array(_))) {
        spec.insert("finalizers".into(), json!([]));
    }
    if let Some(Value::Array(finalizers)) = spec.get_mut("finalizers")
        && !finalizers.iter().any(|f| f == "kubernetes")
    {
        finalizers.push(json!("kubernetes"));
    }
}

pub(super) fn secret(o: &mut Object) {
    default_str(o, "type", "Opaque");
}

/// `SetDefaults_PersistentVolume`: phase `Pending`, reclaim policy `Retain`, volume mode
/// `Filesystem`, and the volume source defaults.
pub(super) fn persistent_volume(o: &mut Object) {
    if let Some(spec) = child_or_insert(o, "spec") {
        default_str(spec, "persistentVolumeReclaimPolicy", "Retain");
        default_value(spec, "volumeMode", json!("Filesystem"));
        if let Some(h) = child(spec, "hostPath") {
            default_value(h, "type", json!(""));
        }
        super::pod::legacy_sources(spec);
    }
    if let Some(status) = child_or_insert(o, "status") {
        default_str(status, "phase", "Pending");
    }
}

/// `SetDefaults_PersistentVolumeClaim` and its spec's.
pub(super) fn persistent_volume_claim(o: &mut Object) {
    if let Some(spec) = child_or_insert(o, "spec") {
        claim_spec(spec);
    }
    if let Some(status) = child_or_insert(o, "status") {
        default_str(status, "phase", "Pending");
    }
}

/// A claim spec (of a PVC, a StatefulSet claim template or an ephemeral volume): volume mode
/// `Filesystem`; `resources` is always serialised.
pub(super) fn claim_spec(spec: &mut Object) {
    default_value(spec, "volumeMode", json!("Filesystem"));
    child_or_insert(spec, "resources");
}

pub(super) fn endpoints(o: &mut Object) {
    for subset in items(o, "subsets") {
        for port in items(subset, "ports") {
            default_str(port, "protocol", "TCP");
        }
    }
}

/// `SetDefaults_NodeStatus`: allocatable defaults to capacity.
pub(super) fn node(o: &mut Object) {
    if let Some(status) = child(o, "status")
        && is_empty_collection(status.get("allocatable"))
        && let Some(capacity) = status.get("capacity").filter(|c| c.is_object()).cloned()
    {
        status.insert("allocatable".into(), capacity);
    }
}

/// `SetDefaults_LimitRangeItem` for `Container` items: the default limit from `max`, the
/// default request from the default limit, then from `min`.
pub(super) fn limit_range(o: &mut Object) {
    let Some(spec) = child(o, "spec") else { return };
    for item in items(spec, "limits") {
        if str_of(item, "type") != Some("Container") {
            continue;
        }
        copy_missing(item, "max", "default");
        copy_missing(item, "default", "defaultRequest");
        copy_missing(item, "min", "defaultRequest");
    }
}

fn copy_missing(item: &mut Object, from: &str, to: &str) {
    let Some(source) = item.get(from).and_then(Value::as_object).filter(|s| !s.is_empty()).cloned() else {
        return;
    };
    let Some(target) = child_or_insert(item, to) else { return };
    for (k, v) in source {
        target.entry(k).or_insert(v);
    }
}

/// A core Event as Go serialises it: `involvedObject` and `source` are always written, unset
/// timestamps as null, and the reporting fields as empty strings.
pub(super) fn event(o: &mut Object) {
    child_or_insert(o, "involvedObject");
    child_or_insert(o, "source");
    for time in ["firstTimestamp", "lastTimestamp", "eventTime"] {
        if !o.contains_key(time) {
            o.insert(time.into(), Value::Null);
        }
    }
    for field in ["reportingComponent", "reportingInstance"] {
        default_value(o, field, json!(""));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{created, defaulted};
    use serde_json::json;

    #[test]
    fn service_with_a_named_target_port() {
        let svc = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [
                {"name": "http", "port": 80, "targetPort": "http"},
                {"name": "dns", "port": 53, "protocol": "UDP"}
            ]}
        });
        let got = defaulted("", "v1", "Service", svc);
        assert_eq!(
            got,
            json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {
                    "selector": {"app": "web"},
                    "ports": [
                        {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"},
                        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53}
                    ],
                    "type": "ClusterIP",
                    "sessionAffinity": "None",
                    "internalTrafficPolicy": "Cluster",
                    "ipFamilies": ["IPv4"],
                    "ipFamilyPolicy": "SingleStack"
                },
                "status": {"loadBalancer": {}}
            })
        );
    }

    #[test]
    fn load_balancer_node_port_external_name_and_headless_services() {
        let lb = defaulted(
            "",
            "v1",
            "Service",
            json!({"spec": {
            "type": "LoadBalancer", "ports": [{"port": 443, "targetPort": 0}], "sessionAffinity": "ClientIP",
            "clusterIPs": ["10.96.0.20"], "externalTrafficPolicy": "Local"
        }, "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}, {"hostname": "lb.example"}]}}}),
        );
        assert_eq!(
            lb["spec"],
            json!({
                "type": "LoadBalancer", "ports": [{"port": 443, "targetPort": 443, "protocol": "TCP"}],
                "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
                "clusterIPs": ["10.96.0.20"], "externalTrafficPolicy": "Local", "internalTrafficPolicy": "Cluster",
                "allocateLoadBalancerNodePorts": true, "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"
            })
        );
        assert_eq!(
            lb["status"]["loadBalancer"]["ingress"],
            json!([{"ip": "192.0.2.1", "ipMode": "VIP"}, {"hostname": "lb.example"}])
        );

        let np = defaulted(
            "",
            "v1",
            "Service",
            json!({"spec": {"type": "NodePort",
            "sessionAffinity": "None", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 5}}}}),
        );
        assert_eq!(np["spec"]["externalTrafficPolicy"], "Cluster");
        assert!(np["spec"].get("sessionAffinityConfig").is_none());

        let ext = defaulted(
            "",
            "v1",
            "Service",
            json!({"spec": {"type": "ExternalName", "externalName": "db.example"}}),
        );
        assert_eq!(
            ext["spec"],
            json!({"type": "ExternalName", "externalName": "db.example", "sessionAffinity": "None"})
        );

        let headless =
            defaulted("", "v1", "Service", json!({"spec": {"clusterIP": "None", "ports": [{"port": 80}]}}));
        assert_eq!(headless["spec"]["ipFamilyPolicy"], "RequireDualStack");
        assert_eq!(headless["spec"]["ipFamilies"], json!(["IPv4"]));
        let with_selector =
            defaulted("", "v1", "Service", json!({"spec": {"clusterIP": "None", "selector": {"app": "db"}}}));
        assert_eq!(with_selector["spec"]["ipFamilyPolicy"], "SingleStack");

        let v6 = defaulted("", "v1", "Service", json!({"spec": {"clusterIP": "fd00::10"}}));
        assert_eq!(v6["spec"]["ipFamilies"], json!(["IPv6"]));
    }

    #[test]
    fn namespace_label_status_and_create_finalizer() {
        let ns = created(
            "",
            "v1",
            "Namespace",
            json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "team-a", "labels": {"kubernetes.io/metadata.name": "spoofed", "env": "dev"}},
                "status": {"phase": "Terminating"}
            }),
        );
        assert_eq!(
            ns,
            json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "team-a", "labels": {"kubernetes.io/metadata.name": "team-a", "env": "dev"}},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"}
            })
        );
        // Updates keep a finalizer list the namespace controller emptied.
        let mut finalized = ns.clone();
        finalized["spec"]["finalizers"] = json!([]);
        finalized["status"]["phase"] = json!("Terminating");
        assert_eq!(defaulted("", "v1", "Namespace", finalized.clone()), finalized);
    }

    #[test]
    fn replication_controller_takes_selector_and_labels_from_its_template() {
        let rc = defaulted(
            "",
            "v1",
            "ReplicationController",
            json!({
                "metadata": {"name": "rc"},
                "spec": {"template": {"metadata": {"labels": {"app": "rc"}},
                                      "spec": {"containers": [{"name": "c", "image": "c:1"}]}}}
            }),
        );
        assert_eq!(rc["metadata"]["labels"], json!({"app": "rc"}));
        assert_eq!(rc["spec"]["selector"], json!({"app": "rc"}));
        assert_eq!(rc["spec"]["replicas"], 1);
        assert_eq!(rc["spec"]["template"]["spec"]["restartPolicy"], "Always");
        assert_eq!(rc["status"], json!({"replicas": 0}));

        let kept = defaulted(
            "",
            "v1",
            "ReplicationController",
            json!({
                "metadata": {"name": "rc", "labels": {"own": "x"}},
                "spec": {"replicas": 0, "selector": {"app": "rc", "tier": "a"},
                         "template": {"metadata": {"labels": {"app": "rc", "tier": "a"}}, "spec": {"containers": []}}}
            }),
        );
        assert_eq!(kept["metadata"]["labels"], json!({"own": "x"}));
        assert_eq!(kept["spec"]["selector"], json!({"app": "rc", "tier": "a"}));
        assert_eq!(kept["spec"]["replicas"], 0);
    }

    #[test]
    fn secrets_volumes_and_claims() {
        assert_eq!(defaulted("", "v1", "Secret", json!({"data": {}}))["type"], "Opaque");
        assert_eq!(
            defaulted("", "v1", "Secret", json!({"type": "kubernetes.io/tls"}))["type"],
            "kubernetes.io/tls"
        );

        let pvc = defaulted(
            "",
            "v1",
            "PersistentVolumeClaim",
            json!({
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
            }),
        );
        assert_eq!(
            pvc,
            json!({
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                         "volumeMode": "Filesystem"},
                "status": {"phase": "Pending"}
            })
        );

        let pv = defaulted(
            "",
            "v1",
            "PersistentVolume",
            json!({
                "spec": {"capacity": {"storage": "5Gi"}, "hostPath": {"path": "/data"}, "accessModes": ["ReadWriteOnce"]}
            }),
        );
        assert_eq!(
            pv,
            json!({
                "spec": {"capacity": {"storage": "5Gi"}, "hostPath": {"path": "/data", "type": ""},
                         "accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain",
                         "volumeMode": "Filesystem"},
                "status": {"phase": "Pending"}
            })
        );
        let block = defaulted(
            "",
            "v1",
            "PersistentVolume",
            json!({"spec": {"volumeMode": "Block",
            "persistentVolumeReclaimPolicy": "Delete"}, "status": {"phase": "Bound"}}),
        );
        assert_eq!(block["spec"]["volumeMode"], "Block");
        assert_eq!(block["spec"]["persistentVolumeReclaimPolicy"], "Delete");
        assert_eq!(block["status"]["phase"], "Bound");
    }

    #[test]
    fn endpoints_nodes_limit_ranges_and_events() {
        let ep = defaulted(
            "",
            "v1",
            "Endpoints",
            json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}],
            "ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}]}),
        );
        assert_eq!(
            ep["subsets"][0]["ports"],
            json!([{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}])
        );

        let node = defaulted("", "v1", "Node", json!({"status": {"capacity": {"cpu": "4", "pods": "110"}}}));
        assert_eq!(node["status"]["allocatable"], json!({"cpu": "4", "pods": "110"}));

        let lr = defaulted(
            "",
            "v1",
            "LimitRange",
            json!({"spec": {"limits": [
                {"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}, "default": {"memory": "256Mi"}},
                {"type": "Pod", "max": {"cpu": "4"}}
            ]}}),
        );
        assert_eq!(
            lr["spec"]["limits"],
            json!([
                {"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"},
                 "default": {"memory": "256Mi", "cpu": "2"},
                 "defaultRequest": {"memory": "256Mi", "cpu": "2"}},
                {"type": "Pod", "max": {"cpu": "4"}}
            ])
        );

        let ev = defaulted(
            "",
            "v1",
            "Event",
            json!({"metadata": {"name": "e"}, "reason": "Started",
            "involvedObject": {"kind": "Pod", "name": "p"}, "lastTimestamp": "2025-01-01T00:00:00Z"}),
        );
        assert_eq!(
            ev,
            json!({"metadata": {"name": "e"}, "reason": "Started",
            "involvedObject": {"kind": "Pod", "name": "p"}, "source": {},
            "firstTimestamp": null, "lastTimestamp": "2025-01-01T00:00:00Z", "eventTime": null,
            "reportingComponent": "", "reportingInstance": ""})
        );
    }
}
