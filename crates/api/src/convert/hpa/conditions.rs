//! `status.conditions` through autoscaling/v1, kept in
//! `autoscaling.alpha.kubernetes.io/conditions` as a list of v1
//! `HorizontalPodAutoscalerCondition`s, which have the same fields as v2's.

use crate::convert::gojson::{Fields, Go, Read, Reader};

/// One condition as Go writes it: `lastTransitionTime` is a struct, so `omitempty` does not
/// apply and an unset time is written as `null`.
pub(super) fn condition(c: &Reader) -> Read<Go> {
    Ok(Fields::new()
        .push("type", Go::str(c.string_or_empty("type")?))
        .push("status", Go::str(c.string_or_empty("status")?))
        .push("lastTransitionTime", c.time("lastTransitionTime")?.map(Go::str).unwrap_or_else(Go::null))
        .push_str("reason", c.string("reason")?)
        .push_str("message", c.string("message")?)
        .build())
}
