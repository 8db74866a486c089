//! The scheduling queue, after upstream's: an active queue ordered by priority then arrival,
//! a backoff queue (1 s doubling to 10 s per failed attempt), and parked unschedulable pods
//! that only cluster events relevant to what rejected them (or a 5-minute flush) move back,
//! so that an unschedulable pod is not retried in a busy loop.

use std::{
    cmp::{Ordering, Reverse},
    collections::{BinaryHeap, HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::Pod;

use crate::{framework::Events, pod_info::PodRef};

pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Upstream's `podMaxInUnschedulablePodsDuration`.
pub const MAX_UNSCHEDULABLE_DURATION: Duration = Duration::from_secs(5 * 60);

/// A pod waiting to be scheduled, with its scheduling history.
#[derive(Clone, Debug)]
pub struct QueuedPod {
    pub pod: Arc<Pod>,
    pub info: PodRef,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When the pod first entered the queue (orders pods of equal priority).
    pub added: Instant,
    /// The message of the last PodScheduled=False condition written, to write it once.
    pub last_failure: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Where {
    Active,
    Backoff(Instant),
    /// Parked at the given time until one of the events comes.
    Unschedulable(Instant, Events),
    /// Popped: being scheduled or bound.
    InFlight,
}

struct Entry {
    pod: QueuedPod,
    at: Where,
    /// Bumped on every move, so that stale heap entries are skipped.
    seq: u64,
    /// Events that arrived while the pod was in flight.
    events_in_flight: Events,
}

#[derive(PartialEq, Eq)]
struct ActiveKey {
    priority: i32,
    added: Instant,
    seq: u64,
    uid: String,
}

impl Ord for ActiveKey {
    /// Higher priority first, then the earlier arrival.
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.added.cmp(&self.added))
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for ActiveKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Default)]
pub struct SchedulingQueue {
    pods: HashMap<String, Entry>,
    active: BinaryHeap<ActiveKey>,
    backoff: BinaryHeap<Reverse<(Instant, u64, String)>>,
    seq: u64,
    /// The parked and in-flight pods, the only ones cluster events concern (kept apart so
    /// that an event costs nothing for the thousands of pods waiting in the active queue).
    parked: HashSet<String>,
    in_flight: HashSet<String>,
}

/// Upstream's backoff: 1 s after the first failure, doubling, at most 10 s.
pub fn backoff_duration(attempts: u32) -> Duration {
    let shift = attempts.saturating_sub(1).min(16);
    (INITIAL_BACKOFF * (1u32 << shift)).min(MAX_BACKOFF)
}

impl SchedulingQueue {
    pub fn new() -> SchedulingQueue {
        SchedulingQueue::default()
    }

    pub fn len(&self) -> usize {
        self.pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    pub fn contains(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    pub fn num_unschedulable(&self) -> usize {
        self.parked.len()
    }

    /// The uids of all queued pods that are not being scheduled right now.
    pub fn waiting_uids(&self) -> Vec<String> {
        self.pods.keys().filter(|uid| !self.in_flight.contains(*uid)).cloned().collect()
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn place(&mut self, uid: &str, at: Where) {
        let seq = self.next_seq();
        let Some(e) = self.pods.get_mut(uid) else { return };
        e.at = at;
        e.seq = seq;
        self.parked.remove(uid);
        self.in_flight.remove(uid);
        match at {
            Where::Active => self.active.push(ActiveKey {
                priority: e.pod.info.priority,
                added: e.pod.added,
                seq,
                uid: uid.to_string(),
            }),
            Where::Backoff(until) => self.backoff.push(Reverse((until, seq, uid.to_string()))),
            Where::Unschedulable(..) => {
                self.parked.insert(uid.to_string());
            }
            Where::InFlight => {
                self.in_flight.insert(uid.to_string());
            }
        }
    }

    /// A new unscheduled pod, or a newer version of one already queued. An update that
    /// changes what scheduling reads (spec or labels) gives a parked pod another try.
    pub fn add_or_update(&mut self, pod: Arc<Pod>, info: PodRef, now: Instant) {
        let uid = info.uid.clone();
        match self.pods.get_mut(&uid) {
            None => {
                let q = QueuedPod { pod, info, attempts: 0, added: now, last_failure: None };
                self.pods.insert(
                    uid.clone(),
                    Entry { pod: q, at: Where::Active, seq: 0, events_in_flight: Events::NONE },
                );
                self.place(&uid, Where::Active);
            }
            Some(e) => {
                let relevant = e.pod.pod.spec != pod.spec || e.pod.pod.metadata.labels != pod.metadata.labels;
                e.pod.pod = pod;
                e.pod.info = info;
                if relevant && let Where::Unschedulable(..) = e.at {
                    let to = self.after_backoff(&uid, now);
                    self.place(&uid, to);
                }
            }
        }
    }

    pub fn delete(&mut self, uid: &str) {
        // Heap entries go stale and are skipped.
        self.pods.remove(uid);
        self.parked.remove(uid);
        self.in_flight.remove(uid);
    }

    fn after_backoff(&self, uid: &str, now: Instant) -> Where {
        let Some(e) = self.pods.get(uid) else { return Where::Active };
        match e.at {
            Where::Unschedulable(parked, _) => {
                let until = parked + backoff_duration(e.pod.attempts);
                if until > now { Where::Backoff(until) } else { Where::Active }
            }
            _ => Where::Active,
        }
    }

    /// The next pod to schedule, marked in flight.
    pub fn pop(&mut self) -> Option<QueuedPod> {
        while let Some(key) = self.active.pop() {
            let Some(e) = self.pods.get_mut(&key.uid) else { continue };
            if e.seq != key.seq || e.at != Where::Active {
                continue;
            }
            e.at = Where::InFlight;
            e.events_in_flight = Events::NONE;
            let pod = e.pod.clone();
            self.in_flight.insert(key.uid);
            return Some(pod);
        }
        None
    }

    /// The pod was scheduled and bound (or is gone).
    pub fn done(&mut self, uid: &str) {
        if self.pods.get(uid).is_some_and(|e| e.at == Where::InFlight) {
            self.delete(uid);
        }
    }

    /// Records the failure message written to the pod, to write each message once.
    pub fn set_last_failure(&mut self, uid: &str, msg: String) {
        if let Some(e) = self.pods.get_mut(uid) {
            e.pod.last_failure = Some(msg);
        }
    }

    /// The pod fits nowhere: park it until one of `wake_on` happens. If such an event came
    /// while it was being scheduled, it goes to backoff instead (that event may have freed room).
    pub fn unschedulable(&mut self, uid: &str, wake_on: Events, now: Instant) {
        let Some(e) = self.pods.get_mut(uid) else { return };
        e.pod.attempts += 1;
        let missed = e.events_in_flight.intersects(wake_on)
            || (wake_on == Events::NONE && e.events_in_flight != Events::NONE);
        let at = if missed {
            Where::Backoff(now + backoff_duration(e.pod.attempts))
        } else {
            Where::Unschedulable(now, if wake_on == Events::NONE { Events::ALL } else { wake_on })
        };
        self.place(uid, at);
    }

    /// Scheduling or binding failed for a reason other than fit: retry after backoff.
    pub fn error(&mut self, uid: &str, now: Instant) {
        let Some(e) = self.pods.get_mut(uid) else { return };
        e.pod.attempts += 1;
        let until = now + backoff_duration(e.pod.attempts);
        self.place(uid, Where::Backoff(until));
    }

    /// A cluster event: parked pods it may help go back to the active queue, or to backoff
    /// while their backoff runs.
    pub fn on_event(&mut self, event: Events, now: Instant) {
        for uid in &self.in_flight {
            if let Some(e) = self.pods.get_mut(uid) {
                e.events_in_flight = e.events_in_flight.or(event);
            }
        }
        let to_move: Vec<String> = self
            .parked
            .iter()
            .filter(|uid| {
                self.pods
                    .get(*uid)
                    .is_some_and(|e| matches!(e.at, Where::Unschedulable(_, w) if w.intersects(event)))
            })
            .cloned()
            .collect();
        for uid in to_move {
            let to = self.after_backoff(&uid, now);
            self.place(&uid, to);
        }
    }

    /// Moves pods whose backoff has ended to the active queue, and parked pods that waited
    /// longer than five minutes.
    pub fn flush(&mut self, now: Instant) {
        while let Some(Reverse((until, seq, uid))) = self.backoff.peek().cloned() {
            if until > now {
                break;
            }
            self.backoff.pop();
            if self.pods.get(&uid).is_some_and(|e| e.seq == seq && matches!(e.at, Where::Backoff(_))) {
                self.place(&uid, Where::Active);
            }
        }
        let stale: Vec<String> = self
            .parked
            .iter()
            .filter(|uid| {
                self.pods.get(*uid).is_some_and(
                    |e| matches!(e.at, Where::Unschedulable(t, _) if now.duration_since(t) >= MAX_UNSCHEDULABLE_DURATION),
                )
            })
            .cloned()
            .collect();
        for uid in stale {
            self.place(&uid, Where::Active);
        }
    }

    /// When the next backoff ends.
    pub fn next_backoff(&self) -> Option<Instant> {
        self.backoff.peek().map(|Reverse((t, _, _))| *t)
    }

    pub fn has_active(&self) -> bool {
        // Stale keys may remain; pop() skips them.
        !self.active.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_info::PodInfo;

    fn pod(name: &str, priority: i32) -> (Arc<Pod>, PodRef) {
        let p: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "default", "uid": name},
            "spec": {"priority": priority, "containers": [{"name": "c"}]}
        }))
        .unwrap();
        let info = Arc::new(PodInfo::new(&p));
        (Arc::new(p), info)
    }

    fn add(q: &mut SchedulingQueue, name: &str, priority: i32, now: Instant) {
        let (p, i) = pod(name, priority);
        q.add_or_update(p, i, now);
    }

    #[test]
    fn higher_priority_first_then_arrival() {
        let t = Instant::now();
        let mut q = SchedulingQueue::new();
        add(&mut q, "low", 0, t);
        add(&mut q, "high", 10, t + Duration::from_millis(1));
        add(&mut q, "low2", 0, t + Duration::from_millis(2));
        let order: Vec<String> = std::iter::from_fn(|| q.pop()).map(|p| p.info.name.clone()).collect();
        assert_eq!(order, ["high", "low", "low2"]);
    }

    #[test]
    fn a_parked_pod_waits_for_a_relevant_event() {
        let t = Instant::now();
        let mut q = SchedulingQueue::new();
        add(&mut q, "p", 0, t);
        let p = q.pop().unwrap();
        q.unschedulable(&p.info.uid, Events::NODE_ADD.or(Events::NODE_ALLOCATABLE), t);
        // No busy loop: nothing to pop, even long after any backoff.
        q.flush(t + Duration::from_secs(60));
        assert!(q.pop().is_none());
        // An irrelevant event leaves it parked.
        q.on_event(Events::NODE_TAINT, t + Duration::from_secs(61));
        q.flush(t + Duration::from_secs(61));
        assert!(q.pop().is_none());
        // A node arriving moves it back; its 1 s backoff is long over.
        q.on_event(Events::NODE_ADD, t + Duration::from_secs(62));
        assert_eq!(q.pop().unwrap().info.name, "p");
    }

    #[test]
    fn an_event_during_backoff_waits_for_the_backoff() {
        let t = Instant::now();
        let mut q = SchedulingQueue::new();
        add(&mut q, "p", 0, t);
        let p = q.pop().unwrap();
        q.unschedulable(&p.info.uid, Events::NODE_ADD, t);
        q.on_event(Events::NODE_ADD, t + Duration::from_millis(100));
        assert!(q.pop().is_none());
        assert_eq!(q.next_backoff(), Some(t + Duration::from_secs(1)));
        q.flush(t + Duration::from_secs(1));
        assert!(q.pop().is_some());
    }

    #[test]
    fn an_event_while_in_flight_is_not_missed() {
        let t = Instant::now();
        let mut q = SchedulingQueue::new();
        add(&mut q, "p", 0, t);
        let p = q.pop().unwrap();
        q.on_event(Events::NODE_ADD, t);
        q.unschedulable(&p.info.uid, Events::NODE_ADD, t);
        q.flush(t + Duration::from_secs(1));
        assert!(q.pop().is_some());
    }

    #[test]
    fn backoff_doubles_to_ten_seconds() {
        let secs: Vec<u64> = (1..=6).map(|a| backoff_duration(a).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn parked_pods_are_flushed_after_five_minutes() {
        let t = Instant::now();
        let mut q = SchedulingQueue::new();
        add(&mut q, "p", 0, t);
        let p = q.pop().unwrap();
        q.unschedulable(&p.info.uid, Events::NODE_ADD, t);
        q.flush(t + Duration::from_secs(299));
        assert!(q.pop().is_none());
        q.flush(t + MAX_UNSCHEDULABLE_DURATION);
        assert!(q.pop().is_some());
    }

    #[test]
    fn a_spec_update_retries_a_parked_pod() {
        let t = Instant::now();
        let mut q = SchedulingQueue::new();
        add(&mut q, "p", 0, t);
        let p = q.pop().unwrap();
        q.unschedulable(&p.info.uid, Events::NODE_ADD, t);
        // A status-only update (our own condition write) does not.
        let (same, info) = pod("p", 0);
        q.add_or_update(same, info, t + Duration::from_secs(5));
        assert!(q.pop().is_none());
        let (mut changed, info) = pod("p", 0);
        Arc::make_mut(&mut changed).spec.as_mut().unwrap().node_selector =
            Some([("a".into(), "b".into())].into());
        q.add_or_update(changed, info, t + Duration::from_secs(5));
        assert!(q.pop().is_some());
    }
}
