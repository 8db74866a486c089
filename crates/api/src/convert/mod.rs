//! Conversion between served versions of kinds that share one storage version: pure functions
//! on JSON objects, mirroring upstream's conversions through its internal types.
//!
//! * HorizontalPodAutoscaler: autoscaling/v1 and autoscaling/v2, stored as v2 ([`hpa`]).
//! * Event: core/v1 and events.k8s.io/v1, stored as core/v1 ([`event`]).
//!
//! Outputs are written as Go would encode the target type: fields without `omitempty` are
//! always present (as `null` for unset times), empty `omitempty` ones are left out, and
//! members the target type does not have are dropped.

mod event;
mod fields;
mod gojson;
pub mod hpa;
mod storage;

use serde_json::Value;

use crate::status::ApiError;

pub use fields::{event_source_field, events_field_label};
pub use storage::{shared_storage, storage_key_prefix, storage_version};

/// Converts `obj` (any served version of its kind) to `to_group`/`to_version` and sets its
/// `apiVersion`. An object already in that version is returned as it is, except that an
/// autoscaling/v2 HorizontalPodAutoscaler loses the v1 round-trip annotations, as upstream's
/// does on every write and read: call this for every object of a shared collection, whatever
/// the versions.
///
/// # Errors
/// `BadRequest` when `apiVersion` or `kind` is missing or a field has the wrong type;
/// `InternalError` when the kind has no conversion to the asked version (a caller's mistake:
/// only pairs [`storage_version`] relates are convertible).
pub fn convert(obj: Value, to_group: &str, to_version: &str) -> Result<Value, ApiError> {
    let text = |key: &str| obj.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    if api_version.is_empty() {
        return Err(ApiError::bad_request("Object 'apiVersion' is missing"));
    }
    if kind.is_empty() {
        return Err(ApiError::bad_request("Object 'Kind' is missing"));
    }
    let (from_group, from_version) = split_api_version(&api_version);
    let target = join_api_version(to_group, to_version);
    if (from_group, from_version) == (to_group, to_version) {
        // Upstream decodes into the internal type and encodes again even within one version;
        // only the HPA's round-trip annotations are lost on that trip.
        return Ok(match (from_group, from_version, kind.as_str()) {
            ("autoscaling", "v2", "HorizontalPodAutoscaler") => hpa::strip_round_trip(obj),
            _ => obj,
        });
    }
    let converted = match (from_group, from_version, kind.as_str(), to_group, to_version) {
        ("autoscaling", "v2", "HorizontalPodAutoscaler", "autoscaling", "v1") => hpa::to_v1(&obj),
        ("autoscaling", "v1", "HorizontalPodAutoscaler", "autoscaling", "v2") => hpa::to_v2(&obj),
        ("", "v1", "Event", "events.k8s.io", "v1") => event::to_events_v1(&obj),
        ("events.k8s.io", "v1", "Event", "", "v1") => event::to_core_v1(&obj),
        _ => {
            return Err(ApiError::internal(format!(
                "converting {kind} from {api_version} to {target} is not supported"
            )));
        }
    };
    converted.map_err(|gojson::Malformed(why)| {
        ApiError::bad_request(format!("unable to convert {kind} from {api_version} to {target}: {why}"))
    })
}

/// `("apps", "v1")` for `apps/v1`, `("", "v1")` for the core group's `v1`.
fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

fn join_api_version(group: &str, version: &str) -> String {
    if group.is_empty() { version.to_string() } else { format!("{group}/{version}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Reason;
    use serde_json::json;

    #[test]
    fn dispatches_by_api_version_and_kind() {
        let ev = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "message": "hi"});
        let out = convert(ev.clone(), "events.k8s.io", "v1").unwrap();
        assert_eq!(out["apiVersion"], "events.k8s.io/v1");
        assert_eq!(out["note"], "hi");
        assert_eq!(convert(out, "", "v1").unwrap()["message"], "hi");
        // Already there: untouched, unknown members and all.
        let same = json!({"apiVersion": "v1", "kind": "Event", "bogus": true});
        assert_eq!(convert(same.clone(), "", "v1").unwrap(), same);
        let hpa = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "spec": {"maxReplicas": 3, "targetCPUUtilizationPercentage": 50}});
        let v2 = convert(hpa, "autoscaling", "v2").unwrap();
        assert_eq!(v2["apiVersion"], "autoscaling/v2");
        assert_eq!(convert(v2, "autoscaling", "v1").unwrap()["spec"]["targetCPUUtilizationPercentage"], 50);
        // v2 to v2 drops the round-trip annotations and nothing else.
        let v2 = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "bogus": 1,
            "metadata": {"annotations": {hpa::METRICS_ANNOTATION: "[]", hpa::CONDITIONS_ANNOTATION: "[]"}}});
        assert_eq!(
            convert(v2, "autoscaling", "v2").unwrap(),
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "bogus": 1, "metadata": {}})
        );
        let v2 = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"annotations": {hpa::BEHAVIOR_ANNOTATION: "{}", "keep": "me"}}});
        assert_eq!(
            convert(v2, "autoscaling", "v2").unwrap()["metadata"],
            json!({"annotations": {"keep": "me"}})
        );
    }

    #[test]
    fn errors() {
        let err = convert(json!({"kind": "Event"}), "", "v1").unwrap_err();
        assert_eq!(
            (err.reason, err.message.as_str()),
            (Reason::BadRequest, "Object 'apiVersion' is missing")
        );
        let err = convert(json!({"apiVersion": "v1"}), "", "v1").unwrap_err();
        assert_eq!(err.message, "Object 'Kind' is missing");
        let err = convert(json!({"apiVersion": "apps/v1", "kind": "Deployment"}), "apps", "v2").unwrap_err();
        assert_eq!(err.reason, Reason::InternalError);
        let bad = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "spec": {"targetCPUUtilizationPercentage": "80%"}});
        let err = convert(bad, "autoscaling", "v2").unwrap_err();
        assert_eq!(err.reason, Reason::BadRequest);
        assert_eq!(
            err.message,
            "unable to convert HorizontalPodAutoscaler from autoscaling/v1 to autoscaling/v2: \
             spec.targetCPUUtilizationPercentage: expected an integer in range, got a string"
        );
    }
}
