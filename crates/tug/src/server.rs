//! `tug server`: open the datastore and keep it compacted. The API server, scheduler and
//! controllers join here as they are built.

use std::sync::Arc;

use anyhow::Context;
use tug_store::{
    Store,
    compactor::{self, Retention},
    embedded::Embedded,
    etcd::Etcd,
};

use crate::cli::ServerArgs;

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let store = open_datastore(&args).await?;
    let revision = store.revision().await?;
    tracing::info!(revision, "datastore ready");
    let compaction = tokio::spawn(compactor::run(store.clone(), Retention::default()));
    tracing::warn!("the API server is not built yet: this server runs the datastore only");
    tokio::signal::ctrl_c().await.context("waiting for a shutdown signal")?;
    tracing::info!("shutting down");
    compaction.abort();
    Ok(())
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
