//! Cron schedules as CronJobs accept them (`cron.ParseStandard` of robfig/cron v3): five fields
//! or a `@` descriptor, with that parser's error texts.

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

const MINUTES: Bounds = Bounds { min: 0, max: 59, names: &[] };
const HOURS: Bounds = Bounds { min: 0, max: 23, names: &[] };
const DAYS_OF_MONTH: Bounds = Bounds { min: 1, max: 31, names: &[] };
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DAYS_OF_WEEK: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[("sun", 0), ("mon", 1), ("tue", 2), ("wed", 3), ("thu", 4), ("fri", 5), ("sat", 6)],
};

const DESCRIPTORS: &[&str] =
    &["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"];

/// Why the schedule does not parse, in the parser's words; `None` when it does.
pub fn schedule_error(spec: &str) -> Option<String> {
    let mut spec = spec.trim();
    if spec.is_empty() {
        return Some("empty spec string".into());
    }
    // A leading time zone is the parser's business; which zones exist is not checked here.
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        let Some(space) = spec.find(' ') else {
            let zone = spec.split_once('=').map_or("", |(_, z)| z);
            return Some(format!("provided bad location {zone}: unknown time zone {zone}"));
        };
        spec = spec[space..].trim();
    }
    if spec.starts_with('@') {
        return descriptor_error(spec);
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Some(format!("expected exactly 5 fields, found {}: [{}]", fields.len(), fields.join(" ")));
    }
    let bounds = [MINUTES, HOURS, DAYS_OF_MONTH, MONTHS, DAYS_OF_WEEK];
    fields.iter().zip(bounds.iter()).find_map(|(field, b)| field_error(field, b))
}

fn descriptor_error(spec: &str) -> Option<String> {
    if DESCRIPTORS.contains(&spec) {
        return None;
    }
    if let Some(duration) = spec.strip_prefix("@every ") {
        return (!is_go_duration(duration)).then(|| {
            format!("failed to parse duration {spec}: time: invalid duration {}", go_quote(duration))
        });
    }
    Some(format!("unrecognized descriptor: {spec}"))
}

fn go_quote(s: &str) -> String {
    crate::selector::go_quote(s)
}

/// Whether Go's `time.ParseDuration` accepts the text (e.g. `1h30m`, `90s`, `1.5h`).
fn is_go_duration(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    if s == "0" {
        return true;
    }
    let mut rest = s;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." {
            return false;
        }
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        if !matches!(&rest[..unit_len], "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h") {
            return false;
        }
        rest = &rest[unit_len..];
    }
    true
}

fn field_error(field: &str, b: &Bounds) -> Option<String> {
    field.split(',').find_map(|expr| range_error(expr, b))
}

fn range_error(expr: &str, b: &Bounds) -> Option<String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_high: Vec<&str> = range_and_step[0].split('-').collect();
    let (start, mut end) = if low_high[0] == "*" || low_high[0] == "?" {
        (b.min, b.max)
    } else {
        let start = match int_or_name(low_high[0], b) {
            Ok(v) => v,
            Err(e) => return Some(e),
        };
        let end = match low_high.len() {
            1 => start,
            2 => match int_or_name(low_high[1], b) {
                Ok(v) => v,
                Err(e) => return Some(e),
            },
            _ => return Some(format!("too many hyphens: {expr}")),
        };
        (start, end)
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = match parse_int(range_and_step[1]) {
                Ok(v) => v,
                Err(e) => return Some(e),
            };
            // "N/step" means "N-max/step".
            if low_high.len() == 1 {
                end = b.max;
            }
            step
        }
        _ => return Some(format!("too many slashes: {expr}")),
    };
    if start < b.min {
        return Some(format!("beginning of range ({start}) below minimum ({}): {expr}", b.min));
    }
    if end > b.max {
        return Some(format!("end of range ({end}) above maximum ({}): {expr}", b.max));
    }
    if start > end {
        return Some(format!("beginning of range ({start}) beyond end of range ({end}): {expr}"));
    }
    if step == 0 {
        return Some(format!("step of range should be a positive number: {expr}"));
    }
    None
}

fn int_or_name(s: &str, b: &Bounds) -> Result<u32, String> {
    let lower = s.to_lowercase();
    match b.names.iter().find(|(name, _)| *name == lower) {
        Some((_, v)) => Ok(*v),
        None => parse_int(s),
    }
}

/// `mustParseInt`: Go's `strconv.Atoi`, then no negatives.
fn parse_int(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "failed to parse int from {s}: strconv.Atoi: parsing {}: invalid syntax",
            go_quote(s)
        ));
    }
    let n: i64 = match s.parse() {
        Ok(n) => n,
        Err(_) => {
            return Err(format!(
                "failed to parse int from {s}: strconv.Atoi: parsing {}: value out of range",
                go_quote(s)
            ));
        }
    };
    if n < 0 {
        return Err(format!("negative number ({n}) not allowed: {s}"));
    }
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_cronjobs_use() {
        for ok in [
            "*/5 * * * *",
            "0 0 * * *",
            "15 2 1-15/2 jan-jun MON-FRI",
            "@hourly",
            "@every 1h30m",
            "TZ=UTC 0 * * * *",
            "0 9 * * 1,3,5",
            "? * * * *",
        ] {
            assert_eq!(schedule_error(ok), None, "{ok}");
        }
    }

    #[test]
    fn reports_like_robfig_cron() {
        assert_eq!(schedule_error("* * *").unwrap(), "expected exactly 5 fields, found 3: [* * *]");
        assert_eq!(schedule_error("60 * * * *").unwrap(), "end of range (60) above maximum (59): 60");
        assert_eq!(schedule_error("* * 0 * *").unwrap(), "beginning of range (0) below minimum (1): 0");
        assert_eq!(
            schedule_error("x * * * *").unwrap(),
            "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            schedule_error("5-1 * * * *").unwrap(),
            "beginning of range (5) beyond end of range (1): 5-1"
        );
        assert_eq!(schedule_error("*/0 * * * *").unwrap(), "step of range should be a positive number: */0");
        assert_eq!(schedule_error("@often").unwrap(), "unrecognized descriptor: @often");
        assert_eq!(schedule_error("").unwrap(), "empty spec string");
        assert_eq!(schedule_error("1-2-3 * * * *").unwrap(), "too many hyphens: 1-2-3");
    }
}
