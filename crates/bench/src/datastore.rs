//! Datastore benchmark: the embedded backend and etcd on the same machine, same workload.

use std::{
    path::Path,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use bytes::Bytes;
use futures::StreamExt;
use tug_store::{
    Store,
    embedded::Embedded,
    etcd::{Etcd, LocalEtcd},
};

use crate::stats::{Samples, ms};

/// How much work each measurement does.
struct Sizes {
    value_bytes: usize,
    latency_writes: usize,
    writes_16: usize,
    writes_256: usize,
    list_keys: usize,
    list_runs: usize,
    watchers: usize,
    watch_events: usize,
    restart_keys: usize,
}

impl Sizes {
    fn new(quick: bool) -> Self {
        if quick {
            Sizes {
                value_bytes: 1024,
                latency_writes: 200,
                writes_16: 2_000,
                writes_256: 5_000,
                list_keys: 10_000,
                list_runs: 5,
                watchers: 100,
                watch_events: 50,
                restart_keys: 10_000,
            }
        } else {
            Sizes {
                value_bytes: 1024,
                latency_writes: 2_000,
                writes_16: 10_000,
                writes_256: 30_000,
                list_keys: 10_000,
                list_runs: 20,
                watchers: 1_000,
                watch_events: 200,
                restart_keys: 150_000,
            }
        }
    }
}

#[derive(Default)]
struct Results {
    write_p50: Duration,
    write_p99: Duration,
    tp_16: f64,
    tp_256: f64,
    list_p50: Duration,
    watch_p50: Duration,
    watch_p99: Duration,
    restart_clean: Option<Duration>,
    restart_crash: Duration,
}

pub async fn run(scratch: &Path, quick: bool) -> anyhow::Result<String> {
    std::fs::create_dir_all(scratch)?;
    let root = tempfile::tempdir_in(scratch).context("scratch directory")?;
    let sizes = Sizes::new(quick);

    eprintln!("embedded: workload");
    let embedded = Arc::new(Embedded::open_dir(&root.path().join("embedded"))?);
    let mut emb = measure(embedded.clone(), &sizes).await?;
    embedded.close().await;
    drop(embedded);
    eprintln!("embedded: restart with {} keys", sizes.restart_keys);
    let (clean, crash) = embedded_restart(&root.path().join("embedded-restart"), &sizes).await?;
    emb.restart_clean = Some(clean);
    emb.restart_crash = crash;

    eprintln!("etcd: workload");
    let etcd_proc = LocalEtcd::start(&root.path().join("etcd")).await?;
    let etcd = Arc::new(Etcd::connect(&[etcd_proc.endpoint()]).await?);
    let mut et = measure(etcd, &sizes).await?;
    drop(etcd_proc);
    eprintln!("etcd: restart with {} keys", sizes.restart_keys);
    et.restart_crash = etcd_restart(&root.path().join("etcd-restart"), &sizes).await?;

    Ok(table(&sizes, &emb, &et, quick))
}

/// The shared workload against one store.
async fn measure(store: Arc<dyn Store>, sizes: &Sizes) -> anyhow::Result<Results> {
    let value = Bytes::from(vec![b'v'; sizes.value_bytes]);
    let mut r = Results::default();

    let mut lat = Samples::default();
    for i in 0..sizes.latency_writes {
        let t = Instant::now();
        store.create(&format!("/bench/lat/{i:08}"), value.clone()).await?;
        lat.push(t.elapsed());
    }
    r.write_p50 = lat.percentile(50.0);
    r.write_p99 = lat.percentile(99.0);

    r.tp_16 = throughput(&store, "tp16", 16, sizes.writes_16, &value).await?;
    r.tp_256 = throughput(&store, "tp256", 256, sizes.writes_256, &value).await?;

    load(&store, "/bench/list/", sizes.list_keys, &value).await?;
    let mut list = Samples::default();
    for _ in 0..sizes.list_runs {
        let t = Instant::now();
        let page = store.list("/bench/list/", None, 0).await?;
        list.push(t.elapsed());
        anyhow::ensure!(page.kvs.len() == sizes.list_keys, "list returned {} keys", page.kvs.len());
    }
    r.list_p50 = list.percentile(50.0);

    let mut watch = watch_latency(&store, sizes, &value).await?;
    r.watch_p50 = watch.percentile(50.0);
    r.watch_p99 = watch.percentile(99.0);
    Ok(r)
}

/// Writes per second with `clients` concurrent writers sharing `total` creates.
async fn throughput(
    store: &Arc<dyn Store>,
    name: &str,
    clients: usize,
    total: usize,
    value: &Bytes,
) -> anyhow::Result<f64> {
    let t = Instant::now();
    create_keys(store, &format!("/bench/{name}/"), clients, total, value).await?;
    Ok(total as f64 / t.elapsed().as_secs_f64())
}

/// Creates `count` keys under `prefix` with 256 concurrent writers.
async fn load(store: &Arc<dyn Store>, prefix: &str, count: usize, value: &Bytes) -> anyhow::Result<()> {
    create_keys(store, prefix, 256, count, value).await
}

/// Creates keys `<prefix>00000000` .. `count`, shared among `clients` concurrent writers.
async fn create_keys(
    store: &Arc<dyn Store>,
    prefix: &str,
    clients: usize,
    count: usize,
    value: &Bytes,
) -> anyhow::Result<()> {
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let store = store.clone();
            let value = value.clone();
            let prefix = prefix.to_string();
            tokio::spawn(async move {
                for i in (c..count).step_by(clients) {
                    store.create(&format!("{prefix}{i:08}"), value.clone()).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// Time from the start of a write to its arrival at each of many watchers; writes are paced
/// at 100 per second.
async fn watch_latency(store: &Arc<dyn Store>, sizes: &Sizes, value: &Bytes) -> anyhow::Result<Samples> {
    let base = Instant::now();
    let started: Arc<Vec<AtomicU64>> = Arc::new((0..sizes.watch_events).map(|_| AtomicU64::new(0)).collect());
    let mut watchers = Vec::new();
    for _ in 0..sizes.watchers {
        let mut stream = store.watch("/bench/watch/", 0).await?;
        let started = started.clone();
        let events = sizes.watch_events;
        watchers.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            while samples.len() < events {
                let event = stream.next().await.context("watch ended")??;
                let now = base.elapsed().as_nanos() as u64;
                let seq: usize = event.kv.key.rsplit('/').next().unwrap_or_default().parse()?;
                let sent = started[seq].load(Ordering::Acquire);
                samples.push(Duration::from_nanos(now.saturating_sub(sent)));
            }
            anyhow::Ok(samples)
        }));
    }
    let mut pace = tokio::time::interval(Duration::from_millis(10));
    for seq in 0..sizes.watch_events {
        pace.tick().await;
        started[seq].store(base.elapsed().as_nanos() as u64, Ordering::Release);
        store.create(&format!("/bench/watch/{seq}"), value.clone()).await?;
    }
    let mut all = Samples::default();
    for w in watchers {
        all.extend(tokio::time::timeout(Duration::from_secs(120), w).await.context("watchers finish")???);
    }
    Ok(all)
}

/// Reopen time of an embedded store holding `restart_keys` keys: after a clean close, and
/// after the process holding it was killed with SIGKILL.
async fn embedded_restart(dir: &Path, sizes: &Sizes) -> anyhow::Result<(Duration, Duration)> {
    let value = Bytes::from(vec![b'v'; sizes.value_bytes]);
    {
        let store = Arc::new(Embedded::open_dir(dir)?);
        load(&(store.clone() as Arc<dyn Store>), "/bench/restart/", sizes.restart_keys, &value).await?;
        store.close().await;
    }
    let clean = time_embedded_open(dir).await?;

    crate::crash::kill_holder(&["hold-embedded".as_ref(), dir.as_os_str()])?;
    let crash = time_embedded_open(dir).await?;
    Ok((clean, crash))
}

async fn time_embedded_open(dir: &Path) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let store = Embedded::open_dir(dir)?;
    store.get("/bench/restart/00000000").await?.0.context("key missing after restart")?;
    let elapsed = t.elapsed();
    store.close().await;
    Ok(elapsed)
}

/// Opens the store, makes a write (so that it is mid-life, not cleanly closed), says READY and
/// waits to be killed.
pub async fn hold_embedded(dir: &Path) -> anyhow::Result<()> {
    let store = Embedded::open_dir(dir)?;
    store.create("/bench/holder", Bytes::from_static(b"x")).await?;
    println!("READY");
    std::future::pending::<()>().await;
    Ok(())
}

async fn etcd_restart(dir: &Path, sizes: &Sizes) -> anyhow::Result<Duration> {
    let value = Bytes::from(vec![b'v'; sizes.value_bytes]);
    let mut etcd = LocalEtcd::start(dir).await?;
    let store: Arc<dyn Store> = Arc::new(Etcd::connect(&[etcd.endpoint()]).await?);
    load(&store, "/bench/restart/", sizes.restart_keys, &value).await?;
    drop(store);
    etcd.kill();
    let t = Instant::now();
    etcd.restart().await?;
    let store = Etcd::connect(&[etcd.endpoint()]).await?;
    store.get("/bench/restart/00000000").await?.0.context("key missing after restart")?;
    Ok(t.elapsed())
}

fn table(s: &Sizes, e: &Results, t: &Results, quick: bool) -> String {
    let tp = |a: f64, b: f64| format!("{a:.0}/s ({:.1}x etcd)", a / b);
    let rows: [(String, String, String, &str); 9] = [
        ("durable write latency p50, 1 client".into(), ms(e.write_p50), ms(t.write_p50), "at or below etcd"),
        ("durable write latency p99, 1 client".into(), ms(e.write_p99), ms(t.write_p99), "at or below etcd"),
        ("write throughput, 16 clients".into(), tp(e.tp_16, t.tp_16), format!("{:.0}/s", t.tp_16), ""),
        (
            "write throughput, 256 clients".into(),
            tp(e.tp_256, t.tp_256),
            format!("{:.0}/s", t.tp_256),
            "3x etcd",
        ),
        (format!("prefix read of {} keys, p50", s.list_keys), ms(e.list_p50), ms(t.list_p50), ""),
        (format!("watch delivery p50, {} watchers", s.watchers), ms(e.watch_p50), ms(t.watch_p50), ""),
        (
            format!("watch delivery p99, {} watchers", s.watchers),
            ms(e.watch_p99),
            ms(t.watch_p99),
            "under 10 ms",
        ),
        (
            format!("restart with {} keys, after a clean stop", s.restart_keys),
            e.restart_clean.map(ms).unwrap_or_default(),
            "not measured".into(),
            "under 2 s",
        ),
        (
            format!("restart with {} keys, after kill -9", s.restart_keys),
            ms(e.restart_crash),
            ms(t.restart_crash),
            "under 2 s",
        ),
    ];
    let mut out = String::new();
    out.push_str(&format!(
        "Run `scripts/bench.sh datastore`{}. Machine: {}. etcd: {}. Values are {} bytes; writes are creates \
         of new keys, each acknowledged only after it is on disk.\n\n",
        if quick { " (--quick)" } else { "" },
        machine(),
        etcd_version(),
        s.value_bytes
    ));
    out.push_str("| measure | tug embedded (redb) | etcd | target |\n|---|---|---|---|\n");
    for (name, a, b, target) in rows {
        out.push_str(&format!("| {name} | {a} | {b} | {target} |\n"));
    }
    out
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown cpu".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0))
        })
        .map(|kb| format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores ({cpu}), {mem} RAM, Linux {}", kernel.trim())
}

fn etcd_version() -> String {
    Command::new(std::env::var("TUG_ETCD_BIN").unwrap_or_else(|_| "etcd".into()))
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(|l| l.trim_start_matches("etcd Version:").trim().to_string()))
        .unwrap_or_else(|| "unknown".into())
}
