//! Pod startup benchmark: a real `tug agent` on its own containerd, with the image already on
//! the node, measured from the create request to the moment the pod is Running and Ready (as
//! upstream's pod startup SLI, which also excludes image pulls). 100 pods one after another,
//! then 100 in batches of 30 created at once; p50/p99 of each, and the agent's memory idle and
//! with 100 pods running. Needs root and Debian's containerd, runc and CNI plugins.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::{
    Api,
    api::{DeleteParams, ListParams, PostParams},
    runtime::{WatchStreamExt, watcher},
};
use tokio::sync::Notify;
use tug_oci::testing::{LocalRegistry, can_run_containers, kill_shims, unmount_under};

use crate::{
    api::{Server, tug_binary},
    procstat::memory_mib,
    stats::Samples,
};

const IMAGE: &str = "registry.k8s.io/pause:3.10";
const BATCH: usize = 30;
/// Nothing here comes near this; it only stops a stuck run.
const LIMIT: Duration = Duration::from_secs(600);

/// A real `tug agent` with its own dirs; on drop its containers, mounts and bridge go too.
struct Agent {
    child: Child,
    dir: tempfile::TempDir,
    bridge: String,
}

impl Agent {
    fn start(server: &Server, registry: &LocalRegistry, scratch: &Path) -> anyhow::Result<Agent> {
        let (url, token) = server.join()?;
        let dir = tempfile::Builder::new().prefix("tug-bench-agent-").tempdir_in(scratch)?;
        let bridge = "tugbench0".to_string();
        let port = std::net::TcpListener::bind("0.0.0.0:0")?.local_addr()?.port();
        let tug = tug_binary();
        let mut child = Command::new(&tug)
            .args(["agent", "--server", &url, "--token", &token, "--node-name", "bench-node"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--run-dir")
            .arg(dir.path().join("run"))
            .args(["--kubelet-port", &port.to_string(), "--cni-bridge", &bridge])
            .args(["--registry-mirror", &format!("registry.k8s.io=http://{}", registry.host())])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {} agent", tug.display()))?;
        let stderr = child.stderr.take().context("agent stderr")?;
        std::thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
        Ok(Agent { child, dir, bridge })
    }

    fn rss_mib(&self) -> f64 {
        memory_mib(self.child.id(), "VmRSS")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        kill_shims(&self.dir.path().join("run/containerd/containerd.sock"));
        unmount_under(self.dir.path());
        let _ = Command::new("ip").args(["link", "delete", &self.bridge]).output();
    }
}

/// When each pod of the namespace was first seen Ready, from one watch.
#[derive(Clone, Default)]
struct ReadyTimes {
    seen: Arc<Mutex<HashMap<String, Instant>>>,
    changed: Arc<Notify>,
}

impl ReadyTimes {
    fn follow(&self, pods: Api<Pod>) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut events =
                watcher(pods, watcher::Config::default()).default_backoff().applied_objects().boxed();
            while let Some(event) = events.next().await {
                let Ok(pod) = event else { continue };
                if is_ready(&pod) {
                    let name = pod.metadata.name.unwrap_or_default();
                    if let Ok(mut seen) = this.seen.lock() {
                        seen.entry(name).or_insert_with(Instant::now);
                    }
                    this.changed.notify_waiters();
                }
            }
        });
    }

    /// Waits until every pod of `names` has been seen Ready; their times.
    async fn wait(&self, names: &[String]) -> anyhow::Result<Vec<Instant>> {
        let deadline = Instant::now() + LIMIT;
        loop {
            let notified = self.changed.notified();
            {
                let seen = self.seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                let times: Option<Vec<Instant>> = names.iter().map(|n| seen.get(n).copied()).collect();
                if let Some(times) = times {
                    return Ok(times);
                }
            }
            if Instant::now() > deadline {
                bail!("pods not Ready within {LIMIT:?}: {names:?}");
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), notified).await;
        }
    }
}

fn is_ready(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    status.and_then(|s| s.phase.as_deref()) == Some("Running")
        && status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn pod(name: &str) -> anyhow::Result<Pod> {
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "pause", "image": IMAGE, "imagePullPolicy": "IfNotPresent"}],
        },
    }))?)
}

