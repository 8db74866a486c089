//! Per-node counts of the placed pods that a selector matches, kept incrementally.
//!
//! Pod affinity and topology spreading both ask "how many placed pods match this selector in
//! each topology domain?" for every pod they schedule. Walking every placed pod per cycle made
//! the 1,000th pod of a Deployment cost a thousand selector matches; instead the cache keeps,
//! for each selector a plugin has asked about, the number of matching pods per node. An entry
//! is built by one walk the first time it is asked for and then follows every pod add, assume,
//! forget and removal. Entries unused for a while are dropped and their number is capped, so
//! memory stays bounded however many selectors pass through.

use std::{collections::HashMap, sync::Arc};

use crate::{
    labels::{Labels, Selector},
    pod_info::PodInfo,
    snapshot::NodeInfo,
};

/// Which pods a term or constraint selects, comparable so that the pods of one Deployment
/// (whose terms are alike) share one set of counts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PodMatcher {
    /// A pod in one of these namespaces is in scope.
    pub namespaces: Vec<String>,
    /// So is a pod whose namespace's labels match; `nothing` when the term has none.
    pub namespace_selector: Selector,
    pub selector: Selector,
    /// Topology spreading leaves terminating pods out; pod affinity counts them.
    pub skip_terminating: bool,
}

impl PodMatcher {
    /// Whether `pod` is selected; `ns_labels` are the labels of its namespace, which the
    /// namespace selector reads.
    pub fn matches_in(&self, pod: &PodInfo, ns_labels: &Labels) -> bool {
        if self.skip_terminating && pod.terminating {
            return false;
        }
        let in_namespace = self.namespaces.contains(&pod.namespace)
            || (!self.namespace_selector.is_nothing() && self.namespace_selector.matches(ns_labels));
        in_namespace && self.selector.matches(&pod.labels)
    }

    /// [`PodMatcher::matches_in`] for a matcher whose namespace selector has been resolved
    /// (`Namespaces::resolve`), as every key of the counts below is; an unresolved one sees
    /// only the namespace's name label.
    pub fn matches(&self, pod: &PodInfo) -> bool {
        if self.namespace_selector.is_nothing() {
            return self.matches_in(pod, &Labels::new());
        }
        self.matches_in(pod, &crate::namespaces::name_label(&pod.namespace))
    }
}

/// Bucket (a node name, or a node label's value) → number of placed pods there matching every
/// matcher of a key. Empty buckets are absent, so counts are as large as the set of places
/// the selector's pods are in.
pub type Counts = HashMap<String, i64>;

/// At most this many selectors are counted at once; the least recently used goes first.
pub(crate) const MAX_ENTRIES: usize = 256;
/// Every this many look-ups, entries not asked for in the last `IDLE_LOOKUPS` are dropped, so
/// the selectors of Deployments long since scheduled stop costing on every pod event.
const SWEEP_EVERY: u64 = 1024;
const IDLE_LOOKUPS: u64 = 8192;

/// The counts kept for one key: per node (`None`), and per value of each topology key asked
/// for (existing nodes only, as upstream's snapshot holds no deleted nodes). Shared with the
/// cycles that read them; a change while a cycle still holds them copies them.
struct Group {
    by: Vec<(Option<String>, Arc<Counts>)>,
    last_used: u64,
}

/// The counts for each key (a conjunction of matchers: a pod counts when all match).
#[derive(Default)]
pub struct MatchIndex {
    entries: HashMap<Vec<PodMatcher>, Group>,
    clock: u64,
}

fn matches_all(key: &[PodMatcher], pod: &PodInfo) -> bool {
    key.iter().all(|m| m.matches(pod))
}

/// Where a pod on `node` is counted for `by`, if anywhere.
fn bucket<'a>(by: Option<&str>, node: &'a NodeInfo) -> Option<&'a String> {
    match by {
        None => Some(&node.name),
        Some(key) if node.exists => node.labels.get(key),
        Some(_) => None,
    }
}

pub(crate) fn bump(counts: &mut Arc<Counts>, bucket: &str, delta: i64) {
    let counts = Arc::make_mut(counts);
    match counts.get_mut(bucket) {
        Some(n) => {
            *n += delta;
            if *n == 0 {
                counts.remove(bucket);
            }
        }
        None => {
            counts.insert(bucket.to_string(), delta);
        }
    }
}

impl MatchIndex {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A pod was placed on (`delta` 1) or taken off (`delta` -1) a node.
    pub fn pod_changed(&mut self, pod: &PodInfo, node: &NodeInfo, delta: i64) {
        for (key, group) in &mut self.entries {
            if !matches_all(key, pod) {
                continue;
            }
            for (by, counts) in &mut group.by {
                if let Some(b) = bucket(by.as_deref(), node) {
                    bump(counts, b, delta);
                }
            }
        }
    }

    /// Node labels changed, or a node with pods came or went: the per-value counts are
    /// rebuilt when next asked for (rare next to pod changes).
    pub fn nodes_changed(&mut self) {
        for group in self.entries.values_mut() {
            group.by.retain(|(by, _)| by.is_none());
        }
    }

    /// Makes sure each (key, by) has counts, building missing ones with `walk` (which yields
    /// every placed pod with its node), and returns them in the keys' order.
    pub fn lookup(
        &mut self,
        keys: &[(&[PodMatcher], Option<&str>)],
        walk: impl Fn(&mut dyn FnMut(&PodInfo, &NodeInfo)),
    ) -> Vec<Arc<Counts>> {
        self.clock += 1;
        if self.clock.is_multiple_of(SWEEP_EVERY) {
            let horizon = self.clock.saturating_sub(IDLE_LOOKUPS);
            self.entries.retain(|_, e| e.last_used >= horizon);
        }
        let mut out = Vec::with_capacity(keys.len());
        for (key, by) in keys {
            if !self.entries.contains_key(*key) && self.entries.len() >= MAX_ENTRIES {
                self.evict_oldest(keys);
            }
            let group =
                self.entries.entry(key.to_vec()).or_insert_with(|| Group { by: Vec::new(), last_used: 0 });
            group.last_used = self.clock;
            if let Some((_, counts)) = group.by.iter().find(|(b, _)| b.as_deref() == *by) {
                out.push(counts.clone());
                continue;
            }
            let mut counts = Counts::new();
            walk(&mut |pod, node| {
                if let Some(b) = bucket(*by, node).filter(|_| matches_all(key, pod)) {
                    *counts.entry(b.clone()).or_insert(0) += 1;
                }
            });
            let counts = Arc::new(counts);
            group.by.push((by.map(str::to_string), counts.clone()));
            out.push(counts);
        }
        out
    }

    /// Drops the least recently used entry that this look-up does not need.
    fn evict_oldest(&mut self, keep: &[(&[PodMatcher], Option<&str>)]) {
        let oldest = self
            .entries
            .iter()
            .filter(|(k, _)| !keep.iter().any(|(kk, _)| *kk == k.as_slice()))
            .min_by_key(|(_, e)| e.last_used)
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            self.entries.remove(&k);
        }
    }
}
