//! Per-node counts of the placed pods that a selector matches, kept incrementally.
//!
//! Pod affinity and topology spreading both ask "how many placed pods match this selector in
//! each topology domain?" for every pod they schedule. Walking every placed pod per cycle made
//! the 1,000th pod of a Deployment cost a thousand selector matches; instead the cache keeps,
//! for each selector a plugin has asked about, the number of matching pods per node. An entry
//! is built by one walk the first time it is asked for and then follows every pod add, assume,
//! forget and removal. Entries unused for a while are dropped and their number is capped, so
//! memory stays bounded however many selectors pass through.

use std::collections::HashMap;

use crate::{
    labels::{Labels, Selector},
    pod_info::PodInfo,
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
    /// Namespace labels are not watched: a namespace is known by its
    /// `kubernetes.io/metadata.name` label only.
    pub fn matches(&self, pod: &PodInfo) -> bool {
        if self.skip_terminating && pod.terminating {
            return false;
        }
        let in_namespace = self.namespaces.contains(&pod.namespace)
            || (!self.namespace_selector.is_nothing()
                && self.namespace_selector.matches(&namespace_labels(&pod.namespace)));
        in_namespace && self.selector.matches(&pod.labels)
    }
}

fn namespace_labels(ns: &str) -> Labels {
    [("kubernetes.io/metadata.name".to_string(), ns.to_string())].into()
}

/// Node name → number of placed pods there matching every matcher of a key. Nodes without
/// any are absent, so an entry is as large as the set of nodes the selector's pods are on.
pub type PerNode = HashMap<String, i64>;

/// At most this many selectors are counted at once; the least recently used goes first.
pub(crate) const MAX_ENTRIES: usize = 256;
/// Every this many look-ups, entries not asked for in the last `IDLE_LOOKUPS` are dropped, so
/// the selectors of Deployments long since scheduled stop costing on every pod event.
const SWEEP_EVERY: u64 = 1024;
const IDLE_LOOKUPS: u64 = 8192;

struct Entry {
    per_node: PerNode,
    last_used: u64,
}

/// The counts for each key (a conjunction of matchers: a pod counts when all match).
#[derive(Default)]
pub struct MatchIndex {
    entries: HashMap<Vec<PodMatcher>, Entry>,
    clock: u64,
}

fn matches_all(key: &[PodMatcher], pod: &PodInfo) -> bool {
    key.iter().all(|m| m.matches(pod))
}

impl MatchIndex {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A pod was placed on (`delta` 1) or taken off (`delta` -1) a node.
    pub fn pod_changed(&mut self, pod: &PodInfo, node: &str, delta: i64) {
        for (key, entry) in &mut self.entries {
            if !matches_all(key, pod) {
                continue;
            }
            match entry.per_node.get_mut(node) {
                Some(n) => {
                    *n += delta;
                    if *n == 0 {
                        entry.per_node.remove(node);
                    }
                }
                None => {
                    entry.per_node.insert(node.to_string(), delta);
                }
            }
        }
    }

    /// Makes sure each key has counts, building missing ones with `walk` (which yields every
    /// placed pod with its node), and returns them in the keys' order.
    pub fn lookup<'a>(
        &'a mut self,
        keys: &[&[PodMatcher]],
        walk: impl Fn(&mut dyn FnMut(&PodInfo, &str)),
    ) -> Vec<&'a PerNode> {
        self.clock += 1;
        if self.clock.is_multiple_of(SWEEP_EVERY) {
            let horizon = self.clock.saturating_sub(IDLE_LOOKUPS);
            self.entries.retain(|_, e| e.last_used >= horizon);
        }
        for key in keys {
            if let Some(e) = self.entries.get_mut(*key) {
                e.last_used = self.clock;
                continue;
            }
            if self.entries.len() >= MAX_ENTRIES {
                self.evict_oldest(keys);
            }
            let mut per_node = PerNode::new();
            walk(&mut |pod, node| {
                if matches_all(key, pod) {
                    *per_node.entry(node.to_string()).or_insert(0) += 1;
                }
            });
            self.entries.insert(key.to_vec(), Entry { per_node, last_used: self.clock });
        }
        keys.iter().filter_map(|k| self.entries.get(*k).map(|e| &e.per_node)).collect()
    }

    /// Drops the least recently used entry that this look-up does not need.
    fn evict_oldest(&mut self, keep: &[&[PodMatcher]]) {
        let oldest = self
            .entries
            .iter()
            .filter(|(k, _)| !keep.contains(&k.as_slice()))
            .min_by_key(|(_, e)| e.last_used)
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            self.entries.remove(&k);
        }
    }
}
