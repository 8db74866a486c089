//! Scheduler benchmark in the manner of upstream's scheduler_perf: a real `tug server` with
//! thousands of Node objects (no kubelets, as scheduler_perf), some pods placed first, then
//! the measured pods created by 64 clients; throughput from the first creation to the last
//! binding seen on a watch.

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::{
    Api, Client,
    api::PostParams,
    runtime::{WatchStreamExt, watcher},
};
use tokio::sync::mpsc;

use crate::{api::Server, procstat::Cpu, stats::Samples};

/// Upstream's published floors for 5,000 nodes (scheduler_perf thresholds).
const FLOOR_BASIC: f64 = 270.0;
const FLOOR_SPREAD: f64 = 85.0;
const ZONES: usize = 10;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    Basic,
    AntiAffinity,
    TopologySpread,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Basic => "SchedulingBasic",
            Workload::AntiAffinity => "SchedulingPodAntiAffinity",
            Workload::TopologySpread => "SchedulingTopologySpreading",
        }
    }

    fn floor(self) -> Option<f64> {
        match self {
            Workload::Basic => Some(FLOOR_BASIC),
            Workload::AntiAffinity => None,
            Workload::TopologySpread => Some(FLOOR_SPREAD),
        }
    }
}

struct Sizes {
    nodes: usize,
    init_pods: usize,
    basic_pods: usize,
    /// Anti-affinity puts at most one pod per node; spreading is the costliest per pod.
    other_pods: usize,
}

struct Outcome {
    workload: Workload,
    measured: usize,
    create_rate: f64,
    rate: f64,
    latency: Samples,
    scheduler_cpu: f64,
    server_cpu: f64,
    wall: f64,
}

fn node(i: usize) -> anyhow::Result<Node> {
    let name = format!("node-{i:05}");
    let res = serde_json::json!({"cpu": "4", "memory": "32Gi", "pods": "110"});
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "topology.kubernetes.io/zone": format!("zone-{}", i % ZONES),
        }},
        "status": {"capacity": res, "allocatable": res},
    }))?)
}

fn pod(name: &str, workload: Workload) -> anyhow::Result<Pod> {
    let mut spec = serde_json::json!({
        "containers": [{
            "name": "pause",
            "image": "registry.k8s.io/pause:3.10",
            "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}},
        }],
    });
    match workload {
        Workload::Basic => {}
        Workload::AntiAffinity => {
            spec["affinity"] = serde_json::json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"color": "green"}}}]}});
        }
        Workload::TopologySpread => {
            spec["topologySpreadConstraints"] = serde_json::json!([{"maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"color": "blue"}}}]);
        }
    }
    let color = match workload {
        Workload::Basic => "none",
        Workload::AntiAffinity => "green",
        Workload::TopologySpread => "blue",
    };
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"color": color}},
        "spec": spec,
    }))?)
}

/// Creates `names` with `clients` concurrent tasks; records when each creation started.
async fn create_all<K, F>(
    api: Api<K>,
    names: Vec<String>,
    clients: usize,
    make: F,
    started: Arc<Mutex<HashMap<String, Instant>>>,
) -> anyhow::Result<f64>
where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    F: Fn(&str) -> anyhow::Result<K> + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let names = Arc::new(names);
    let t = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (api, make, names, started) = (api.clone(), make.clone(), names.clone(), started.clone());
            tokio::spawn(async move {
                for name in names.iter().skip(c).step_by(clients) {
                    let obj = make(name)?;
                    started
                        .lock()
                        .map_err(|_| anyhow::anyhow!("poisoned"))?
                        .insert(name.clone(), Instant::now());
                    api.create(&PostParams::default(), &obj).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(names.len() as f64 / t.elapsed().as_secs_f64())
}

/// Reports each pod the first time it is seen bound.
fn watch_bindings(client: Client) -> mpsc::UnboundedReceiver<(String, Instant)> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let api: Api<Pod> = Api::namespaced(client, "default");
        let mut seen = std::collections::HashSet::new();
        let mut stream =
            std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff().applied_objects());
        while let Ok(Some(p)) = stream.try_next().await {
            let bound = p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some();
            let name = p.metadata.name.unwrap_or_default();
            if bound && seen.insert(name.clone()) && tx.send((name, Instant::now())).is_err() {
                return;
            }
        }
    });
    rx
}

async fn wait_bound(
    rx: &mut mpsc::UnboundedReceiver<(String, Instant)>,
    want: &dyn Fn(&str) -> bool,
    count: usize,
    bound: &mut HashMap<String, Instant>,
) -> anyhow::Result<()> {
    let mut n = bound.keys().filter(|k| want(k)).count();
    while n < count {
        let (name, at) = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .map_err(|_| anyhow::anyhow!("no binding for 60 s ({n} of {count} bound)"))?
            .ok_or_else(|| anyhow::anyhow!("the watch ended"))?;
        if want(&name) {
            n += 1;
        }
        bound.insert(name, at);
    }
    Ok(())
}

