//! End to end: the scheduler inside `tug server` binds pods to Node objects made with the real
//! kubectl (no kubelet needed), and explains with upstream's words why it cannot.

mod common;

use common::{Server, event_messages, eventually, rows};

/// A Node object as a kubelet would register it: capacity and allocatable, labels, taints.
fn node(name: &str, cpu: &str, labels: &[(&str, &str)]) -> String {
    let mut l = serde_json::json!({"kubernetes.io/hostname": name});
    for (k, v) in labels {
        l[k] = serde_json::json!(v);
    }
    let resources = serde_json::json!({"cpu": cpu, "memory": "1Gi", "pods": "110"});
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": l},
        "status": {"capacity": resources, "allocatable": resources}
    })
    .to_string()
}

fn pod(name: &str, cpu: &str, spec: serde_json::Value) -> String {
    let mut s = serde_json::json!({
        "containers": [{"name": "app", "image": "nginx", "resources": {"requests": {"cpu": cpu}}}]
    });
    if let (Some(s), Some(extra)) = (s.as_object_mut(), spec.as_object()) {
        s.extend(extra.clone());
    }
    serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": s}).to_string()
}

fn apply(s: &Server, doc: &str) {
    let out = s.kubectl_stdin(&["apply", "-f", "-"], doc);
    assert!(out.status.success(), "apply failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// The NODE column of `kubectl get pod -o wide`, once the pod has one.
fn node_of(s: &Server, pod: &str) -> Option<String> {
    let table = rows(&s.ok(&["get", "pod", pod, "-o", "wide"]));
    let col = table[0].iter().position(|h| h == "NODE")?;
    // STATUS "Pending" and friends are single words, so the columns line up.
    let node = table.get(1)?.get(col)?.clone();
    (node != "<none>").then_some(node)
}

fn wait_for_node(s: &Server, pod: &str) -> String {
    eventually(&format!("{pod} to be scheduled"), || node_of(s, pod))
}

/// The message of the pod's FailedScheduling event once it says `want`.
fn failed_scheduling(s: &Server, pod: &str, want: &str) -> String {
    eventually(&format!("FailedScheduling for {pod}: {want}"), || {
        event_messages(s, pod, "FailedScheduling").into_iter().find(|l| l == want)
    })
}

#[test]
fn pods_are_bound_and_unschedulable_ones_explained_until_a_node_fits() {
    let s = Server::start();
    apply(&s, &node("small-1", "250m", &[]));
    apply(&s, &node("small-2", "250m", &[]));

    apply(&s, &pod("web", "100m", serde_json::json!({})));
    let placed = wait_for_node(&s, "web");
    assert!(placed.starts_with("small-"), "{placed}");
    let events = eventually("the Scheduled event", || {
        let out = s.ok(&["get", "events", "--field-selector", "involvedObject.name=web,reason=Scheduled"]);
        out.contains("Successfully assigned default/web to").then_some(out)
    });
    assert!(events.contains(&format!("Successfully assigned default/web to {placed}")), "{events}");
    assert_eq!(
        s.ok(&[
            "get",
            "pod",
            "web",
            "-o",
            "jsonpath={.status.conditions[0].type}={.status.conditions[0].status}"
        ]),
        "PodScheduled=True"
    );

    apply(&s, &pod("big", "500m", serde_json::json!({})));
    let want = "0/2 nodes are available: 2 Insufficient cpu. no new claims to deallocate, preemption: 0/2 nodes \
                are available: 2 Preemption is not helpful for scheduling.";
    failed_scheduling(&s, "big", want);
    let describe = eventually("the PodScheduled=False condition", || {
        let d = s.ok(&["describe", "pod", "big"]);
        d.contains("PodScheduled   False").then_some(d)
    });
    assert!(describe.contains("FailedScheduling") && describe.contains(want), "{describe}");
    assert_eq!(
        s.ok(&["get", "pod", "big", "-o", "jsonpath={.status.conditions[0].reason}"]),
        "Unschedulable"
    );
    assert_eq!(node_of(&s, "big"), None);

    // A node with room arrives: the parked pod is retried and placed there.
    apply(&s, &node("large", "4", &[]));
    assert_eq!(wait_for_node(&s, "big"), "large");
}

#[test]
fn node_selectors_taints_and_cordons() {
    let s = Server::start();
    apply(&s, &node("n1", "1", &[]));
    apply(&s, &node("n2", "1", &[]));

    apply(&s, &pod("ssd", "100m", serde_json::json!({"nodeSelector": {"disk": "ssd"}})));
    failed_scheduling(
        &s,
        "ssd",
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. no new claims to \
         deallocate, preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
    );
    assert_eq!(s.ok(&["label", "nodes", "n2", "disk=ssd"]), "node/n2 labeled\n");
    assert_eq!(wait_for_node(&s, "ssd"), "n2");

    assert_eq!(s.ok(&["taint", "nodes", "n1", "dedicated=gpu:NoSchedule"]), "node/n1 tainted\n");
    assert_eq!(s.ok(&["cordon", "n2"]), "node/n2 cordoned\n");
    apply(&s, &pod("plain", "100m", serde_json::json!({})));
    failed_scheduling(
        &s,
        "plain",
        "0/2 nodes are available: 1 node(s) had untolerated taint(s), 1 node(s) were unschedulable. no new \
         claims to deallocate, preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
    );
    let tolerant = serde_json::json!({"tolerations": [
        {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]});
    apply(&s, &pod("gpu", "100m", tolerant));
    assert_eq!(wait_for_node(&s, "gpu"), "n1");
    assert_eq!(node_of(&s, "plain"), None);

    assert_eq!(s.ok(&["uncordon", "n2"]), "node/n2 uncordoned\n");
    assert_eq!(wait_for_node(&s, "plain"), "n2");
}

#[test]
fn the_scheduler_can_be_switched_off_and_takes_the_lease() {
    let s = Server::start_with(tempfile::tempdir().unwrap(), &["--disable-scheduler"]);
    apply(&s, &node("n1", "1", &[]));
    apply(&s, &pod("idle", "100m", serde_json::json!({})));
    assert_eq!(node_of(&s, "idle"), None);
    assert!(s.fails(&["get", "lease", "kube-scheduler", "-n", "kube-system"]).contains("NotFound"));

    let s = Server::start();
    let holder = eventually("the scheduler's lease", || {
        let out = s.kubectl(&[
            "get",
            "lease",
            "kube-scheduler",
            "-n",
            "kube-system",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).to_string())
            .filter(|h| !h.is_empty())
    });
    assert!(holder.contains('_'), "{holder}");
}
