//! `tug agent`: join a server as a node, either as simulated nodes (`--simulate N`) or as this
//! machine, running containers on the agent's own containerd.

use std::{sync::Arc, time::Duration};

use anyhow::{Context, bail};
use tug_kubelet::{
    connect,
    containerd::{Containerd, ContainerdConfig, Registries},
    host,
    logs::{running::RunningContainers, server::AgentServer},
    node::{HostRelease, NodeInfo, NodeSpec, Reserved, Taint, parse_bytes},
    node_agent::{self, NodeAgentConfig},
    pods,
    portforward::netns::CriForwarder,
    runtime::{CriRuntime, Runtime},
    sim::{ServeConfig, SimConfig, Simulator},
    stats::ResourceMetrics,
    streaming::Streaming,
};

use crate::{
    cli::{AgentArgs, NodeArgs, RegistryArgs, SimulatedNodeArgs},
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

/// Runs this machine as a node: joins the server, starts (or finds) the agent's containerd,
/// registers the Node and runs the pods bound to it until a shutdown signal. Containers keep
/// running after the agent stops; containerd is stopped only if this agent started it.
pub async fn run_node(args: AgentArgs) -> anyhow::Result<()> {
    let shutdown = ShutdownSignals::install()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let node = NodeSettings {
        server: args.server,
        token: args.token,
        data_dir: args.data_dir,
        node: args.node,
        labels: args.simulated.node_labels,
        taints: args.simulated.node_taints,
        registries: args.registries,
    };
    let mut agent = tokio::spawn(run_node_until(node, stopped));
    tokio::select! {
        () = shutdown.wait() => {}
        finished = &mut agent => return finished.context("the node agent task")?,
    }
    let _ = stop.send(true);
    agent.await.context("the node agent task")?
}

/// What a node agent needs, from `tug agent` or from `tug server` for its own node.
pub struct NodeSettings {
    pub server: String,
    pub token: String,
    pub data_dir: std::path::PathBuf,
    pub node: NodeArgs,
    /// `--node-label KEY=VALUE` and `--node-taint KEY=VALUE:EFFECT`.
    pub labels: Vec<String>,
    pub taints: Vec<String>,
    pub registries: RegistryArgs,
}

/// The node agent until `shutdown` turns true.
pub async fn run_node_until(
    args: NodeSettings,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let name = args.node.node_name.clone().unwrap_or_else(host::hostname);
    let client = connect::connect_node(&args.server, &args.token, &name)
        .await
        .with_context(|| format!("joining {} as node {name}", args.server))?;
    let agent_dir = args.data_dir.join("agent");
    let mut config = ContainerdConfig::under(&agent_dir, &args.node.run_dir);
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
    let runtime: Arc<dyn Runtime> = Arc::new(runtime);
    let spec = node_spec(&args, name, &agent_dir, &version)?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let node_config = NodeAgentConfig {
        spec: spec.clone(),
        cni_conf_dir: config.cni_conf_dir.clone(),
        data_dir: agent_dir,
        bridge: args.node.cni_bridge.clone(),
    };
    let heartbeat = node_agent::start(client.clone(), runtime.clone(), node_config, stopped.clone()).await?;
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let log_root = args.data_dir.join("agent/logs/pods");
    // The kubelet's port, where the API server reads container logs (the node's InternalIP and
    // status.daemonEndpoints name it).
    let server = AgentServer {
        log_dir: log_root.clone(),
        token: args.token.trim().to_string(),
        liveness: RunningContainers::follow(runtime.clone(), stopped.clone()),
        streaming: Some(Arc::new(Streaming { runtime: runtime.clone() })),
        metrics: Some(Arc::new(ResourceMetrics { runtime: runtime.clone() })),
        port_forward: Some(Arc::new(CriForwarder { runtime: runtime.clone() })),
    };
    let names = vec![spec.name.clone(), spec.internal_ip.to_string()];
    let listen = std::net::SocketAddr::from(([0, 0, 0, 0], args.node.kubelet_port));
    let (_, kubelet_server) =
        server.start(listen, names).await.context("starting the kubelet endpoint (container logs)")?;
    let memory = i64::try_from(spec.capacity.memory_bytes).unwrap_or(i64::MAX);
    let pods = pods::NodeContext {
        node_name: spec.name.clone(),
        host_ip: spec.internal_ip.to_string(),
        log_root,
        pods_root: args.data_dir.join("agent/pods"),
        allocatable: spec.capacity.allocatable(),
        dns: pods::dns::NodeDns {
            cluster_dns: args.node.cluster_dns.iter().map(ToString::to_string).collect(),
            cluster_domain: args.node.cluster_domain.clone(),
            host: pods::dns::host_dns(&resolv),
        },
        resources: pods::cgroups::node_resources(memory),
    };
    let pods = tokio::spawn(pods::run(client.clone(), runtime.clone(), pods, stopped.clone()));
    tracing::info!(node = %spec.name, "node agent ready");
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            break;
        }
    }
    tracing::info!("stopping the agent");
    let _ = stop.send(true);
    let _ = heartbeat.await;
    let _ = pods.await;
    kubelet_server.abort();
    containerd.stop().await
}

