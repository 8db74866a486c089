//! End to end: `kubectl exec` and `kubectl attach` through the API server to the node agent.
//! The simulated nodes check the API server's side (validation, errors, the upgrade reaching
//! the agent); the real node runs commands in busybox containers on containerd (needs root,
//! containerd, runc and the CNI plugins: fails under `CI=true` when it cannot run, skips with a
//! message elsewhere).

mod common;

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use common::{
    Agent, Server, kubectl_bin,
    node::{RealNode, poll, test_registry},
};
use tug_oci::testimages;

/// Polls `check` until it returns `Some`, failing the test with `what` after `timeout`.
fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

const SIM_PODS: &str = "
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  nodeName: sim-node-0
  containers: [{name: main, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: unscheduled}
spec:
  schedulerName: nobody
  containers: [{name: main, image: busybox}]
";

#[test]
fn exec_is_checked_by_the_api_server_and_refused_by_simulated_nodes() {
    let s = Server::start();
    let _agent = Agent::start(&s, &["--simulate", "1"]);
    wait_for("the node", Duration::from_secs(30), || {
        s.kubectl(&["get", "node", "sim-node-0"]).status.success().then_some(())
    });
    let out = s.kubectl_stdin(&["apply", "-f", "-"], SIM_PODS);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_for("web to run", Duration::from_secs(30), || {
        (s.kubectl(&["get", "pod", "web", "-o", "jsonpath={.status.phase}"]).stdout == b"Running")
            .then_some(())
    });

    let err = s.fails(&["exec", "web", "-c", "nope", "--", "true"]);
    assert!(err.contains("container nope is not valid for pod web"), "{err}");
    let err = s.fails(&["exec", "unscheduled", "--", "true"]);
    assert!(err.contains("pod unscheduled does not have a host assigned"), "{err}");
    let err = s.fails(&["exec", "missing", "--", "true"]);
    assert!(err.contains(r#"pods "missing" not found"#), "{err}");
    // The upgrade reaches the simulated node's agent, which has no containers to run it in.
    let err = s.fails(&["exec", "web", "--", "true"]);
    assert!(err.contains("runs on a simulated node, which has no container main to exec"), "{err}");
    let err = s.fails(&["attach", "web"]);
    assert!(err.contains("which has no container main to attach"), "{err}");
}

fn real_pods(busybox: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: shell
  annotations: {{kubectl.kubernetes.io/default-container: main}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: main, image: {busybox}, command: [sleep, '3600']}}
  - {{name: side, image: {busybox}, command: [sh, -c, 'echo side > /tmp/who; sleep 3600']}}
---
apiVersion: v1
kind: Pod
metadata: {{name: reader}}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: main, image: {busybox}, stdin: true, command: [sh, -c, 'while read line; do echo got $line; done']}}
---
apiVersion: v1
kind: Pod
metadata: {{name: done}}
spec:
  restartPolicy: Never
  containers:
  - {{name: main, image: {busybox}, command: ['true']}}
---
apiVersion: v1
kind: Pod
metadata: {{name: unpullable}}
spec:
  containers:
  - {{name: main, image: 127.0.0.1:1/missing:1}}
"
    )
}

/// kubectl with the server's kubeconfig, `input` on its stdin, and a deadline.
fn kubectl_with_input(s: &Server, args: &[&str], input: &str) -> std::process::Output {
    let mut child = Command::new(kubectl_bin())
        .args(args)
        .env("KUBECONFIG", s.kubeconfig())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(input.as_bytes()).expect("kubectl reads its stdin");
    drop(stdin);
    finish(child, args)
}

