//! `tug server`: the datastore (compacted in the background), the API server on it, and the
//! controllers as its clients. The scheduler and local agent join here as they are built.

use std::sync::Arc;

use anyhow::Context;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tug_store::{
    Store,
    compactor::{self, Retention},
    embedded::Embedded,
    etcd::Etcd,
};

use crate::cli::ServerArgs;

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    // Installed first, so that a signal during start-up stops the server cleanly too.
    let shutdown = ShutdownSignals::install()?;
    let store = open_datastore(&args).await?;
    let revision = store.revision().await?;
    tracing::info!(revision, "datastore ready");
    let compaction = tokio::spawn(compactor::run(store.clone(), Retention::default()));
    let config = tug_apiserver::Config {
        data_dir: args.data_dir.clone(),
        bind_address: args.bind_address.clone(),
        port: args.https_port,
    };
    let api =
        tug_apiserver::ApiServer::start(config, store.clone()).await.context("starting the API server")?;
    let _controllers = start_controllers(&args, &api).await?;
    tracing::info!(
        address = %api.addr,
        kubeconfig = %api.kubeconfig.display(),
        "API server ready; point kubectl at it with: export KUBECONFIG={}",
        api.kubeconfig.display()
    );
    shutdown.wait().await;
    tracing::info!("shutting down");
    api.stop();
    compaction.abort();
    Ok(())
}

/// The controllers, as a client of the API server with the admin credentials (upstream's
/// controller-manager has its own kubeconfig the same way).
async fn start_controllers(
    args: &ServerArgs,
    api: &tug_apiserver::ApiServer,
) -> anyhow::Result<Option<tug_controllers::informer::Informers>> {
    if args.disabled_controllers.iter().any(|c| c == "all") {
        return Ok(None);
    }
    let client = admin_client(api).await?;
    let options = tug_controllers::Options { disabled: args.disabled_controllers.clone() };
    Ok(Some(tug_controllers::start(client, &options)))
}

/// A kube-rs client of the local API server, from the admin kubeconfig it wrote.
pub async fn admin_client(api: &tug_apiserver::ApiServer) -> anyhow::Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(&api.kubeconfig)
        .with_context(|| format!("reading {}", api.kubeconfig.display()))?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
            .await
            .context("loading the admin kubeconfig")?;
    kube::Client::try_from(config).context("building the controllers' API client")
}

async fn open_datastore(args: &ServerArgs) -> anyhow::Result<Arc<dyn Store>> {
    match &args.datastore_endpoint {
        Some(endpoints) => {
            let endpoints: Vec<String> = endpoints.split(',').map(|e| e.trim().to_string()).collect();
            let store = Etcd::connect(&endpoints)
                .await
                .with_context(|| format!("connecting to etcd at {}", endpoints.join(",")))?;
            tracing::info!(endpoints = %endpoints.join(","), "using etcd");
            Ok(Arc::new(store))
        }
        None => {
            let dir = args.data_dir.join("db");
            let store = Embedded::open_dir(&dir)
                .with_context(|| format!("opening the embedded datastore in {}", dir.display()))?;
            tracing::info!(dir = %dir.display(), "using the embedded datastore");
            Ok(Arc::new(store))
        }
    }
}

/// SIGINT and SIGTERM, caught from the moment they are installed.
pub(crate) struct ShutdownSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl ShutdownSignals {
    pub(crate) fn install() -> anyhow::Result<Self> {
        Ok(ShutdownSignals {
            interrupt: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        })
    }

    pub(crate) async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
