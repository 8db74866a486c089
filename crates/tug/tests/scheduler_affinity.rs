//! End to end: pod anti-affinity and topology spread constraints, scheduled by `tug server`
//! onto Node objects made with the real kubectl. Pods arrive one after another and in a
//! batch, so the per-selector counts the scheduler keeps must follow every pod it places,
//! assumes and loses.

mod common;

use std::collections::BTreeMap;

use common::{Server, event_messages, eventually};

fn zone_node(name: &str, zone: &str) -> String {
    let resources = serde_json::json!({"cpu": "8", "memory": "8Gi", "pods": "110"});
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "zone": zone}},
        "status": {"capacity": resources, "allocatable": resources}
    })
    .to_string()
}

fn labelled_pod(name: &str, app: &str, spec: serde_json::Value) -> serde_json::Value {
    let mut s = serde_json::json!({"containers": [{"name": "app", "image": "nginx"}]});
    if let (Some(s), Some(extra)) = (s.as_object_mut(), spec.as_object()) {
        s.extend(extra.clone());
    }
    serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}}, "spec": s})
}

/// Pod name → node name, for the pods with `app` that are bound.
fn placements(s: &Server, app: &str) -> BTreeMap<String, String> {
    let out = s.ok(&[
        "get",
        "pods",
        "-l",
        &format!("app={app}"),
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.spec.nodeName}{\"\\n\"}{end}",
    ]);
    out.lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(_, node)| !node.is_empty())
        .map(|(p, n)| (p.to_string(), n.to_string()))
        .collect()
}

fn failed_scheduling_says(s: &Server, pod: &str, want: &str) -> String {
    eventually(&format!("FailedScheduling for {pod} saying {want}"), || {
        event_messages(s, pod, "FailedScheduling").into_iter().find(|l| l.contains(want))
    })
}

fn zone_of(node: &str) -> &str {
    node.split('-').next().unwrap_or(node)
}

#[test]
fn required_anti_affinity_keeps_one_pod_per_zone_and_frees_the_zone_on_delete() {
    let s = Server::start();
    for (name, zone) in [("z1-a", "z1"), ("z1-b", "z1"), ("z2-a", "z2"), ("z3-a", "z3")] {
        s.apply(&zone_node(name, zone));
    }
    let anti = serde_json::json!({"affinity": {"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "zone", "labelSelector": {"matchLabels": {"app": "web"}}}]}}});
    // One by one: each pod's cycle must see the ones before it.
    for i in 1..=3 {
        let name = format!("web-{i}");
        s.apply(&labelled_pod(&name, "web", anti.clone()).to_string());
        eventually(&format!("{name} to be bound"), || placements(&s, "web").get(&name).cloned());
    }
    let placed = placements(&s, "web");
    let mut zones: Vec<&str> = placed.values().map(|n| zone_of(n)).collect();
    zones.sort();
    assert_eq!(zones, ["z1", "z2", "z3"], "{placed:?}");

    s.apply(&labelled_pod("web-4", "web", anti.clone()).to_string());
    let msg = failed_scheduling_says(&s, "web-4", "didn't satisfy existing pods anti-affinity rules");
    assert!(
        msg.starts_with(
            "0/4 nodes are available: 4 node(s) didn't satisfy existing pods anti-affinity rules"
        ),
        "{msg}"
    );

    // The zone of a deleted pod is free again for the parked one.
    let gone = placed["web-2"].clone();
    s.ok(&["delete", "pod", "web-2", "--grace-period=0", "--force"]);
    let node = eventually("web-4 to be bound", || placements(&s, "web").get("web-4").cloned());
    assert_eq!(zone_of(&node), zone_of(&gone));
}

#[test]
fn do_not_schedule_spreading_evens_out_a_batch_across_zones() {
    let s = Server::start();
    for (name, zone) in [("z1-a", "z1"), ("z1-b", "z1"), ("z2-a", "z2"), ("z3-a", "z3")] {
        s.apply(&zone_node(name, zone));
    }
    let spread = serde_json::json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
        "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "spread"}}}]});
    // A pod with another label in the same zones does not count.
    s.apply(&labelled_pod("other", "other", serde_json::json!({"nodeName": "z1-a"})).to_string());
    // All at once: the scheduler places them back to back, counting the assumed ones.
    let items: Vec<serde_json::Value> =
        (1..=9).map(|i| labelled_pod(&format!("spread-{i}"), "spread", spread.clone())).collect();
    s.apply(&serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string());
    let placed = eventually("all nine spread pods to be bound", || {
        let p = placements(&s, "spread");
        (p.len() == 9).then_some(p)
    });
    let mut per_zone: BTreeMap<&str, usize> = BTreeMap::new();
    for node in placed.values() {
        *per_zone.entry(zone_of(node)).or_default() += 1;
    }
    assert_eq!(per_zone, BTreeMap::from([("z1", 3), ("z2", 3), ("z3", 3)]), "{placed:?}");
}

/// A term's namespaceSelector reads the namespaces' labels, and relabelling a namespace
/// retries the pods waiting on it.
#[test]
fn affinity_namespace_selectors_follow_namespace_labels() {
    let s = Server::start();
    s.apply(&zone_node("z1-a", "z1"));
    s.ok(&["create", "namespace", "data"]);
    s.ok(&["label", "namespace", "data", "team=storage"]);
    let out = s.kubectl_stdin(
        &["apply", "-n", "data", "-f", "-"],
        &labelled_pod("db-1", "db", serde_json::json!({})).to_string(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let with_db_of = |team: &str| {
        serde_json::json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "topologyKey": "zone", "labelSelector": {"matchLabels": {"app": "db"}},
            "namespaceSelector": {"matchLabels": {"team": team}}}]}}})
    };
    s.apply(&labelled_pod("near-storage", "web", with_db_of("storage")).to_string());
    s.apply(&labelled_pod("near-analytics", "web", with_db_of("analytics")).to_string());
    eventually("near-storage to be bound", || placements(&s, "web").get("near-storage").cloned());
    failed_scheduling_says(&s, "near-analytics", "node(s) didn't match pod affinity rules");
    assert!(!placements(&s, "web").contains_key("near-analytics"));

    s.ok(&["label", "namespace", "data", "team=analytics", "--overwrite"]);
    eventually("near-analytics to be bound once its namespace matches", || {
        placements(&s, "web").get("near-analytics").cloned()
    });
}
