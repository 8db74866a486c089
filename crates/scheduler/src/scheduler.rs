//! The scheduling loop: one task owns the cache and the queue, applies what the watches
//! report, schedules one pod at a time and hands bindings to concurrent tasks.

use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::{
    core::v1::{Namespace, Node, Pod},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    Api, Client,
    runtime::{WatchStreamExt, reflector, watcher},
};
use tokio::sync::{Semaphore, mpsc};

use crate::{
    bind,
    events::Recorder,
    framework::{Events, Framework},
    pod_info::{PodInfo, PodRef},
    preemption,
    queue::{QueuedPod, SchedulingQueue},
    schedule_one::{Algorithm, ScheduleError},
    snapshot::Cache,
};

/// The scheduler name pods must ask for (the API server defaults it).
pub const SCHEDULER_NAME: &str = "default-scheduler";
/// Bindings in flight at once.
const MAX_BINDS_IN_FLIGHT: usize = 512;
/// Pods scheduled between yields to the runtime, so that watch and bind tasks sharing this
/// worker thread keep moving.
const PODS_PER_YIELD: usize = 16;

enum Msg {
    NodeInit,
    NodeApply(Box<Node>, bool),
    NodeDelete(String),
    NodeInitDone,
    PodInit,
    /// A pod and whether it came in a (re)list.
    PodApply(Arc<Pod>, PodRef, bool),
    PodDelete(String),
    PodInitDone,
    /// The PodDisruptionBudgets preemption weighs have been listed.
    BudgetsSynced,
    NamespaceInit,
    /// A namespace and whether it came in a (re)list.
    NamespaceApply(Box<Namespace>, bool),
    NamespaceDelete(String),
    NamespaceInitDone,
    Bound {
        pod: PodRef,
        node: String,
        result: Result<(), kube::Error>,
    },
}

