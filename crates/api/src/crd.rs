//! What the server fills in and checks on a CustomResourceDefinition (the apiextensions
//! server's defaulting and its naming controller, which upstream runs asynchronously).

use serde_json::{Value, json};

use crate::{resources::from_crd, status::Cause};

/// Defaults the definition, checks it, and marks its names accepted and the definition
/// established. Returns the validation failures (empty when it is valid).
pub fn prepare(crd: &mut Value, now: &str) -> Vec<Cause> {
    let kind = crd.pointer("/spec/names/kind").and_then(Value::as_str).unwrap_or_default().to_string();
    if let Some(names) = crd.pointer_mut("/spec/names").and_then(Value::as_object_mut) {
        names.entry("singular").or_insert_with(|| json!(kind.to_lowercase()));
        names.entry("listKind").or_insert_with(|| json!(format!("{kind}List")));
    }
    if crd.pointer("/spec/conversion").is_none()
        && let Some(spec) = crd.get_mut("spec").and_then(Value::as_object_mut)
    {
        spec.insert("conversion".into(), json!({"strategy": "None"}));
    }
    let mut causes = Vec::new();
    if let Err(message) = from_crd(crd) {
        let (field, message) = message.split_once(": ").unwrap_or(("spec", message.as_str()));
        causes.push(Cause {
            reason: "FieldValueRequired".into(),
            message: message.to_string(),
            field: field.to_string(),
        });
        return causes;
    }
    let plural = crd.pointer("/spec/names/plural").and_then(Value::as_str).unwrap_or_default();
    let group = crd.pointer("/spec/group").and_then(Value::as_str).unwrap_or_default();
    let name = crd.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    if name != format!("{plural}.{group}") {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
            field: "metadata.name".into(),
        });
    }
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    let storage: Vec<&str> = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool).unwrap_or(false))
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .collect();
    if storage.len() != 1 {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!(
                "Invalid value: {:?}: must have exactly one version marked as storage version",
                storage
            ),
            field: "spec.versions".into(),
        });
    }
    if !causes.is_empty() {
        return causes;
    }
    let condition = |type_: &str, reason: &str, message: &str| json!({"type": type_, "status": "True", "reason": reason, "message": message, "lastTransitionTime": now});
    crd["status"] = json!({
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": crd.pointer("/spec/names").cloned().unwrap_or_else(|| json!({})),
        "storedVersions": storage,
    });
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crontab() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {
                "group": "stable.example.com",
                "scope": "Namespaced",
                "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"]},
                "versions": [{"name": "v1", "served": true, "storage": true}],
            },
        })
    }

    #[test]
    fn a_valid_definition_is_established() {
        let mut crd = crontab();
        assert!(prepare(&mut crd, "2026-01-01T00:00:00Z").is_empty());
        assert_eq!(crd["spec"]["names"]["singular"], "crontab");
        assert_eq!(crd["spec"]["names"]["listKind"], "CronTabList");
        assert_eq!(crd["status"]["conditions"][1]["type"], "Established");
        assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));
        assert_eq!(crd["status"]["acceptedNames"]["kind"], "CronTab");
    }

    #[test]
    fn names_must_match_and_one_version_must_store() {
        let mut crd = crontab();
        crd["metadata"]["name"] = json!("wrong");
        crd["spec"]["versions"][0]["storage"] = json!(false);
        let causes = prepare(&mut crd, "t");
        assert_eq!(
            causes.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(),
            ["metadata.name", "spec.versions"]
        );
        assert!(crd.get("status").is_none());
    }
}
