//! `tug-bench`: runs a benchmark, prints its table, and can record it in BENCHMARKS.md.

mod api;
mod controllers;
mod crash;
mod datastore;
#[cfg(feature = "engines")]
mod engines;
mod pods;
mod procstat;
mod report;
mod scheduler;
mod stats;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tug-bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What every benchmark takes.
#[derive(Args)]
struct Common {
    /// Replace this benchmark's section of the given markdown file with the results.
    #[arg(long)]
    record: Option<PathBuf>,
    /// Smaller sizes, for a quick look (never recorded).
    #[arg(long)]
    quick: bool,
    /// Directory for the benchmark's data (a fresh temporary directory inside it).
    #[arg(long, default_value = "/var/tmp")]
    scratch: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// The datastore: embedded backend and etcd, side by side.
    Datastore(Common),
    /// The API server: a real `tug server` driven by kube-rs.
    Api(Common),
    /// The scheduler: scheduler_perf-style workloads on a real `tug server` with Node objects.
    Scheduler {
        #[command(flatten)]
        common: Common,
        /// SchedulingBasic only, for comparing two builds (`TUG_BIN`); never recorded.
        #[arg(long)]
        basic_only: bool,
    },
    /// The controllers: a 5,000-replica Deployment created and rolled on simulated nodes.
    Controllers(Common),
    /// Pod startup on a real agent (containerd): latency to Running and Ready, agent memory.
    Pods(Common),
    /// redb and SQLite on the datastore's access pattern (needs `--features engines`).
    Engines {
        #[arg(long)]
        record: Option<PathBuf>,
        #[arg(long, default_value = "/var/tmp")]
        scratch: PathBuf,
    },
    /// Internal: hold an engine's file open mid-life until killed.
    #[command(hide = true)]
    HoldEngine { engine: String, path: PathBuf },
    /// Internal: hold a dirty embedded store open until killed (crash-restart timing).
    #[command(hide = true)]
    HoldEmbedded { dir: PathBuf },
}

/// Prints a benchmark's table and records it under `section` when asked.
fn finish(section: &str, table: &str, record: Option<&PathBuf>, partial: bool) -> anyhow::Result<()> {
    println!("{table}");
    if let Some(path) = record {
        anyhow::ensure!(!partial, "--quick and partial results are not recorded");
        report::record(path, section, table)?;
        eprintln!("recorded in {}", path.display());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Datastore(c) => {
            finish("datastore", &datastore::run(&c.scratch, c.quick).await?, c.record.as_ref(), c.quick)
        }
        Command::HoldEmbedded { dir } => datastore::hold_embedded(&dir).await,
        Command::Api(c) => finish("api", &api::run(&c.scratch, c.quick).await?, c.record.as_ref(), c.quick),
        Command::Scheduler { common: c, basic_only } => {
            let table = scheduler::run(&c.scratch, c.quick, basic_only).await?;
            finish("scheduler", &table, c.record.as_ref(), c.quick || basic_only)
        }
        Command::Controllers(c) => {
            finish("controllers", &controllers::run(&c.scratch, c.quick).await?, c.record.as_ref(), c.quick)
        }
        Command::Pods(c) => {
            finish("pods", &pods::run(&c.scratch, c.quick).await?, c.record.as_ref(), c.quick)
        }
        #[cfg(feature = "engines")]
        Command::Engines { record, scratch } => {
            let table = tokio::task::spawn_blocking(move || engines::run(&scratch)).await??;
            finish("engines", &table, record.as_ref(), false)
        }
        #[cfg(feature = "engines")]
        Command::HoldEngine { engine, path } => engines::hold(&engine, &path),
        #[cfg(not(feature = "engines"))]
        Command::Engines { .. } | Command::HoldEngine { .. } => {
            anyhow::bail!("built without the engines feature: run scripts/bench.sh engines")
        }
    }
}
