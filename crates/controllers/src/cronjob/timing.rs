//! When a CronJob is due: upstream's `mostRecentScheduleTime` (the latest missed start time
//! since the last one, and roughly how many were missed) and the earliest time it considers.

use jiff::{Timestamp, tz::TimeZone};

use super::schedule::Schedule;

/// Upstream warns past this many missed start times (and starts the latest one anyway).
pub const TOO_MANY_MISSED: i64 = 100;

/// The latest start time in `(earliest, now]`, and how many there were (approximately when
/// many, as upstream counts them).
pub fn most_recent(
    schedule: &Schedule,
    tz: &TimeZone,
    earliest: Timestamp,
    now: Timestamp,
) -> Result<(Option<Timestamp>, i64), String> {
    if earliest > now {
        return Ok((None, 0));
    }
    let Some(t1) = schedule.next(earliest, tz) else { return Ok((None, 0)) };
    if t1 > now {
        return Ok((None, 0));
    }
    let Some(t2) = schedule.next(t1, tz) else { return Ok((Some(t1), 1)) };
    if t2 > now {
        return Ok((Some(t1), 1));
    }
    let between = t2.duration_since(t1).as_secs();
    if between < 1 {
        return Err("time difference between two schedules is less than 1 second".into());
    }
    let elapsed = now.duration_since(t1).as_secs();
    let missed = elapsed / between + 1;
    // Step back to just before the estimate and let the schedule find the exact latest time
    // (schedules such as `30 6-16/4 * * 1-5` are not evenly spaced).
    let back = (missed - 2).max(0).saturating_mul(between);
    let mut t = Timestamp::from_second(t1.as_second().saturating_add(back)).map_err(|e| e.to_string())?;
    let mut latest = None;
    while let Some(next) = schedule.next(t, tz).filter(|n| *n <= now) {
        latest = Some(next);
        t = next;
    }
    Ok((latest.or(Some(t1)), missed))
}

/// Where upstream starts looking: the last schedule time (else creation), moved up to
/// `now - startingDeadlineSeconds` when that is later.
pub fn earliest(
    last_schedule: Option<Timestamp>,
    created: Timestamp,
    starting_deadline: Option<i64>,
    now: Timestamp,
) -> Timestamp {
    let base = last_schedule.unwrap_or(created);
    match starting_deadline.and_then(|s| Timestamp::from_second(now.as_second() - s).ok()) {
        Some(deadline) if deadline > base => deadline,
        _ => base,
    }
}

/// The name of the Job for a start time: `<cronjob>-<minutes since the epoch>`.
pub fn job_name(cron_job: &str, scheduled: Timestamp) -> String {
    format!("{cron_job}-{}", scheduled.as_second().div_euclid(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_latest_missed_time_and_the_count() {
        let every = Schedule::parse("* * * * *").unwrap();
        let utc = TimeZone::UTC;
        assert_eq!(
            most_recent(&every, &utc, t("2025-01-01T10:00:00Z"), t("2025-01-01T10:00:30Z")),
            Ok((None, 0))
        );
        assert_eq!(
            most_recent(&every, &utc, t("2025-01-01T10:00:00Z"), t("2025-01-01T10:01:30Z")),
            Ok((Some(t("2025-01-01T10:01:00Z")), 1))
        );
        let (latest, missed) =
            most_recent(&every, &utc, t("2025-01-01T10:00:00Z"), t("2025-01-01T12:00:30Z")).unwrap();
        assert_eq!((latest, missed), (Some(t("2025-01-01T12:00:00Z")), 120));
        assert!(missed > TOO_MANY_MISSED);
        let uneven = Schedule::parse("30 6-16/4 * * 1-5").unwrap();
        let (latest, _) =
            most_recent(&uneven, &utc, t("2025-03-03T00:00:00Z"), t("2025-03-07T12:00:00Z")).unwrap();
        assert_eq!(latest, Some(t("2025-03-07T10:30:00Z")));
    }

    #[test]
    fn a_starting_deadline_moves_the_earliest_time_up() {
        let created = t("2025-01-01T00:00:00Z");
        let now = t("2025-01-01T10:00:00Z");
        assert_eq!(earliest(None, created, None, now), created);
        assert_eq!(earliest(None, created, Some(200), now), t("2025-01-01T09:56:40Z"));
        assert_eq!(
            earliest(Some(t("2025-01-01T09:59:00Z")), created, Some(200), now),
            t("2025-01-01T09:59:00Z")
        );
    }

    #[test]
    fn jobs_are_named_by_minute() {
        assert_eq!(job_name("hello", t("2025-01-01T00:01:00Z")), "hello-28928161");
    }
}
