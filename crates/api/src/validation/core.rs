//! The core group's kinds other than Pod: Service, ConfigMap, Secret, PersistentVolumeClaim,
//! ReplicationController, PodTemplate, Node, ResourceQuota and LimitRange.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::field::{Bad, Errors, Path, array_of, get, int_of, object_of, str_of};
use super::format;
use super::meta;
use super::pod;
use super::quantity::Quantity;

/// Upstream's bound on the data of a ConfigMap or Secret.
const MAX_DATA_SIZE: usize = 1024 * 1024;
const NOT_NEGATIVE: &str = "must be greater than or equal to 0";
const IMMUTABLE: &str = "field is immutable";

pub fn validate(kind: &str, obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    match kind {
        "Pod" => {
            pod::pod(obj, errs);
            if let Some(old) = old {
                pod::update(obj, old, errs);
            }
        }
        "PodTemplate" => {
            pod::template(obj.get("template").unwrap_or(&Value::Null), &Path::new("template"), errs)
        }
        "Service" => service(obj, old, errs),
        "ConfigMap" => config_map(obj, old, errs),
        "Secret" => secret(obj, old, errs),
        "PersistentVolumeClaim" => claim(obj, errs),
        "ReplicationController" => replication_controller(obj, errs),
        "Node" => node(obj, errs),
        "ResourceQuota" => resource_quota(obj, errs),
        "LimitRange" => limit_range(obj, errs),
        _ => {}
    }
}

fn spec(obj: &Value) -> &Value {
    obj.get("spec").unwrap_or(&Value::Null)
}

// ---- Service ----

fn is_headless(spec: &Value) -> bool {
    let ips = array_of(spec, "clusterIPs");
    match ips {
        [only] => only.as_str() == Some("None"),
        [] => str_of(spec, "clusterIP") == "None",
        _ => false,
    }
}

fn service(obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    let spec = spec(obj);
    let path = Path::new("spec");
    if let Some(old) = old {
        cluster_ips_unchanged(spec, self::spec(old), errs);
    }
    let kind = str_of(spec, "type");
    let headless = is_headless(spec);
    let ports = array_of(spec, "ports");
    if ports.is_empty() && !headless && kind != "ExternalName" {
        errs.required(&path.child("ports"), "");
    }
    match kind {
        "LoadBalancer" | "NodePort" if headless => errs.invalid(
            &path.child("clusterIPs").index(0),
            Bad::Str("None"),
            &format!("may not be set to 'None' for {kind} services"),
        ),
        "ExternalName" => {
            let cname = str_of(spec, "externalName");
            let cname = cname.strip_suffix('.').unwrap_or(cname);
            if cname.is_empty() {
                errs.required(&path.child("externalName"), "");
            } else {
                errs.invalid_each(&path.child("externalName"), cname, format::dns1123_subdomain(cname));
            }
        }
        _ => {}
    }
    let mut names = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        service_port(port, ports.len() > 1, &mut names, &path.child("ports").index(i), errs);
    }
    if let Some(selector) = object_of(spec, "selector") {
        meta::labels(Some(selector), &path.child("selector"), errs);
    }
    pod::one_of(spec, "sessionAffinity", &["ClientIP", "None"], &path.child("sessionAffinity"), errs);
    if str_of(spec, "sessionAffinity") == "ClientIP" {
        let timeout_path = path.child("sessionAffinityConfig").child("clientIP").child("timeoutSeconds");
        let timeout = get(spec, "sessionAffinityConfig")
            .and_then(|c| get(c, "clientIP"))
            .and_then(|c| int_of(c, "timeoutSeconds"));
        if let Some(t) = timeout.filter(|t| *t <= 0 || *t > 86400) {
            errs.invalid(&timeout_path, Bad::Int(t), "must be greater than 0 and less than 86400");
        }
    }
    pod::one_of(
        spec,
        "type",
        &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        &path.child("type"),
        errs,
    );
    let mut node_ports = HashSet::new();
    let mut pairs = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.child("ports").index(i);
        let node_port = int_of(port, "nodePort").unwrap_or(0);
        if kind == "ClusterIP" && node_port != 0 {
            errs.forbidden(&p.child("nodePort"), "may not be used when `type` is 'ClusterIP'");
        }
        if node_port != 0 && !node_ports.insert((str_of(port, "protocol"), node_port)) {
            errs.duplicate(&p.child("nodePort"), Bad::Int(node_port));
        }
        let number = int_of(port, "port").unwrap_or(0);
        if !pairs.insert((str_of(port, "protocol"), number)) {
            // Upstream prints the key, an internal ServicePort, with Go's field names.
            let key = format!(
                "{{\"Name\":\"\",\"Protocol\":{},\"AppProtocol\":null,\"Port\":{number},\"TargetPort\":0,\"NodePort\":0}}",
                super::field::go_json(&Value::String(str_of(port, "protocol").into()))
            );
            errs.duplicate(&p, Bad::Raw(key));
        }
    }
    if get(spec, "allocateLoadBalancerNodePorts").is_some() && kind != "LoadBalancer" {
        errs.forbidden(
            &path.child("allocateLoadBalancerNodePorts"),
            "may only be used when `type` is 'LoadBalancer'",
        );
    }
    let externally_accessible = kind == "LoadBalancer"
        || kind == "NodePort"
        || (kind == "ClusterIP" && !array_of(spec, "externalIPs").is_empty());
    let etp = str_of(spec, "externalTrafficPolicy");
    if !externally_accessible && !etp.is_empty() {
        errs.invalid(
            &path.child("externalTrafficPolicy"),
            Bad::Str(etp),
            "may only be set for externally-accessible services",
        );
    } else if !etp.is_empty() && !matches!(etp, "Cluster" | "Local") {
        errs.not_supported(&path.child("externalTrafficPolicy"), Bad::Str(etp), &["Cluster", "Local"]);
    }
    if let Some(itp) = spec.get("internalTrafficPolicy").and_then(Value::as_str)
        && !matches!(itp, "Cluster" | "Local")
    {
        errs.not_supported(&path.child("internalTrafficPolicy"), Bad::Str(itp), &["Cluster", "Local"]);
    }
}