/// CPU seconds of the process, and of its `tug-scheduler` thread.
fn cpu_seconds(pid: u32) -> (f64, f64) {
    let cpu = Cpu::read(pid);
    (cpu.process, cpu.thread("tug-scheduler"))
}

async fn run_workload(scratch: &Path, workload: Workload, sizes: &Sizes) -> anyhow::Result<Outcome> {
    let dir = tempfile::tempdir_in(scratch)?;
    let server = Server::start(dir.path(), &["--disable-controller", "all"])?;
    let client = server.client().await?;
    let pid = server.child.id();
    let started = Arc::new(Mutex::new(HashMap::new()));

    eprintln!("scheduler/{}: {} nodes", workload.name(), sizes.nodes);
    let nodes: Api<Node> = Api::all(client.clone());
    let names = (0..sizes.nodes).map(|i| format!("{i}")).collect();
    create_all(nodes, names, 64, |i: &str| node(i.parse()?), Arc::new(Mutex::new(HashMap::new()))).await?;

    let mut rx = watch_bindings(client.clone());
    let mut bound = HashMap::new();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    eprintln!("scheduler/{}: {} pods placed first", workload.name(), sizes.init_pods);
    let names = (0..sizes.init_pods).map(|i| format!("init-{i:05}")).collect();
    create_all(pods.clone(), names, 64, |n: &str| pod(n, Workload::Basic), started.clone()).await?;
    wait_bound(&mut rx, &|n| n.starts_with("init-"), sizes.init_pods, &mut bound).await?;

    let measured = if workload == Workload::Basic { sizes.basic_pods } else { sizes.other_pods };
    eprintln!("scheduler/{}: {measured} pods measured", workload.name());
    let (cpu0, sched0) = cpu_seconds(pid);
    let t0 = Instant::now();
    let names = (0..measured).map(|i| format!("pod-{i:05}")).collect();
    let create_rate = create_all(pods, names, 64, move |n: &str| pod(n, workload), started.clone()).await?;
    wait_bound(&mut rx, &|n| n.starts_with("pod-"), measured, &mut bound).await?;
    let last = bound.iter().filter(|(n, _)| n.starts_with("pod-")).map(|(_, t)| *t).max().unwrap_or(t0);
    let wall = last.duration_since(t0).as_secs_f64();
    let (cpu1, sched1) = cpu_seconds(pid);
    let mut latency = Samples::default();
    let started = started.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    for (name, at) in bound.iter().filter(|(n, _)| n.starts_with("pod-")) {
        if let Some(s) = started.get(name) {
            latency.push(at.saturating_duration_since(*s));
        }
    }
    Ok(Outcome {
        workload,
        measured,
        create_rate,
        rate: measured as f64 / wall,
        latency,
        scheduler_cpu: sched1 - sched0,
        server_cpu: cpu1 - cpu0,
        wall,
    })
}

pub async fn run(scratch: &Path, quick: bool, basic_only: bool) -> anyhow::Result<String> {
    std::fs::create_dir_all(scratch)?;
    let sizes = if quick {
        Sizes { nodes: 500, init_pods: 100, basic_pods: 1_000, other_pods: 300 }
    } else {
        Sizes { nodes: 5_000, init_pods: 1_000, basic_pods: 10_000, other_pods: 2_000 }
    };
    let mut outcomes = Vec::new();
    let workloads: &[Workload] = if basic_only {
        &[Workload::Basic]
    } else {
        &[Workload::Basic, Workload::AntiAffinity, Workload::TopologySpread]
    };
    for &w in workloads {
        outcomes.push(run_workload(scratch, w, &sizes).await?);
    }
    let mut table = format!(
        "Run `scripts/bench.sh scheduler`. {} Node objects (4 CPU, 32 Gi, 110 pods; {ZONES} zones), {} pods \
         placed first, then the measured pods created by 64 kube-rs clients; pods/s from the first creation \
         to the last binding seen on a watch. CPU: the server process, and its `tug-scheduler` thread, \
         during the measured phase.\n\n\
         | workload | pods | tug pods/s | created/s | create→bound p50 / p99 | scheduler CPU | server CPU | upstream floor |\n\
         |---|---|---|---|---|---|---|---|\n",
        sizes.nodes, sizes.init_pods
    );
    for mut o in outcomes {
        let floor = o.workload.floor().map_or("—".to_string(), |f| format!("{f:.0} pods/s"));
        table += &format!(
            "| {} | {} | {:.0} | {:.0} | {} / {} | {:.1} s ({:.0}%) | {:.1} s ({:.0}%) | {} |\n",
            o.workload.name(),
            o.measured,
            o.rate,
            o.create_rate,
            crate::stats::ms(o.latency.percentile(50.0)),
            crate::stats::ms(o.latency.percentile(99.0)),
            o.scheduler_cpu,
            100.0 * o.scheduler_cpu / o.wall,
            o.server_cpu,
            100.0 * o.server_cpu / o.wall,
            floor,
        );
    }
    Ok(table)
}
