//! Upstream's FailedScheduling message: "0/N nodes are available: " then, per reason, how many
//! nodes gave it, sorted as strings; then what the post-filter plugins (dynamic resources,
//! preemption) had to say.

use std::{collections::HashMap, fmt};

use crate::framework::Status;

/// What the post-filter plugins add in Kubernetes 1.34 and later: dynamic resource allocation
/// (on by default) has no claims to free for a pod without them, then preemption speaks.
pub const DRA_POST_FILTER_MSG: &str = "no new claims to deallocate";

/// Why a pod fits on no node.
#[derive(Clone, Debug, Default)]
pub struct Diagnosis {
    /// The rejection of each node that was evaluated, by node name.
    pub node_statuses: Vec<(String, Status)>,
    /// A pre-filter rejected the pod for every node.
    pub pre_filter_msg: Option<String>,
}

impl Diagnosis {
    /// The plugins that rejected the pod somewhere.
    pub fn plugins(&self) -> Vec<&'static str> {
        let mut p: Vec<&'static str> = self.node_statuses.iter().map(|(_, s)| s.plugin).collect();
        p.sort_unstable();
        p.dedup();
        p
    }
}

#[derive(Clone, Debug)]
pub struct FitError {
    pub num_all_nodes: usize,
    pub diagnosis: Diagnosis,
    /// Set after post-filter (preemption) ran, without the DRA prefix.
    pub post_filter_msg: Option<String>,
}

/// "<count> <reason>" per reason, sorted as strings (so "10 x" sorts before "2 y").
pub fn reasons_histogram<'a>(statuses: impl Iterator<Item = &'a Status>) -> String {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for status in statuses {
        for reason in &status.reasons {
            *counts.entry(reason.as_ref()).or_default() += 1;
        }
    }
    let mut lines: Vec<String> = counts.into_iter().map(|(r, n)| format!("{n} {r}")).collect();
    lines.sort();
    lines.join(", ")
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0/{} nodes are available:", self.num_all_nodes)?;
        match &self.diagnosis.pre_filter_msg {
            Some(msg) => write!(f, " {msg}.")?,
            None => {
                let histogram = reasons_histogram(self.diagnosis.node_statuses.iter().map(|(_, s)| s));
                if !histogram.is_empty() {
                    write!(f, " {histogram}.")?;
                }
            }
        }
        if let Some(post) = &self.post_filter_msg {
            write!(f, " {DRA_POST_FILTER_MSG}, preemption: {post}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Status;

    fn status(reasons: &[&'static str]) -> Status {
        let mut s = Status::unschedulable("P", reasons[0]);
        s.reasons = reasons.iter().map(|r| (*r).into()).collect();
        s
    }

    #[test]
    fn reasons_are_counted_and_sorted() {
        let e = FitError {
            num_all_nodes: 3,
            diagnosis: Diagnosis {
                node_statuses: vec![
                    ("a".into(), status(&["node(s) didn't match Pod's node affinity/selector"])),
                    ("b".into(), status(&["Insufficient cpu"])),
                    ("c".into(), status(&["node(s) didn't match Pod's node affinity/selector"])),
                ],
                pre_filter_msg: None,
            },
            post_filter_msg: Some(
                "0/3 nodes are available: 3 Preemption is not helpful for scheduling.".into(),
            ),
        };
        assert_eq!(
            e.to_string(),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector. \
             no new claims to deallocate, preemption: 0/3 nodes are available: 3 Preemption is not helpful for \
             scheduling."
        );
    }

    #[test]
    fn several_reasons_on_one_node_each_count() {
        let e = FitError {
            num_all_nodes: 1,
            diagnosis: Diagnosis {
                node_statuses: vec![("a".into(), status(&["Insufficient cpu", "Insufficient memory"]))],
                pre_filter_msg: None,
            },
            post_filter_msg: None,
        };
        assert_eq!(e.to_string(), "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory.");
    }

    #[test]
    fn counts_sort_as_strings_like_upstream() {
        let mut statuses: Vec<(String, Status)> =
            (0..10).map(|i| (format!("n{i}"), status(&["node(s) were unschedulable"]))).collect();
        statuses.push(("x".into(), status(&["Insufficient cpu"])));
        statuses.push(("y".into(), status(&["Insufficient cpu"])));
        let e = FitError {
            num_all_nodes: 12,
            diagnosis: Diagnosis { node_statuses: statuses, pre_filter_msg: None },
            post_filter_msg: None,
        };
        assert_eq!(
            e.to_string(),
            "0/12 nodes are available: 10 node(s) were unschedulable, 2 Insufficient cpu."
        );
    }
}
