//! `tug agent`: join a server as a node, either as simulated nodes (`--simulate N`) or as this
//! machine, running containers on the agent's own containerd. The real node's pod lifecycle is
//! not built yet: for now it joins, brings up the container runtime and holds it.

use std::time::Duration;

use anyhow::{Context, bail};
use tug_kubelet::{
    connect,
    containerd::{Containerd, ContainerdConfig, Registries},
    node::{Taint, parse_bytes},
    runtime::{CriRuntime, Runtime},
    sim::{ServeConfig, SimConfig, Simulator},
};

use crate::{
    cli::{AgentArgs, SimulatedNodeArgs},
    server::ShutdownSignals,
};

/// How often the agent logs what its simulated nodes did.
const STATS_EVERY: Duration = Duration::from_secs(60);

pub async fn run_simulated(args: AgentArgs) -> anyhow::Result<()> {
    let shutdown = ShutdownSignals::install()?;
    let nodes = args.simulate.unwrap_or(0);
    let mut config = sim_config(nodes, &args.simulated)?;
    // The simulated nodes' kubelet endpoint (container logs), on loopback: the API server of a
    // test cluster runs on this host.
    config.serve = Some(ServeConfig {
        addr: ([127, 0, 0, 1], 0).into(),
        log_dir: args.data_dir.join("agent").join("sim-logs"),
        token: args.token.trim().to_string(),
    });
    let client = connect::connect(&args.server, &args.token)
        .await
        .with_context(|| format!("joining {}", args.server))?;
    let started = std::time::Instant::now();
    let handle = Simulator::start(client, config).await?;
    tracing::info!(
        nodes,
        seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
        "simulated nodes registered"
    );
    let stats = async {
        let mut every = tokio::time::interval(STATS_EVERY);
        every.tick().await;
        loop {
            every.tick().await;
            tracing::info!("simulated nodes: {}", handle.stats().summary());
        }
    };
    tokio::select! {
        _ = shutdown.wait() => {}
        _ = stats => {}
    }
    tracing::info!("stopping simulated nodes");
    handle.stop().await;
    Ok(())
}

/// Runs this machine as a node: joins the server, then starts (or finds) the agent's
/// containerd and holds it until a shutdown signal. Containers keep running after the agent
/// stops; containerd is stopped only if this agent started it.
pub async fn run_node(args: AgentArgs) -> anyhow::Result<()> {
    let shutdown = ShutdownSignals::install()?;
    let _client = connect::connect(&args.server, &args.token)
        .await
        .with_context(|| format!("joining {}", args.server))?;
    let mut config = ContainerdConfig::under(&args.data_dir.join("agent"), &args.run_dir);
    config.registries =
        Registries::from_flags(&args.registries.insecure_registries, &args.registries.registry_mirrors)?;
    let containerd = Containerd::start(&config).await?;
    let runtime = CriRuntime::connect(containerd.socket()).await?;
    let version = runtime.version().await?;
    tracing::info!(
        runtime = %version.runtime_name,
        version = %version.runtime_version,
        socket = %containerd.socket().display(),
        "container runtime ready"
    );
    tracing::warn!("the node's pod lifecycle is not built yet: this agent does not register a Node");
    shutdown.wait().await;
    tracing::info!("stopping the agent");
    containerd.stop().await
}

fn sim_config(nodes: u32, args: &SimulatedNodeArgs) -> anyhow::Result<SimConfig> {
    let mut config = SimConfig::new(nodes);
    config.name_prefix = args.node_name_prefix.clone();
    config.capacity.cpu = args.sim_cpu.clone();
    config.capacity.memory_bytes =
        parse_bytes(&args.sim_memory).with_context(|| format!("--sim-memory {}", args.sim_memory))?;
    config.capacity.pods = args.sim_pods;
    for label in &args.node_labels {
        let Some((key, value)) = label.split_once('=') else {
            bail!("--node-label {label:?} is not KEY=VALUE");
        };
        config.labels.insert(key.to_string(), value.to_string());
    }
    for taint in &args.node_taints {
        config.taints.push(taint.parse::<Taint>().with_context(|| format!("--node-taint {taint:?}"))?);
    }
    Ok(config)
}