/// Waits for `child` up to a minute, killing it after that (a hung session fails the test).
fn finish(mut child: std::process::Child, what: &[&str]) -> std::process::Output {
    let start = Instant::now();
    while child.try_wait().expect("waiting for kubectl").is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let out = child.wait_with_output().expect("kubectl's output");
            panic!(
                "{what:?} did not finish: stdout {:?}, stderr {:?}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().expect("kubectl's output")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn kubectl_exec_and_attach_reach_containers_on_the_real_agent() {
    let Some(registry) = test_registry() else { return };
    let busybox = registry.image(testimages::BUSYBOX);
    let node = RealNode::start(&registry);
    let s = &node.server;
    s.ok(&["create", "service", "clusterip", "my-db", "--tcp=5432:5432"]);
    let out = s.kubectl_stdin(&["apply", "-f", "-"], &real_pods(&busybox));
    assert!(out.status.success(), "{}", text(&out.stderr));
    node.wait_for_status("shell", "Running");

    // Output and exit codes.
    assert_eq!(s.ok(&["exec", "shell", "--", "echo", "hi"]), "hi\n");
    // The environment names the API server's Service, and the namespace's own (links are on).
    let env = s.ok(&["exec", "shell", "--", "env"]);
    assert!(env.contains("KUBERNETES_SERVICE_HOST=10.43.0.1\n"), "{env}");
    assert!(env.contains("KUBERNETES_PORT_443_TCP=tcp://10.43.0.1:443\n"), "{env}");
    let db_ip = s.ok(&["get", "service", "my-db", "-o", "jsonpath={.spec.clusterIP}"]);
    assert!(env.contains(&format!("MY_DB_SERVICE_HOST={db_ip}\n")), "{env}");
    assert!(env.contains("MY_DB_SERVICE_PORT=5432\n"), "{env}");
    let out = s.kubectl(&["exec", "shell", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "out\n");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("err\n") && stderr.contains("command terminated with exit code 3"), "{stderr}");
    let err = s.fails(&["exec", "shell", "--", "/no/such/binary"]);
    assert!(err.contains("no such file or directory"), "{err}");

    // SPDY, kubectl's fallback, goes through to containerd's own SPDY.
    let spdy = [("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")];
    let out = s.kubectl_env(&["exec", "shell", "--", "sh", "-c", "echo over spdy; exit 5"], &spdy);
    assert_eq!((out.status.code(), text(&out.stdout).as_str()), (Some(5), "over spdy\n"));
    assert!(text(&out.stderr).contains("command terminated with exit code 5"), "{}", text(&out.stderr));

    // Containers by name: the annotation's default, -c, and upstream's error for a bad name.
    assert_eq!(s.ok(&["exec", "shell", "-c", "side", "--", "cat", "/tmp/who"]), "side\n");
    let out = s.kubectl(&["exec", "shell", "--", "cat", "/tmp/who"]);
    assert!(!out.status.success(), "main has no /tmp/who: {}", text(&out.stdout));
    let err = s.fails(&["exec", "shell", "-c", "nope", "--", "true"]);
    assert!(err.contains("container nope is not valid for pod shell"), "{err}");

    // Standard input, to its end.
    let out = kubectl_with_input(s, &["exec", "-i", "shell", "--", "cat"], "line one\nline two\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "line one\nline two\n");

    // kubectl cp: tar through exec both ways (binary data, stdin to its end).
    let dir = tempfile::tempdir().expect("a scratch dir");
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.path().join("up.bin"), &payload).expect("writing the payload");
    let local = dir.path().join("up.bin").display().to_string();
    s.ok(&["cp", &local, "shell:/tmp/up.bin"]);
    assert_eq!(
        s.ok(&["exec", "shell", "--", "wc", "-c", "/tmp/up.bin"]).split_whitespace().next(),
        Some("200000")
    );
    let back = dir.path().join("down.bin").display().to_string();
    s.ok(&["cp", "shell:/tmp/up.bin", &back]);
    assert!(std::fs::read(&back).expect("the copy back") == payload, "the file came back changed");

    // A terminal: kubectl needs one of its own, which script(1) gives it, sized so that the
    // resize kubectl sends shows inside.
    let command = format!("stty rows 33 cols 77; {} exec -ti shell -- sh", kubectl_bin().display());
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("KUBECONFIG", s.kubeconfig())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) runs (util-linux)");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(b"stty size; echo $((6*7)); exit 4\n").expect("script reads its stdin");
    let out = finish(child, &["exec", "-ti"]);
    drop(stdin);
    let seen = text(&out.stdout);
    assert!(seen.contains("42"), "{seen}");
    assert!(seen.contains("33 77"), "the terminal's size reaches the container: {seen}");
    assert_eq!(out.status.code(), Some(4), "{seen} {}", text(&out.stderr));

    // Attach to a container reading its stdin.
    node.wait_for_status("reader", "Running");
    // What the container prints before the attachment is complete is not seen: ask until it
    // answers. Closing the attached stdin then ends the session (containerd detaches stdout
    // with it when the container's stdin is not stdinOnce).
    let mut child = Command::new(kubectl_bin())
        .args(["attach", "-i", "reader"])
        .env("KUBECONFIG", s.kubeconfig())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let start = Instant::now();
    let answer = loop {
        stdin.write_all(b"hello\n").expect("kubectl reads its stdin");
        match lines.recv_timeout(Duration::from_millis(500)) {
            Ok(line) => break Some(line),
            Err(mpsc::RecvTimeoutError::Timeout) if start.elapsed() < Duration::from_secs(60) => {}
            Err(_) => break None,
        }
    };
    drop(stdin);
    if answer.as_deref() != Some("got hello") {
        let _ = child.kill();
        let out = child.wait_with_output().expect("kubectl's output");
        panic!("attach answered {answer:?}: {}", text(&out.stderr));
    }
    let out = finish(child, &["attach", "-i"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Pods whose containers do not run.
    node.wait_for_status("done", "Completed");
    let err = s.fails(&["exec", "done", "--", "true"]);
    assert!(
        err.contains("cannot exec into a container in a completed pod; current phase is Succeeded"),
        "{err}"
    );
    poll("unpullable fails its pull", || {
        node.status_and_restarts("unpullable").filter(|(s, _)| s.contains("ImagePull")).map(drop)
    });
    let err = s.fails(&["exec", "unpullable", "--", "true"]);
    assert!(err.contains(r#"unable to upgrade connection: container not found ("main")"#), "{err}");
}
