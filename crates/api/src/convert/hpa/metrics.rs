//! Metric specs and statuses between autoscaling/v2 and the autoscaling/v1 shapes stored in
//! the round-trip annotations (`autoscaling/v1.MetricSpec` and `MetricStatus`, the
//! v2beta1-style types with `targetAverageUtilization`, `metricName`, ...).
//!
//! The mapping is upstream's (pkg/apis/autoscaling/v1/conversion.go), quirks included: v1's
//! non-pointer quantities become `"0"` when v2 has none, and object targets always regain a
//! `value` on the way back.

use crate::convert::gojson::{Fields, Go, Read, Reader, label_selector, object_reference};

/// A v1 non-pointer `resource.Quantity`: Go writes its zero value as "0".
fn or_zero(q: Option<String>) -> Go {
    Go::str(q.unwrap_or_else(|| "0".to_string()))
}

fn some_str(q: Option<String>) -> Option<Go> {
    q.map(Go::str)
}

fn selector(r: &Reader, key: &str) -> Read<Option<Go>> {
    r.object(key)?.map(|s| label_selector(&s)).transpose()
}

/// A v2 `MetricIdentifier`.
fn identifier(name: String, selector: Option<Go>) -> Go {
    Fields::new().push("name", Go::str(name)).push_some("selector", selector).build()
}

/// v2 `MetricTarget`: the target type is not stored in v1, so it is inferred from which values
/// are set, as upstream does for each source kind.
fn target(kind: &str, value: Option<Go>, average_value: Option<Go>, utilization: Option<i64>) -> Go {
    Fields::new()
        .push("type", Go::str(kind))
        .push_some("value", value)
        .push_some("averageValue", average_value)
        .push_some("averageUtilization", utilization.map(Go::int))
        .build()
}

/// v2 `MetricValueStatus`.
fn current(value: Option<Go>, average_value: Option<Go>, utilization: Option<i64>) -> Go {
    Fields::new()
        .push_some("value", value)
        .push_some("averageValue", average_value)
        .push_some("averageUtilization", utilization.map(Go::int))
        .build()
}

/// v2 `MetricSpec` to the v1 annotation shape.
pub(super) fn spec_to_v1(m: &Reader) -> Read<Go> {
    let mut out = Fields::new();
    out.push("type", Go::str(m.string_or_empty("type")?));
    if let Some(o) = m.object("object")? {
        let (target, metric) = (o.object_or_empty("target")?, o.object_or_empty("metric")?);
        out.push(
            "object",
            Fields::new()
                .push("target", object_reference(&o.object_or_empty("describedObject")?)?)
                .push("metricName", Go::str(metric.string_or_empty("name")?))
                .push("targetValue", or_zero(target.quantity("value")?))
                .push_some("selector", selector(&metric, "selector")?)
                .push_some("averageValue", some_str(target.quantity("averageValue")?))
                .build(),
        );
    }
    if let Some(p) = m.object("pods")? {
        let (target, metric) = (p.object_or_empty("target")?, p.object_or_empty("metric")?);
        out.push(
            "pods",
            Fields::new()
                .push("metricName", Go::str(metric.string_or_empty("name")?))
                .push("targetAverageValue", or_zero(target.quantity("averageValue")?))
                .push_some("selector", selector(&metric, "selector")?)
                .build(),
        );
    }
    if let Some(r) = m.object("resource")? {
        out.push("resource", resource_source_to_v1(&r, None)?);
    }
    if let Some(c) = m.object("containerResource")? {
        out.push("containerResource", resource_source_to_v1(&c, Some(c.string_or_empty("container")?))?);
    }
    if let Some(e) = m.object("external")? {
        let (target, metric) = (e.object_or_empty("target")?, e.object_or_empty("metric")?);
        out.push(
            "external",
            Fields::new()
                .push("metricName", Go::str(metric.string_or_empty("name")?))
                .push_some("metricSelector", selector(&metric, "selector")?)
                .push_some("targetValue", some_str(target.quantity("value")?))
                .push_some("targetAverageValue", some_str(target.quantity("averageValue")?))
                .build(),
        );
    }
    Ok(out.build())
}

