//! End to end: the real `tug` binary.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

const TUG: &str = env!("CARGO_BIN_EXE_tug");

/// A running `tug server`, killed if a test fails before stopping it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tug server`; returns it and its log lines.
fn start_server(data_dir: &std::path::Path) -> (Server, mpsc::Receiver<String>) {
    let mut child = Command::new(TUG)
        .args(["server", "--data-dir"])
        .arg(data_dir)
        .args(["--https-port", "0"])
        .env("TUG_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tug starts");
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (Server(child), rx)
}

fn wait_for(rx: &mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        let line =
            rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| panic!("no {needle:?} in the log"));
        if line.contains(needle) {
            return line;
        }
    }
}

fn interrupt(server: &mut Server) -> std::process::ExitStatus {
    Command::new("kill").args(["-INT", &server.0.id().to_string()]).status().unwrap();
    server.0.wait().unwrap()
}

#[test]
fn server_opens_the_embedded_datastore_and_keeps_it_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, log) = start_server(dir.path());
    let ready = wait_for(&log, "datastore ready");
    assert!(ready.contains("revision=1"), "a new store starts at revision 1: {ready}");
    assert!(interrupt(&mut child).success(), "SIGINT stops the server cleanly");
    assert!(dir.path().join("db/state.redb").exists());

    let (mut child, log) = start_server(dir.path());
    wait_for(&log, "datastore ready");
    assert!(interrupt(&mut child).success());
}

#[test]
fn server_reports_an_unreachable_etcd_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(TUG)
        .args(["server", "--data-dir"])
        .arg(dir.path())
        .args(["--datastore-endpoint", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("connecting to etcd at http://127.0.0.1:1"), "{stderr}");
}

#[test]
fn parts_not_built_yet_fail_with_a_message() {
    let out = Command::new(TUG).args(["up", "--nodes", "2"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not built yet"));
}
