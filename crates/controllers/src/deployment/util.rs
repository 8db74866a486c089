//! Pure helpers over a Deployment and its ReplicaSets (upstream's `deployment/util`): sizes,
//! surge and unavailability fenceposts, revisions and annotations, orderings, and which
//! ReplicaSet is new.

use std::{cmp::Ordering, collections::BTreeMap};

use k8s_openapi::{
    api::apps::v1::{Deployment, ReplicaSet},
    apimachinery::pkg::util::intstr::IntOrString,
};

use super::hash;

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
const ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Annotations of a Deployment that are not copied to its ReplicaSets.
const NOT_COPIED: &[&str] =
    &[LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO];

/// Upstream's default `--max-revision-history-length-in-chars`... of the revision-history
/// annotation, beyond which its oldest entries are dropped.
pub const REVISION_HISTORY_MAX_CHARS: usize = 2000;

pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn min_ready_seconds(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
}

pub fn is_paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

pub fn is_recreate(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.type_.as_deref()) == Some("Recreate")
}

/// The progress deadline, unless unset or "never" (MaxInt32).
pub fn progress_deadline(d: &Deployment) -> Option<i32> {
    d.spec.as_ref().and_then(|s| s.progress_deadline_seconds).filter(|s| *s != i32::MAX)
}

pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn rs_actual(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map_or(0, |s| s.replicas)
}

pub fn rs_ready(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0)
}

pub fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0)
}

fn annotation<'a>(
    meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The revision annotation as a number (0 when missing or malformed).
pub fn revision(rs: &ReplicaSet) -> i64 {
    annotation(&rs.metadata, REVISION).and_then(|r| r.parse().ok()).unwrap_or(0)
}

pub fn max_revision(rss: &[ReplicaSet]) -> i64 {
    rss.iter().map(revision).max().unwrap_or(0)
}

pub fn desired_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(&rs.metadata, DESIRED_REPLICAS)?.parse().ok()
}

fn max_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(&rs.metadata, MAX_REPLICAS)?.parse().ok()
}

/// An int-or-percent scaled against `total`: percentages round up or down as asked.
pub fn scaled(value: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    match value {
        None => 0,
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(s)) => {
            let Some(pct) = s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) else {
                return s.parse().unwrap_or(0);
            };
            let scaled = pct * i64::from(total);
            let v = if round_up { (scaled + 99).div_euclid(100) } else { scaled.div_euclid(100) };
            v as i32
        }
    }
}

/// `(maxSurge, maxUnavailable)` of a rolling update; both zero would never progress, so
/// unavailability is then one (upstream's `ResolveFenceposts`).
pub fn fenceposts(d: &Deployment) -> (i32, i32) {
    let rolling = d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.rolling_update.as_ref());
    let desired = replicas(d);
    let surge = scaled(rolling.and_then(|r| r.max_surge.as_ref()), desired, true);
    let unavailable = scaled(rolling.and_then(|r| r.max_unavailable.as_ref()), desired, false);
    if surge == 0 && unavailable == 0 { (0, 1) } else { (surge, unavailable) }
}

pub fn max_surge(d: &Deployment) -> i32 {
    if is_recreate(d) { 0 } else { fenceposts(d).0 }
}

pub fn max_unavailable(d: &Deployment) -> i32 {
    if is_recreate(d) || replicas(d) == 0 {
        return 0;
    }
    fenceposts(d).1.min(replicas(d))
}

/// Sets `desired-replicas` and `max-replicas`; says whether anything changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (key, value) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let value = value.to_string();
        if annotations.get(key) != Some(&value) {
            annotations.insert(key.to_string(), value);
            changed = true;
        }
    }
    changed
}

pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    desired_annotation(rs) != Some(desired) || max_replicas_annotation(rs) != Some(max)
}

/// Copies the Deployment's annotations to its new ReplicaSet and raises the ReplicaSet's
/// revision to `new_revision`, remembering a revision it had before (a rollback) in the
/// revision-history annotation. Says whether anything changed (upstream's
/// `SetNewReplicaSetAnnotations`).
pub fn set_new_rs_annotations(d: &Deployment, rs: &mut ReplicaSet, new_revision: i64, exists: bool) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if NOT_COPIED.contains(&k.as_str()) || annotations.get(k) == Some(v) {
            continue;
        }
        annotations.insert(k.clone(), v.clone());
        changed = true;
    }
    let old = annotations.get(REVISION).cloned();
    let old_number = match old.as_deref().map(str::parse::<i64>) {
        None => 0,
        Some(Ok(n)) => n,
        // A revision we cannot read is left alone, as upstream does.
        Some(Err(_)) => return changed,
    };
    if old_number < new_revision {
        annotations.insert(REVISION.to_string(), new_revision.to_string());
        changed = true;
        if let Some(old) = old {
            let history = annotations.get(REVISION_HISTORY).cloned().unwrap_or_default();
            annotations.insert(REVISION_HISTORY.to_string(), append_history(&history, &old));
        }
    }
    if !exists {
        let desired = replicas(d);
        changed |= set_replicas_annotations(rs, desired, desired + max_surge(d));
    }
    changed
}

