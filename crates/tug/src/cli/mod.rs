//! The command line, a product contract: flags only, no behaviour.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "tug", version, about = "Tugboat: Kubernetes in one binary")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the control plane: datastore, API server, scheduler, controllers (and a local agent).
    Server(ServerArgs),
    /// Run a node and join it to a server.
    Agent(AgentArgs),
    /// Start a local multi-node cluster on this machine.
    Up(UpArgs),
    /// Run kubectl's everyday commands against the cluster.
    Kubectl(KubectlArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Where the server keeps its state, certificates, kubeconfig.yaml and token.
    #[arg(long, default_value = "/var/lib/tugboat", env = "TUG_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Address the API server listens on.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: String,
    /// Port of the HTTPS API.
    #[arg(long, default_value_t = 6443)]
    pub https_port: u16,
    /// Use etcd instead of the embedded datastore: `http://HOST:PORT`, comma-separated for a
    /// cluster.
    #[arg(long)]
    pub datastore_endpoint: Option<String>,
    /// Do not run a node agent inside the server.
    #[arg(long)]
    pub disable_agent: bool,
    /// Leave a controller off (`replicaset`, `replicationcontroller`, ..., or `all`);
    /// repeatable.
    #[arg(long = "disable-controller", value_name = "NAME")]
    pub disabled_controllers: Vec<String>,
    /// How long a node may go without a heartbeat before it is marked Unknown and its pods
    /// are evicted (as kube-controller-manager's flag).
    #[arg(long, default_value = "50s", value_parser = parse_seconds, value_name = "DURATION")]
    pub node_monitor_grace_period: std::time::Duration,
    /// How many finished pods may exist before the pod garbage collector deletes the oldest;
    /// 0 turns that off (as kube-controller-manager's flag).
    #[arg(long, default_value_t = tug_controllers::podgc::TERMINATED_POD_THRESHOLD, value_name = "N")]
    pub terminated_pod_gc_threshold: usize,
    /// Do not run the scheduler inside the server.
    #[arg(long)]
    pub disable_scheduler: bool,
    /// The IPv4 range pod addresses come from; each node gets a /24 of it as its
    /// `spec.podCIDR`.
    #[arg(long, default_value = "10.42.0.0/16", value_parser = parse_cluster_cidr, value_name = "CIDR")]
    pub cluster_cidr: String,
    #[command(flatten)]
    pub registries: RegistryArgs,
    /// The server's own node (unless `--disable-agent`).
    #[command(flatten)]
    pub node: NodeArgs,
}

#[derive(Args, Debug, Clone)]
pub struct AgentArgs {
    /// URL of the server to join, `https://HOST:6443`.
    #[arg(long)]
    pub server: String,
    /// Join token, from the server's `<data-dir>/token`.
    #[arg(long)]
    pub token: String,
    /// Register this many simulated nodes instead of running containers.
    #[arg(long)]
    pub simulate: Option<u32>,
    /// Where the agent keeps its state (under `<data-dir>/agent`: containerd's config, images
    /// and containers, the CNI config).
    #[arg(long, default_value = "/var/lib/tugboat", env = "TUG_DATA_DIR")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub simulated: SimulatedNodeArgs,
    #[command(flatten)]
    pub registries: RegistryArgs,
}

/// This machine as a node, for `tug agent` and the agent inside `tug server`.
#[derive(Args, Debug, Clone)]
pub struct NodeArgs {
    /// The name this machine registers as (default: its host name).
    #[arg(long, env = "TUG_NODE_NAME")]
    pub node_name: Option<String>,
    /// The node's InternalIP (default: the address of the route to the server).
    #[arg(long, value_name = "IP")]
    pub node_ip: Option<std::net::Ipv4Addr>,
    /// Where the agent keeps runtime state lost at reboot (containerd's socket and state).
    #[arg(long, default_value = "/run/tugboat", hide = true)]
    pub run_dir: PathBuf,
    /// The kubelet endpoint's port (logs, exec, port-forward), for several agents on one host.
    #[arg(long, default_value_t = tug_kubelet::node::KUBELET_PORT, hide = true)]
    pub kubelet_port: u16,
    /// The Linux bridge pods attach to, for several agents on one host.
    #[arg(long, default_value = "tug0", hide = true)]
    pub cni_bridge: String,
    /// Resources held back for Kubernetes' daemons, `cpu=100m,memory=256Mi,ephemeral-storage=1Gi`
    /// (as the kubelet's flag).
    #[arg(long, value_name = "RESOURCE=QUANTITY,...")]
    pub kube_reserved: Option<String>,
    /// Resources held back for the operating system, in the same form.
    #[arg(long, value_name = "RESOURCE=QUANTITY,...")]
    pub system_reserved: Option<String>,
    /// The cluster DNS service's address(es) pods with `dnsPolicy: ClusterFirst` resolve
    /// through (comma-separated). Without it they use the host's resolver, as upstream's
    /// kubelet does without `clusterDNS`.
    #[arg(long, value_delimiter = ',', value_name = "IP")]
    pub cluster_dns: Vec<std::net::IpAddr>,
    /// The cluster's DNS domain: pods' search path and subdomain FQDNs end in it.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
}

