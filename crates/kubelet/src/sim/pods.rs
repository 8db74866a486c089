//! The simulated runtime: one watch on every scheduled pod for all simulated nodes, a timer
//! queue for scripted transitions, and a bounded pool of status writers.
//!
//! Upstream each kubelet watches its own pods (`spec.nodeName=<node>`); 10,000 such watches
//! would cost the server more than one watch filtered here. Status writes follow upstream's
//! status manager: one write in flight per pod, coalesced, always posting the latest state;
//! a pod that finished deleting is deleted with grace 0 and a uid precondition.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    net::Ipv4Addr,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams, Preconditions},
    runtime::{WatchStreamExt, watcher},
};
use tokio::sync::{mpsc, watch};

use tug_scheduler::pod_info::Resources;

use super::{
    Stats,
    admission::{self, Allocatable, Used},
    logs::{LOG, SimLogs},
    nodes::{PodIps, SharedTable},
    pod::SimPod,
    script::Script,
};
use crate::time::{after, until};

/// How long a failed write waits before it is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// `terminationGracePeriodSeconds` when the pod sets none (the API defaults it to 30).
const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// Runs the pods of the nodes in `table` until `shutdown` turns true.
pub async fn run(
    client: Client,
    table: SharedTable,
    allocatable: Allocatable,
    concurrency: usize,
    stats: Arc<Stats>,
    logs: Option<Arc<SimLogs>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let pods: Api<Pod> = Api::all(client.clone());
    // Unscheduled pods are no node's business.
    let config = watcher::Config::default().fields("spec.nodeName!=");
    let mut events = watcher(pods, config).default_backoff().boxed();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut runtime = Runtime::new(client, table, allocatable, concurrency, stats, done_tx);
    runtime.logs = logs;
    loop {
        runtime.pump(Timestamp::now());
        let next_timer = runtime.next_timer();
        let sleep =
            tokio::time::sleep(next_timer.map_or(Duration::from_secs(3600), |t| until(Timestamp::now(), t)));
        tokio::select! {
            biased;
            _ = shutdown.changed() => return,
            Some(done) = done_rx.recv() => runtime.finished(done, Timestamp::now()),
            event = events.next() => match event {
                Some(Ok(event)) => runtime.on_event(event, Timestamp::now()),
                Some(Err(e)) => tracing::warn!(error = %e, "watching pods"),
                None => return,
            },
            _ = sleep => runtime.fire_timers(Timestamp::now()),
        }
    }
}

/// A pod the runtime knows.
struct Tracked {
    state: Life,
    node: u32,
    timer: Option<(Timestamp, u64)>,
    /// Bumped on every change to post; `synced` is the last one the server took.
    version: u64,
    synced: u64,
    writing: bool,
    queued: bool,
    /// The pod has a deletionTimestamp: once stopped it is deleted.
    delete_requested: bool,
    /// The watch list this pod was last seen in (to forget pods a re-list no longer has).
    epoch: u64,
    /// What the pod holds of its node while admitted and not finished.
    requests: Option<Resources>,
}

enum Life {
    /// Boxed, so that the many tombstones stay small.
    Running(Box<SimPod>),
    /// Finished and posted: kept until the watch shows the final phase or the deletion, so that
    /// an older event of the pod cannot start it again.
    Finished { namespace: String, name: String, deleted: bool },
    /// Refused at admission: `Failed` with this reason and message is posted, then it is a
    /// tombstone like a finished pod.
    Rejected { namespace: String, name: String, rejection: admission::Rejection },
}

/// A write a worker did.
pub(super) struct Done {
    uid: String,
    version: u64,
    outcome: Outcome,
}

enum Outcome {
    Posted,
    Deleted,
    Gone,
    Failed,
}

enum Job {
    Status { namespace: String, name: String, patch: serde_json::Value },
    Reject { namespace: String, name: String, node: String, rejection: admission::Rejection },
    Delete { namespace: String, name: String },
}

