//! API server benchmark: a real `tug server` process driven over HTTPS by kube-rs, the client
//! the controllers use. No upstream API server can run here, so figures stand beside the
//! roadmap's targets.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api, Client,
    api::{ListParams, Patch, PatchParams, PostParams, WatchParams},
    config::{KubeConfigOptions, Kubeconfig},
};

use crate::stats::{Samples, ms};

struct Sizes {
    pods: usize,
    reads: usize,
    list_runs: usize,
    patches: usize,
    watchers: usize,
    watch_events: usize,
    rss_pods: usize,
}

impl Sizes {
    fn new(quick: bool) -> Self {
        if quick {
            Sizes {
                pods: 1_000,
                reads: 200,
                list_runs: 3,
                patches: 1_000,
                watchers: 50,
                watch_events: 20,
                rss_pods: 5_000,
            }
        } else {
            Sizes {
                pods: 10_000,
                reads: 2_000,
                list_runs: 10,
                patches: 10_000,
                watchers: 1_000,
                watch_events: 100,
                rss_pods: 100_000,
            }
        }
    }
}

/// The `tug` binary the benchmarks start: `$TUG_BIN`, or the one beside `tug-bench`.
pub(crate) fn tug_binary() -> PathBuf {
    std::env::var_os("TUG_BIN").map(PathBuf::from).unwrap_or_else(|| {
        std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join("tug"))).unwrap_or_default()
    })
}

/// A `tug server` process, killed when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    kubeconfig: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `tug server` in `dir` with the agent off and `extra` arguments.
    pub(crate) fn start(dir: &Path, extra: &[&str]) -> anyhow::Result<Server> {
        let tug = tug_binary();
        let mut child = Command::new(&tug)
            .args([
                "server",
                "--bind-address",
                "127.0.0.1",
                "--https-port",
                "0",
                "--disable-agent",
                "--data-dir",
            ])
            .arg(dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| {
                format!("starting {} (build it with cargo build --release -p tug)", tug.display())
            })?;
        let stderr = child.stderr.take().context("server stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        loop {
            let line = lines.next().context("the server exited before it was ready")??;
            if line.contains("API server ready") {
                break;
            }
        }
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Server { child, kubeconfig: dir.join("kubeconfig.yaml") })
    }

    pub(crate) fn rss_mib(&self) -> f64 {
        crate::procstat::memory_mib(self.child.id(), "VmRSS")
    }

    /// The server's URL, as its kubeconfig names it, and the join token it wrote.
    pub(crate) fn join(&self) -> anyhow::Result<(String, String)> {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)?;
        let url = kubeconfig
            .clusters
            .iter()
            .find_map(|c| c.cluster.as_ref()?.server.clone())
            .context("no server in the kubeconfig")?;
        let dir = self.kubeconfig.parent().context("the kubeconfig's directory")?;
        let token = std::fs::read_to_string(dir.join("token")).context("reading the join token")?;
        Ok((url, token.trim().to_string()))
    }

    pub(crate) async fn client(&self) -> anyhow::Result<Client> {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        Ok(Client::try_from(config)?)
    }
}

fn pod(name: &str) -> anyhow::Result<Pod> {
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench", "tier": "web"}},
        "spec": {
            "containers": [{
                "name": "app",
                "image": "registry.example/app:1.0",
                "ports": [{"containerPort": 8080}],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                "env": [{"name": "MODE", "value": "bench"}],
            }],
            "nodeName": "node-1",
        },
    }))?)
}