/// v2 `ResourceMetricSource` (or `ContainerResourceMetricSource` with its container) to v1.
fn resource_source_to_v1(r: &Reader, container: Option<String>) -> Read<Go> {
    let target = r.object_or_empty("target")?;
    let mut out = Fields::new();
    out.push("name", Go::str(r.string_or_empty("name")?))
        .push_some("targetAverageUtilization", target.int32("averageUtilization")?.map(Go::int))
        .push_some("targetAverageValue", some_str(target.quantity("averageValue")?))
        .push_some("container", container.map(Go::str));
    Ok(out.build())
}

/// A v1 annotation `MetricSpec` to v2.
pub(super) fn spec_to_v2(m: &Reader) -> Read<Go> {
    let mut out = Fields::new();
    out.push("type", Go::str(m.string_or_empty("type")?));
    if let Some(o) = m.object("object")? {
        let average = some_str(o.quantity("averageValue")?);
        let kind = if average.is_some() { "AverageValue" } else { "Value" };
        out.push(
            "object",
            Fields::new()
                .push("describedObject", object_reference(&o.object_or_empty("target")?)?)
                .push("target", target(kind, Some(or_zero(o.quantity("targetValue")?)), average, None))
                .push("metric", identifier(o.string_or_empty("metricName")?, selector(&o, "selector")?))
                .build(),
        );
    }
    if let Some(p) = m.object("pods")? {
        let average = or_zero(p.quantity("targetAverageValue")?);
        out.push(
            "pods",
            Fields::new()
                .push("metric", identifier(p.string_or_empty("metricName")?, selector(&p, "selector")?))
                .push("target", target("AverageValue", None, Some(average), None))
                .build(),
        );
    }
    if let Some(r) = m.object("resource")? {
        out.push("resource", resource_source_to_v2(&r, None)?);
    }
    if let Some(c) = m.object("containerResource")? {
        out.push("containerResource", resource_source_to_v2(&c, Some(c.string_or_empty("container")?))?);
    }
    if let Some(e) = m.object("external")? {
        let value = some_str(e.quantity("targetValue")?);
        let kind = if value.is_some() { "Value" } else { "AverageValue" };
        let average = some_str(e.quantity("targetAverageValue")?);
        out.push(
            "external",
            Fields::new()
                .push("metric", identifier(e.string_or_empty("metricName")?, selector(&e, "metricSelector")?))
                .push("target", target(kind, value, average, None))
                .build(),
        );
    }
    Ok(out.build())
}

fn resource_source_to_v2(r: &Reader, container: Option<String>) -> Read<Go> {
    let utilization = r.int32("targetAverageUtilization")?;
    let kind = if utilization.is_some() { "Utilization" } else { "AverageValue" };
    let average = some_str(r.quantity("targetAverageValue")?);
    let mut out = Fields::new();
    out.push("name", Go::str(r.string_or_empty("name")?))
        .push("target", target(kind, None, average, utilization))
        .push_some("container", container.map(Go::str));
    Ok(out.build())
}

