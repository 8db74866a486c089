//! The `/metrics/resource` text, with upstream's metric names, help and label names.

use std::{collections::BTreeMap, fmt::Write as _};

/// The node's usage at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NodeUsage {
    pub cpu_seconds: f64,
    pub memory_working_set_bytes: u64,
    /// Unix milliseconds of the reading.
    pub timestamp_ms: i64,
}

/// One running container's usage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContainerUsage {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub cpu_seconds: f64,
    pub memory_working_set_bytes: u64,
    /// Unix seconds.
    pub start_time: f64,
    /// Unix milliseconds of the reading.
    pub timestamp_ms: i64,
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} [STABLE] {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The exposition: containers, then node, then pods (summed from their containers), then
/// `resource_scrape_error` (1 when the runtime could not be read).
pub fn render(node: &NodeUsage, containers: &[ContainerUsage], scrape_error: bool) -> String {
    let mut out = String::new();
    let labels = |c: &ContainerUsage| {
        format!(
            "container=\"{}\",namespace=\"{}\",pod=\"{}\"",
            escape(&c.container),
            escape(&c.namespace),
            escape(&c.pod)
        )
    };
    family(
        &mut out,
        "container_cpu_usage_seconds_total",
        "counter",
        "Cumulative cpu time consumed by the container in core-seconds",
    );
    for c in containers {
        let _ = writeln!(
            out,
            "container_cpu_usage_seconds_total{{{}}} {} {}",
            labels(c),
            c.cpu_seconds,
            c.timestamp_ms
        );
    }
    family(
        &mut out,
        "container_memory_working_set_bytes",
        "gauge",
        "Current working set of the container in bytes",
    );
    for c in containers {
        let _ = writeln!(
            out,
            "container_memory_working_set_bytes{{{}}} {} {}",
            labels(c),
            c.memory_working_set_bytes,
            c.timestamp_ms
        );
    }
    family(
        &mut out,
        "container_start_time_seconds",
        "gauge",
        "Start time of the container since unix epoch in seconds",
    );
    for c in containers {
        let _ = writeln!(
            out,
            "container_start_time_seconds{{{}}} {} {}",
            labels(c),
            c.start_time,
            c.timestamp_ms
        );
    }
    family(
        &mut out,
        "node_cpu_usage_seconds_total",
        "counter",
        "Cumulative cpu time consumed by the node in core-seconds",
    );
    let _ = writeln!(out, "node_cpu_usage_seconds_total {} {}", node.cpu_seconds, node.timestamp_ms);
    family(&mut out, "node_memory_working_set_bytes", "gauge", "Current working set of the node in bytes");
    let _ = writeln!(
        out,
        "node_memory_working_set_bytes {} {}",
        node.memory_working_set_bytes, node.timestamp_ms
    );

    let mut pods: BTreeMap<(&str, &str), (f64, u64, i64)> = BTreeMap::new();
    for c in containers {
        let pod = pods.entry((&c.namespace, &c.pod)).or_default();
        pod.0 += c.cpu_seconds;
        pod.1 += c.memory_working_set_bytes;
        pod.2 = pod.2.max(c.timestamp_ms);
    }
    let pod_labels =
        |(ns, pod): &(&str, &str)| format!("namespace=\"{}\",pod=\"{}\"", escape(ns), escape(pod));
    family(
        &mut out,
        "pod_cpu_usage_seconds_total",
        "counter",
        "Cumulative cpu time consumed by the pod in core-seconds",
    );
    for (key, (cpu, _, at)) in &pods {
        let _ = writeln!(out, "pod_cpu_usage_seconds_total{{{}}} {cpu} {at}", pod_labels(key));
    }
    family(&mut out, "pod_memory_working_set_bytes", "gauge", "Current working set of the pod in bytes");
    for (key, (_, memory, at)) in &pods {
        let _ = writeln!(out, "pod_memory_working_set_bytes{{{}}} {memory} {at}", pod_labels(key));
    }
    family(
        &mut out,
        "resource_scrape_error",
        "gauge",
        "1 if there was an error while getting container metrics, 0 otherwise",
    );
    let _ = writeln!(out, "resource_scrape_error {}", u8::from(scrape_error));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_node_and_pod_totals_render_as_prometheus_text() {
        let node = NodeUsage { cpu_seconds: 12.5, memory_working_set_bytes: 1 << 30, timestamp_ms: 1_000 };
        let c = |name: &str, cpu: f64| ContainerUsage {
            namespace: "default".into(),
            pod: "web".into(),
            container: name.into(),
            cpu_seconds: cpu,
            memory_working_set_bytes: 100,
            start_time: 1_700_000_000.0,
            timestamp_ms: 2_000,
        };
        let text = render(&node, &[c("app", 1.5), c("side\"car", 0.5)], false);
        assert!(text.contains(
            "container_cpu_usage_seconds_total{container=\"app\",namespace=\"default\",pod=\"web\"} 1.5 2000\n"
        ));
        assert!(text.contains("container=\"side\\\"car\""));
        assert!(text.contains(
            "# TYPE node_cpu_usage_seconds_total counter\nnode_cpu_usage_seconds_total 12.5 1000\n"
        ));
        assert!(text.contains("node_memory_working_set_bytes 1073741824 1000\n"));
        assert!(text.contains("pod_cpu_usage_seconds_total{namespace=\"default\",pod=\"web\"} 2 2000\n"));
        assert!(text.contains("pod_memory_working_set_bytes{namespace=\"default\",pod=\"web\"} 200 2000\n"));
        assert!(text.ends_with("resource_scrape_error 0\n"));
        assert!(render(&node, &[], true).ends_with("resource_scrape_error 1\n"));
    }
}
