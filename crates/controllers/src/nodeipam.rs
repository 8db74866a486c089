//! The node IPAM controller, as upstream's range allocator: gives each Node without one a
//! `spec.podCIDR` (and `spec.podCIDRs`) carved from the cluster CIDR, one `/24` per node by
//! default, and takes it back when the node is deleted. Nodes that come with a pod CIDR keep it.

use std::{
    collections::HashMap,
    net::Ipv4Addr,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Node;
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::json;

use crate::{
    events::{Recorder, Type},
    informer::{Change, Informer, Informers, Key},
    queue::Queue,
    runner,
};

/// k3s's `--cluster-cidr` default.
pub const DEFAULT_CLUSTER_CIDR: &str = "10.42.0.0/16";
/// Upstream's `--node-cidr-mask-size` default for IPv4.
pub const DEFAULT_NODE_MASK: u8 = 24;
/// How soon a node the range could not serve is looked at again.
const FULL_RETRY: Duration = Duration::from_secs(30);

/// The `/node_mask` blocks of an IPv4 cluster CIDR, which are taken and which are free.
#[derive(Debug)]
pub struct CidrSet {
    base: u32,
    node_mask: u8,
    used: Vec<bool>,
    /// Where the next search starts: upstream hands blocks out round-robin, so a block just
    /// released is not reused at once while traces of its last node (routes, conntrack) remain.
    next: usize,
}

impl CidrSet {
    /// Blocks of `/node_mask` in `cluster_cidr` (`10.42.0.0/16`).
    ///
    /// # Errors
    ///
    /// When the CIDR is malformed or not IPv4, or the node mask does not fit within it (or
    /// leaves more than 2^20 blocks, which no cluster needs).
    pub fn new(cluster_cidr: &str, node_mask: u8) -> anyhow::Result<CidrSet> {
        let (base, prefix) = parse(cluster_cidr).with_context(|| format!("cluster CIDR {cluster_cidr:?}"))?;
        if node_mask < prefix || node_mask > 30 {
            bail!("node CIDR mask /{node_mask} does not fit in cluster CIDR {cluster_cidr}");
        }
        if node_mask - prefix > 20 {
            bail!("cluster CIDR {cluster_cidr} holds more than 2^20 node CIDRs of /{node_mask}");
        }
        if base & !mask(prefix) != 0 {
            bail!("cluster CIDR {cluster_cidr} has host bits set");
        }
        Ok(CidrSet { base, node_mask, used: vec![false; 1 << (node_mask - prefix)], next: 0 })
    }

    /// Takes the next free block, or `None` when all are taken.
    pub fn allocate(&mut self) -> Option<String> {
        let n = self.used.len();
        let index = (0..n).map(|i| (self.next + i) % n).find(|&i| !self.used[i])?;
        self.used[index] = true;
        self.next = (index + 1) % n;
        Some(self.cidr(index))
    }

    /// Marks `cidr` as taken; false when it is not one of this set's blocks.
    pub fn occupy(&mut self, cidr: &str) -> bool {
        match self.index(cidr) {
            Some(i) => {
                self.used[i] = true;
                true
            }
            None => false,
        }
    }

    /// Frees `cidr`, if it is one of this set's blocks.
    pub fn release(&mut self, cidr: &str) {
        if let Some(i) = self.index(cidr) {
            self.used[i] = false;
        }
    }

    fn cidr(&self, index: usize) -> String {
        let addr = self.base + ((index as u32) << (32 - u32::from(self.node_mask)));
        format!("{}/{}", Ipv4Addr::from(addr), self.node_mask)
    }

    fn index(&self, cidr: &str) -> Option<usize> {
        let (addr, prefix) = parse(cidr).ok()?;
        if prefix != self.node_mask || addr & !mask(prefix) != 0 || addr < self.base {
            return None;
        }
        let index = ((addr - self.base) >> (32 - u32::from(self.node_mask))) as usize;
        (index < self.used.len()).then_some(index)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) }
}

/// `a.b.c.d/n` as an address and a prefix length.
fn parse(cidr: &str) -> anyhow::Result<(u32, u8)> {
    let Some((addr, prefix)) = cidr.split_once('/') else { bail!("not ADDRESS/PREFIX") };
    let addr: Ipv4Addr = addr.parse().context("not an IPv4 address")?;
    let prefix: u8 = prefix.parse().context("bad prefix length")?;
    if prefix > 32 {
        bail!("prefix length over 32");
    }
    Ok((u32::from(addr), prefix))
}

pub struct Controller {
    nodes: Arc<Informer<Node>>,
    queue: Arc<Queue<Key>>,
    client: kube::Client,
    recorder: Recorder,
    state: Mutex<State>,
}

struct State {
    set: CidrSet,
    /// The block each node holds, to release it when the node goes.
    held: HashMap<String, String>,
}

