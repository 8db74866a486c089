//! Pods and pod templates: `SetDefaults_Pod`, `SetDefaults_PodSpec` and the defaults of what a
//! pod spec holds (containers, probes, volumes), the Pod strategy's create-time status, and the
//! Pod-mutating admission plugins enabled by default.

use serde_json::{Value, json};

use super::image::default_pull_policy;
use super::quantity::nanos;
use super::{
    Object, child, child_or_insert, default_nonzero, default_str, default_value, is_empty_collection,
    is_unset, items, str_of,
};

/// Defaults of a Pod: those of every pod spec plus the ones upstream keeps to Pods
/// (`SetDefaults_Pod`): requests from limits, `enableServiceLinks`, host ports under
/// `hostNetwork`.
pub(super) fn pod(o: &mut Object) {
    if let Some(spec) = child_or_insert(o, "spec") {
        pod_only(spec);
        pod_spec(spec);
    }
    child_or_insert(o, "status");
}

/// Defaults of a `PodTemplateSpec` (a workload's `spec.template`).
pub(super) fn template(t: &mut Object) {
    child_or_insert(t, "metadata");
    if let Some(spec) = child_or_insert(t, "spec") {
        pod_spec(spec);
    }
}

fn pod_only(spec: &mut Object) {
    for list in ["initContainers", "containers"] {
        for c in items(spec, list) {
            requests_from_limits(c);
        }
    }
    default_value(spec, "enableServiceLinks", json!(true));
    if spec.get("hostNetwork") == Some(&Value::Bool(true)) {
        for list in ["initContainers", "containers"] {
            for c in items(spec, list) {
                for port in items(c, "ports") {
                    if let Some(container_port) = port.get("containerPort").cloned() {
                        default_nonzero_to(port, "hostPort", container_port);
                    }
                }
            }
        }
    }
}

/// A container's requests default to its limits, key by key.
fn requests_from_limits(c: &mut Object) {
    let Some(resources) = child(c, "resources") else { return };
    let Some(limits) = resources.get("limits").and_then(Value::as_object).cloned() else { return };
    if limits.is_empty() {
        return;
    }
    let Some(requests) = child_or_insert(resources, "requests") else { return };
    for (name, value) in limits {
        requests.entry(name).or_insert(value);
    }
}

fn default_nonzero_to(o: &mut Object, key: &str, value: Value) {
    let zero = match o.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        _ => false,
    };
    if zero {
        o.insert(key.to_string(), value);
    }
}

fn pod_spec(spec: &mut Object) {
    default_str(spec, "dnsPolicy", "ClusterFirst");
    default_str(spec, "restartPolicy", "Always");
    default_value(spec, "securityContext", json!({}));
    default_value(spec, "terminationGracePeriodSeconds", json!(30));
    default_str(spec, "schedulerName", "default-scheduler");
    for v in items(spec, "volumes") {
        volume(v);
    }
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in items(spec, list) {
            container(c);
        }
    }
}

fn container(c: &mut Object) {
    if super::is_empty_str(c.get("imagePullPolicy")) {
        let policy = default_pull_policy(str_of(c, "image").unwrap_or(""));
        c.insert("imagePullPolicy".into(), json!(policy));
    }
    default_str(c, "terminationMessagePath", "/dev/termination-log");
    default_str(c, "terminationMessagePolicy", "File");
    for port in items(c, "ports") {
        default_str(port, "protocol", "TCP");
    }
    for env in items(c, "env") {
        if let Some(field_ref) = child(env, "valueFrom").and_then(|vf| child(vf, "fieldRef")) {
            default_str(field_ref, "apiVersion", "v1");
        }
    }
    child_or_insert(c, "resources");
    for name in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = child(c, name) {
            probe(p);
        }
    }
    if let Some(lifecycle) = child(c, "lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = child(lifecycle, hook).and_then(|h| child(h, "httpGet")) {
                http_get(h);
            }
        }
    }
}

fn probe(p: &mut Object) {
    default_nonzero(p, "timeoutSeconds", 1);
    default_nonzero(p, "periodSeconds", 10);
    default_nonzero(p, "successThreshold", 1);
    default_nonzero(p, "failureThreshold", 3);
    if let Some(h) = child(p, "httpGet") {
        http_get(h);
    }
    if let Some(g) = child(p, "grpc") {
        default_value(g, "service", json!(""));
    }
}

