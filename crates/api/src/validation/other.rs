//! The cheaper checks of the remaining groups: Ingress, PodDisruptionBudget,
//! HorizontalPodAutoscaler, RBAC, PriorityClass and Lease.

use serde_json::Value;

use super::field::{Bad, Errors, Path, array_of, get, go_json, int_of, str_of};
use super::format;
use super::meta;
use super::pod;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// The highest priority a user-defined PriorityClass may have.
const HIGHEST_USER_PRIORITY: i64 = 1_000_000_000;

pub fn validate(group: &str, kind: &str, obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let path = Path::new("spec");
    match (group, kind) {
        ("networking.k8s.io", "Ingress") => ingress(spec, &path, errs),
        ("policy", "PodDisruptionBudget") => pod_disruption_budget(spec, &path, errs),
        ("autoscaling", "HorizontalPodAutoscaler") => autoscaler(spec, &path, errs),
        (RBAC_GROUP, "Role") => rules(obj, true, errs),
        (RBAC_GROUP, "ClusterRole") => rules(obj, false, errs),
        (RBAC_GROUP, "RoleBinding") => binding(obj, old, true, errs),
        (RBAC_GROUP, "ClusterRoleBinding") => binding(obj, old, false, errs),
        ("scheduling.k8s.io", "PriorityClass") => priority_class(obj, old, errs),
        ("coordination.k8s.io", "Lease") => lease(spec, &path, errs),
        _ => {}
    }
}

fn ingress(spec: &Value, path: &Path, errs: &mut Errors) {
    if let Some(backend) = get(spec, "defaultBackend") {
        ingress_backend(backend, &path.child("defaultBackend"), errs);
    }
    for (i, rule) in array_of(spec, "rules").iter().enumerate() {
        let rpath = path.child("rules").index(i);
        let host = str_of(rule, "host");
        if !host.is_empty() {
            if host.parse::<std::net::IpAddr>().is_ok() {
                errs.invalid(&rpath.child("host"), Bad::Str(host), "must be a DNS name, not an IP address");
            }
            if host.contains('*') {
                // Upstream skips the rule's paths after checking a wildcard host.
                errs.invalid_each(&rpath.child("host"), host, format::wildcard_dns1123_subdomain(host));
                continue;
            }
            errs.invalid_each(&rpath.child("host"), host, format::dns1123_subdomain(host));
        }
        let Some(http) = get(rule, "http") else { continue };
        let ppath = rpath.child("http").child("paths");
        for (j, p) in array_of(http, "paths").iter().enumerate() {
            ingress_path(p, &ppath.index(j), errs);
        }
    }
}

fn ingress_path(p: &Value, path: &Path, errs: &mut Errors) {
    let value = str_of(p, "path");
    let vpath = path.child("path");
    match str_of(p, "pathType") {
        "" => {
            errs.required(&path.child("pathType"), "pathType must be specified");
            return;
        }
        "Exact" | "Prefix" => {
            if !value.starts_with('/') {
                errs.invalid(&vpath, Bad::Str(value), "must be an absolute path");
            }
            for seq in ["//", "/./", "/../", "%2f", "%2F"] {
                if value.contains(seq) {
                    errs.invalid(&vpath, Bad::Str(value), &format!("must not contain '{seq}'"));
                }
            }
            for suffix in ["/..", "/."] {
                if value.ends_with(suffix) {
                    errs.invalid(&vpath, Bad::Str(value), &format!("cannot end with '{suffix}'"));
                }
            }
        }
        "ImplementationSpecific" => {
            if !value.is_empty() && !value.starts_with('/') {
                errs.invalid(&vpath, Bad::Str(value), "must be an absolute path");
            }
        }
        other => errs.not_supported(
            &path.child("pathType"),
            Bad::Str(other),
            &["Exact", "ImplementationSpecific", "Prefix"],
        ),
    }
    ingress_backend(p.get("backend").unwrap_or(&Value::Null), &path.child("backend"), errs);
}

