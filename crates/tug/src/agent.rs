//! `tug agent`: join a server as a node. For now only as simulated nodes (`--simulate N`); the
//! containerd-backed agent comes with the node agent issue.

use std::time::Duration;

use anyhow::{Context, bail};
use tug_kubelet::{
    connect,
    node::{Taint, parse_bytes},
    sim::{SimConfig, Simulator},
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
    let config = sim_config(nodes, &args.simulated)?;
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
