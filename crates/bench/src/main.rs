//! `tug-bench`: runs a benchmark, prints its table, and can record it in BENCHMARKS.md.

mod datastore;
mod report;
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
    }
}
