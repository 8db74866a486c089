//! The Node object a kubelet registers: labels, capacity and allocatable, the four conditions,
//! addresses and `nodeInfo`, shaped as upstream's kubelet fills them.

use std::{collections::BTreeMap, net::Ipv4Addr, str::FromStr};

use anyhow::{Context, Result, bail};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::time::rfc3339;

/// The version nodes report as `kubeletVersion` (the `VERSION` column of `kubectl get nodes`),
/// the same the API server reports.
pub const KUBELET_VERSION: &str = concat!("v1.35.0+tug", env!("CARGO_PKG_VERSION"));

/// The port in `status.daemonEndpoints` (upstream's default `--port`).
pub const KUBELET_PORT: u16 = 10250;

/// Memory held back for hard eviction (upstream's default `memory.available<100Mi`).
const EVICTION_MEMORY_BYTES: u64 = 100 * 1024 * 1024;

/// What a node offers: the capacity side of `status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// A CPU quantity as the API writes it (`4`, `3500m`).
    pub cpu: String,
    pub memory_bytes: u64,
    pub pods: u32,
    pub ephemeral_storage_bytes: u64,
    /// Held back from pods: `--kube-reserved` plus `--system-reserved`.
    pub reserved: Reserved,
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity {
            cpu: "4".into(),
            memory_bytes: 16 << 30,
            pods: 110,
            ephemeral_storage_bytes: 100 << 30,
            reserved: Reserved::default(),
        }
    }
}

/// Resources held back for the system and Kubernetes' own daemons (upstream's
/// `--kube-reserved` and `--system-reserved`; none by default, as upstream).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reserved {
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub ephemeral_storage_bytes: u64,
}

impl Reserved {
    /// Parses a flag's `cpu=100m,memory=256Mi,ephemeral-storage=1Gi` (any subset).
    ///
    /// # Errors
    /// On an unknown resource or a value that is not a non-negative quantity.
    pub fn parse(flag: &str) -> Result<Reserved> {
        let mut reserved = Reserved::default();
        for pair in flag.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((name, value)) = pair.split_once('=') else {
                bail!("{pair:?} is not RESOURCE=QUANTITY");
            };
            let invalid = || anyhow::anyhow!("{name}={value}: not a non-negative quantity");
            match name.trim() {
                "cpu" => {
                    let millis = tug_scheduler::quantity::milli_value(value).ok_or_else(invalid)?;
                    reserved.cpu_millis = u64::try_from(millis).map_err(|_| invalid())?;
                }
                "memory" | "ephemeral-storage" => {
                    let bytes = tug_scheduler::quantity::value(value).ok_or_else(invalid)?;
                    let bytes = u64::try_from(bytes).map_err(|_| invalid())?;
                    if name.trim() == "memory" {
                        reserved.memory_bytes = bytes;
                    } else {
                        reserved.ephemeral_storage_bytes = bytes;
                    }
                }
                other => bail!("cannot reserve {other:?}: only cpu, memory and ephemeral-storage"),
            }
        }
        Ok(reserved)
    }

    /// Both reservations together.
    #[must_use]
    pub fn plus(self, other: Reserved) -> Reserved {
        Reserved {
            cpu_millis: self.cpu_millis + other.cpu_millis,
            memory_bytes: self.memory_bytes + other.memory_bytes,
            ephemeral_storage_bytes: self.ephemeral_storage_bytes + other.ephemeral_storage_bytes,
        }
    }
}

impl Capacity {
    fn capacity_json(&self) -> Value {
        json!({
            "cpu": self.cpu,
            "memory": format!("{}Ki", self.memory_bytes / 1024),
            "pods": self.pods.to_string(),
            "ephemeral-storage": format!("{}Ki", self.ephemeral_storage_bytes / 1024),
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
        })
    }

    /// The allocatable resources as a `ResourceList` (what admission checks pods against).
    pub fn allocatable(
        &self,
    ) -> std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity> {
        serde_json::from_value(self.allocatable_json()).unwrap_or_default()
    }

