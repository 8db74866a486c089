//! The `scale` subresource: an `autoscaling/v1` Scale view of a workload's replicas.

use serde_json::{Map, Value, json};
use tug_api::{selector::LabelSelector, status::ApiError};

use crate::error::Error;

/// The Scale object upstream presents for `obj`.
pub fn to_scale(obj: &Value) -> Value {
    let meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let mut metadata = Map::new();
    for field in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(v) = meta.get(field) {
            metadata.insert(field.into(), v.clone());
        }
    }
    let replicas = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let mut status =
        json!({"replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0)});
    if let Some(selector) = selector_string(obj) {
        status["selector"] = json!(selector);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": replicas},
        "status": status,
    })
}

/// The workload's selector as a string: a LabelSelector (apps/v1) or a plain map
/// (ReplicationController).
fn selector_string(obj: &Value) -> Option<String> {
    let selector = obj.pointer("/spec/selector")?;
    if selector.get("matchLabels").is_some() || selector.get("matchExpressions").is_some() {
        return LabelSelector::from_label_selector_json(selector).ok().map(|s| s.to_string());
    }
    let map = selector.as_object()?;
    let mut pairs: Vec<String> =
        map.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect();
    pairs.sort();
    Some(pairs.join(","))
}

/// `current` with the replicas a client set through its Scale.
pub fn apply_scale(current: &Value, scale: &Value) -> Result<Value, Error> {
    let replicas = scale.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid(
            "autoscaling",
            "Scale",
            scale.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default(),
            vec![tug_api::status::Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                field: "spec.replicas".into(),
            }],
        )
        .into());
    }
    let mut next = current.clone();
    next["spec"]["replicas"] = json!(replicas);
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_scale_view() {
        let d = json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u", "resourceVersion": "7", "labels": {"a": "b"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": 2},
        });
        let s = to_scale(&d);
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"], json!({"replicas": 2, "selector": "app=web"}));
        assert_eq!(s["metadata"]["resourceVersion"], "7");
        assert!(s["metadata"].get("labels").is_none());
        let scaled = apply_scale(&d, &json!({"spec": {"replicas": 5}})).unwrap();
        assert_eq!(scaled["spec"]["replicas"], 5);
        assert!(apply_scale(&d, &json!({"spec": {"replicas": -1}})).is_err());
    }

    #[test]
    fn replication_controller_selector_is_a_map() {
        let rc =
            json!({"metadata": {"name": "rc"}, "spec": {"replicas": 1, "selector": {"b": "2", "a": "1"}}});
        assert_eq!(to_scale(&rc)["status"]["selector"], "a=1,b=2");
    }
}
