//! End to end: the garbage collector (background, orphan and foreground cascades, dangling
//! owner references), the namespace controller, and the service account and root CA
//! controllers, driven with the real kubectl.

mod common;

use common::{Server, eventually, rows};

const REPLICASET: &str = r#"{
  "apiVersion": "apps/v1", "kind": "ReplicaSet",
  "metadata": {"name": "web"},
  "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
           "template": {"metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}"#;

fn pods(s: &Server) -> Vec<String> {
    s.ok(&["get", "pods", "-l", "app=web", "-o", "name"]).lines().map(str::to_string).collect()
}

fn replicaset_with_pods(s: &Server) -> Vec<String> {
    s.apply_with(REPLICASET, &[]);
    eventually("two pods", || {
        let p = pods(s);
        (p.len() == 2).then_some(p)
    })
}

fn is_not_found(s: &Server, args: &[&str]) -> bool {
    let out = s.kubectl(args);
    !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("NotFound")
}

#[test]
fn a_background_cascade_deletes_the_pods() {
    let s = Server::start();
    replicaset_with_pods(&s);
    s.ok(&["delete", "rs", "web"]);
    eventually("the pods to go", || pods(&s).is_empty().then_some(()));
}

#[test]
fn an_orphan_cascade_keeps_the_pods_without_owner_references() {
    let s = Server::start();
    let before = replicaset_with_pods(&s);
    // kubectl waits until the ReplicaSet is gone, that is until the orphan finalizer is done.
    s.ok(&["delete", "rs", "web", "--cascade=orphan"]);
    assert!(is_not_found(&s, &["get", "rs", "web"]));
    assert_eq!(pods(&s), before);
    let refs = s.ok(&["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.ownerReferences}"]);
    assert_eq!(refs.trim(), "", "owner references left: {refs}");
}

#[test]
fn a_foreground_cascade_keeps_the_owner_until_its_pods_are_gone() {
    let s = Server::start();
    let before = replicaset_with_pods(&s);
    // A finalizer holds one pod in deletion, so the ReplicaSet's wait can be seen.
    let held = before[0].as_str();
    s.ok(&["patch", held, "-p", r#"{"metadata":{"finalizers":["example.com/hold"]}}"#]);
    s.ok(&["delete", "rs", "web", "--cascade=foreground", "--wait=false"]);
    eventually("the held pod to be terminating and the other gone", || {
        let left = pods(&s);
        let stamp = s.ok(&["get", held, "-o", "jsonpath={.metadata.deletionTimestamp}"]);
        (left == [held.to_string()] && !stamp.is_empty()).then_some(())
    });
    let owner =
        s.ok(&["get", "rs", "web", "-o", "jsonpath={.metadata.finalizers} {.metadata.deletionTimestamp}"]);
    assert!(owner.starts_with(r#"["foregroundDeletion"] "#), "{owner}");

    s.ok(&["patch", held, "--type=json", "-p", r#"[{"op":"remove","path":"/metadata/finalizers"}]"#]);
    eventually("the ReplicaSet to go", || is_not_found(&s, &["get", "rs", "web"]).then_some(()));
    assert!(pods(&s).is_empty());
}

#[test]
fn an_object_whose_owner_is_gone_is_collected() {
    let s = Server::start();
    s.ok(&["create", "configmap", "owner"]);
    s.ok(&["create", "configmap", "living-owner"]);
    let uid = s.ok(&["get", "cm", "owner", "-o", "jsonpath={.metadata.uid}"]);
    let living = s.ok(&["get", "cm", "living-owner", "-o", "jsonpath={.metadata.uid}"]);
    s.ok(&["delete", "cm", "owner"]);
    let dependent = |name: &str, owner: &str, uid: &str| {
        format!(
            r#"{{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {{"name": "{name}",
                "ownerReferences": [{{"apiVersion": "v1", "kind": "ConfigMap", "name": "{owner}", "uid": "{uid}"}}]}}}}"#
        )
    };
    s.apply_with(&dependent("kept", "living-owner", &living), &[]);
    s.apply_with(&dependent("dangling", "owner", &uid), &[]);
    eventually("the dependent of a deleted owner to go", || {
        is_not_found(&s, &["get", "cm", "dangling"]).then_some(())
    });
    s.ok(&["get", "cm", "kept"]);
    // Deleting the living owner takes its dependent along.
    s.ok(&["delete", "cm", "living-owner"]);
    eventually("the other dependent to go", || is_not_found(&s, &["get", "cm", "kept"]).then_some(()));
}

#[test]
fn deleting_a_namespace_removes_its_contents_then_the_namespace() {
    let s = Server::start();
    s.ok(&["create", "namespace", "doomed"]);
    s.ok(&["create", "configmap", "plain", "-n", "doomed"]);
    s.ok(&["create", "deployment", "app", "--image=nginx", "-n", "doomed"]);
    // A finalizer holds one object, and so the namespace, in Terminating.
    s.ok(&["create", "configmap", "held", "-n", "doomed"]);
    s.ok(&[
        "patch",
        "cm",
        "held",
        "-n",
        "doomed",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
    ]);

    s.ok(&["delete", "namespace", "doomed", "--wait=false"]);
    let table = rows(&s.ok(&["get", "ns", "doomed"]));
    assert_eq!(table[1][1], "Terminating", "{table:?}");
    let refused = s.fails(&["create", "configmap", "late", "-n", "doomed"]);
    assert!(refused.contains("because it is being terminated"), "{refused}");
    eventually("the finalizers-remaining condition", || {
        let conds = s.ok(&[
            "get",
            "ns",
            "doomed",
            "-o",
            r#"jsonpath={range .status.conditions[*]}{.type}={.status}:{.reason}{"\n"}{end}"#,
        ]);
        conds.contains("NamespaceFinalizersRemaining=True:SomeFinalizerRemain").then_some(())
    });
    assert!(is_not_found(&s, &["get", "cm", "plain", "-n", "doomed"]));
    assert!(is_not_found(&s, &["get", "deployment", "app", "-n", "doomed"]));

    s.ok(&[
        "patch",
        "cm",
        "held",
        "-n",
        "doomed",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    // kubectl waits until the namespace is gone.
    s.ok(&["delete", "namespace", "doomed"]);
    assert!(is_not_found(&s, &["get", "ns", "doomed"]));
}

#[test]
fn a_new_namespace_gets_a_default_service_account_and_the_root_ca() {
    let s = Server::start();
    s.ok(&["create", "namespace", "fresh"]);
    let first = eventually("the default service account", || {
        let out = s.kubectl(&["get", "sa", "default", "-n", "fresh", "-o", "jsonpath={.metadata.uid}"]);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).to_string())
    });
    let ca = eventually("kube-root-ca.crt", || {
        let out =
            s.kubectl(&["get", "cm", "kube-root-ca.crt", "-n", "fresh", "-o", r"jsonpath={.data.ca\.crt}"]);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).to_string())
    });
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    // The cluster CA, as the server hands it to joining agents.
    assert_eq!(ca, s.ok(&["get", "--raw", "/cacerts"]));

    // Both come back when deleted.
    s.ok(&["delete", "sa", "default", "-n", "fresh"]);
    eventually("a new default service account", || {
        let out = s.kubectl(&["get", "sa", "default", "-n", "fresh", "-o", "jsonpath={.metadata.uid}"]);
        (out.status.success() && String::from_utf8_lossy(&out.stdout) != first).then_some(())
    });
    s.ok(&["delete", "cm", "kube-root-ca.crt", "-n", "fresh"]);
    eventually("kube-root-ca.crt again", || {
        s.kubectl(&["get", "cm", "kube-root-ca.crt", "-n", "fresh"]).status.success().then_some(())
    });
    // Existing namespaces have them too.
    eventually("kube-root-ca.crt in default", || {
        s.kubectl(&["get", "cm", "kube-root-ca.crt", "-n", "default"]).status.success().then_some(())
    });
}