fn ingress_backend(backend: &Value, path: &Path, errs: &mut Errors) {
    match (get(backend, "service"), get(backend, "resource")) {
        (Some(_), Some(_)) => {
            errs.invalid(path, Bad::Str(""), "cannot set both resource and service backends")
        }
        (None, None) => errs.invalid(path, Bad::Str(""), "resource or service backend is required"),
        (Some(svc), None) => {
            let name = str_of(svc, "name");
            let spath = path.child("service");
            if name.is_empty() {
                errs.required(&spath.child("name"), "");
            } else {
                errs.invalid_each(&spath.child("name"), name, format::dns1035_label(name));
            }
            let port = svc.get("port").unwrap_or(&Value::Null);
            let (port_name, number) = (str_of(port, "name"), int_of(port, "number").unwrap_or(0));
            match (port_name.is_empty(), number) {
                (false, n) if n != 0 => {
                    errs.invalid(path, Bad::Str(""), "cannot set both port name & port number")
                }
                (false, _) => errs.invalid_each(
                    &spath.child("port").child("name"),
                    port_name,
                    format::port_name(port_name),
                ),
                (true, 0) => errs.required(path, "port name or number is required"),
                (true, n) => pod::port_number(n, &spath.child("port").child("number"), errs),
            }
        }
        (None, Some(_)) => {}
    }
}

/// An `IntOrString` as upstream's apps checks see it: a percentage string or a count.
fn int_or_percent(v: &Value, path: &Path, errs: &mut Errors) {
    match v {
        Value::String(s) => {
            let msgs = format::percent(s);
            let shown = go_json(v);
            for m in &msgs {
                errs.invalid(path, Bad::Raw(shown.clone()), m);
            }
            let over = msgs.is_empty() && s.trim_end_matches('%').parse::<i64>().is_ok_and(|n| n > 100);
            if over {
                errs.invalid(path, Bad::Raw(shown), "must not be greater than 100%");
            }
        }
        Value::Number(n) => {
            let n = n.as_i64().unwrap_or(0);
            if n < 0 {
                errs.invalid(path, Bad::Int(n), "must be greater than or equal to 0");
            }
        }
        _ => {}
    }
}

fn pod_disruption_budget(spec: &Value, path: &Path, errs: &mut Errors) {
    let (min, max) = (get(spec, "minAvailable"), get(spec, "maxUnavailable"));
    if min.is_some() && max.is_some() {
        // Upstream prints the internal spec struct, whose JSON uses Go's field names.
        let shown = format!(
            "{{\"MinAvailable\":{},\"Selector\":{},\"MaxUnavailable\":{},\"UnhealthyPodEvictionPolicy\":{}}}",
            min.map_or("null".into(), go_json),
            get(spec, "selector").map_or("null".into(), meta::render_selector),
            max.map_or("null".into(), go_json),
            get(spec, "unhealthyPodEvictionPolicy").map_or("null".into(), go_json),
        );
        errs.invalid(path, Bad::Raw(shown), "minAvailable and maxUnavailable cannot be both set");
    }
    if let Some(min) = min {
        int_or_percent(min, &path.child("minAvailable"), errs);
    }
    if let Some(max) = max {
        int_or_percent(max, &path.child("maxUnavailable"), errs);
    }
    if let Some(sel) = get(spec, "selector") {
        meta::label_selector(sel, &path.child("selector"), errs);
    }
    if let Some(policy) = spec.get("unhealthyPodEvictionPolicy").and_then(Value::as_str)
        && !matches!(policy, "AlwaysAllow" | "IfHealthyBudget")
    {
        errs.not_supported(
            &path.child("unhealthyPodEvictionPolicy"),
            Bad::Str(policy),
            &["AlwaysAllow", "IfHealthyBudget"],
        );
    }
}

fn autoscaler(spec: &Value, path: &Path, errs: &mut Errors) {
    let min = int_of(spec, "minReplicas");
    let max = int_of(spec, "maxReplicas").unwrap_or(0);
    if let Some(min) = min.filter(|m| *m < 1) {
        errs.invalid(&path.child("minReplicas"), Bad::Int(min), "must be greater than or equal to 1");
    }
    if max < 1 {
        errs.invalid(&path.child("maxReplicas"), Bad::Int(max), "must be greater than 0");
    }
    if min.is_some_and(|m| max < m) {
        errs.invalid(
            &path.child("maxReplicas"),
            Bad::Int(max),
            "must be greater than or equal to `minReplicas`",
        );
    }
    let target = spec.get("scaleTargetRef").unwrap_or(&Value::Null);
    let tpath = path.child("scaleTargetRef");
    for field in ["kind", "name"] {
        if str_of(target, field).is_empty() {
            errs.required(&tpath.child(field), "");
        }
    }
}

