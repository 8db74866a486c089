//! Per-kind semantic validation of built-in objects, as upstream's `pkg/apis/*/validation`
//! does it after defaulting: one cause per problem, with upstream's field paths and messages,
//! so that a 422 reads exactly as upstream's.
//!
//! Pure logic over JSON. The caller validates `metadata.name` (see `crate::meta`), decodes and
//! defaults the object first, and skips custom resources (their schemas validate them) and
//! status updates. Where a rule's exact upstream behaviour is uncertain the object is accepted:
//! rejecting what upstream accepts would break real manifests.

mod apps;
mod batch;
mod core;
mod cron;
mod field;
mod format;
mod meta;
mod other;
mod pod;
mod quantity;

use serde_json::Value;

use crate::status::Cause;

/// The causes upstream would report for `obj` of this group, version and kind (group "" is the
/// core group); empty when it is valid. `old` is the stored object on update.
pub fn validate(group: &str, _version: &str, kind: &str, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = field::Errors::default();
    meta::object_meta(obj, old, &mut errs);
    match group {
        "" => core::validate(kind, obj, old, &mut errs),
        "apps" => apps::validate(kind, obj, old, &mut errs),
        "batch" => batch::validate(kind, obj, old, &mut errs),
        _ => other::validate(group, kind, obj, old, &mut errs),
    }
    errs.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::ApiError;
    use serde_json::json;

    #[test]
    fn invalid_deployment_reads_like_upstream() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
            "spec": {"replicas": -1, "selector": {"matchLabels": {"app": "x"}},
                "strategy": {"type": "Recreate"},
                "template": {"metadata": {"labels": {"app": "x"}}, "spec": {
                    "containers": [{"name": "c", "image": "nginx", "imagePullPolicy": "Always",
                                    "terminationMessagePolicy": "File"}],
                    "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}}}});
        let causes = validate("apps", "v1", "Deployment", &d, None);
        let err = ApiError::invalid("apps", "Deployment", "x", causes);
        assert_eq!(
            err.message,
            "Deployment.apps \"x\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(err.causes[0].reason, "FieldValueInvalid");
    }

    #[test]
    fn kinds_without_rules_only_get_metadata_checks() {
        let ev = json!({"metadata": {"name": "e", "labels": {"ok": "yes"}}, "reason": "Anything"});
        assert!(validate("", "v1", "Event", &ev, None).is_empty());
        let cm = json!({"metadata": {"name": "c", "labels": {"bad key!": "v"}}});
        assert_eq!(validate("", "v1", "ConfigMap", &cm, None)[0].field, "metadata.labels");
    }
}