struct Runtime {
    client: Client,
    table: SharedTable,
    allocatable: Allocatable,
    /// Per node, what its admitted pods request.
    used: Vec<Used>,
    ips: Vec<PodIps>,
    pods: HashMap<String, Tracked>,
    timers: BTreeMap<(Timestamp, u64), String>,
    seq: u64,
    dirty: VecDeque<String>,
    in_flight: usize,
    max_in_flight: usize,
    epoch: u64,
    stats: Arc<Stats>,
    done_tx: mpsc::UnboundedSender<Done>,
    /// Where containers' simulated logs go, when the agent serves them.
    logs: Option<Arc<SimLogs>>,
}

impl Runtime {
    fn new(
        client: Client,
        table: SharedTable,
        allocatable: Allocatable,
        concurrency: usize,
        stats: Arc<Stats>,
        done_tx: mpsc::UnboundedSender<Done>,
    ) -> Self {
        Runtime {
            client,
            allocatable,
            used: vec![Used::default(); table.len()],
            ips: vec![PodIps::default(); table.len()],
            table,
            pods: HashMap::new(),
            timers: BTreeMap::new(),
            seq: 0,
            dirty: VecDeque::new(),
            in_flight: 0,
            max_in_flight: concurrency.max(1),
            epoch: 0,
            stats,
            done_tx,
            logs: None,
        }
    }

    fn next_timer(&self) -> Option<Timestamp> {
        self.timers.first_key_value().map(|((at, _), _)| *at)
    }

    fn on_event(&mut self, event: watcher::Event<Pod>, now: Timestamp) {
        match event {
            watcher::Event::Init => self.epoch += 1,
            watcher::Event::InitApply(pod) | watcher::Event::Apply(pod) => self.on_pod(pod, now),
            watcher::Event::Delete(pod) => {
                if let Some(uid) = pod.metadata.uid.as_deref() {
                    self.forget(uid);
                    self.remove_logs(uid);
                }
            }
            watcher::Event::InitDone => {
                let stale: Vec<String> = self
                    .pods
                    .iter()
                    .filter(|(_, t)| t.epoch < self.epoch)
                    .map(|(uid, _)| uid.clone())
                    .collect();
                for uid in stale {
                    self.forget(&uid);
                    self.remove_logs(&uid);
                }
            }
        }
    }

