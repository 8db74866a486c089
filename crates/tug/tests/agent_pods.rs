//! The real node agent on containerd: `tug agent` registers this machine as a Node and runs
//! the pods bound to it, driven with the real kubectl. Needs root, containerd, runc and the CNI
//! plugins: fails under `CI=true` when it cannot run, skips with a message elsewhere.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use common::{
    kubectl_bin,
    node::{RealNode, poll, test_registry},
    rows,
};
use tug_oci::{testimages, testing::LocalRegistry};

fn pod_yaml(name: &str, image: &str, policy: &str, script: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: {policy}\n  \
         terminationGracePeriodSeconds: 300\n  containers:\n  - name: main\n    image: {image}\n    \
         command: [\"sh\", \"-c\", {script:?}]\n    env:\n    - name: POD_NAME\n      valueFrom:\n        \
         fieldRef: {{fieldPath: metadata.name}}\n"
    )
}

#[test]
fn pods_run_complete_crash_and_are_deleted_on_the_agents_containerd() {
    let Some(registry) = test_registry() else { return };
    let busybox = registry.image(testimages::BUSYBOX);
    let node =
        RealNode::start_with(&registry, &["--kube-reserved", "cpu=500m", "--system-reserved", "memory=1Gi"]);
    let server = &node.server;
    let resources = |path: &str| {
        let q = server.ok(&["get", "node", &node.name, "-o", &format!("jsonpath={path}")]);
        q.trim_end_matches("Ki").trim_end_matches('m').parse::<u64>().expect("a quantity")
    };
    let (cpu, allocatable_cpu) =
        (resources("{.status.capacity.cpu}"), resources("{.status.allocatable.cpu}"));
    assert_eq!(allocatable_cpu, cpu * 1000 - 500, "cpu={cpu}, allocatable {allocatable_cpu}m");
    let (memory, allocatable_memory) =
        (resources("{.status.capacity.memory}"), resources("{.status.allocatable.memory}"));
    assert_eq!(
        memory - allocatable_memory,
        (1 << 20) + 100 * 1024,
        "reserved 1Gi plus the 100Mi eviction threshold"
    );
    let pressure = server.ok(&[
        "get",
        "node",
        &node.name,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"MemoryPressure\")].reason}",
    ]);
    assert_eq!(pressure, "KubeletHasSufficientMemory");

    let labels = server.ok(&["get", "node", &node.name, "-o", "jsonpath={.metadata.labels}"]);
    assert!(labels.contains(&format!("\"kubernetes.io/hostname\":\"{}\"", node.name)), "{labels}");
    let pod_cidr = server.ok(&["get", "node", &node.name, "-o", "jsonpath={.spec.podCIDR}"]);
    let lease = server.ok(&["get", "lease", "-n", "kube-node-lease", &node.name, "-o", "name"]);
    assert_eq!(lease.trim(), format!("lease.coordination.k8s.io/{}", node.name));

    // Runs to completion under Never.
    let done = pod_yaml("done", &busybox, "Never", "echo hi $POD_NAME; sleep 1; exit 0");
    server.kubectl_stdin(&["apply", "-f", "-"], &done);
    poll("pod done is Completed", || {
        node.status_and_restarts("done").filter(|(s, _)| s == "Completed").map(drop)
    });
    // The node lists the images it pulled.
    poll("the node lists its images", || {
        let names = server.ok(&["get", "node", &node.name, "-o", "jsonpath={.status.images[*].names}"]);
        (names.contains("pause") && names.contains("busybox")).then_some(())
    });
    let phase = server.ok(&["get", "pod", "done", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(phase, "Succeeded");
    let exit = server.ok(&[
        "get",
        "pod",
        "done",
        "-o",
        "jsonpath={.status.containerStatuses[0].state.terminated.exitCode} \
         {.status.containerStatuses[0].containerID}",
    ]);
    assert!(exit.starts_with("0 containerd://"), "{exit}");
    // kubectl logs reads the container's CRI log through the API server and the agent.
    assert_eq!(server.ok(&["logs", "done"]).trim(), "hi done");
    let stamped = server.ok(&["logs", "done", "--timestamps"]);
    assert!(stamped.trim_end().ends_with("Z hi done"), "{stamped}");
    let reasons = "jsonpath={range .items[?(@.involvedObject.name==\"done\")]}{.reason} {end}";
    poll("the kubelet's events about pod done are recorded", || {
        let events = server.ok(&["get", "events", "-o", reasons]);
        ["Pulling", "Pulled", "Created", "Started"].iter().all(|r| events.contains(r)).then_some(())
    });

    // Runs until deleted, with an address from the node's range; stops on SIGTERM.
    let forever =
        pod_yaml("forever", &busybox, "Always", "echo up; trap 'echo bye; exit 0' TERM; sleep 3600 & wait");
    server.kubectl_stdin(&["apply", "-f", "-"], &forever);
    let ip = poll("pod forever is Running", || {
        let (status, _) = node.status_and_restarts("forever")?;
        let ip = server.ok(&["get", "pod", "forever", "-o", "jsonpath={.status.podIP}"]);
        (status == "Running" && !ip.is_empty()).then_some(ip)
    });
    let prefix = pod_cidr.trim_end_matches("0/24");
    assert!(pod_cidr.ends_with(".0/24") && ip.starts_with(prefix), "pod IP {ip} not in {pod_cidr}");
    let conditions = server.ok(&[
        "get",
        "pod",
        "forever",
        "-o",
        "jsonpath={range .status.conditions[*]}{.type}={.status} {end}",
    ]);
    for c in ["PodScheduled=True", "Initialized=True", "ContainersReady=True", "Ready=True"] {
        assert!(conditions.contains(c), "{conditions}");
    }
    // Its usage, as metrics-server reads it from the kubelet, here through the node proxy.
    let metrics =
        server.ok(&["get", "--raw", &format!("/api/v1/nodes/{}/proxy/metrics/resource", node.name)]);
    assert!(
        metrics.contains(
            "container_memory_working_set_bytes{container=\"main\",namespace=\"default\",pod=\"forever\"}"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nnode_cpu_usage_seconds_total ") && metrics.contains("resource_scrape_error 0"),
        "{metrics}"
    );
    // kubectl logs -f follows the running container and ends when it stops.
    let mut follower = Command::new(kubectl_bin())
        .args(["logs", "-f", "forever"])
        .env("KUBECONFIG", server.kubeconfig())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("kubectl runs");
    let stdout = follower.stdout.take().expect("piped stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    assert_eq!(lines.recv_timeout(Duration::from_secs(30)).ok().as_deref(), Some("up"));
    // The grace period is 300 s: deletion within the timeout means the container got SIGTERM.
    server.ok(&["delete", "pod", "forever", "--timeout=90s"]);
    assert_eq!(lines.recv_timeout(Duration::from_secs(30)).ok().as_deref(), Some("bye"));
    let status = poll("kubectl logs -f to end", || follower.try_wait().ok().flatten());
    assert!(status.success(), "{status}");
    server.fails(&["get", "pod", "forever"]);

    // Exits 1 under Always: restarted, then backing off.
    let crash = pod_yaml("crash", &busybox, "Always", "exit 1");
    server.kubectl_stdin(&["apply", "-f", "-"], &crash);
    poll("pod crash is in CrashLoopBackOff after a restart", || {
        node.status_and_restarts("crash")
            .filter(|(s, r)| s == "CrashLoopBackOff" && r.parse::<u32>().is_ok_and(|r| r >= 1))
            .map(drop)
    });

    // A restarted agent takes its running pods back without restarting them.
    let keep = pod_yaml("keep", &busybox, "Always", "trap 'exit 0' TERM; sleep 3600 & wait");
    server.kubectl_stdin(&["apply", "-f", "-"], &keep);
    poll("pod keep is Running", || node.status_and_restarts("keep").filter(|(s, _)| s == "Running"));
    let id_path = "jsonpath={.status.containerStatuses[0].containerID}";
    let before = server.ok(&["get", "pod", "keep", "-o", id_path]);
    let mut node = node;
    node.restart_agent();
    let server = &node.server;
    let after = pod_yaml("after", &busybox, "Always", "trap 'exit 0' TERM; sleep 3600 & wait");
    server.kubectl_stdin(&["apply", "-f", "-"], &after);
    poll("pod after runs on the restarted agent", || {
        node.status_and_restarts("after").filter(|(s, _)| s == "Running")
    });
    assert_eq!(node.status_and_restarts("keep"), Some(("Running".into(), "0".into())));
    assert_eq!(server.ok(&["get", "pod", "keep", "-o", id_path]), before);
    drop(node);
    drop(registry);
}

#[test]
fn the_server_runs_its_own_node_unless_disabled() {
    let Some(registry) = test_registry() else { return };
    let busybox = registry.image(testimages::BUSYBOX);
    let node = RealNode::start_in_server(&registry);
    let server = &node.server;
    let nodes = server.ok(&["get", "nodes", "-o", "name"]);
    assert_eq!(nodes.trim(), format!("node/{}", node.name));
    let row = server.ok(&["get", "node", &node.name, "--no-headers"]);
    assert_eq!(rows(&row)[0][2], "control-plane", "the ROLES column: {row}");
    let hello = pod_yaml("hello", &busybox, "Never", "echo hello from $POD_NAME");
    server.kubectl_stdin(&["apply", "-f", "-"], &hello);
    node.wait_for_status("hello", "Completed");
    assert_eq!(server.ok(&["logs", "hello"]).trim(), "hello from hello");
    drop(node);
    drop(registry);
}

#[test]
fn private_images_pull_with_the_pods_image_pull_secrets() {
    let Some(public) = test_registry() else { return };
    let mut private = public.rt.block_on(LocalRegistry::with_test_images()).expect("a second registry");
    public.rt.block_on(private.require_basic_auth()).expect("the second registry asks for credentials");
    let node = RealNode::start(&public);
    let server = &node.server;
    let image = private.image(testimages::BUSYBOX);

    let anonymous = pod_yaml("anonymous", &image, "Never", "echo in");
    server.kubectl_stdin(&["apply", "-f", "-"], &anonymous);
    poll("a pull without credentials fails", || {
        node.status_and_restarts("anonymous").filter(|(s, _)| s == "ErrImagePull" || s == "ImagePullBackOff")
    });

    server.ok(&[
        "create",
        "secret",
        "docker-registry",
        "regcred",
        &format!("--docker-server={}", private.host()),
        &format!("--docker-username={}", tug_oci::testing::REGISTRY_USER),
        &format!("--docker-password={}", tug_oci::testing::REGISTRY_PASSWORD),
    ]);
    let with_secret = pod_yaml("with-secret", &image, "Never", "echo pulled with credentials")
        + "  imagePullSecrets:\n  - name: regcred\n";
    server.kubectl_stdin(&["apply", "-f", "-"], &with_secret);
    node.wait_for_status("with-secret", "Completed");
    assert_eq!(server.ok(&["logs", "with-secret"]).trim(), "pulled with credentials");
    drop(node);
    drop(private);
    drop(public);
}

#[test]
fn jobs_complete_and_a_pod_ignoring_sigterm_is_killed_after_its_grace_period() {
    let Some(registry) = test_registry() else { return };
    let busybox = registry.image(testimages::BUSYBOX);
    let node = RealNode::start(&registry);
    let server = &node.server;

    // A Job runs to completion on real containers.
    server.ok(&["create", "job", "hello", &format!("--image={busybox}"), "--", "sh", "-c", "echo job done"]);
    server.ok(&["wait", "--for=condition=complete", "job/hello", "--timeout=120s"]);
    assert_eq!(server.ok(&["logs", "job/hello"]).trim(), "job done");
    let succeeded = server.ok(&["get", "job", "hello", "-o", "jsonpath={.status.succeeded}"]);
    assert_eq!(succeeded, "1");

    // PID 1 without a handler ignores SIGTERM: only SIGKILL, after the 2 s grace period, ends
    // it (a 300 s grace would outlast the delete's timeout).
    let stubborn = pod_yaml("stubborn", &busybox, "Always", "sleep 3600")
        .replace("terminationGracePeriodSeconds: 300", "terminationGracePeriodSeconds: 2");
    server.kubectl_stdin(&["apply", "-f", "-"], &stubborn);
    node.wait_for_status("stubborn", "Running");
    server.ok(&["delete", "pod", "stubborn", "--timeout=60s"]);
    server.fails(&["get", "pod", "stubborn"]);
    drop(node);
    drop(registry);
}
