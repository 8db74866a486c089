//! End to end: the server gives each node without one a pod CIDR from `--cluster-cidr`, and
//! reuses a deleted node's block only after the free ones.

mod common;

use common::{Server, eventually};

fn node(name: &str, pod_cidr: Option<&str>) -> String {
    let spec =
        pod_cidr.map_or(String::new(), |c| format!(r#", "spec": {{"podCIDR": "{c}", "podCIDRs": ["{c}"]}}"#));
    format!(r#"{{"apiVersion": "v1", "kind": "Node", "metadata": {{"name": "{name}"}}{spec}}}"#)
}

fn pod_cidr(s: &Server, name: &str) -> Option<String> {
    let cidr = s.ok(&["get", "node", name, "-o", "jsonpath={.spec.podCIDR} {.spec.podCIDRs[*]}"]);
    let (single, all) = cidr.trim().split_once(' ')?;
    assert_eq!(single, all, "podCIDR and podCIDRs disagree");
    Some(single.to_string())
}

#[test]
fn nodes_get_pod_cidrs_from_the_cluster_cidr() {
    let s = Server::start_with(tempfile::tempdir().unwrap(), &["--cluster-cidr", "10.60.0.0/22"]);
    // A node that comes with a block keeps it, and nobody else gets it.
    assert!(s.kubectl_stdin(&["create", "-f", "-"], &node("n0", Some("10.60.0.0/24"))).status.success());
    assert!(s.kubectl_stdin(&["create", "-f", "-"], &node("n1", None)).status.success());
    let first = eventually("n1's pod CIDR", || pod_cidr(&s, "n1"));
    assert_eq!(first, "10.60.1.0/24");
    assert_eq!(pod_cidr(&s, "n0").as_deref(), Some("10.60.0.0/24"));

    assert!(s.ok(&["delete", "node", "n1"]).contains("deleted"));
    for name in ["n2", "n3", "n4"] {
        assert!(s.kubectl_stdin(&["create", "-f", "-"], &node(name, None)).status.success());
    }
    let blocks: Vec<String> =
        ["n2", "n3", "n4"].iter().map(|n| eventually("a pod CIDR", || pod_cidr(&s, n))).collect();
    let mut sorted = blocks.clone();
    sorted.sort();
    assert_eq!(sorted, ["10.60.1.0/24", "10.60.2.0/24", "10.60.3.0/24"], "{blocks:?}");

    // The range is full: the next node waits, with upstream's event.
    assert!(s.kubectl_stdin(&["create", "-f", "-"], &node("n5", None)).status.success());
    eventually("the CIDRNotAvailable event", || {
        let events = s.ok(&["get", "events", "--field-selector", "reason=CIDRNotAvailable", "-o", "name"]);
        (!events.trim().is_empty()).then_some(())
    });
    assert_eq!(pod_cidr(&s, "n5"), None);
    assert!(s.ok(&["delete", "node", "n3"]).contains("deleted"));
    let freed = blocks[1].clone();
    assert_eq!(eventually("n5's pod CIDR once one is free", || pod_cidr(&s, "n5")), freed);
}
