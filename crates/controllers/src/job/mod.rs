//! The Job controller: runs pods until `completions` succeed (NonIndexed or Indexed), replaces
//! failed ones after a back-off until `backoffLimit` (or, per index, `backoffLimitPerIndex`),
//! honours `activeDeadlineSeconds`, `podFailurePolicy` and `suspend`, and counts finished pods
//! exactly once through the `batch.kubernetes.io/job-tracking` finalizer and
//! `status.uncountedTerminatedPods`.

pub mod assess;
pub mod backoff;
mod create;
pub use create::api_message;
pub mod failure_policy;
pub mod indexes;
pub mod per_index;
pub mod rules;
pub mod success_policy;

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::{
    api::{
        batch::v1::{Job, JobStatus},
        core::v1::Pod,
    },
    apimachinery::pkg::apis::meta::v1::Time,
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams},
};
use serde_json::{Value, json};

use crate::{
    events::{Recorder, Type},
    expectations::Expectations,
    informer::{Change, Informer, Informers, Key},
    owner::controller_of,
    pods,
    queue::Queue,
};
use assess::{Assessment, TRACKING_FINALIZER};

const WORKERS: usize = 5;
const COMPONENT: &str = "job-controller";

pub struct Controller {
    jobs: Arc<Informer<Job>>,
    pods: Arc<Informer<Pod>>,
    queue: Arc<Queue<Key>>,
    expectations: Expectations,
    /// Pods whose tracking finalizer this controller removed, per Job, until the cache shows
    /// it gone: they must not be counted twice.
    released: Mutex<HashMap<Key, HashSet<String>>>,
    backoffs: Mutex<HashMap<Key, backoff::Record>>,
    recorder: Recorder,
    client: kube::Client,
}

impl Controller {
    pub fn start(informers: &Informers) {
        let client = informers.client();
        let me = Arc::new(Controller {
            jobs: informers.get::<Job>(),
            pods: informers.get::<Pod>(),
            queue: Queue::new(),
            expectations: Expectations::default(),
            released: Mutex::default(),
            backoffs: Mutex::default(),
            recorder: Recorder::new(client.clone(), COMPONENT),
            client,
        });
        let job_changes = me.jobs.subscribe();
        let pod_changes = me.pods.subscribe();
        let watcher = me.clone();
        tokio::spawn(async move {
            watcher.jobs.wait_synced().await;
            watcher.pods.wait_synced().await;
            watcher.resync();
            for pod in watcher.pods.list(None) {
                watcher.release_orphan(&pod);
            }
            watcher.follow(job_changes, pod_changes).await;
        });
        crate::runner::spawn_workers(me.queue.clone(), WORKERS, COMPONENT, move |key| {
            let me = me.clone();
            async move { me.sync(&key).await }
        });
    }

