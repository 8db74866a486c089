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

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tug-bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The datastore: embedded backend and etcd, side by side.
    Datastore {
        /// Replace this benchmark's section of the given markdown file with the results.
        #[arg(long)]
        record: Option<PathBuf>,
        /// Smaller sizes, for a quick look (never recorded).
        #[arg(long)]
        quick: bool,
        /// Directory for the benchmark's data (a fresh temporary directory inside it).
        #[arg(long, default_value = "/var/tmp")]
        scratch: PathBuf,
    },
    /// The API server: a real `tug server` driven by kube-rs.
    Api {
        #[arg(long)]
        record: Option<PathBuf>,
        #[arg(long)]
        quick: bool,
        #[arg(long, default_value = "/var/tmp")]
        scratch: PathBuf,
    },
    /// The scheduler: scheduler_perf-style workloads on a real `tug server` with Node objects.
    Scheduler {
        #[arg(long)]
        record: Option<PathBuf>,
        #[arg(long)]
        quick: bool,
        #[arg(long, default_value = "/var/tmp")]
        scratch: PathBuf,
    },
    /// The controllers: a 5,000-replica Deployment created and rolled on simulated nodes.
    Controllers {
        #[arg(long)]
        record: Option<PathBuf>,
        #[arg(long)]
        quick: bool,
        #[arg(long, default_value = "/var/tmp")]
        scratch: PathBuf,
    },
    /// Pod startup on a real agent (containerd): latency to Running and Ready, agent memory.
    Pods {
        #[arg(long)]
        record: Option<PathBuf>,
        #[arg(long)]
        quick: bool,
        #[arg(long, default_value = "/var/tmp")]
        scratch: PathBuf,
    },
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Datastore { record, quick, scratch } => {
            let table = datastore::run(&scratch, quick).await?;
            println!("{table}");
            if let Some(path) = record {
                anyhow::ensure!(!quick, "--quick results are not recorded");
                report::record(&path, "datastore", &table)?;
                eprintln!("recorded in {}", path.display());
            }
            Ok(())
        }
        Command::HoldEmbedded { dir } => datastore::hold_embedded(&dir).await,
        Command::Api { record, quick, scratch } => {
            let table = api::run(&scratch, quick).await?;
            println!("{table}");
            if let Some(path) = record {
                anyhow::ensure!(!quick, "--quick results are not recorded");
                report::record(&path, "api", &table)?;
            }
            Ok(())
        }
        Command::Scheduler { record, quick, scratch } => {
            let table = scheduler::run(&scratch, quick).await?;
            println!("{table}");
            if let Some(path) = record {
                anyhow::ensure!(!quick, "--quick results are not recorded");
                report::record(&path, "scheduler", &table)?;
            }
            Ok(())
        }
        Command::Controllers { record, quick, scratch } => {
            let table = controllers::run(&scratch, quick).await?;
            println!("{table}");
            if let Some(path) = record {
                anyhow::ensure!(!quick, "--quick results are not recorded");
                report::record(&path, "controllers", &table)?;
            }
            Ok(())
        }
        Command::Pods { record, quick, scratch } => {
            let table = pods::run(&scratch, quick).await?;
            println!("{table}");
            if let Some(path) = record {
                anyhow::ensure!(!quick, "--quick results are not recorded");
                report::record(&path, "pods", &table)?;
            }
            Ok(())
        }
        #[cfg(feature = "engines")]
        Command::Engines { record, scratch } => {
            let table = tokio::task::spawn_blocking(move || engines::run(&scratch)).await??;
            println!("{table}");
            if let Some(path) = record {
                report::record(&path, "engines", &table)?;
            }
            Ok(())
        }
        #[cfg(feature = "engines")]
        Command::HoldEngine { engine, path } => engines::hold(&engine, &path),
        #[cfg(not(feature = "engines"))]
        Command::Engines { .. } | Command::HoldEngine { .. } => {
            anyhow::bail!("built without the engines feature: run scripts/bench.sh engines")
        }
    }
}
