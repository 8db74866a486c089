//! The TTL-after-finished controller: deletes a finished Job (background propagation)
//! `spec.ttlSecondsAfterFinished` seconds after its Complete or Failed condition, waking
//! exactly when that time comes.

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Preconditions, PropagationPolicy},
};

use crate::{
    informer::{Informer, Informers, Key},
    queue::Queue,
};

pub struct Controller {
    jobs: Arc<Informer<Job>>,
    queue: Arc<Queue<Key>>,
    client: kube::Client,
}

/// When the Job finished: the transition time of its Complete or Failed condition.
pub fn finished_at(job: &Job) -> Option<Timestamp> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    conditions
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| c.last_transition_time.as_ref().map_or(Timestamp::UNIX_EPOCH, |t| t.0))
}

/// How long until the Job expires (zero: now), or `None` when it never does (no TTL, not
/// finished, or already being deleted).
pub fn time_left(job: &Job, now: Timestamp) -> Option<Duration> {
    let ttl = job.spec.as_ref()?.ttl_seconds_after_finished?;
    if job.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let expires = finished_at(job)?.as_second().saturating_add(i64::from(ttl));
    Some(Duration::from_secs(expires.saturating_sub(now.as_second()).max(0) as u64))
}

impl Controller {
    pub fn start(informers: &Informers) {
        let me = Arc::new(Controller {
            jobs: informers.get::<Job>(),
            queue: Queue::new(),
            client: informers.client(),
        });
        let mut changes = me.jobs.subscribe();
        let watcher = me.clone();
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            watcher.jobs.wait_synced().await;
            watcher.resync();
            loop {
                match changes.recv().await {
                    Ok(change) => {
                        let job = change.object();
                        if time_left(job, Timestamp::now()).is_some() {
                            watcher.queue.add(Key::of(job.as_ref()));
                        }
                    }
                    Err(RecvError::Lagged(_)) => watcher.resync(),
                    Err(RecvError::Closed) => return,
                }
            }
        });
        tokio::spawn(async move {
            loop {
                let key = me.queue.next().await;
                match me.sync(&key).await {
                    Ok(Some(after)) => me.queue.add_after(key.clone(), after),
                    Ok(None) => me.queue.forget(&key),
                    Err(err) => {
                        tracing::debug!(error = %err, %key, "ttl-after-finished sync failed; retrying");
                        me.queue.add_rate_limited(key.clone());
                    }
                }
                me.queue.done(&key);
            }
        });
    }

    fn resync(&self) {
        for job in self.jobs.list(None) {
            if time_left(&job, Timestamp::now()).is_some() {
                self.queue.add(Key::of(job.as_ref()));
            }
        }
    }

    /// Deletes the Job if it expired; otherwise says when to look again.
    async fn sync(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some(job) = self.jobs.get(key) else { return Ok(None) };
        match time_left(&job, Timestamp::now()) {
            None => Ok(None),
            Some(left) if !left.is_zero() => Ok(Some(left)),
            Some(_) => {
                let api: Api<Job> =
                    Api::namespaced(self.client.clone(), &job.namespace().unwrap_or_default());
                // The uid precondition makes sure a Job re-created under the same name survives.
                let params = DeleteParams {
                    propagation_policy: Some(PropagationPolicy::Background),
                    preconditions: Some(Preconditions {
                        uid: job.metadata.uid.clone(),
                        resource_version: None,
                    }),
                    ..Default::default()
                };
                match api.delete(&job.name_any(), &params).await {
                    Ok(_) => Ok(None),
                    Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finished_jobs_expire_ttl_seconds_after_finishing() {
        let job: Job = serde_json::from_value(json!({
            "metadata": {"name": "j"},
            "spec": {"ttlSecondsAfterFinished": 100, "template": {}},
            "status": {"conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": "1970-01-01T00:00:10Z"},
                {"type": "Complete", "status": "True", "lastTransitionTime": "1970-01-01T00:00:20Z"}]}
        }))
        .unwrap();
        let at = |s| Timestamp::from_second(s).unwrap();
        assert_eq!(time_left(&job, at(50)), Some(Duration::from_secs(70)));
        assert_eq!(time_left(&job, at(500)), Some(Duration::ZERO));
        let mut running = job.clone();
        running.status = None;
        assert_eq!(time_left(&running, at(50)), None);
        let mut no_ttl = job;
        no_ttl.spec.as_mut().unwrap().ttl_seconds_after_finished = None;
        assert_eq!(time_left(&no_ttl, at(50)), None);
    }
}