fn rules(obj: &Value, namespaced: bool, errs: &mut Errors) {
    for (i, rule) in array_of(obj, "rules").iter().enumerate() {
        let p = Path::new("rules").index(i);
        if array_of(rule, "verbs").is_empty() {
            errs.required(&p.child("verbs"), "verbs must contain at least one value");
        }
        let urls = array_of(rule, "nonResourceURLs");
        if !urls.is_empty() {
            let shown = Bad::Json(&rule["nonResourceURLs"]);
            if namespaced {
                errs.invalid(
                    &p.child("nonResourceURLs"),
                    shown,
                    "namespaced rules cannot apply to non-resource URLs",
                );
            } else if ["apiGroups", "resources", "resourceNames"]
                .iter()
                .any(|f| !array_of(rule, f).is_empty())
            {
                errs.invalid(
                    &p.child("nonResourceURLs"),
                    shown,
                    "rules cannot apply to both regular resources and non-resource URLs",
                );
            }
            continue;
        }
        if array_of(rule, "apiGroups").is_empty() {
            errs.required(&p.child("apiGroups"), "resource rules must supply at least one api group");
        }
        if array_of(rule, "resources").is_empty() {
            errs.required(&p.child("resources"), "resource rules must supply at least one resource");
        }
    }
}

fn binding(obj: &Value, old: Option<&Value>, namespaced: bool, errs: &mut Errors) {
    let role_ref = obj.get("roleRef").unwrap_or(&Value::Null);
    let rpath = Path::new("roleRef");
    let api_group = str_of(role_ref, "apiGroup");
    if api_group != RBAC_GROUP {
        errs.not_supported(&rpath.child("apiGroup"), Bad::Str(api_group), &[RBAC_GROUP]);
    }
    let kind = str_of(role_ref, "kind");
    let kinds: &[&str] = if namespaced { &["Role", "ClusterRole"] } else { &["ClusterRole"] };
    if !kinds.contains(&kind) {
        errs.not_supported(&rpath.child("kind"), Bad::Str(kind), kinds);
    }
    if str_of(role_ref, "name").is_empty() {
        errs.required(&rpath.child("name"), "");
    }
    for (i, subject) in array_of(obj, "subjects").iter().enumerate() {
        let p = Path::new("subjects").index(i);
        let name = str_of(subject, "name");
        if name.is_empty() {
            errs.required(&p.child("name"), "");
        }
        let group = str_of(subject, "apiGroup");
        match str_of(subject, "kind") {
            "ServiceAccount" => {
                if !name.is_empty() {
                    errs.invalid_each(&p.child("name"), name, format::dns1123_subdomain(name));
                }
                if !group.is_empty() {
                    errs.not_supported(&p.child("apiGroup"), Bad::Str(group), &[""]);
                }
                if !namespaced && str_of(subject, "namespace").is_empty() {
                    errs.required(&p.child("namespace"), "");
                }
            }
            "User" | "Group" if group != RBAC_GROUP => {
                errs.not_supported(&p.child("apiGroup"), Bad::Str(group), &[RBAC_GROUP])
            }
            "User" | "Group" => {}
            other => {
                errs.not_supported(&p.child("kind"), Bad::Str(other), &["ServiceAccount", "User", "Group"])
            }
        }
    }
    if let Some(old_ref) = old.and_then(|o| o.get("roleRef"))
        && old_ref != role_ref
    {
        let shown = format!(
            "{{\"APIGroup\":{},\"Kind\":{},\"Name\":{}}}",
            go_json(&Value::String(api_group.into())),
            go_json(&Value::String(kind.into())),
            go_json(&Value::String(str_of(role_ref, "name").into()))
        );
        errs.invalid(&rpath, Bad::Raw(shown), "cannot change roleRef");
    }
}

fn priority_class(obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    let value = int_of(obj, "value").unwrap_or(0);
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    if old.is_none() && !name.starts_with("system-") && value > HIGHEST_USER_PRIORITY {
        errs.forbidden(
            &Path::new("value"),
            &format!("maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"),
        );
    }
    if let Some(old) = old {
        if int_of(old, "value") != int_of(obj, "value") {
            errs.forbidden(&Path::new("value"), "may not be changed in an update.");
        }
        if get(old, "preemptionPolicy") != get(obj, "preemptionPolicy") {
            let shown = str_of(obj, "preemptionPolicy");
            errs.invalid(&Path::new("preemptionPolicy"), Bad::Str(shown), "field is immutable");
        }
    }
}

