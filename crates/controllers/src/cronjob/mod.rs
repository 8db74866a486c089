//! The CronJob controller (upstream's v2): creates a Job at each scheduled time (in
//! `spec.timeZone` when set), honours `concurrencyPolicy`, `startingDeadlineSeconds` and
//! `suspend`, keeps `status.active`, `lastScheduleTime` and `lastSuccessfulTime`, trims finished
//! Jobs to the history limits, and wakes exactly at the next scheduled time.

pub mod schedule;
pub mod timing;

use std::{sync::Arc, time::Duration};

use jiff::{Timestamp, tz::TimeZone};
use k8s_openapi::{
    api::{
        batch::v1::{CronJob, Job},
        core::v1::ObjectReference,
    },
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time},
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy},
};
use serde_json::json;

use crate::{
    events::{Recorder, Type, reference},
    informer::{Change, Informer, Informers, Key},
    owner::{controller_of, controller_ref},
    queue::Queue,
};
use schedule::Schedule;

const COMPONENT: &str = "cronjob-controller";
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// Upstream wakes a little after the scheduled time so that the time has surely passed.
const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);

pub struct Controller {
    cron_jobs: Arc<Informer<CronJob>>,
    jobs: Arc<Informer<Job>>,
    queue: Arc<Queue<Key>>,
    recorder: Recorder,
    client: kube::Client,
}

