//! End to end: the `tug` binary's start-up, shutdown and command-line errors.

mod common;

use std::process::Command;

use common::{Server, TUG};

#[test]
fn server_opens_the_embedded_datastore_and_keeps_it_across_restarts() {
    let mut s = Server::start();
    let ready = s.startup_log.iter().find(|l| l.contains("datastore ready")).expect("datastore ready line");
    assert!(ready.contains("revision=1"), "a new store starts at revision 1: {ready}");
    assert!(s.interrupt().success(), "SIGINT stops the server cleanly");
    assert!(s.data_dir().join("db/state.redb").exists());

    let mut s = s.restart();
    let ready = s.startup_log.iter().find(|l| l.contains("datastore ready")).expect("datastore ready line");
    assert!(!ready.contains("revision=1"), "the bootstrap objects were kept: {ready}");
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
