//! The service account controller, as upstream's: a `default` ServiceAccount in every
//! namespace, made when the namespace appears and made again if deleted.

use std::sync::Arc;

use k8s_openapi::{
    api::core::v1::{Namespace, ServiceAccount},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{Api, api::PostParams};

use crate::{
    informer::{Change, Informer, Informers, Key},
    queue::Queue,
};

pub const DEFAULT: &str = "default";
const WORKERS: usize = 2;

pub struct Controller {
    namespaces: Arc<Informer<Namespace>>,
    accounts: Arc<Informer<ServiceAccount>>,
    /// Namespace names.
    queue: Arc<Queue<String>>,
    client: kube::Client,
}

impl Controller {
    pub fn start(informers: &Informers) {
        let me = Arc::new(Controller {
            namespaces: informers.get::<Namespace>(),
            accounts: informers.get::<ServiceAccount>(),
            queue: Queue::new(),
            client: informers.client(),
        });
        let mut ns_changes = me.namespaces.subscribe();
        let mut sa_changes = me.accounts.subscribe();
        let watcher = me.clone();
        tokio::spawn(async move {
            watcher.namespaces.wait_synced().await;
            watcher.accounts.wait_synced().await;
            watcher.resync();
            use tokio::sync::broadcast::error::RecvError;
            loop {
                tokio::select! {
                    change = ns_changes.recv() => match change {
                        Ok(change) => {
                            if !matches!(*change, Change::Deleted(_)) {
                                watcher.queue.add(change.object().metadata.name.clone().unwrap_or_default());
                            }
                        }
                        Err(RecvError::Lagged(_)) => watcher.resync(),
                        Err(RecvError::Closed) => return,
                    },
                    change = sa_changes.recv() => match change {
                        Ok(change) => {
                            if let Change::Deleted(sa) = change.as_ref()
                                && sa.metadata.name.as_deref() == Some(DEFAULT)
                            {
                                watcher.queue.add(sa.metadata.namespace.clone().unwrap_or_default());
                            }
                        }
                        Err(RecvError::Lagged(_)) => watcher.resync(),
                        Err(RecvError::Closed) => return,
                    },
                }
            }
        });
        for _ in 0..WORKERS {
            let worker = me.clone();
            tokio::spawn(async move { worker.work().await });
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
                    tracing::debug!(error = %err, namespace = %ns, "serviceaccount sync failed; retrying");
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
        if !is_active(&namespace) || self.accounts.get(&Key::namespaced(ns, DEFAULT)).is_some() {
            return Ok(());
        }
        let sa = ServiceAccount {
            metadata: ObjectMeta { name: Some(DEFAULT.into()), ..Default::default() },
            ..Default::default()
        };
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), ns);
        match api.create(&PostParams::default(), &sa).await {
            Ok(_) => Ok(()),
            // Already there, or the namespace is going away.
            Err(kube::Error::Api(e)) if e.code == 409 || e.code == 403 || e.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Whether objects can be made in the namespace: it exists and is not terminating.
pub fn is_active(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_none()
        && ns.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Terminating")
}
