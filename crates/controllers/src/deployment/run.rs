//! One sync of one Deployment (upstream's `syncDeployment` and the writes of `sync.go`,
//! `rolling.go`, `recreate.go`): claims ReplicaSets, finds or creates the new one, applies the
//! strategy's decisions and writes status. The ReplicaSets it writes replace their cached
//! copies, so later steps of the same sync see them; every write carries the resourceVersion
//! it was computed from, so a stale cache ends in a conflict and a retry, never a lost update.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec},
        core::v1::Pod,
    },
    apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta},
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde_json::json;

use super::{
    Controller, hash,
    progress::{self, PROGRESSING},
    recreate, rolling, selector,
    util::{self, rs_replicas},
};
use crate::{
    events::Type,
    owner::{controller_of, controller_ref},
};

pub struct Run<'a> {
    ctl: &'a Controller,
    d: Deployment,
    /// The Deployment's ReplicaSets, as last read or written.
    rss: Vec<ReplicaSet>,
    pub requeue: Option<Duration>,
}

/// `Some(index of the new ReplicaSet)` and the indices of the old ones.
type Split = (Option<usize>, Vec<usize>);

impl<'a> Run<'a> {
    pub fn new(ctl: &'a Controller, d: Deployment) -> Run<'a> {
        Run { ctl, d, rss: Vec::new(), requeue: None }
    }

    fn ns(&self) -> String {
        self.d.namespace().unwrap_or_default()
    }

    fn rs_api(&self) -> Api<ReplicaSet> {
        Api::namespaced(self.ctl.client.clone(), &self.ns())
    }

    fn d_api(&self) -> Api<Deployment> {
        Api::namespaced(self.ctl.client.clone(), &self.ns())
    }

    async fn event(&self, kind: Type, reason: &str, message: &str) {
        self.ctl.recorder.record(&self.d, kind, reason, message).await;
    }

    pub async fn sync(&mut self) -> anyhow::Result<()> {
        let selects_all = self.d.spec.as_ref().is_some_and(|s| {
            s.selector.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
                && s.selector.match_expressions.as_ref().is_none_or(Vec::is_empty)
        });
        if selects_all {
            self.event(
                Type::Warning,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.",
            )
            .await;
            let mut status = self.d.status.clone().unwrap_or_default();
            if status.observed_generation < self.d.metadata.generation {
                status.observed_generation = self.d.metadata.generation;
                self.write_status(status).await?;
            }
            return Ok(());
        }
        self.claim().await?;
        if self.d.metadata.deletion_timestamp.is_some() {
            let (new, old) = self.split();
            return self.sync_status(new, &old).await;
        }
        self.check_paused_conditions().await?;
        if util::is_paused(&self.d) || self.is_scaling_event().await? {
            return self.sync_scale().await;
        }
        if util::is_recreate(&self.d) { self.rollout_recreate().await } else { self.rollout_rolling().await }
    }

    /// Takes the namespace's ReplicaSets this Deployment controls and still selects, adopts
    /// orphans it selects, and releases those it controls but no longer selects.
    async fn claim(&mut self) -> anyhow::Result<()> {
        let uid = self.d.metadata.uid.clone().unwrap_or_default();
        let sel = selector(&self.d);
        let deleting = self.d.metadata.deletion_timestamp.is_some();
        for rs in self.ctl.replica_sets.list(Some(&self.ns())) {
            let matches = sel.matches(rs.metadata.labels.as_ref());
            match controller_of(&rs.metadata) {
                Some(cref) if cref.uid == uid => {
                    if matches {
                        self.rss.push(rs.as_ref().clone());
                    } else if !deleting {
                        self.release(&rs, &uid).await?;
                    }
                }
                Some(_) => {}
                None => {
                    if matches
                        && !deleting
                        && rs.metadata.deletion_timestamp.is_none()
                        && let Some(adopted) = self.adopt(&rs).await?
                    {
                        self.rss.push(adopted);
                    }
                }
            }
        }
        Ok(())
    }

    async fn adopt(&self, rs: &ReplicaSet) -> anyhow::Result<Option<ReplicaSet>> {
        let mut refs = rs.metadata.owner_references.clone().unwrap_or_default();
        refs.push(controller_ref(&self.d));
        let patch = json!({"metadata": {"ownerReferences": refs, "uid": rs.metadata.uid}});
        match self.rs_api().patch(&rs.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(adopted) => Ok(Some(adopted)),
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn release(&self, rs: &ReplicaSet, uid: &str) -> anyhow::Result<()> {
        let refs: Vec<_> =
            rs.metadata.owner_references.iter().flatten().filter(|r| r.uid != uid).cloned().collect();
        let patch = json!({"metadata": {"ownerReferences": refs, "uid": rs.metadata.uid}});
        match self.rs_api().patch(&rs.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn split(&self) -> Split {
        let new = util::find_new(&self.d, &self.rss);
        let old = (0..self.rss.len()).filter(|i| Some(*i) != new).collect();
        (new, old)
    }

    fn refs(&self, indices: &[usize]) -> Vec<&ReplicaSet> {
        indices.iter().map(|i| &self.rss[*i]).collect()
    }

    fn all_indices(&self, new: Option<usize>, old: &[usize]) -> Vec<usize> {
        old.iter().copied().chain(new).collect()
    }

    fn active(&self, indices: &[usize]) -> Vec<usize> {
        indices.iter().copied().filter(|i| util::is_active(&self.rss[*i])).collect()
    }

    /// The new and old ReplicaSets, the new one's annotations and revision brought up to date,
    /// and the Deployment's revision with them; creates the new one if asked (upstream's
    /// `getAllReplicaSetsAndSyncRevision`).
    async fn sync_revision(&mut self, create: bool) -> anyhow::Result<Split> {
        let (existing, old) = self.split();
        let new_revision = util::max_revision(&self.refs(&old).into_iter().cloned().collect::<Vec<_>>()) + 1;
        if let Some(i) = existing {
            let mut copy = self.rss[i].clone();
            let annotations_changed = util::set_new_rs_annotations(&self.d, &mut copy, new_revision, true);
            let min_ready = util::min_ready_seconds(&self.d);
            let spec = copy.spec.get_or_insert_with(Default::default);
            let min_ready_changed = spec.min_ready_seconds.unwrap_or(0) != min_ready;
            if annotations_changed || min_ready_changed {
                spec.min_ready_seconds = Some(min_ready);
                self.rss[i] = self.rs_api().replace(&copy.name_any(), &PostParams::default(), &copy).await?;
                return Ok((Some(i), old));
            }
            let revision = copy.annotations().get(util::REVISION).cloned().unwrap_or_default();
            self.set_deployment_revision(&revision).await?;
            let mut status = self.d.status.clone().unwrap_or_default();
            if util::progress_deadline(&self.d).is_some()
                && progress::get_condition(Some(&status), PROGRESSING).is_none()
            {
                let msg = format!("Found new replica set {:?}", copy.name_any());
                let cond = progress::condition(
                    PROGRESSING,
                    "True",
                    progress::FOUND_NEW_RS_REASON,
                    msg,
                    progress::now(),
                );
                progress::set_condition(&mut status, cond);
                self.write_status(status).await?;
            }
            return Ok((Some(i), old));
        }
        if !create {
            return Ok((None, old));
        }
        let i = self.create_new_rs(new_revision, &old).await?;
        Ok((Some(i), old))
    }

    async fn create_new_rs(&mut self, revision: i64, old: &[usize]) -> anyhow::Result<usize> {
        let d = &self.d;
        let spec = d.spec.clone().unwrap_or_default();
        let collisions = d.status.as_ref().and_then(|s| s.collision_count);
        let pod_hash = hash::compute(&spec.template, collisions);
        let mut template = spec.template.clone();
        let meta = template.metadata.get_or_insert_with(Default::default);
        meta.labels.get_or_insert_with(BTreeMap::new).insert(hash::LABEL.into(), pod_hash.clone());
        let labels = meta.labels.clone();
        let mut sel = spec.selector.clone();
        sel.match_labels.get_or_insert_with(BTreeMap::new).insert(hash::LABEL.into(), pod_hash.clone());
        let name = format!("{}-{pod_hash}", d.name_any());
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: d.metadata.namespace.clone(),
                owner_references: Some(vec![controller_ref(d)]),
                labels,
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: Some(util::min_ready_seconds(d)),
                selector: LabelSelector {
                    match_labels: sel.match_labels,
                    match_expressions: sel.match_expressions,
                },
                template: Some(template),
            }),
            status: None,
        };
        let count = {
            let all: Vec<&ReplicaSet> = old.iter().map(|i| &self.rss[*i]).chain([&rs]).collect();
            util::new_rs_new_replicas(d, &all, &rs)
        };
        if let Some(spec) = rs.spec.as_mut() {
            spec.replicas = Some(count);
        }
        util::set_new_rs_annotations(d, &mut rs, revision, false);
        let created = match self.rs_api().create(&PostParams::default(), &rs).await {
            Ok(created) => {
                if count > 0 {
                    let msg = format!("Scaled up replica set {name} from 0 to {count}");
                    self.event(Type::Normal, "ScalingReplicaSet", &msg).await;
                }
                created
            }
            Err(kube::Error::Api(e)) if e.code == 409 && e.reason == "AlreadyExists" => {
                let found = self.rs_api().get(&name).await?;
                let ours = controller_of(&found.metadata)
                    .is_some_and(|r| Some(&r.uid) == self.d.metadata.uid.as_ref());
                let same = found
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .is_some_and(|t| hash::equal_ignore_hash(t, &spec.template));
                if !(ours && same) {
                    // A hash collision: the next name comes from a higher collision count.
                    let mut status = self.d.status.clone().unwrap_or_default();
                    status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
                    self.write_status(status).await?;
                    anyhow::bail!("replica set {name} exists with another template (hash collision)");
                }
                self.rss.push(found);
                let i = self.rss.len() - 1;
                let revision = self.rss[i].annotations().get(util::REVISION).cloned().unwrap_or_default();
                self.set_deployment_revision(&revision).await?;
                return Ok(i);
            }
            Err(e) => {
                let msg = format!("Failed to create new replica set {name:?}: {}", api_message(&e));
                if util::progress_deadline(&self.d).is_some() {
                    let mut status = self.d.status.clone().unwrap_or_default();
                    let cond = progress::condition(
                        PROGRESSING,
                        "False",
                        progress::FAILED_RS_CREATE_REASON,
                        msg.clone(),
                        progress::now(),
                    );
                    progress::set_condition(&mut status, cond);
                    let _ = self.write_status(status).await;
                }
                self.event(Type::Warning, progress::FAILED_RS_CREATE_REASON, &msg).await;
                return Err(e.into());
            }
        };
        self.rss.push(created);
        self.set_deployment_revision(&revision.to_string()).await?;
        if util::progress_deadline(&self.d).is_some() {
            let mut status = self.d.status.clone().unwrap_or_default();
            let msg = format!("Created new replica set {name:?}");
            progress::set_condition(
                &mut status,
                progress::condition(PROGRESSING, "True", progress::NEW_RS_REASON, msg, progress::now()),
            );
            self.write_status(status).await?;
        }
        Ok(self.rss.len() - 1)
    }

    /// Writes the revision annotation on the Deployment when it differs.
    async fn set_deployment_revision(&mut self, revision: &str) -> anyhow::Result<()> {
        if revision.is_empty()
            || self.d.annotations().get(util::REVISION).map(String::as_str) == Some(revision)
        {
            return Ok(());
        }
        let patch = json!({"metadata": {
            "resourceVersion": self.d.metadata.resource_version,
            "annotations": {util::REVISION: revision},
        }});
        self.d =
            self.d_api().patch(&self.d.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
        Ok(())
    }

    async fn write_status(&mut self, status: DeploymentStatus) -> anyhow::Result<()> {
        let mut next = self.d.clone();
        next.status = Some(status);
        self.d = self.d_api().replace_status(&next.name_any(), &PostParams::default(), &next).await?;
        Ok(())
    }

    /// Scales a ReplicaSet to `size`, refreshing its replica annotations, and records the
    /// scaling; says whether its size changed (upstream's `scaleReplicaSet`).
    async fn scale(&mut self, i: usize, size: i32) -> anyhow::Result<bool> {
        let want = util::replicas(&self.d);
        let max = want + util::max_surge(&self.d);
        let rs = &self.rss[i];
        let from = rs_replicas(rs);
        let resize = from != size;
        if !resize && !util::replicas_annotations_need_update(rs, want, max) {
            return Ok(false);
        }
        let mut copy = rs.clone();
        copy.spec.get_or_insert_with(Default::default).replicas = Some(size);
        util::set_replicas_annotations(&mut copy, want, max);
        self.rss[i] = self.rs_api().replace(&copy.name_any(), &PostParams::default(), &copy).await?;
        if resize {
            let direction = if from < size { "up" } else { "down" };
            let msg = format!("Scaled {direction} replica set {} from {from} to {size}", copy.name_any());
            self.event(Type::Normal, "ScalingReplicaSet", &msg).await;
        }
        Ok(resize)
    }

    /// As `scale`, but nothing at all when the size is already right.
    async fn scale_and_record(&mut self, i: usize, size: i32) -> anyhow::Result<bool> {
        if rs_replicas(&self.rss[i]) == size {
            return Ok(false);
        }
        self.scale(i, size).await
    }

    /// A scaling event: an active ReplicaSet was sized for another Deployment size.
    async fn is_scaling_event(&mut self) -> anyhow::Result<bool> {
        let (new, old) = self.sync_revision(false).await?;
        let all = self.all_indices(new, &old);
        Ok(self
            .active(&all)
            .iter()
            .any(|i| util::desired_annotation(&self.rss[*i]).is_some_and(|n| n != util::replicas(&self.d))))
    }

    /// Scaling without a rollout (a scaling event, or a paused Deployment).
    async fn sync_scale(&mut self) -> anyhow::Result<()> {
        let (new, old) = self.sync_revision(false).await?;
        self.scale_all(new, &old).await?;
        if util::is_paused(&self.d) {
            self.cleanup(&old).await?;
        }
        self.sync_status(new, &old).await
    }

    /// Upstream's `scale`: one active (or else the newest) ReplicaSet takes the whole size; a
    /// saturated new one leaves nothing to the old; otherwise a rolling Deployment's size is
    /// shared proportionally.
    async fn scale_all(&mut self, new: Option<usize>, old: &[usize]) -> anyhow::Result<()> {
        let want = util::replicas(&self.d);
        let all = self.all_indices(new, old);
        let active = self.active(&all);
        let lone = match active.len() {
            0 => new.or_else(|| {
                old.iter().copied().max_by(|a, b| util::by_creation(&self.rss[*a], &self.rss[*b]))
            }),
            1 => Some(active[0]),
            _ => None,
        };
        if !all.is_empty()
            && let Some(i) = lone
        {
            self.scale_and_record(i, want).await?;
            return Ok(());
        }
        if util::is_saturated(&self.d, new.map(|i| &self.rss[i])) {
            for i in self.active(old) {
                self.scale_and_record(i, 0).await?;
            }
            return Ok(());
        }
        if !util::is_recreate(&self.d) {
            let sizes = util::proportional_sizes(&self.d, &self.refs(&active));
            for (name, size) in sizes {
                if let Some(i) =
                    self.rss.iter().position(|rs| rs.metadata.name.as_deref() == Some(name.as_str()))
                {
                    self.scale(i, size).await?;
                }
            }
        }
        Ok(())
    }

    async fn rollout_rolling(&mut self) -> anyhow::Result<()> {
        let (new, old) = self.sync_revision(true).await?;
        let Some(n) = new else { return self.sync_rollout_status(new, &old).await };
        let all = self.all_indices(new, &old);
        if let Some(target) = rolling::new_rs_target(&self.d, &self.refs(&all), &self.rss[n])
            && self.scale_and_record(n, target).await?
        {
            return self.sync_rollout_status(new, &old).await;
        }
        if self.scale_down_old(n, &old).await? {
            return self.sync_rollout_status(new, &old).await;
        }
        if progress::is_complete(&self.d, &self.d.status.clone().unwrap_or_default()) {
            self.cleanup(&old).await?;
        }
        self.sync_rollout_status(new, &old).await
    }

    /// Upstream's `reconcileOldReplicaSets`: unhealthy old pods first, then available ones
    /// above the minimum.
    async fn scale_down_old(&mut self, n: usize, old: &[usize]) -> anyhow::Result<bool> {
        let active_old = self.active(old);
        if active_old.iter().map(|i| rs_replicas(&self.rss[*i])).sum::<i32>() == 0 {
            return Ok(false);
        }
        let all = self.all_indices(Some(n), old);
        let max = rolling::max_scaled_down(&self.d, &self.refs(&all), &self.rss[n]);
        if max <= 0 {
            return Ok(false);
        }
        let mut scaled = false;
        for (name, size) in rolling::cleanup_unhealthy(&self.refs(&active_old), max) {
            scaled |= self.scale_named(&name, size).await?;
        }
        let changes = rolling::scale_down_old(&self.d, &self.refs(&all), &self.refs(&active_old));
        for (name, size) in changes {
            scaled |= self.scale_named(&name, size).await?;
        }
        Ok(scaled)
    }

    async fn scale_named(&mut self, name: &str, size: i32) -> anyhow::Result<bool> {
        match self.rss.iter().position(|rs| rs.metadata.name.as_deref() == Some(name)) {
            Some(i) => self.scale_and_record(i, size).await,
            None => Ok(false),
        }
    }

    async fn rollout_recreate(&mut self) -> anyhow::Result<()> {
        let (new, old) = self.sync_revision(false).await?;
        let mut scaled = false;
        for i in self.active(&old) {
            scaled |= self.scale_and_record(i, 0).await?;
        }
        if scaled {
            return self.sync_rollout_status(new, &old).await;
        }
        let uid_pods: Vec<Arc<Pod>> = self.ctl.pods.list(Some(&self.ns()));
        let pods: Vec<&Pod> = uid_pods.iter().map(Arc::as_ref).collect();
        if recreate::old_pods_running(&self.refs(&old), &pods) {
            return self.sync_rollout_status(new, &old).await;
        }
        let (new, old) = if new.is_none() { self.sync_revision(true).await? } else { (new, old) };
        if let Some(n) = new {
            self.scale_and_record(n, util::replicas(&self.d)).await?;
        }
        if progress::is_complete(&self.d, &self.d.status.clone().unwrap_or_default()) {
            self.cleanup(&old).await?;
        }
        self.sync_rollout_status(new, &old).await
    }

    /// Deletes the oldest empty ReplicaSets beyond `revisionHistoryLimit`.
    async fn cleanup(&mut self, old: &[usize]) -> anyhow::Result<()> {
        let Some(limit) = self.d.spec.as_ref().and_then(|s| s.revision_history_limit) else { return Ok(()) };
        let mut cleanable: Vec<&ReplicaSet> =
            self.refs(old).into_iter().filter(|rs| rs.metadata.deletion_timestamp.is_none()).collect();
        let excess = cleanable.len() as i64 - i64::from(limit);
        if excess <= 0 {
            return Ok(());
        }
        cleanable.sort_by(|a, b| util::by_revision(a, b));
        let doomed: Vec<String> = cleanable
            .into_iter()
            .take(excess as usize)
            .filter(|rs| {
                let observed = rs.status.as_ref().and_then(|s| s.observed_generation).unwrap_or(0);
                util::rs_actual(rs) == 0
                    && rs_replicas(rs) == 0
                    && rs.metadata.generation.unwrap_or(0) <= observed
            })
            .map(|rs| rs.name_any())
            .collect();
        for name in doomed {
            match self.rs_api().delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn check_paused_conditions(&mut self) -> anyhow::Result<()> {
        if util::progress_deadline(&self.d).is_none() {
            return Ok(());
        }
        let mut status = self.d.status.clone().unwrap_or_default();
        let reason = progress::get_condition(Some(&status), PROGRESSING).and_then(|c| c.reason.clone());
        if reason.as_deref() == Some(progress::TIMED_OUT_REASON) {
            return Ok(());
        }
        let paused_noted = reason.as_deref() == Some(progress::PAUSED_REASON);
        let cond = match (util::is_paused(&self.d), paused_noted) {
            (true, false) => (progress::PAUSED_REASON, "Deployment is paused"),
            (false, true) => (progress::RESUMED_REASON, "Deployment is resumed"),
            _ => return Ok(()),
        };
        progress::set_condition(
            &mut status,
            progress::condition(PROGRESSING, "Unknown", cond.0, cond.1.into(), progress::now()),
        );
        self.write_status(status).await
    }

    async fn sync_status(&mut self, new: Option<usize>, old: &[usize]) -> anyhow::Result<()> {
        let all = self.all_indices(new, old);
        let status =
            progress::calculate(&self.d, &self.refs(&all), new.map(|i| &self.rss[i]), progress::now());
        if self.d.status.as_ref() != Some(&status) {
            self.write_status(status).await?;
        }
        Ok(())
    }

    async fn sync_rollout_status(&mut self, new: Option<usize>, old: &[usize]) -> anyhow::Result<()> {
        let all = self.all_indices(new, old);
        let now = progress::now();
        let status = progress::rollout(&self.d, &self.refs(&all), new.map(|i| &self.rss[i]), now);
        if self.d.status.as_ref() == Some(&status) {
            self.requeue = progress::recheck_after(&self.d, &status, now);
            return Ok(());
        }
        self.write_status(status).await
    }
}

fn api_message(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(e) => e.message.clone(),
        other => other.to_string(),
    }
}