fn service_port(
    port: &Value,
    require_name: bool,
    names: &mut HashSet<String>,
    path: &Path,
    errs: &mut Errors,
) {
    let name = str_of(port, "name");
    if require_name && name.is_empty() {
        errs.required(&path.child("name"), "");
    } else if !name.is_empty() {
        errs.invalid_each(&path.child("name"), name, format::dns1123_label(name));
        if !names.insert(name.to_string()) {
            errs.duplicate(&path.child("name"), Bad::Str(name));
        }
    }
    pod::port_number(int_of(port, "port").unwrap_or(0), &path.child("port"), errs);
    pod::protocol(port, &path.child("protocol"), errs);
    if let Some(target) = get(port, "targetPort") {
        pod::port_num_or_name(Some(target), &path.child("targetPort"), errs);
    }
    if let Some(app) = port.get("appProtocol").and_then(Value::as_str) {
        errs.invalid_each(&path.child("appProtocol"), app, format::qualified_name_errors(app));
    }
}

/// A Service keeps its cluster IPs: only a missing one may be filled in (by allocation), and
/// ExternalName services and headless-to-headless updates are exempt.
fn cluster_ips_unchanged(spec: &Value, old: &Value, errs: &mut Errors) {
    if str_of(spec, "type") == "ExternalName" || str_of(old, "type") == "ExternalName" {
        return;
    }
    if is_headless(spec) && is_headless(old) {
        return;
    }
    let old_ips: Vec<&str> = array_of(old, "clusterIPs").iter().filter_map(Value::as_str).collect();
    let Some(old_primary) =
        old_ips.first().copied().or(Some(str_of(old, "clusterIP")).filter(|s| !s.is_empty()))
    else {
        return;
    };
    // Like upstream's normalisation, a changed `clusterIP` wins over a stale `clusterIPs`.
    let mut new_ips: Vec<String> =
        array_of(spec, "clusterIPs").iter().filter_map(Value::as_str).map(str::to_string).collect();
    let new_primary = str_of(spec, "clusterIP");
    if !new_primary.is_empty() && new_ips.first().map(String::as_str) != Some(new_primary) {
        if new_ips.is_empty() {
            new_ips.push(new_primary.to_string());
        } else {
            new_ips[0] = new_primary.to_string();
        }
    }
    // An update that leaves the IPs out keeps the allocated ones.
    let Some(primary) = new_ips.first() else { return };
    if primary != old_primary {
        let shown = Value::Array(new_ips.iter().map(|s| Value::String(s.clone())).collect());
        errs.invalid(&Path::new("spec.clusterIPs").index(0), Bad::Json(&shown), "may not change once set");
    }
}