fn lease(spec: &Value, path: &Path, errs: &mut Errors) {
    if let Some(d) = int_of(spec, "leaseDurationSeconds").filter(|d| *d <= 0) {
        errs.invalid(&path.child("leaseDurationSeconds"), Bad::Int(d), "must be greater than 0");
    }
    if let Some(t) = int_of(spec, "leaseTransitions").filter(|t| *t < 0) {
        errs.invalid(&path.child("leaseTransitions"), Bad::Int(t), "must be greater than or equal to 0");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(group: &str, kind: &str, obj: Value, old: Option<Value>) -> Vec<(String, String)> {
        let mut errs = Errors::default();
        validate(group, kind, &obj, old.as_ref(), &mut errs);
        errs.0.into_iter().map(|c| (c.field, c.message)).collect()
    }

    #[test]
    fn ingress_paths_need_a_type_and_a_slash() {
        let ing = json!({"spec": {"rules": [{"host": "example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
            {"path": "api", "pathType": "Exact", "backend": {"service": {"name": "web", "port": {"name": "http"}}}},
            {"path": "/x", "backend": {"service": {"name": "web", "port": {}}}},
            {"path": "/y", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {}}}}
        ]}}]}});
        assert_eq!(
            run("networking.k8s.io", "Ingress", ing, None),
            [
                (
                    "spec.rules[0].http.paths[1].path".into(),
                    "Invalid value: \"api\": must be an absolute path".into()
                ),
                (
                    "spec.rules[0].http.paths[2].pathType".into(),
                    "Required value: pathType must be specified".into()
                ),
                (
                    "spec.rules[0].http.paths[3].backend".into(),
                    "Required value: port name or number is required".into()
                ),
            ]
        );
    }

    #[test]
    fn budgets_take_one_bound() {
        let got = run(
            "policy",
            "PodDisruptionBudget",
            json!({"spec": {"minAvailable": 1, "maxUnavailable": "150%"}}),
            None,
        );
        assert_eq!(
            got,
            [
                (
                    "spec".into(),
                    "Invalid value: {\"MinAvailable\":1,\"Selector\":null,\"MaxUnavailable\":\"150%\",\"UnhealthyPodEvictionPolicy\":null}: minAvailable and maxUnavailable cannot be both set".into()
                ),
                ("spec.maxUnavailable".into(), "Invalid value: \"150%\": must not be greater than 100%".into()),
            ]
        );
    }

    #[test]
    fn autoscalers_bound_replicas() {
        let hpa = json!({"spec": {"minReplicas": 5, "maxReplicas": 2, "scaleTargetRef": {"kind": "Deployment", "name": "web"}}});
        assert_eq!(
            run("autoscaling", "HorizontalPodAutoscaler", hpa, None),
            [(
                "spec.maxReplicas".into(),
                "Invalid value: 2: must be greater than or equal to `minReplicas`".into()
            )]
        );
    }

    #[test]
    fn rbac_rules_and_bindings() {
        let role = json!({"rules": [{"apiGroups": [""], "resources": ["pods"]}]});
        assert_eq!(
            run(RBAC_GROUP, "Role", role, None),
            [("rules[0].verbs".into(), "Required value: verbs must contain at least one value".into())]
        );
        let rb = json!({"roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": "r"},
            "subjects": [{"kind": "Robot", "name": "x"}]});
        let old = json!({"roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": "other"}});
        assert_eq!(
            run(RBAC_GROUP, "RoleBinding", rb, Some(old)),
            [
                (
                    "subjects[0].kind".into(),
                    "Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\"".into()
                ),
                (
                    "roleRef".into(),
                    "Invalid value: {\"APIGroup\":\"rbac.authorization.k8s.io\",\"Kind\":\"Role\",\"Name\":\"r\"}: cannot change roleRef".into()
                ),
            ]
        );
    }

    #[test]
    fn priority_classes_and_leases() {
        let got = run(
            "scheduling.k8s.io",
            "PriorityClass",
            json!({"metadata": {"name": "high"}, "value": 2_000_000_000}),
            None,
        );
        assert_eq!(
            got,
            [(
                "value".into(),
                "Forbidden: maximum allowed value of a user defined priority is 1000000000".into()
            )]
        );
        let got = run("coordination.k8s.io", "Lease", json!({"spec": {"leaseDurationSeconds": 0}}), None);
        assert_eq!(
            got,
            [("spec.leaseDurationSeconds".into(), "Invalid value: 0: must be greater than 0".into())]
        );
    }
}
