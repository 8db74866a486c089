//! Controller benchmark: a Deployment of 5,000 replicas created, then rolled to a new image,
//! end to end on simulated nodes. A release `tug server` runs the API server, scheduler and
//! controllers; `tug agent --simulate` plays the kubelets. Each phase runs from the request to
//! the moment `kubectl rollout status` would call it done, and reports the CPU of each part
//! (the controllers and the scheduler run on named threads of the server) and memory.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context;
use k8s_openapi::api::{apps::v1::Deployment, core::v1::Node};
use kube::{
    Api,
    api::{ListParams, Patch, PatchParams, PostParams},
};

use crate::{
    api::{Server, tug_binary},
    procstat::{Cpu, memory_mib},
};

const CONTROLLERS: &str = "tug-controllers";
const SCHEDULER: &str = "tug-scheduler";
/// No phase of the full run comes near this; it only stops a stuck run.
const PHASE_LIMIT: Duration = Duration::from_secs(900);

struct Sizes {
    nodes: usize,
    replicas: usize,
}

/// A `tug agent --simulate N` process, killed when dropped.
struct Agent {
    child: Child,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Agent {
    fn start(server: &Server, nodes: usize) -> anyhow::Result<Agent> {
        let (url, token) = server.join()?;
        let tug = tug_binary();
        let mut child = Command::new(&tug)
            .args(["agent", "--server", &url, "--token", &token, "--simulate", &nodes.to_string()])
            .args(["--node-name-prefix", "bench-node-"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {} agent", tug.display()))?;
        let stderr = child.stderr.take().context("agent stderr")?;
        // Drain the log so the agent never blocks on a full pipe.
        std::thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
        Ok(Agent { child })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

fn deployment(replicas: usize) -> anyhow::Result<Deployment> {
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bench"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "bench"}},
            "template": {
                "metadata": {"labels": {"app": "bench"}},
                "spec": {"containers": [{
                    "name": "pause",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                }]},
            },
        },
    }))?)
}

