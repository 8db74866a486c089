//! Serves custom resources: keeps the registry in step with the CustomResourceDefinitions in
//! the store (a list, then a watch), so every API server of a cluster serves the same set.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tug_api::resources::from_crd;
use tug_store::{EventKind, KeyValue, Store};

use crate::registry::Registry;

pub const CRD_PREFIX: &str = "/registry/apiextensions.k8s.io/customresourcedefinitions/";

/// Follows CRDs from just after `loaded` (the revision of [`load`]) until the task is dropped,
/// listing again whenever the watch ends.
pub async fn follow(store: std::sync::Arc<dyn Store>, registry: Registry, loaded: i64) {
    let mut revision = loaded;
    loop {
        if let Err(err) = watch_from(store.as_ref(), &registry, revision).await {
            tracing::warn!(error = %err, "following CustomResourceDefinitions");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        match load(store.as_ref(), &registry).await {
            Ok(rev) => revision = rev,
            Err(err) => tracing::warn!(error = %err, "listing CustomResourceDefinitions"),
        }
    }
}

/// Registers every CRD now in the store; returns the revision of that read.
pub async fn load(store: &dyn Store, registry: &Registry) -> Result<i64, tug_store::StoreError> {
    let page = store.list(CRD_PREFIX, None, 0).await?;
    for kv in &page.kvs {
        apply(registry, kv);
    }
    Ok(page.revision)
}

async fn watch_from(
    store: &dyn Store,
    registry: &Registry,
    revision: i64,
) -> Result<(), tug_store::StoreError> {
    let mut events = store.watch(CRD_PREFIX, revision + 1).await?;
    while let Some(event) = events.next().await {
        let event = event?;
        match event.kind {
            EventKind::Delete => registry.remove_custom(crd_name(&event.kv.key)),
            _ => apply(registry, &event.kv),
        }
    }
    Ok(())
}

fn crd_name(key: &str) -> &str {
    key.strip_prefix(CRD_PREFIX).unwrap_or(key)
}

fn apply(registry: &Registry, kv: &KeyValue) {
    let name = crd_name(&kv.key);
    let parsed: Result<Value, _> = serde_json::from_slice(&kv.value);
    match parsed.map_err(|e| e.to_string()).and_then(|crd| from_crd(&crd)) {
        Ok(resources) => registry.set_custom(name, resources),
        Err(err) => {
            tracing::warn!(crd = name, error = %err, "not serving a CustomResourceDefinition");
            registry.remove_custom(name);
        }
    }
}