fn http_get(h: &mut Object) {
    default_str(h, "path", "/");
    default_str(h, "scheme", "HTTP");
}

fn field_ref_items(o: &mut Object) {
    for item in items(o, "items") {
        if let Some(f) = child(item, "fieldRef") {
            default_str(f, "apiVersion", "v1");
        }
    }
}

fn volume(v: &mut Object) {
    // A volume that names no source is an emptyDir.
    if v.iter().all(|(k, val)| k == "name" || val.is_null()) {
        v.insert("emptyDir".into(), json!({}));
    }
    if let Some(h) = child(v, "hostPath") {
        default_value(h, "type", json!(""));
    }
    for source in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = child(v, source) {
            default_value(s, "defaultMode", json!(420));
        }
    }
    if let Some(d) = child(v, "downwardAPI") {
        field_ref_items(d);
    }
    if let Some(p) = child(v, "projected") {
        for s in items(p, "sources") {
            if let Some(d) = child(s, "downwardAPI") {
                field_ref_items(d);
            }
            if let Some(t) = child(s, "serviceAccountToken") {
                default_value(t, "expirationSeconds", json!(3600));
            }
        }
    }
    if let Some(t) = child(v, "ephemeral").and_then(|e| child(e, "volumeClaimTemplate")) {
        child_or_insert(t, "metadata");
        if let Some(spec) = child_or_insert(t, "spec") {
            super::core::claim_spec(spec);
        }
    }
    if let Some(i) = child(v, "image")
        && super::is_empty_str(i.get("pullPolicy"))
    {
        let policy = default_pull_policy(str_of(i, "reference").unwrap_or(""));
        i.insert("pullPolicy".into(), json!(policy));
    }
    legacy_sources(v);
}

/// Defaults of the in-tree volume plugins that remain in the API (also used by PVs).
pub(super) fn legacy_sources(v: &mut Object) {
    if let Some(i) = child(v, "iscsi") {
        default_str(i, "iscsiInterface", "default");
    }
    if let Some(r) = child(v, "rbd") {
        default_str(r, "pool", "rbd");
        default_str(r, "user", "admin");
        default_str(r, "keyring", "/etc/ceph/keyring");
    }
    if let Some(a) = child(v, "azureDisk") {
        default_value(a, "cachingMode", json!("ReadWrite"));
        default_value(a, "kind", json!("Shared"));
        default_value(a, "fsType", json!("ext4"));
        default_value(a, "readOnly", json!(false));
    }
    if let Some(s) = child(v, "scaleIO") {
        default_str(s, "storageMode", "ThinProvisioned");
        default_str(s, "fsType", "xfs");
    }
}

// ---- admission ----

