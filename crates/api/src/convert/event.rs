//! Event between core/v1 (the storage version) and events.k8s.io/v1, upstream's
//! pkg/apis/events/v1/conversion.go via the internal type.
//!
//! Every field has a counterpart, so the mapping is a renaming and loses nothing:
//!
//! | core/v1            | events.k8s.io/v1           |
//! |--------------------|----------------------------|
//! | involvedObject     | regarding                  |
//! | message            | note                       |
//! | reportingComponent | reportingController        |
//! | source             | deprecatedSource           |
//! | firstTimestamp     | deprecatedFirstTimestamp   |
//! | lastTimestamp      | deprecatedLastTimestamp    |
//! | count              | deprecatedCount            |
//!
//! `reason`, `type`, `action`, `related`, `eventTime`, `series` and `reportingInstance` keep
//! their names. Upstream derives nothing: `source` is not filled from `reportingController`
//! (nor `reportingInstance` from `source.host`) or the other way round. What changes is only
//! which zero values Go writes, per each version's `omitempty` tags; members neither version
//! knows are dropped, as typed decoding drops them.

use serde_json::{Map, Value};

use super::gojson::{Fields, Go, Read, Reader};

/// A core/v1 Event as events.k8s.io/v1 shows it.
pub(crate) fn to_events_v1(obj: &Value) -> Read<Value> {
    let r = Reader::new(obj, "", false)?;
    let event = Fields::new()
        .push("eventTime", time_or_null(r.time("eventTime")?))
        .push_some("series", r.object("series")?.map(|s| series(&s, true)).transpose()?)
        .push_str("reportingController", r.string("reportingComponent")?)
        .push_str("reportingInstance", r.string("reportingInstance")?)
        .push_str("action", r.string("action")?)
        .push_str("reason", r.string("reason")?)
        .push("regarding", struct_or_empty(r.raw_object("involvedObject")?))
        .push_some("related", r.raw_object("related")?.map(Go::Json))
        .push_str("note", r.string("message")?)
        .push_str("type", r.string("type")?)
        .push("deprecatedSource", struct_or_empty(r.raw_object("source")?))
        .push("deprecatedFirstTimestamp", time_or_null(r.time("firstTimestamp")?))
        .push("deprecatedLastTimestamp", time_or_null(r.time("lastTimestamp")?))
        .push_nonzero("deprecatedCount", r.int32("count")?)
        .build();
    object("events.k8s.io/v1", &r, event)
}

/// An events.k8s.io/v1 Event as core/v1 (and storage) holds it.
pub(crate) fn to_core_v1(obj: &Value) -> Read<Value> {
    let r = Reader::new(obj, "", false)?;
    // `reportingComponent` and `reportingInstance` have no `omitempty` in core/v1.
    let event = Fields::new()
        .push("involvedObject", struct_or_empty(r.raw_object("regarding")?))
        .push_str("reason", r.string("reason")?)
        .push_str("message", r.string("note")?)
        .push("source", struct_or_empty(r.raw_object("deprecatedSource")?))
        .push("firstTimestamp", time_or_null(r.time("deprecatedFirstTimestamp")?))
        .push("lastTimestamp", time_or_null(r.time("deprecatedLastTimestamp")?))
        .push_nonzero("count", r.int32("deprecatedCount")?)
        .push_str("type", r.string("type")?)
        .push("eventTime", time_or_null(r.time("eventTime")?))
        .push_some("series", r.object("series")?.map(|s| series(&s, false)).transpose()?)
        .push_str("action", r.string("action")?)
        .push_some("related", r.raw_object("related")?.map(Go::Json))
        .push("reportingComponent", Go::str(r.string_or_empty("reportingController")?))
        .push("reportingInstance", Go::str(r.string_or_empty("reportingInstance")?))
        .build();
    object("v1", &r, event)
}

/// `series`: events.k8s.io/v1 always writes `count`, core/v1 omits a zero one; both write
/// `lastObservedTime`, a struct, as `null` when unset.
fn series(s: &Reader, events_api: bool) -> Read<Go> {
    let count = s.int32("count")?;
    let mut out = Fields::new();
    if events_api {
        out.push("count", Go::int(count.unwrap_or(0)));
    } else {
        out.push_nonzero("count", count);
    }
    Ok(out.push("lastObservedTime", time_or_null(s.time("lastObservedTime")?)).build())
}

/// `metav1.Time` and `MicroTime` are structs, so `omitempty` does not apply: an unset time is
/// written as `null`.
fn time_or_null(t: Option<String>) -> Go {
    t.map(Go::str).unwrap_or_else(Go::null)
}

/// A non-pointer struct member (`ObjectReference`, `EventSource`): always written.
fn struct_or_empty(v: Option<Value>) -> Go {
    Go::Json(v.unwrap_or_else(|| Value::Object(Map::new())))
}

