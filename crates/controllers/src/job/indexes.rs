//! Completion indexes of Indexed Jobs: each pod's index, `status.completedIndexes` as the
//! compressed interval list upstream writes (`1,3-5`), and which indexes still need a pod.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;

pub const ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";

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

/// Formats indexes as ascending intervals: `0,2-4,7`.
pub fn format(set: &BTreeSet<i32>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut iter = set.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        out.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
    }
    out.join(",")
}

/// The lowest `count` indexes below `completions` that are neither completed nor have an
/// active pod.
pub fn pending(
    completions: i32,
    completed: &BTreeSet<i32>,
    active: &BTreeSet<i32>,
    count: usize,
) -> Vec<i32> {
    (0..completions.max(0)).filter(|i| !completed.contains(i) && !active.contains(i)).take(count).collect()
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
    }

    #[test]
    fn pending_skips_completed_and_active_indexes() {
        let completed: BTreeSet<i32> = [0, 2].into();
        let active: BTreeSet<i32> = [1].into();
        assert_eq!(pending(6, &completed, &active, 2), [3, 4]);
        assert_eq!(pending(3, &completed, &active, 5), Vec::<i32>::new());
    }
}
