//! The API objects a pod's env and volumes read: ConfigMaps and Secrets from watch-backed
//! caches (one reflector per kind, so an update is seen within a sync and a missing object
//! costs no request), PersistentVolumeClaims and PersistentVolumes by GET (read only when a
//! volume is first set up), and service account tokens through the TokenRequest subresource.
//!
//! Upstream's kubelet watches each referenced object on its own; one watch per kind is simpler
//! and cheaper here, at the price of caching every ConfigMap and Secret of the cluster.

use std::{collections::HashMap, sync::Arc};

use anyhow::{Context, Result};
use async_trait::async_trait;
use futures::StreamExt;
use k8s_openapi::api::{
    authentication::v1::TokenRequest,
    core::v1::{ConfigMap, PersistentVolume, PersistentVolumeClaim, Secret, ServiceAccount},
};
use kube::{
    Api, Client, Resource,
    api::PostParams,
    runtime::{WatchStreamExt, reflector, reflector::ObjectRef, watcher},
};
use tokio::sync::watch;

/// Where the kubelet reads the objects pods refer to.
#[async_trait]
pub trait Cluster: Send + Sync {
    fn config_map(&self, namespace: &str, name: &str) -> Option<Arc<ConfigMap>>;
    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<Secret>>;
    async fn claim(&self, namespace: &str, name: &str) -> Result<Option<PersistentVolumeClaim>>;
    async fn volume(&self, name: &str) -> Result<Option<PersistentVolume>>;
    /// A token for `account` from the TokenRequest subresource.
    async fn token(&self, namespace: &str, account: &str, request: &TokenRequest) -> Result<TokenRequest>;
}

/// An API error as its status message (`serviceaccounts "x" not found`), as upstream's
/// messages quote it; other errors as they are.
fn plain(err: kube::Error) -> anyhow::Error {
    match err {
        kube::Error::Api(status) => anyhow::anyhow!(status.message),
        other => other.into(),
    }
}

/// The cluster through the API server.
pub struct ApiCluster {
    client: Client,
    config_maps: reflector::Store<ConfigMap>,
    secrets: reflector::Store<Secret>,
}

fn reflect<K>(client: &Client, mut shutdown: watch::Receiver<bool>) -> reflector::Store<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + k8s_openapi::serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream =
        reflector::reflector(writer, watcher(Api::<K>::all(client.clone()), watcher::Config::default()))
            .default_backoff()
            .touched_objects();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                item = stream.next() => match item {
                    None => return,
                    Some(Err(err)) => tracing::warn!("watching {}: {err}", K::plural(&())),
                    Some(Ok(_)) => {}
                },
            }
        }
    });
    reader
}

impl ApiCluster {
    /// Starts the caches and waits for their first list, so that a missing object is really
    /// missing and not only not listed yet.
    ///
    /// # Errors
    /// When a cache ends before it was filled (the agent is stopping).
    pub async fn start(client: Client, shutdown: watch::Receiver<bool>) -> Result<ApiCluster> {
        let config_maps = reflect::<ConfigMap>(&client, shutdown.clone());
        let secrets = reflect::<Secret>(&client, shutdown);
        config_maps.wait_until_ready().await.context("filling the ConfigMap cache")?;
        secrets.wait_until_ready().await.context("filling the Secret cache")?;
        Ok(ApiCluster { client, config_maps, secrets })
    }
}

#[async_trait]
impl Cluster for ApiCluster {
    fn config_map(&self, namespace: &str, name: &str) -> Option<Arc<ConfigMap>> {
        self.config_maps.get(&ObjectRef::new(name).within(namespace))
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<Secret>> {
        self.secrets.get(&ObjectRef::new(name).within(namespace))
    }

    async fn claim(&self, namespace: &str, name: &str) -> Result<Option<PersistentVolumeClaim>> {
        Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), namespace)
            .get_opt(name)
            .await
            .map_err(plain)
    }

    async fn volume(&self, name: &str) -> Result<Option<PersistentVolume>> {
        Api::<PersistentVolume>::all(self.client.clone()).get_opt(name).await.map_err(plain)
    }

    async fn token(&self, namespace: &str, account: &str, request: &TokenRequest) -> Result<TokenRequest> {
        let api = Api::<ServiceAccount>::namespaced(self.client.clone(), namespace);
        api.create_token_request(account, &PostParams::default(), request).await.map_err(plain)
    }
}

/// A fixed set of objects, for tests.
#[derive(Default)]
pub struct StaticCluster {
    pub config_maps: HashMap<(String, String), Arc<ConfigMap>>,
    pub secrets: HashMap<(String, String), Arc<Secret>>,
    pub claims: HashMap<(String, String), PersistentVolumeClaim>,
    pub volumes: HashMap<String, PersistentVolume>,
}

impl StaticCluster {
    fn key(namespace: &str, name: &str) -> (String, String) {
        (namespace.to_string(), name.to_string())
    }

    pub fn with_config_map(mut self, namespace: &str, object: serde_json::Value) -> StaticCluster {
        if let Ok(cm) = serde_json::from_value::<ConfigMap>(object) {
            let name = cm.metadata.name.clone().unwrap_or_default();
            self.config_maps.insert(Self::key(namespace, &name), Arc::new(cm));
        }
        self
    }

    pub fn with_secret(mut self, namespace: &str, object: serde_json::Value) -> StaticCluster {
        if let Ok(secret) = serde_json::from_value::<Secret>(object) {
            let name = secret.metadata.name.clone().unwrap_or_default();
            self.secrets.insert(Self::key(namespace, &name), Arc::new(secret));
        }
        self
    }
}

#[async_trait]
impl Cluster for StaticCluster {
    fn config_map(&self, namespace: &str, name: &str) -> Option<Arc<ConfigMap>> {
        self.config_maps.get(&Self::key(namespace, name)).cloned()
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<Secret>> {
        self.secrets.get(&Self::key(namespace, name)).cloned()
    }

    async fn claim(&self, namespace: &str, name: &str) -> Result<Option<PersistentVolumeClaim>> {
        Ok(self.claims.get(&Self::key(namespace, name)).cloned())
    }

    async fn volume(&self, name: &str) -> Result<Option<PersistentVolume>> {
        Ok(self.volumes.get(name).cloned())
    }

    async fn token(&self, _: &str, account: &str, request: &TokenRequest) -> Result<TokenRequest> {
        let mut out = request.clone();
        out.status = Some(k8s_openapi::api::authentication::v1::TokenRequestStatus {
            token: format!("token-of-{account}"),
            expiration_timestamp: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600),
            ),
        });
        Ok(out)
    }
}
