//! Reading usage at scrape time: the node from /proc, containers from the runtime.

use std::{collections::HashMap, sync::Arc};

use anyhow::{Context, Result};

use super::render::{ContainerUsage, NodeUsage, render};
use crate::{
    pods::config::{CONTAINER_NAME_LABEL, POD_NAME_LABEL, POD_NAMESPACE_LABEL},
    runtime::{Runtime, proto::ContainerState},
};

/// Clock ticks per second of /proc/stat (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

fn unix_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// The node's cumulative CPU (every state but idle and iowait, as cadvisor counts the root
/// cgroup) and its working set (in use less inactive file pages).
///
/// # Errors
/// When /proc/stat or /proc/meminfo cannot be read.
pub fn node_usage() -> Result<NodeUsage> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let meminfo = std::fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
    Ok(NodeUsage {
        cpu_seconds: cpu_seconds(&stat).context("/proc/stat has no cpu line")?,
        memory_working_set_bytes: working_set(&meminfo).context("/proc/meminfo lacks a field")?,
        timestamp_ms: unix_ms(),
    })
}

fn cpu_seconds(stat: &str) -> Option<f64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let busy: u64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|i| ticks.get(*i)).sum();
    Some(busy as f64 / USER_HZ)
}

fn working_set(meminfo: &str) -> Option<u64> {
    let field = |name: &str| -> Option<u64> {
        let value = meminfo.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?;
        value.trim().trim_end_matches("kB").trim().parse::<u64>().ok().map(|kib| kib * 1024)
    };
    let usage = field("MemTotal")?.saturating_sub(field("MemFree")?);
    Some(usage.saturating_sub(field("Inactive(file)")?))
}

/// The node's resource metrics, read from the runtime at each scrape.
pub struct ResourceMetrics {
    pub runtime: Arc<dyn Runtime>,
}

impl ResourceMetrics {
    /// The `/metrics/resource` text now; a runtime that cannot be read gives node figures only
    /// and `resource_scrape_error 1`.
    pub async fn scrape(&self) -> String {
        let node = node_usage().unwrap_or_else(|err| {
            tracing::warn!("reading the node's usage: {err:#}");
            NodeUsage { timestamp_ms: unix_ms(), ..NodeUsage::default() }
        });
        match self.containers().await {
            Ok(containers) => render(&node, &containers, false),
            Err(err) => {
                tracing::warn!("reading container stats: {err}");
                render(&node, &[], true)
            }
        }
    }

    async fn containers(&self) -> crate::runtime::Result<Vec<ContainerUsage>> {
        let stats = self.runtime.list_container_stats().await?;
        let started: HashMap<String, i64> = self
            .runtime
            .list_containers(None)
            .await?
            .into_iter()
            .filter(|c| c.state() == ContainerState::ContainerRunning)
            .map(|c| (c.id, c.created_at))
            .collect();
        Ok(stats
            .into_iter()
            .filter_map(|s| {
                let attributes = s.attributes?;
                // Only running containers, as upstream reports.
                let created_at = *started.get(&attributes.id)?;
                let label = |k: &str| attributes.labels.get(k).cloned().unwrap_or_default();
                let cpu = s.cpu.unwrap_or_default();
                let memory = s.memory.unwrap_or_default();
                Some(ContainerUsage {
                    namespace: label(POD_NAMESPACE_LABEL),
                    pod: label(POD_NAME_LABEL),
                    container: label(CONTAINER_NAME_LABEL),
                    cpu_seconds: cpu.usage_core_nano_seconds.map_or(0, |v| v.value) as f64 / 1e9,
                    memory_working_set_bytes: memory.working_set_bytes.map_or(0, |v| v.value),
                    start_time: created_at as f64 / 1e9,
                    timestamp_ms: cpu.timestamp.max(memory.timestamp) / 1_000_000,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_reads_from_proc() {
        assert_eq!(cpu_seconds("cpu  100 50 200 9000 30 10 20 5 7 0\ncpu0 1 2 3\n"), Some(3.85));
        let meminfo = "MemTotal: 1000 kB\nMemFree: 200 kB\nInactive(file): 300 kB\n";
        assert_eq!(working_set(meminfo), Some(500 * 1024));
        assert_eq!(working_set("MemTotal: 1 kB\n"), None);
        let node = node_usage().unwrap();
        assert!(node.cpu_seconds > 0.0 && node.memory_working_set_bytes > 0);
    }
}