/// A Job's finished condition type, if it finished.
fn finished(job: &Job) -> Option<&str> {
    job.status.as_ref()?.conditions.as_ref()?.iter().find_map(|c| {
        ((c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True").then_some(c.type_.as_str())
    })
}

/// The CronJob's time zone: `spec.timeZone`, else the controller's local zone.
pub fn time_zone(cj: &CronJob) -> Result<TimeZone, String> {
    match cj.spec.as_ref().and_then(|s| s.time_zone.as_deref()) {
        Some(name) => TimeZone::get(name).map_err(|e| e.to_string()),
        None => Ok(TimeZone::system()),
    }
}

/// The Job a CronJob creates for `scheduled`: the template's metadata and spec, the
/// scheduled-timestamp annotation (RFC 3339 in the CronJob's zone), and a controller reference.
pub fn job_for(cj: &CronJob, scheduled: Timestamp, tz: &TimeZone) -> Job {
    let template = cj.spec.as_ref().map(|s| s.job_template.clone()).unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    annotations.insert(
        SCHEDULED_TIMESTAMP.into(),
        scheduled.to_zoned(tz.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string().replace("+00:00", "Z"),
    );
    Job {
        metadata: ObjectMeta {
            name: Some(timing::job_name(&cj.name_any(), scheduled)),
            namespace: cj.namespace(),
            labels: meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref(cj)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

fn job_ref(job: &Job) -> ObjectReference {
    reference(job)
}

impl Controller {
    pub fn start(informers: &Informers) {
        let client = informers.client();
        let me = Arc::new(Controller {
            cron_jobs: informers.get::<CronJob>(),
            jobs: informers.get::<Job>(),
            queue: Queue::new(),
            recorder: Recorder::new(client.clone(), COMPONENT),
            client,
        });
        let mut cron_changes = me.cron_jobs.subscribe();
        let mut job_changes = me.jobs.subscribe();
        let watcher = me.clone();
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            watcher.cron_jobs.wait_synced().await;
            watcher.jobs.wait_synced().await;
            watcher.resync();
            loop {
                tokio::select! {
                    change = cron_changes.recv() => match change {
                        Ok(change) => watcher.queue.add(Key::of(change.object().as_ref())),
                        Err(RecvError::Lagged(_)) => watcher.resync(),
                        Err(RecvError::Closed) => return,
                    },
                    change = job_changes.recv() => match change {
                        Ok(change) => watcher.job_changed(&change),
                        Err(RecvError::Lagged(_)) => watcher.resync(),
                        Err(RecvError::Closed) => return,
                    },
                }
            }
        });
        crate::runner::spawn_workers(me.queue.clone(), 1, "cronjob-controller", move |key| {
            let me = me.clone();
            async move { me.sync(&key).await }
        });
    }

    fn resync(&self) {
        for cj in self.cron_jobs.list(None) {
            self.queue.add(Key::of(cj.as_ref()));
        }
    }

    fn job_changed(&self, change: &Change<Job>) {
        let job = change.object();
        if let Some(cref) = controller_of(&job.metadata).filter(|r| r.kind == "CronJob") {
            self.queue.add(Key { namespace: job.metadata.namespace.clone(), name: cref.name.clone() });
        }
    }

    async fn sync(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some(cj) = self.cron_jobs.get(key) else { return Ok(None) };
        let cj = cj.as_ref();
        let ns = key.namespace.clone().unwrap_or_default();
        let uid = cj.metadata.uid.clone().unwrap_or_default();
        let children: Vec<Arc<Job>> = self
            .jobs
            .list(Some(&ns))
            .into_iter()
            .filter(|j| controller_of(&j.metadata).is_some_and(|r| r.uid == uid))
            .collect();
        let now = Timestamp::now();
        let mut status = cj.status.clone().unwrap_or_default();
        let mut active = status.active.take().unwrap_or_default();
        self.reconcile_active(cj, &children, &mut active, &mut status.last_successful_time).await?;

        let mut requeue = None;
        if cj.metadata.deletion_timestamp.is_none() {
            requeue = self.schedule(cj, now, &mut active, &mut status.last_schedule_time).await?;
        }
        status.active = Some(active).filter(|a| !a.is_empty());
        if status != cj.status.clone().unwrap_or_default() {
            let api: Api<CronJob> = Api::namespaced(self.client.clone(), &ns);
            let patch = json!({"status": {
                "active": status.active,
                "lastScheduleTime": status.last_schedule_time,
                "lastSuccessfulTime": status.last_successful_time,
            }});
            match api.patch_status(&cj.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        self.trim_history(cj, &children).await;
        Ok(requeue)
    }

    /// Brings `status.active` in line with the Jobs that exist.
    async fn reconcile_active(
        &self,
        cj: &CronJob,
        children: &[Arc<Job>],
        active: &mut Vec<ObjectReference>,
        last_successful: &mut Option<Time>,
    ) -> anyhow::Result<()> {
        for job in children {
            let listed = active.iter().any(|r| r.uid == job.metadata.uid);
            match finished(job) {
                None if !listed => {
                    active.push(job_ref(job));
                    let msg =
                        format!("Saw a job that the controller did not create or forgot: {}", job.name_any());
                    self.recorder.record(cj, Type::Warning, "UnexpectedJob", &msg).await;
                }
                Some(condition) if listed => {
                    active.retain(|r| r.uid != job.metadata.uid);
                    let msg = format!("Saw completed job: {}, condition: {condition}", job.name_any());
                    self.recorder.record(cj, Type::Normal, "SawCompletedJob", &msg).await;
                    let completed = job.status.as_ref().and_then(|s| s.completion_time.clone());
                    if condition == "Complete"
                        && let Some(at) = completed
                        && last_successful.as_ref().is_none_or(|t| t.0 < at.0)
                    {
                        *last_successful = Some(at);
                    }
                }
                _ => {}
            }
        }
        // Referenced Jobs the cache does not know: ask the API before dropping them.
        let api: Api<Job> = Api::namespaced(self.client.clone(), &cj.namespace().unwrap_or_default());
        let mut kept = Vec::new();
        for r in active.drain(..) {
            if children.iter().any(|j| j.metadata.uid == r.uid) {
                kept.push(r);
                continue;
            }
            let name = r.name.clone().unwrap_or_default();
            match api.get_opt(&name).await? {
                Some(j) if j.metadata.uid == r.uid => kept.push(r),
                _ => {
                    let msg = format!("Active job went missing: {name}");
                    self.recorder.record(cj, Type::Normal, "MissingJob", &msg).await;
                }
            }
        }
        *active = kept;
        Ok(())
    }

    /// Starts the Job that is due, if any; returns when to look again.
    async fn schedule(
        &self,
        cj: &CronJob,
        now: Timestamp,
        active: &mut Vec<ObjectReference>,
        last_schedule: &mut Option<Time>,
    ) -> anyhow::Result<Option<Duration>> {
        let Some(spec) = cj.spec.as_ref() else { return Ok(None) };
        let tz = match time_zone(cj) {
            Ok(tz) => tz,
            Err(err) => {
                let msg = format!("invalid timeZone: {:?}: {err}", spec.time_zone.as_deref().unwrap_or(""));
                self.recorder.record(cj, Type::Warning, "UnknownTimeZone", &msg).await;
                return Ok(None);
            }
        };
        if spec.suspend == Some(true) {
            return Ok(None);
        }
        let sched = match Schedule::parse(&spec.schedule) {
            Ok(s) => s,
            Err(err) => {
                let msg = format!("unparseable schedule: {:?} : {err}", spec.schedule);
                self.recorder.record(cj, Type::Warning, "UnparseableSchedule", &msg).await;
                return Ok(None);
            }
        };
        let created = cj.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0);
        let earliest = timing::earliest(
            last_schedule.as_ref().map(|t| t.0),
            created,
            spec.starting_deadline_seconds,
            now,
        );
        let (due, missed) = match timing::most_recent(&sched, &tz, earliest, now) {
            Ok(found) => found,
            Err(err) => {
                let msg = format!("unparseable schedule: {:?} : {err}", spec.schedule);
                self.recorder.record(cj, Type::Warning, "InvalidSchedule", &msg).await;
                return Ok(None);
            }
        };
        // Wake at the first start time after the latest one considered.
        let wake = |from: Timestamp| {
            sched.next(from, &tz).map(|next| {
                Duration::from_secs_f64(next.duration_since(now).as_secs_f64().max(0.0)) + NEXT_SCHEDULE_DELTA
            })
        };
        let Some(scheduled) = due else {
            return Ok(wake(now));
        };
        if missed > timing::TOO_MANY_MISSED {
            let msg = format!(
                "too many missed start times: {missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew"
            );
            self.recorder.record(cj, Type::Warning, "TooManyMissedTimes", &msg).await;
        }
        let requeue = wake(now);
        if let Some(deadline) = spec.starting_deadline_seconds
            && scheduled.as_second() + deadline < now.as_second()
        {
            let when = scheduled.to_zoned(tz.clone()).strftime("%a, %d %b %Y %H:%M:%S %z").to_string();
            let msg = format!("Missed scheduled time to start a job: {when}");
            self.recorder.record(cj, Type::Warning, "MissSchedule", &msg).await;
            return Ok(requeue);
        }
        let name = timing::job_name(&cj.name_any(), scheduled);
        if active.iter().any(|r| r.name.as_deref() == Some(name.as_str())) {
            return Ok(requeue);
        }
        let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
        if policy == "Forbid" && !active.is_empty() {
            let msg = "Not starting job because prior execution is running and concurrency policy is Forbid";
            self.recorder.record(cj, Type::Normal, "JobAlreadyActive", msg).await;
            return Ok(requeue);
        }
        let api: Api<Job> = Api::namespaced(self.client.clone(), &cj.namespace().unwrap_or_default());
        if policy == "Replace" {
            for r in std::mem::take(active) {
                let name = r.name.clone().unwrap_or_default();
                let params = DeleteParams {
                    propagation_policy: Some(PropagationPolicy::Background),
                    ..Default::default()
                };
                match api.delete(&name, &params).await {
                    Ok(_) => {
                        self.recorder
                            .record(cj, Type::Normal, "SuccessfulDelete", &format!("Deleted job {name}"))
                            .await;
                    }
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => {
                        active.push(r);
                        let msg = format!("Error deleting job: {e}");
                        self.recorder.record(cj, Type::Warning, "FailedDelete", &msg).await;
                        return Err(e.into());
                    }
                }
            }
        }
        match api.create(&PostParams::default(), &job_for(cj, scheduled, &tz)).await {
            Ok(job) => {
                self.recorder
                    .record(cj, Type::Normal, "SuccessfulCreate", &format!("Created job {}", job.name_any()))
                    .await;
                active.push(job_ref(&job));
            }
            // Made already (by an earlier sync whose status write was lost): only record it.
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => {
                let msg = format!("Error creating job: {}", crate::job::api_message(&e));
                self.recorder.record(cj, Type::Warning, "FailedCreate", &msg).await;
                return Err(e.into());
            }
        }
        *last_schedule = Some(Time(scheduled));
        Ok(requeue)
    }

    /// Deletes the oldest finished Jobs beyond the history limits.
    async fn trim_history(&self, cj: &CronJob, children: &[Arc<Job>]) {
        let spec = cj.spec.as_ref();
        let limits = [
            ("Complete", spec.and_then(|s| s.successful_jobs_history_limit)),
            ("Failed", spec.and_then(|s| s.failed_jobs_history_limit)),
        ];
        let api: Api<Job> = Api::namespaced(self.client.clone(), &cj.namespace().unwrap_or_default());
        for (condition, limit) in limits {
            let Some(limit) = limit else { continue };
            let mut done: Vec<&Arc<Job>> =
                children.iter().filter(|j| finished(j) == Some(condition)).collect();
            let excess = done.len().saturating_sub(limit.max(0) as usize);
            if excess == 0 {
                continue;
            }
            let started = |j: &Job| {
                j.status
                    .as_ref()
                    .and_then(|s| s.start_time.as_ref())
                    .or(j.metadata.creation_timestamp.as_ref())
                    .map(|t| t.0)
            };
            done.sort_by_key(|j| started(j));
            for job in done.into_iter().take(excess) {
                if job.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                let params = DeleteParams {
                    propagation_policy: Some(PropagationPolicy::Background),
                    ..Default::default()
                };
                match api.delete(&job.name_any(), &params).await {
                    Ok(_) => {
                        let msg = format!("Deleted job {}", job.name_any());
                        self.recorder.record(cj, Type::Normal, "SuccessfulDelete", &msg).await;
                    }
                    Err(err) => {
                        tracing::debug!(error = %err, job = %job.name_any(), "could not delete a finished job")
                    }
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
    fn jobs_take_the_template_name_by_minute_and_the_scheduled_timestamp() {
        let cj: CronJob = serde_json::from_value(json!({
            "metadata": {"name": "hello", "namespace": "ns", "uid": "u"},
            "spec": {"schedule": "* * * * *", "timeZone": "Europe/Paris",
                     "jobTemplate": {"metadata": {"labels": {"app": "x"}},
                                     "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": []}}}}}
        }))
        .unwrap();
        let tz = time_zone(&cj).unwrap();
        let at: Timestamp = "2025-01-01T00:01:00Z".parse().unwrap();
        let job = job_for(&cj, at, &tz);
        assert_eq!(job.metadata.name.as_deref(), Some("hello-28928161"));
        assert_eq!(job.metadata.annotations.unwrap()[SCHEDULED_TIMESTAMP], "2025-01-01T01:01:00+01:00");
        assert_eq!(job.metadata.labels.unwrap()["app"], "x");
        let owner = &job.metadata.owner_references.unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.controller), ("CronJob", Some(true)));
        let utc = job_for(&cj, at, &TimeZone::UTC);
        assert_eq!(utc.metadata.annotations.unwrap()[SCHEDULED_TIMESTAMP], "2025-01-01T00:01:00Z");
    }
}