async fn wait_node_ready(nodes: &Api<Node>) -> anyhow::Result<()> {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(node) = nodes.get_opt("bench-node").await? {
            let conditions = node.status.and_then(|s| s.conditions).unwrap_or_default();
            if conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True") {
                return Ok(());
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "the agent's node did not become Ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn delete_all(pods: &Api<Pod>) -> anyhow::Result<()> {
    pods.delete_collection(&DeleteParams::default(), &ListParams::default()).await?;
    let deadline = Instant::now() + LIMIT;
    while !pods.list(&ListParams::default()).await?.items.is_empty() {
        anyhow::ensure!(Instant::now() < deadline, "pods not deleted within {LIMIT:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Creates `names` at once and returns each one's time from its create call to Ready.
async fn start_pods(pods: &Api<Pod>, ready: &ReadyTimes, names: &[String]) -> anyhow::Result<Vec<Duration>> {
    let creates = names.iter().map(|name| async move {
        let t = Instant::now();
        pods.create(&PostParams::default(), &pod(name)?).await.with_context(|| format!("creating {name}"))?;
        anyhow::Ok(t)
    });
    let started: Vec<Instant> = futures::future::try_join_all(creates).await?;
    let ready_at = ready.wait(names).await?;
    Ok(started.iter().zip(&ready_at).map(|(s, r)| r.saturating_duration_since(*s)).collect())
}

pub async fn run(scratch: &Path, quick: bool) -> anyhow::Result<String> {
    if !can_run_containers("the pod startup benchmark") {
        bail!("the pod startup benchmark needs root and containerd (scripts/setup.sh installs it)");
    }
    let count = if quick { 30 } else { 100 };
    std::fs::create_dir_all(scratch)?;
    let registry = LocalRegistry::with_test_images().await.context("a registry with the test images")?;
    let dir = tempfile::tempdir_in(scratch)?;
    let server = Server::start(dir.path(), &["--cluster-cidr", "10.240.0.0/16"])?;
    let client = server.client().await?;
    let agent = Agent::start(&server, &registry, scratch)?;
    wait_node_ready(&Api::all(client.clone())).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let ready = ReadyTimes::default();
    ready.follow(pods.clone());

    eprintln!("pods: warming up (the image is pulled once, then present)");
    start_pods(&pods, &ready, &["warm-up".to_string()]).await?;
    delete_all(&pods).await?;
    let idle = agent.rss_mib();

    eprintln!("pods: {count} one after another");
    let mut sequential = Samples::default();
    for i in 0..count {
        for d in start_pods(&pods, &ready, &[format!("seq-{i}")]).await? {
            sequential.push(d);
        }
    }
    let loaded = agent.rss_mib();
    delete_all(&pods).await?;

    eprintln!("pods: {count} in batches of {BATCH}");
    let mut batched = Samples::default();
    let names: Vec<String> = (0..count).map(|i| format!("batch-{i}")).collect();
    for batch in names.chunks(BATCH) {
        for d in start_pods(&pods, &ready, batch).await? {
            batched.push(d);
        }
    }
    let peak = memory_mib(agent.child.id(), "VmHWM");
    delete_all(&pods).await?;

    let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    let mut table = format!(
        "Run `scripts/bench.sh pods`. A release `tug server` and a release `tug agent` on its own \
         containerd (Debian's 1.6, runc, the CNI bridge) on the same two cores; the pause image is \
         on the node. Latency runs from the create request to the pod seen Running and Ready \
         through a watch. Targets: p50 0.5 s, p99 1.5 s; agent idle RSS under 25 MB (containerd \
         and shims aside).\n\n\
         | pod startup ({count} pods) | p50 | p99 | max |\n|---|---|---|---|\n"
    );
    for (name, samples) in
        [("one at a time", &mut sequential), (&*format!("batches of {BATCH}"), &mut batched)]
    {
        table += &format!(
            "| {name} | {} | {} | {} |\n",
            secs(samples.percentile(50.0)),
            secs(samples.percentile(99.0)),
            secs(samples.percentile(100.0))
        );
    }
    table += &format!(
        "\n| `tug agent` memory | RSS |\n|---|---|\n| idle (node Ready, no pods) | {idle:.1} MiB |\n\
         | {count} pods running | {loaded:.1} MiB |\n| peak | {peak:.1} MiB |\n"
    );
    drop(agent);
    drop(server);
    drop(registry);
    Ok(table)
}
