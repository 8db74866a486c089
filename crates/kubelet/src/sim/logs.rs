//! Container logs of simulated pods, written in the CRI layout so that the agent's log
//! endpoint serves them exactly as it serves a real runtime's.
//!
//! Each run of a container writes `container <name> started (run <n>)`, then the lines of the
//! pod's `sim.tugboat.dev/log` annotation, and when it ends `container <name> exited with code
//! <code>`. Logs are kept until the pod is deleted, as the kubelet keeps them.

use std::{
    collections::{HashMap, HashSet},
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    sync::Mutex,
};

use jiff::Timestamp;

use crate::{
    logs::{
        cri,
        files::{self, ContainerRef, Liveness},
    },
    pod_status::{ContainerStatus, PodStatus, State, Terminated},
};

/// Lines each run of the pod's containers prints after starting (`\n`-separated).
pub const LOG: &str = "sim.tugboat.dev/log";

/// The log writer and liveness of all simulated containers.
#[derive(Debug)]
pub struct SimLogs {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    running: HashSet<ContainerRef>,
    /// Per pod uid: its namespace and name, the annotation's lines, and per container the
    /// last run whose start and whose end were written.
    pods: HashMap<String, PodLogs>,
}

#[derive(Debug, Default)]
struct PodLogs {
    namespace: String,
    name: String,
    lines: Vec<String>,
    written: HashMap<String, (Option<u32>, Option<u32>)>,
}

