//! The CRI log format and the kubelet's log options over it, without I/O.
//!
//! Each line of a CRI log file is `<RFC3339Nano time> <stdout|stderr> <P|F> <text>`; `P` marks
//! a part of a longer line whose rest follows in the next records, `F` the end of a line.

use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use jiff::Timestamp;

/// One record of a CRI log file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub time: Timestamp,
    /// The time as written, so that `timestamps=true` repeats it unchanged.
    pub time_text: &'a str,
    pub stream: &'a str,
    /// `P`: the line goes on in the next record.
    pub partial: bool,
    pub text: &'a str,
}

/// Parses one line of a CRI log file (without its newline).
///
/// # Errors
/// If the line lacks a field, the time is not RFC 3339 or the tag is neither `P` nor `F`.
pub fn parse(line: &str) -> Result<Record<'_>> {
    let mut fields = line.splitn(4, ' ');
    let (Some(time_text), Some(stream), Some(tags)) = (fields.next(), fields.next(), fields.next()) else {
        bail!("a CRI log line needs a time, a stream and a tag: {line:?}");
    };
    let text = fields.next().unwrap_or_default();
    let time = time_text.parse::<Timestamp>().with_context(|| format!("log time {time_text:?}"))?;
    if stream != "stdout" && stream != "stderr" {
        bail!("unknown log stream {stream:?}");
    }
    // Tags may carry more flags after ':' (CRI reserves them); the first says P or F.
    let partial = match tags.split(':').next() {
        Some("P") => true,
        Some("F") => false,
        _ => bail!("unknown log tag {tags:?}"),
    };
    Ok(Record { time, time_text, stream, partial, text })
}

/// Formats one full line as a CRI log record (with its newline), as a runtime writes it.
pub fn format(time: Timestamp, stream: &str, text: &str) -> String {
    let mut line = String::with_capacity(text.len() + 48);
    let _ = writeln!(line, "{} {stream} F {text}", rfc3339_nano(time));
    line
}

/// Go's RFC3339Nano: UTC, fraction without trailing zeros.
pub fn rfc3339_nano(time: Timestamp) -> String {
    let mut text = time.strftime("%Y-%m-%dT%H:%M:%S%.f").to_string();
    if text.contains('.') {
        while text.ends_with('0') {
            text.pop();
        }
        if text.ends_with('.') {
            text.pop();
        }
    }
    text.push('Z');
    text
}

/// The kubelet's log options (`PodLogOptions` as the agent gets them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<u64>,
    pub since: Option<Timestamp>,
    pub limit_bytes: Option<u64>,
}

impl Options {
    /// Reads the query parameters of `GET /containerLogs/...` (upstream's names).
    /// `sinceSeconds` is turned into a time against `now`.
    ///
    /// # Errors
    /// On values upstream rejects: non-numbers, negative counts, a bad time, both since forms.
    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: Timestamp,
    ) -> Result<Options> {
        let mut options = Options::default();
        let mut since_seconds = None;
        let mut since_time = None;
        let flag = |key: &str, value: &str| match value {
            "" | "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => bail!("{key}: {value:?} is not a boolean"),
        };
        for (key, value) in pairs {
            match key {
                "follow" => options.follow = flag(key, value)?,
                "previous" => options.previous = flag(key, value)?,
                "timestamps" => options.timestamps = flag(key, value)?,
                "tailLines" => {
                    let n: i64 = value.parse().with_context(|| format!("tailLines: {value:?}"))?;
                    // kubectl sends -1 for "all"; upstream's API rejects other negatives.
                    options.tail_lines = (n >= 0).then_some(n as u64);
                }
                "limitBytes" => {
                    let n: i64 = value.parse().with_context(|| format!("limitBytes: {value:?}"))?;
                    if n < 1 {
                        bail!("limitBytes: must be greater than 0");
                    }
                    options.limit_bytes = Some(n as u64);
                }
                "sinceSeconds" => {
                    let n: i64 = value.parse().with_context(|| format!("sinceSeconds: {value:?}"))?;
                    if n < 1 {
                        bail!("sinceSeconds: must be greater than 0");
                    }
                    since_seconds = Some(n);
                }
                "sinceTime" => {
                    since_time =
                        Some(value.parse::<Timestamp>().with_context(|| format!("sinceTime: {value:?}"))?);
                }
                _ => {}
            }
        }
        options.since = match (since_seconds, since_time) {
            (Some(_), Some(_)) => bail!("at most one of sinceTime or sinceSeconds may be specified"),
            (Some(s), None) => now.checked_sub(jiff::SignedDuration::from_secs(s)).ok(),
            (None, t) => t,
        };
        Ok(options)
    }
}

/// Turns CRI records into what the client reads, applying `since`, `timestamps` and
/// `limitBytes`. `tailLines` is applied to the file's existing records by [`tail_start`].
#[derive(Debug)]
pub struct Renderer {
    options: Options,
    written: u64,
}

impl Renderer {
    pub fn new(options: Options) -> Renderer {
        Renderer { options, written: 0 }
    }

    /// Whether `limitBytes` has been reached: nothing more will be written.
    pub fn done(&self) -> bool {
        self.options.limit_bytes.is_some_and(|limit| self.written >= limit)
    }