#[derive(Args, Debug, Clone)]
pub struct SimulatedNodeArgs {
    /// CPUs of each simulated node (a quantity: `4`, `3500m`).
    #[arg(long, default_value = "4", value_name = "QUANTITY")]
    pub sim_cpu: String,
    /// Memory of each simulated node (`16Gi`, `512Mi`).
    #[arg(long, default_value = "16Gi", value_name = "QUANTITY")]
    pub sim_memory: String,
    /// Pods each simulated node takes.
    #[arg(long, default_value_t = 110)]
    pub sim_pods: u32,
    /// Simulated node `i` is named `<prefix><i>`.
    #[arg(long, default_value = "sim-node-")]
    pub node_name_prefix: String,
    /// A label for the nodes, `KEY=VALUE` (repeatable).
    #[arg(long = "node-label", value_name = "KEY=VALUE")]
    pub node_labels: Vec<String>,
    /// A taint for the nodes, `KEY=VALUE:EFFECT` or `KEY:EFFECT` (repeatable).
    #[arg(long = "node-taint", value_name = "KEY=VALUE:EFFECT")]
    pub node_taints: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct RegistryArgs {
    /// A registry reached over plain HTTP, `HOST:PORT` (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registries: Vec<String>,
    /// Serve a registry's images from a mirror, `REGISTRY=URL` (repeatable).
    #[arg(long = "registry-mirror", value_name = "REG=URL")]
    pub registry_mirrors: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct UpArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 1)]
    pub nodes: u32,
}

#[derive(Args, Debug, Clone)]
pub struct KubectlArgs {
    /// kubectl's arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Server(args) => crate::server::run(args).await,
            Command::Agent(args) if args.simulate.is_some() => crate::agent::run_simulated(args).await,
            Command::Agent(args) => crate::agent::run_node(args).await,
            Command::Up(_) => not_yet("tug up", "the local multi-node cluster"),
            Command::Kubectl(_) => not_yet("tug kubectl", "the built-in kubectl"),
        }
    }
}

/// A cluster CIDR the node IPAM controller can split into node CIDRs.
fn parse_cluster_cidr(s: &str) -> Result<String, String> {
    tug_controllers::nodeipam::CidrSet::new(s, tug_controllers::nodeipam::DEFAULT_NODE_MASK)
        .map(|_| s.to_string())
        .map_err(|err| format!("{err:#}"))
}

/// `50s`, `2m` or plain seconds.
fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    let (digits, unit) = match s.strip_suffix('m') {
        Some(d) => (d, 60),
        None => (s.strip_suffix('s').unwrap_or(s), 1),
    };
    digits
        .parse::<u64>()
        .map(|n| std::time::Duration::from_secs(n * unit))
        .map_err(|_| format!("invalid duration {s:?}: use seconds like 50s or minutes like 2m"))
}

fn not_yet(command: &str, part: &str) -> anyhow::Result<()> {
    anyhow::bail!("{command}: {part} is not built yet (see ROADMAP.md and the open issues)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_command_lines_parse() {
        for line in [
            "tug server --data-dir /tmp/x --bind-address 127.0.0.1 --https-port 7443 \
             --datastore-endpoint http://127.0.0.1:2379 --disable-agent --disable-scheduler \
             --cluster-cidr 10.244.0.0/16 \
             --insecure-registry node1:5000 --registry-mirror docker.io=http://127.0.0.1:5000",
            "tug agent --server https://10.0.0.1:6443 --token T --data-dir /tmp/agent \
             --insecure-registry node1:5000 --node-name n1 --node-ip 10.0.0.2 \
             --kube-reserved cpu=100m,memory=256Mi --system-reserved memory=512Mi",
            "tug server --node-name n0 --node-ip 10.0.0.1",
            "tug agent --server https://10.0.0.1:6443 --token T --simulate 100 \
             --insecure-registry node1:5000 --registry-mirror docker.io=http://127.0.0.1:5000",
            "tug agent --server https://10.0.0.1:6443 --token T --simulate 10000 --sim-cpu 8 \
             --sim-memory 32Gi --sim-pods 250 --node-label zone=a --node-label tier=sim \
             --node-taint dedicated=sim:NoSchedule --node-name-prefix kwok-",
            "tug up --nodes 3",
            "tug kubectl get pods -A -o wide",
        ] {
            let args = line.split_whitespace();
            if let Err(err) = Cli::try_parse_from(args) {
                panic!("{line}: {err}");
            }
        }
    }

    #[test]
    fn the_cluster_cidr_must_split_into_node_cidrs() {
        assert!(Cli::try_parse_from(["tug", "server", "--cluster-cidr", "10.42.0.0/25"]).is_err());
        assert!(Cli::try_parse_from(["tug", "server", "--cluster-cidr", "fd00::/48"]).is_err());
    }

    #[test]
    fn server_defaults_match_the_contract() {
        let Cli { command: Command::Server(s) } = Cli::try_parse_from(["tug", "server"]).unwrap() else {
            panic!("not a server command");
        };
        assert_eq!(
            (s.data_dir, s.https_port, s.disable_agent, s.disable_scheduler, s.cluster_cidr.as_str()),
            (PathBuf::from("/var/lib/tugboat"), 6443, false, false, "10.42.0.0/16")
        );
    }
}
