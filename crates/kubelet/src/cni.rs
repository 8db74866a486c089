//! The pod network's CNI config: a bridge on the node with host-local IPAM over the node's
//! `spec.podCIDR`, and portmap for hostPort. containerd's CRI plugin adds the loopback network
//! itself (from the `loopback` plugin in the CNI bin dir) and loads the first config file of
//! its conf dir, which it watches: the file is replaced whole, never written in place.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// The config file's name; containerd loads the first file of the conf dir by name.
pub const CONF_FILE: &str = "10-tugboat.conflist";

/// A node's pod network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodNetwork {
    /// The network's name, as CNI and containerd report it.
    pub name: String,
    /// The Linux bridge pods attach to; its address is the pods' gateway.
    pub bridge: String,
    /// The node's `spec.podCIDR`, which pod addresses come from.
    pub pod_cidr: String,
    /// Where host-local records which addresses are taken.
    pub ipam_dir: PathBuf,
}

impl PodNetwork {
    /// The network the agent sets up, keeping its address records under `data_dir`.
    pub fn new(pod_cidr: &str, data_dir: &Path) -> PodNetwork {
        PodNetwork {
            name: "tugboat".to_string(),
            bridge: "tug0".to_string(),
            pod_cidr: pod_cidr.to_string(),
            ipam_dir: data_dir.join("cni/networks"),
        }
    }

    /// The CNI network config list.
    ///
    /// # Errors
    ///
    /// When the pod CIDR is not an address range.
    pub fn conflist(&self) -> anyhow::Result<Value> {
        let default_route = match parse_cidr(&self.pod_cidr)? {
            IpAddr::V4(_) => "0.0.0.0/0",
            IpAddr::V6(_) => "::/0",
        };
        Ok(json!({
            "cniVersion": "1.0.0",
            "name": self.name,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge,
                    "isGateway": true,
                    // Pods reach outside the node through the node's address.
                    "ipMasq": true,
                    // A pod reaches itself through a Service or hostPort that leads back to it.
                    "hairpinMode": true,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": self.pod_cidr}]],
                        "routes": [{"dst": default_route}],
                        "dataDir": self.ipam_dir,
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true},
            ],
        }))
    }

    /// Writes the config into `conf_dir`, replacing the file in one rename so containerd never
    /// reads half of it.
    ///
    /// # Errors
    ///
    /// When the pod CIDR is malformed or the file cannot be written.
    pub fn write(&self, conf_dir: &Path) -> anyhow::Result<PathBuf> {
        let text = serde_json::to_string_pretty(&self.conflist()?).context("encoding the CNI config")?;
        std::fs::create_dir_all(conf_dir).with_context(|| format!("creating {}", conf_dir.display()))?;
        let path = conf_dir.join(CONF_FILE);
        let staging = conf_dir.join(format!(".{CONF_FILE}.tmp"));
        std::fs::write(&staging, text).with_context(|| format!("writing {}", staging.display()))?;
        std::fs::rename(&staging, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

/// The network address of `cidr` (`10.42.0.0/24`).
fn parse_cidr(cidr: &str) -> anyhow::Result<IpAddr> {
    let Some((addr, prefix)) = cidr.split_once('/') else {
        bail!("pod CIDR {cidr:?} is not ADDRESS/PREFIX");
    };
    let addr: IpAddr = addr.parse().with_context(|| format!("pod CIDR {cidr:?}"))?;
    let prefix: u8 = prefix.parse().with_context(|| format!("pod CIDR {cidr:?}"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    // Fewer than 4 addresses leave none for pods once the network, gateway and broadcast are out.
    if prefix > max - 2 {
        bail!("pod CIDR {cidr:?} is too small for pods");
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bridge_hands_out_addresses_from_the_pod_cidr() {
        let network = PodNetwork::new("10.42.3.0/24", Path::new("/var/lib/tugboat/agent"));
        let config = network.conflist().unwrap();
        let plugins = config["plugins"].as_array().unwrap();
        assert_eq!(plugins[0]["type"], "bridge");
        assert_eq!(plugins[0]["ipam"]["ranges"], json!([[{"subnet": "10.42.3.0/24"}]]));
        assert_eq!(plugins[0]["ipam"]["routes"], json!([{"dst": "0.0.0.0/0"}]));
        assert_eq!(plugins[0]["ipam"]["dataDir"], "/var/lib/tugboat/agent/cni/networks");
        assert_eq!(plugins[1]["type"], "portmap");

        let v6 = PodNetwork::new("fd00:42::/64", Path::new("/x")).conflist().unwrap();
        assert_eq!(v6["plugins"][0]["ipam"]["routes"], json!([{"dst": "::/0"}]));
    }

    #[test]
    fn malformed_pod_cidrs_are_refused() {
        for bad in ["10.42.0.0", "10.42.0.0/33", "10.42.0.0/31", "x/24", "10.42.0.0/x"] {
            assert!(PodNetwork::new(bad, Path::new("/x")).conflist().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_config_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = PodNetwork::new("10.42.0.0/24", dir.path()).write(dir.path()).unwrap();
        PodNetwork::new("10.42.1.0/24", dir.path()).write(dir.path()).unwrap();
        let written: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(written["plugins"][0]["ipam"]["ranges"][0][0]["subnet"], "10.42.1.0/24");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the staging file is left over");
    }
}