// ---- ConfigMap and Secret ----

fn data_keys(map: Option<&Map<String, Value>>, path: &Path, errs: &mut Errors) {
    let mut keys: Vec<&String> = map.into_iter().flat_map(|m| m.keys()).collect();
    keys.sort();
    for key in keys {
        errs.invalid_each(&path.key(key), key, format::config_map_key(key));
    }
}

fn config_map(obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    let data = object_of(obj, "data");
    let binary = object_of(obj, "binaryData");
    data_keys(data, &Path::new("data"), errs);
    for key in data.into_iter().flat_map(|m| m.keys()) {
        if binary.is_some_and(|b| b.contains_key(key)) {
            errs.invalid(
                &Path::new("data").key(key),
                Bad::Str(key),
                "duplicate of key present in binaryData",
            );
        }
    }
    data_keys(binary, &Path::new("binaryData"), errs);
    for key in binary.into_iter().flat_map(|m| m.keys()) {
        if data.is_some_and(|d| d.contains_key(key)) {
            errs.invalid(
                &Path::new("binaryData").key(key),
                Bad::Str(key),
                "duplicate of key present in data",
            );
        }
    }
    let size = string_sizes(data) + decoded_sizes(binary);
    if size > MAX_DATA_SIZE {
        // Upstream's error names the whole object, printed as `[]`.
        errs.too_long(&Path::new("[]"), MAX_DATA_SIZE);
    }
    if let Some(old) = old {
        immutable_data(obj, old, &["data", "binaryData"], errs);
    }
}

fn string_sizes(map: Option<&Map<String, Value>>) -> usize {
    map.into_iter().flat_map(|m| m.values()).filter_map(Value::as_str).map(str::len).sum()
}

// Base64 text is four characters for every three bytes.
fn decoded_sizes(map: Option<&Map<String, Value>>) -> usize {
    map.into_iter()
        .flat_map(|m| m.values())
        .filter_map(Value::as_str)
        .map(|s| s.trim_end_matches('=').len() * 3 / 4)
        .sum()
}

/// Once `immutable` is true, it and the data stay as they are.
fn immutable_data(obj: &Value, old: &Value, fields: &[&str], errs: &mut Errors) {
    if old.get("immutable").and_then(Value::as_bool) != Some(true) {
        return;
    }
    const MSG: &str = "field is immutable when `immutable` is set";
    if obj.get("immutable").and_then(Value::as_bool) != Some(true) {
        errs.forbidden(&Path::new("immutable"), MSG);
    }
    for field in fields {
        if get(obj, field) != get(old, field) {
            errs.forbidden(&Path::new(field), MSG);
        }
    }
}

fn secret(obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    // `stringData` is folded into `data` before upstream validates, so its keys are data keys.
    let mut keys = Map::new();
    for source in ["data", "stringData"] {
        for (k, v) in object_of(obj, source).into_iter().flatten() {
            keys.insert(k.clone(), v.clone());
        }
    }
    let data_path = Path::new("data");
    data_keys(Some(&keys), &data_path, errs);
    let size = decoded_sizes(object_of(obj, "data")) + string_sizes(object_of(obj, "stringData"));
    if size > MAX_DATA_SIZE {
        errs.too_long(&data_path, MAX_DATA_SIZE);
    }
    let has = |k: &str| keys.contains_key(k);
    match str_of(obj, "type") {
        "kubernetes.io/service-account-token" => {
            let name = obj
                .pointer("/metadata/annotations/kubernetes.io~1service-account.name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if name.is_empty() {
                errs.required(
                    &Path::new("metadata.annotations").key("kubernetes.io/service-account.name"),
                    "",
                );
            }
        }
        "kubernetes.io/dockercfg" if !has(".dockercfg") => errs.required(&data_path.key(".dockercfg"), ""),
        "kubernetes.io/dockerconfigjson" if !has(".dockerconfigjson") => {
            errs.required(&data_path.key(".dockerconfigjson"), "")
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.required(&data_path.key("username"), "");
            errs.required(&data_path.key("password"), "");
        }
        "kubernetes.io/ssh-auth"
            if keys.get("ssh-privatekey").and_then(Value::as_str).is_none_or(str::is_empty) =>
        {
            errs.required(&data_path.key("ssh-privatekey"), "")
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !has(key) {
                    errs.required(&data_path.key(key), "");
                }
            }
        }
        _ => {}
    }
    if let Some(old) = old {
        let (new_type, old_type) = (str_of(obj, "type"), str_of(old, "type"));
        if new_type != old_type {
            errs.invalid(&Path::new("type"), Bad::Str(new_type), IMMUTABLE);
        }
        immutable_data(obj, old, &["data"], errs);
    }
}