/// Runs `total` calls of `op(i)` from `clients` concurrent tasks; returns calls per second.
async fn concurrently<F, Fut>(clients: usize, total: usize, op: F) -> anyhow::Result<f64>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let t = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let op = op.clone();
            tokio::spawn(async move {
                for i in (c..total).step_by(clients) {
                    op(i).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(total as f64 / t.elapsed().as_secs_f64())
}

pub async fn run(scratch: &Path, quick: bool) -> anyhow::Result<String> {
    std::fs::create_dir_all(scratch)?;
    let dir = tempfile::tempdir_in(scratch)?;
    let sizes = Sizes::new(quick);
    // The scheduler would answer every pod here with events and status writes.
    let server = Server::start(dir.path(), &["--disable-scheduler", "--disable-controller", "all"])?;
    let client = server.client().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.list(&ListParams::default().limit(1)).await?;
    let idle_rss = server.rss_mib();

    eprintln!("api: create {} pods", sizes.pods);
    let api = pods.clone();
    let create_rate = concurrently(64, sizes.pods, move |i| {
        let api = api.clone();
        async move {
            api.create(&PostParams::default(), &pod(&format!("pod-{i:06}"))?).await?;
            Ok(())
        }
    })
    .await?;

    let mut get = Samples::default();
    for i in 0..sizes.reads {
        let t = Instant::now();
        pods.get(&format!("pod-{:06}", (i * 7919) % sizes.pods)).await?;
        get.push(t.elapsed());
    }

    // The server's side of a LIST: the response read whole, not decoded into typed Pods.
    let mut list = Samples::default();
    for _ in 0..sizes.list_runs {
        let t = Instant::now();
        let request = http::Request::get("/api/v1/namespaces/default/pods").body(Vec::new())?;
        let text = client.request_text(request).await?;
        list.push(t.elapsed());
        anyhow::ensure!(text.matches("\"kind\":\"Pod\"").count() == sizes.pods, "the list is incomplete");
    }

    eprintln!("api: {} patches", sizes.patches);
    let api = pods.clone();
    let pod_count = sizes.pods;
    let patch_rate = concurrently(64, sizes.patches, move |i| {
        let api = api.clone();
        async move {
            let patch = serde_json::json!({"metadata": {"labels": {"round": i.to_string()}}});
            api.patch(&format!("pod-{:06}", i % pod_count), &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            Ok(())
        }
    })
    .await?;

    eprintln!("api: watch fan-out to {} watchers", sizes.watchers);
    let (watch_p50, watch_p99) = watch_fan_out(&client, &sizes).await?;
    let loaded_rss = server.rss_mib();

    eprintln!("api: fill to {} pods for memory", sizes.rss_pods);
    let api = pods.clone();
    let start = sizes.pods + sizes.watch_events;
    concurrently(64, sizes.rss_pods.saturating_sub(start), move |i| {
        let api = api.clone();
        async move {
            api.create(&PostParams::default(), &pod(&format!("fill-{:06}", i))?).await?;
            Ok(())
        }
    })
    .await?;
    let full_rss = server.rss_mib();
    let mut full_list = Samples::default();
    for _ in 0..3 {
        let t = Instant::now();
        pods.list(&ListParams::default().limit(500)).await?;
        full_list.push(t.elapsed());
    }

    let rows = [
        ("server RSS, idle".to_string(), format!("{idle_rss:.1} MiB"), "under 50 MB"),
        ("create pods, 64 clients".to_string(), format!("{create_rate:.0}/s"), ""),
        (
            format!("GET pod p50 / p99 ({} pods)", sizes.pods),
            format!("{} / {}", ms(get.percentile(50.0)), ms(get.percentile(99.0))),
            "p99 under 50 ms",
        ),
        (
            format!("LIST {} pods (response read whole), p50", sizes.pods),
            ms(list.percentile(50.0)),
            "under 100 ms",
        ),
        ("merge-patch pods, 64 clients".to_string(), format!("{patch_rate:.0}/s"), ""),
        (
            format!("watch delivery p50 / p99, {} watchers", sizes.watchers),
            format!("{} / {}", ms(watch_p50), ms(watch_p99)),
            "",
        ),
        (format!("server RSS with {} pods", sizes.pods), format!("{loaded_rss:.1} MiB"), ""),
        (format!("server RSS with {} pods", sizes.rss_pods), format!("{full_rss:.1} MiB"), ""),
        (
            format!("LIST first page of 500 of {} pods, p50", sizes.rss_pods),
            ms(full_list.percentile(50.0)),
            "",
        ),
    ];
    let mut out = format!(
        "Run `scripts/bench.sh api`{}. `tug server` (embedded datastore, release build) driven over HTTPS by kube-rs from the same machine; pods of about 1 KiB. Machine: {}.\n\n",
        if quick { " (--quick)" } else { "" },
        crate::datastore::machine()
    );
    out.push_str("| measure | tug | target |\n|---|---|---|\n");
    for (name, value, target) in rows {
        out.push_str(&format!("| {name} | {value} | {target} |\n"));
    }
    Ok(out)
}

/// Many watchers on the pod collection; new pods are created at 100 per second and each
/// watcher's receipt time is measured from the start of the create call. Watchers read the
/// raw event lines and pick out the pod's name: decoding 1,000 copies of every pod into typed
/// objects would measure this process, which shares the machine's two cores with the server.
async fn watch_fan_out(client: &Client, sizes: &Sizes) -> anyhow::Result<(Duration, Duration)> {
    use futures::{AsyncBufReadExt, io::AsyncBufRead};

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let version =
        pods.list(&ListParams::default().limit(1)).await?.metadata.resource_version.unwrap_or_default();
    let base = Instant::now();
    let started: Arc<Vec<std::sync::atomic::AtomicU64>> =
        Arc::new((0..sizes.watch_events).map(|_| std::sync::atomic::AtomicU64::new(0)).collect());
    let mut watchers = Vec::new();
    for _ in 0..sizes.watchers {
        let request = kube::core::Request::new("/api/v1/namespaces/default/pods")
            .watch(&WatchParams::default().labels("app=watch"), &version)?;
        let reader = client.request_stream(request).await?;
        let started = started.clone();
        let events = sizes.watch_events;
        watchers.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut reader: std::pin::Pin<Box<dyn AsyncBufRead + Send>> = Box::pin(reader);
            let mut line = String::new();
            while samples.len() < events {
                line.clear();
                if reader.read_line(&mut line).await? == 0 {
                    anyhow::bail!("watch ended early");
                }
                let now = base.elapsed().as_nanos() as u64;
                let Some(at) = line.find("\"name\":\"watch-") else { continue };
                let digits = &line[at + 15..];
                let seq: usize = digits[..digits.find('"').context("pod name")?].parse()?;
                let sent = started[seq].load(std::sync::atomic::Ordering::Acquire);
                samples.push(Duration::from_nanos(now.saturating_sub(sent)));
            }
            anyhow::Ok(samples)
        }));
    }
    let mut pace = tokio::time::interval(Duration::from_millis(10));
    for seq in 0..sizes.watch_events {
        pace.tick().await;
        let mut p = pod(&format!("watch-{seq:06}"))?;
        p.metadata.labels.get_or_insert_default().insert("app".into(), "watch".into());
        started[seq].store(base.elapsed().as_nanos() as u64, std::sync::atomic::Ordering::Release);
        pods.create(&PostParams::default(), &p).await?;
    }
    let mut all = Samples::default();
    for w in watchers {
        all.extend(tokio::time::timeout(Duration::from_secs(120), w).await.context("watchers finish")???);
    }
    Ok((all.percentile(50.0), all.percentile(99.0)))
}
