//! The simulated nodes: their names and addresses, and registering them with the API server.

use std::{
    collections::HashMap,
    net::Ipv4Addr,
    sync::{Arc, Mutex},
};

use anyhow::{Context, Result};
use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use k8s_openapi::api::{coordination::v1::Lease, core::v1::Node};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::json;

use super::SimConfig;
use crate::{
    lease,
    logs::server::KUBELET_ENDPOINT,
    node::{NodeInfo, NodeSpec},
};

/// The container runtime simulated nodes report (the CONTAINER-RUNTIME column).
pub const RUNTIME_VERSION: &str = concat!("tugboat-sim://", env!("CARGO_PKG_VERSION"));

/// One simulated node, as small as it can be: thousands live in one process.
#[derive(Debug)]
pub struct SimNode {
    pub name: String,
    pub ip: Ipv4Addr,
    /// The first address of the node's /24 pod range.
    pub pod_cidr: Ipv4Addr,
    /// The Node's uid (it changes if the Node is deleted and registered again).
    pub uid: Mutex<String>,
}

/// All simulated nodes, by index and by name.
#[derive(Debug, Default)]
pub struct NodeTable {
    pub nodes: Vec<SimNode>,
    by_name: HashMap<String, u32>,
}

impl NodeTable {
    pub fn index(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    pub fn get(&self, index: u32) -> &SimNode {
        &self.nodes[index as usize]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// The InternalIP of node `index`: 172.16.0.1 onwards (172.16.0.0/12 holds a million nodes).
pub fn internal_ip(index: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(172, 16, 0, 0)) + index + 1)
}

/// The /24 pod range of node `index`, as k3s gives one per node out of `10.42.0.0/16`; past
/// 256 nodes it goes on from `10.44.0.0`, skipping the Service range `10.43.0.0/16`.
pub fn pod_cidr(index: u32) -> Ipv4Addr {
    let block = if index < 256 { (42 << 8) + index } else { (44 << 8) + index - 256 };
    Ipv4Addr::from((10 << 24) | (block << 8))
}

/// Parses `spec.podCIDR` (`a.b.c.0/24`) into its first address.
fn parse_pod_cidr(cidr: &str) -> Option<Ipv4Addr> {
    let (addr, bits) = cidr.split_once('/')?;
    (bits == "24").then(|| addr.parse().ok()).flatten()
}

/// Builds the Node of simulated node `index`.
pub fn node_spec(config: &SimConfig, index: u32, pod_cidr_base: Ipv4Addr) -> NodeSpec {
    let name = config.node_name(index);
    let info = NodeInfo::of_host(&name, &config.host, RUNTIME_VERSION);
    NodeSpec {
        internal_ip: internal_ip(index),
        pod_cidr: Some(format!("{pod_cidr_base}/24")),
        capacity: config.capacity.clone(),
        labels: config.labels.clone(),
        taints: config.taints.clone(),
        info,
        name,
        kubelet_port: crate::node::KUBELET_PORT,
    }
}

/// Registers every node (at most `config.concurrency` at a time) with its lease.
///
/// # Errors
/// If a node cannot be registered.
pub async fn register_all(client: &Client, config: &SimConfig) -> Result<NodeTable> {
    let nodes: Vec<SimNode> = futures::stream::iter(0..config.nodes)
        .map(|index| register(client, config, index))
        .buffered(config.concurrency.max(1))
        .try_collect()
        .await?;
    let by_name = nodes.iter().enumerate().map(|(i, n)| (n.name.clone(), i as u32)).collect();
    Ok(NodeTable { nodes, by_name })
}

/// Registers node `index`: creates it, or takes over the existing one (keeping its pod range),
/// posts its status and creates its lease.
///
/// # Errors
/// On API errors.
pub async fn register(client: &Client, config: &SimConfig, index: u32) -> Result<SimNode> {
    let api: Api<Node> = Api::all(client.clone());
    let name = config.node_name(index);
    let now = Timestamp::now();
    let spec = node_spec(config, index, pod_cidr(index));
    let mut object = spec.to_object(now);
    if let Some(endpoint) = &config.kubelet_endpoint {
        object["metadata"]["annotations"][KUBELET_ENDPOINT] = json!(endpoint);
    }
    let object: Node = serde_json::from_value(object).context("building a Node")?;
    let (uid, pod_cidr_base) = match api.create(&PostParams::default(), &object).await {
        Ok(created) => {
            let has_status = created.status.as_ref().is_some_and(|s| s.conditions.is_some());
            if !has_status {
                post_status(&api, &spec, now).await?;
            }
            (created.metadata.uid.unwrap_or_default(), pod_cidr(index))
        }
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let existing = api.get(&name).await.with_context(|| format!("reading node {name}"))?;
            let base = existing
                .spec
                .as_ref()
                .and_then(|s| s.pod_cidr.as_deref())
                .and_then(parse_pod_cidr)
                .unwrap_or_else(|| pod_cidr(index));
            let spec = node_spec(config, index, base);
            let mut labels = json!({"metadata": {"labels": spec.all_labels()}});
            if let Some(endpoint) = &config.kubelet_endpoint {
                labels["metadata"]["annotations"] = json!({KUBELET_ENDPOINT: endpoint});
            }
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&labels))
                .await
                .with_context(|| format!("labelling node {name}"))?;
            post_status(&api, &spec, now).await?;
            (existing.metadata.uid.unwrap_or_default(), base)
        }
        Err(e) => return Err(e).with_context(|| format!("registering node {name}")),
    };
    let leases: Api<Lease> = Api::namespaced(client.clone(), lease::NAMESPACE);
    lease::create(&leases, &name, &uid, now).await?;
    Ok(SimNode { name, ip: internal_ip(index), pod_cidr: pod_cidr_base, uid: Mutex::new(uid) })
}

