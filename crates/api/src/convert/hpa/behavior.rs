//! `spec.behavior` through autoscaling/v1, which has no such field.
//!
//! Upstream stores it in `autoscaling.alpha.kubernetes.io/behavior` by marshalling its
//! *internal* type, which has no JSON tags: the annotation therefore uses Go field names
//! (`{"ScaleUp":{"StabilizationWindowSeconds":0,"SelectPolicy":"Max","Policies":[...],
//! "Tolerance":null},"ScaleDown":...}`) and writes every unset pointer as `null`. Reading it
//! back uses `encoding/json`, which matches names case-insensitively.

use crate::convert::gojson::{Fields, Go, Read, Reader};

/// The annotation text for a v2 `behavior`.
pub(super) fn to_annotation(b: &Reader) -> Read<String> {
    let rules = |key: &str| -> Read<Go> {
        match b.object(key)? {
            Some(r) => internal_rules(&r),
            None => Ok(Go::null()),
        }
    };
    let behavior =
        Fields::new().push("ScaleUp", rules("scaleUp")?).push("ScaleDown", rules("scaleDown")?).build();
    Ok(behavior.marshal())
}

fn internal_rules(r: &Reader) -> Read<Go> {
    let policies = match r.objects("policies")? {
        Some(items) => Go::List(
            items
                .iter()
                .map(|p| {
                    Ok(Fields::new()
                        .push("Type", Go::str(p.string_or_empty("type")?))
                        .push("Value", Go::int(p.int32("value")?.unwrap_or(0)))
                        .push("PeriodSeconds", Go::int(p.int32("periodSeconds")?.unwrap_or(0)))
                        .build())
                })
                .collect::<Read<Vec<_>>>()?,
        ),
        None => Go::null(),
    };
    let or_null = |v: Option<Go>| v.unwrap_or_else(Go::null);
    Ok(Fields::new()
        .push("StabilizationWindowSeconds", or_null(r.int32("stabilizationWindowSeconds")?.map(Go::int)))
        .push("SelectPolicy", or_null(r.string("selectPolicy")?.map(Go::str)))
        .push("Policies", policies)
        .push("Tolerance", or_null(r.quantity("tolerance")?.map(Go::str)))
        .build())
}

/// The v2 `behavior` an annotation holds; `None` when it does not parse or sets neither
/// direction (upstream only moves well-formed, non-empty data into the field).
pub(super) fn from_annotation(text: &str) -> Option<Go> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    if value.is_null() {
        return None;
    }
    let b = Reader::new(&value, "", true).ok()?;
    let rules = |key: &str| -> Read<Option<Go>> { b.object(key)?.map(|r| v2_rules(&r)).transpose() };
    let (up, down) = (rules("ScaleUp").ok()?, rules("ScaleDown").ok()?);
    if up.is_none() && down.is_none() {
        return None;
    }
    Some(Fields::new().push_some("scaleUp", up).push_some("scaleDown", down).build())
}

fn v2_rules(r: &Reader) -> Read<Go> {
    let policies = match r.objects("Policies")? {
        Some(items) if !items.is_empty() => Some(Go::List(
            items
                .iter()
                .map(|p| {
                    Ok(Fields::new()
                        .push("type", Go::str(p.string_or_empty("Type")?))
                        .push("value", Go::int(p.int32("Value")?.unwrap_or(0)))
                        .push("periodSeconds", Go::int(p.int32("PeriodSeconds")?.unwrap_or(0)))
                        .build())
                })
                .collect::<Read<Vec<_>>>()?,
        )),
        _ => None,
    };
    Ok(Fields::new()
        .push_some("stabilizationWindowSeconds", r.int32("StabilizationWindowSeconds")?.map(Go::int))
        .push_some("selectPolicy", r.string("SelectPolicy")?.map(Go::str))
        .push_some("policies", policies)
        .push_some("tolerance", r.quantity("Tolerance")?.map(Go::str))
        .build())
}