// ---- PersistentVolumeClaim ----

fn claim(obj: &Value, errs: &mut Errors) {
    let spec = spec(obj);
    let path = Path::new("spec");
    let modes = array_of(spec, "accessModes");
    if modes.is_empty() {
        errs.required(&path.child("accessModes"), "at least 1 access mode is required");
    }
    const MODES: &[&str] = &["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"];
    for mode in modes {
        let mode = mode.as_str().unwrap_or("");
        if !MODES.contains(&mode) {
            errs.not_supported(&path.child("accessModes"), Bad::Str(mode), MODES);
        }
    }
    let storage_path = path.child("resources").key("storage");
    let storage = get(spec, "resources").and_then(|r| get(r, "requests")).and_then(|r| get(r, "storage"));
    match storage.map(Quantity::parse) {
        None => errs.required(&storage_path, ""),
        Some(Some(q)) if q.nanos <= 0 => {
            errs.invalid(&storage_path, Bad::Str(&q.canonical()), "must be greater than zero")
        }
        Some(_) => {}
    }
    if let Some(selector) = get(spec, "selector") {
        meta::label_selector(selector, &path.child("selector"), errs);
    }
}

// ---- ReplicationController ----

fn replication_controller(obj: &Value, errs: &mut Errors) {
    let spec = spec(obj);
    let path = Path::new("spec");
    non_negative(spec, "replicas", &path, errs);
    non_negative(spec, "minReadySeconds", &path, errs);
    let selector = object_of(spec, "selector");
    if selector.is_none_or(Map::is_empty) {
        errs.required(&path.child("selector"), "");
    } else {
        meta::labels(selector, &path.child("selector"), errs);
    }
    let Some(template) = get(spec, "template") else {
        errs.required(&path.child("template"), "");
        return;
    };
    let labels = template.pointer("/metadata/labels");
    let matches = selector.into_iter().flatten().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
    if !selector.is_none_or(Map::is_empty) && !matches {
        errs.invalid(
            &path.child("template").child("metadata").child("labels"),
            Bad::Raw(meta::render_labels(labels)),
            "`selector` does not match template `labels`",
        );
    }
    pod::template(template, &path.child("template"), errs);
    restart_always(template, &path.child("template"), errs);
}

/// Controllers that keep pods running need `restartPolicy: Always`.
pub fn restart_always(template: &Value, path: &Path, errs: &mut Errors) {
    let policy = template.pointer("/spec/restartPolicy").and_then(Value::as_str).unwrap_or("");
    if policy != "Always" {
        errs.not_supported(&path.child("spec").child("restartPolicy"), Bad::Str(policy), &["Always"]);
    }
}

/// `ValidateNonnegativeField` for an optional integer field.
pub fn non_negative(obj: &Value, field: &str, path: &Path, errs: &mut Errors) {
    if let Some(v) = int_of(obj, field).filter(|v| *v < 0) {
        errs.invalid(&path.child(field), Bad::Int(v), NOT_NEGATIVE);
    }
}

// ---- Node, ResourceQuota, LimitRange ----

fn node(obj: &Value, errs: &mut Errors) {
    let path = Path::new("spec").child("taints");
    let mut seen = HashSet::new();
    for (i, taint) in array_of(spec(obj), "taints").iter().enumerate() {
        let p = path.index(i);
        let key = str_of(taint, "key");
        errs.invalid_each(&p.child("key"), key, format::qualified_name_errors(key));
        let value = str_of(taint, "value");
        errs.invalid_each(&p.child("value"), value, format::label_value_errors(value));
        let effect = str_of(taint, "effect");
        const EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];
        if effect.is_empty() {
            errs.required(&p.child("effect"), "");
        } else if !EFFECTS.contains(&effect) {
            errs.not_supported(&p.child("effect"), Bad::Str(effect), EFFECTS);
        }
        if !seen.insert((key, effect)) {
            errs.duplicate(&p, Bad::Json(taint));
        }
    }
}