/// Aborts the task when dropped, so that a scheduler that stops leading leaves nothing behind.
struct TaskGuard(tokio::task::JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub struct Scheduler {
    client: Client,
    cache: Cache,
    queue: SchedulingQueue,
    algo: Algorithm,
    recorder: Recorder,
    binds: Arc<Semaphore>,
    tx: mpsc::UnboundedSender<Msg>,
    rx: mpsc::UnboundedReceiver<Msg>,
    node_buffer: Option<Vec<Node>>,
    pod_relist: Option<HashSet<String>>,
    nodes_synced: bool,
    pods_synced: bool,
    budgets: reflector::Store<PodDisruptionBudget>,
    budgets_writer: Option<reflector::store::Writer<PodDisruptionBudget>>,
    budgets_synced: bool,
    namespace_relist: Option<HashSet<String>>,
    namespaces_synced: bool,
}

impl Scheduler {
    pub fn new(client: Client, instance: String) -> Scheduler {
        let (tx, rx) = mpsc::unbounded_channel();
        let (budgets, budgets_writer) = reflector::store();
        Scheduler {
            budgets,
            budgets_writer: Some(budgets_writer),
            budgets_synced: false,
            recorder: Recorder::new(client.clone(), instance),
            client,
            cache: Cache::new(),
            queue: SchedulingQueue::new(),
            algo: Algorithm::new(Framework::default_plugins()),
            binds: Arc::new(Semaphore::new(MAX_BINDS_IN_FLIGHT)),
            tx,
            rx,
            node_buffer: None,
            pod_relist: None,
            nodes_synced: false,
            pods_synced: false,
            namespace_relist: None,
            namespaces_synced: false,
        }
    }

    /// Runs until the watches end (they retry forever, so: until dropped).
    pub async fn run(mut self) -> anyhow::Result<()> {
        let _nodes = TaskGuard(tokio::spawn(watch_nodes(self.client.clone(), self.tx.clone())));
        let _pods = TaskGuard(tokio::spawn(watch_pods(self.client.clone(), self.tx.clone())));
        let _namespaces = TaskGuard(tokio::spawn(watch_namespaces(self.client.clone(), self.tx.clone())));
        let writer = self.budgets_writer.take().context("the scheduler runs once")?;
        let _budgets = TaskGuard(tokio::spawn(watch_budgets(self.client.clone(), writer, self.tx.clone())));
        let mut next_flush = Instant::now();
        let mut since_yield = 0;
        loop {
            while let Ok(msg) = self.rx.try_recv() {
                self.handle(msg);
            }
            let now = Instant::now();
            if now >= next_flush {
                self.queue.flush(now);
                next_flush = now + Duration::from_secs(1);
            }
            if self.nodes_synced
                && self.pods_synced
                && self.budgets_synced
                && self.namespaces_synced
                && let Some(qp) = self.queue.pop()
            {
                self.schedule_one(qp);
                since_yield += 1;
                if since_yield >= PODS_PER_YIELD {
                    since_yield = 0;
                    tokio::task::yield_now().await;
                }
                continue;
            }
            // Idle: wait for news or the next flush.
            let wake = self.queue.next_backoff().map_or(next_flush, |b| b.min(next_flush));
            tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(msg) => self.handle(msg),
                    None => anyhow::bail!("the scheduler's watches stopped"),
                },
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        let now = Instant::now();
        match msg {
            Msg::NodeInit => self.node_buffer = Some(Vec::new()),
            Msg::NodeApply(node, true) => self.node_buffer.get_or_insert_with(Vec::new).push(*node),
            Msg::NodeApply(node, false) => {
                let c = self.cache.upsert_node(&node);
                let mut ev = Events::NONE;
                for (changed, e) in [
                    (c.added, Events::NODE_ADD),
                    (c.labels, Events::NODE_LABEL),
                    (c.taints, Events::NODE_TAINT),
                    (c.allocatable, Events::NODE_ALLOCATABLE),
                    (c.schedulable, Events::NODE_SCHEDULABLE),
                ] {
                    if changed {
                        ev = ev.or(e);
                    }
                }
                if ev != Events::NONE {
                    self.queue.on_event(ev, now);
                }
            }
            Msg::NodeDelete(name) => self.cache.remove_node(&name),
            Msg::NodeInitDone => {
                let nodes = self.node_buffer.take().unwrap_or_default();
                self.cache.replace_nodes(&nodes);
                self.nodes_synced = true;
                self.queue.on_event(Events::ALL, now);
                tracing::debug!(nodes = self.cache.num_nodes(), "node list synced");
            }
            Msg::PodInit => self.pod_relist = Some(HashSet::new()),
            Msg::PodApply(pod, info, relist) => {
                if relist && let Some(seen) = &mut self.pod_relist {
                    seen.insert(info.uid.clone());
                }
                self.pod_applied(pod, info, now);
            }
            Msg::PodDelete(uid) => self.pod_deleted(&uid, now),
            Msg::PodInitDone => {
                if let Some(seen) = self.pod_relist.take() {
                    for uid in self.cache.bound_uids().into_iter().chain(self.queue.waiting_uids()) {
                        if !seen.contains(&uid) {
                            self.pod_deleted(&uid, now);
                        }
                    }
                }
                self.pods_synced = true;
                tracing::debug!(pending = self.queue.len(), "pod list synced");
            }
            Msg::BudgetsSynced => self.budgets_synced = true,
            Msg::NamespaceInit => self.namespace_relist = Some(HashSet::new()),
            Msg::NamespaceApply(ns, relist) => {
                if relist && let Some(seen) = &mut self.namespace_relist {
                    seen.insert(ns.metadata.name.clone().unwrap_or_default());
                }
                if self.cache.namespaces_mut().upsert(&ns) {
                    self.queue.on_event(Events::NAMESPACE, now);
                }
            }
            Msg::NamespaceDelete(name) => self.cache.namespaces_mut().remove(&name),
            Msg::NamespaceInitDone => {
                if let Some(seen) = self.namespace_relist.take() {
                    self.cache.namespaces_mut().retain(&seen);
                }
                self.namespaces_synced = true;
            }
            Msg::Bound { pod, node, result } => self.bound(pod, node, result, now),
        }
    }

    fn pod_applied(&mut self, pod: Arc<Pod>, info: PodRef, now: Instant) {
        if info.node_name.is_some() {
            self.queue.delete(&info.uid);
            let was_assumed = self.cache.is_assumed(&info.uid);
            let was_placed = self.cache.is_placed(&info.uid);
            let labels_changed = was_placed && !was_assumed && self.cache.pod_labels_differ(&info);
            self.cache.add_bound_pod(info);
            if !was_placed {
                self.queue.on_event(Events::ASSIGNED_POD_ADD, now);
            } else if labels_changed {
                self.queue.on_event(Events::ASSIGNED_POD_UPDATE, now);
            }
            return;
        }
        if info.scheduler_name != SCHEDULER_NAME || self.cache.is_assumed(&info.uid) {
            // Another scheduler's pod, or ours with its binding in flight (this is an older
            // version of it).
            return;
        }
        if info.terminating {
            self.queue.delete(&info.uid);
            return;
        }
        self.queue.add_or_update(pod, info, now);
    }

    fn pod_deleted(&mut self, uid: &str, now: Instant) {
        self.queue.delete(uid);
        if self.cache.remove_pod(uid).is_some() {
            self.queue.on_event(Events::ASSIGNED_POD_DELETE, now);
        }
    }

    fn schedule_one(&mut self, qp: QueuedPod) {
        let pod = qp.info.clone();
        match self.algo.schedule(&pod, &self.cache) {
            Ok(decision) => {
                tracing::trace!(pod = %pod.key(), node = %decision.node, evaluated = decision.evaluated, "scheduled");
                self.cache.assume(pod.clone(), &decision.node);
                let client = self.client.clone();
                let tx = self.tx.clone();
                let permits = self.binds.clone();
                tokio::spawn(async move {
                    let Ok(_permit) = permits.acquire_owned().await else { return };
                    let result =
                        bind::bind(client, &pod.namespace, &pod.name, &pod.uid, &decision.node).await;
                    let _ = tx.send(Msg::Bound { pod, node: decision.node, result });
                });
            }
            Err(ScheduleError::NoNodes) => {
                self.failed(&qp, "no nodes available to schedule pods".into(), Events::NODE_ADD, None);
            }
            Err(ScheduleError::Fit(mut fit)) => {
                let mut wake_on = self.algo.framework.events_for(&fit.diagnosis.plugins());
                let mut nominated = None;
                // Read now, as upstream's lister is: the budgets' allowed disruptions move.
                let budgets: Vec<preemption::Budget> =
                    self.budgets.state().iter().map(|b| preemption::Budget::from_api(b)).collect();
                match preemption::preempt(&self.algo, &pod, &self.cache, &fit, &budgets) {
                    Ok(candidate) => {
                        for victim in &candidate.victims {
                            self.recorder.evict(victim, &pod, &candidate.node);
                        }
                        // Room is made once the victims are gone.
                        wake_on = wake_on.or(Events::ASSIGNED_POD_DELETE);
                        nominated = Some(candidate.node);
                    }
                    Err(msg) => fit.post_filter_msg = Some(msg),
                }
                self.failed(&qp, fit.to_string(), wake_on, nominated);
            }
        }
    }

    /// Tells the user (event, condition) and parks the pod until something relevant changes.
    fn failed(&mut self, qp: &QueuedPod, message: String, wake_on: Events, nominated: Option<String>) {
        let pod = &qp.info;
        tracing::debug!(pod = %pod.key(), %message, "unschedulable");
        self.recorder.failed(pod, &message);
        if qp.last_failure.as_deref() != Some(message.as_str()) || nominated.is_some() {
            self.recorder.unschedulable(pod, &message, nominated.as_deref());
            self.queue.set_last_failure(&pod.uid, message);
        }
        self.queue.unschedulable(&pod.uid, wake_on, Instant::now());
    }

    fn bound(&mut self, pod: PodRef, node: String, result: Result<(), kube::Error>, now: Instant) {
        match result {
            Ok(()) => {
                self.queue.done(&pod.uid);
                self.recorder.scheduled(&pod, &node);
            }
            Err(err) => {
                self.cache.forget(&pod.uid);
                self.queue.on_event(Events::ASSIGNED_POD_DELETE, now);
                match &err {
                    // Gone, or bound by someone else: the watch tells the rest.
                    kube::Error::Api(s) if s.code == 404 || s.code == 409 => self.queue.done(&pod.uid),
                    _ => {
                        tracing::warn!(pod = %pod.key(), %node, %err, "binding failed; retrying after backoff");
                        self.queue.error(&pod.uid, now);
                    }
                }
            }
        }
    }
}

/// Sends the loop a message for each event of a watch on `api`, until the loop is gone.
async fn forward<K>(
    api: Api<K>,
    config: watcher::Config,
    what: &'static str,
    tx: mpsc::UnboundedSender<Msg>,
    to_msg: impl Fn(watcher::Event<K>) -> Msg,
) where
    K: kube::Resource + Clone + k8s_openapi::serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let mut stream = watcher(api, config).default_backoff().boxed();
    loop {
        let msg = match stream.try_next().await {
            Ok(Some(event)) => to_msg(event),
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(%err, "watching {what}");
                continue;
            }
        };
        if tx.send(msg).is_err() {
            return;
        }
    }
}