impl Controller {
    /// Starts allocating from `cluster_cidr` in blocks of `/node_mask`.
    ///
    /// # Errors
    ///
    /// When the CIDR or mask is unusable (see [`CidrSet::new`]).
    pub fn start(informers: &Informers, cluster_cidr: &str, node_mask: u8) -> anyhow::Result<()> {
        let client = informers.client();
        let me = Arc::new(Controller {
            nodes: informers.get::<Node>(),
            queue: Queue::new(),
            recorder: Recorder::new(client.clone(), "node-ipam-controller"),
            client,
            state: Mutex::new(State { set: CidrSet::new(cluster_cidr, node_mask)?, held: HashMap::new() }),
        });
        let mut changes = me.nodes.subscribe();
        let watcher = me.clone();
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            watcher.nodes.wait_synced().await;
            // Every block already held is marked before any is handed out, as upstream does.
            for node in watcher.nodes.list(None) {
                watcher.occupy(&node);
            }
            watcher.resync();
            loop {
                match changes.recv().await {
                    Ok(change) => {
                        if let Change::Deleted(node) = change.as_ref() {
                            // A freed block may serve a node that waits for one.
                            if watcher.release(node) {
                                watcher.resync();
                            }
                        } else if pod_cidr(change.object()).is_none() {
                            watcher.queue.add(Key::of(change.object().as_ref()));
                        } else {
                            watcher.occupy(change.object());
                        }
                    }
                    Err(RecvError::Lagged(_)) => watcher.resync(),
                    Err(RecvError::Closed) => return,
                }
            }
        });
        // One worker: allocations are serial by nature.
        runner::spawn_workers(me.queue.clone(), 1, "nodeipam", move |key| {
            let me = me.clone();
            async move { me.sync(&key).await }
        });
        Ok(())
    }

    fn resync(&self) {
        for node in self.nodes.list(None) {
            if pod_cidr(&node).is_none() {
                self.queue.add(Key::of(node.as_ref()));
            }
        }
    }

    fn occupy(&self, node: &Node) {
        let Some(cidr) = pod_cidr(node) else { return };
        let mut state = self.lock();
        if state.held.get(&node.name_any()).is_some_and(|held| held == cidr) {
            return;
        }
        if !state.set.occupy(cidr) {
            // Simulated nodes and nodes set up by hand may use any range.
            tracing::debug!(node = %node.name_any(), cidr, "pod CIDR outside the cluster CIDR");
            return;
        }
        state.held.insert(node.name_any(), cidr.to_string());
    }

    /// Frees the node's block; whether it held one.
    fn release(&self, node: &Node) -> bool {
        let mut state = self.lock();
        let Some(cidr) = state.held.remove(&node.name_any()) else { return false };
        state.set.release(&cidr);
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn sync(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some(node) = self.nodes.get(key) else { return Ok(None) };
        if pod_cidr(&node).is_some() {
            return Ok(None);
        }
        let name = node.name_any();
        let allocated = {
            let mut state = self.lock();
            match state.held.get(&name) {
                // Allocated earlier, but the patch failed or the cache has not seen it yet.
                Some(cidr) => Some(cidr.clone()),
                None => state.set.allocate().inspect(|cidr| {
                    state.held.insert(name.clone(), cidr.clone());
                }),
            }
        };
        let Some(cidr) = allocated else {
            let message = format!("Node {name} status is now: CIDRNotAvailable");
            self.recorder.record(node.as_ref(), Type::Normal, "CIDRNotAvailable", &message).await;
            return Ok(Some(FULL_RETRY));
        };
        let api: Api<Node> = Api::all(self.client.clone());
        let patch = json!({"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}});
        match api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => {
                tracing::info!(node = %name, %cidr, "allocated the node's pod CIDR");
                Ok(None)
            }
            Err(err) if runner::is_not_found(&err) => {
                let mut state = self.lock();
                state.held.remove(&name);
                state.set.release(&cidr);
                Ok(None)
            }
            Err(err) => Err(err).with_context(|| format!("setting the pod CIDR of node {name}")),
        }
    }
}

fn pod_cidr(node: &Node) -> Option<&str> {
    node.spec.as_ref()?.pod_cidr.as_deref().filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_handed_out_in_turn_and_reused_after_the_rest() {
        let mut set = CidrSet::new("10.42.0.0/22", 24).unwrap();
        assert_eq!(set.allocate().as_deref(), Some("10.42.0.0/24"));
        assert!(set.occupy("10.42.2.0/24"));
        assert_eq!(set.allocate().as_deref(), Some("10.42.1.0/24"));
        assert_eq!(set.allocate().as_deref(), Some("10.42.3.0/24"));
        assert_eq!(set.allocate(), None, "all four are taken");
        set.release("10.42.1.0/24");
        assert_eq!(set.allocate().as_deref(), Some("10.42.1.0/24"));
    }

    #[test]
    fn a_released_block_waits_for_the_free_ones_after_it() {
        let mut set = CidrSet::new("10.42.0.0/16", 24).unwrap();
        let first = set.allocate().unwrap();
        set.release(&first);
        assert_eq!(set.allocate().as_deref(), Some("10.42.1.0/24"));
    }

    #[test]
    fn foreign_ranges_are_not_the_sets() {
        let mut set = CidrSet::new("10.42.0.0/16", 24).unwrap();
        for cidr in ["10.44.0.0/24", "10.42.0.0/25", "10.42.0.1/24", "10.41.255.0/24", "junk"] {
            assert!(!set.occupy(cidr), "{cidr}");
        }
        assert!(set.occupy("10.42.255.0/24"));
    }

    #[test]
    fn unusable_cluster_cidrs_are_refused() {
        for (cidr, mask) in [("10.42.0.0/16", 8), ("10.42.0.1/16", 24), ("fd00::/48", 64), ("10.0.0.0/8", 30)]
        {
            assert!(CidrSet::new(cidr, mask).is_err(), "{cidr} /{mask}");
        }
        assert!(CidrSet::new("10.0.0.0/8", 24).is_ok());
    }
}
