//! End to end: the controllers inside `tug server`, driven with the real kubectl.

mod common;

use common::{Server, eventually, rows};

const REPLICASET: &str = r#"{
  "apiVersion": "apps/v1", "kind": "ReplicaSet",
  "metadata": {"name": "frontend", "labels": {"tier": "frontend"}},
  "spec": {"replicas": 3, "selector": {"matchLabels": {"tier": "frontend"}},
           "template": {"metadata": {"labels": {"tier": "frontend"}},
                        "spec": {"containers": [{"name": "php", "image": "php-redis:v5"}]}}}}"#;

fn pod_names(s: &Server, selector: &str) -> Vec<String> {
    let out = s.ok(&["get", "pods", "-l", selector, "-o", "name"]);
    let mut names: Vec<String> = out.lines().map(str::to_string).collect();
    names.sort();
    names
}

fn wait_for_pods(s: &Server, selector: &str, count: usize) -> Vec<String> {
    eventually(&format!("{count} pods with {selector}"), || {
        let names = pod_names(s, selector);
        (names.len() == count).then_some(names)
    })
}

#[test]
fn a_replicaset_keeps_its_replicas_heals_and_scales() {
    let s = Server::start();
    let out = s.kubectl_stdin(&["apply", "-f", "-"], REPLICASET);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pods = wait_for_pods(&s, "tier=frontend", 3);
    assert!(pods.iter().all(|p| p.starts_with("pod/frontend-")), "{pods:?}");

    // Status, as `kubectl get rs` shows it.
    eventually("rs status", || {
        let table = rows(&s.ok(&["get", "rs", "frontend"]));
        (table[0] == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"] && table[1][1..4] == ["3", "3", "0"])
            .then_some(())
    });
    let owner = s.ok(&[
        "get",
        pods[0].as_str(),
        "-o",
        "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}",
    ]);
    assert_eq!(owner, "ReplicaSet/frontend");

    // A deleted pod comes back.
    s.ok(&["delete", pods[0].as_str()]);
    let healed = eventually("a replacement pod", || {
        let names = pod_names(&s, "tier=frontend");
        (names.len() == 3 && !names.contains(&pods[0])).then_some(names)
    });
    assert_eq!(healed.len(), 3);

    // Scaling down deletes, and events say what happened.
    s.ok(&["scale", "rs", "frontend", "--replicas=1"]);
    wait_for_pods(&s, "tier=frontend", 1);
    let described = s.ok(&["describe", "rs", "frontend"]);
    assert!(
        described.contains("SuccessfulCreate") && described.contains("Created pod: frontend-"),
        "{described}"
    );
    assert!(described.contains("SuccessfulDelete"), "{described}");

    // An orphan that matches is adopted (and, one too many, deleted).
    let orphan = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stray", "labels": {"tier": "frontend"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]}}"#;
    s.kubectl_stdin(&["apply", "-f", "-"], orphan);
    eventually("the stray pod adopted or removed", || {
        let owner = s.kubectl(&["get", "pod", "stray", "-o", "jsonpath={.metadata.ownerReferences[0].name}"]);
        let adopted = owner.status.success() && String::from_utf8_lossy(&owner.stdout) == "frontend";
        let gone = !owner.status.success();
        ((adopted || gone) && pod_names(&s, "tier=frontend").len() == 1).then_some(())
    });
}

#[test]
fn a_replication_controller_keeps_its_replicas() {
    let s = Server::start();
    let rc = r#"{"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "nginx"},
                 "spec": {"replicas": 2, "selector": {"app": "nginx"},
                          "template": {"metadata": {"labels": {"app": "nginx"}},
                                       "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}}"#;
    let out = s.kubectl_stdin(&["apply", "-f", "-"], rc);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_for_pods(&s, "app=nginx", 2);
    s.ok(&["scale", "rc", "nginx", "--replicas=0"]);
    wait_for_pods(&s, "app=nginx", 0);
    let replicas = s.ok(&["get", "rc", "nginx", "-o", "jsonpath={.status.replicas}"]);
    assert!(replicas == "0" || replicas.is_empty(), "{replicas}");
}
