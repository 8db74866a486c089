//! Helpers for the plugins' unit tests: nodes and pods from JSON, run through the same
//! conversion the scheduler uses.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::{
    framework::{CycleState, FilterPlugin, FilterResult, PreFilter},
    pod_info::{PodInfo, PodRef},
    snapshot::Cache,
};

pub fn pod(json: serde_json::Value) -> PodRef {
    let mut p: Pod = serde_json::from_value(json).unwrap();
    let meta = &mut p.metadata;
    meta.namespace.get_or_insert_with(|| "default".into());
    if meta.uid.is_none() {
        meta.uid = meta.name.clone();
    }
    Arc::new(PodInfo::new(&p))
}

pub fn node(json: serde_json::Value) -> Node {
    serde_json::from_value(json).unwrap()
}

pub fn cache(nodes: &[Node], pods: &[PodRef]) -> Cache {
    let mut c = Cache::new();
    for n in nodes {
        c.upsert_node(n);
    }
    for p in pods {
        c.add_bound_pod(p.clone());
    }
    c
}

/// Runs pre-filter and filter of one plugin for `pod` on the named node.
pub fn run_filter(plugin: &dyn FilterPlugin, pod: &PodInfo, cache: &Cache, node: &str) -> FilterResult {
    let mut state = CycleState::default();
    match plugin.pre_filter(pod, cache, &mut state)? {
        PreFilter::Skip => Ok(()),
        PreFilter::Run => plugin.filter(pod, cache.node(node).unwrap(), &state),
    }
}

/// The first reason of a filter's rejection, or "ok".
pub fn outcome(r: FilterResult) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(s) => s.reasons.join(", "),
    }
}