async fn watch_nodes(client: Client, tx: mpsc::UnboundedSender<Msg>) {
    forward(Api::<Node>::all(client), watcher::Config::default(), "nodes", tx, |event| match event {
        watcher::Event::Init => Msg::NodeInit,
        watcher::Event::InitApply(n) => Msg::NodeApply(Box::new(n), true),
        watcher::Event::Apply(n) => Msg::NodeApply(Box::new(n), false),
        watcher::Event::Delete(n) => Msg::NodeDelete(n.metadata.name.unwrap_or_default()),
        watcher::Event::InitDone => Msg::NodeInitDone,
    })
    .await;
}

/// Watches namespaces, whose labels affinity terms' namespace selectors read.
async fn watch_namespaces(client: Client, tx: mpsc::UnboundedSender<Msg>) {
    forward(
        Api::<Namespace>::all(client),
        watcher::Config::default(),
        "namespaces",
        tx,
        |event| match event {
            watcher::Event::Init => Msg::NamespaceInit,
            watcher::Event::InitApply(ns) => Msg::NamespaceApply(Box::new(ns), true),
            watcher::Event::Apply(ns) => Msg::NamespaceApply(Box::new(ns), false),
            watcher::Event::Delete(ns) => Msg::NamespaceDelete(ns.metadata.name.unwrap_or_default()),
            watcher::Event::InitDone => Msg::NamespaceInitDone,
        },
    )
    .await;
}

