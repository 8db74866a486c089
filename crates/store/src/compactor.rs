//! Background compaction by a retention window.
//!
//! History is kept for at least `min_age` and at least `min_revisions` revisions, whichever
//! keeps more (etcd's default in Kubernetes is five minutes). Works with any [`Store`].

use std::{collections::VecDeque, sync::Arc, time::Duration};

use tokio::time::Instant;

use crate::{Revision, Store};

/// How much history to keep.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    pub min_age: Duration,
    pub min_revisions: Revision,
    /// How often to compact.
    pub interval: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            min_age: Duration::from_secs(300),
            min_revisions: 10_000,
            interval: Duration::from_secs(30),
        }
    }
}

/// Picks compaction targets from revision samples taken over time.
#[derive(Debug, Default)]
pub struct Planner {
    samples: VecDeque<(Instant, Revision)>,
}

impl Planner {
    /// Records the revision seen at `now` and returns the revision to compact to, if any.
    pub fn plan(&mut self, retention: &Retention, now: Instant, revision: Revision) -> Option<Revision> {
        self.samples.push_back((now, revision));
        // The newest sample at least `min_age` old bounds what time allows us to drop.
        let mut by_age = None;
        while let Some(&(at, rev)) = self.samples.front() {
            if now.duration_since(at) < retention.min_age {
                break;
            }
            by_age = Some(rev);
            self.samples.pop_front();
        }
        if let Some(rev) = by_age {
            // Keep it as the oldest sample: it is still the bound until a newer one ages.
            self.samples.push_front((now - retention.min_age, rev));
        }
        let target = by_age?.min(revision - retention.min_revisions);
        (target > 1).then_some(target)
    }
}

/// Compacts `store` every `retention.interval` until the task is dropped.
pub async fn run(store: Arc<dyn Store>, retention: Retention) {
    let mut planner = Planner::default();
    let mut tick = tokio::time::interval(retention.interval);
    loop {
        tick.tick().await;
        let revision = match store.revision().await {
            Ok(rev) => rev,
            Err(err) => {
                tracing::warn!(error = %err, "compactor: reading the revision failed");
                continue;
            }
        };
        if let Some(target) = planner.plan(&retention, Instant::now(), revision) {
            match store.compact(target).await {
                Ok(()) => tracing::debug!(revision = target, "compacted"),
                Err(err) => tracing::warn!(error = %err, revision = target, "compaction failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retention() -> Retention {
        Retention { min_age: Duration::from_secs(300), min_revisions: 100, interval: Duration::from_secs(30) }
    }

    #[test]
    fn nothing_is_compacted_before_the_age_window_passes() {
        let mut p = Planner::default();
        let t0 = Instant::now();
        assert_eq!(p.plan(&retention(), t0, 50_000), None);
        assert_eq!(p.plan(&retention(), t0 + Duration::from_secs(299), 60_000), None);
    }

    #[test]
    fn age_window_keeps_more_when_writes_are_fast() {
        let mut p = Planner::default();
        let t0 = Instant::now();
        p.plan(&retention(), t0, 10_000);
        p.plan(&retention(), t0 + Duration::from_secs(200), 20_000);
        // At 300 s the 10,000 sample is old enough; the revision window alone would allow 29,900.
        assert_eq!(p.plan(&retention(), t0 + Duration::from_secs(300), 30_000), Some(10_000));
        assert_eq!(p.plan(&retention(), t0 + Duration::from_secs(500), 40_000), Some(20_000));
    }

    #[test]
    fn revision_window_keeps_more_when_writes_are_slow() {
        let mut p = Planner::default();
        let t0 = Instant::now();
        p.plan(&retention(), t0, 150);
        assert_eq!(p.plan(&retention(), t0 + Duration::from_secs(400), 180), Some(80));
    }
}
