//! HorizontalPodAutoscaler between autoscaling/v1 and autoscaling/v2, its storage version
//! (upstream's pkg/apis/autoscaling/v1/conversion.go, via the internal type).
//!
//! v1 only knows a CPU utilisation target. Everything else a v2 object holds survives a trip
//! through v1 in four annotations, which v1 readers see and v2 readers never do:
//!
//! * `autoscaling.alpha.kubernetes.io/metrics`: the spec metrics other than CPU utilisation,
//!   as v1 `MetricSpec`s;
//! * `autoscaling.alpha.kubernetes.io/current-metrics`: all status metrics, as v1
//!   `MetricStatus`es (the CPU one too, since v1's percentage drops its raw value);
//! * `autoscaling.alpha.kubernetes.io/behavior`: `spec.behavior`, see [`behavior`];
//! * `autoscaling.alpha.kubernetes.io/conditions`: `status.conditions`.
//!
//! Annotations that do not parse are ignored rather than failing the object, and all four are
//! removed from the v2 result (upstream #89963), so stale ones never outlive a write.

mod behavior;
mod conditions;
mod metrics;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use super::gojson::{Fields, Go, Read, Reader, object_reference};

pub const METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";
pub const CURRENT_METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
pub const BEHAVIOR_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/behavior";
pub const CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";

const ROUND_TRIP: [&str; 4] =
    [METRICS_ANNOTATION, CURRENT_METRICS_ANNOTATION, BEHAVIOR_ANNOTATION, CONDITIONS_ANNOTATION];

/// The CPU utilisation target v1 objects without one had implicitly (upstream's
/// `autoscaling.DefaultCPUUtilization`); conversion to v2 makes it explicit.
const DEFAULT_CPU_UTILIZATION: i64 = 80;

const KIND: &str = "HorizontalPodAutoscaler";

/// An autoscaling/v2 object as autoscaling/v1 shows it.
pub(crate) fn to_v1(obj: &Value) -> Read<Value> {
    let r = Reader::new(obj, "", false)?;
    let (meta, mut annotations) = split_metadata(&r)?;
    // Whatever a v2 object carries in these was put there by hand; only what this
    // conversion writes may appear.
    for key in ROUND_TRIP {
        annotations.remove(key);
    }
    let spec = r.object_or_empty("spec")?;
    let status = r.object_or_empty("status")?;

    // The first CPU utilisation metric becomes the v1 target; every CPU utilisation metric is
    // left out of the annotation, as upstream does.
    let mut target_cpu = None;
    let mut others = Vec::new();
    for m in spec.objects("metrics")?.unwrap_or_default() {
        match cpu_utilization(&m, "target")? {
            Some(n) => {
                target_cpu.get_or_insert(n);
            }
            None => others.push(metrics::spec_to_v1(&m)?),
        }
    }
    let current = status.objects("currentMetrics")?.unwrap_or_default();
    let mut current_cpu = None;
    for m in &current {
        // Upstream does not stop at the first match: the last CPU utilisation wins.
        if let Some(n) = cpu_utilization(m, "current")? {
            current_cpu = Some(n);
        }
    }
    let conditions = status.objects("conditions")?.unwrap_or_default();

    if !others.is_empty() {
        annotate(&mut annotations, METRICS_ANNOTATION, Go::List(others));
    }
    if !current.is_empty() {
        let list = current.iter().map(metrics::status_to_v1).collect::<Read<Vec<_>>>()?;
        annotate(&mut annotations, CURRENT_METRICS_ANNOTATION, Go::List(list));
    }
    if let Some(b) = spec.object("behavior")? {
        annotations.insert(BEHAVIOR_ANNOTATION.into(), Value::String(behavior::to_annotation(&b)?));
    }
    if !conditions.is_empty() {
        let list = conditions.iter().map(conditions::condition).collect::<Read<Vec<_>>>()?;
        annotate(&mut annotations, CONDITIONS_ANNOTATION, Go::List(list));
    }

    let spec_v1 = Fields::new()
        .push("scaleTargetRef", object_reference(&spec.object_or_empty("scaleTargetRef")?)?)
        .push_some("minReplicas", spec.int32("minReplicas")?.map(Go::int))
        .push("maxReplicas", Go::int(spec.int32("maxReplicas")?.unwrap_or(0)))
        .push_some("targetCPUUtilizationPercentage", target_cpu.map(Go::int))
        .build();
    // v1's replica counts have no `omitempty`, so Go always writes them.
    let status_v1 = Fields::new()
        .push_some("observedGeneration", status.int64("observedGeneration")?.map(Go::int))
        .push_some("lastScaleTime", status.time("lastScaleTime")?.map(Go::str))
        .push("currentReplicas", Go::int(status.int32("currentReplicas")?.unwrap_or(0)))
        .push("desiredReplicas", Go::int(status.int32("desiredReplicas")?.unwrap_or(0)))
        .push_some("currentCPUUtilizationPercentage", current_cpu.map(Go::int))
        .build();
    Ok(object("autoscaling/v1", meta, annotations, spec_v1, status_v1))
}