    /// Capacity less the reserved amounts and upstream's default eviction thresholds
    /// (memory 100Mi, nodefs 10%), as upstream's node allocatable.
    fn allocatable_json(&self) -> Value {
        let memory = self
            .memory_bytes
            .saturating_sub(self.reserved.memory_bytes)
            .saturating_sub(EVICTION_MEMORY_BYTES);
        let cpu = if self.reserved.cpu_millis == 0 {
            self.cpu.clone()
        } else {
            let millis = tug_scheduler::quantity::milli_value(&self.cpu).unwrap_or(0);
            let left = u64::try_from(millis).unwrap_or(0).saturating_sub(self.reserved.cpu_millis);
            if left % 1000 == 0 { (left / 1000).to_string() } else { format!("{left}m") }
        };
        let storage =
            (self.ephemeral_storage_bytes / 10 * 9).saturating_sub(self.reserved.ephemeral_storage_bytes);
        json!({
            "cpu": cpu,
            "memory": format!("{}Ki", memory / 1024),
            "pods": self.pods.to_string(),
            "ephemeral-storage": storage.to_string(),
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
        })
    }
}

/// A taint from the command line: `key=value:Effect` or `key:Effect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taint {
    pub key: String,
    pub value: Option<String>,
    pub effect: String,
}

impl FromStr for Taint {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let Some((key_value, effect)) = s.rsplit_once(':') else {
            bail!("taint {s:?} is not key=value:Effect");
        };
        if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            bail!("taint {s:?}: effect must be NoSchedule, PreferNoSchedule or NoExecute");
        }
        let (key, value) = match key_value.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (key_value, None),
        };
        if key.is_empty() {
            bail!("taint {s:?} has an empty key");
        }
        Ok(Taint { key: key.into(), value, effect: effect.into() })
    }
}

impl Taint {
    fn to_json(&self) -> Value {
        let mut t = json!({"key": self.key, "effect": self.effect});
        if let Some(v) = &self.value {
            t["value"] = json!(v);
        }
        t
    }
}

/// `status.nodeInfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub machine_id: String,
    pub system_uuid: String,
    pub boot_id: String,
    pub kernel_version: String,
    pub os_image: String,
    pub container_runtime_version: String,
    pub architecture: &'static str,
}

/// What the host tells about itself: `uname -r` and `/etc/os-release`'s PRETTY_NAME.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRelease {
    pub kernel_version: String,
    pub os_image: String,
}

impl HostRelease {
    /// Reads this machine's release, falling back to placeholders where it cannot.
    pub fn read() -> HostRelease {
        let kernel_version = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let os_image = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|release| {
                release
                    .lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string()))
            })
            .unwrap_or_else(|| "Linux".into());
        HostRelease { kernel_version, os_image }
    }
}

impl NodeInfo {
    /// The host's kernel and OS image, with identifiers made for `name` (simulated nodes share
    /// one host, as kubemark's hollow nodes do).
    pub fn of_host(name: &str, host: &HostRelease, container_runtime_version: &str) -> NodeInfo {
        let HostRelease { kernel_version, os_image } = host.clone();
        let id = hex_digest(name);
        NodeInfo {
            machine_id: id[..32].to_string(),
            system_uuid: format!(
                "{}-{}-{}-{}-{}",
                &id[..8],
                &id[8..12],
                &id[12..16],
                &id[16..20],
                &id[20..32]
            ),
            boot_id: format!(
                "{}-{}-{}-{}-{}",
                &id[32..40],
                &id[40..44],
                &id[44..48],
                &id[48..52],
                &id[52..64]
            ),
            kernel_version,
            os_image,
            container_runtime_version: container_runtime_version.to_string(),
            architecture: go_arch(),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "machineID": self.machine_id,
            "systemUUID": self.system_uuid,
            "bootID": self.boot_id,
            "kernelVersion": self.kernel_version,
            "osImage": self.os_image,
            "containerRuntimeVersion": self.container_runtime_version,
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": self.architecture,
        })
    }
}

