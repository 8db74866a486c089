//! One scheduling cycle for one pod, as upstream's `schedulePod`: pre-filter, filter a sample
//! of the nodes (upstream's adaptive percentageOfNodesToScore) starting where the last cycle
//! stopped, score the feasible ones, pick the best with a random tie-break.

use crate::{
    fit_error::{Diagnosis, FitError},
    framework::{CycleState, Framework, PreFilter, Status},
    pod_info::PodInfo,
    snapshot::{Cache, NodeInfo},
};

/// Below this many nodes all are evaluated; the sample never goes below it either.
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;

/// How many feasible nodes to look for: all below 100 nodes, else `percentage` (adaptive by
/// default: 50% minus 1% per 125 nodes, at least 5%) but at least 100.
pub fn num_feasible_nodes_to_find(percentage: Option<usize>, num_all_nodes: usize) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all_nodes;
    }
    let percentage = match percentage {
        Some(p) if p > 0 => p,
        _ => 50usize.saturating_sub(num_all_nodes / 125).max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND),
    };
    if percentage >= 100 {
        return num_all_nodes;
    }
    (num_all_nodes * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

#[derive(Debug)]
pub enum ScheduleError {
    /// "no nodes available to schedule pods"
    NoNodes,
    Fit(FitError),
}

/// What a successful cycle decided.
#[derive(Debug)]
pub struct Decision {
    pub node: String,
    pub evaluated: usize,
    pub feasible: usize,
}

/// The state of the last cycle, kept for preemption.
pub struct LastCycle {
    pub state: CycleState,
    /// Indices of the filters that ran (not skipped by their pre-filter).
    pub active_filters: Vec<usize>,
}

pub struct Algorithm {
    pub framework: Framework,
    /// `percentageOfNodesToScore`; `None` for the adaptive default.
    pub percentage: Option<usize>,
    next_start: usize,
    feasible: Vec<usize>,
    totals: Vec<i64>,
    scores: Vec<i64>,
    pub last: Option<LastCycle>,
}

impl Algorithm {
    pub fn new(framework: Framework) -> Algorithm {
        Algorithm {
            framework,
            percentage: None,
            next_start: 0,
            feasible: Vec::new(),
            totals: Vec::new(),
            scores: Vec::new(),
            last: None,
        }
    }

    /// Runs the active filters on one node; the first rejection wins, as upstream.
    pub fn run_filters(
        &self,
        active: &[usize],
        pod: &PodInfo,
        node: &NodeInfo,
        state: &CycleState,
    ) -> Result<(), Status> {
        for &i in active {
            self.framework.filters[i].filter(pod, node, state)?;
        }
        Ok(())
    }

    pub fn schedule(&mut self, pod: &PodInfo, cache: &Cache) -> Result<Decision, ScheduleError> {
        let num_nodes = cache.num_nodes();
        if num_nodes == 0 {
            return Err(ScheduleError::NoNodes);
        }
        let mut state = CycleState::default();
        let mut active = Vec::with_capacity(self.framework.filters.len());
        for (i, f) in self.framework.filters.iter().enumerate() {
            match f.pre_filter(pod, cache, &mut state) {
                Ok(PreFilter::Run) => active.push(i),
                Ok(PreFilter::Skip) => {}
                Err(status) => {
                    let msg = status.reasons.join(", ");
                    let node_statuses = cache
                        .nodes()
                        .iter()
                        .filter(|n| n.exists)
                        .map(|n| (n.name.clone(), status.clone()))
                        .collect();
                    self.last = Some(LastCycle { state, active_filters: active });
                    return Err(ScheduleError::Fit(FitError {
                        num_all_nodes: num_nodes,
                        diagnosis: Diagnosis { node_statuses, pre_filter_msg: Some(msg) },
                        post_filter_msg: None,
                    }));
                }
            }
        }

        // The nominated node (where preemption made room) is tried first.
        if let Some(nominated) = pod.nominated_node.as_deref().and_then(|n| cache.node(n))
            && nominated.exists
            && self.run_filters(&active, pod, nominated, &state).is_ok()
        {
            return Ok(Decision { node: nominated.name.clone(), evaluated: 1, feasible: 1 });
        }

        let nodes = cache.nodes();
        let to_find = num_feasible_nodes_to_find(self.percentage, num_nodes);
        // Why nodes were rejected matters only if none fits: once one does, stop recording
        // (with a spreading pod most nodes may be rejected before enough fit).
        let mut statuses: Vec<(usize, Status)> = Vec::new();
        self.feasible.clear();
        let len = nodes.len();
        let start = self.next_start % len;
        let mut processed = 0;
        for k in 0..len {
            let i = (start + k) % len;
            let node = &nodes[i];
            if !node.exists {
                continue;
            }
            processed += 1;
            match self.run_filters(&active, pod, node, &state) {
                Ok(()) => {
                    if self.feasible.is_empty() {
                        statuses = Vec::new();
                    }
                    self.feasible.push(i);
                    if self.feasible.len() >= to_find {
                        break;
                    }
                }
                Err(status) if self.feasible.is_empty() => statuses.push((i, status)),
                Err(_) => {}
            }
        }
        self.next_start = (start + processed) % len.max(1);
        let evaluated = processed;
        if self.feasible.is_empty() {
            self.last = Some(LastCycle { state, active_filters: active });
            return Err(ScheduleError::Fit(FitError {
                num_all_nodes: num_nodes,
                diagnosis: Diagnosis {
                    node_statuses: statuses.into_iter().map(|(i, s)| (nodes[i].name.clone(), s)).collect(),
                    pre_filter_msg: None,
                },
                post_filter_msg: None,
            }));
        }
        self.last = None;
        let feasible = self.feasible.len();
        if feasible == 1 {
            return Ok(Decision { node: nodes[self.feasible[0]].name.clone(), evaluated, feasible });
        }
        let best = self.score_and_select(pod, cache, &mut state);
        Ok(Decision { node: nodes[best].name.clone(), evaluated, feasible })
    }

    /// Weighted sum of the normalized scores; the highest wins, ties broken at random
    /// (reservoir sampling, as upstream's `selectHost`). Returns the node's index.
    fn score_and_select(&mut self, pod: &PodInfo, cache: &Cache, state: &mut CycleState) -> usize {
        let nodes = cache.nodes();
        self.totals.clear();
        self.totals.resize(self.feasible.len(), 0);
        for (plugin, weight) in &self.framework.scorers {
            if !plugin.pre_score(pod, cache, &self.feasible, state) {
                continue;
            }
            self.scores.clear();
            self.scores.extend(self.feasible.iter().map(|&i| plugin.score(pod, &nodes[i], state)));
            plugin.normalize(&mut self.scores);
            for (t, s) in self.totals.iter_mut().zip(&self.scores) {
                *t += s * weight;
            }
        }
        let mut best = 0;
        let mut ties = 0u32;
        for (k, &total) in self.totals.iter().enumerate() {
            if total > self.totals[best] {
                best = k;
                ties = 1;
            } else if total == self.totals[best] {
                ties += 1;
                if fastrand::u32(0..ties) == 0 {
                    best = k;
                }
            }
        }
        self.feasible[best]
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plugins::testing::*;

    #[test]
    fn sampling_follows_upstream() {
        assert_eq!(num_feasible_nodes_to_find(None, 50), 50);
        assert_eq!(num_feasible_nodes_to_find(None, 100), 100);
        // 5,000 nodes: 50 - 40 = 10%.
        assert_eq!(num_feasible_nodes_to_find(None, 5000), 500);
        // 10,000 nodes: the 5% floor.
        assert_eq!(num_feasible_nodes_to_find(None, 10000), 500);
        // Never fewer than 100.
        assert_eq!(num_feasible_nodes_to_find(Some(1), 1000), 100);
        assert_eq!(num_feasible_nodes_to_find(Some(100), 1000), 1000);
    }

    fn nodes(n: usize, cpu: &str) -> Vec<k8s_openapi::api::core::v1::Node> {
        (0..n)
            .map(|i| {
                node(json!({"metadata": {"name": format!("n{i}")},
                "status": {"allocatable": {"cpu": cpu, "memory": "1Gi", "pods": "110"}}}))
            })
            .collect()
    }

    #[test]
    fn sampling_stops_early_and_moves_the_start() {
        let c = cache(&nodes(1000, "4"), &[]);
        let mut a = Algorithm::new(Framework::default_plugins());
        let p = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}));
        let d = a.schedule(&p, &c).unwrap();
        // 1,000 nodes: 42% → 420 feasible nodes are enough.
        assert_eq!((d.evaluated, d.feasible), (420, 420));
        assert_eq!(a.next_start, 420);
    }

    #[test]
    fn the_emptiest_node_wins() {
        let c = cache(
            &nodes(3, "4"),
            &[
                pod(
                    json!({"metadata": {"name": "a"}, "spec": {"nodeName": "n0", "containers": [{"name": "c", "resources": {"requests": {"cpu": "2"}}}]}}),
                ),
                pod(
                    json!({"metadata": {"name": "b"}, "spec": {"nodeName": "n2", "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}}),
                ),
            ],
        );
        let mut a = Algorithm::new(Framework::default_plugins());
        let p = pod(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}}),
        );
        assert_eq!(a.schedule(&p, &c).unwrap().node, "n1");
    }

    #[test]
    fn no_fit_reports_every_node() {
        let mut ns = nodes(2, "250m");
        ns.push(node(json!({"metadata": {"name": "other"},
            "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "4", "memory": "1Gi", "pods": "110"}}})));
        let c = cache(&ns, &[]);
        let mut a = Algorithm::new(Framework::default_plugins());
        let p = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "c", "resources": {"requests": {"cpu": "500m"}}}]}}));
        let Err(ScheduleError::Fit(e)) = a.schedule(&p, &c) else { panic!("should not fit") };
        assert_eq!(e.num_all_nodes, 3);
        assert_eq!(
            crate::fit_error::reasons_histogram(e.diagnosis.node_statuses.iter().map(|(_, s)| s)),
            "1 node(s) had untolerated taint(s), 2 Insufficient cpu"
        );
        assert!(matches!(a.schedule(&p, &Cache::new()), Err(ScheduleError::NoNodes)));
    }
}
