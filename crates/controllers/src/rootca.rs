//! The root CA publisher, as upstream's: a `kube-root-ca.crt` ConfigMap in every namespace
//! whose `ca.crt` is the cluster CA, so pods can verify the API server; put back if deleted
//! or changed.

use std::{collections::BTreeMap, sync::Arc};

use k8s_openapi::{
    api::core::v1::{ConfigMap, Namespace},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{Api, api::PostParams};

use crate::{
    informer::{Change, Informer, Informers, Key},
    queue::Queue,
    serviceaccount::is_active,
};

pub const NAME: &str = "kube-root-ca.crt";
const KEY: &str = "ca.crt";
const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";
const WORKERS: usize = 2;

pub struct Controller {
    namespaces: Arc<Informer<Namespace>>,
    configmaps: Arc<Informer<ConfigMap>>,
    queue: Arc<Queue<String>>,
    client: kube::Client,
    ca: String,
}

impl Controller {
    /// Starts once the CA is known (the API server's `/cacerts`, as agents fetch it).
    pub fn start(informers: &Informers) {
        let client = informers.client();
        let namespaces = informers.get::<Namespace>();
        let configmaps = informers.get::<ConfigMap>();
        tokio::spawn(async move {
            let ca = fetch_ca(&client).await;
            let me = Arc::new(Controller { namespaces, configmaps, queue: Queue::new(), client, ca });
            for _ in 0..WORKERS {
                let worker = me.clone();
                tokio::spawn(async move { worker.work().await });
            }
            me.follow().await;
        });
    }

    async fn follow(&self) {
        use tokio::sync::broadcast::error::RecvError;
        let mut ns_changes = self.namespaces.subscribe();
        let mut cm_changes = self.configmaps.subscribe();
        self.namespaces.wait_synced().await;
        self.configmaps.wait_synced().await;
        self.resync();
        loop {
            tokio::select! {
                change = ns_changes.recv() => match change {
                    Ok(change) => {
                        if !matches!(*change, Change::Deleted(_)) {
                            self.queue.add(change.object().metadata.name.clone().unwrap_or_default());
                        }
                    }
                    Err(RecvError::Lagged(_)) => self.resync(),
                    Err(RecvError::Closed) => return,
                },
                change = cm_changes.recv() => match change {
                    Ok(change) => {
                        let cm = change.object();
                        if cm.metadata.name.as_deref() == Some(NAME) && !matches!(*change, Change::Added(_)) {
                            self.queue.add(cm.metadata.namespace.clone().unwrap_or_default());
                        }
                    }
                    Err(RecvError::Lagged(_)) => self.resync(),
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }

    fn resync(&self) {
        for ns in self.namespaces.list(None) {
            self.queue.add(ns.metadata.name.clone().unwrap_or_default());
        }
    }

    async fn work(&self) {
        loop {
            let ns = self.queue.next().await;
            match self.sync(&ns).await {
                Ok(()) => self.queue.forget(&ns),
                Err(err) => {
                    tracing::debug!(error = %err, namespace = %ns, "root CA publisher sync failed; retrying");
                    self.queue.add_rate_limited(ns.clone());
                }
            }
            self.queue.done(&ns);
        }
    }

    async fn sync(&self, ns: &str) -> anyhow::Result<()> {
        let Some(namespace) = self.namespaces.get(&Key { namespace: None, name: ns.to_string() }) else {
            return Ok(());
        };
        if !is_active(&namespace) {
            return Ok(());
        }
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
        let data = BTreeMap::from([(KEY.to_string(), self.ca.clone())]);
        let result = match self.configmaps.get(&Key::namespaced(ns, NAME)) {
            None => {
                let cm = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(NAME.into()),
                        annotations: Some(BTreeMap::from([(
                            DESCRIPTION_ANNOTATION.into(),
                            DESCRIPTION.into(),
                        )])),
                        ..Default::default()
                    },
                    data: Some(data),
                    ..Default::default()
                };
                api.create(&PostParams::default(), &cm).await.map(drop)
            }
            Some(cm) if up_to_date(&cm, &data) => return Ok(()),
            Some(cm) => {
                let mut cm = cm.as_ref().clone();
                cm.data = Some(data);
                cm.metadata
                    .annotations
                    .get_or_insert_default()
                    .insert(DESCRIPTION_ANNOTATION.into(), DESCRIPTION.into());
                api.replace(NAME, &PostParams::default(), &cm).await.map(drop)
            }
        };
        match result {
            Ok(()) => Ok(()),
            // Made meanwhile, or the namespace is going away: the next event says.
            Err(kube::Error::Api(e)) if matches!(e.code, 403 | 404 | 409) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Upstream's check: the data exactly as published and a description present.
fn up_to_date(cm: &ConfigMap, data: &BTreeMap<String, String>) -> bool {
    cm.data.as_ref() == Some(data)
        && cm
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DESCRIPTION_ANNOTATION))
            .is_some_and(|d| !d.is_empty())
}

/// The cluster CA from `/cacerts`, retried until the API server answers.
async fn fetch_ca(client: &kube::Client) -> String {
    let mut delay = std::time::Duration::from_millis(100);
    loop {
        let request = http::Request::get("/cacerts").body(Vec::new());
        match request {
            Ok(req) => match client.request_text(req).await {
                Ok(pem) if pem.contains("BEGIN CERTIFICATE") => return pem,
                Ok(_) => tracing::debug!("/cacerts answered without a certificate; retrying"),
                Err(err) => tracing::debug!(error = %err, "reading /cacerts; retrying"),
            },
            Err(err) => tracing::debug!(error = %err, "building the /cacerts request"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(std::time::Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_data_or_a_missing_description_needs_an_update() {
        let data = BTreeMap::from([(KEY.to_string(), "pem".to_string())]);
        let mut cm = ConfigMap { data: Some(data.clone()), ..Default::default() };
        assert!(!up_to_date(&cm, &data));
        cm.metadata.annotations = Some(BTreeMap::from([(DESCRIPTION_ANNOTATION.into(), DESCRIPTION.into())]));
        assert!(up_to_date(&cm, &data));
        cm.data = Some(BTreeMap::from([(KEY.to_string(), "other".to_string())]));
        assert!(!up_to_date(&cm, &data));
    }
}