    fn on_pod(&mut self, pod: Pod, now: Timestamp) {
        let Some(node) =
            pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).and_then(|n| self.table.index(n))
        else {
            return;
        };
        let Some(uid) = pod.metadata.uid.clone() else { return };
        let deleting = pod.metadata.deletion_timestamp.is_some();
        let terminal =
            matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"));
        let epoch = self.epoch;
        if let Some(tracked) = self.pods.get_mut(&uid) {
            tracked.epoch = epoch;
            match &mut tracked.state {
                Life::Running(sim) => {
                    let mut changed = sim.observe(&pod);
                    if deleting && !tracked.delete_requested {
                        tracked.delete_requested = true;
                        sim.delete(now, grace(&pod));
                        changed |= sim.advance(now);
                    }
                    if changed {
                        tracked.version += 1;
                    }
                    self.reschedule(&uid);
                    self.mark_dirty(&uid);
                }
                Life::Finished { .. } | Life::Rejected { .. } if deleting => {
                    tracked.delete_requested = true;
                    self.mark_dirty(&uid);
                }
                Life::Finished { .. } | Life::Rejected { .. } if terminal => self.forget(&uid),
                Life::Finished { .. } | Life::Rejected { .. } => {}
            }
            return;
        }
        if terminal {
            if deleting {
                let (namespace, name) = names(&pod);
                self.track(uid, node, Life::Finished { namespace, name, deleted: false }, true, None);
            }
            return;
        }
        self.admit(pod, uid, node, deleting, now);
    }

    fn admit(&mut self, pod: Pod, uid: String, node: u32, deleting: bool, now: Timestamp) {
        // A pod already being deleted only needs stopping; no point refusing it.
        let requests = admission::requests(&pod);
        if !deleting
            && let Err(rejection) = admission::admit(&requests, &self.used[node as usize], &self.allocatable)
        {
            let (namespace, name) = names(&pod);
            tracing::info!(pod = %format!("{namespace}/{name}"), reason = %rejection.reason(), "rejecting pod: {}", rejection.message());
            self.stats.pods_rejected.fetch_add(1, Ordering::Relaxed);
            self.track(uid, node, Life::Rejected { namespace, name, rejection }, false, None);
            return;
        }
        let annotations = pod.metadata.annotations.clone().unwrap_or_default();
        let (script, problems) = Script::from_annotations(&annotations);
        for problem in problems {
            tracing::warn!(pod = %format!("{}/{}", names(&pod).0, names(&pod).1), "ignoring annotation {problem}");
        }
        let mut sim = match SimPod::admit(&pod, script, now) {
            Ok(sim) => sim,
            Err(reason) => {
                tracing::warn!(uid, ?reason, "cannot run pod");
                return;
            }
        };
        if !sim.host_network() {
            let base = self.table.get(node).pod_cidr;
            let ips = &mut self.ips[node as usize];
            let previous =
                pod.status.as_ref().and_then(|s| s.pod_ip.as_deref()).and_then(|ip| ip.parse().ok());
            sim.pod_ip = match previous {
                Some(ip) if ips.claim(base, ip) => Some(ip),
                _ => ips.allocate(base),
            };
            if sim.pod_ip.is_none() {
                tracing::warn!(node = %self.table.get(node).name, pod = %sim.name, "no pod IP left in {base}/24");
            }
        }
        if deleting {
            sim.delete(now, grace(&pod));
        }
        sim.advance(now);
        if let Some(logs) = &self.logs {
            logs.admit(&uid, &sim.namespace, &sim.name, annotations.get(LOG).map(String::as_str));
        }
        self.stats.pods_admitted.fetch_add(1, Ordering::Relaxed);
        self.used[node as usize].add(&requests);
        self.track(uid, node, Life::Running(Box::new(sim)), deleting, Some(requests));
    }

    fn track(
        &mut self,
        uid: String,
        node: u32,
        state: Life,
        delete_requested: bool,
        requests: Option<Resources>,
    ) {
        let tracked = Tracked {
            state,
            node,
            timer: None,
            version: 1,
            synced: 0,
            writing: false,
            queued: false,
            delete_requested,
            epoch: self.epoch,
            requests,
        };
        self.pods.insert(uid.clone(), tracked);
        self.reschedule(&uid);
        self.mark_dirty(&uid);
    }

    /// Drops the logs of a pod the server no longer has.
    fn remove_logs(&self, uid: &str) {
        if let Some(logs) = &self.logs {
            logs.remove(uid);
        }
    }

    /// Drops a pod the server no longer has, returning its IP.
    fn forget(&mut self, uid: &str) {
        let Some(tracked) = self.pods.remove(uid) else { return };
        if let Some(key) = tracked.timer {
            self.timers.remove(&key);
        }
        if let Some(requests) = &tracked.requests {
            self.used[tracked.node as usize].sub(requests);
        }
        if let Life::Running(sim) = &tracked.state {
            self.release_ip(tracked.node, sim.pod_ip);
        }
    }

    fn release_ip(&mut self, node: u32, ip: Option<Ipv4Addr>) {
        if let Some(ip) = ip {
            let base = self.table.get(node).pod_cidr;
            self.ips[node as usize].release(base, ip);
        }
    }

    fn mark_dirty(&mut self, uid: &str) {
        if let Some(tracked) = self.pods.get_mut(uid)
            && !tracked.queued
        {
            tracked.queued = true;
            self.dirty.push_back(uid.to_string());
        }
    }

    /// Puts the pod's timer at its next deadline (or at a retry, if its status is unposted).
    fn reschedule(&mut self, uid: &str) {
        let Some(tracked) = self.pods.get_mut(uid) else { return };
        let deadline = match &tracked.state {
            Life::Running(sim) => sim.next_deadline(),
            Life::Finished { .. } | Life::Rejected { .. } => None,
        };
        if tracked.timer.map(|(at, _)| at) == deadline {
            return;
        }
        if let Some(key) = tracked.timer.take() {
            self.timers.remove(&key);
        }
        if let Some(at) = deadline {
            self.seq += 1;
            tracked.timer = Some((at, self.seq));
            self.timers.insert((at, self.seq), uid.to_string());
        }
    }

    fn retry_later(&mut self, uid: &str, now: Timestamp) {
        let Some(tracked) = self.pods.get_mut(uid) else { return };
        let at = after(now, RETRY);
        if tracked.timer.is_some_and(|(t, _)| t <= at) {
            return;
        }
        if let Some(key) = tracked.timer.take() {
            self.timers.remove(&key);
        }
        self.seq += 1;
        tracked.timer = Some((at, self.seq));
        self.timers.insert((at, self.seq), uid.to_string());
    }

    fn fire_timers(&mut self, now: Timestamp) {
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let uid = entry.remove();
            let Some(tracked) = self.pods.get_mut(&uid) else { continue };
            tracked.timer = None;
            if let Life::Running(sim) = &mut tracked.state
                && sim.advance(now)
            {
                tracked.version += 1;
            }
            self.reschedule(&uid);
            self.mark_dirty(&uid);
        }
    }

    /// Starts writes for dirty pods while there is room in the pool.
    fn pump(&mut self, now: Timestamp) {
        while self.in_flight < self.max_in_flight {
            let Some(uid) = self.dirty.pop_front() else { return };
            let Some(tracked) = self.pods.get_mut(&uid) else { continue };
            tracked.queued = false;
            if tracked.writing {
                // Its completion queues it again.
                continue;
            }
            let host_ip = self.table.get(tracked.node).ip;
            let job = match &mut tracked.state {
                Life::Running(sim) if tracked.version != tracked.synced => {
                    let status = sim.status(now, host_ip);
                    if let Some(logs) = &self.logs {
                        logs.observe(&uid, &status);
                    }
                    Job::Status {
                        namespace: sim.namespace.clone(),
                        name: sim.name.clone(),
                        patch: status.to_patch(),
                    }
                }
                Life::Running(sim) if sim.finished() => {
                    // Posted for good: keep only a tombstone, and give the IP back.
                    let (ip, namespace, name) = (sim.pod_ip, sim.namespace.clone(), sim.name.clone());
                    tracked.state = Life::Finished { namespace, name, deleted: false };
                    let node = tracked.node;
                    // A finished pod no longer holds its share of the node.
                    if let Some(requests) = tracked.requests.take() {
                        self.used[node as usize].sub(&requests);
                    }
                    self.release_ip(node, ip);
                    self.mark_dirty(&uid);
                    continue;
                }
                Life::Rejected { namespace, name, rejection } if tracked.version != tracked.synced => {
                    Job::Reject {
                        namespace: namespace.clone(),
                        name: name.clone(),
                        node: self.table.get(tracked.node).name.clone(),
                        rejection: rejection.clone(),
                    }
                }
                Life::Rejected { namespace, name, .. } => {
                    tracked.state =
                        Life::Finished { namespace: namespace.clone(), name: name.clone(), deleted: false };
                    self.mark_dirty(&uid);
                    continue;
                }
                Life::Finished { namespace, name, deleted: false } if tracked.delete_requested => {
                    Job::Delete { namespace: namespace.clone(), name: name.clone() }
                }
                _ => continue,
            };
            tracked.writing = true;
            self.in_flight += 1;
            let (version, client, tx) = (tracked.version, self.client.clone(), self.done_tx.clone());
            tokio::spawn(async move {
                let outcome = write(client, &uid, job).await;
                let _ = tx.send(Done { uid, version, outcome });
            });
        }
    }

    /// A write finished.
    fn finished(&mut self, done: Done, now: Timestamp) {
        self.in_flight -= 1;
        let Some(tracked) = self.pods.get_mut(&done.uid) else { return };
        tracked.writing = false;
        match done.outcome {
            Outcome::Posted => {
                tracked.synced = tracked.synced.max(done.version);
                self.stats.status_writes.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Deleted => {
                if let Life::Finished { deleted, .. } = &mut tracked.state {
                    *deleted = true;
                }
                self.stats.pod_deletes.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Gone => {
                self.forget(&done.uid);
                self.remove_logs(&done.uid);
                return;
            }
            Outcome::Failed => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                self.retry_later(&done.uid, now);
                return;
            }
        }
        self.mark_dirty(&done.uid);
    }
}