/// An autoscaling/v1 object as autoscaling/v2 (and storage) holds it.
pub(crate) fn to_v2(obj: &Value) -> Read<Value> {
    let r = Reader::new(obj, "", false)?;
    let (meta, mut annotations) = split_metadata(&r)?;
    let spec = r.object_or_empty("spec")?;
    let status = r.object_or_empty("status")?;

    let mut metrics: Vec<Go> =
        spec.int32("targetCPUUtilizationPercentage")?.map(cpu_metric).into_iter().collect();
    // The annotated metrics come first and the CPU target last, so a CPU utilisation metric
    // that was not last in v2 moves to the end after a trip through v1, as upstream.
    if let Some(others) = annotation_list(&annotations, METRICS_ANNOTATION, metrics::spec_to_v2) {
        metrics = others.into_iter().chain(metrics).collect();
    }
    if metrics.is_empty() {
        metrics.push(cpu_metric(DEFAULT_CPU_UTILIZATION));
    }
    let behavior =
        annotations.get(BEHAVIOR_ANNOTATION).and_then(Value::as_str).and_then(behavior::from_annotation);
    // The annotation has more than the percentage (raw values, other metrics) and wins.
    let current_cpu = status.int32("currentCPUUtilizationPercentage")?;
    let current = annotation_list(&annotations, CURRENT_METRICS_ANNOTATION, metrics::status_to_v2)
        .or_else(|| current_cpu.map(|n| vec![cpu_status(n)]));
    let conditions = annotation_list(&annotations, CONDITIONS_ANNOTATION, conditions::condition);
    for key in ROUND_TRIP {
        annotations.remove(key);
    }

    let spec_v2 = Fields::new()
        .push("scaleTargetRef", object_reference(&spec.object_or_empty("scaleTargetRef")?)?)
        .push_some("minReplicas", spec.int32("minReplicas")?.map(Go::int))
        .push("maxReplicas", Go::int(spec.int32("maxReplicas")?.unwrap_or(0)))
        .push("metrics", Go::List(metrics))
        .push_some("behavior", behavior)
        .build();
    // `currentMetrics` has no `omitempty`: Go writes `null` when there are none.
    let status_v2 = Fields::new()
        .push_some("observedGeneration", status.int64("observedGeneration")?.map(Go::int))
        .push_some("lastScaleTime", status.time("lastScaleTime")?.map(Go::str))
        .push_nonzero("currentReplicas", status.int32("currentReplicas")?)
        .push("desiredReplicas", Go::int(status.int32("desiredReplicas")?.unwrap_or(0)))
        .push("currentMetrics", current.map(Go::List).unwrap_or_else(Go::null))
        .push_some("conditions", conditions.filter(|c| !c.is_empty()).map(Go::List))
        .build();
    Ok(object("autoscaling/v2", meta, annotations, spec_v2, status_v2))
}

/// A v2 object read or written as v2: upstream's v2 conversion to and from the internal type
/// drops the round-trip annotations too, so they are never stored and never shown to v2
/// clients, whoever set them.
pub(crate) fn strip_round_trip(mut obj: Value) -> Value {
    if let Some(annotations) = obj.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        for key in ROUND_TRIP {
            annotations.remove(key);
        }
        if annotations.is_empty()
            && let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.remove("annotations");
        }
    }
    obj
}

/// `averageUtilization` of a CPU `Resource` metric's `target` (spec) or `current` (status).
fn cpu_utilization(m: &Reader, side: &str) -> Read<Option<i64>> {
    if m.string("type")?.as_deref() != Some("Resource") {
        return Ok(None);
    }
    let Some(resource) = m.object("resource")? else { return Ok(None) };
    if resource.string("name")?.as_deref() != Some("cpu") {
        return Ok(None);
    }
    resource.object_or_empty(side)?.int32("averageUtilization")
}

fn cpu_metric(utilization: i64) -> Go {
    let target = Fields::new()
        .push("type", Go::str("Utilization"))
        .push("averageUtilization", Go::int(utilization))
        .build();
    let resource = Fields::new().push("name", Go::str("cpu")).push("target", target).build();
    Fields::new().push("type", Go::str("Resource")).push("resource", resource).build()
}

fn cpu_status(utilization: i64) -> Go {
    let current = Fields::new().push("averageUtilization", Go::int(utilization)).build();
    let resource = Fields::new().push("name", Go::str("cpu")).push("current", current).build();
    Fields::new().push("type", Go::str("Resource")).push("resource", resource).build()
}

/// The metadata without its annotations, and the annotations.
fn split_metadata(r: &Reader) -> Read<(Map<String, Value>, Map<String, Value>)> {
    let annotations = r.object_or_empty("metadata")?.string_map("annotations")?.unwrap_or_default();
    let mut meta = match r.raw_object("metadata")? {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    meta.remove("annotations");
    Ok((meta, annotations))
}

fn annotate(annotations: &mut Map<String, Value>, key: &str, value: Go) {
    annotations.insert(key.to_string(), Value::String(value.marshal()));
}

/// The list an annotation holds, each item converted by `item`; `None` when the annotation
/// is absent or anything in it is malformed. `null` is an empty list, as for Go.
fn annotation_list(
    annotations: &Map<String, Value>,
    key: &str,
    item: fn(&Reader) -> Read<Go>,
) -> Option<Vec<Go>> {
    let text = annotations.get(key)?.as_str()?;
    let items = match serde_json::from_str::<Value>(text).ok()? {
        Value::Null => return Some(Vec::new()),
        Value::Array(items) => items,
        _ => return None,
    };
    let empty = Value::Object(Map::new());
    items
        .iter()
        .map(|v| Reader::new(if v.is_null() { &empty } else { v }, "", true).and_then(|r| item(&r)))
        .collect::<Read<Vec<_>>>()
        .ok()
}

fn object(
    api_version: &str,
    mut meta: Map<String, Value>,
    annotations: Map<String, Value>,
    spec: Go,
    status: Go,
) -> Value {
    // An emptied annotation map is omitted, as Go omits empty maps.
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::String(api_version.into()));
    out.insert("kind".into(), Value::String(KIND.into()));
    out.insert("metadata".into(), Value::Object(meta));
    out.insert("spec".into(), spec.into_value());
    out.insert("status".into(), status.into_value());
    Value::Object(out)
}
