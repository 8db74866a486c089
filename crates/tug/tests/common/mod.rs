//! Harness for end-to-end tests: a real `tug server` in a temporary directory and the real
//! kubectl pointed at it.

#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::mpsc,
    time::Duration,
};

pub mod node;

pub const TUG: &str = env!("CARGO_BIN_EXE_tug");

/// The kubectl the tests drive: `$TUG_KUBECTL`, or the one `scripts/setup.sh` installs.
pub fn kubectl_bin() -> PathBuf {
    std::env::var_os("TUG_KUBECTL").map_or_else(|| PathBuf::from("/opt/tugboat/bin/kubectl"), PathBuf::from)
}

/// The helm the tests drive: `$TUG_HELM`, or the one `scripts/setup.sh` installs.
pub fn helm_bin() -> PathBuf {
    std::env::var_os("TUG_HELM").map_or_else(|| PathBuf::from("/opt/tugboat/bin/helm"), PathBuf::from)
}

/// A running `tug server`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub log: mpsc::Receiver<String>,
    /// Log lines up to the readiness line.
    pub startup_log: Vec<String>,
}

impl Server {
    /// Starts a server on a free port and waits until the API answers.
    pub fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir)
    }

    pub fn start_in(dir: tempfile::TempDir) -> Server {
        Self::start_with(dir, &[])
    }

    /// Starts a server with extra command-line arguments, without a node agent of its own
    /// (the tests' nodes are simulated or started as `tug agent`).
    pub fn start_with(dir: tempfile::TempDir, extra: &[&str]) -> Server {
        let own_agent = if extra.contains(&"--disable-agent") { None } else { Some("--disable-agent") };
        Self::spawn(dir, own_agent.iter().copied().chain(extra.iter().copied()))
    }

    /// Starts a server that runs its own node agent (real containers: see `node::can_run`).
    pub fn start_with_agent(dir: tempfile::TempDir, extra: &[&str]) -> Server {
        Self::spawn(dir, extra.iter().copied())
    }

    fn spawn<'a>(dir: tempfile::TempDir, extra: impl Iterator<Item = &'a str>) -> Server {
        let mut child = Command::new(TUG)
            .args(["server", "--bind-address", "127.0.0.1", "--https-port", "0", "--data-dir"])
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tug starts");
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[tug] {line}");
                let _ = tx.send(line);
            }
        });
        let mut server = Server { child, dir, log: rx, startup_log: Vec::new() };
        loop {
            let line = server.next_log_line();
            let ready = line.contains("API server ready");
            server.startup_log.push(line);
            if ready {
                return server;
            }
        }
    }

    fn next_log_line(&self) -> String {
        self.log.recv_timeout(Duration::from_secs(30)).expect("the server logs within 30 s")
    }

    /// Sends SIGINT and waits for the server to exit.
    pub fn interrupt(&mut self) -> std::process::ExitStatus {
        Command::new("kill").args(["-INT", &self.child.id().to_string()]).status().unwrap();
        self.child.wait().unwrap()
    }

    /// Stops the server (SIGKILL) and starts it again on the same data directory.
    pub fn restart(mut self) -> Server {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        Server::start_in(dir)
    }

    pub fn wait_for_log(&self, needle: &str) -> String {
        loop {
            let line = self.next_log_line();
            if line.contains(needle) {
                return line;
            }
        }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig.yaml")
    }

    /// Runs kubectl with this server's kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_stdin(args, "")
    }

    /// Runs kubectl with `stdin` as its standard input (for `-f -`).
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        self.kubectl_full(args, stdin, &[])
    }

    /// Runs kubectl with extra environment variables (e.g. `EDITOR` for `kubectl edit`).
    pub fn kubectl_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.kubectl_full(args, "", env)
    }

    fn kubectl_full(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
        let mut child = Command::new(kubectl_bin())
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .env("HOME", self.dir.path())
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs (scripts/setup.sh installs it)");
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs helm with this server's kubeconfig, in the server's data directory.
    pub fn helm(&self, args: &[&str]) -> Output {
        Command::new(helm_bin())
            .args(args)
            .current_dir(self.dir.path())
            .env("KUBECONFIG", self.kubeconfig())
            .env("HOME", self.dir.path())
            .env("HELM_CACHE_HOME", self.dir.path().join(".helm/cache"))
            .env("HELM_CONFIG_HOME", self.dir.path().join(".helm/config"))
            .env("HELM_DATA_HOME", self.dir.path().join(".helm/data"))
            .output()
            .expect("helm runs (scripts/setup.sh installs it)")
    }

    /// Runs helm and returns its stdout, failing the test if it fails.
    pub fn helm_ok(&self, args: &[&str]) -> String {
        let out = self.helm(args);
        assert!(out.status.success(), "helm {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs kubectl and returns its stdout, failing the test if it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(out.status.success(), "kubectl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// `kubectl apply -f -` of `manifest` (with `extra` arguments), expecting success; returns
    /// stdout.
    pub fn apply_with(&self, manifest: &str, extra: &[&str]) -> String {
        let mut args = vec!["apply", "-f", "-"];
        args.extend_from_slice(extra);
        let out = self.kubectl_stdin(&args, manifest);
        assert!(out.status.success(), "kubectl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn apply(&self, manifest: &str) -> String {
        self.apply_with(manifest, &[])
    }

    /// Runs kubectl expecting failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} should have failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The rows of kubectl's table output, split on runs of spaces.
pub fn rows(output: &str) -> Vec<Vec<String>> {
    output.lines().map(|l| l.split_whitespace().map(str::to_string).collect()).collect()
}

/// The server's URL, from the kubeconfig it wrote.
pub fn server_url(s: &Server) -> String {
    let kubeconfig = std::fs::read_to_string(s.kubeconfig()).unwrap();
    let line = kubeconfig.lines().find_map(|l| l.trim().strip_prefix("server: ")).expect("a server line");
    line.to_string()
}

pub fn join_token(s: &Server) -> String {
    std::fs::read_to_string(s.data_dir().join("token")).unwrap().trim().to_string()
}

/// A running `tug agent` with its own data directory; killed when dropped.
pub struct Agent(Child, tempfile::TempDir);

impl Agent {
    pub fn start(s: &Server, extra: &[&str]) -> Agent {
        // Each agent gets a data directory of its own (logs, containerd) unless the test names one.
        let dir = tempfile::tempdir().expect("a data directory for the agent");
        let mut command = Command::new(TUG);
        command.args(["agent", "--server", &server_url(s), "--token", &join_token(s)]);
        if !extra.contains(&"--data-dir") {
            command.arg("--data-dir").arg(dir.path());
        }
        let mut child = command
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tug agent starts");
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[agent] {line}");
            }
        });
        Agent(child, dir)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `check` until it returns something, failing the test after `secs` seconds.
pub fn eventually_within<T>(what: &str, secs: u64, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Polls `check` until it returns something. The 90 s budget is for a loaded CI machine; a
/// passing test returns at the first success.
pub fn eventually<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    eventually_within(what, 90, check)
}

/// The messages of the events about the object `name` with `reason`, oldest first.
pub fn event_messages(s: &Server, name: &str, reason: &str) -> Vec<String> {
    let out = s.ok(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={name},reason={reason}"),
        "-o",
        "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}",
    ]);
    out.lines().map(str::to_string).collect()
}
