//! CPU time and memory of a process and its named threads, from /proc. Components inside
//! `tug server` run on named threads (`tug-scheduler`, `tug-controllers`), so their CPU can be
//! told apart from the API server's.

use std::collections::HashMap;

/// CPU seconds (user + system) of the process and of each thread name within it.
#[derive(Clone, Default)]
pub struct Cpu {
    pub process: f64,
    pub threads: HashMap<String, f64>,
}

impl Cpu {
    pub fn read(pid: u32) -> Cpu {
        let process = ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default());
        let mut threads = HashMap::new();
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for t in tasks.flatten() {
                let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
                let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
                *threads.entry(comm.trim().to_string()).or_insert(0.0) += ticks(&stat);
            }
        }
        Cpu { process, threads }
    }

    pub fn thread(&self, name: &str) -> f64 {
        self.threads.get(name).copied().unwrap_or(0.0)
    }

    /// The CPU used between `earlier` and this reading.
    pub fn since(&self, earlier: &Cpu) -> Cpu {
        let threads = self.threads.iter().map(|(name, s)| (name.clone(), s - earlier.thread(name))).collect();
        Cpu { process: self.process - earlier.process, threads }
    }
}

/// utime + stime of a /proc stat line, in seconds (USER_HZ is 100 on Linux).
fn ticks(stat: &str) -> f64 {
    // Fields after the parenthesized command: utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (get(11) + get(12)) / 100.0
}

/// A memory figure of /proc/PID/status in MiB: `VmRSS` (now) or `VmHWM` (peak).
pub fn memory_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let handle = std::thread::Builder::new()
            .name("bench-probe".into())
            .spawn(|| {
                let t = std::time::Instant::now();
                while t.elapsed() < std::time::Duration::from_millis(50) {
                    std::hint::black_box(0);
                }
                Cpu::read(std::process::id())
            })
            .unwrap();
        let cpu = handle.join().unwrap();
        assert!(cpu.threads.contains_key("bench-probe"));
        assert!(cpu.process >= cpu.thread("bench-probe"));
        assert!(memory_mib(pid, "VmRSS") > 0.0);
        assert!(memory_mib(pid, "VmHWM") >= memory_mib(pid, "VmRSS") * 0.5);
        assert_eq!(memory_mib(pid, "NoSuchField"), 0.0);
    }

    #[test]
    fn ticks_skip_the_command_name() {
        // A command name with spaces and parentheses must not shift the fields.
        let line = "42 (a) b) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0";
        assert_eq!(ticks(line), 3.0);
    }
}
