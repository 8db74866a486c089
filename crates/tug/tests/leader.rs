//! End to end: the controller manager and the scheduler inside `tug server` stop when another
//! holder takes their Lease, and lead again once it lapses, as upstream's components do by
//! exiting and being restarted.

mod common;

use common::{Agent, Server, eventually};

const LEASES: [&str; 2] = ["kube-controller-manager", "kube-scheduler"];

fn holder(s: &Server, lease: &str) -> String {
    s.ok(&["get", "lease", "-n", "kube-system", lease, "-o", "jsonpath={.spec.holderIdentity}"])
}

/// Writes the lease as another holder would: renewed at `renewed`, for an hour.
fn hold_as(s: &Server, lease: &str, identity: &str, renewed: &str) {
    let patch = serde_json::json!({"spec": {"holderIdentity": identity, "renewTime": renewed, "leaseDurationSeconds": 3600}});
    s.ok(&["patch", "lease", "-n", "kube-system", lease, "--type", "merge", "-p", &patch.to_string()]);
}

const WORK: &str = r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: later}
spec:
  replicas: 1
  selector: {matchLabels: {app: later}}
  template:
    metadata: {labels: {app: later}}
    spec:
      containers: [{name: c, image: nginx}]
"#;

#[test]
fn losing_the_lease_stops_the_work_until_it_is_regained() {
    let s = Server::start();
    let _agent = Agent::start(&s, &["--simulate", "1"]);
    let ours: Vec<String> = LEASES
        .iter()
        .map(|l| eventually(&format!("{l} to be held"), || Some(holder(&s, l)).filter(|h| !h.is_empty())))
        .collect();

    for lease in LEASES {
        hold_as(&s, lease, "intruder", "2100-01-01T00:00:00.000000Z");
    }
    // Logged once the term's runtime, and every task on it, is gone.
    let stopped: Vec<String> = (0..2).map(|_| s.wait_for_log("stopped leading")).collect();
    for lease in LEASES {
        assert!(stopped.iter().any(|l| l.ends_with(&format!("lease={lease}"))), "{stopped:?}");
    }
    for lease in LEASES {
        assert_eq!(holder(&s, lease), "intruder", "the server must not take back a live lease");
    }

    let out = s.kubectl_stdin(&["apply", "-f", "-"], WORK);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The intruder's lease lapses: the server campaigns, wins and works again.
    for lease in LEASES {
        hold_as(&s, lease, "intruder", "2000-01-01T00:00:00.000000Z");
    }
    for (lease, was) in LEASES.iter().zip(&ours) {
        let now = eventually(&format!("{lease} to be regained"), || {
            Some(holder(&s, lease)).filter(|h| h != "intruder")
        });
        assert_eq!(&now, was, "the same identity leads again");
    }
    let transitions =
        s.ok(&["get", "lease", "-n", "kube-system", LEASES[0], "-o", "jsonpath={.spec.leaseTransitions}"]);
    assert_eq!(transitions, "1");
    eventually("the ReplicaSet's pod to be created and scheduled", || {
        let node = s.ok(&["get", "pods", "-l", "app=later", "-o", "jsonpath={.items[*].spec.nodeName}"]);
        (node == "sim-node-0").then_some(())
    });
}