/// `history,revision`, dropping the oldest entries to stay within the length limit.
fn append_history(history: &str, revision: &str) -> String {
    if history.is_empty() {
        return revision.to_string();
    }
    let mut entries: Vec<&str> = history.split(',').collect();
    let mut len = history.len() + revision.len() + 1;
    let mut start = 0;
    while len > REVISION_HISTORY_MAX_CHARS && start < entries.len() {
        len -= entries[start].len() + 1;
        start += 1;
    }
    entries.drain(..start);
    entries.push(revision);
    entries.join(",")
}

fn created(rs: &ReplicaSet) -> Option<jiff::Timestamp> {
    rs.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// Oldest first; ties by name (upstream's `ReplicaSetsByCreationTimestamp`).
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    created(a).cmp(&created(b)).then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Larger first; among equals newer first (scaling up favours the newest).
pub fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b).cmp(&rs_replicas(a)).then_with(|| by_creation(b, a))
}

/// Larger first; among equals older first (scaling down takes from the oldest).
pub fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b).cmp(&rs_replicas(a)).then_with(|| by_creation(a, b))
}

/// Lowest revision first; ties oldest first.
pub fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    revision(a).cmp(&revision(b)).then_with(|| by_creation(a, b))
}

/// The oldest ReplicaSet whose template is the Deployment's (upstream's `FindNewReplicaSet`).
pub fn find_new(d: &Deployment, rss: &[ReplicaSet]) -> Option<usize> {
    let template = d.spec.as_ref().map(|s| &s.template)?;
    let mut candidates: Vec<usize> = (0..rss.len())
        .filter(|i| {
            rss[*i]
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .is_some_and(|t| hash::equal_ignore_hash(t, template))
        })
        .collect();
    candidates.sort_by(|a, b| by_creation(&rss[*a], &rss[*b]));
    candidates.first().copied()
}

pub fn is_active(rs: &ReplicaSet) -> bool {
    rs_replicas(rs) > 0
}

/// The size of a new ReplicaSet in this step of the rollout (upstream's `NewRSNewReplicas`):
/// a rolling update grows it up to the surge limit, Recreate straight to the full size.
pub fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new: &ReplicaSet) -> i32 {
    if is_recreate(d) {
        return replicas(d);
    }
    let current: i32 = all.iter().map(|rs| rs_replicas(rs)).sum();
    let max_total = replicas(d) + max_surge(d);
    if current >= max_total {
        return rs_replicas(new);
    }
    let up = (max_total - current).min(replicas(d) - rs_replicas(new));
    rs_replicas(new) + up
}

/// Whether the new ReplicaSet holds the whole Deployment, all available.
pub fn is_saturated(d: &Deployment, new: Option<&ReplicaSet>) -> bool {
    let Some(new) = new else { return false };
    let want = replicas(d);
    desired_annotation(new) == Some(want) && rs_replicas(new) == want && rs_available(new) == want
}

/// Which ReplicaSets of a mid-rollout Deployment get how many replicas when the Deployment is
/// scaled (upstream's proportional scaling): the difference between the allowed total
/// (replicas + surge) and the current total is shared in proportion to each ReplicaSet's size
/// against the `max-replicas` it was last sized for; rounding leftovers go to the largest.
/// Returns `(name, new size)` for each active ReplicaSet.
pub fn proportional_sizes(d: &Deployment, active: &[&ReplicaSet]) -> Vec<(String, i32)> {
    let want = replicas(d);
    let total: i32 = active.iter().map(|rs| rs_replicas(rs)).sum();
    let allowed = if want > 0 { want + max_surge(d) } else { 0 };
    let to_add = allowed - total;
    let mut sorted: Vec<&ReplicaSet> = active.to_vec();
    match to_add.cmp(&0) {
        Ordering::Greater => sorted.sort_by(|a, b| by_size_newer(a, b)),
        Ordering::Less => sorted.sort_by(|a, b| by_size_older(a, b)),
        Ordering::Equal => {}
    }
    let mut added = 0;
    let mut sizes: Vec<(String, i32)> = Vec::with_capacity(sorted.len());
    for rs in &sorted {
        let proportion = if to_add != 0 { proportion(d, rs, to_add, added) } else { 0 };
        added += proportion;
        sizes.push((rs.metadata.name.clone().unwrap_or_default(), rs_replicas(rs) + proportion));
    }
    if to_add != 0
        && let Some(first) = sizes.first_mut()
    {
        first.1 = (first.1 + to_add - added).max(0);
    }
    sizes
}

fn proportion(d: &Deployment, rs: &ReplicaSet, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == added {
        return 0;
    }
    let fraction = fraction(d, rs);
    let allowed = to_add - added;
    if to_add > 0 { fraction.min(allowed) } else { fraction.max(allowed) }
}

