//! Cron schedules as upstream's CronJob controller reads them (robfig/cron's standard parser):
//! five fields (minute, hour, day of month, month, day of week) with `*`, `?`, lists, ranges,
//! steps and month and weekday names, or a macro (`@yearly`, `@monthly`, `@weekly`, `@daily`,
//! `@hourly`, ...). When both day fields are restricted a day matching either one fires.
//!
//! A small parser of our own rather than a crate: the available ones differ from robfig in
//! the details that decide when a Job runs (the day-of-month/day-of-week rule, `?`, what a
//! step does to a `*`), and the whole thing is a hundred lines.

use jiff::{
    Timestamp, ToSpan,
    civil::{Date, DateTime},
    tz::TimeZone,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// A day field was `*` or `?` (without a step): both day fields must then match.
    day_star: bool,
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field { name: "minute", min: 0, max: 59, names: &[] };
const HOUR: Field = Field { name: "hour", min: 0, max: 23, names: &[] };
const DOM: Field = Field { name: "day of month", min: 1, max: 31, names: &[] };
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
};
const DOW: Field =
    Field { name: "day of week", min: 0, max: 6, names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"] };

impl Schedule {
    /// Parses a schedule; the error reads like robfig's.
    pub fn parse(spec: &str) -> Result<Schedule, String> {
        let spec = spec.trim();
        let expanded = match spec.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            s if s.starts_with('@') => return Err(format!("unrecognized descriptor: {spec}")),
            _ => spec,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!("expected exactly 5 fields, found {}: {spec}", fields.len()));
        }
        let (minutes, _) = parse_field(fields[0], &MINUTE)?;
        let (hours, _) = parse_field(fields[1], &HOUR)?;
        let (days, dom_star) = parse_field(fields[2], &DOM)?;
        let (months, _) = parse_field(fields[3], &MONTH)?;
        let (weekdays, dow_star) = parse_field(fields[4], &DOW)?;
        Ok(Schedule { minutes, hours, days, months, weekdays, day_star: dom_star || dow_star })
    }

    fn day_matches(&self, date: Date) -> bool {
        let dom = self.days & (1 << date.day()) != 0;
        let dow = self.weekdays & (1 << date.weekday().to_sunday_zero_offset()) != 0;
        if self.day_star { dom && dow } else { dom || dow }
    }

    /// The first time strictly after `after` that the schedule fires, in `tz`; `None` if there
    /// is none within five years (`30 0 31 2 *`).
    pub fn next(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = after.to_zoned(tz.clone()).datetime();
        let mut t = local.with().second(0).subsec_nanosecond(0).build().ok()?.checked_add(1.minute()).ok()?;
        let limit = t.year() + 5;
        while t.year() <= limit {
            if self.months & (1 << t.month()) == 0 {
                t = first_of_next_month(t)?;
                continue;
            }
            if !self.day_matches(t.date()) {
                t = t.date().tomorrow().ok()?.to_datetime(jiff::civil::Time::midnight());
                continue;
            }
            if self.hours & (1 << t.hour()) == 0 {
                t = t.with().minute(0).build().ok()?.checked_add(1.hour()).ok()?;
                continue;
            }
            if self.minutes & (1 << t.minute()) == 0 {
                t = t.checked_add(1.minute()).ok()?;
                continue;
            }
            // A time skipped by a DST change maps to just after the gap, as Go's time.Date does.
            let at = tz.to_ambiguous_timestamp(t).compatible().ok()?;
            if at > after {
                return Some(at);
            }
            t = t.checked_add(1.minute()).ok()?;
        }
        None
    }
}

fn first_of_next_month(t: DateTime) -> Option<DateTime> {
    let first = t.date().first_of_month().checked_add(1.month()).ok()?;
    Some(first.to_datetime(jiff::civil::Time::midnight()))
}

