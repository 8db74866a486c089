//! End to end: the real helm v4 (which installs with server-side apply and keeps releases in
//! Secrets sent as protobuf) against a real `tug server`.

mod common;

use common::{Server, rows};

#[test]
fn install_upgrade_list_and_uninstall_a_created_chart() {
    let s = Server::start();
    s.helm_ok(&["create", "mychart"]);
    let out = s.helm_ok(&["install", "demo", "./mychart"]);
    assert!(out.contains("STATUS: deployed"), "{out}");
    let list = rows(&s.helm_ok(&["list"]));
    assert_eq!(&list[1][..3], ["demo", "default", "1"]);
    assert!(list[1].contains(&"deployed".to_string()), "{list:?}");
    assert_eq!(s.ok(&["get", "deploy", "demo-mychart", "-o", "jsonpath={.spec.replicas}"]), "1");
    let ip = s.ok(&["get", "svc", "demo-mychart", "-o", "jsonpath={.spec.clusterIP}"]);
    assert!(ip.starts_with("10.43."), "{ip}");
    // The release is a Secret of helm's type.
    let secrets = s.ok(&["get", "secrets", "-l", "owner=helm", "-o", "jsonpath={.items[*].type}"]);
    assert_eq!(secrets, "helm.sh/release.v1");

    let out = s.helm_ok(&["upgrade", "demo", "./mychart", "--set", "replicaCount=3"]);
    assert!(out.contains("has been upgraded"), "{out}");
    assert_eq!(s.ok(&["get", "deploy", "demo-mychart", "-o", "jsonpath={.spec.replicas}"]), "3");
    assert_eq!(rows(&s.helm_ok(&["list"]))[1][2], "2");

    assert_eq!(s.helm_ok(&["uninstall", "demo"]), "release \"demo\" uninstalled\n");
    assert!(s.fails(&["get", "deploy", "demo-mychart"]).contains("NotFound"));
    assert_eq!(rows(&s.helm_ok(&["list"])).len(), 1, "only the header is left");
}
