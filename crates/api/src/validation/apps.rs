//! `apps/v1`: Deployment, ReplicaSet, StatefulSet and DaemonSet.

use serde_json::Value;

use super::core::{non_negative, restart_always};
use super::field::{Bad, Errors, Path, get, go_json, int_of, object_of, str_of};
use super::format;
use super::meta;
use super::pod;
use crate::selector::LabelSelector;

const DOES_NOT_MATCH: &str = "`selector` does not match template `labels`";
const NOT_NEGATIVE: &str = "must be greater than or equal to 0";

/// Spec fields of a StatefulSet an update may change.
const STATEFUL_SET_MUTABLE: &[&str] = &[
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

pub fn validate(kind: &str, obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let path = Path::new("spec");
    match kind {
        "Deployment" => deployment(spec, &path, errs),
        "ReplicaSet" => replica_set(spec, &path, errs),
        "StatefulSet" => stateful_set(spec, &path, errs),
        "DaemonSet" => daemon_set(spec, &path, errs),
        _ => return,
    }
    let Some(old_spec) = old.map(|o| o.get("spec").unwrap_or(&Value::Null)) else { return };
    if kind == "StatefulSet" {
        if prune(without(spec, STATEFUL_SET_MUTABLE)) != prune(without(old_spec, STATEFUL_SET_MUTABLE)) {
            errs.forbidden(
                &path,
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', \
                 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and \
                 'minReadySeconds' are forbidden",
            );
        }
    } else {
        // apps/v1 forbids changing a selector (the beta versions allowed it).
        let (new_sel, old_sel) = (get(spec, "selector"), get(old_spec, "selector"));
        if prune(new_sel.cloned().unwrap_or(Value::Null)) != prune(old_sel.cloned().unwrap_or(Value::Null)) {
            let shown = meta::render_selector(new_sel.unwrap_or(&Value::Null));
            errs.invalid(&path.child("selector"), Bad::Raw(shown), "field is immutable");
        }
    }
}

/// The parsed selector, or `None` after reporting why upstream could not convert it.
enum Selector {
    Parsed(LabelSelector),
    Invalid,
}

/// The checks every workload makes of its `selector`: required (unless `optional`), well
/// formed, not empty; then whether it converts.
fn selector(spec: &Value, path: &Path, kind: &str, optional: bool, errs: &mut Errors) -> Selector {
    let sel = get(spec, "selector");
    let mut own = Errors::default();
    match sel {
        None if !optional => errs.required(&path.child("selector"), ""),
        None => {}
        Some(sel) => {
            meta::label_selector(sel, &path.child("selector"), &mut own);
            if meta::selector_is_empty(sel) {
                own.invalid(
                    &path.child("selector"),
                    Bad::Raw(meta::render_selector(sel)),
                    &format!("empty selector is invalid for {kind}"),
                );
            }
        }
    }
    let format_ok = own.is_empty();
    errs.extend(own);
    let parsed = LabelSelector::from_label_selector_json(sel.unwrap_or(&Value::Null));
    match parsed {
        Ok(s) if format_ok || sel.is_some_and(meta::selector_is_empty) => Selector::Parsed(s),
        _ => Selector::Invalid,
    }
}

fn template_labels_match(sel: &LabelSelector, template: &Value, path: &Path, errs: &mut Errors) {
    if sel.is_empty() {
        return;
    }
    let labels = template.pointer("/metadata/labels");
    let map = labels.and_then(Value::as_object).cloned().unwrap_or_default();
    if !sel.matches(&map) {
        errs.invalid(
            &path.child("metadata").child("labels"),
            Bad::Raw(meta::render_labels(labels)),
            DOES_NOT_MATCH,
        );
    }
}

/// `ValidatePodTemplateSpecForReplicaSet`, shared by Deployments and ReplicaSets.
fn replica_template(spec: &Value, sel: &Selector, path: &Path, errs: &mut Errors) {
    let Selector::Parsed(sel) = sel else {
        let shown = meta::render_selector(spec.get("selector").unwrap_or(&Value::Null));
        errs.invalid(&path.child("selector"), Bad::Raw(shown), "invalid label selector");
        return;
    };
    let Some(template) = get(spec, "template") else {
        errs.required(&path.child("template"), "");
        return;
    };
    let tpath = path.child("template");
    template_labels_match(sel, template, &tpath, errs);
    pod::template(template, &tpath, errs);
    restart_always(template, &tpath, errs);
    if get(template.get("spec").unwrap_or(&Value::Null), "activeDeadlineSeconds").is_some() {
        errs.forbidden(
            &tpath.child("spec").child("activeDeadlineSeconds"),
            "activeDeadlineSeconds in ReplicaSet is not Supported",
        );
    }
}

fn deployment(spec: &Value, path: &Path, errs: &mut Errors) {
    non_negative(spec, "replicas", path, errs);
    let sel = selector(spec, path, "deployment", false, errs);
    replica_template(spec, &sel, path, errs);
    deployment_strategy(spec.get("strategy").unwrap_or(&Value::Null), &path.child("strategy"), errs);
    non_negative(spec, "minReadySeconds", path, errs);
    non_negative(spec, "revisionHistoryLimit", path, errs);
    if let Some(deadline) = int_of(spec, "progressDeadlineSeconds") {
        non_negative(spec, "progressDeadlineSeconds", path, errs);
        if deadline <= int_of(spec, "minReadySeconds").unwrap_or(0) {
            errs.invalid(
                &path.child("progressDeadlineSeconds"),
                Bad::Int(deadline),
                "must be greater than minReadySeconds",
            );
        }
    }
}

fn replica_set(spec: &Value, path: &Path, errs: &mut Errors) {
    non_negative(spec, "replicas", path, errs);
    non_negative(spec, "minReadySeconds", path, errs);
    // Upstream's message for ReplicaSets says "deployment" too.
    let sel = selector(spec, path, "deployment", false, errs);
    replica_template(spec, &sel, path, errs);
}

/// An `IntOrString` as Go marshals it, and its value as `getIntOrPercentValue` reads it.
fn int_or_percent(v: Option<&Value>) -> (String, i64, bool) {
    match v {
        Some(Value::String(s)) => {
            let percent = format::percent(s).is_empty();
            let n =
                if percent { s.trim_end_matches('%').parse().unwrap_or(0) } else { s.parse().unwrap_or(0) };
            (go_json(&Value::String(s.clone())), n, percent)
        }
        Some(Value::Number(n)) => (n.to_string(), n.as_i64().unwrap_or(0), false),
        _ => ("0".into(), 0, false),
    }
}

/// `ValidatePositiveIntOrPercent`.
fn positive_int_or_percent(v: Option<&Value>, path: &Path, errs: &mut Errors) {
    let (shown, n, _) = int_or_percent(v);
    match v {
        Some(Value::String(s)) => {
            for m in format::percent(s) {
                errs.invalid(path, Bad::Raw(shown.clone()), &m);
            }
        }
        _ if n < 0 => errs.invalid(path, Bad::Int(n), NOT_NEGATIVE),
        _ => {}
    }
}

fn deployment_strategy(strategy: &Value, path: &Path, errs: &mut Errors) {
    match str_of(strategy, "type") {
        "Recreate" => {
            if get(strategy, "rollingUpdate").is_some() {
                errs.forbidden(
                    &path.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                );
            }
        }
        "RollingUpdate" => {
            let Some(ru) = get(strategy, "rollingUpdate") else {
                errs.required(&path.child("rollingUpdate"), "this should be defaulted and never be nil");
                return;
            };
            let p = path.child("rollingUpdate");
            let (unavailable, surge) = (ru.get("maxUnavailable"), ru.get("maxSurge"));
            positive_int_or_percent(unavailable, &p.child("maxUnavailable"), errs);
            positive_int_or_percent(surge, &p.child("maxSurge"), errs);
            let (shown, u, _) = int_or_percent(unavailable);
            if u == 0 && int_or_percent(surge).1 == 0 {
                errs.invalid(
                    &p.child("maxUnavailable"),
                    Bad::Raw(shown),
                    "may not be 0 when `maxSurge` is 0",
                );
            }
            let (shown, u, percent) = int_or_percent(unavailable);
            if percent && u > 100 {
                errs.invalid(&p.child("maxUnavailable"), Bad::Raw(shown), "must not be greater than 100%");
            }
        }
        other => {
            // Upstream prints the internal struct, whose JSON uses Go's field names.
            let ru = get(strategy, "rollingUpdate").map_or("null".to_string(), |ru| {
                format!(
                    "{{\"MaxUnavailable\":{},\"MaxSurge\":{}}}",
                    int_or_percent(ru.get("maxUnavailable")).0,
                    int_or_percent(ru.get("maxSurge")).0
                )
            });
            let shown =
                format!("{{\"Type\":{},\"RollingUpdate\":{ru}}}", go_json(&Value::String(other.into())));
            errs.not_supported(path, Bad::Raw(shown), &["Recreate", "RollingUpdate"]);
        }
    }
}

fn daemon_set(spec: &Value, path: &Path, errs: &mut Errors) {
    let sel = get(spec, "selector");
    let mut own = Errors::default();
    if let Some(sel) = sel {
        meta::label_selector(sel, &path.child("selector"), &mut own);
    }
    let format_ok = own.is_empty();
    errs.extend(own);
    let template = spec.get("template").unwrap_or(&Value::Null);
    let tpath = path.child("template");
    if format_ok && let Ok(parsed) = LabelSelector::from_label_selector_json(sel.unwrap_or(&Value::Null)) {
        let labels = template.pointer("/metadata/labels");
        let map = labels.and_then(Value::as_object).cloned().unwrap_or_default();
        if !parsed.matches(&map) {
            errs.invalid(
                &tpath.child("metadata").child("labels"),
                Bad::Raw(meta::render_labels(labels)),
                DOES_NOT_MATCH,
            );
        }
    }
    if let Some(sel) = sel.filter(|s| meta::selector_is_empty(s)) {
        errs.invalid(
            &path.child("selector"),
            Bad::Raw(meta::render_selector(sel)),
            "empty selector is invalid for daemonset",
        );
    }
    pod::template(template, &tpath, errs);
    restart_always(template, &tpath, errs);
    if get(template.get("spec").unwrap_or(&Value::Null), "activeDeadlineSeconds").is_some() {
        errs.forbidden(
            &tpath.child("spec").child("activeDeadlineSeconds"),
            "activeDeadlineSeconds in DaemonSet is not Supported",
        );
    }
    non_negative(spec, "minReadySeconds", path, errs);
    non_negative(spec, "templateGeneration", path, errs);
    let strategy = spec.get("updateStrategy").unwrap_or(&Value::Null);
    let spath = path.child("updateStrategy");
    match str_of(strategy, "type") {
        "OnDelete" => {}
        "RollingUpdate" => match get(strategy, "rollingUpdate") {
            None => errs.required(&spath.child("rollingUpdate"), ""),
            Some(ru) => daemon_set_rolling_update(ru, &spath.child("rollingUpdate"), errs),
        },
        other => {
            let shown =
                format!("{{\"Type\":{},\"RollingUpdate\":null}}", go_json(&Value::String(other.into())));
            errs.not_supported(&spath, Bad::Raw(shown), &["RollingUpdate", "OnDelete"]);
        }
    }
    non_negative(spec, "revisionHistoryLimit", path, errs);
}

fn daemon_set_rolling_update(ru: &Value, path: &Path, errs: &mut Errors) {
    let (unavailable, surge) = (ru.get("maxUnavailable"), ru.get("maxSurge"));
    positive_int_or_percent(unavailable, &path.child("maxUnavailable"), errs);
    positive_int_or_percent(surge, &path.child("maxSurge"), errs);
    for (v, field) in [(unavailable, "maxUnavailable"), (surge, "maxSurge")] {
        let (shown, n, percent) = int_or_percent(v);
        if percent && n > 100 {
            errs.invalid(&path.child(field), Bad::Raw(shown), "must not be greater than 100%");
        }
    }
    let has_unavailable = int_or_percent(unavailable).1 != 0;
    let has_surge = int_or_percent(surge).1 != 0;
    match (has_unavailable, has_surge) {
        (true, true) => errs.invalid(
            &path.child("maxSurge"),
            Bad::Raw(int_or_percent(surge).0),
            "may not be set when maxUnavailable is non-zero",
        ),
        (false, false) => errs.required(&path.child("maxUnavailable"), "cannot be 0 when maxSurge is 0"),
        _ => {}
    }
}

fn stateful_set(spec: &Value, path: &Path, errs: &mut Errors) {
    match str_of(spec, "podManagementPolicy") {
        "" => errs.required(&path.child("podManagementPolicy"), ""),
        "OrderedReady" | "Parallel" => {}
        other => errs.invalid(
            &path.child("podManagementPolicy"),
            Bad::Str(other),
            "must be 'OrderedReady' or 'Parallel'",
        ),
    }
    let strategy = spec.get("updateStrategy").unwrap_or(&Value::Null);
    let spath = path.child("updateStrategy");
    match str_of(strategy, "type") {
        "" => errs.required(&spath, ""),
        "OnDelete" => {
            if let Some(ru) = get(strategy, "rollingUpdate") {
                errs.invalid(
                    &spath.child("rollingUpdate"),
                    Bad::Raw(stateful_rolling_update(ru)),
                    "only allowed for updateStrategy 'RollingUpdate'",
                );
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = get(strategy, "rollingUpdate") {
                let p = spath.child("rollingUpdate");
                non_negative(ru, "partition", &p, errs);
                if let Some(max) = get(ru, "maxUnavailable") {
                    positive_int_or_percent(Some(max), &p.child("maxUnavailable"), errs);
                    let (shown, n, percent) = int_or_percent(Some(max));
                    if n == 0 {
                        errs.invalid(&p.child("maxUnavailable"), Bad::Raw(shown.clone()), "cannot be 0");
                    }
                    if percent && n > 100 {
                        errs.invalid(
                            &p.child("maxUnavailable"),
                            Bad::Raw(shown),
                            "must not be greater than 100%",
                        );
                    }
                }
            }
        }
        other => {
            let ru = get(strategy, "rollingUpdate").map_or("null".to_string(), stateful_rolling_update);
            let shown =
                format!("{{\"Type\":{},\"RollingUpdate\":{ru}}}", go_json(&Value::String(other.into())));
            errs.invalid(&spath, Bad::Raw(shown), "must be 'RollingUpdate' or 'OnDelete'");
        }
    }
    if let Some(policy) = get(spec, "persistentVolumeClaimRetentionPolicy") {
        let p = path.child("persistentVolumeClaimRetentionPolicy");
        for field in ["whenDeleted", "whenScaled"] {
            let v = str_of(policy, field);
            if !matches!(v, "Retain" | "Delete") {
                errs.not_supported(&p.child(field), Bad::Str(v), &["Retain", "Delete"]);
            }
        }
    }
    non_negative(spec, "replicas", path, errs);
    non_negative(spec, "minReadySeconds", path, errs);
    if let Some(start) = get(spec, "ordinals").and_then(|o| int_of(o, "start")).filter(|s| *s < 0) {
        errs.invalid(&path.child("ordinals.start"), Bad::Int(start), NOT_NEGATIVE);
    }
    let sel = selector(spec, path, "statefulset", false, errs);
    let template = spec.get("template").unwrap_or(&Value::Null);
    let tpath = path.child("template");
    match sel {
        Selector::Invalid => {
            let shown = meta::render_selector(spec.get("selector").unwrap_or(&Value::Null));
            errs.invalid(&path.child("selector"), Bad::Raw(shown), "");
        }
        Selector::Parsed(sel) => {
            // Upstream checks only the template's metadata here, not its pod spec.
            template_labels_match(&sel, template, &tpath, errs);
            let tmeta = template.get("metadata").unwrap_or(&Value::Null);
            meta::labels(object_of(tmeta, "labels"), &tpath.child("labels"), errs);
            meta::annotations(object_of(tmeta, "annotations"), &tpath.child("annotations"), errs);
        }
    }
    restart_always(template, &tpath, errs);
    if get(template.get("spec").unwrap_or(&Value::Null), "activeDeadlineSeconds").is_some() {
        errs.forbidden(
            &tpath.child("spec").child("activeDeadlineSeconds"),
            "activeDeadlineSeconds in StatefulSet is not Supported",
        );
    }
}

fn stateful_rolling_update(ru: &Value) -> String {
    let max = get(ru, "maxUnavailable").map_or("null".to_string(), |m| int_or_percent(Some(m)).0);
    format!("{{\"Partition\":{},\"MaxUnavailable\":{max}}}", int_of(ru, "partition").unwrap_or(0))
}

fn without(spec: &Value, fields: &[&str]) -> Value {
    let mut copy = spec.clone();
    if let Some(m) = copy.as_object_mut() {
        for f in fields {
            m.remove(*f);
        }
    }
    copy
}

/// Drops nulls and empty lists and maps, which Go's semantic equality does not tell apart
/// from absent fields.
pub fn prune(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.into_iter().map(|(k, v)| (k, prune(v))).filter(|(_, v)| !is_blank(v)).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(prune).collect()),
        other => other,
    }
}

fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn container() -> Value {
        json!({"name": "web", "image": "nginx", "imagePullPolicy": "Always", "terminationMessagePolicy": "File"})
    }

    fn deploy(spec_patch: Value) -> Value {
        let mut d = json!({"spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [container()], "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                                  "terminationGracePeriodSeconds": 30}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600
        }});
        if let (Some(s), Some(p)) = (d["spec"].as_object_mut(), spec_patch.as_object()) {
            for (k, v) in p {
                s.insert(k.clone(), v.clone());
            }
        }
        d
    }

    fn run(kind: &str, obj: &Value, old: Option<&Value>) -> Vec<(String, String)> {
        let mut errs = Errors::default();
        validate(kind, obj, old, &mut errs);
        errs.0.into_iter().map(|c| (c.field, c.message)).collect()
    }

    #[test]
    fn a_good_deployment_passes() {
        assert!(run("Deployment", &deploy(json!({})), None).is_empty());
    }

    #[test]
    fn replicas_may_not_be_negative() {
        assert_eq!(
            run("Deployment", &deploy(json!({"replicas": -1})), None),
            [("spec.replicas".into(), "Invalid value: -1: must be greater than or equal to 0".into())]
        );
    }

    #[test]
    fn selector_must_match_the_template() {
        let got = run("Deployment", &deploy(json!({"selector": {"matchLabels": {"app": "other"}}})), None);
        assert_eq!(
            got,
            [(
                "spec.template.metadata.labels".into(),
                "Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`".into()
            )]
        );
        let mut d = deploy(json!({}));
        d["spec"].as_object_mut().unwrap().remove("selector");
        let got = run("Deployment", &d, None);
        assert_eq!(got[0], ("spec.selector".into(), "Required value".into()));
        assert_eq!(got[1].0, "spec.template.metadata.labels");
        let got = run("Deployment", &deploy(json!({"selector": {}})), None);
        assert_eq!(
            got,
            [("spec.selector".into(), "Invalid value: {}: empty selector is invalid for deployment".into())]
        );
    }

    #[test]
    fn selector_is_immutable() {
        let old = deploy(json!({}));
        let mut new = deploy(json!({"selector": {"matchLabels": {"app": "web", "tier": "x"}}}));
        new["spec"]["template"]["metadata"]["labels"]["tier"] = json!("x");
        assert_eq!(
            run("Deployment", &new, Some(&old)),
            [(
                "spec.selector".into(),
                "Invalid value: {\"matchLabels\":{\"app\":\"web\",\"tier\":\"x\"}}: field is immutable"
                    .into()
            )]
        );
        assert!(run("Deployment", &old, Some(&old)).is_empty());
    }

    #[test]
    fn rolling_update_needs_some_room() {
        let got = run(
            "Deployment",
            &deploy(
                json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}}}),
            ),
            None,
        );
        assert_eq!(
            got,
            [(
                "spec.strategy.rollingUpdate.maxUnavailable".into(),
                "Invalid value: 0: may not be 0 when `maxSurge` is 0".into()
            )]
        );
        let got = run(
            "Deployment",
            &deploy(
                json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "150%", "maxSurge": "x"}}}),
            ),
            None,
        );
        assert_eq!(got[0].0, "spec.strategy.rollingUpdate.maxSurge");
        assert!(got[0].1.starts_with("Invalid value: \"x\": a valid percent string"));
        assert_eq!(got[1].1, "Invalid value: \"150%\": must not be greater than 100%");
        let got = run("Deployment", &deploy(json!({"strategy": {"type": "Sideways"}})), None);
        assert_eq!(
            got,
            [(
                "spec.strategy".into(),
                "Unsupported value: {\"Type\":\"Sideways\",\"RollingUpdate\":null}: supported values: \"Recreate\", \"RollingUpdate\"".into()
            )]
        );
    }

    #[test]
    fn template_pod_spec_is_validated() {
        let mut d = deploy(json!({}));
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("");
        d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        assert_eq!(
            run("Deployment", &d, None),
            [
                ("spec.template.spec.containers[0].image".into(), "Required value".into()),
                (
                    "spec.template.spec.restartPolicy".into(),
                    "Unsupported value: \"Never\": supported values: \"Always\"".into()
                ),
            ]
        );
    }

    fn sts(patch: Value) -> Value {
        let mut s = deploy(json!({}));
        let spec = s["spec"].as_object_mut().unwrap();
        spec.remove("strategy");
        spec.remove("progressDeadlineSeconds");
        spec.insert("podManagementPolicy".into(), json!("OrderedReady"));
        spec.insert(
            "updateStrategy".into(),
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
        );
        spec.insert("serviceName".into(), json!("web"));
        for (k, v) in patch.as_object().unwrap() {
            spec.insert(k.clone(), v.clone());
        }
        s
    }

    #[test]
    fn stateful_set_updates_are_limited() {
        let old = sts(json!({}));
        assert!(run("StatefulSet", &old, None).is_empty());
        assert!(run("StatefulSet", &sts(json!({"replicas": 3})), Some(&old)).is_empty());
        let got = run("StatefulSet", &sts(json!({"serviceName": "other"})), Some(&old));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "spec");
        assert!(
            got[0].1.starts_with("Forbidden: updates to statefulset spec for fields other than 'replicas'")
        );
        let got = run("StatefulSet", &sts(json!({"podManagementPolicy": "Random"})), None);
        assert_eq!(
            got,
            [(
                "spec.podManagementPolicy".into(),
                "Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'".into()
            )]
        );
    }

    #[test]
    fn daemon_sets_need_one_of_surge_or_unavailable() {
        let mut d = deploy(json!({}));
        let spec = d["spec"].as_object_mut().unwrap();
        spec.remove("strategy");
        spec.remove("replicas");
        spec.remove("progressDeadlineSeconds");
        spec.insert(
            "updateStrategy".into(),
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}),
        );
        assert_eq!(
            run("DaemonSet", &d, None),
            [(
                "spec.updateStrategy.rollingUpdate.maxUnavailable".into(),
                "Required value: cannot be 0 when maxSurge is 0".into()
            )]
        );
    }
}
