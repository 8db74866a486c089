//! The worker loop every controller shares: take a key, sync it, retry failures after the
//! queue's back-off, and come back later when the sync asks to.

use std::{future::Future, sync::Arc, time::Duration};

use crate::{informer::Key, queue::Queue};

/// Spawns `workers` tasks running `sync` on the keys of `queue`. `sync` returns when to look
/// at the key again, if it should be.
pub fn spawn_workers<F, Fut>(queue: Arc<Queue<Key>>, workers: usize, controller: &'static str, sync: F)
where
    F: Fn(Key) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<Option<Duration>>> + Send,
{
    for _ in 0..workers {
        let queue = queue.clone();
        let sync = sync.clone();
        tokio::spawn(async move {
            loop {
                let key = queue.next().await;
                match sync(key.clone()).await {
                    Ok(requeue) => {
                        queue.forget(&key);
                        if let Some(after) = requeue {
                            queue.add_after(key.clone(), after);
                        }
                    }
                    Err(err) => {
                        tracing::debug!(error = %err, %key, controller, "sync failed; retrying");
                        queue.add_rate_limited(key.clone());
                    }
                }
                queue.done(&key);
            }
        });
    }
}

/// The message of an API error, as upstream's events quote it.
pub fn api_message(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(e) => e.message.clone(),
        other => other.to_string(),
    }
}

/// Whether `err` is the API's 404.
pub fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(e) if e.code == 404)
}

/// Whether `err` is the API's 409 (already exists, or a conflict).
pub fn is_conflict(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(e) if e.code == 409)
}
