//! Container log files in the CRI layout, `<dir>/<namespace>_<pod>_<uid>/<container>/<run>.log`
//! (`<run>` is the restart count), and reading them: once, or following new records.

use std::{
    io::SeekFrom,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use tokio::{
    fs,
    io::{AsyncReadExt, AsyncSeekExt},
    sync::mpsc,
};

use super::cri::{self, Options, Renderer};

/// How often a followed file is checked for new records. Upstream's kubelet uses inotify with
/// a polling fallback; a short poll is enough at the sizes a node agent serves.
const FOLLOW_POLL: Duration = Duration::from_millis(200);
/// Bytes read from a followed file at a time.
const CHUNK: usize = 64 * 1024;

/// Which container's logs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContainerRef {
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

/// Whether a container is running now, from the runtime: a followed log ends once it is not.
pub trait Liveness: Send + Sync + 'static {
    fn running(&self, container: &ContainerRef) -> bool;
}

/// Why no log file was found.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error("no logs of container {container:?} in pod {namespace}/{pod} on this node")]
    NotFound { namespace: String, pod: String, container: String },
    #[error("previous terminated container {container:?} in pod {pod:?} not found")]
    NoPrevious { pod: String, container: String },
    #[error("reading the log directory {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// The directory of one pod's logs.
pub fn pod_dir(root: &Path, namespace: &str, pod: &str, uid: &str) -> PathBuf {
    root.join(format!("{namespace}_{pod}_{uid}"))
}

/// The log file of run `run` of `container`.
pub fn run_file(root: &Path, namespace: &str, pod: &str, uid: &str, container: &str, run: u32) -> PathBuf {
    pod_dir(root, namespace, pod, uid).join(container).join(format!("{run}.log"))
}

/// Finds the file to serve: the newest run, or with `previous` the run before the current one
/// (the newest run, when the container is not running: it is the one that ended last).
///
/// # Errors
/// If the pod, container or run has no file.
pub async fn locate(
    root: &Path,
    container: &ContainerRef,
    previous: bool,
    running: bool,
) -> Result<PathBuf, LocateError> {
    let not_found = || LocateError::NotFound {
        namespace: container.namespace.clone(),
        pod: container.pod.clone(),
        container: container.container.clone(),
    };
    let prefix = format!("{}_{}_", container.namespace, container.pod);
    // Of several pods that had the name (each uid its own directory), the newest.
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in read_dir(root).await? {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Names cannot hold '_', so the prefix pins namespace and pod exactly.
        if !name.starts_with(&prefix) || name[prefix.len()..].contains('_') {
            continue;
        }
        let modified = entry.metadata().await.and_then(|m| m.modified()).ok();
        let modified = modified.unwrap_or(std::time::UNIX_EPOCH);
        if newest.as_ref().is_none_or(|(t, _)| modified > *t) {
            newest = Some((modified, entry.path()));
        }
    }
    let dir = newest.ok_or_else(not_found)?.1.join(&container.container);
    let mut runs: Vec<u32> = read_dir(&dir)
        .await
        .map_err(|_| not_found())?
        .iter()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse().ok())
        .collect();
    runs.sort_unstable();
    let pick = if previous && running { runs.len().checked_sub(2) } else { runs.len().checked_sub(1) };
    match pick {
        Some(i) => Ok(dir.join(format!("{}.log", runs[i]))),
        None if previous => Err(LocateError::NoPrevious {
            pod: container.pod.clone(),
            container: container.container.clone(),
        }),
        None => Err(not_found()),
    }
}

async fn read_dir(path: &Path) -> Result<Vec<fs::DirEntry>, LocateError> {
    let io = |source| LocateError::Io { path: path.to_path_buf(), source };
    let mut entries = Vec::new();
    let mut dir = fs::read_dir(path).await.map_err(io)?;
    while let Some(entry) = dir.next_entry().await.map_err(io)? {
        entries.push(entry);
    }
    Ok(entries)
}

/// Streams `path` as the client reads it into `tx`, then, with `follow`, its new records until
/// the container stops, the file is removed, a newer run starts, or the receiver goes away.
pub async fn stream(
    path: PathBuf,
    options: Options,
    container: ContainerRef,
    liveness: Arc<dyn Liveness>,
    tx: mpsc::Sender<Vec<u8>>,
) {
    if let Err(e) = stream_inner(&path, options, &container, liveness.as_ref(), &tx).await {
        tracing::debug!(path = %path.display(), error = %e, "streaming a container log");
    }
}