fn object(api_version: &str, r: &Reader, event: Go) -> Read<Value> {
    let mut out = match event.into_value() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    out.insert("apiVersion".into(), Value::String(api_version.into()));
    out.insert("kind".into(), Value::String("Event".into()));
    out.insert("metadata".into(), r.raw_object("metadata")?.unwrap_or_else(|| Value::Object(Map::new())));
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn core_event() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "web.17f", "namespace": "default", "resourceVersion": "42"},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "u1",
                               "apiVersion": "v1", "resourceVersion": "7", "fieldPath": "spec.containers{web}"},
            "reason": "Pulled", "message": "Successfully pulled image",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2024-01-01T00:00:00Z", "lastTimestamp": "2024-01-01T00:05:00Z",
            "count": 3, "type": "Normal",
            "eventTime": "2024-01-01T00:00:00.123456Z",
            "series": {"count": 2, "lastObservedTime": "2024-01-01T00:05:00.000001Z"},
            "action": "Pulling",
            "related": {"kind": "Node", "name": "node-1"},
            "reportingComponent": "kubelet", "reportingInstance": "node-1",
        })
    }

    fn events_event() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "web.17f", "namespace": "default", "resourceVersion": "42"},
            "eventTime": "2024-01-01T00:00:00.123456Z",
            "series": {"count": 2, "lastObservedTime": "2024-01-01T00:05:00.000001Z"},
            "reportingController": "kubelet", "reportingInstance": "node-1",
            "action": "Pulling", "reason": "Pulled",
            "regarding": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "u1",
                          "apiVersion": "v1", "resourceVersion": "7", "fieldPath": "spec.containers{web}"},
            "related": {"kind": "Node", "name": "node-1"},
            "note": "Successfully pulled image", "type": "Normal",
            "deprecatedSource": {"component": "kubelet", "host": "node-1"},
            "deprecatedFirstTimestamp": "2024-01-01T00:00:00Z",
            "deprecatedLastTimestamp": "2024-01-01T00:05:00Z",
            "deprecatedCount": 3,
        })
    }

    #[test]
    fn every_field_maps_both_ways() {
        assert_eq!(to_events_v1(&core_event()).unwrap(), events_event());
        assert_eq!(to_core_v1(&events_event()).unwrap(), core_event());
    }

    #[test]
    fn a_minimal_events_event_stores_with_cores_zero_values() {
        let ev = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "default"},
            "eventTime": "2024-01-01T00:00:00.000000Z", "reportingController": "example.com/ctl",
            "reportingInstance": "ctl-1", "action": "Sync", "reason": "Synced", "type": "Normal",
            "regarding": {"kind": "Deployment", "name": "web"}});
        let core = to_core_v1(&ev).unwrap();
        assert_eq!(
            core,
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "default"},
                "involvedObject": {"kind": "Deployment", "name": "web"}, "reason": "Synced",
                "source": {}, "firstTimestamp": null, "lastTimestamp": null, "type": "Normal",
                "eventTime": "2024-01-01T00:00:00.000000Z", "action": "Sync",
                "reportingComponent": "example.com/ctl", "reportingInstance": "ctl-1"})
        );
        // Nothing is derived: the source stays empty, the message absent.
        assert_eq!(core["source"], json!({}));
        assert!(core.get("message").is_none());
        // And back, the zero values drop out again.
        let back = to_events_v1(&core).unwrap();
        assert_eq!(
            back,
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
                "metadata": {"name": "e", "namespace": "default"},
                "eventTime": "2024-01-01T00:00:00.000000Z", "reportingController": "example.com/ctl",
                "reportingInstance": "ctl-1", "action": "Sync", "reason": "Synced", "type": "Normal",
                "regarding": {"kind": "Deployment", "name": "web"}, "deprecatedSource": {},
                "deprecatedFirstTimestamp": null, "deprecatedLastTimestamp": null})
        );
    }

    #[test]
    fn a_legacy_core_event_keeps_its_source_and_counts_only_in_deprecated_fields() {
        let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Killing", "message": "Stopping",
            "source": {"component": "kubelet", "host": "n1"}, "firstTimestamp": "2024-01-01T00:00:00Z",
            "lastTimestamp": "2024-01-01T00:00:00Z", "count": 1, "type": "Normal", "eventTime": null,
            "reportingComponent": "", "reportingInstance": ""});
        let ev = to_events_v1(&core).unwrap();
        assert!(ev.get("reportingController").is_none() && ev.get("reportingInstance").is_none());
        assert_eq!(ev["deprecatedSource"], json!({"component": "kubelet", "host": "n1"}));
        assert_eq!(ev["deprecatedCount"], 1);
        assert_eq!(ev["eventTime"], Value::Null);
        assert_eq!(ev["note"], "Stopping");
        assert_eq!(to_core_v1(&ev).unwrap(), core);
    }

    #[test]
    fn series_zero_values_follow_each_versions_tags() {
        let core = json!({"apiVersion": "v1", "kind": "Event", "series": {}});
        assert_eq!(to_events_v1(&core).unwrap()["series"], json!({"count": 0, "lastObservedTime": null}));
        let ev = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "series": {"count": 0}});
        assert_eq!(to_core_v1(&ev).unwrap()["series"], json!({"lastObservedTime": null}));
    }

    #[test]
    fn unknown_members_are_dropped_and_wrong_types_rejected() {
        let mut core = core_event();
        core["bogus"] = json!(1);
        assert_eq!(to_events_v1(&core).unwrap(), events_event());
        let bad = json!({"apiVersion": "v1", "kind": "Event", "count": "3"});
        assert_eq!(to_events_v1(&bad).unwrap_err().0, "count: expected an integer in range, got a string");
        let bad = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "regarding": "pod/web"});
        assert_eq!(to_core_v1(&bad).unwrap_err().0, "regarding: expected an object, got a string");
    }
}
