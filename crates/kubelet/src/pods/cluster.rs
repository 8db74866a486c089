//! The API objects a pod's env and volumes read: ConfigMaps and Secrets from watch-backed
//! caches, as upstream's kubelet (`configMapAndSecretChangeDetectionStrategy: Watch`): each
//! object a pod on the node references is watched on its own (a list and watch with
//! `metadata.name=<name>` in its namespace) while some pod references it, so an update is seen
//! within a sync, a missing object costs no request per sync, and the node never lists the
//! cluster's Secrets (which node authorization forbids). PersistentVolumeClaims and
//! PersistentVolumes are read by GET, only when a volume is first set up; service account
//! tokens come from the TokenRequest subresource.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Result;
use async_trait::async_trait;
use futures::StreamExt;
use k8s_openapi::api::{
    authentication::v1::TokenRequest,
    core::v1::{ConfigMap, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount},
};
use kube::{
    Api, Client, Resource,
    api::PostParams,
    runtime::{WatchStreamExt, reflector, watcher},
};

/// How long a sync waits for a new watch's first list before reading it anyway (an object
/// not listed yet then reads as missing).
const FIRST_LIST_WAIT: Duration = Duration::from_secs(5);

/// Where the kubelet reads the objects pods refer to.
#[async_trait]
pub trait Cluster: Send + Sync {
    /// Starts watching what `pod` references (once filled, lookups answer from the caches).
    async fn prepare(&self, _pod: &Pod) {}
    /// Stops watching what only pod `uid` referenced.
    fn release(&self, _uid: &str) {}
    fn config_map(&self, namespace: &str, name: &str) -> Option<Arc<ConfigMap>>;
    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<Secret>>;
    /// Every Service of the cluster, for the pods' service environment variables; `None`
    /// until they have been listed once.
    fn services(&self) -> Option<Vec<Arc<Service>>>;
    async fn claim(&self, namespace: &str, name: &str) -> Result<Option<PersistentVolumeClaim>>;
    async fn volume(&self, name: &str) -> Result<Option<PersistentVolume>>;
    /// A token for `account` from the TokenRequest subresource.
    async fn token(&self, namespace: &str, account: &str, request: &TokenRequest) -> Result<TokenRequest>;
}

/// The ConfigMaps and Secrets `pod` references by name: env, envFrom, volumes and projected
/// sources of every container, and its `imagePullSecrets`.
pub fn references(pod: &Pod) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut config_maps, mut secrets) = (BTreeSet::new(), BTreeSet::new());
    let Some(spec) = pod.spec.as_ref() else { return (config_maps, secrets) };
    let containers = spec.containers.iter().chain(spec.init_containers.iter().flatten());
    for c in containers {
        for from in c.env_from.iter().flatten() {
            config_maps.extend(from.config_map_ref.as_ref().map(|r| r.name.clone()));
            secrets.extend(from.secret_ref.as_ref().map(|r| r.name.clone()));
        }
        for var in c.env.iter().flatten() {
            let Some(from) = &var.value_from else { continue };
            config_maps.extend(from.config_map_key_ref.as_ref().map(|r| r.name.clone()));
            secrets.extend(from.secret_key_ref.as_ref().map(|r| r.name.clone()));
        }
    }
    for volume in spec.volumes.iter().flatten() {
        config_maps.extend(volume.config_map.as_ref().map(|c| c.name.clone()));
        secrets.extend(volume.secret.as_ref().and_then(|s| s.secret_name.clone()));
        for source in volume.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            config_maps.extend(source.config_map.as_ref().map(|c| c.name.clone()));
            secrets.extend(source.secret.as_ref().map(|s| s.name.clone()));
        }
    }
    secrets.extend(spec.image_pull_secrets.iter().flatten().map(|r| r.name.clone()));
    config_maps.retain(|n| !n.is_empty());
    secrets.retain(|n| !n.is_empty());
    (config_maps, secrets)
}

/// An API error as its status message (`serviceaccounts "x" not found`), as upstream's
/// messages quote it; other errors as they are.
fn plain(err: kube::Error) -> anyhow::Error {
    match err {
        kube::Error::Api(status) => anyhow::anyhow!(status.message),
        other => other.into(),
    }
}

/// One watched object: its cache, the pods that reference it, and its watch task.
struct Entry<K: Resource<DynamicType = ()> + Clone + 'static> {
    store: reflector::Store<K>,
    users: HashSet<String>,
    task: tokio::task::JoinHandle<()>,
}

/// Per-object watches of one kind, shared by the node's pods.
struct Watched<K: Resource<DynamicType = ()> + Clone + 'static> {
    client: Client,
    entries: Mutex<HashMap<(String, String), Entry<K>>>,
}

impl<K> Watched<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + k8s_openapi::serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    fn new(client: Client) -> Watched<K> {
        Watched { client, entries: Mutex::new(HashMap::new()) }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Entry<K>>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records that pod `uid` uses `namespace/name`, starting its watch if new; returns its cache.
    fn watch(&self, namespace: &str, name: &str, uid: &str) -> reflector::Store<K> {
        let mut entries = self.entries();
        let entry = entries.entry((namespace.to_string(), name.to_string())).or_insert_with(|| {
            let (reader, writer) = reflector::store();
            let api = Api::<K>::namespaced(self.client.clone(), namespace);
            let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
            let stream =
                reflector::reflector(writer, watcher(api, config)).default_backoff().touched_objects();
            let what = format!("{} {namespace}/{name}", K::kind(&()));
            let task = tokio::spawn(async move {
                let mut stream = std::pin::pin!(stream);
                while let Some(item) = stream.next().await {
                    if let Err(err) = item {
                        tracing::warn!("watching {what}: {err}");
                    }
                }
            });
            Entry { store: reader, users: HashSet::new(), task }
        });
        entry.users.insert(uid.to_string());
        entry.store.clone()
    }