/// How many replicas `rs` gains (or loses) at the Deployment's new size.
fn fraction(d: &Deployment, rs: &ReplicaSet) -> i32 {
    if replicas(d) == 0 {
        return -rs_replicas(rs);
    }
    let max_now = replicas(d) + max_surge(d);
    let before = match max_replicas_annotation(rs).filter(|m| *m != 0) {
        Some(m) => m,
        // Without the annotation: the Deployment's size as last observed.
        None => d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0),
    };
    if before == 0 {
        return 0;
    }
    let size = f64::from(rs_replicas(rs)) * f64::from(max_now) / f64::from(before);
    size.round() as i32 - rs_replicas(rs)
}

#[cfg(test)]
pub(crate) mod tests {
    use k8s_openapi::{
        api::apps::v1::{
            DeploymentSpec, DeploymentStrategy, ReplicaSetSpec, ReplicaSetStatus, RollingUpdateDeployment,
        },
        apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time},
    };

    use super::*;

    pub fn deployment(replicas: i32, surge: &str, unavailable: &str) -> Deployment {
        let int_or = |s: &str| match s.parse::<i32>() {
            Ok(n) => IntOrString::Int(n),
            Err(_) => IntOrString::String(s.to_string()),
        };
        Deployment {
            metadata: ObjectMeta { name: Some("web".into()), ..Default::default() },
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(int_or(surge)),
                        max_unavailable: Some(int_or(unavailable)),
                    }),
                }),
                ..Default::default()
            }),
            status: None,
        }
    }

    pub fn replica_set(name: &str, replicas: i32, available: i32, created_at: i64) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.into()),
                creation_timestamp: Some(Time(jiff::Timestamp::from_second(created_at).unwrap())),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec { replicas: Some(replicas), ..Default::default() }),
            status: Some(ReplicaSetStatus {
                replicas,
                available_replicas: Some(available),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn surge_rounds_up_and_unavailable_rounds_down() {
        assert_eq!(fenceposts(&deployment(10, "25%", "25%")), (3, 2));
        assert_eq!(fenceposts(&deployment(3, "25%", "25%")), (1, 0));
        assert_eq!(fenceposts(&deployment(3, "100%", "0")), (3, 0));
        assert_eq!(fenceposts(&deployment(3, "0", "0")), (0, 1));
        assert_eq!(fenceposts(&deployment(4, "2", "50%")), (2, 2));
        assert_eq!(max_unavailable(&deployment(2, "0", "5")), 2);
        assert_eq!(max_unavailable(&deployment(0, "0", "5")), 0);
    }

    #[test]
    fn a_new_replica_set_grows_up_to_the_surge() {
        let d = deployment(10, "3", "2");
        let old = replica_set("old", 10, 10, 1);
        let new = replica_set("new", 0, 0, 2);
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 3);
        let new = replica_set("new", 3, 0, 2);
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 3);
        let old = replica_set("old", 5, 5, 1);
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 8);
    }

    #[test]
    fn scaling_mid_rollout_is_proportional() {
        // Upstream's example: 10 replicas, surge 3; old 8 and new 5 at max 13; scaled to 15
        // (max 18): 5 more, shared 3 to the larger old set and 2 to the new one.
        let d = deployment(15, "3", "2");
        let mut old = replica_set("old", 8, 8, 1);
        let mut new = replica_set("new", 5, 0, 2);
        set_replicas_annotations(&mut old, 10, 13);
        set_replicas_annotations(&mut new, 10, 13);
        let mut sizes = proportional_sizes(&d, &[&old, &new]);
        sizes.sort();
        assert_eq!(sizes, [("new".to_string(), 7), ("old".to_string(), 11)]);
        // And to zero: everything goes.
        let d = deployment(0, "3", "2");
        let sizes = proportional_sizes(&d, &[&old, &new]);
        assert!(sizes.iter().all(|(_, n)| *n == 0), "{sizes:?}");
    }

    #[test]
    fn a_rollback_keeps_the_old_revision_in_the_history() {
        let d = deployment(3, "1", "0");
        let mut rs = replica_set("rs", 0, 0, 1);
        rs.metadata.annotations = Some([(REVISION.to_string(), "1".to_string())].into());
        assert!(set_new_rs_annotations(&d, &mut rs, 3, true));
        assert_eq!(revision(&rs), 3);
        assert_eq!(rs.metadata.annotations.as_ref().unwrap()[REVISION_HISTORY], "1");
        assert!(!set_new_rs_annotations(&d, &mut rs, 3, true));
        assert_eq!(append_history("1,3", "5"), "1,3,5");
    }

    #[test]
    fn deployment_annotations_are_copied_except_its_own() {
        let mut d = deployment(3, "1", "0");
        d.metadata.annotations = Some(
            [("kubernetes.io/change-cause", "v2"), (REVISION, "7"), (LAST_APPLIED, "{}")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let mut rs = replica_set("rs", 0, 0, 1);
        assert!(set_new_rs_annotations(&d, &mut rs, 1, false));
        let a = rs.metadata.annotations.unwrap();
        assert_eq!(a["kubernetes.io/change-cause"], "v2");
        assert_eq!(a[REVISION], "1");
        assert_eq!(a[DESIRED_REPLICAS], "3");
        assert_eq!(a[MAX_REPLICAS], "4");
        assert!(!a.contains_key(LAST_APPLIED));
    }
}