fn resource_quota(obj: &Value, errs: &mut Errors) {
    let path = Path::new("spec").child("hard");
    let mut hard: Vec<(&String, &Value)> = object_of(spec(obj), "hard").into_iter().flatten().collect();
    hard.sort_by(|a, b| a.0.cmp(b.0));
    for (name, q) in hard {
        let p = path.key(name);
        errs.invalid_each(&p, name, format::qualified_name_errors(name));
        if let Some(q) = Quantity::parse(q).filter(|q| q.nanos < 0) {
            errs.invalid(&p, Bad::Str(&q.canonical()), NOT_NEGATIVE);
        }
    }
}

fn limit_range(obj: &Value, errs: &mut Errors) {
    let path = Path::new("spec").child("limits");
    for (i, item) in array_of(spec(obj), "limits").iter().enumerate() {
        let p = path.index(i);
        if str_of(item, "type").is_empty() {
            errs.required(&p.child("type"), "");
        }
        let mut names: Vec<&String> = ["max", "min", "default", "defaultRequest"]
            .iter()
            .flat_map(|f| object_of(item, f).into_iter().flat_map(|m| m.keys()))
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            let read = |field: &str| get(item, field).and_then(|m| get(m, name)).and_then(Quantity::parse);
            let (min, max) = (read("min"), read("max"));
            let (default, request) = (read("default"), read("defaultRequest"));
            // (field the error names, value it shows, lower, upper, what the two are called)
            let pairs = [
                ("min", min, min, max, "min value", "max value"),
                ("defaultRequest", request, min, request, "min value", "default request value"),
                ("defaultRequest", request, request, max, "default request value", "max value"),
                ("defaultRequest", request, request, default, "default request value", "default limit value"),
                ("default", min, min, default, "min value", "default value"),
                ("default", max, default, max, "default value", "max value"),
            ];
            for (field, shown, lo, hi, lo_name, hi_name) in pairs {
                if let (Some(shown), Some(lo), Some(hi)) = (shown, lo, hi)
                    && lo.nanos > hi.nanos
                {
                    errs.invalid(
                        &p.child(field).key(name),
                        Bad::Str(&shown.canonical()),
                        &format!("{lo_name} {} is greater than {hi_name} {}", lo.canonical(), hi.canonical()),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(kind: &str, obj: Value, old: Option<Value>) -> Vec<(String, String)> {
        let mut errs = Errors::default();
        validate(kind, &obj, old.as_ref(), &mut errs);
        errs.0.into_iter().map(|c| (c.field, c.message)).collect()
    }

    fn svc(spec: Value) -> Value {
        json!({"metadata": {"name": "s"}, "spec": spec})
    }

    #[test]
    fn services_need_ports_in_range() {
        let spec = json!({"type": "ClusterIP", "sessionAffinity": "None",
            "ports": [{"port": 0, "protocol": "TCP", "targetPort": 0}]});
        assert_eq!(
            run("Service", svc(spec), None),
            [
                (
                    "spec.ports[0].port".into(),
                    "Invalid value: 0: must be between 1 and 65535, inclusive".into()
                ),
                (
                    "spec.ports[0].targetPort".into(),
                    "Invalid value: 0: must be between 1 and 65535, inclusive".into()
                ),
            ]
        );
        let spec = json!({"type": "ClusterIP", "sessionAffinity": "None"});
        assert_eq!(run("Service", svc(spec), None), [("spec.ports".into(), "Required value".into())]);
        let spec = json!({"type": "ClusterIP", "clusterIP": "None", "sessionAffinity": "None"});
        assert!(run("Service", svc(spec), None).is_empty(), "headless services need no ports");
        let spec = json!({"type": "ExternalName", "externalName": "example.com.", "sessionAffinity": "None"});
        assert!(run("Service", svc(spec), None).is_empty());
    }

    #[test]
    fn service_enums_and_names() {
        let spec = json!({"type": "Magic", "sessionAffinity": "None", "ports": [
            {"port": 80, "protocol": "TCP", "targetPort": 80},
            {"name": "b", "port": 80, "protocol": "TCP", "targetPort": "http", "nodePort": 30001}]});
        assert_eq!(
            run("Service", svc(spec), None),
            [
                ("spec.ports[0].name".into(), "Required value".into()),
                (
                    "spec.type".into(),
                    "Unsupported value: \"Magic\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""
                        .into()
                ),
                (
                    "spec.ports[1]".into(),
                    "Duplicate value: {\"Name\":\"\",\"Protocol\":\"TCP\",\"AppProtocol\":null,\"Port\":80,\"TargetPort\":0,\"NodePort\":0}"
                        .into()
                ),
            ]
        );
    }

    #[test]
    fn cluster_ips_stay_put() {
        let old = svc(json!({"type": "ClusterIP", "clusterIP": "10.43.0.5", "clusterIPs": ["10.43.0.5"]}));
        let base = json!({"type": "ClusterIP", "sessionAffinity": "None", "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}]});
        let mut new = svc(base.clone());
        assert!(run("Service", new.clone(), Some(old.clone())).is_empty(), "leaving it out keeps it");
        new["spec"]["clusterIP"] = json!("10.43.0.9");
        new["spec"]["clusterIPs"] = json!(["10.43.0.5"]);
        assert_eq!(
            run("Service", new, Some(old)),
            [("spec.clusterIPs[0]".into(), "Invalid value: [\"10.43.0.9\"]: may not change once set".into())]
        );
    }

    #[test]
    fn config_map_and_secret_keys() {
        let got = run(
            "ConfigMap",
            json!({"data": {"bad key": "v", "ok": "v"}, "binaryData": {"ok": "dg=="}}),
            None,
        );
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, "data[bad key]");
        assert_eq!(
            got[1],
            ("data[ok]".into(), "Invalid value: \"ok\": duplicate of key present in binaryData".into())
        );
        let got = run("Secret", json!({"type": "kubernetes.io/tls", "stringData": {"tls.crt": "x"}}), None);
        assert_eq!(got, [("data[tls.key]".into(), "Required value".into())]);
        let old = json!({"type": "Opaque", "immutable": true, "data": {"a": "YQ=="}});
        let got =
            run("Secret", json!({"type": "Opaque", "immutable": true, "data": {"a": "Yg=="}}), Some(old));
        assert_eq!(got, [("data".into(), "Forbidden: field is immutable when `immutable` is set".into())]);
        let got = run("Secret", json!({"type": "Opaque"}), Some(json!({"type": "kubernetes.io/tls"})));
        assert_eq!(got, [("type".into(), "Invalid value: \"Opaque\": field is immutable".into())]);
    }

    #[test]
    fn data_is_bounded() {
        let big = "x".repeat(MAX_DATA_SIZE + 1);
        let got = run("ConfigMap", json!({"data": {"a": big}}), None);
        assert_eq!(got, [("[]".into(), "Too long: may not be more than 1048576 bytes".into())]);
    }

    #[test]
    fn claims_need_modes_and_storage() {
        let got = run(
            "PersistentVolumeClaim",
            json!({"spec": {"accessModes": ["Sometimes"], "resources": {}}}),
            None,
        );
        assert_eq!(
            got,
            [
                (
                    "spec.accessModes".into(),
                    "Unsupported value: \"Sometimes\": supported values: \"ReadOnlyMany\", \"ReadWriteMany\", \"ReadWriteOnce\", \"ReadWriteOncePod\""
                        .into()
                ),
                ("spec.resources[storage]".into(), "Required value".into()),
            ]
        );
    }

    #[test]
    fn replication_controllers_match_their_template() {
        let rc = json!({"spec": {"replicas": -1, "selector": {"app": "a"}, "template": {
            "metadata": {"labels": {"app": "b"}},
            "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicy": "Always", "terminationMessagePolicy": "File"}],
                     "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}}}});
        assert_eq!(
            run("ReplicationController", rc, None),
            [
                ("spec.replicas".into(), "Invalid value: -1: must be greater than or equal to 0".into()),
                (
                    "spec.template.metadata.labels".into(),
                    "Invalid value: {\"app\":\"b\"}: `selector` does not match template `labels`".into()
                ),
            ]
        );
    }

    #[test]
    fn limit_ranges_order_their_bounds() {
        let lr =
            json!({"spec": {"limits": [{"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}]}});
        assert_eq!(
            run("LimitRange", lr, None),
            [(
                "spec.limits[0].min[cpu]".into(),
                "Invalid value: \"2\": min value 2 is greater than max value 1".into()
            )]
        );
    }
}
