use serde_json::json;

use super::*;

const NOW: i64 = 1_700_000_000;

fn pod(node: &str) -> Value {
    json!({
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 30},
        "status": {"phase": "Running"},
    })
}

fn marked(plan: Plan) -> Value {
    match plan {
        Plan::Mark(v) => v,
        other => panic!("expected a mark, got {other:?}"),
    }
}

#[test]
fn a_pod_on_a_node_gets_its_grace_period() {
    let next = marked(plan("Pod", &pod("n1"), &Options::default(), true, false, NOW));
    assert_eq!(next["metadata"]["deletionGracePeriodSeconds"], 30);
    assert_eq!(next["metadata"]["deletionTimestamp"], timestamp(NOW + 30));

    let asked = Options { grace_period: Some(5), ..Options::default() };
    let next = marked(plan("Pod", &pod("n1"), &asked, true, false, NOW));
    assert_eq!(next["metadata"]["deletionGracePeriodSeconds"], 5);
}

#[test]
fn pods_nobody_runs_and_finished_pods_go_at_once() {
    assert_eq!(plan("Pod", &pod(""), &Options::default(), false, false, NOW), Plan::Remove);
    assert_eq!(plan("Pod", &pod("gone"), &Options::default(), false, false, NOW), Plan::Remove);
    let mut done = pod("n1");
    done["status"]["phase"] = json!("Succeeded");
    assert_eq!(plan("Pod", &done, &Options::default(), true, false, NOW), Plan::Remove);
    let force = Options { grace_period: Some(0), ..Options::default() };
    assert_eq!(plan("Pod", &pod("n1"), &force, true, false, NOW), Plan::Remove);
}

#[test]
fn a_second_delete_only_shortens_the_grace_period() {
    let terminating = marked(plan("Pod", &pod("n1"), &Options::default(), true, false, NOW));
    assert_eq!(plan("Pod", &terminating, &Options::default(), true, false, NOW + 10), Plan::Pending);
    let shorter = Options { grace_period: Some(10), ..Options::default() };
    let next = marked(plan("Pod", &terminating, &shorter, true, false, NOW + 5));
    assert_eq!(next["metadata"]["deletionTimestamp"], timestamp(NOW + 10));
    assert_eq!(next["metadata"]["deletionGracePeriodSeconds"], 10);
    // The kubelet's final delete.
    let zero = Options { grace_period: Some(0), ..Options::default() };
    assert_eq!(plan("Pod", &terminating, &zero, true, false, NOW + 30), Plan::Remove);
}

#[test]
fn finalizers_hold_an_object() {
    let cm = json!({"kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["example.com/x"]}});
    let next = marked(plan("ConfigMap", &cm, &Options::default(), false, false, NOW));
    assert_eq!(next["metadata"]["deletionTimestamp"], timestamp(NOW));
    assert_eq!(next["metadata"]["deletionGracePeriodSeconds"], 0);
    assert_eq!(plan("ConfigMap", &next, &Options::default(), false, false, NOW), Plan::Pending);
}

#[test]
fn propagation_policies_become_finalizers_when_a_collector_runs() {
    let rs = json!({"kind": "ReplicaSet", "metadata": {"name": "r"}});
    let orphan = Options { propagation: Some(Propagation::Orphan), ..Options::default() };
    let foreground = Options { propagation: Some(Propagation::Foreground), ..Options::default() };
    let background = Options { propagation: Some(Propagation::Background), ..Options::default() };

    assert_eq!(plan("ReplicaSet", &rs, &orphan, false, false, NOW), Plan::Remove);
    let next = marked(plan("ReplicaSet", &rs, &orphan, false, true, NOW));
    assert_eq!(next["metadata"]["finalizers"], json!(["orphan"]));
    let next = marked(plan("ReplicaSet", &next, &foreground, false, true, NOW));
    assert_eq!(next["metadata"]["finalizers"], json!(["foregroundDeletion"]));
    assert_eq!(plan("ReplicaSet", &rs, &background, false, true, NOW), Plan::Remove);
}

fn namespace(finalizers: &[&str]) -> Value {
    json!({
        "kind": "Namespace",
        "metadata": {"name": "ns"},
        "spec": {"finalizers": finalizers},
        "status": {"phase": "Active"},
    })
}

#[test]
fn a_namespace_delete_marks_it_terminating_until_finalized() {
    let next = marked(plan_namespace(&namespace(&["kubernetes"]), &Options::default(), true, NOW));
    assert_eq!(next["status"]["phase"], "Terminating");
    assert_eq!(next["metadata"]["deletionTimestamp"], timestamp(NOW));
    // Asked again while terminating: nothing changes.
    assert_eq!(plan_namespace(&next, &Options::default(), true, NOW + 5), Plan::Pending);
    // Finalized: the next delete removes it.
    let mut finalized = next.clone();
    finalized["spec"]["finalizers"] = json!([]);
    assert_eq!(plan_namespace(&finalized, &Options::default(), true, NOW + 5), Plan::Remove);
}

#[test]
fn a_namespace_deleted_with_orphan_propagation_keeps_the_orphan_finalizer() {
    let orphan = Options { propagation: Some(Propagation::Orphan), ..Options::default() };
    let next = marked(plan_namespace(&namespace(&[]), &orphan, true, NOW));
    assert_eq!(next["metadata"]["finalizers"], json!([ORPHAN_FINALIZER]));
    assert_eq!(next["status"]["phase"], "Terminating");
}
