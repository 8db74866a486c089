//! Completion indexes of Indexed Jobs: each pod's index and per-index failure counts,
//! `status.completedIndexes` / `status.failedIndexes` as the compressed interval list upstream
//! writes (`1,3-5`), and which indexes still need a pod.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;

pub const ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";
/// How many counted failures the index had before this pod was created (`backoffLimitPerIndex`).
pub const FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-failure-count";
/// How many failures an `Ignore` rule let pass before this pod was created; only written when
/// not zero.
pub const IGNORED_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-ignored-failure-count";

/// The pod's completion index, from the annotation (or the label of the same name).
pub fn of(pod: &Pod) -> Option<i32> {
    let meta = &pod.metadata;
    let value = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION))
        .or_else(|| meta.labels.as_ref().and_then(|l| l.get(ANNOTATION)))?;
    value.parse::<i32>().ok().filter(|i| *i >= 0)
}

/// A failure-count annotation; 0 when absent or not a non-negative 32-bit number (a user may
/// have edited it), as upstream falls back.
pub fn count(pod: &Pod, annotation: &str) -> i32 {
    let value = pod.metadata.annotations.as_ref().and_then(|a| a.get(annotation));
    value.and_then(|v| v.trim().parse::<i32>().ok()).filter(|n| *n >= 0).unwrap_or(0)
}

/// Parses `status.completedIndexes`, keeping the indexes below `completions`.
pub fn parse(s: &str, completions: i32) -> BTreeSet<i32> {
    let mut set = BTreeSet::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<i32>(), b.parse::<i32>()),
            None => (part.parse::<i32>(), part.parse::<i32>()),
        };
        if let (Ok(lo), Ok(hi)) = (lo, hi) {
            set.extend((lo.max(0)..=hi.min(completions - 1)).filter(|i| *i >= lo));
        }
    }
    set
}

/// Formats indexes as ascending intervals: `0,2-4,7`; a run of two is written `5,6`, as
/// upstream's interval printer does.
pub fn format(set: &BTreeSet<i32>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut iter = set.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        out.push(match end - start {
            0 => start.to_string(),
            1 => format!("{start},{end}"),
            _ => format!("{start}-{end}"),
        });
    }
    out.join(",")
}

/// The lowest `count` indexes below `completions` that are in none of `taken` (completed,
/// failed, or with an active pod).
pub fn pending(completions: i32, taken: &[&BTreeSet<i32>], count: usize) -> Vec<i32> {
    (0..completions.max(0)).filter(|i| !taken.iter().any(|s| s.contains(i))).take(count).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_indexes_round_trip_as_intervals() {
        let set = parse("0,2-4,7", 10);
        assert_eq!(set.iter().copied().collect::<Vec<_>>(), [0, 2, 3, 4, 7]);
        assert_eq!(format(&set), "0,2-4,7");
        assert_eq!(format(&BTreeSet::new()), "");
        // Indexes past completions (after a decrease) are dropped.
        assert_eq!(format(&parse("1-9", 4)), "1-3");
        let pair: BTreeSet<i32> = [0, 1, 3, 5, 6, 7].into();
        assert_eq!(format(&pair), "0,1,3,5-7");
        assert_eq!(parse("0,1,3,5-7", 10), pair);
    }

    #[test]
    fn failure_counts_fall_back_to_zero() {
        let mut p = Pod::default();
        assert_eq!(count(&p, FAILURE_COUNT), 0);
        p.metadata.annotations = Some(
            [(FAILURE_COUNT.to_string(), "2".to_string()), (IGNORED_FAILURE_COUNT.to_string(), "-1".into())]
                .into(),
        );
        assert_eq!((count(&p, FAILURE_COUNT), count(&p, IGNORED_FAILURE_COUNT)), (2, 0));
    }

    #[test]
    fn pending_skips_completed_and_active_indexes() {
        let completed: BTreeSet<i32> = [0, 2].into();
        let active: BTreeSet<i32> = [1].into();
        assert_eq!(pending(6, &[&completed, &active], 2), [3, 4]);
        assert_eq!(pending(3, &[&completed, &active], 5), Vec::<i32>::new());
        let failed: BTreeSet<i32> = [3].into();
        assert_eq!(pending(6, &[&completed, &active, &failed], 2), [4, 5]);
    }
}