fn names(pod: &Pod) -> (String, String) {
    (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default())
}

/// The grace period of a pod being deleted: what the deletion asked for, else the pod's own.
fn grace(pod: &Pod) -> Duration {
    let seconds = pod
        .metadata
        .deletion_grace_period_seconds
        .or_else(|| pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds));
    seconds.map_or(DEFAULT_GRACE, |s| Duration::from_secs(s.max(0) as u64))
}

async fn write(client: Client, uid: &str, job: Job) -> Outcome {
    match job {
        Job::Reject { namespace, name, node, rejection } => {
            // As upstream's `rejectPod`: the event, then the Failed status.
            record_rejection(&client, &namespace, &name, uid, &node, &rejection).await;
            let patch = serde_json::json!({"status": {
                "phase": "Failed",
                "reason": rejection.reason(),
                "message": format!("Pod was rejected: {}", rejection.message()),
            }});
            let api: Api<Pod> = Api::namespaced(client, &namespace);
            match api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
                Ok(_) => Outcome::Posted,
                Err(kube::Error::Api(s)) if s.code == 404 => Outcome::Gone,
                Err(e) => {
                    tracing::debug!(pod = %format!("{namespace}/{name}"), error = %e, "posting a rejection");
                    Outcome::Failed
                }
            }
        }
        Job::Status { namespace, name, patch } => {
            let api: Api<Pod> = Api::namespaced(client, &namespace);
            match api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
                Ok(_) => Outcome::Posted,
                Err(kube::Error::Api(s)) if s.code == 404 => Outcome::Gone,
                Err(e) => {
                    tracing::debug!(pod = %format!("{namespace}/{name}"), error = %e, "posting pod status");
                    Outcome::Failed
                }
            }
        }
        Job::Delete { namespace, name } => {
            let api: Api<Pod> = Api::namespaced(client, &namespace);
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions { uid: Some(uid.to_string()), resource_version: None }),
                ..DeleteParams::default()
            };
            match api.delete(&name, &params).await {
                Ok(_) => Outcome::Deleted,
                // Gone, or a new pod took the name: either way this one is over.
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Outcome::Deleted,
                Err(e) => {
                    tracing::debug!(pod = %format!("{namespace}/{name}"), error = %e, "deleting pod");
                    Outcome::Failed
                }
            }
        }
    }
}

/// The kubelet's Warning event about a refused pod (best effort).
async fn record_rejection(
    client: &Client,
    namespace: &str,
    name: &str,
    uid: &str,
    node: &str,
    rejection: &admission::Rejection,
) {
    let now = Timestamp::now();
    let event = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{name}.{:x}", now.as_nanosecond()), "namespace": namespace},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": name, "uid": uid},
        "reason": rejection.reason(),
        "message": rejection.message(),
        "type": "Warning",
        "source": {"component": "kubelet", "host": node},
        "reportingComponent": "kubelet",
        "reportingInstance": node,
        "firstTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "count": 1,
    });
    let event: k8s_openapi::api::core::v1::Event = match serde_json::from_value(event) {
        Ok(e) => e,
        Err(err) => {
            tracing::debug!(%err, "building a rejection event");
            return;
        }
    };
    let api: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), namespace);
    if let Err(err) = api.create(&Default::default(), &event).await {
        tracing::debug!(%err, pod = %format!("{namespace}/{name}"), "recording a rejection event");
    }
}