impl SimLogs {
    /// Logs under `dir`, which is emptied: simulated containers do not outlive the agent.
    pub fn new(dir: PathBuf) -> std::io::Result<SimLogs> {
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        fs::create_dir_all(&dir)?;
        Ok(SimLogs { dir, inner: Mutex::default() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Notes a pod the runtime admitted, with its annotation's log lines.
    pub fn admit(&self, uid: &str, namespace: &str, name: &str, log: Option<&str>) {
        let lines = log.map(|l| l.lines().map(str::to_string).collect()).unwrap_or_default();
        let mut inner = self.lock();
        inner.pods.entry(uid.to_string()).or_insert_with(|| PodLogs {
            namespace: namespace.to_string(),
            name: name.to_string(),
            lines,
            written: HashMap::new(),
        });
    }

    /// Writes what the containers did since the last status of pod `uid`.
    pub fn observe(&self, uid: &str, status: &PodStatus) {
        self.observe_containers(uid, status.init_container_statuses.iter().chain(&status.container_statuses));
    }

    fn observe_containers<'a>(&self, uid: &str, statuses: impl Iterator<Item = &'a ContainerStatus>) {
        let mut inner = self.lock();
        let Inner { running, pods } = &mut *inner;
        let Some(pod) = pods.get_mut(uid) else { return };
        for c in statuses {
            let key = ContainerRef {
                namespace: pod.namespace.clone(),
                pod: pod.name.clone(),
                container: c.name.clone(),
            };
            if let Err(e) = write_runs(&self.dir, uid, pod, c) {
                tracing::warn!(pod = %format!("{}/{}", pod.namespace, pod.name), error = %e, "writing a simulated log");
            }
            if matches!(c.state, State::Running { .. }) {
                running.insert(key);
            } else {
                running.remove(&key);
            }
        }
    }

    /// Removes the logs of a deleted pod (which ends any follower).
    pub fn remove(&self, uid: &str) {
        let mut inner = self.lock();
        let Some(pod) = inner.pods.remove(uid) else { return };
        inner.running.retain(|c| c.namespace != pod.namespace || c.pod != pod.name);
        let dir = files::pod_dir(&self.dir, &pod.namespace, &pod.name, uid);
        if let Err(e) = fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), error = %e, "removing simulated logs");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Liveness for SimLogs {
    fn running(&self, container: &ContainerRef) -> bool {
        self.lock().running.contains(container)
    }
}

/// Writes the starts and ends of runs that `c` shows and the files do not have yet.
fn write_runs(dir: &Path, uid: &str, pod: &mut PodLogs, c: &ContainerStatus) -> std::io::Result<()> {
    let run = c.restart_count;
    // Waiting after an exit (back-off), `lastState` is the run just ended; otherwise the one
    // before the current run.
    let last_run = match c.state {
        State::Waiting { .. } => Some(run),
        _ => run.checked_sub(1),
    };
    if let (Some(last), Some(n)) = (&c.last_state, last_run) {
        ended(dir, uid, pod, &c.name, n, last)?;
    }
    match &c.state {
        State::Running { started_at } => started(dir, uid, pod, &c.name, run, *started_at),
        State::Terminated(t) => ended(dir, uid, pod, &c.name, run, t),
        State::Waiting { .. } => Ok(()),
    }
}

fn started(
    dir: &Path,
    uid: &str,
    pod: &mut PodLogs,
    container: &str,
    run: u32,
    at: Timestamp,
) -> std::io::Result<()> {
    let written = pod.written.entry(container.to_string()).or_default();
    if written.0.is_some_and(|w| w >= run) {
        return Ok(());
    }
    written.0 = Some(run);
    let mut text = cri::format(at, "stdout", &format!("container {container} started (run {run})"));
    for line in &pod.lines {
        text.push_str(&cri::format(at, "stdout", line));
    }
    append(&files::run_file(dir, &pod.namespace, &pod.name, uid, container, run), &text)
}

fn ended(
    dir: &Path,
    uid: &str,
    pod: &mut PodLogs,
    container: &str,
    run: u32,
    t: &Terminated,
) -> std::io::Result<()> {
    started(dir, uid, pod, container, run, t.started_at.unwrap_or(t.finished_at))?;
    let written = pod.written.entry(container.to_string()).or_default();
    if written.1.is_some_and(|w| w >= run) {
        return Ok(());
    }
    written.1 = Some(run);
    let stream = if t.exit_code == 0 { "stdout" } else { "stderr" };
    let line = cri::format(
        t.finished_at,
        stream,
        &format!("container {container} exited with code {}", t.exit_code),
    );
    append(&files::run_file(dir, &pod.namespace, &pod.name, uid, container, run), &line)
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::OpenOptions::new().create(true).append(true).open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_status::ContainerStatus;

    fn t(s: u64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s as i64).unwrap()
    }

    fn status(state: State, restart_count: u32, last: Option<Terminated>) -> ContainerStatus {
        ContainerStatus {
            name: "web".into(),
            restartable: false,
            image: "i".into(),
            image_id: "i".into(),
            container_id: None,
            state,
            last_state: last,
            ready: false,
            started: false,
            restart_count,
        }
    }

    fn read(dir: &Path, run: u32) -> Vec<String> {
        let text = fs::read_to_string(files::run_file(dir, "ns", "p", "u1", "web", run)).unwrap();
        text.lines().map(|l| cri::parse(l).unwrap().text.to_string()).collect()
    }

    #[test]
    fn writes_each_run_once_and_tracks_liveness() {
        let root = tempfile::tempdir().unwrap();
        let logs = SimLogs::new(root.path().join("pods")).unwrap();
        logs.admit("u1", "ns", "p", Some("hello\nworld"));
        let web = ContainerRef { namespace: "ns".into(), pod: "p".into(), container: "web".into() };
        let running = status(State::Running { started_at: t(0) }, 0, None);
        logs.observe_containers("u1", std::iter::once(&running));
        logs.observe_containers("u1", std::iter::once(&running));
        assert!(logs.running(&web));
        assert_eq!(read(logs.dir(), 0), ["container web started (run 0)", "hello", "world"]);
        let crashed = Terminated::exited(1, t(0), t(1), "id".into());
        let backoff = State::Waiting { reason: "CrashLoopBackOff".into(), message: None };
        logs.observe_containers("u1", std::iter::once(&status(backoff, 0, Some(crashed.clone()))));
        assert!(!logs.running(&web));
        logs.observe_containers(
            "u1",
            std::iter::once(&status(State::Running { started_at: t(5) }, 1, Some(crashed))),
        );
        assert_eq!(read(logs.dir(), 0).last().unwrap(), "container web exited with code 1");
        assert_eq!(read(logs.dir(), 0).len(), 4);
        assert_eq!(read(logs.dir(), 1)[0], "container web started (run 1)");
        logs.remove("u1");
        assert!(!logs.running(&web));
        assert!(!files::pod_dir(logs.dir(), "ns", "p", "u1").exists());
    }
}