/// Watches the pods that hold resources (not finished ones, as upstream's informer) and
/// turns them into [`PodInfo`]s here, off the scheduling loop.
async fn watch_pods(client: Client, tx: mpsc::UnboundedSender<Msg>) {
    let config = watcher::Config::default().fields("status.phase!=Succeeded,status.phase!=Failed");
    forward(Api::<Pod>::all(client), config, "pods", tx, |event| match event {
        watcher::Event::Init => Msg::PodInit,
        watcher::Event::InitApply(p) => applied(p, true),
        watcher::Event::Apply(p) => applied(p, false),
        watcher::Event::Delete(p) => Msg::PodDelete(p.metadata.uid.unwrap_or_default()),
        watcher::Event::InitDone => Msg::PodInitDone,
    })
    .await;
}

/// Keeps the PodDisruptionBudgets in `writer`'s store for preemption; says once when they
/// have first been listed.
async fn watch_budgets(
    client: Client,
    writer: reflector::store::Writer<PodDisruptionBudget>,
    tx: mpsc::UnboundedSender<Msg>,
) {
    let api: Api<PodDisruptionBudget> = Api::all(client);
    let stream = reflector(writer, watcher(api, watcher::Config::default())).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut told = false;
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::InitDone) if !told => {
                told = true;
                if tx.send(Msg::BudgetsSynced).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(%err, "watching PodDisruptionBudgets"),
        }
    }
}

fn applied(pod: Pod, relist: bool) -> Msg {
    let info = Arc::new(PodInfo::new(&pod));
    Msg::PodApply(Arc::new(pod), info, relist)
}