/// One field as a bit set, and whether it was a plain `*`/`?`.
fn parse_field(text: &str, f: &Field) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let mut star = false;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (part, None),
        };
        let (mut lo, mut hi, is_star) = if range == "*" || range == "?" {
            (f.min, f.max, true)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, f)?, value(b, f)?, false)
        } else {
            let v = value(range, f)?;
            (v, v, false)
        };
        let step = match step {
            None => 1,
            Some(s) => {
                let n = s.parse::<u32>().map_err(|_| format!("failed to parse int from {s}"))?;
                // `N/step` runs from N to the end of the range.
                if !is_star && !range.contains('-') {
                    hi = f.max;
                }
                n
            }
        };
        if step == 0 {
            return Err(format!("step of range should be a positive number: {part}"));
        }
        if lo < f.min {
            return Err(format!("beginning of range ({lo}) below minimum ({}): {part}", f.min));
        }
        if hi > f.max {
            return Err(format!("end of range ({hi}) above maximum ({}): {part}", f.max));
        }
        if lo > hi {
            return Err(format!("beginning of range ({lo}) beyond end of range ({hi}): {part}"));
        }
        star |= is_star && step == 1;
        while lo <= hi {
            bits |= 1 << lo;
            lo += step;
        }
    }
    Ok((bits, star))
}

fn value(text: &str, f: &Field) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(i) = f.names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + f.min);
    }
    text.parse::<u32>().map_err(|_| format!("failed to parse int from {text} ({})", f.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn next(spec: &str, after: &str) -> String {
        Schedule::parse(spec).unwrap().next(utc(after), &TimeZone::UTC).unwrap().to_string()
    }

    #[test]
    fn every_minute_fires_on_the_next_whole_minute() {
        assert_eq!(next("* * * * *", "2025-03-01T10:00:00Z"), "2025-03-01T10:01:00Z");
        assert_eq!(next("* * * * *", "2025-03-01T10:00:59.5Z"), "2025-03-01T10:01:00Z");
        assert_eq!(next("*/15 * * * *", "2025-03-01T10:16:00Z"), "2025-03-01T10:30:00Z");
        assert_eq!(next("5/20 * * * *", "2025-03-01T10:26:00Z"), "2025-03-01T10:45:00Z");
    }

    #[test]
    fn macros_names_lists_and_ranges() {
        assert_eq!(next("@hourly", "2025-03-01T10:00:00Z"), "2025-03-01T11:00:00Z");
        assert_eq!(next("@daily", "2025-03-01T10:00:00Z"), "2025-03-02T00:00:00Z");
        assert_eq!(next("@weekly", "2025-03-01T10:00:00Z"), "2025-03-02T00:00:00Z"); // a Sunday
        assert_eq!(next("@monthly", "2025-03-01T10:00:00Z"), "2025-04-01T00:00:00Z");
        assert_eq!(next("@yearly", "2025-03-01T10:00:00Z"), "2026-01-01T00:00:00Z");
        assert_eq!(next("@annually", "2025-03-01T10:00:00Z"), "2026-01-01T00:00:00Z");
        assert_eq!(next("0 9-17/4 * * MON-fri", "2025-03-01T10:00:00Z"), "2025-03-03T09:00:00Z");
        assert_eq!(next("30 6 * JAN,jul *", "2025-03-01T10:00:00Z"), "2025-07-01T06:30:00Z");
    }

    #[test]
    fn restricted_day_fields_match_either_day() {
        // The 15th or any Monday, whichever comes first.
        assert_eq!(next("0 0 15 * 1", "2025-03-04T00:00:00Z"), "2025-03-10T00:00:00Z");
        assert_eq!(next("0 0 15 * 1", "2025-03-11T00:00:00Z"), "2025-03-15T00:00:00Z");
        // With `*` in one of them, both must hold.
        assert_eq!(next("0 0 * * 1", "2025-03-04T00:00:00Z"), "2025-03-10T00:00:00Z");
        assert_eq!(next("0 0 13 * ?", "2025-03-14T00:00:00Z"), "2025-04-13T00:00:00Z");
    }

    #[test]
    fn time_zones_and_impossible_dates() {
        let tz = TimeZone::get("America/New_York").unwrap();
        let s = Schedule::parse("0 9 * * *").unwrap();
        // 9:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer.
        assert_eq!(s.next(utc("2025-01-10T15:00:00Z"), &tz).unwrap().to_string(), "2025-01-11T14:00:00Z");
        assert_eq!(s.next(utc("2025-07-10T15:00:00Z"), &tz).unwrap().to_string(), "2025-07-11T13:00:00Z");
        assert_eq!(
            Schedule::parse("0 0 30 2 *").unwrap().next(utc("2025-01-01T00:00:00Z"), &TimeZone::UTC),
            None
        );
    }

    #[test]
    fn bad_schedules_are_refused() {
        for bad in [
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 7",
            "*/0 * * * *",
            "@every 5m",
            "5-1 * * * *",
            "x * * * *",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }
}
