//! The parts of a real node's status that change while it runs: the images on the node and
//! the pressure conditions, as upstream's kubelet reports them. The heartbeat posts the status
//! when these change, besides its every-5-minutes report.

use serde_json::{Value, json};

use crate::runtime::proto::Image;

/// Upstream's `nodeStatusMaxImages`.
const MAX_IMAGES: usize = 50;
/// Upstream's default hard eviction thresholds: `memory.available<100Mi`,
/// `nodefs.available<10%`, `nodefs.inodesFree<5%`. There is no default for PIDs.
const MEMORY_AVAILABLE_MIN: u64 = 100 << 20;
const NODEFS_AVAILABLE_MIN_PERCENT: u64 = 10;
const NODEFS_INODES_FREE_MIN_PERCENT: u64 = 5;

/// `status.images`: the largest images first, at most 50, each named by its digests then
/// its tags.
pub fn images(images: &[Image]) -> Value {
    let mut sorted: Vec<&Image> = images.iter().collect();
    sorted.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.id.cmp(&b.id)));
    Value::Array(
        sorted
            .into_iter()
            .take(MAX_IMAGES)
            .map(|image| {
                let names: Vec<&String> = image.repo_digests.iter().chain(&image.repo_tags).collect();
                json!({"names": names, "sizeBytes": image.size})
            })
            .collect(),
    )
}

/// What the eviction signals read on the machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readings {
    pub memory_available_bytes: u64,
    pub nodefs_available_bytes: u64,
    pub nodefs_total_bytes: u64,
    pub nodefs_inodes_free: u64,
    pub nodefs_inodes_total: u64,
}

/// Which pressure conditions hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pressure {
    pub memory: bool,
    pub disk: bool,
}

impl Pressure {
    /// The conditions the default hard eviction thresholds give for `r`.
    pub fn from(r: &Readings) -> Pressure {
        let below =
            |free: u64, total: u64, percent: u64| total > 0 && free.saturating_mul(100) < total * percent;
        Pressure {
            memory: r.memory_available_bytes < MEMORY_AVAILABLE_MIN,
            disk: below(r.nodefs_available_bytes, r.nodefs_total_bytes, NODEFS_AVAILABLE_MIN_PERCENT)
                || below(r.nodefs_inodes_free, r.nodefs_inodes_total, NODEFS_INODES_FREE_MIN_PERCENT),
        }
    }

    /// Sets the MemoryPressure and DiskPressure entries of `conditions` (the node's four
    /// conditions, as `node.rs` builds them) with upstream's reasons and messages.
    pub fn apply(&self, conditions: &mut Value) {
        let Some(list) = conditions.as_array_mut() else { return };
        for condition in list {
            let (status, reason, message) = match condition["type"].as_str() {
                Some("MemoryPressure") if self.memory => {
                    ("True", "KubeletHasInsufficientMemory", "kubelet has insufficient memory available")
                }
                Some("DiskPressure") if self.disk => {
                    ("True", "KubeletHasDiskPressure", "kubelet has disk pressure")
                }
                _ => continue,
            };
            condition["status"] = json!(status);
            condition["reason"] = json!(reason);
            condition["message"] = json!(message);
        }
    }
}

/// Reads the signals: `MemAvailable` and the filesystem holding `data_dir`.
///
/// # Errors
/// When /proc/meminfo or the filesystem cannot be read.
pub fn read(data_dir: &std::path::Path) -> anyhow::Result<Readings> {
    use anyhow::Context;
    let meminfo = std::fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
    let available_kib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .context("/proc/meminfo has no MemAvailable")?;
    let fs = crate::host::filesystem(data_dir)?;
    Ok(Readings {
        memory_available_bytes: available_kib * 1024,
        nodefs_available_bytes: fs.available_bytes,
        nodefs_total_bytes: fs.total_bytes,
        nodefs_inodes_free: fs.inodes_free,
        nodefs_inodes_total: fs.inodes_total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, size: u64, tags: &[&str], digests: &[&str]) -> Image {
        Image {
            id: id.into(),
            size,
            repo_tags: tags.iter().map(|t| (*t).to_string()).collect(),
            repo_digests: digests.iter().map(|d| (*d).to_string()).collect(),
            ..Image::default()
        }
    }

    #[test]
    fn images_are_listed_largest_first_with_digests_then_tags() {
        let list = images(&[
            image("a", 10, &["pause:3.10"], &["pause@sha256:aa"]),
            image("b", 99, &["busybox:1.35", "busybox:latest"], &["busybox@sha256:bb"]),
        ]);
        assert_eq!(
            list,
            json!([
                {"names": ["busybox@sha256:bb", "busybox:1.35", "busybox:latest"], "sizeBytes": 99},
                {"names": ["pause@sha256:aa", "pause:3.10"], "sizeBytes": 10},
            ])
        );
        let many: Vec<Image> = (0..60).map(|i| image(&i.to_string(), i, &[], &[])).collect();
        assert_eq!(images(&many).as_array().unwrap().len(), MAX_IMAGES);
    }

    #[test]
    fn pressure_follows_the_default_eviction_thresholds() {
        let healthy = Readings {
            memory_available_bytes: 1 << 30,
            nodefs_available_bytes: 50,
            nodefs_total_bytes: 100,
            nodefs_inodes_free: 50,
            nodefs_inodes_total: 100,
        };
        assert_eq!(Pressure::from(&healthy), Pressure::default());
        let low_memory = Readings { memory_available_bytes: 99 << 20, ..healthy };
        assert_eq!(Pressure::from(&low_memory), Pressure { memory: true, disk: false });
        let full_disk = Readings { nodefs_available_bytes: 9, ..healthy };
        assert_eq!(Pressure::from(&full_disk), Pressure { memory: false, disk: true });
        let no_inodes = Readings { nodefs_inodes_free: 4, ..healthy };
        assert!(Pressure::from(&no_inodes).disk);

        let mut conditions = json!([
            {"type": "MemoryPressure", "status": "False"},
            {"type": "DiskPressure", "status": "False"},
            {"type": "Ready", "status": "True"},
        ]);
        Pressure { memory: true, disk: false }.apply(&mut conditions);
        assert_eq!(conditions[0]["status"], "True");
        assert_eq!(conditions[0]["reason"], "KubeletHasInsufficientMemory");
        assert_eq!(conditions[1]["status"], "False");
        assert_eq!(conditions[2]["status"], "True");
    }

    #[test]
    fn this_machine_can_be_read() {
        let readings = read(std::path::Path::new("/")).unwrap();
        assert!(readings.memory_available_bytes > 0 && readings.nodefs_total_bytes > 0);
    }
}
