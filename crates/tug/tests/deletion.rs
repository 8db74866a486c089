//! End to end: deleting with the real kubectl: graceful deletion of pods on a node, finalizers,
//! delete options and deleting a collection.

mod common;

use common::{Server, rows};

const NODE: &str = r#"{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"}}"#;

fn pod(name: &str, node: &str) -> String {
    format!(
        r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "{name}"}},
            "spec": {{"nodeName": "{node}", "terminationGracePeriodSeconds": 45,
                      "containers": [{{"name": "c", "image": "nginx"}}]}}}}"#
    )
}

fn create(s: &Server, json: &str) {
    let out = s.kubectl_stdin(&["create", "-f", "-"], json);
    assert!(out.status.success(), "create failed: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_pod_on_a_node_terminates_gracefully_and_force_deletion_ends_it() {
    let s = Server::start();
    create(&s, NODE);
    create(&s, &pod("web", "node-a"));

    let out = s.ok(&["delete", "pod", "web", "--wait=false"]);
    assert_eq!(out.trim(), "pod \"web\" deleted from default namespace");
    let table = rows(&s.ok(&["get", "pod", "web"]));
    assert_eq!(table[1][2], "Terminating", "{table:?}");
    let grace = s.ok(&["get", "pod", "web", "-o", "jsonpath={.metadata.deletionGracePeriodSeconds}"]);
    assert_eq!(grace, "45");

    // A shorter grace period moves the deadline; zero with --force removes the pod.
    s.ok(&["delete", "pod", "web", "--grace-period=5", "--wait=false"]);
    let grace = s.ok(&["get", "pod", "web", "-o", "jsonpath={.metadata.deletionGracePeriodSeconds}"]);
    assert_eq!(grace, "5");
    s.ok(&["delete", "pod", "web", "--grace-period=0", "--force"]);
    let gone = s.fails(&["get", "pod", "web"]);
    assert!(gone.contains("pods \"web\" not found"), "{gone}");
}

#[test]
fn pods_no_node_runs_are_deleted_at_once() {
    let s = Server::start();
    create(&s, &pod("orphan", "no-such-node"));
    create(&s, &pod("pending", ""));
    let out = s.ok(&["delete", "pod", "orphan", "pending"]);
    assert_eq!(
        out.trim(),
        "pod \"orphan\" deleted from default namespace\npod \"pending\" deleted from default namespace"
    );
    let left = s.ok(&["get", "pods", "-o", "name"]);
    assert_eq!(left.trim(), "");
}

#[test]
fn finalizers_hold_an_object_until_they_are_removed() {
    let s = Server::start();
    s.ok(&["create", "configmap", "held"]);
    s.ok(&["patch", "configmap", "held", "-p", r#"{"metadata":{"finalizers":["example.com/hold"]}}"#]);
    s.ok(&["delete", "configmap", "held", "--wait=false"]);
    let stamp = s.ok(&["get", "configmap", "held", "-o", "jsonpath={.metadata.deletionTimestamp}"]);
    assert!(!stamp.is_empty(), "no deletionTimestamp");
    s.ok(&[
        "patch",
        "configmap",
        "held",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    let gone = s.fails(&["get", "configmap", "held"]);
    assert!(gone.contains("not found"), "{gone}");
}

#[test]
fn a_collection_is_deleted_by_selector_and_bad_options_are_invalid() {
    let s = Server::start();
    for (name, app) in [("a1", "a"), ("a2", "a"), ("b1", "b")] {
        s.ok(&["create", "configmap", name]);
        s.ok(&["label", "configmap", name, &format!("app={app}")]);
    }
    s.ok(&["delete", "--raw", "/api/v1/namespaces/default/configmaps?labelSelector=app%3Da"]);
    let left = s.ok(&["get", "configmaps", "-l", "app", "-o", "name"]);
    assert_eq!(left.trim(), "configmap/b1");

    let err =
        s.fails(&["delete", "--raw", "/api/v1/namespaces/default/configmaps/b1?propagationPolicy=Sideways"]);
    assert!(
        err.contains(
            r#"propagationPolicy: Unsupported value: \"Sideways\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""#
        ) || err.contains(r#"propagationPolicy: Unsupported value: "Sideways""#),
        "{err}"
    );
}