async fn stream_inner(
    path: &Path,
    options: Options,
    container: &ContainerRef,
    liveness: &dyn Liveness,
    tx: &mpsc::Sender<Vec<u8>>,
) -> anyhow::Result<()> {
    let mut file = fs::File::open(path).await?;
    let mut data = Vec::new();
    file.read_to_end(&mut data).await?;
    // A last line without its newline is still being written: keep it for the next read.
    let complete = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut pending = data.split_off(complete);
    let text = String::from_utf8_lossy(&data);
    let records: Vec<_> = text.lines().filter_map(|l| cri::parse(l).ok()).collect();
    let follow = options.follow;
    let mut renderer = Renderer::new(options.clone());
    let mut out = Vec::new();
    for record in &records[cri::tail_start(&records, options.tail_lines)..] {
        renderer.render(record, &mut out);
    }
    if !out.is_empty() && tx.send(out).await.is_err() {
        return Ok(());
    }
    if !follow {
        return Ok(());
    }
    let mut offset = file.seek(SeekFrom::Current(0)).await?;
    let mut buf = vec![0; CHUNK];
    let mut drained = false;
    loop {
        if renderer.done() || tx.is_closed() {
            return Ok(());
        }
        // Read what is there before deciding to stop, so a container's last words are sent.
        let running = liveness.running(container);
        let n = file.read(&mut buf).await?;
        if n > 0 {
            offset += n as u64;
            pending.extend_from_slice(&buf[..n]);
            let complete = pending.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let rest = pending.split_off(complete);
            let mut out = Vec::new();
            for line in String::from_utf8_lossy(&pending).lines() {
                if let Ok(record) = cri::parse(line) {
                    renderer.render(&record, &mut out);
                }
            }
            pending = rest;
            if !out.is_empty() && tx.send(out).await.is_err() {
                return Ok(());
            }
            continue;
        }
        if !running || !fs::try_exists(path).await.unwrap_or(false) || newer_run(path).await {
            // The runtime copies a container's output to its log file on its own: the last line
            // can land just after the exit is reported. Read once more before ending.
            if drained {
                return Ok(());
            }
            drained = true;
            tokio::time::sleep(FOLLOW_POLL).await;
            continue;
        }
        // The file may have been truncated (log rotation): start over from its beginning.
        if fs::metadata(path).await.is_ok_and(|m| m.len() < offset) {
            file.seek(SeekFrom::Start(0)).await?;
            offset = 0;
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_POLL) => {}
            _ = tx.closed() => return Ok(()),
        }
    }
}

/// Whether a run newer than the one in `path` has a file: the container restarted.
async fn newer_run(path: &Path) -> bool {
    let (Some(dir), Some(run)) = (path.parent(), run_of(path)) else { return false };
    let Ok(mut entries) = fs::read_dir(dir).await else { return false };
    while let Ok(Some(entry)) = entries.next_entry().await {
        if run_of(&entry.path()).is_some_and(|other| other > run) {
            return true;
        }
    }
    false
}

fn run_of(path: &Path) -> Option<u32> {
    path.file_name()?.to_str()?.strip_suffix(".log")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    struct Flag(AtomicBool);
    impl Liveness for Flag {
        fn running(&self, _: &ContainerRef) -> bool {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn web() -> ContainerRef {
        ContainerRef { namespace: "ns".into(), pod: "p".into(), container: "web".into() }
    }

    async fn write(root: &Path, uid: &str, run: u32, text: &str) -> PathBuf {
        let path = run_file(root, "ns", "p", uid, "web", run);
        fs::create_dir_all(path.parent().unwrap()).await.unwrap();
        fs::write(&path, text).await.unwrap();
        path
    }

    #[tokio::test]
    async fn locates_current_and_previous_runs() {
        let root = tempfile::tempdir().unwrap();
        let one = write(root.path(), "u1", 1, "").await;
        let zero = write(root.path(), "u1", 0, "").await;
        assert_eq!(locate(root.path(), &web(), false, true).await.unwrap(), one);
        assert_eq!(locate(root.path(), &web(), true, true).await.unwrap(), zero);
        // Not running: the newest run is the one that ended last.
        assert_eq!(locate(root.path(), &web(), true, false).await.unwrap(), one);
        let other = ContainerRef { container: "db".into(), ..web() };
        assert!(matches!(locate(root.path(), &other, false, true).await, Err(LocateError::NotFound { .. })));
        let pod_q = ContainerRef { pod: "q".into(), ..web() };
        assert!(matches!(locate(root.path(), &pod_q, false, true).await, Err(LocateError::NotFound { .. })));
        fs::remove_file(zero).await.unwrap();
        assert!(matches!(locate(root.path(), &web(), true, true).await, Err(LocateError::NoPrevious { .. })));
    }

    #[tokio::test]
    async fn follows_until_the_container_stops() {
        let root = tempfile::tempdir().unwrap();
        let path =
            write(root.path(), "u1", 0, "2026-01-01T00:00:01Z stdout F a\n2026-01-01T00:00:02Z stdout P b")
                .await;
        let live = Arc::new(Flag(AtomicBool::new(true)));
        let (tx, mut rx) = mpsc::channel(4);
        let options = Options { follow: true, ..Options::default() };
        let task = tokio::spawn(stream(path.clone(), options, web(), live.clone(), tx));
        assert_eq!(rx.recv().await.unwrap(), b"a\n");
        let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        std::io::Write::write_all(&mut file, b"\n2026-01-01T00:00:03Z stdout F c\n").unwrap();
        assert_eq!(rx.recv().await.unwrap(), b"bc\n");
        live.0.store(false, Ordering::SeqCst);
        assert!(rx.recv().await.is_none());
        task.await.unwrap();
    }

    #[tokio::test]
    async fn follow_ends_when_the_pod_is_removed_or_restarts() {
        let root = tempfile::tempdir().unwrap();
        let path = write(root.path(), "u1", 0, "2026-01-01T00:00:01Z stdout F a\n").await;
        let live = Arc::new(Flag(AtomicBool::new(true)));
        let options = Options { follow: true, ..Options::default() };
        let (tx, mut rx) = mpsc::channel(4);
        tokio::spawn(stream(path.clone(), options.clone(), web(), live.clone(), tx));
        assert_eq!(rx.recv().await.unwrap(), b"a\n");
        let next = write(root.path(), "u1", 1, "2026-01-01T00:00:05Z stdout F b\n").await;
        assert!(rx.recv().await.is_none());
        let (tx, mut rx) = mpsc::channel(4);
        tokio::spawn(stream(next, options, web(), live, tx));
        assert_eq!(rx.recv().await.unwrap(), b"b\n");
        fs::remove_dir_all(root.path().join("ns_p_u1")).await.unwrap();
        assert!(rx.recv().await.is_none());
    }
}