/// Everything a node is registered with.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub name: String,
    pub internal_ip: Ipv4Addr,
    /// `spec.podCIDR`, e.g. `10.42.3.0/24`.
    pub pod_cidr: Option<String>,
    pub capacity: Capacity,
    /// Labels besides the well-known ones the kubelet always sets.
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub info: NodeInfo,
    /// Where the kubelet endpoint listens (`status.daemonEndpoints`).
    pub kubelet_port: u16,
}

impl NodeSpec {
    /// The labels upstream's kubelet sets on its Node, then `self.labels` over them.
    pub fn all_labels(&self) -> BTreeMap<String, String> {
        let mut labels: BTreeMap<String, String> = [
            ("beta.kubernetes.io/arch", self.info.architecture),
            ("beta.kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", self.info.architecture),
            ("kubernetes.io/hostname", self.name.as_str()),
            ("kubernetes.io/os", "linux"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        labels.extend(self.labels.clone());
        labels
    }

    /// The Node to create, status included (as kubelet registers it).
    pub fn to_object(&self, now: Timestamp) -> Value {
        let mut spec = json!({});
        if let Some(cidr) = &self.pod_cidr {
            spec["podCIDR"] = json!(cidr);
            spec["podCIDRs"] = json!([cidr]);
        }
        if !self.taints.is_empty() {
            spec["taints"] = Value::Array(self.taints.iter().map(Taint::to_json).collect());
        }
        json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": self.all_labels(),
                "annotations": {"volumes.kubernetes.io/controller-managed-attach-detach": "true"},
            },
            "spec": spec,
            "status": self.status(now, now),
        })
    }

    /// The full status; conditions changed at `since`, last reported `now`.
    pub fn status(&self, since: Timestamp, now: Timestamp) -> Value {
        self.status_with(since, now, None)
    }

    /// The full status, with Ready=False (`KubeletNotReady`) and `not_ready` as its message
    /// when given: what a kubelet reports until its runtime and network are ready.
    pub fn status_with(&self, since: Timestamp, now: Timestamp, not_ready: Option<&str>) -> Value {
        let mut conditions = healthy_conditions(since, now);
        if let Some(message) = not_ready {
            conditions[3]["status"] = json!("False");
            conditions[3]["reason"] = json!("KubeletNotReady");
            conditions[3]["message"] = json!(message);
        }
        json!({
            "capacity": self.capacity.capacity_json(),
            "allocatable": self.capacity.allocatable_json(),
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": self.internal_ip.to_string()},
                {"type": "Hostname", "address": self.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}},
            "nodeInfo": self.info.to_json(),
        })
    }
}

/// The four conditions of a healthy node: no pressure, Ready.
fn healthy_conditions(since: Timestamp, now: Timestamp) -> Value {
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": rfc3339(now),
            "lastTransitionTime": rfc3339(since),
        })
    };
    json!([
        condition(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available"
        ),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ])
}

/// A strategic-merge patch for `nodes/{name}/status` that reports the node alive at `now`
/// (conditions merge by `type`, so only the heartbeat times change).
pub fn heartbeat_patch(now: Timestamp) -> Value {
    let at = rfc3339(now);
    let conditions: Vec<Value> = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        .iter()
        .map(|kind| json!({"type": kind, "lastHeartbeatTime": at}))
        .collect();
    json!({"status": {"conditions": conditions}})
}

/// Parses a memory quantity (`16Gi`, `512Mi`, `1G`, `1073741824`) into bytes.
///
/// # Errors
/// If the number or its suffix is not a quantity.
pub fn parse_bytes(quantity: &str) -> Result<u64> {
    let q = quantity.trim();
    let split = q.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let number: f64 = number.parse().with_context(|| format!("invalid quantity {quantity:?}"))?;
    let multiplier: f64 = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        _ => bail!("invalid quantity {quantity:?}: unknown suffix {suffix:?}"),
    };
    Ok((number * multiplier) as u64)
}