async fn post_status(api: &Api<Node>, spec: &NodeSpec, now: Timestamp) -> Result<()> {
    let status = json!({"status": spec.status(now, now)});
    api.patch_status(&spec.name, &PatchParams::default(), &Patch::Strategic(&status))
        .await
        .with_context(|| format!("posting the status of node {}", spec.name))?;
    Ok(())
}

/// Pod IPs of one node's /24: .1 is the node's bridge, .255 broadcast; pods get .2 to .254,
/// handed out round-robin as host-local IPAM does, so a freed IP is not reused at once.
#[derive(Clone, Debug, Default)]
pub struct PodIps {
    used: [u64; 4],
    cursor: u8,
}

impl PodIps {
    /// Takes a free IP of `base`'s /24.
    pub fn allocate(&mut self, base: Ipv4Addr) -> Option<Ipv4Addr> {
        for step in 0..253u16 {
            let host = 2 + ((u16::from(self.cursor) + step) % 253) as u8;
            if !self.is_used(host) {
                self.set(host, true);
                self.cursor = host - 1;
                return Some(with_host(base, host));
            }
        }
        None
    }

    /// Marks `ip` taken (a pod that already had it); false if it is outside the range or taken.
    pub fn claim(&mut self, base: Ipv4Addr, ip: Ipv4Addr) -> bool {
        let host = ip.octets()[3];
        if with_host(base, 0) != with_host(ip, 0) || !(2..=254).contains(&host) || self.is_used(host) {
            return false;
        }
        self.set(host, true);
        true
    }

    pub fn release(&mut self, base: Ipv4Addr, ip: Ipv4Addr) {
        if with_host(base, 0) == with_host(ip, 0) {
            self.set(ip.octets()[3], false);
        }
    }

    fn is_used(&self, host: u8) -> bool {
        self.used[usize::from(host / 64)] & (1 << (host % 64)) != 0
    }

    fn set(&mut self, host: u8, used: bool) {
        let (word, bit) = (usize::from(host / 64), 1u64 << (host % 64));
        if used {
            self.used[word] |= bit;
        } else {
            self.used[word] &= !bit;
        }
    }
}

fn with_host(base: Ipv4Addr, host: u8) -> Ipv4Addr {
    let [a, b, c, _] = base.octets();
    Ipv4Addr::new(a, b, c, host)
}

/// Shares a table between the heartbeat and the pod runtime.
pub type SharedTable = Arc<NodeTable>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_never_collide_with_the_service_range() {
        assert_eq!(internal_ip(0), Ipv4Addr::new(172, 16, 0, 1));
        assert_eq!(internal_ip(300), Ipv4Addr::new(172, 16, 1, 45));
        assert_eq!(pod_cidr(0), Ipv4Addr::new(10, 42, 0, 0));
        assert_eq!(pod_cidr(255), Ipv4Addr::new(10, 42, 255, 0));
        assert_eq!(pod_cidr(256), Ipv4Addr::new(10, 44, 0, 0));
        assert_eq!(pod_cidr(9_999), Ipv4Addr::new(10, 82, 15, 0));
        assert_eq!(parse_pod_cidr("10.42.7.0/24"), Some(Ipv4Addr::new(10, 42, 7, 0)));
        assert_eq!(parse_pod_cidr("10.42.0.0/16"), None);
    }

    #[test]
    fn pod_ips_go_round_robin_and_run_out() {
        let base = Ipv4Addr::new(10, 42, 3, 0);
        let mut ips = PodIps::default();
        let first = ips.allocate(base).unwrap();
        assert_eq!(first, Ipv4Addr::new(10, 42, 3, 2));
        assert_eq!(ips.allocate(base), Some(Ipv4Addr::new(10, 42, 3, 3)));
        ips.release(base, first);
        assert_eq!(ips.allocate(base), Some(Ipv4Addr::new(10, 42, 3, 4)), "not reused at once");
        assert!(!ips.claim(base, Ipv4Addr::new(10, 42, 3, 4)));
        assert!(ips.claim(base, Ipv4Addr::new(10, 42, 3, 200)));
        assert!(!ips.claim(base, Ipv4Addr::new(10, 42, 4, 9)));
        let mut n = 0;
        while ips.allocate(base).is_some() {
            n += 1;
        }
        assert_eq!(n, 253 - 3);
    }
}