const NOT_READY: &str = "node.kubernetes.io/not-ready";
const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// What the admission plugins upstream enables by default add to a new Pod (not to pod
/// templates), short of those that need other objects:
///
/// * `DefaultTolerationSeconds`: unless the Pod already tolerates them, `NoExecute` tolerations
///   of the `node.kubernetes.io/not-ready` and `node.kubernetes.io/unreachable` taints for 300
///   seconds.
/// * `Priority`, for a Pod without `priorityClassName` when no PriorityClass is the global
///   default: `priority: 0` and `preemptionPolicy: PreemptLowerPriority`. A Pod naming a class,
///   or a cluster with a global default class, goes through [`set_pod_priority`] instead (call
///   it first; this function then leaves the priority alone).
///
/// Call it on Pod create only (upstream's plugins leave updates alone).
pub fn pod_admission_defaults(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else { return };
    default_tolerations(spec);
    if super::is_empty_str(spec.get("priorityClassName")) {
        default_value(spec, "priority", json!(0));
        default_value(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    }
}

fn default_tolerations(spec: &mut Object) {
    let mut tolerates_not_ready = false;
    let mut tolerates_unreachable = false;
    for t in spec.get("tolerations").and_then(Value::as_array).into_iter().flatten() {
        let key = t.get("key").and_then(Value::as_str).unwrap_or("");
        let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
        if effect == "NoExecute" || effect.is_empty() {
            tolerates_not_ready |= key == NOT_READY || key.is_empty();
            tolerates_unreachable |= key == UNREACHABLE || key.is_empty();
        }
    }
    let mut added = Vec::new();
    for (key, tolerated) in [(NOT_READY, tolerates_not_ready), (UNREACHABLE, tolerates_unreachable)] {
        if !tolerated {
            added.push(json!({
                "key": key,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }));
        }
    }
    if added.is_empty() {
        return;
    }
    if !matches!(spec.get("tolerations"), Some(Value::Array(_))) {
        spec.insert("tolerations".into(), json!([]));
    }
    if let Some(Value::Array(list)) = spec.get_mut("tolerations") {
        list.extend(added);
    }
}

/// The `Priority` admission plugin's work for a Pod whose PriorityClass the caller resolved:
/// the class the Pod names, or, for a Pod naming none, the class marked `globalDefault`
/// (whose name is then written to `priorityClassName`). Sets `priority` to the class's value and
/// `preemptionPolicy` to the class's policy when it has one.
///
/// Fails with upstream's Forbidden message when the Pod carries a different `priority` or
/// `preemptionPolicy` of its own. Unknown class names are the caller's to refuse
/// (`no PriorityClass with name <name> was found`).
pub fn set_pod_priority(
    pod: &mut Value,
    class_name: &str,
    value: i64,
    preemption_policy: Option<&str>,
) -> Result<(), String> {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else { return Ok(()) };
    if let Some(given) = spec.get("priority").filter(|v| !v.is_null())
        && given.as_i64() != Some(value)
    {
        return Err(format!(
            "the integer value of priority ({given}) must not be provided in pod spec; priority \
             admission controller computed {value} from the given PriorityClass name"
        ));
    }
    if let Some(policy) = preemption_policy {
        if let Some(given) = str_of(spec, "preemptionPolicy").filter(|p| *p != policy) {
            return Err(format!(
                "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; \
                 priority admission controller computed {policy} from the given PriorityClass name"
            ));
        }
        spec.insert("preemptionPolicy".into(), json!(policy));
    }
    if super::is_empty_str(spec.get("priorityClassName")) && !class_name.is_empty() {
        spec.insert("priorityClassName".into(), json!(class_name));
    }
    spec.insert("priority".into(), json!(value));
    Ok(())
}

// ---- the Pod strategy on create ----

/// The status the Pod strategy gives a new Pod, replacing whatever the client sent:
/// `phase: Pending`, the QoS class computed from the (defaulted) resources, and, when the Pod
/// has scheduling gates, a `PodScheduled=False` condition with reason `SchedulingGated`
/// (stamped with `metadata.creationTimestamp`). Call it on create, after [`super::apply_defaults`].
pub fn pod_create_status(pod: &mut Value) {
    let Some(o) = pod.as_object_mut() else { return };
    let qos = qos_class(o.get("spec").and_then(Value::as_object));
    let mut status = json!({"phase": "Pending", "qosClass": qos});
    let gated = o.get("spec").and_then(|s| s.get("schedulingGates"));
    if !is_empty_collection(gated) {
        let now = o.get("metadata").and_then(|m| m.get("creationTimestamp")).cloned().unwrap_or(Value::Null);
        status["conditions"] = json!([{
            "type": "PodScheduled",
            "status": "False",
            "reason": "SchedulingGated",
            "message": "Scheduling is blocked due to non-empty scheduling gates",
            "lastProbeTime": null,
            "lastTransitionTime": now,
        }]);
    }
    o.insert("status".into(), status);
}

/// Upstream's QoS rules over cpu and memory: BestEffort when nothing is requested or limited;
/// Guaranteed when every container limits both cpu and memory and the summed requests equal the
/// summed limits; Burstable otherwise. Pod-level resources, when set, decide instead of the
/// containers'. Ephemeral containers do not count.
pub(super) fn qos_class(spec: Option<&Object>) -> &'static str {
    let Some(spec) = spec else { return "BestEffort" };
    let mut requests: Vec<(String, i128)> = Vec::new();
    let mut limits: Vec<(String, i128)> = Vec::new();
    let mut guaranteed = true;
    let pod_level = spec.get("resources").filter(|r| has_compute(r));
    let resource_sets: Vec<&Value> = match pod_level {
        Some(r) => vec![r],
        None => ["containers", "initContainers"]
            .iter()
            .filter_map(|k| spec.get(*k).and_then(Value::as_array))
            .flatten()
            .map(|c| c.get("resources").unwrap_or(&Value::Null))
            .collect(),
    };
    for resources in resource_sets {
        for (name, q) in compute_quantities(resources.get("requests")) {
            add(&mut requests, name, q);
        }
        let container_limits = compute_quantities(resources.get("limits"));
        let has = |n: &str| container_limits.iter().any(|(name, _)| name == n);
        // Pod-level limits only matter for the check when some are set.
        let limits_given = pod_level.is_none() || resources.get("limits").is_some_and(|l| !l.is_null());
        if limits_given && !(has("cpu") && has("memory")) {
            guaranteed = false;
        }
        for (name, q) in container_limits {
            add(&mut limits, name, q);
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed {
        for (name, req) in &requests {
            if !limits.iter().any(|(n, l)| n == name && l == req) {
                guaranteed = false;
                break;
            }
        }
    }
    if guaranteed && requests.len() == limits.len() { "Guaranteed" } else { "Burstable" }
}

fn has_compute(resources: &Value) -> bool {
    ["requests", "limits"].iter().any(|k| !compute_quantities(resources.get(*k)).is_empty())
}

/// The positive cpu and memory quantities of a resource list.
fn compute_quantities(list: Option<&Value>) -> Vec<(String, i128)> {
    let Some(list) = list.and_then(Value::as_object) else { return Vec::new() };
    list.iter()
        .filter(|(name, _)| *name == "cpu" || *name == "memory")
        .filter_map(|(name, v)| nanos(v).filter(|q| *q > 0).map(|q| (name.clone(), q)))
        .collect()
}

fn add(sums: &mut Vec<(String, i128)>, name: String, q: i128) {
    match sums.iter_mut().find(|(n, _)| *n == name) {
        Some((_, sum)) => *sum = sum.saturating_add(q),
        None => sums.push((name, q)),
    }
}

/// The Pod strategy's create-time merge of `matchLabelKeys` (operator In) and
/// `mismatchLabelKeys` (operator NotIn) into the label selectors of pod affinity terms and of
/// topology spread constraints, using the Pod's own label values. Requirements already present
/// are not repeated, so the merge is idempotent.
pub(super) fn merge_label_keys(pod: &mut Value) {
    let Some(o) = pod.as_object_mut() else { return };
    let labels = o.get("metadata").and_then(|m| m.get("labels")).and_then(Value::as_object).cloned();
    let labels = labels.unwrap_or_default();
    let Some(spec) = child(o, "spec") else { return };
    if let Some(affinity) = child(spec, "affinity") {
        for kind in ["podAffinity", "podAntiAffinity"] {
            let Some(a) = child(affinity, kind) else { continue };
            for term in items(a, "requiredDuringSchedulingIgnoredDuringExecution") {
                merge_term(term, &labels, true);
            }
            for weighted in items(a, "preferredDuringSchedulingIgnoredDuringExecution") {
                if let Some(term) = child(weighted, "podAffinityTerm") {
                    merge_term(term, &labels, true);
                }
            }
        }
    }
    for constraint in items(spec, "topologySpreadConstraints") {
        merge_term(constraint, &labels, false);
    }
}

fn merge_term(term: &mut Object, labels: &Object, with_mismatch: bool) {
    let keys = |field: &str| -> Vec<String> {
        term.get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect()
    };
    let matching = keys("matchLabelKeys");
    let mismatching = if with_mismatch { keys("mismatchLabelKeys") } else { Vec::new() };
    if matching.is_empty() && mismatching.is_empty() {
        return;
    }
    let Some(selector) = child(term, "labelSelector") else { return };
    let mut added = Vec::new();
    for (list, operator) in [(matching, "In"), (mismatching, "NotIn")] {
        for key in list {
            if let Some(value) = labels.get(&key) {
                added.push(json!({"key": key, "operator": operator, "values": [value]}));
            }
        }
    }
    if added.is_empty() {
        return;
    }
    if is_unset(selector.get("matchExpressions")) {
        selector.insert("matchExpressions".into(), json!([]));
    }
    if let Some(Value::Array(list)) = selector.get_mut("matchExpressions") {
        for requirement in added {
            if !list.contains(&requirement) {
                list.push(requirement);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{created, defaulted};
    use super::*;

    const CONTAINER_DEFAULTS: &str = r#"{
        "imagePullPolicy": "Always",
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File"
    }"#;

    fn merged(base: Value, extra: &str) -> Value {
        let mut base = base;
        let extra: Value = serde_json::from_str(extra).unwrap();
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    }

    /// The Pod `kubectl run web --image=nginx` sends.
    fn kubectl_run() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "labels": {"run": "web"}, "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "web", "image": "nginx", "resources": {}}],
                     "dnsPolicy": "ClusterFirst", "restartPolicy": "Always"},
            "status": {}
        })
    }

    #[test]
    fn kubectl_run_pod_reads_back_as_upstream_serves_it() {
        let got = created("", "v1", "Pod", kubectl_run());
        let want = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "labels": {"run": "web"}, "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {
                "containers": [merged(json!({"name": "web", "image": "nginx"}), CONTAINER_DEFAULTS)],
                "dnsPolicy": "ClusterFirst",
                "enableServiceLinks": true,
                "preemptionPolicy": "PreemptLowerPriority",
                "priority": 0,
                "restartPolicy": "Always",
                "schedulerName": "default-scheduler",
                "securityContext": {},
                "terminationGracePeriodSeconds": 30,
                "tolerations": [
                    {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists",
                     "tolerationSeconds": 300},
                    {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists",
                     "tolerationSeconds": 300}
                ]
            },
            "status": {"phase": "Pending", "qosClass": "BestEffort"}
        });
        assert_eq!(got, want);
    }

    #[test]
    fn containers_probes_lifecycle_and_env_are_defaulted() {
        let pod = json!({"spec": {
            "initContainers": [{"name": "init", "image": "busybox:1.36", "command": ["true"]}],
            "containers": [{
                "name": "app",
                "image": "registry.k8s.io/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "ports": [{"containerPort": 8080}, {"containerPort": 53, "protocol": "UDP"}],
                "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                        {"name": "PLAIN", "value": "x"}],
                "livenessProbe": {"httpGet": {"port": 8080}},
                "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 5, "failureThreshold": 0},
                "startupProbe": {"grpc": {"port": 9090}},
                "lifecycle": {"preStop": {"httpGet": {"port": "http", "path": "/quit"}},
                              "postStart": {"exec": {"command": ["true"]}}}
            }]
        }});
        let got = defaulted("", "v1", "Pod", pod);
        let c = &got["spec"]["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(
            c["ports"],
            json!([{"containerPort": 8080, "protocol": "TCP"},
                                      {"containerPort": 53, "protocol": "UDP"}])
        );
        assert_eq!(
            c["env"],
            json!([
                {"name": "NODE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}},
                {"name": "PLAIN", "value": "x"}
            ])
        );
        assert_eq!(
            c["livenessProbe"],
            json!({
                "httpGet": {"path": "/", "port": 8080, "scheme": "HTTP"},
                "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3
            })
        );
        assert_eq!(
            c["readinessProbe"],
            json!({
                "tcpSocket": {"port": 8080},
                "timeoutSeconds": 1, "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 3
            })
        );
        assert_eq!(c["startupProbe"]["grpc"], json!({"port": 9090, "service": ""}));
        assert_eq!(
            c["lifecycle"],
            json!({
                "preStop": {"httpGet": {"port": "http", "path": "/quit", "scheme": "HTTP"}},
                "postStart": {"exec": {"command": ["true"]}}
            })
        );
        let init = &got["spec"]["initContainers"][0];
        assert_eq!(
            init,
            &merged(
                json!({"name": "init", "image": "busybox:1.36", "command": ["true"],
                                          "imagePullPolicy": "IfNotPresent"}),
                r#"{"resources": {}, "terminationMessagePath": "/dev/termination-log",
                                      "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"}"#
            )
        );
    }

    #[test]
    fn volumes_are_defaulted() {
        let pod = json!({"spec": {"containers": [], "volumes": [
            {"name": "scratch"},
            {"name": "cm", "configMap": {"name": "settings"}},
            {"name": "sec", "secret": {"secretName": "creds", "defaultMode": 256}},
            {"name": "host", "hostPath": {"path": "/var/log"}},
            {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
            {"name": "token", "projected": {"sources": [
                {"serviceAccountToken": {"path": "token"}},
                {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}
            ]}},
            {"name": "eph", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}},
            {"name": "claim", "persistentVolumeClaim": {"claimName": "data"}}
        ]}});
        let got = defaulted("", "v1", "Pod", pod);
        assert_eq!(
            got["spec"]["volumes"],
            json!([
                {"name": "scratch", "emptyDir": {}},
                {"name": "cm", "configMap": {"name": "settings", "defaultMode": 420}},
                {"name": "sec", "secret": {"secretName": "creds", "defaultMode": 256}},
                {"name": "host", "hostPath": {"path": "/var/log", "type": ""}},
                {"name": "info", "downwardAPI": {"defaultMode": 420, "items": [
                    {"path": "labels", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}}]}},
                {"name": "token", "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                    {"downwardAPI": {"items": [
                        {"path": "ns", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                ]}},
                {"name": "eph", "ephemeral": {"volumeClaimTemplate": {"metadata": {}, "spec": {
                    "accessModes": ["ReadWriteOnce"], "resources": {}, "volumeMode": "Filesystem"}}}},
                {"name": "claim", "persistentVolumeClaim": {"claimName": "data"}}
            ])
        );
    }

    #[test]
    fn pods_get_requests_from_limits_and_host_ports_but_templates_do_not() {
        let spec = json!({
            "hostNetwork": true,
            "containers": [{"name": "a", "image": "a:1",
                            "ports": [{"containerPort": 80}, {"containerPort": 81, "hostPort": 9000}],
                            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}}]
        });
        let pod = defaulted("", "v1", "Pod", json!({"spec": spec.clone()}));
        let c = &pod["spec"]["containers"][0];
        assert_eq!(c["resources"]["requests"], json!({"cpu": "500m", "memory": "1Gi"}));
        assert_eq!(
            c["ports"],
            json!([{"containerPort": 80, "hostPort": 80, "protocol": "TCP"},
                                      {"containerPort": 81, "hostPort": 9000, "protocol": "TCP"}])
        );
        assert_eq!(pod["spec"]["enableServiceLinks"], true);

        let template = defaulted("", "v1", "PodTemplate", json!({"template": {"spec": spec}}));
        let c = &template["template"]["spec"]["containers"][0];
        assert_eq!(c["resources"]["requests"], json!({"cpu": "500m"}));
        assert_eq!(c["ports"][0], json!({"containerPort": 80, "protocol": "TCP"}));
        assert!(template["template"]["spec"].get("enableServiceLinks").is_none());
        assert_eq!(template["template"]["metadata"], json!({}));
    }

    #[test]
    fn user_values_are_kept() {
        let spec = json!({
            "dnsPolicy": "Default", "restartPolicy": "Never", "securityContext": {"runAsUser": 1000},
            "terminationGracePeriodSeconds": 0, "schedulerName": "mine", "enableServiceLinks": false,
            "containers": [{"name": "a", "image": "nginx", "imagePullPolicy": "Never",
                            "terminationMessagePath": "/tmp/x", "terminationMessagePolicy": "FallbackToLogsOnError",
                            "resources": {"requests": {"cpu": "1"}}}]
        });
        let got = defaulted("", "v1", "Pod", json!({"spec": spec.clone()}));
        assert_eq!(got["spec"], spec);
    }

    #[test]
    fn admission_respects_existing_tolerations_and_priority_classes() {
        let mut pod = json!({"spec": {"containers": [], "priorityClassName": "high",
            "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}]}});
        pod_admission_defaults(&mut pod);
        assert_eq!(
            pod["spec"]["tolerations"],
            json!([
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists"},
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ])
        );
        assert!(pod["spec"].get("priority").is_none());

        let mut tolerate_all = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        pod_admission_defaults(&mut tolerate_all);
        assert_eq!(tolerate_all["spec"]["tolerations"], json!([{"operator": "Exists"}]));

        let mut no_schedule =
            json!({"spec": {"tolerations": [{"operator": "Exists", "effect": "NoSchedule"}]}});
        pod_admission_defaults(&mut no_schedule);
        assert_eq!(no_schedule["spec"]["tolerations"].as_array().unwrap().len(), 3);

        set_pod_priority(&mut pod, "high", 1000, Some("Never")).unwrap();
        assert_eq!(pod["spec"]["priority"], 1000);
        assert_eq!(pod["spec"]["preemptionPolicy"], "Never");
        set_pod_priority(&mut pod, "high", 1000, Some("Never")).unwrap();

        let mut wrong = json!({"spec": {"priorityClassName": "high", "priority": 5}});
        let err = set_pod_priority(&mut wrong, "high", 1000, None).unwrap_err();
        assert_eq!(
            err,
            "the integer value of priority (5) must not be provided in pod spec; priority admission \
             controller computed 1000 from the given PriorityClass name"
        );

        let mut defaulted_class = json!({"spec": {}});
        set_pod_priority(&mut defaulted_class, "cluster-default", 7, None).unwrap();
        assert_eq!(defaulted_class["spec"], json!({"priorityClassName": "cluster-default", "priority": 7}));
    }

    fn qos(containers: Value) -> &'static str {
        let spec = json!({"containers": containers});
        qos_class(spec.as_object())
    }

    #[test]
    fn qos_classes_follow_upstream_rules() {
        assert_eq!(qos(json!([{"resources": {}}])), "BestEffort");
        assert_eq!(qos(json!([{"resources": {"requests": {"cpu": "0"}}}])), "BestEffort");
        assert_eq!(qos(json!([{"resources": {"requests": {"ephemeral-storage": "1Gi"}}}])), "BestEffort");
        assert_eq!(qos(json!([{"resources": {"requests": {"cpu": "100m"}}}])), "Burstable");
        let equal = json!({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1000m", "memory": "1024Mi"}});
        assert_eq!(qos(json!([{"resources": equal}])), "Guaranteed");
        assert_eq!(qos(json!([{"resources": equal}, {"resources": {}}])), "Burstable");
        assert_eq!(
            qos(json!([{"resources": {"requests": {"cpu": "1", "memory": "1Gi"},
                                      "limits": {"cpu": "2", "memory": "1Gi"}}}])),
            "Burstable"
        );
        assert_eq!(
            qos(json!([{"resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}}])),
            "Burstable"
        );
        // Limits alone become requests through Pod defaulting, so the Pod is Guaranteed.
        let pod = created(
            "",
            "v1",
            "Pod",
            json!({"spec": {"containers": [{"name": "a", "image": "a:1",
            "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}}}]}}),
        );
        assert_eq!(pod["status"]["qosClass"], "Guaranteed");
        // Pod-level resources decide when set.
        let spec = json!({"resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
                          "containers": [{"resources": {}}]});
        assert_eq!(qos_class(spec.as_object()), "Guaranteed");
    }

    #[test]
    fn create_status_replaces_client_status_and_reports_scheduling_gates() {
        let pod = created(
            "",
            "v1",
            "Pod",
            json!({
                "metadata": {"name": "gated", "creationTimestamp": "2025-02-03T04:05:06Z"},
                "spec": {"schedulingGates": [{"name": "example.com/gate"}], "containers": [{"name": "a", "image": "a:1"}]},
                "status": {"phase": "Running", "podIP": "10.0.0.1"}
            }),
        );
        assert_eq!(
            pod["status"],
            json!({
                "phase": "Pending",
                "qosClass": "BestEffort",
                "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
                                "message": "Scheduling is blocked due to non-empty scheduling gates",
                                "lastProbeTime": null, "lastTransitionTime": "2025-02-03T04:05:06Z"}]
            })
        );
    }

    #[test]
    fn label_keys_merge_into_selectors_once() {
        let pod = created(
            "",
            "v1",
            "Pod",
            json!({
                "metadata": {"name": "p", "labels": {"app": "web", "pod-template-hash": "abc"}},
                "spec": {
                    "containers": [{"name": "a", "image": "a:1"}],
                    "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
                        "labelSelector": {"matchLabels": {"app": "web"}},
                        "matchLabelKeys": ["pod-template-hash", "missing"],
                        "mismatchLabelKeys": ["app"],
                        "topologyKey": "kubernetes.io/hostname"
                    }]}},
                    "topologySpreadConstraints": [{
                        "maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                        "labelSelector": {"matchLabels": {"app": "web"}},
                        "matchLabelKeys": ["pod-template-hash"]
                    }]
                }
            }),
        );
        let term =
            &pod["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
        assert_eq!(
            term["labelSelector"]["matchExpressions"],
            json!([
                {"key": "pod-template-hash", "operator": "In", "values": ["abc"]},
                {"key": "app", "operator": "NotIn", "values": ["web"]}
            ])
        );
        assert_eq!(
            pod["spec"]["topologySpreadConstraints"][0]["labelSelector"]["matchExpressions"],
            json!([{"key": "pod-template-hash", "operator": "In", "values": ["abc"]}])
        );
    }
}
