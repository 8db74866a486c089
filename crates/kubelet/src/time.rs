//! Timestamps as the API writes them, and Go-style durations as annotations carry them.

use std::time::Duration;

use jiff::Timestamp;

/// `metav1.Time`: RFC 3339 in UTC, whole seconds.
pub fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `metav1.MicroTime`: RFC 3339 in UTC with microseconds (Lease `renewTime`).
pub fn rfc3339_micros(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// `t + d`, saturating at the end of time rather than failing.
pub fn after(t: Timestamp, d: Duration) -> Timestamp {
    let span = jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX);
    t.checked_add(span).unwrap_or(Timestamp::MAX)
}

/// How long from `now` until `t` (zero if `t` has passed).
pub fn until(now: Timestamp, t: Timestamp) -> Duration {
    Duration::try_from(t.duration_since(now)).unwrap_or(Duration::ZERO)
}

/// Parses a Go duration (`1h2m3s`, `500ms`, `1.5s`) or a plain number of seconds.
///
/// # Errors
/// If `s` is empty, negative or has an unknown unit.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"));
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let seconds_per = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            unit => return Err(format!("invalid duration {s:?}: unknown unit {unit:?}")),
        };
        total += number * seconds_per;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// Formats whole seconds as Go's `time.Duration` does (`10s`, `1m20s`, `5m0s`), as kubelet
/// writes back-off delays into CrashLoopBackOff messages.
pub fn go_seconds(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("2d").is_err());
        assert!(parse_duration("-1").is_err());
    }

    #[test]
    fn timestamps_and_go_seconds() {
        let t: Timestamp = "2025-01-02T03:04:05.123456789Z".parse().unwrap();
        assert_eq!(rfc3339(t), "2025-01-02T03:04:05Z");
        assert_eq!(rfc3339_micros(t), "2025-01-02T03:04:05.123456Z");
        assert_eq!(go_seconds(10), "10s");
        assert_eq!(go_seconds(80), "1m20s");
        assert_eq!(go_seconds(300), "5m0s");
    }
}
