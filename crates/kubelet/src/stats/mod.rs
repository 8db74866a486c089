//! Resource usage for the metrics API that comes next: what upstream's kubelet serves at
//! `/metrics/resource` and metrics-server scrapes, in Prometheus text format: the node's
//! cumulative CPU and working set, and each running container's (from CRI
//! `ListContainerStats`), with pod totals. [`render`] is pure; [`collect`] reads the machine
//! and the runtime at scrape time, as upstream's CRI stats provider does.

mod collect;
mod render;

pub use collect::{ResourceMetrics, node_usage};
pub use render::{ContainerUsage, NodeUsage, render};