/// Waits until every simulated node has registered and is Ready.
async fn wait_nodes(api: &Api<Node>, count: usize) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let nodes = api.list(&ListParams::default()).await?;
        let ready = nodes
            .items
            .iter()
            .filter(|n| {
                let conditions = n.status.as_ref().and_then(|s| s.conditions.as_ref());
                conditions.is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .count();
        if ready >= count {
            return Ok(());
        }
        anyhow::ensure!(start.elapsed() < PHASE_LIMIT, "only {ready} of {count} nodes became Ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the Deployment's rollout is complete, as `kubectl rollout status` decides it.
async fn wait_rollout(api: &Api<Deployment>, replicas: usize) -> anyhow::Result<()> {
    let start = Instant::now();
    let want = replicas as i32;
    loop {
        let d = api.get_status("bench").await?;
        let generation = d.metadata.generation.unwrap_or(0);
        let status = d.status.unwrap_or_default();
        let done = status.observed_generation.unwrap_or(0) >= generation
            && status.updated_replicas.unwrap_or(0) == want
            && status.replicas.unwrap_or(0) == want
            && status.available_replicas.unwrap_or(0) == want;
        if done {
            return Ok(());
        }
        anyhow::ensure!(
            start.elapsed() < PHASE_LIMIT,
            "rollout not complete: {} updated, {} available of {want}",
            status.updated_replicas.unwrap_or(0),
            status.available_replicas.unwrap_or(0)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Phase {
    name: &'static str,
    wall: f64,
    /// Pods created plus pods deleted in the phase.
    pod_changes: usize,
    server: Cpu,
    agent: f64,
}

/// Runs `work` and measures it.
async fn measure<F: std::future::Future<Output = anyhow::Result<()>>>(
    name: &'static str,
    pod_changes: usize,
    server: &Server,
    agent: &Agent,
    work: F,
) -> anyhow::Result<Phase> {
    eprintln!("controllers: {name}");
    let (server0, agent0) = (Cpu::read(server.child.id()), Cpu::read(agent.pid()));
    let t = Instant::now();
    work.await?;
    let wall = t.elapsed().as_secs_f64();
    let (server1, agent1) = (Cpu::read(server.child.id()), Cpu::read(agent.pid()));
    Ok(Phase {
        name,
        wall,
        pod_changes,
        server: server1.since(&server0),
        agent: agent1.process - agent0.process,
    })
}

pub async fn run(scratch: &Path, quick: bool) -> anyhow::Result<String> {
    std::fs::create_dir_all(scratch)?;
    let sizes =
        if quick { Sizes { nodes: 100, replicas: 500 } } else { Sizes { nodes: 1_000, replicas: 5_000 } };
    let dir = tempfile::tempdir_in(scratch)?;
    let server = Server::start(dir.path(), &[])?;
    let client = server.client().await?;

    eprintln!("controllers: {} simulated nodes", sizes.nodes);
    let agent = Agent::start(&server, sizes.nodes)?;
    wait_nodes(&Api::all(client.clone()), sizes.nodes).await?;
    let idle = (memory_mib(server.child.id(), "VmRSS"), memory_mib(agent.pid(), "VmRSS"));

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let replicas = sizes.replicas;
    let create = measure("create", replicas, &server, &agent, async {
        deployments.create(&PostParams::default(), &deployment(replicas)?).await?;
        wait_rollout(&deployments, replicas).await
    })
    .await?;
    let roll = measure("rolling update (new image)", 2 * replicas, &server, &agent, async {
        let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [
            {"name": "pause", "image": "registry.k8s.io/pause:3.9"}]}}}});
        deployments.patch("bench", &PatchParams::default(), &Patch::Strategic(patch)).await?;
        wait_rollout(&deployments, replicas).await
    })
    .await?;
    let peak = (memory_mib(server.child.id(), "VmHWM"), memory_mib(agent.pid(), "VmHWM"));
    let end = (memory_mib(server.child.id(), "VmRSS"), memory_mib(agent.pid(), "VmRSS"));

    let mut table = format!(
        "Run `scripts/bench.sh controllers`. A release `tug server` (embedded datastore, scheduler and \
         controllers on) and `tug agent --simulate {}` on the same two cores; a Deployment of {replicas} \
         replicas (default strategy: maxSurge 25%, maxUnavailable 25%) is created, then given a new \
         image. Each phase runs until `kubectl rollout status` would report it complete. CPU seconds: \
         the server's `{CONTROLLERS}` and `{SCHEDULER}` threads, the rest of the server (API server and \
         datastore), and the agent process.\n\n\
         | phase | wall | pods created + deleted /s | controllers CPU | scheduler CPU | API server CPU | agent CPU |\n\
         |---|---|---|---|---|---|---|\n",
        sizes.nodes
    );
    for p in [&create, &roll] {
        let controllers = p.server.thread(CONTROLLERS);
        let scheduler = p.server.thread(SCHEDULER);
        table += &format!(
            "| {} | {:.1} s | {:.0} | {:.1} s | {:.1} s | {:.1} s | {:.1} s |\n",
            p.name,
            p.wall,
            p.pod_changes as f64 / p.wall,
            controllers,
            scheduler,
            p.server.process - controllers - scheduler,
            p.agent,
        );
    }
    table += &format!(
        "\n| memory (RSS) | idle, nodes joined | after the rollout | peak |\n|---|---|---|---|\n\
         | `tug server` (API server, datastore, scheduler, controllers) | {:.1} MiB | {:.1} MiB | {:.1} MiB |\n\
         | `tug agent --simulate {}` | {:.1} MiB | {:.1} MiB | {:.1} MiB |\n",
        idle.0, end.0, peak.0, sizes.nodes, idle.1, end.1, peak.1
    );
    Ok(table)
}