/// The Node this machine registers as.
fn node_spec(
    args: &NodeSettings,
    name: String,
    agent_dir: &std::path::Path,
    version: &tug_kubelet::runtime::proto::VersionResponse,
) -> anyhow::Result<NodeSpec> {
    std::fs::create_dir_all(agent_dir).with_context(|| format!("creating {}", agent_dir.display()))?;
    let (labels, taints) = labels_and_taints(&args.labels, &args.taints)?;
    let runtime_version = format!("{}://{}", version.runtime_name, version.runtime_version);
    Ok(NodeSpec {
        internal_ip: match args.node.node_ip {
            Some(ip) => ip,
            None => host::internal_ip(&args.server)?,
        },
        pod_cidr: None,
        capacity: {
            let mut capacity = host::capacity(agent_dir)?;
            let reserved = |flag: &Option<String>, name: &str| {
                flag.as_deref().map_or(Ok(Reserved::default()), |f| {
                    Reserved::parse(f).with_context(|| format!("--{name} {f:?}"))
                })
            };
            capacity.reserved = reserved(&args.node.kube_reserved, "kube-reserved")?
                .plus(reserved(&args.node.system_reserved, "system-reserved")?);
            capacity
        },
        labels,
        taints,
        info: NodeInfo::of_host(&name, &HostRelease::read(), &runtime_version),
        name,
        kubelet_port: args.node.kubelet_port,
    })
}

fn sim_config(nodes: u32, args: &SimulatedNodeArgs) -> anyhow::Result<SimConfig> {
    let mut config = SimConfig::new(nodes);
    config.name_prefix = args.node_name_prefix.clone();
    config.capacity.cpu = args.sim_cpu.clone();
    config.capacity.memory_bytes =
        parse_bytes(&args.sim_memory).with_context(|| format!("--sim-memory {}", args.sim_memory))?;
    config.capacity.pods = args.sim_pods;
    let (labels, taints) = labels_and_taints(&args.node_labels, &args.node_taints)?;
    config.labels.extend(labels);
    config.taints.extend(taints);
    Ok(config)
}

/// `--node-label KEY=VALUE` and `--node-taint KEY=VALUE:EFFECT` flags, parsed.
fn labels_and_taints(
    labels: &[String],
    taints: &[String],
) -> anyhow::Result<(std::collections::BTreeMap<String, String>, Vec<Taint>)> {
    let mut parsed = std::collections::BTreeMap::new();
    for label in labels {
        let Some((key, value)) = label.split_once('=') else {
            bail!("--node-label {label:?} is not KEY=VALUE");
        };
        parsed.insert(key.to_string(), value.to_string());
    }
    let taints = taints
        .iter()
        .map(|t| t.parse::<Taint>().with_context(|| format!("--node-taint {t:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((parsed, taints))
}