/// v2 `MetricStatus` to the v1 annotation shape.
pub(super) fn status_to_v1(m: &Reader) -> Read<Go> {
    let mut out = Fields::new();
    out.push("type", Go::str(m.string_or_empty("type")?));
    if let Some(o) = m.object("object")? {
        let (now, metric) = (o.object_or_empty("current")?, o.object_or_empty("metric")?);
        out.push(
            "object",
            Fields::new()
                .push("target", object_reference(&o.object_or_empty("describedObject")?)?)
                .push("metricName", Go::str(metric.string_or_empty("name")?))
                .push("currentValue", or_zero(now.quantity("value")?))
                .push_some("selector", selector(&metric, "selector")?)
                .push_some("averageValue", some_str(now.quantity("averageValue")?))
                .build(),
        );
    }
    if let Some(p) = m.object("pods")? {
        let (now, metric) = (p.object_or_empty("current")?, p.object_or_empty("metric")?);
        out.push(
            "pods",
            Fields::new()
                .push("metricName", Go::str(metric.string_or_empty("name")?))
                .push("currentAverageValue", or_zero(now.quantity("averageValue")?))
                .push_some("selector", selector(&metric, "selector")?)
                .build(),
        );
    }
    if let Some(r) = m.object("resource")? {
        out.push("resource", resource_status_to_v1(&r, None)?);
    }
    if let Some(c) = m.object("containerResource")? {
        out.push("containerResource", resource_status_to_v1(&c, Some(c.string_or_empty("container")?))?);
    }
    if let Some(e) = m.object("external")? {
        let (now, metric) = (e.object_or_empty("current")?, e.object_or_empty("metric")?);
        out.push(
            "external",
            Fields::new()
                .push("metricName", Go::str(metric.string_or_empty("name")?))
                .push_some("metricSelector", selector(&metric, "selector")?)
                .push("currentValue", or_zero(now.quantity("value")?))
                .push_some("currentAverageValue", some_str(now.quantity("averageValue")?))
                .build(),
        );
    }
    Ok(out.build())
}

fn resource_status_to_v1(r: &Reader, container: Option<String>) -> Read<Go> {
    let now = r.object_or_empty("current")?;
    let mut out = Fields::new();
    out.push("name", Go::str(r.string_or_empty("name")?))
        .push_some("currentAverageUtilization", now.int32("averageUtilization")?.map(Go::int))
        .push("currentAverageValue", or_zero(now.quantity("averageValue")?))
        .push_some("container", container.map(Go::str));
    Ok(out.build())
}

/// A v1 annotation `MetricStatus` to v2.
pub(super) fn status_to_v2(m: &Reader) -> Read<Go> {
    let mut out = Fields::new();
    out.push("type", Go::str(m.string_or_empty("type")?));
    if let Some(o) = m.object("object")? {
        let now =
            current(Some(or_zero(o.quantity("currentValue")?)), some_str(o.quantity("averageValue")?), None);
        out.push(
            "object",
            Fields::new()
                .push("metric", identifier(o.string_or_empty("metricName")?, selector(&o, "selector")?))
                .push("current", now)
                .push("describedObject", object_reference(&o.object_or_empty("target")?)?)
                .build(),
        );
    }
    if let Some(p) = m.object("pods")? {
        let now = current(None, Some(or_zero(p.quantity("currentAverageValue")?)), None);
        out.push(
            "pods",
            Fields::new()
                .push("metric", identifier(p.string_or_empty("metricName")?, selector(&p, "selector")?))
                .push("current", now)
                .build(),
        );
    }
    if let Some(r) = m.object("resource")? {
        out.push("resource", resource_status_to_v2(&r, None)?);
    }
    if let Some(c) = m.object("containerResource")? {
        out.push("containerResource", resource_status_to_v2(&c, Some(c.string_or_empty("container")?))?);
    }
    if let Some(e) = m.object("external")? {
        let now = current(
            Some(or_zero(e.quantity("currentValue")?)),
            some_str(e.quantity("currentAverageValue")?),
            None,
        );
        out.push(
            "external",
            Fields::new()
                .push("metric", identifier(e.string_or_empty("metricName")?, selector(&e, "metricSelector")?))
                .push("current", now)
                .build(),
        );
    }
    Ok(out.build())
}

fn resource_status_to_v2(r: &Reader, container: Option<String>) -> Read<Go> {
    let now = current(
        None,
        Some(or_zero(r.quantity("currentAverageValue")?)),
        r.int32("currentAverageUtilization")?,
    );
    let mut out = Fields::new();
    out.push("name", Go::str(r.string_or_empty("name")?))
        .push("current", now)
        .push_some("container", container.map(Go::str));
    Ok(out.build())
}
