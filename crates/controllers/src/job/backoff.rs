//! The back-off before a Job creates pods again after failures, as upstream's pod back-off
//! store keeps it: 10 s after the first failure since the last success, doubling with each
//! further failure, capped at six minutes.

use std::time::Duration;

use jiff::Timestamp;

const BASE: Duration = Duration::from_secs(10);
const MAX: Duration = Duration::from_secs(360);

/// Failures since the last success, and when the latest of them happened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub failures_after_last_success: u32,
    pub last_failure: Option<Timestamp>,
}

impl Record {
    /// The record once pods newly seen finished (at the given times) are counted.
    pub fn with_finished(self, succeeded: &[Timestamp], failed: &[Timestamp]) -> Record {
        let Some(&latest_failure) = failed.iter().max() else {
            return if succeeded.is_empty() { self } else { Record::default() };
        };
        match succeeded.iter().max() {
            // Only failures after the latest success count.
            Some(&latest_success) => {
                let after = failed.iter().filter(|t| **t > latest_success).count() as u32;
                Record {
                    failures_after_last_success: after,
                    last_failure: (after > 0).then_some(latest_failure),
                }
            }
            None => Record {
                failures_after_last_success: self.failures_after_last_success + failed.len() as u32,
                last_failure: Some(self.last_failure.map_or(latest_failure, |t| t.max(latest_failure))),
            },
        }
    }

    /// How long after the latest failure new pods wait.
    pub fn delay(&self) -> Duration {
        match self.failures_after_last_success {
            0 => Duration::ZERO,
            n => BASE.saturating_mul(2u32.saturating_pow((n - 1).min(16))).min(MAX),
        }
    }

    /// How much of the back-off is left at `now`.
    pub fn remaining(&self, now: Timestamp) -> Duration {
        let Some(last) = self.last_failure else { return Duration::ZERO };
        let elapsed = now.duration_since(last).as_secs_f64().max(0.0);
        self.delay().saturating_sub(Duration::from_secs_f64(elapsed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn delays_double_from_ten_seconds_up_to_six_minutes() {
        let delays: Vec<u64> = (0..8)
            .map(|n| Record { failures_after_last_success: n, last_failure: None }.delay().as_secs())
            .collect();
        assert_eq!(delays, [0, 10, 20, 40, 80, 160, 320, 360]);
        let many = Record { failures_after_last_success: 1_000, last_failure: None };
        assert_eq!(many.delay(), MAX);
    }

    #[test]
    fn remaining_counts_from_the_latest_failure() {
        let r = Record::default().with_finished(&[], &[at(100), at(90)]);
        assert_eq!(r.failures_after_last_success, 2);
        assert_eq!(r.last_failure, Some(at(100)));
        assert_eq!(r.remaining(at(105)), Duration::from_secs(15));
        assert_eq!(r.remaining(at(200)), Duration::ZERO);
    }

    #[test]
    fn a_success_resets_the_failures_before_it() {
        let r = Record::default().with_finished(&[], &[at(10)]).with_finished(&[], &[at(20)]);
        assert_eq!(r.failures_after_last_success, 2);
        assert_eq!(r.with_finished(&[at(30)], &[]), Record::default());
        let mixed = r.with_finished(&[at(30)], &[at(25), at(40)]);
        assert_eq!(mixed, Record { failures_after_last_success: 1, last_failure: Some(at(40)) });
    }
}
