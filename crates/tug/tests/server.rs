//! End to end: the `tug` binary's start-up, shutdown and command-line errors.

mod common;

use std::process::Command;

use common::{Server, TUG};

/// The revision on the server's "datastore ready" line.
fn ready_revision(s: &Server) -> i64 {
    let line = s.startup_log.iter().find(|l| l.contains("datastore ready")).expect("datastore ready line");
    let digits: String =
        line.split("revision=").nth(1).unwrap_or_default().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("no revision in {line}"))
}

#[test]
fn server_opens_the_embedded_datastore_and_keeps_it_across_restarts() {
    let mut s = Server::start();
    assert_eq!(ready_revision(&s), 1, "a new store starts at revision 1");
    assert!(s.interrupt().success(), "SIGINT stops the server cleanly");
    assert!(s.data_dir().join("db/state.redb").exists());

    let mut s = s.restart();
    assert!(ready_revision(&s) > 1, "the bootstrap objects were kept");
    assert!(s.interrupt().success());
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