    fn release(&self, uid: &str) {
        self.entries().retain(|_, entry| {
            entry.users.remove(uid);
            if entry.users.is_empty() {
                entry.task.abort();
            }
            !entry.users.is_empty()
        });
    }

    fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        let entries = self.entries();
        let entry = entries.get(&(namespace.to_string(), name.to_string()))?;
        entry.store.state().into_iter().find(|o| o.meta().name.as_deref() == Some(name))
    }
}

/// The cluster through the API server.
pub struct ApiCluster {
    client: Client,
    config_maps: Watched<ConfigMap>,
    secrets: Watched<Secret>,
    /// Every Service, as upstream's kubelet keeps them (node authorization lets a node list
    /// and watch Services).
    services: reflector::Store<Service>,
    services_listed: Arc<std::sync::atomic::AtomicBool>,
    services_task: tokio::task::JoinHandle<()>,
}

impl ApiCluster {
    /// Starts watching Services at once; must run inside a tokio runtime.
    pub fn new(client: Client) -> ApiCluster {
        let (services, writer) = reflector::store();
        let services_listed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let listed = services_listed.clone();
        let api = Api::<Service>::all(client.clone());
        let stream = reflector(writer, watcher(api, watcher::Config::default())).default_backoff();
        let services_task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(watcher::Event::InitDone) => listed.store(true, std::sync::atomic::Ordering::Release),
                    Ok(_) => {}
                    Err(err) => tracing::warn!(%err, "watching Services"),
                }
            }
        });
        ApiCluster {
            config_maps: Watched::new(client.clone()),
            secrets: Watched::new(client.clone()),
            services,
            services_listed,
            services_task,
            client,
        }
    }
}

impl Drop for ApiCluster {
    fn drop(&mut self) {
        self.services_task.abort();
        for entry in self.config_maps.entries().values() {
            entry.task.abort();
        }
        for entry in self.secrets.entries().values() {
            entry.task.abort();
        }
    }
}

#[async_trait]
impl Cluster for ApiCluster {
    async fn prepare(&self, pod: &Pod) {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let (config_maps, secrets) = references(pod);
        let mut stores: Vec<futures::future::BoxFuture<'_, ()>> = Vec::new();
        for name in &config_maps {
            let store = self.config_maps.watch(namespace, name, uid);
            stores.push(Box::pin(async move {
                let _ = store.wait_until_ready().await;
            }));
        }
        for name in &secrets {
            let store = self.secrets.watch(namespace, name, uid);
            stores.push(Box::pin(async move {
                let _ = store.wait_until_ready().await;
            }));
        }
        let services = self.services.clone();
        stores.push(Box::pin(async move {
            let _ = services.wait_until_ready().await;
        }));
        if tokio::time::timeout(FIRST_LIST_WAIT, futures::future::join_all(stores)).await.is_err() {
            tracing::warn!("the ConfigMaps and Secrets of pod {namespace}/{uid} are not listed yet");
        }
    }

    fn release(&self, uid: &str) {
        self.config_maps.release(uid);
        self.secrets.release(uid);
    }

    fn config_map(&self, namespace: &str, name: &str) -> Option<Arc<ConfigMap>> {
        self.config_maps.get(namespace, name)
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<Secret>> {
        self.secrets.get(namespace, name)
    }

    fn services(&self) -> Option<Vec<Arc<Service>>> {
        self.services_listed.load(std::sync::atomic::Ordering::Acquire).then(|| self.services.state())
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
    pub services: Vec<Arc<Service>>,
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

    fn services(&self) -> Option<Vec<Arc<Service>>> {
        Some(self.services.clone())
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_pods_references_cover_env_volumes_and_projections() {
        let pod: Pod = serde_json::from_value(json!({
            "spec": {
                "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "s-init"}}]}],
                "containers": [{
                    "name": "c",
                    "envFrom": [{"configMapRef": {"name": "cm-from"}}],
                    "env": [
                        {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm-key", "key": "k"}}},
                        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s-key", "key": "k"}}},
                        {"name": "C", "value": "x"},
                    ],
                }],
                "volumes": [
                    {"name": "v1", "configMap": {"name": "cm-vol"}},
                    {"name": "v2", "secret": {"secretName": "s-vol"}},
                    {"name": "v3", "projected": {"sources": [
                        {"configMap": {"name": "kube-root-ca.crt"}}, {"secret": {"name": "s-proj"}},
                        {"serviceAccountToken": {"path": "token"}},
                    ]}},
                    {"name": "v4", "emptyDir": {}},
                ],
            },
        }))
        .unwrap();
        let (config_maps, secrets) = references(&pod);
        assert_eq!(
            config_maps.into_iter().collect::<Vec<_>>(),
            ["cm-from", "cm-key", "cm-vol", "kube-root-ca.crt"]
        );
        assert_eq!(secrets.into_iter().collect::<Vec<_>>(), ["s-init", "s-key", "s-proj", "s-vol"]);
    }
}
