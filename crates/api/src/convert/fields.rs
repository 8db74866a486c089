//! Field selectors on shared collections: a selector a client writes against its version is
//! evaluated on the stored object, so its labels are translated to the storage version's.

/// The core/v1 Event field an events.k8s.io/v1 field selector label filters on (upstream's
/// `AddFieldLabelConversionsForEvent`); `None` when upstream answers "field label not
/// supported". `source` is kept though events.k8s.io has no such field.
pub fn events_field_label(label: &str) -> Option<&'static str> {
    Some(match label {
        "metadata.name" => "metadata.name",
        "metadata.namespace" => "metadata.namespace",
        "reason" => "reason",
        "regarding.kind" => "involvedObject.kind",
        "regarding.namespace" => "involvedObject.namespace",
        "regarding.name" => "involvedObject.name",
        "regarding.uid" => "involvedObject.uid",
        "regarding.apiVersion" => "involvedObject.apiVersion",
        "regarding.resourceVersion" => "involvedObject.resourceVersion",
        "regarding.fieldPath" => "involvedObject.fieldPath",
        "reportingController" => "reportingComponent",
        "source" => "source",
        "type" => "type",
        _ => return None,
    })
}

/// The value of a core/v1 Event's selectable field `source`: `source.component`, or
/// `reportingComponent` when that is empty (upstream's `ToSelectableFields`). The other
/// Event fields are the values at their paths.
pub fn event_source_field(event: &serde_json::Value) -> String {
    let text = |p: &str| event.pointer(p).and_then(serde_json::Value::as_str).unwrap_or_default();
    match text("/source/component") {
        "" => text("/reportingComponent").to_string(),
        component => component.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_labels_map_to_core_fields() {
        assert_eq!(events_field_label("regarding.name"), Some("involvedObject.name"));
        assert_eq!(events_field_label("reportingController"), Some("reportingComponent"));
        assert_eq!(events_field_label("type"), Some("type"));
        assert_eq!(events_field_label("involvedObject.name"), None);
        assert_eq!(events_field_label("note"), None);
    }

    #[test]
    fn source_falls_back_to_the_reporting_component() {
        assert_eq!(event_source_field(&json!({"source": {"component": "kubelet"}})), "kubelet");
        assert_eq!(event_source_field(&json!({"source": {}, "reportingComponent": "ctl"})), "ctl");
        assert_eq!(event_source_field(&json!({})), "");
    }
}