/// Go's name for this machine's architecture (`GOARCH`).
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn hex_digest(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(s.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> NodeSpec {
        NodeSpec {
            name: "sim-node-0".into(),
            internal_ip: Ipv4Addr::new(172, 16, 0, 1),
            pod_cidr: Some("10.42.0.0/24".into()),
            capacity: Capacity::default(),
            labels: [("zone".to_string(), "a".to_string())].into(),
            taints: vec!["dedicated=sim:NoSchedule".parse().unwrap()],
            info: NodeInfo::of_host("sim-node-0", &HostRelease::read(), "containerd://2.1.4"),
            kubelet_port: KUBELET_PORT,
        }
    }

    #[test]
    fn reserved_resources_come_off_allocatable() {
        let kube = Reserved::parse("cpu=100m, memory=256Mi").unwrap();
        let system = Reserved::parse("memory=512Mi,ephemeral-storage=1Gi").unwrap();
        let capacity = Capacity { reserved: kube.plus(system), ..Capacity::default() };
        let allocatable = capacity.allocatable_json();
        assert_eq!(allocatable["cpu"], "3900m");
        assert_eq!(allocatable["memory"], format!("{}Ki", ((16u64 << 30) - (868u64 << 20)) / 1024));
        assert_eq!(allocatable["ephemeral-storage"], ((100u64 << 30) / 10 * 9 - (1 << 30)).to_string());
        assert_eq!(Capacity::default().allocatable_json()["cpu"], "4");
        assert_eq!(
            Capacity { reserved: Reserved::parse("cpu=1").unwrap(), ..Capacity::default() }
                .allocatable_json()["cpu"],
            "3"
        );
        for bad in ["cpu", "gpu=1", "memory=-1Gi", "memory=lots"] {
            assert!(Reserved::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_node_object_carries_what_kubelet_registers() {
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let node = spec().to_object(now);
        assert_eq!(node["metadata"]["labels"]["kubernetes.io/hostname"], "sim-node-0");
        assert_eq!(node["metadata"]["labels"]["kubernetes.io/os"], "linux");
        assert_eq!(node["metadata"]["labels"]["zone"], "a");
        assert_eq!(node["spec"]["podCIDRs"], json!(["10.42.0.0/24"]));
        assert_eq!(
            node["spec"]["taints"],
            json!([{"key": "dedicated", "value": "sim", "effect": "NoSchedule"}])
        );
        let status = &node["status"];
        assert_eq!(status["capacity"]["memory"], "16777216Ki");
        assert_eq!(status["allocatable"]["memory"], "16674816Ki");
        assert_eq!(status["capacity"]["pods"], "110");
        assert_eq!(status["conditions"][3]["type"], "Ready");
        assert_eq!(status["conditions"][3]["status"], "True");
        assert_eq!(status["addresses"][0], json!({"type": "InternalIP", "address": "172.16.0.1"}));
        assert_eq!(status["nodeInfo"]["kubeletVersion"], KUBELET_VERSION);
        assert_eq!(status["nodeInfo"]["systemUUID"].as_str().unwrap().len(), 36);
    }

    #[test]
    fn quantities_and_taints_parse() {
        assert_eq!(parse_bytes("16Gi").unwrap(), 16 << 30);
        assert_eq!(parse_bytes("512Mi").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1_000_000_000);
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert!(parse_bytes("1Qi").is_err());
        assert_eq!(
            "gpu:NoExecute".parse::<Taint>().unwrap(),
            Taint { key: "gpu".into(), value: None, effect: "NoExecute".into() }
        );
        assert!("k=v".parse::<Taint>().is_err());
        assert!("k=v:Sometimes".parse::<Taint>().is_err());
    }
}
