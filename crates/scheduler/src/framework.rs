//! The plugin framework, after upstream's: plugins implement extension points (pre-filter,
//! filter, pre-score, score, normalize), say which cluster events can undo their rejections,
//! and keep per-cycle data in a [`CycleState`] under a typed key.

use std::{
    any::{Any, TypeId},
    borrow::Cow,
    collections::HashMap,
};

use crate::{
    pod_info::PodInfo,
    snapshot::{Cache, NodeInfo},
};

/// Upstream's `MaxNodeScore`.
pub const MAX_NODE_SCORE: i64 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// The pod does not fit now; preempting pods may help.
    Unschedulable,
    /// The pod cannot fit on the node whatever is removed from it.
    UnschedulableAndUnresolvable,
    /// Something went wrong (not the pod's fault).
    Error,
}

/// Why a plugin rejected a pod, with upstream's reason strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub reasons: Vec<Cow<'static, str>>,
    pub plugin: &'static str,
}

impl Status {
    pub fn unschedulable(plugin: &'static str, reason: impl Into<Cow<'static, str>>) -> Status {
        Status { code: Code::Unschedulable, reasons: vec![reason.into()], plugin }
    }

    pub fn unresolvable(plugin: &'static str, reason: impl Into<Cow<'static, str>>) -> Status {
        Status { code: Code::UnschedulableAndUnresolvable, reasons: vec![reason.into()], plugin }
    }
}

pub type FilterResult = Result<(), Status>;

/// Cluster events, as a bit set: what happened that may let parked pods fit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events(pub u32);

impl Events {
    pub const NONE: Events = Events(0);
    pub const NODE_ADD: Events = Events(1);
    pub const NODE_LABEL: Events = Events(1 << 1);
    pub const NODE_TAINT: Events = Events(1 << 2);
    pub const NODE_ALLOCATABLE: Events = Events(1 << 3);
    pub const NODE_SCHEDULABLE: Events = Events(1 << 4);
    pub const ASSIGNED_POD_ADD: Events = Events(1 << 5);
    pub const ASSIGNED_POD_DELETE: Events = Events(1 << 6);
    pub const ASSIGNED_POD_UPDATE: Events = Events(1 << 7);
    /// A namespace was added or its labels changed.
    pub const NAMESPACE: Events = Events(1 << 8);
    pub const ALL: Events = Events(u32::MAX);

    pub const fn or(self, other: Events) -> Events {
        Events(self.0 | other.0)
    }

    pub fn intersects(self, other: Events) -> bool {
        self.0 & other.0 != 0
    }
}

/// Data plugins compute once per scheduling cycle, under a typed key.
#[derive(Default)]
pub struct CycleState {
    entries: HashMap<TypeId, Box<dyn Any + Send>>,
}

impl CycleState {
    pub fn write<T: Any + Send>(&mut self, value: T) {
        self.entries.insert(TypeId::of::<T>(), Box::new(value));
    }

    pub fn read<T: Any + Send>(&self) -> Option<&T> {
        self.entries.get(&TypeId::of::<T>()).and_then(|b| b.downcast_ref())
    }
}

/// What a pre-filter decided.
pub enum PreFilter {
    /// Run this plugin's filter on each node.
    Run,
    /// The filter has nothing to check for this pod.
    Skip,
}

pub trait FilterPlugin: Send + Sync {
    fn name(&self) -> &'static str;

    /// The events after which a pod this plugin rejected may fit.
    fn events(&self) -> Events;

    /// Once per cycle, before any filter: compute what the filter reads.
    ///
    /// # Errors
    /// A status when the pod cannot fit anywhere (upstream's pre-filter rejection).
    fn pre_filter(
        &self,
        _pod: &PodInfo,
        _cache: &Cache,
        _state: &mut CycleState,
    ) -> Result<PreFilter, Status> {
        Ok(PreFilter::Run)
    }

    /// Whether the pod fits on the node, as far as this plugin is concerned.
    fn filter(&self, pod: &PodInfo, node: &NodeInfo, state: &CycleState) -> FilterResult;
}

pub trait ScorePlugin: Send + Sync {
    fn name(&self) -> &'static str;

    /// Once per cycle with the feasible nodes; `false` skips scoring for this pod.
    fn pre_score(
        &self,
        _pod: &PodInfo,
        _cache: &Cache,
        _feasible: &[usize],
        _state: &mut CycleState,
    ) -> bool {
        true
    }

    fn score(&self, pod: &PodInfo, node: &NodeInfo, state: &CycleState) -> i64;

    /// Brings the raw scores into 0..=MAX_NODE_SCORE.
    fn normalize(&self, _scores: &mut [i64]) {}
}

/// The plugins of one profile and their score weights.
pub struct Framework {
    pub filters: Vec<Box<dyn FilterPlugin>>,
    pub scorers: Vec<(Box<dyn ScorePlugin>, i64)>,
}

impl Framework {
    /// Upstream's default profile: its filters in their order and its score weights.
    pub fn default_plugins() -> Framework {
        use crate::plugins::*;
        Framework {
            filters: vec![
                Box::new(node_unschedulable::NodeUnschedulable),
                Box::new(node_name::NodeName),
                Box::new(taint_toleration::TaintToleration),
                Box::new(node_affinity::NodeAffinity),
                Box::new(node_ports::NodePorts),
                Box::new(node_resources_fit::NodeResourcesFit),
                Box::new(pod_topology_spread::PodTopologySpread),
                Box::new(inter_pod_affinity::InterPodAffinity),
            ],
            scorers: vec![
                (Box::new(taint_toleration::TaintToleration), 3),
                (Box::new(node_affinity::NodeAffinity), 2),
                (Box::new(node_resources_fit::NodeResourcesFit), 1),
                (Box::new(pod_topology_spread::PodTopologySpread), 2),
                (Box::new(inter_pod_affinity::InterPodAffinity), 2),
                (Box::new(balanced_allocation::BalancedAllocation), 1),
                (Box::new(image_locality::ImageLocality), 1),
            ],
        }
    }

    /// The events any of these plugins named, for the given rejecting plugins.
    pub fn events_for(&self, plugins: &[&'static str]) -> Events {
        self.filters
            .iter()
            .filter(|f| plugins.contains(&f.name()))
            .fold(Events::NONE, |acc, f| acc.or(f.events()))
    }
}

/// Upstream's `DefaultNormalizeScore`: scales to 0..=MAX_NODE_SCORE by the largest score,
/// reversed (a high raw score is bad) when asked.
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        *s = MAX_NODE_SCORE * *s / max;
        if reverse {
            *s = MAX_NODE_SCORE - *s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_state_is_keyed_by_type() {
        struct A(u32);
        struct B(&'static str);
        let mut s = CycleState::default();
        s.write(A(1));
        s.write(B("b"));
        assert_eq!(s.read::<A>().map(|a| a.0), Some(1));
        assert_eq!(s.read::<B>().map(|b| b.0), Some("b"));
    }

    #[test]
    fn normalize_scales_and_reverses() {
        let mut s = [0, 5, 10];
        default_normalize(&mut s, false);
        assert_eq!(s, [0, 50, 100]);
        let mut s = [0, 5, 10];
        default_normalize(&mut s, true);
        assert_eq!(s, [100, 50, 0]);
        let mut s = [0, 0];
        default_normalize(&mut s, true);
        assert_eq!(s, [100, 100]);
    }
}