    async fn follow(
        self: &Arc<Self>,
        mut jobs: tokio::sync::broadcast::Receiver<Arc<Change<Job>>>,
        mut pods: tokio::sync::broadcast::Receiver<Arc<Change<Pod>>>,
    ) {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            tokio::select! {
                change = jobs.recv() => match change {
                    Ok(change) => self.queue.add(Key::of(change.object().as_ref())),
                    Err(RecvError::Lagged(_)) => self.resync(),
                    Err(RecvError::Closed) => return,
                },
                change = pods.recv() => match change {
                    Ok(change) => self.pod_changed(&change),
                    Err(RecvError::Lagged(_)) => self.resync(),
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }

    fn resync(&self) {
        for job in self.jobs.list(None) {
            self.queue.add(Key::of(job.as_ref()));
        }
    }

    /// The Job a pod's controller reference names, if it exists with that uid.
    fn owner_of(&self, pod: &Pod) -> Option<Key> {
        let cref = controller_of(&pod.metadata).filter(|r| r.kind == "Job")?;
        let key = Key { namespace: pod.metadata.namespace.clone(), name: cref.name.clone() };
        let job = self.jobs.get(&key)?;
        (job.metadata.uid.as_deref() == Some(cref.uid.as_str())).then_some(key)
    }

    fn pod_changed(self: &Arc<Self>, change: &Change<Pod>) {
        let pod = change.object();
        let Some(key) = self.owner_of(pod) else {
            self.release_orphan(pod);
            return;
        };
        match change {
            Change::Added(_) => self.expectations.creation_observed(&key),
            Change::Updated { old, new } => {
                if new.metadata.deletion_timestamp.is_some() && old.metadata.deletion_timestamp.is_none() {
                    self.expectations.deletion_observed(&key);
                }
            }
            Change::Deleted(p) => {
                if p.metadata.deletion_timestamp.is_none() {
                    self.expectations.deletion_observed(&key);
                }
            }
        }
        let gone = matches!(change, Change::Deleted(_)) || !has_finalizer(pod);
        if gone && let Some(uid) = pod.metadata.uid.as_ref() {
            let mut released = lock(&self.released);
            if let Some(set) = released.get_mut(&key) {
                set.remove(uid);
            }
        }
        self.queue.add(key);
    }

    /// A pod still carrying the tracking finalizer whose Job is gone would never go away.
    fn release_orphan(self: &Arc<Self>, pod: &Arc<Pod>) {
        let is_job_pod = controller_of(&pod.metadata).is_some_and(|r| r.kind == "Job");
        if !is_job_pod || !has_finalizer(pod) || self.owner_of(pod).is_some() {
            return;
        }
        let me = self.clone();
        let pod = pod.clone();
        tokio::spawn(async move {
            if let Err(err) = me.remove_finalizer(&pod).await {
                tracing::debug!(error = %err, pod = %pod.name_any(), "could not release an orphan pod");
            }
        });
    }

    fn forget(&self, key: &Key) {
        self.expectations.forget(key);
        lock(&self.released).remove(key);
        lock(&self.backoffs).remove(key);
    }

    async fn sync(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some(job) = self.jobs.get(key) else {
            self.forget(key);
            return Ok(None);
        };
        let ns = key.namespace.clone().unwrap_or_default();
        let uid = job.metadata.uid.clone().unwrap_or_default();
        let owned: Vec<Arc<Pod>> = self
            .pods
            .list(Some(&ns))
            .into_iter()
            .filter(|p| controller_of(&p.metadata).is_some_and(|r| r.uid == uid))
            .collect();
        if rules::is_finished(&job) || job.metadata.deletion_timestamp.is_some() {
            // Whatever is left is not counted any more; let it go.
            for pod in owned.iter().filter(|p| has_finalizer(p)) {
                self.remove_finalizer(pod).await?;
            }
            self.forget(key);
            return Ok(None);
        }
        let now = Timestamp::now();
        let released = lock(&self.released).get(key).cloned().unwrap_or_default();
        let tracked =
            |p: &Pod| has_finalizer(p) && !p.metadata.uid.as_ref().is_some_and(|u| released.contains(u));
        let interim = |t| rules::condition(&job, t).is_some();
        // Once the Job's end is decided, no failed pod waits for a replacement any more.
        let hold = !interim(rules::FAILURE_TARGET) && !interim(rules::SUCCESS_CRITERIA_MET);
        let a = assess::assess(&job, &owned, tracked, hold, now);
        let mut status = job.status.clone().unwrap_or_default();
        let mut conditions = status.conditions.take().unwrap_or_default();
        let mut uncounted = status.uncounted_terminated_pods.take().unwrap_or_default();
        extend(&mut uncounted.succeeded, &a.new_succeeded);
        extend(&mut uncounted.failed, &a.new_failed);
        let indexed = assess::is_indexed(&job);
        if indexed {
            status.completed_indexes = Some(indexes::format(&a.completed)).filter(|s| !s.is_empty());
            status.succeeded = Some(a.completed.len() as i32);
        }
        let per_index = per_index::limit(&job).is_some();
        if per_index {
            // Upstream writes it (empty at first) whenever the Job has a per-index limit.
            status.failed_indexes = Some(indexes::format(&a.failed_indexes));
        }
        let succeeded = status.succeeded.unwrap_or(0) + len(&uncounted.succeeded);
        let failed = status.failed.unwrap_or(0) + len(&uncounted.failed);
        let suspended = rules::is_suspended(&job);
        let mut events: Vec<(Type, &str, String)> = Vec::new();
        self.suspension(&mut status, &mut conditions, &mut events, suspended, now, a.active.is_empty());

        let backoff = lock(&self.backoffs)
            .get(key)
            .copied()
            .unwrap_or_default()
            .with_finished(&a.succeeded_at, &a.failed_at);
        let mut requeue: Option<Duration> = None;
        let mut active = a.active.clone();
        let mut terminating = a.terminating;
        let mut succeeding = interim(rules::SUCCESS_CRITERIA_MET);
        // A Job that met its success criteria is not failed afterwards.
        let failing = if succeeding {
            false
        } else if interim(rules::FAILURE_TARGET) {
            true
        } else if let Some((reason, message)) =
            rules::failure(&job, failed, a.restarts, a.fail_job.as_deref(), now)
                .or_else(|| rules::index_failure(&job, a.failed_indexes.len(), a.completed.len()))
        {
            rules::set_condition(&mut conditions, rules::FAILURE_TARGET, "True", &reason, &message, now);
            true
        } else {
            false
        };
        if !failing
            && !succeeding
            && let Some(message) = success_policy::matched(&job, &a.completed)
        {
            let reason = success_policy::REASON;
            rules::set_condition(&mut conditions, rules::SUCCESS_CRITERIA_MET, "True", reason, &message, now);
            succeeding = true;
        }
        if failing || suspended || succeeding {
            let deleted = self.delete_pods(&job, key, &active).await;
            terminating += deleted;
            active.clear();
        } else if self.expectations.satisfied(key) {
            let (remaining, deleted) = self.manage(&job, key, &a, succeeded, backoff, now).await?;
            requeue = remaining;
            terminating += deleted.len();
            active.retain(|p| !deleted.contains(&p.metadata.uid.clone().unwrap_or_default()));
        }
        if !failing && !succeeding && rules::succeeded(&job, succeeded, a.completed.len(), active.len()) {
            let (reason, message) = rules::COMPLETIONS_REACHED;
            rules::set_condition(&mut conditions, rules::SUCCESS_CRITERIA_MET, "True", reason, message, now);
            succeeding = true;
            // Pods still running past the success are no longer needed.
            terminating += self.delete_pods(&job, key, &active).await;
            active.clear();
        }
        if !failing
            && !succeeding
            && !suspended
            && let Some(left) = rules::deadline_remaining(&job, now).filter(|d| !d.is_zero())
        {
            requeue = Some(requeue.map_or(left, |r| r.min(left)));
        }

        status.active = Some(active.len() as i32).filter(|n| *n > 0);
        status.ready = Some(a.ready.min(active.len()) as i32);
        status.terminating = Some(terminating as i32);
        status.conditions = Some(conditions).filter(|c| !c.is_empty());
        status.uncounted_terminated_pods = Some(uncounted);
        let job = self.write_status(&job, status).await?;
        lock(&self.backoffs).insert(key.clone(), backoff);

        // The counts are recorded: the finished pods may go.
        let mut released_now = HashSet::new();
        for pod in &a.release {
            if self.remove_finalizer(pod).await? {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                lock(&self.released).entry(key.clone()).or_default().insert(uid.clone());
                released_now.insert(uid);
            }
        }
        let still_tracked: HashSet<String> = owned
            .iter()
            .filter(|p| tracked(p))
            .filter_map(|p| p.metadata.uid.clone())
            .filter(|u| !released_now.contains(u))
            .collect();
        let mut status = job.status.clone().unwrap_or_default();
        let mut uncounted = status.uncounted_terminated_pods.take().unwrap_or_default();
        let moved_succeeded = drain_untracked(&mut uncounted.succeeded, &still_tracked);
        let moved_failed = drain_untracked(&mut uncounted.failed, &still_tracked);
        status.succeeded = Some(status.succeeded.unwrap_or(0) + moved_succeeded).filter(|n| *n > 0);
        status.failed = Some(status.failed.unwrap_or(0) + moved_failed).filter(|n| *n > 0);
        let drained = len(&uncounted.succeeded) == 0 && len(&uncounted.failed) == 0;
        status.uncounted_terminated_pods = Some(uncounted);
        let mut conditions = status.conditions.take().unwrap_or_default();
        // The final condition waits until every pod is counted and gone (1.35's delayed
        // terminal condition).
        if drained && still_tracked.is_empty() && status.terminating.unwrap_or(0) == 0 {
            let target = |t: &str| conditions.iter().find(|c| c.type_ == t && c.status == "True").cloned();
            if let Some(t) = target(rules::FAILURE_TARGET) {
                let (reason, message) = (t.reason.unwrap_or_default(), t.message.unwrap_or_default());
                if rules::set_condition(&mut conditions, rules::FAILED, "True", &reason, &message, now) {
                    events.push((Type::Warning, leak(reason), message));
                }
            } else if let Some(t) = target(rules::SUCCESS_CRITERIA_MET)
                && status.active.is_none()
            {
                // Complete repeats why the criteria were met (completions or a success policy).
                let (reason, message) = (t.reason.unwrap_or_default(), t.message.unwrap_or_default());
                if rules::set_condition(&mut conditions, rules::COMPLETE, "True", &reason, &message, now) {
                    status.completion_time = Some(Time(now));
                    events.push((Type::Normal, "Completed", "Job completed".into()));
                }
            }
        }
        status.conditions = Some(conditions).filter(|c| !c.is_empty());
        let job = self.write_status(&job, status).await?;
        for (kind, reason, message) in events {
            self.recorder.record(job.as_ref(), kind, reason, &message).await;
        }
        Ok(requeue)
    }

    /// The Suspended condition and the start time.
    fn suspension(
        &self,
        status: &mut JobStatus,
        conditions: &mut Vec<k8s_openapi::api::batch::v1::JobCondition>,
        events: &mut Vec<(Type, &'static str, String)>,
        suspended: bool,
        now: Timestamp,
        no_active: bool,
    ) {
        if suspended {
            if rules::set_condition(
                conditions,
                rules::SUSPENDED,
                "True",
                "JobSuspended",
                "Job suspended",
                now,
            ) {
                events.push((Type::Normal, "Suspended", "Job suspended".into()));
            }
            // A suspended Job's clock stops (its scheduling directives may change then).
            if no_active {
                status.start_time = None;
            }
        } else {
            if rules::set_condition(conditions, rules::SUSPENDED, "False", "JobResumed", "Job resumed", now) {
                events.push((Type::Normal, "Resumed", "Job resumed".into()));
                status.start_time = Some(Time(now));
            }
            if status.start_time.is_none() {
                status.start_time = Some(Time(now));
            }
        }
    }

    /// Creates or deletes pods towards the wanted number; returns the back-off left, if new
    /// pods had to wait, and the uids of pods deleted.
    async fn manage(
        &self,
        job: &Job,
        key: &Key,
        a: &Assessment,
        succeeded: i32,
        backoff: backoff::Record,
        now: Timestamp,
    ) -> anyhow::Result<(Option<Duration>, Vec<String>)> {
        let done_indexes = a.completed.len() + a.failed_indexes.len();
        let want = rules::want_active(job, succeeded, done_indexes, a.active.len());
        let mut excess: Vec<Arc<Pod>> = Vec::new();
        let mut active = a.active.clone();
        let mut active_indexes = BTreeSet::new();
        if assess::is_indexed(job) {
            // One pod per index, only indexes that are not done (completed or failed) and exist.
            let completions = assess::completions(job).unwrap_or(0);
            active.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
            let (keep, drop): (Vec<_>, Vec<_>) = active.into_iter().partition(|p| {
                indexes::of(p)
                    .filter(|i| *i < completions && !a.completed.contains(i) && !a.failed_indexes.contains(i))
                    .is_some_and(|i| active_indexes.insert(i))
            });
            active = keep;
            excess.extend(drop);
        }
        if active.len() > want {
            let mut ranked: Vec<Arc<Pod>> = active.clone();
            ranked.sort_by(|x, y| pods::deletion_order((x, 0), (y, 0)));
            excess.extend(ranked.into_iter().take(active.len() - want));
        }
        let deleted: Vec<String> = excess.iter().filter_map(|p| p.metadata.uid.clone()).collect();
        if !excess.is_empty() {
            self.delete_pods(job, key, &excess).await;
            return Ok((None, deleted));
        }
        // Without `podReplacementPolicy: TerminatingOrFailed`, terminating pods still hold a slot.
        let holding = if job.spec.as_ref().and_then(|s| s.pod_replacement_policy.as_deref()) == Some("Failed")
        {
            a.terminating
        } else {
            0
        };
        let missing = want.saturating_sub(active.len() + holding);
        if missing == 0 {
            return Ok((None, deleted));
        }
        if per_index::limit(job).is_some() {
            // Each index backs off on its own failures (upstream's independent indexes).
            let completions = assess::completions(job).unwrap_or(0);
            let taken = [&a.completed, &a.failed_indexes, &active_indexes];
            let wait =
                |i: &i32| a.last_failed.get(i).map_or(Duration::ZERO, |p| per_index::remaining(p, now));
            let (ready, waiting): (Vec<i32>, Vec<i32>) =
                indexes::pending(completions, &taken, missing).into_iter().partition(|i| wait(i).is_zero());
            let requeue = waiting.iter().map(wait).min();
            if !ready.is_empty() {
                let ready: Vec<Option<i32>> = ready.into_iter().map(Some).collect();
                self.create_pods(job, key, &ready, &a.last_failed).await?;
            }
            return Ok((requeue, deleted));
        }
        let remaining = backoff.remaining(now);
        if !remaining.is_zero() {
            return Ok((Some(remaining), deleted));
        }
        let new_indexes = if assess::is_indexed(job) {
            let completions = assess::completions(job).unwrap_or(0);
            indexes::pending(completions, &[&a.completed, &active_indexes], missing)
                .into_iter()
                .map(Some)
                .collect()
        } else {
            vec![None; missing]
        };
        self.create_pods(job, key, &new_indexes, &a.last_failed).await?;
        Ok((None, deleted))
    }

    /// Deletes `victims` (recording events); returns how many deletions went through.
    async fn delete_pods(&self, job: &Job, key: &Key, victims: &[Arc<Pod>]) -> usize {
        if victims.is_empty() {
            return 0;
        }
        let ns = key.namespace.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        self.expectations.expect(key, 0, victims.len() as i64);
        let params = DeleteParams::default();
        let results =
            join_all(victims.iter().map(|p| api.delete(p.metadata.name.as_deref().unwrap_or(""), &params)))
                .await;
        let mut done = 0;
        for (pod, result) in victims.iter().zip(results) {
            match result {
                Ok(_) => {
                    done += 1;
                    let msg = format!("Deleted pod: {}", pod.name_any());
                    self.recorder.record(job, Type::Normal, "SuccessfulDelete", &msg).await;
                }
                Err(err) => {
                    self.expectations.deletion_observed(key);
                    if !matches!(&err, kube::Error::Api(e) if e.code == 404) {
                        let msg = format!("Error deleting: {}", create::api_message(&err));
                        self.recorder.record(job, Type::Warning, "FailedDelete", &msg).await;
                    }
                }
            }
        }
        done
    }

    /// Writes `status` if it differs, with the Job's resourceVersion as a precondition so a
    /// stale cache never overwrites newer counts. Returns the Job as written.
    async fn write_status(&self, job: &Job, status: JobStatus) -> anyhow::Result<Arc<Job>> {
        let current = serde_json::to_value(job.status.clone().unwrap_or_default())?;
        let wanted = serde_json::to_value(&status)?;
        if current == wanted {
            return Ok(Arc::new(job.clone()));
        }
        let mut body = serde_json::Map::new();
        for field in [
            "active",
            "ready",
            "succeeded",
            "failed",
            "terminating",
            "startTime",
            "completionTime",
            "completedIndexes",
            "failedIndexes",
            "conditions",
        ] {
            body.insert(field.into(), wanted.get(field).cloned().unwrap_or(Value::Null));
        }
        let uncounted = status.uncounted_terminated_pods.clone().unwrap_or_default();
        let list =
            |l: &Option<Vec<String>>| l.as_ref().filter(|l| !l.is_empty()).map_or(Value::Null, |l| json!(l));
        body.insert(
            "uncountedTerminatedPods".into(),
            json!({"succeeded": list(&uncounted.succeeded), "failed": list(&uncounted.failed)}),
        );
        let patch = json!({"metadata": {"resourceVersion": job.metadata.resource_version}, "status": body});
        let api: Api<Job> = Api::namespaced(self.client.clone(), &job.namespace().unwrap_or_default());
        let written =
            api.patch_status(&job.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
        Ok(Arc::new(written))
    }

    /// Removes the tracking finalizer; `false` if the pod changed under us (it is retried).
    async fn remove_finalizer(&self, pod: &Pod) -> anyhow::Result<bool> {
        let Some(at) = pod.metadata.finalizers.iter().flatten().position(|f| f == TRACKING_FINALIZER) else {
            return Ok(true);
        };
        let mut rest = pod.metadata.finalizers.clone().unwrap_or_default();
        rest.remove(at);
        // The resourceVersion makes it conditional: a pod that changed is looked at again.
        let rest = if rest.is_empty() { Value::Null } else { json!(rest) };
        let patch =
            json!({"metadata": {"resourceVersion": pod.metadata.resource_version, "finalizers": rest}});
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        match api.patch(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 || e.code == 422 => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

fn has_finalizer(pod: &Pod) -> bool {
    pod.metadata.finalizers.iter().flatten().any(|f| f == TRACKING_FINALIZER)
}

fn len(list: &Option<Vec<String>>) -> i32 {
    list.as_ref().map_or(0, Vec::len) as i32
}

fn extend(list: &mut Option<Vec<String>>, more: &[String]) {
    if !more.is_empty() {
        list.get_or_insert_with(Vec::new).extend(more.iter().cloned());
    }
}

/// Takes the uids whose pods no longer hold the finalizer out of `list`; returns how many.
fn drain_untracked(list: &mut Option<Vec<String>>, still_tracked: &HashSet<String>) -> i32 {
    let Some(uids) = list.as_mut() else { return 0 };
    let before = uids.len();
    uids.retain(|u| still_tracked.contains(u));
    let moved = (before - uids.len()) as i32;
    if uids.is_empty() {
        *list = None;
    }
    moved
}

/// Event reasons are static strings elsewhere; a condition's reason is one of a handful.
fn leak(reason: String) -> &'static str {
    match reason.as_str() {
        "BackoffLimitExceeded" => "BackoffLimitExceeded",
        "DeadlineExceeded" => "DeadlineExceeded",
        "PodFailurePolicy" => "PodFailurePolicy",
        "MaxFailedIndexesExceeded" => "MaxFailedIndexesExceeded",
        "FailedIndexes" => "FailedIndexes",
        _ => "Failed",
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
