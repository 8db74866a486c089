//! The real node agent's container settings on containerd, driven with the real kubectl:
//! resources as cgroup limits and OOMKilled, securityContext, hostname and the managed
//! /etc/hosts, dnsPolicy with `--cluster-dns`, and host namespaces. Needs root, containerd,
//! runc and the CNI plugins: fails under `CI=true` when it cannot run, skips elsewhere.

mod common;

use common::node::{RealNode, poll, test_registry};
use serde_json::{Value, json};
use tug_oci::testimages;

/// A pod of one busybox container running `script`.
fn pod(name: &str, image: &str, policy: &str, script: &str, spec: Value, container: Value) -> String {
    let mut c = json!({"name": "main", "image": image, "command": ["sh", "-c", script]});
    merge(&mut c, container);
    let mut s = json!({"restartPolicy": policy, "terminationGracePeriodSeconds": 1, "containers": [c]});
    merge(&mut s, spec);
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": s}).to_string()
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

fn jsonpath(node: &RealNode, pod: &str, path: &str) -> String {
    node.server.ok(&["get", "pod", pod, "-o", &format!("jsonpath={path}")])
}

/// The node's memory capacity in bytes (`status.capacity.memory`, in Ki as the agent writes it).
fn node_memory(node: &RealNode) -> i64 {
    let memory = node.server.ok(&["get", "node", &node.name, "-o", "jsonpath={.status.capacity.memory}"]);
    let kib = memory.strip_suffix("Ki").unwrap_or_else(|| panic!("memory capacity in Ki: {memory}"));
    kib.parse::<i64>().unwrap() * 1024
}

/// Reads the cgroup settings of its own container under either cgroup version.
const CGROUP_SCRIPT: &str = "if [ -f /sys/fs/cgroup/cpu.max ]; then \
     echo \"cpu $(cat /sys/fs/cgroup/cpu.max)\"; echo \"memory $(cat /sys/fs/cgroup/memory.max)\"; \
     else echo \"cpu $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)\"; \
     echo \"shares $(cat /sys/fs/cgroup/cpu/cpu.shares)\"; \
     echo \"memory $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)\"; fi; \
     echo \"oom $(cat /proc/self/oom_score_adj)\"; echo \"pid1 $(cat /proc/1/comm)\"; cat /proc/self/cgroup";

#[test]
fn container_settings_reach_the_agents_containerd() {
    let Some(registry) = test_registry() else { return };
    let busybox = registry.image(testimages::BUSYBOX);
    let node = RealNode::start_with(&registry, &["--cluster-dns", "10.43.0.10"]);
    let server = &node.server;
    let apply = |manifest: String| {
        let out = server.kubectl_stdin(&["apply", "-f", "-"], &manifest);
        assert!(out.status.success(), "apply: {}", String::from_utf8_lossy(&out.stderr));
    };

    // Everything is created at once; each check then waits for its own pod.
    let limits = json!({"resources": {
        "requests": {"cpu": "250m", "memory": "64Mi"},
        "limits": {"cpu": "500m", "memory": "64Mi"},
    }});
    apply(pod("limits", &busybox, "Never", CGROUP_SCRIPT, json!({}), limits));
    let oom_limits = json!({"resources": {"limits": {"memory": "32Mi"}}});
    // The pause lets containerd's shim start watching the cgroup's OOM events (it does so just
    // after the task starts); a container killed before that exits 137 without the reason.
    let hog = "sleep 2; exec dd if=/dev/zero of=/dev/null bs=256M count=1";
    apply(pod("oom", &busybox, "Never", hog, json!({}), oom_limits.clone()));
    apply(pod("oomloop", &busybox, "Always", hog, json!({}), oom_limits));
    let user_script = "id -u; id -g; id -G; touch /tmp/x 2>&1; grep -E 'NoNewPrivs|CapBnd' /proc/self/status";
    let user_spec = json!({"securityContext": {
        "runAsUser": 1000, "runAsGroup": 2000, "supplementalGroups": [4000], "fsGroup": 3000,
    }});
    let user_container = json!({"securityContext": {
        "runAsUser": 1234, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]},
    }});
    apply(pod("user", &busybox, "Never", user_script, user_spec, user_container));
    let non_root = json!({"securityContext": {"runAsNonRoot": true}});
    apply(pod("nonroot", &busybox, "Never", "id -u", non_root, json!({})));
    let named_spec = json!({
        "hostname": "web", "subdomain": "sub",
        "hostAliases": [{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar.local"]}],
    });
    apply(pod(
        "named",
        &busybox,
        "Never",
        "hostname; cat /etc/hosts; cat /etc/resolv.conf",
        named_spec,
        json!({}),
    ));
    let host_spec = json!({"hostNetwork": true, "hostPID": true});
    let host_script =
        "echo \"host $(hostname)\"; echo \"pid1 $(cat /proc/1/comm)\"; cat /etc/hosts; cat /etc/resolv.conf";
    apply(pod("hostnet", &busybox, "Never", host_script, host_spec, json!({})));

    // Requests and limits are the container's cgroup settings; oom_score_adj follows the
    // Burstable formula; the pod's cgroup is under /kubepods/burstable; the container has its
    // own PID namespace.
    node.wait_for_status("limits", "Completed");
    let uid = jsonpath(&node, "limits", "{.metadata.uid}");
    assert_eq!(jsonpath(&node, "limits", "{.status.qosClass}"), "Burstable");
    let logs = server.ok(&["logs", "limits"]);
    let memory = 64 << 20;
    assert!(logs.contains("cpu 50000 100000\n"), "{logs}");
    assert!(logs.contains("shares 256\n") || !logs.contains("shares "), "cgroup v1's cpu.shares: {logs}");
    assert!(logs.contains(&format!("memory {memory}\n")), "{logs}");
    let expected_oom = (1000 - 1000 * memory / node_memory(&node)).clamp(3, 999);
    assert!(logs.contains(&format!("oom {expected_oom}\n")), "{logs}");
    assert!(logs.contains("pid1 sh\n"), "{logs}");
    assert!(logs.contains(&format!("/kubepods/burstable/pod{uid}/")), "{logs}");

    // A container over its memory limit is OOMKilled; under Never the pod fails.
    node.wait_for_status("oom", "OOMKilled");
    let state = "{.status.containerStatuses[0].state.terminated.reason} \
                 {.status.containerStatuses[0].state.terminated.exitCode} {.status.phase}";
    assert_eq!(jsonpath(&node, "oom", state), "OOMKilled 137 Failed");
    // Under Always it is restarted, backing off, its last state OOMKilled.
    poll("pod oomloop backs off after an OOM kill", || {
        let (status, restarts) = node.status_and_restarts("oomloop")?;
        let last = jsonpath(&node, "oomloop", "{.status.containerStatuses[0].lastState.terminated.reason}");
        (status == "CrashLoopBackOff" && restarts.parse::<u32>().is_ok_and(|r| r >= 1) && last == "OOMKilled")
            .then_some(())
    });

    // The user, groups (fsGroup and supplementalGroups), read-only root, no_new_privs and
    // dropped capabilities.
    node.wait_for_status("user", "Completed");
    let logs = server.ok(&["logs", "user"]);
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(&lines[..2], ["1234", "2000"], "{logs}");
    let groups: Vec<&str> = lines[2].split_whitespace().collect();
    assert!(groups.contains(&"3000") && groups.contains(&"4000"), "{logs}");
    assert!(logs.contains("Read-only file system"), "{logs}");
    assert!(logs.contains("NoNewPrivs:\t1"), "{logs}");
    assert!(logs.contains("CapBnd:\t0000000000000000"), "{logs}");

    // runAsNonRoot with an image that runs as root is refused before the container exists.
    node.wait_for_status("nonroot", "CreateContainerConfigError");
    let message = jsonpath(&node, "nonroot", "{.status.containerStatuses[0].state.waiting.message}");
    let pod_ref = format!("nonroot_default({})", jsonpath(&node, "nonroot", "{.metadata.uid}"));
    assert_eq!(
        message,
        format!(
            "container has runAsNonRoot and image will run as root (pod: \"{pod_ref}\", container: main)"
        )
    );

    // hostname and subdomain, the managed /etc/hosts with the FQDN and hostAliases, and
    // ClusterFirst through --cluster-dns.
    node.wait_for_status("named", "Completed");
    let ip = jsonpath(&node, "named", "{.status.podIP}");
    let logs = server.ok(&["logs", "named"]);
    assert!(logs.starts_with("web\n# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"), "{logs}");
    assert!(logs.contains(&format!("\n{ip}\tweb.sub.default.svc.cluster.local\tweb\n")), "{logs}");
    assert!(logs.contains("# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n"), "{logs}");
    assert!(logs.contains("nameserver 10.43.0.10"), "{logs}");
    assert!(logs.contains("search default.svc.cluster.local svc.cluster.local cluster.local"), "{logs}");
    assert!(logs.contains("options ndots:5"), "{logs}");

    // hostNetwork and hostPID: the node's address, name, PID 1 and /etc/hosts; ClusterFirst on
    // the host network is the host's resolver.
    node.wait_for_status("hostnet", "Completed");
    let host_ip = jsonpath(&node, "hostnet", "{.status.hostIP}");
    assert_eq!(jsonpath(&node, "hostnet", "{.status.podIP}"), host_ip);
    let logs = server.ok(&["logs", "hostnet"]);
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert!(logs.contains(&format!("host {}\n", hostname.trim())), "{logs}");
    let pid1 = std::fs::read_to_string("/proc/1/comm").unwrap();
    assert!(logs.contains(&format!("pid1 {}\n", pid1.trim())), "{logs}");
    assert!(logs.contains("# Kubernetes-managed hosts file (host network).\n"), "{logs}");
    assert!(!logs.contains("ndots:5"), "{logs}");

    // Deleting a pod removes its cgroup and its managed files.
    server.ok(&["delete", "pod", "limits", "--timeout=60s"]);
    let pod_dir = node.data_dir().join("agent/pods").join(&uid);
    poll("the deleted pod's directory is removed", || (!pod_dir.exists()).then_some(()));
    let cgroup = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        format!("/sys/fs/cgroup/kubepods/burstable/pod{uid}")
    } else {
        format!("/sys/fs/cgroup/memory/kubepods/burstable/pod{uid}")
    };
    poll("the deleted pod's cgroup is removed", || (!std::path::Path::new(&cgroup).exists()).then_some(()));
    drop(node);
    drop(registry);
}
