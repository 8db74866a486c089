//! Builds the project's test images and pushes them to a registry or writes them as an OCI
//! image layout for `ctr images import`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tug_oci::testimages::{self, Sources};

#[derive(Parser)]
#[command(name = "tug-testimages", about = "Build Tugboat's test images (busybox, testserver, pause)")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
    /// The static busybox to package (default: $TUG_BUSYBOX or /bin/busybox).
    #[arg(long, global = true)]
    busybox: Option<PathBuf>,
    /// A static tug-testserver to package (default: build it with cargo).
    #[arg(long, global = true)]
    testserver: Option<PathBuf>,
    /// Also push busybox and an nginx stand-in under Docker Hub's names (library/busybox,
    /// library/nginx) and pause under registry.k8s.io's (pause:3.10), for a registry that
    /// stands in for them behind registry mirrors.
    #[arg(long, global = true)]
    docker_hub_names: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Push every image to a registry over plain HTTP.
    Push {
        /// host:port of the registry.
        #[arg(long, default_value = "127.0.0.1:5000")]
        registry: String,
    },
    /// Write every image into one OCI image-layout tarball.
    Layout {
        /// The tarball to write.
        #[arg(long)]
        output: PathBuf,
        /// The registry part of the names the images get on import.
        #[arg(long, default_value = "127.0.0.1:5000")]
        registry: String,
    },
    /// Start a local registry (Debian's docker-registry on a free loopback port) holding every
    /// image with the Docker Hub and registry.k8s.io names, print `registry HOST:PORT`, and
    /// serve until SIGTERM or SIGINT, then remove it (needs the `testing` feature).
    #[cfg(feature = "testing")]
    Serve,
    /// Print the names images get in a registry.
    Names {
        #[arg(long, default_value = "127.0.0.1:5000")]
        registry: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let sources = || -> anyhow::Result<Sources> {
        let testserver = match &cli.testserver {
            Some(path) => path.clone(),
            None => testimages::build_testserver().context("build tug-testserver")?,
        };
        Ok(Sources {
            busybox: cli.busybox.clone().unwrap_or_else(testimages::busybox_binary),
            testserver,
            docker_hub_names: cli.docker_hub_names,
        })
    };
    match &cli.command {
        Cmd::Push { registry } => {
            let images = testimages::build_all(&sources()?)?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            for name in runtime.block_on(testimages::push_all(registry, &images))? {
                println!("{name}");
            }
        }
        Cmd::Layout { output, registry } => {
            let images = testimages::build_all(&sources()?)?;
            let named: Vec<(String, &tug_oci::Image)> = images
                .iter()
                .flat_map(|i| i.names.iter().map(move |n| (format!("{registry}/{n}"), &i.image)))
                .collect();
            let refs: Vec<(&str, &tug_oci::Image)> = named.iter().map(|(n, i)| (n.as_str(), *i)).collect();
            let file =
                std::fs::File::create(output).with_context(|| format!("create {}", output.display()))?;
            tug_oci::layout::write_layout(std::io::BufWriter::new(file), &refs)?;
            for (name, _) in &named {
                println!("{name}");
            }
        }
        #[cfg(feature = "testing")]
        Cmd::Serve => {
            use std::io::Write as _;
            use tokio::signal::unix::{SignalKind, signal};
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut term = signal(SignalKind::terminate())?;
                let mut int = signal(SignalKind::interrupt())?;
                let registry = tug_oci::testing::LocalRegistry::with_test_images().await?;
                println!("registry {}", registry.host());
                std::io::stdout().flush()?;
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                drop(registry);
                anyhow::Ok(())
            })?;
        }
        Cmd::Names { registry } => {
            for name in testimages::names(cli.docker_hub_names) {
                println!("{registry}/{name}");
            }
        }
    }
    Ok(())
}
