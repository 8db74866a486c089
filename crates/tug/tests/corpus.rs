//! End to end: the 150 manifests from the Kubernetes website (`shared/corpus/website-examples`)
//! applied with the real kubectl. Each one must apply, read back with every field it set, and
//! delete cleanly; the few upstream rejects must be rejected with upstream's reason.

mod common;

use std::path::{Path, PathBuf};

use common::Server;
use serde_json::Value;

fn corpus_dir() -> PathBuf {
    std::env::var_os("TUG_CORPUS").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/website-examples")
    })
}

/// Files upstream 1.35 rejects (SOURCE.md), with what the rejection says.
const REJECTED: &[(&str, &str)] = &[
    ("controllers/job-success-policy-example.yaml", "resource name may not be empty"),
    ("application/job/cronjob.yaml", "no matches for kind \"CronJob\" in version \"batch/v1beta1\""),
    ("application/job/job-tmpl.yaml", "metadata.name: Invalid value: \"process-item-$ITEM\""),
    // Not in SOURCE.md's list, but `emptyDir.mode` arrived after 1.35: the v1.35 API types
    // (k8s-openapi's v1_35) have no such field, the v1.37 ones do, so strict decoding in 1.35
    // rejects it.
    (
        "pods/emptydir-volume-mode.yaml",
        "Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.volumes[0].emptyDir.mode\"",
    ),
    (
        "pods/probe/grpc-liveness.yaml",
        "Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.containers[0].livenessProbe.gRPC\"",
    ),
    (
        "pods/pod-with-node-affinity.yaml",
        "Pod in version \"v1\" cannot be handled as a Pod: json: cannot unmarshal array into Go struct field NodeAffinity.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution of type v1.NodeSelector",
    ),
];

fn manifests(subdir: &str) -> Vec<String> {
    let root = corpus_dir();
    assert!(root.is_dir(), "the corpus is missing at {} (set TUG_CORPUS)", root.display());
    let mut out = Vec::new();
    let mut stack = vec![root.join(subdir)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path.strip_prefix(&root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// Every value the manifest sets is in the stored object. Lists may have gained items from
/// defaulting (a pod's default tolerations), so each manifest item must match one stored item.
fn contains(stored: &Value, wanted: &Value) -> bool {
    match (stored, wanted) {
        (Value::Object(s), Value::Object(w)) => {
            w.iter().all(|(k, v)| v.is_null() || s.get(k).is_some_and(|sv| contains(sv, v)))
        }
        (Value::Array(s), Value::Array(w)) if s.len() == w.len() => {
            s.iter().zip(w).all(|(sv, wv)| contains(sv, wv))
        }
        (Value::Array(s), Value::Array(w)) => w.iter().all(|wv| s.iter().any(|sv| contains(sv, wv))),
        (s, w) => s == w,
    }
}

/// The objects in kubectl's JSON output: one object, a List, or several objects in a row.
fn items(output: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for v in serde_json::Deserializer::from_str(output).into_iter::<Value>() {
        let v = v.expect("kubectl printed JSON");
        match v.get("items") {
            Some(Value::Array(items)) if v.get("kind").and_then(Value::as_str) == Some("List") => {
                out.extend(items.iter().cloned())
            }
            _ => out.push(v),
        }
    }
    out
}

fn run_folder(subdir: &str) {
    let s = Server::start();
    let root = corpus_dir();
    let mut failures = Vec::new();
    for file in manifests(subdir) {
        let path = root.join(&file);
        let path = path.to_str().unwrap();
        let mut out = s.kubectl(&["apply", "-f", path]);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        if let Some((_, reason)) = REJECTED.iter().find(|(f, _)| *f == file) {
            if out.status.success() || !err.contains(reason) {
                failures.push(format!("{file}: expected a rejection with {reason:?}, got: {err}"));
            }
            continue;
        }
        // Namespaces the tutorials create first.
        if let Some(ns) = err.split("namespaces \"").nth(1).and_then(|r| r.split('"').next()) {
            s.ok(&["create", "namespace", ns]);
            out = s.kubectl(&["apply", "-f", path]);
        }
        if !out.status.success() {
            failures.push(format!("{file}: apply failed: {}", String::from_utf8_lossy(&out.stderr)));
            continue;
        }
        let wanted = s.kubectl(&["create", "--dry-run=client", "-f", path, "-o", "json"]);
        let stored = s.kubectl(&["get", "-f", path, "-o", "json"]);
        if !stored.status.success() {
            failures.push(format!("{file}: get failed: {}", String::from_utf8_lossy(&stored.stderr)));
            continue;
        }
        let (wanted, stored) = (
            items(&String::from_utf8_lossy(&wanted.stdout)),
            items(&String::from_utf8_lossy(&stored.stdout)),
        );
        for (w, st) in wanted.iter().zip(&stored) {
            if !contains(st, w) {
                failures.push(format!("{file}: stored object lost fields of the manifest:\n{st}\nvs\n{w}"));
            }
        }
        let deleted = s.kubectl(&["delete", "-f", path, "--wait=false"]);
        if !deleted.status.success() {
            failures.push(format!("{file}: delete failed: {}", String::from_utf8_lossy(&deleted.stderr)));
            continue;
        }
        let gone = s.kubectl(&["get", "-f", path, "-o", "name"]);
        let gone_err = String::from_utf8_lossy(&gone.stderr);
        if gone.status.success() || !gone_err.contains("NotFound") {
            failures
                .push(format!("{file}: still there after delete: {}", String::from_utf8_lossy(&gone.stdout)));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn controllers_manifests() {
    run_folder("controllers");
}

#[test]
fn application_manifests() {
    run_folder("application");
}

#[test]
fn pods_manifests() {
    run_folder("pods");
}