    /// Appends what `record` shows the client to `out`.
    pub fn render(&mut self, record: &Record<'_>, out: &mut Vec<u8>) {
        if self.done() || self.options.since.is_some_and(|since| record.time < since) {
            return;
        }
        let start = out.len();
        if self.options.timestamps {
            out.extend_from_slice(record.time_text.as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(record.text.as_bytes());
        if !record.partial {
            out.push(b'\n');
        }
        let mut added = (out.len() - start) as u64;
        if let Some(limit) = self.options.limit_bytes {
            let room = limit.saturating_sub(self.written);
            if added > room {
                out.truncate(start + room as usize);
                added = room;
            }
        }
        self.written += added;
    }
}

/// The index of the first record to show for `tail` lines out of `records`: a line is a run
/// of `P` records closed by an `F` (an unclosed run at the end counts as a line too).
pub fn tail_start(records: &[Record<'_>], tail: Option<u64>) -> usize {
    let Some(tail) = tail else { return 0 };
    if tail == 0 {
        return records.len();
    }
    let mut lines = 0;
    for (i, record) in records.iter().enumerate().rev() {
        // A record closing a line begins, scanning backwards, a new line.
        let closes = !record.partial || i + 1 == records.len();
        if closes {
            if lines == tail {
                return i + 1;
            }
            lines += 1;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn render_all(lines: &[&str], options: Options) -> String {
        let records: Vec<_> = lines.iter().map(|l| parse(l).unwrap()).collect();
        let start = tail_start(&records, options.tail_lines);
        let mut renderer = Renderer::new(options);
        let mut out = Vec::new();
        for r in &records[start..] {
            renderer.render(r, &mut out);
        }
        String::from_utf8(out).unwrap()
    }

    const LOG: &[&str] = &[
        "2026-01-01T00:00:01.5Z stdout F one",
        "2026-01-01T00:00:02Z stderr P tw",
        "2026-01-01T00:00:02.1Z stderr F o",
        "2026-01-01T00:00:03Z stdout F three has spaces ",
    ];

    #[test]
    fn parses_records() {
        let r = parse("2026-01-01T00:00:02.123456789Z stderr P a b").unwrap();
        assert_eq!((r.stream, r.partial, r.text), ("stderr", true, "a b"));
        assert_eq!(r.time, ts("2026-01-01T00:00:02.123456789Z"));
        assert_eq!(parse("2026-01-01T00:00:02Z stdout F").unwrap().text, "");
        assert_eq!(parse("2026-01-01T00:00:02Z stdout F:x y").unwrap().text, "y");
        assert!(parse("garbage").is_err());
        assert!(parse("2026-01-01T00:00:02Z stdin F x").is_err());
        assert!(parse("2026-01-01T00:00:02Z stdout Q x").is_err());
        assert!(parse("yesterday stdout F x").is_err());
    }

    #[test]
    fn formats_as_runtimes_write() {
        let line = format(ts("2026-01-01T00:00:02.120Z"), "stdout", "hi");
        assert_eq!(line, "2026-01-01T00:00:02.12Z stdout F hi\n");
        assert_eq!(rfc3339_nano(ts("2026-01-01T00:00:02Z")), "2026-01-01T00:00:02Z");
        assert_eq!(parse(line.trim_end()).unwrap().text, "hi");
    }

    #[test]
    fn joins_partial_lines_and_tails_whole_lines() {
        assert_eq!(render_all(LOG, Options::default()), "one\ntwo\nthree has spaces \n");
        let tail = |n| render_all(LOG, Options { tail_lines: Some(n), ..Options::default() });
        assert_eq!(tail(1), "three has spaces \n");
        assert_eq!(tail(2), "two\nthree has spaces \n");
        assert_eq!(tail(3), "one\ntwo\nthree has spaces \n");
        assert_eq!(tail(9), "one\ntwo\nthree has spaces \n");
        assert_eq!(tail(0), "");
    }

    #[test]
    fn timestamps_since_and_limit() {
        let stamped = render_all(&LOG[..1], Options { timestamps: true, ..Options::default() });
        assert_eq!(stamped, "2026-01-01T00:00:01.5Z one\n");
        let since = Options { since: Some(ts("2026-01-01T00:00:02.05Z")), ..Options::default() };
        assert_eq!(render_all(LOG, since), "o\nthree has spaces \n");
        let limited = Options { limit_bytes: Some(6), ..Options::default() };
        assert_eq!(render_all(LOG, limited), "one\ntw");
    }

    #[test]
    fn reads_query_options() {
        let now = ts("2026-01-01T00:01:00Z");
        let o = Options::from_query(
            [("follow", "true"), ("tailLines", "5"), ("sinceSeconds", "60"), ("limitBytes", "10")],
            now,
        )
        .unwrap();
        assert!(o.follow && !o.previous);
        assert_eq!((o.tail_lines, o.limit_bytes), (Some(5), Some(10)));
        assert_eq!(o.since, Some(ts("2026-01-01T00:00:00Z")));
        assert_eq!(Options::from_query([("tailLines", "-1")], now).unwrap().tail_lines, None);
        assert!(
            Options::from_query([("sinceSeconds", "1"), ("sinceTime", "2026-01-01T00:00:00Z")], now).is_err()
        );
        assert!(Options::from_query([("limitBytes", "0")], now).is_err());
        assert!(Options::from_query([("follow", "maybe")], now).is_err());
    }
}
