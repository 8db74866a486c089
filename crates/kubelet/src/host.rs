//! What this machine offers as a node: its CPUs, memory and the data dir's filesystem (the
//! capacity upstream's cadvisor reports), its name and the address it reaches the server from.

use std::{
    net::{IpAddr, Ipv4Addr, ToSocketAddrs, UdpSocket},
    path::Path,
};

use anyhow::{Context, Result, bail};

use crate::node::Capacity;

/// The capacity of this machine: online CPUs, `MemTotal`, 110 pods (upstream's `maxPods`) and
/// the size of the filesystem holding `data_dir`.
///
/// # Errors
/// When `/proc/meminfo` or the filesystem cannot be read.
pub fn capacity(data_dir: &Path) -> Result<Capacity> {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let meminfo = std::fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
    Ok(Capacity {
        cpu: cpus.to_string(),
        memory_bytes: mem_total(&meminfo)?,
        pods: 110,
        ephemeral_storage_bytes: filesystem_bytes(data_dir)?,
        reserved: crate::node::Reserved::default(),
    })
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn mem_total(meminfo: &str) -> Result<u64> {
    let line = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:"));
    let Some(value) = line else { bail!("/proc/meminfo has no MemTotal") };
    let kib = value.trim().trim_end_matches("kB").trim();
    let kib: u64 = kib.parse().with_context(|| format!("/proc/meminfo: MemTotal {value:?}"))?;
    Ok(kib * 1024)
}

/// The size of the filesystem holding `path`.
fn filesystem_bytes(path: &Path) -> Result<u64> {
    Ok(filesystem(path)?.total_bytes)
}

/// Space and inodes of a filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filesystem {
    pub total_bytes: u64,
    /// What an unprivileged process may still use (`f_bavail`), as upstream's nodefs.available.
    pub available_bytes: u64,
    pub inodes_total: u64,
    pub inodes_free: u64,
}

/// The filesystem holding `path`.
///
/// # Errors
/// When `statvfs` fails (the path does not exist).
pub fn filesystem(path: &Path) -> Result<Filesystem> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .with_context(|| format!("{} is not a C string", path.display()))?;
    // SAFETY: statvfs fills the zeroed struct; the path is a valid C string.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("statvfs {}", path.display()));
    }
    // u64 on 64-bit targets, narrower on some 32-bit ones.
    #[allow(clippy::useless_conversion)]
    Ok(Filesystem {
        total_bytes: u64::from(stat.f_blocks) * u64::from(stat.f_frsize),
        available_bytes: u64::from(stat.f_bavail) * u64::from(stat.f_frsize),
        inodes_total: u64::from(stat.f_files),
        inodes_free: u64::from(stat.f_ffree),
    })
}

/// This machine's host name, lowercased as a node name must be.
pub fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name = name.trim().to_ascii_lowercase();
    if name.is_empty() { "localhost".into() } else { name }
}

/// The address this machine reaches `server_url` from: the node's InternalIP, as upstream's
/// kubelet picks the address of the default route's interface. No packet is sent.
///
/// # Errors
/// When the URL has no host or no route leads there.
pub fn internal_ip(server_url: &str) -> Result<Ipv4Addr> {
    let url: http::Uri = server_url.parse().with_context(|| format!("server URL {server_url:?}"))?;
    let Some(host) = url.host() else { bail!("server URL {server_url:?} has no host") };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = url.port_u16().unwrap_or(6443);
    let target = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .find(std::net::SocketAddr::is_ipv4)
        .with_context(|| format!("{host} has no IPv4 address"))?;
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).context("binding a UDP socket")?;
    socket.connect(target).with_context(|| format!("finding the route to {target}"))?;
    match socket.local_addr().context("the route's source address")?.ip() {
        IpAddr::V4(ip) => Ok(ip),
        IpAddr::V6(ip) => bail!("the route to {target} leaves from {ip}, not IPv4"),
    }
}

/// The address of the default route's interface (the node's InternalIP when the agent runs
/// inside the server, whose URL is loopback), or loopback on a machine with no default route.
pub fn default_route_ip() -> Ipv4Addr {
    // TEST-NET-1: never on a local link, so the lookup takes the default route.
    internal_ip("https://192.0.2.1:6443").unwrap_or(Ipv4Addr::LOCALHOST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_comes_from_meminfo() {
        let meminfo = "MemTotal:       16316412 kB\nMemFree:         1234 kB\n";
        assert_eq!(mem_total(meminfo).unwrap(), 16_316_412 * 1024);
        assert!(mem_total("MemFree: 1 kB\n").is_err());
        assert!(mem_total("MemTotal: lots kB\n").is_err());
    }

    #[test]
    fn this_machine_has_a_capacity_and_a_route_to_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let capacity = capacity(dir.path()).unwrap();
        assert!(capacity.memory_bytes > 0 && capacity.ephemeral_storage_bytes > 0);
        assert_eq!(capacity.pods, 110);
        assert_eq!(internal_ip("https://127.0.0.1:6443").unwrap(), Ipv4Addr::LOCALHOST);
        assert!(internal_ip("not a url").is_err());
        assert!(filesystem_bytes(Path::new("/no/such/dir")).is_err());
    }
}
