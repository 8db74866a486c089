//! End to end: everyday kubectl flows (apply of a directory, output formats, label selection,
//! edit, rollout, scale, conflicts, bad input) against a real `tug server`. Each test checks what
//! kubectl prints against upstream Kubernetes: the same lines, columns, errors and exit codes.

mod common;

use std::{os::unix::fs::PermissionsExt, path::Path};

use common::{Server, rows};

/// Writes `text` to `dir/name` and returns the path as a string for kubectl's `-f`.
fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// An executable `EDITOR` for `kubectl edit`: runs a sed expression on the file kubectl hands it.
fn editor(dir: &Path, name: &str, sed: &str) -> String {
    let path = write(dir, name, &format!("#!/bin/sh\nexec sed -i '{sed}' \"$1\"\n"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Applies `doc` from standard input, failing the test if kubectl fails.
const TWO_CONFIGMAPS: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: one
  labels: {app: flows, tier: front}
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: two
  labels: {app: flows, tier: back}
data: {k: v}
";

const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flows\n";

fn deployment(name: &str, app: &str) -> String {
    format!(
        r#"{{"apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {{"name": "{name}", "labels": {{"app": "{app}"}}}},
  "spec": {{"replicas": 1, "selector": {{"matchLabels": {{"app": "{name}"}}}},
    "template": {{"metadata": {{"labels": {{"app": "{name}"}}}},
      "spec": {{"containers": [{{"name": "c", "image": "nginx"}}]}}}}}}}}"#
    )
}

#[test]
fn apply_a_directory_then_reapply_it() {
    let s = Server::start();
    let dir = s.data_dir().join("manifests");
    std::fs::create_dir(&dir).unwrap();
    // kubectl reads a directory's .yaml/.yml/.json files in name order, and skips the others.
    write(&dir, "a.yaml", TWO_CONFIGMAPS);
    write(&dir, "b.yaml", NAMESPACE);
    write(&dir, "c.json", &deployment("x", "x"));
    write(&dir, "notes.txt", "not a manifest");
    let dir = dir.to_str().unwrap();

    let created = s.ok(&["apply", "-f", dir]);
    assert_eq!(
        created,
        "configmap/one created\nconfigmap/two created\nnamespace/flows created\ndeployment.apps/x created\n"
    );
    let unchanged = s.ok(&["apply", "-f", dir]);
    assert_eq!(
        unchanged,
        "configmap/one unchanged\nconfigmap/two unchanged\nnamespace/flows unchanged\n\
         deployment.apps/x unchanged\n"
    );
    // Only the changed document is patched.
    write(Path::new(dir), "a.yaml", &TWO_CONFIGMAPS.replacen("data: {k: v}", "data: {k: w}", 1));
    let configured = s.ok(&["apply", "-f", dir]);
    assert_eq!(
        configured,
        "configmap/one configured\nconfigmap/two unchanged\nnamespace/flows unchanged\n\
         deployment.apps/x unchanged\n"
    );
    assert_eq!(s.ok(&["get", "cm", "one", "-o", "jsonpath={.data.k}"]), "w");
    // `kubectl delete -f` of the same directory removes all of it.
    let deleted = s.ok(&["delete", "-f", dir]);
    for line in ["configmap \"one\" deleted", "namespace \"flows\" deleted", "deployment.apps \"x\" deleted"]
    {
        assert!(deleted.contains(line), "{line} missing:\n{deleted}");
    }
}

#[test]
fn get_across_namespaces_with_label_columns_and_output_formats() {
    let s = Server::start();
    s.apply(NAMESPACE);
    s.apply(TWO_CONFIGMAPS);
    let out = s.kubectl_stdin(&["apply", "-n", "flows", "-f", "-"], &TWO_CONFIGMAPS.replace("one", "three"));
    assert!(out.status.success(), "{}", stderr(&out));

    // -A adds a NAMESPACE column; the rows come namespace by namespace, then by name.
    let table = rows(&s.ok(&["get", "cm", "-A", "-l", "app=flows"]));
    assert_eq!(table[0], ["NAMESPACE", "NAME", "DATA", "AGE"]);
    let names: Vec<_> = table[1..].iter().map(|r| (r[0].as_str(), r[1].as_str(), r[2].as_str())).collect();
    assert_eq!(
        names,
        [("default", "one", "1"), ("default", "two", "1"), ("flows", "three", "1"), ("flows", "two", "1")]
    );

    // -L adds a column per label key, in the order asked; a missing label is empty.
    let table = rows(&s.ok(&["get", "cm", "-l", "app=flows", "-L", "tier", "-L", "missing"]));
    assert_eq!(table[0], ["NAME", "DATA", "AGE", "TIER", "MISSING"]);
    assert_eq!((table[1][0].as_str(), table[1][3].as_str()), ("one", "front"));
    assert_eq!((table[2][0].as_str(), table[2][3].as_str()), ("two", "back"));
    assert_eq!(table[1].len(), 4, "an absent label prints nothing: {table:?}");

    // (`-l app` leaves out the root CA publisher's kube-root-ca.crt.)
    let table = rows(&s.ok(&["get", "cm", "-n", "flows", "-l", "app", "--show-labels"]));
    assert_eq!(table[0], ["NAME", "DATA", "AGE", "LABELS"]);
    assert_eq!(table[1][0], "three");
    assert_eq!(table[1][3], "app=flows,tier=front");

    assert_eq!(s.ok(&["get", "cm", "-l", "app=flows", "-o", "name"]), "configmap/one\nconfigmap/two\n");
    assert_eq!(
        s.ok(&["get", "cm", "-A", "-l", "tier=back", "-o", "name"]),
        "configmap/two\nconfigmap/two\n",
        "-o name drops the namespace"
    );
    let jsonpath = s.ok(&[
        "get",
        "cm",
        "-A",
        "-l",
        "app=flows",
        "-o",
        r#"jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}={.metadata.labels.tier}{"\n"}{end}"#,
    ]);
    assert_eq!(jsonpath, "default/one=front\ndefault/two=back\nflows/three=front\nflows/two=back\n");
    // A list is a v1 List to jsonpath; one object is the object itself.
    assert_eq!(s.ok(&["get", "cm", "-l", "app=flows", "-o", "jsonpath={.kind}"]), "List");
    assert_eq!(
        s.ok(&["get", "cm", "one", "-o", "jsonpath={.kind} {.metadata.labels}"]),
        r#"ConfigMap {"app":"flows","tier":"front"}"#
    );
    let err = s.fails(&["get", "cm", "one", "-o", "jsonpath={.data.k"]);
    assert!(err.contains("error: error parsing jsonpath {.data.k, unclosed action"), "{err}");
}

#[test]
fn delete_by_label_selector() {
    let s = Server::start();
    for (name, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
        s.apply(&deployment(name, app));
    }
    let out = s.kubectl(&["delete", "deployments", "-l", "app=x"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "deployment.apps \"a\" deleted from default namespace\n\
         deployment.apps \"b\" deleted from default namespace\n"
    );
    assert_eq!(s.ok(&["get", "deployments", "-o", "name"]), "deployment.apps/c\n");
    // Nothing left to match: kubectl says so (on stdout, unlike `get`) and still succeeds.
    let out = s.kubectl(&["delete", "deployments", "-l", "app=x"]);
    assert!(out.status.success());
    assert_eq!((stdout(&out).as_str(), stderr(&out).as_str()), ("No resources found\n", ""));
}

#[test]
fn edit_through_an_editor_script() {
    let s = Server::start();
    s.apply(&deployment("x", "x"));
    let sed = editor(s.data_dir(), "edit.sh", "s/image: nginx$/image: nginx:1.27/");
    let out = s.kubectl_env(&["edit", "deployment", "x"], &[("EDITOR", &sed)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "deployment.apps/x edited\n");
    assert_eq!(
        s.ok(&["get", "deploy", "x", "-o", "jsonpath={.spec.template.spec.containers[0].image}"]),
        "nginx:1.27"
    );
    // An editor that saves the file as it was changes nothing, and kubectl says so.
    let out = s.kubectl_env(&["edit", "deployment", "x"], &[("EDITOR", "true")]);
    assert!(out.status.success());
    assert_eq!((stdout(&out).as_str(), stderr(&out).as_str()), ("", "Edit cancelled, no changes made.\n"));
    // A failing editor is an error: nothing is sent.
    let out = s.kubectl_env(&["edit", "deployment", "x"], &[("EDITOR", "false")]);
    assert!(!out.status.success());
    assert_eq!(s.ok(&["get", "deploy", "x", "-o", "jsonpath={.metadata.generation}"]), "2");
}

#[test]
fn edit_to_an_invalid_object_is_refused() {
    let s = Server::start();
    s.apply(&deployment("x", "x"));
    let sed = editor(s.data_dir(), "edit.sh", "s/replicas: 1$/replicas: -1/");
    let tmp = s.data_dir().to_str().unwrap().to_string();
    let out = s.kubectl_env(&["edit", "deployment", "x"], &[("EDITOR", &sed), ("TMPDIR", &tmp)]);
    // The server's 422 sends kubectl back to the editor; the script makes no further change,
    // so kubectl gives up and keeps a copy of the edit.
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("error: Edit cancelled, no valid changes were saved."), "{err}");
    assert_eq!(s.ok(&["get", "deploy", "x", "-o", "jsonpath={.spec.replicas}"]), "1");
}

#[test]
fn rollout_pause_resume_and_restart() {
    let s = Server::start();
    s.apply(&deployment("x", "x"));
    let paused = || s.ok(&["get", "deploy", "x", "-o", "jsonpath={.spec.paused}"]);

    assert_eq!(s.ok(&["rollout", "pause", "deployment/x"]), "deployment.apps/x paused\n");
    assert_eq!(paused(), "true");
    let err = s.fails(&["rollout", "pause", "deployment/x"]);
    assert_eq!(err, "error: deployments.apps \"x\" is already paused\n");
    // kubectl refuses to restart a paused Deployment.
    let err = s.fails(&["rollout", "restart", "deployment/x"]);
    assert!(err.contains("can't restart paused deployment (run rollout resume first)"), "{err}");

    assert_eq!(s.ok(&["rollout", "resume", "deployment/x"]), "deployment.apps/x resumed\n");
    // `paused: false` is Go's zero value, omitted from the stored object.
    assert_eq!(paused(), "");
    let err = s.fails(&["rollout", "resume", "deployment/x"]);
    assert_eq!(err, "error: deployments.apps \"x\" is not paused\n");

    assert_eq!(s.ok(&["rollout", "restart", "deployment/x"]), "deployment.apps/x restarted\n");
    let restarted = s.ok(&[
        "get",
        "deploy",
        "x",
        "-o",
        r"jsonpath={.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}",
    ]);
    assert!(restarted.ends_with('Z') && restarted.contains('T'), "an RFC 3339 time: {restarted:?}");
}

const SCALABLES: &str = "apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs1}
spec:
  replicas: 1
  selector: {matchLabels: {app: rs1}}
  template:
    metadata: {labels: {app: rs1}}
    spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: sts1}
spec:
  replicas: 1
  serviceName: sts1
  selector: {matchLabels: {app: sts1}}
  template:
    metadata: {labels: {app: sts1}}
    spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: rc1}
spec:
  replicas: 1
  selector: {app: rc1}
  template:
    metadata: {labels: {app: rc1}}
    spec: {containers: [{name: c, image: nginx}]}
";

#[test]
fn scale_replicasets_statefulsets_and_replication_controllers() {
    // Controllers off: this checks the scale subresources and tables as written, without
    // pods appearing underneath.
    let s = Server::start_with(tempfile::tempdir().unwrap(), &["--disable-controller", "all"]);
    assert_eq!(
        s.apply(SCALABLES),
        "replicaset.apps/rs1 created\nstatefulset.apps/sts1 created\nreplicationcontroller/rc1 created\n"
    );
    for (target, printed) in [
        ("rs/rs1", "replicaset.apps/rs1"),
        ("statefulset/sts1", "statefulset.apps/sts1"),
        ("rc/rc1", "replicationcontroller/rc1"),
    ] {
        assert_eq!(s.ok(&["scale", target, "--replicas=3"]), format!("{printed} scaled\n"));
        assert_eq!(s.ok(&["get", target, "-o", "jsonpath={.spec.replicas}"]), "3", "{target}");
    }
    // The scale subresource of a ReplicationController is an autoscaling/v1 Scale with the
    // selector as a string.
    let scale = s.ok(&["get", "--raw", "/api/v1/namespaces/default/replicationcontrollers/rc1/scale"]);
    let scale: serde_json::Value = serde_json::from_str(&scale).unwrap();
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(
        (scale["spec"]["replicas"].as_i64(), scale["status"]["selector"].as_str()),
        (Some(3), Some("app=rc1"))
    );

    // --current-replicas is checked against the scale subresource before anything is sent.
    let err = s.fails(&["scale", "rs", "rs1", "--current-replicas=2", "--replicas=4"]);
    assert_eq!(err, "error: Expected replicas to be 2, was 3\n");
    assert_eq!(
        s.ok(&["scale", "rs", "rs1", "--current-replicas=3", "--replicas=4"]),
        "replicaset.apps/rs1 scaled\n"
    );

    let table = rows(&s.ok(&["get", "rs,sts,rc"]));
    assert_eq!(table[0], ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]);
    assert_eq!(table[1][..4], ["replicaset.apps/rs1", "4", "0", "0"]);
    assert_eq!(table[3], ["NAME", "READY", "AGE"]);
    assert_eq!(table[4][..2], ["statefulset.apps/sts1", "0/3"]);
    assert_eq!(table[7][..4], ["replicationcontroller/rc1", "3", "0", "0"]);
}

#[test]
fn cluster_info_names_the_control_plane() {
    let s = Server::start();
    let server = s.ok(&["config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"]);
    assert!(server.starts_with("https://"), "{server}");
    assert_eq!(
        s.ok(&["cluster-info"]),
        format!(
            "Kubernetes control plane is running at {server}\n\n\
             To further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.\n"
        )
    );
}

#[test]
fn replace_with_a_stale_resource_version_conflicts() {
    let s = Server::start();
    s.apply(TWO_CONFIGMAPS);
    let stale = write(s.data_dir(), "stale.yaml", &s.ok(&["get", "cm", "one", "-o", "yaml"]));
    s.ok(&["label", "cm", "one", "changed=yes"]);

    let out = s.kubectl(&["replace", "-f", &stale]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "Error from server (Conflict): error when replacing \"{stale}\": Operation cannot be fulfilled on \
             configmaps \"one\": the object has been modified; please apply your changes to the latest \
             version and try again\n"
        )
    );
    assert_eq!(s.ok(&["get", "cm", "one", "-o", "jsonpath={.metadata.labels.changed}"]), "yes");

    // Without a resourceVersion the replace is unconditional and wins.
    let fresh = stale.replace("stale.yaml", "fresh.yaml");
    let text = std::fs::read_to_string(&stale).unwrap();
    let text: String =
        text.lines().filter(|l| !l.contains("resourceVersion:")).map(|l| format!("{l}\n")).collect();
    write(s.data_dir(), "fresh.yaml", &text);
    assert_eq!(s.ok(&["replace", "-f", &fresh]), "configmap/one replaced\n");
    assert_eq!(s.ok(&["get", "cm", "one", "-o", "jsonpath={.metadata.labels.changed}"]), "");
}

#[test]
fn malformed_input_and_unknown_kinds_are_refused() {
    let s = Server::start();
    // kubectl.rs covers invalid names through apply and unknown fields; these are the decoding
    // and mapping errors, and the imperative create path's invalid name.
    let out = s.kubectl_stdin(&["apply", "-f", "-"], "apiVersion: v1\nkind: Foo\nmetadata:\n  name: f\n");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: resource mapping not found for name: \"f\" namespace: \"\" from \"STDIN\": no matches for \
         kind \"Foo\" in version \"v1\"\nensure CRDs are installed first\n"
    );
    let out = s.kubectl_stdin(
        &["create", "-f", "-"],
        "apiVersion: nope.example.com/v1\nkind: Foo\nmetadata:\n  name: f\n",
    );
    assert!(stderr(&out).contains("no matches for kind \"Foo\" in version \"nope.example.com/v1\""));

    let out = s.kubectl_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: f\n  labels: [\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: error parsing STDIN: error converting YAML to JSON: yaml: line 5: did not find expected node \
         content\n"
    );
    let truncated = write(
        s.data_dir(),
        "bad.json",
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "f"}"#,
    );
    assert_eq!(
        s.fails(&["apply", "-f", &truncated]),
        format!("error: error parsing {truncated}: unexpected EOF\n")
    );

    // Well-formed but of the wrong type: the server's decoding error, as a 400.
    let out = s.kubectl_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: g\ndata: {a: 1}\n",
    );
    assert_eq!(
        stderr(&out),
        "Error from server (BadRequest): error when creating \"STDIN\": ConfigMap in version \"v1\" cannot be \
         handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type \
         string\n"
    );

    let err = s.fails(&["create", "deployment", "Bad", "--image=nginx"]);
    assert!(
        err.starts_with(
            "error: failed to create deployment: Deployment.apps \"Bad\" is invalid: metadata.name: Invalid \
             value: \"Bad\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters"
        ),
        "{err}"
    );
    assert_eq!(
        s.fails(&["get", "cm", "f"]).trim(),
        "Error from server (NotFound): configmaps \"f\" not found"
    );
}

#[test]
fn set_context_namespace_scopes_later_commands() {
    let s = Server::start();
    s.apply(NAMESPACE);
    let context = s.ok(&["config", "current-context"]);
    assert_eq!(
        s.ok(&["config", "set-context", "--current", "--namespace", "flows"]),
        format!("Context \"{}\" modified.\n", context.trim())
    );
    assert_eq!(s.ok(&["config", "view", "--minify", "-o", "jsonpath={..namespace}"]), "flows");
    assert_eq!(s.ok(&["create", "configmap", "here"]), "configmap/here created\n");
    assert_eq!(s.ok(&["get", "cm", "here", "-o", "jsonpath={.metadata.namespace}"]), "flows");
    let out = s.kubectl(&["get", "cm", "-n", "default", "--field-selector", "metadata.name=here"]);
    assert!(out.status.success());
    assert_eq!(stderr(&out), "No resources found in default namespace.\n");
    assert_eq!(rows(&s.ok(&["get", "cm", "here"]))[0], ["NAME", "DATA", "AGE"]);
}

const EVENT: &str = "apiVersion: v1
kind: Event
metadata: {name: f.1}
involvedObject: {apiVersion: v1, kind: ConfigMap, name: f}
reason: Tested
message: hello from the test
type: Warning
firstTimestamp: \"2026-01-01T00:00:00Z\"
lastTimestamp: \"2026-01-01T00:00:00Z\"
count: 2
source: {component: e2e}
";

#[test]
fn events_are_listed_with_their_columns() {
    let s = Server::start();
    s.ok(&["create", "namespace", "ev"]);
    let out = s.kubectl(&["get", "events", "-n", "ev"]);
    assert!(out.status.success());
    assert_eq!(stderr(&out), "No resources found in ev namespace.\n");

    let out = s.kubectl_stdin(&["create", "-n", "ev", "-f", "-"], EVENT);
    assert_eq!(stdout(&out), "event/f.1 created\n", "{}", stderr(&out));
    let table = rows(&s.ok(&["get", "events", "-n", "ev"]));
    assert_eq!(table[0], ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]);
    assert_eq!(table[1][1..], ["Warning", "Tested", "configmap/f", "hello", "from", "the", "test"]);
    // `kubectl events` prints its own table: the count in LAST SEEN, the object's kind as it is.
    let table = rows(&s.ok(&["events", "-n", "ev"]));
    assert_eq!(table[0], ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]);
    assert_eq!(table[1][1..3], ["(x2", "over"]);
    assert_eq!(table[1][4..], ["Warning", "Tested", "ConfigMap/f", "hello", "from", "the", "test"]);
    // Events are selected by their involved object, as `kubectl describe` does.
    let selected = s.ok(&[
        "get",
        "events",
        "-A",
        "--field-selector",
        "involvedObject.kind=ConfigMap,involvedObject.name=f,type=Warning",
        "-o",
        "name",
    ]);
    assert_eq!(selected, "event/f.1\n");
    assert_eq!(s.ok(&["get", "events", "-n", "ev", "--field-selector", "reason=Other", "-o", "name"]), "");
}

#[test]
fn events_are_one_resource_in_two_groups() {
    let s = Server::start();
    s.ok(&["create", "namespace", "ev"]);
    let out = s.kubectl_stdin(&["create", "-n", "ev", "-f", "-"], EVENT);
    assert!(out.status.success(), "{}", stderr(&out));
    // Upstream serves the same stored Events in both groups, converting the fields.
    let got = s.ok(&[
        "get",
        "events.v1.events.k8s.io",
        "-n",
        "ev",
        "-o",
        "jsonpath={.items[*].metadata.name} {.items[*].regarding.name} {.items[*].note}",
    ]);
    assert_eq!(got, "f.1 f hello from the test");
}

#[test]
fn create_a_job_from_a_cronjob() {
    // Controllers off: this checks what kubectl itself sends, before any controller acts.
    let s = Server::start_with(tempfile::tempdir().unwrap(), &["--disable-controller", "all"]);
    s.ok(&["create", "cronjob", "cj", "--image=busybox", "--schedule=*/5 * * * *", "--", "date"]);
    assert_eq!(s.ok(&["create", "job", "manual", "--from=cronjob/cj"]), "job.batch/manual created\n");
    let owner = s.ok(&[
        "get",
        "job",
        "manual",
        "-o",
        "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} \
         {.metadata.annotations.cronjob\\.kubernetes\\.io/instantiate} {.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(owner, "CronJob/cj manual busybox");
    let jobs = rows(&s.ok(&["get", "jobs"]));
    assert_eq!(jobs[0], ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]);
    // No controller has started it: no start time, so no duration.
    assert_eq!(jobs[1][..3], ["manual", "Running", "0/1"]);
    let cronjobs = rows(&s.ok(&["get", "cronjobs"]));
    assert_eq!(cronjobs[0], ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"]);
    assert_eq!(cronjobs[1][..9], ["cj", "*/5", "*", "*", "*", "*", "<none>", "False", "0"]);
}

/// A PKCS#10 request for CN=jane, O=dev (P-256), base64 of its PEM as the API carries it.
const JANE_CSR: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KTUlIWE1IOENBUUF3SFRFTk1Bc0dBMVVFQXd3RWFtRnVaVEVNTUFvR0ExVUVDZ3dEWkdWMk1Ga3dFd1lIS29aSQp6ajBDQVFZSUtvWkl6ajBEQVFjRFFnQUVDbUhjOVhJSkNoK2VYckVEN2x6eURwdHVKM20xYjBxbmhUcFpyaWM4CnJvY1NJeVMwR3RNanZ0aHlXM1hJMFVBMy9Sb0Y3T3V5WVQ1M0E1cC9kN0hrS2FBQU1Bb0dDQ3FHU000OUJBTUMKQTBnQU1FVUNJRUluMlZYSjNkR3dZd2dwUlg2c1lXSzIwbkxoZzVIMStvRDF1SG1VejBYZ0FpRUEzNWNwY0F6Vwp0RDMxZGxqYnQydTAybEtwRndmZy91ckFJbWUxSWN4R0RkYz0KLS0tLS1FTkQgQ0VSVElGSUNBVEUgUkVRVUVTVC0tLS0tCg==";

#[test]
fn certificate_signing_requests_are_approved_through_their_subresource() {
    let s = Server::start();
    let csr = format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: jane\nspec:\n  \
         request: {JANE_CSR}\n  signerName: kubernetes.io/kube-apiserver-client\n  expirationSeconds: 86400\n  \
         usages: [client auth]\n  username: someone-else\n"
    );
    let out = s.kubectl_stdin(&["create", "-f", "-"], &csr);
    assert_eq!(
        stdout(&out),
        "certificatesigningrequest.certificates.k8s.io/jane created\n",
        "{}",
        stderr(&out)
    );
    // The requestor is whoever sent it (the CN of the kubeconfig's admin certificate), not what
    // the body claims.
    let table = rows(&s.ok(&["get", "csr"]));
    assert_eq!(table[0], ["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION"]);
    assert_eq!(table[1][2..], ["kubernetes.io/kube-apiserver-client", "kubernetes-admin", "24h", "Pending"]);
    let groups = s.ok(&["get", "csr", "jane", "-o", "jsonpath={.spec.groups}"]);
    assert_eq!(groups, r#"["system:masters","system:authenticated"]"#);

    assert_eq!(
        s.ok(&["certificate", "approve", "jane"]),
        "certificatesigningrequest.certificates.k8s.io/jane approved\n"
    );
    assert_eq!(rows(&s.ok(&["get", "csr", "jane"]))[1][5], "Approved");
    // kubectl leaves lastTransitionTime unset; the server stamps it.
    let condition = s.ok(&[
        "get",
        "csr",
        "jane",
        "-o",
        "jsonpath={.status.conditions[0].type} {.status.conditions[0].reason} {.status.conditions[0].lastTransitionTime}",
    ]);
    let parts: Vec<&str> = condition.split(' ').collect();
    assert_eq!(parts[..2], ["Approved", "KubectlApprove"]);
    assert!(parts[2].ends_with('Z'), "{condition}");
    let err = s.fails(&["certificate", "deny", "jane"]);
    assert_eq!(err, "error: certificate signing request \"jane\" is already Approved\n");
}

#[test]
fn api_services_list_the_local_group_versions() {
    let s = Server::start();
    let table = rows(&s.ok(&["get", "apiservices"]));
    assert_eq!(table[0], ["NAME", "SERVICE", "AVAILABLE", "AGE"]);
    for name in ["v1.", "v1.apps", "v1.batch", "v2.autoscaling", "v1.apiextensions.k8s.io"] {
        assert!(table.iter().any(|r| r[0] == name && r[1..3] == ["Local", "True"]), "{name}: {table:?}");
    }
    let spec = s.ok(&[
        "get",
        "apiservice",
        "v1.apps",
        "-o",
        "jsonpath={.spec.group} {.spec.version} {.spec.groupPriorityMinimum} {.spec.versionPriority}",
    ]);
    assert_eq!(spec, "apps v1 17800 15");
}

#[test]
fn cordon_and_uncordon_select_nodes_by_unschedulable() {
    let s = Server::start();
    let out = s.kubectl_stdin(&["create", "-f", "-"], "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n");
    assert!(out.status.success(), "{}", stderr(&out));
    // An unset spec.unschedulable is `false` to a field selector, as Go prints the bool.
    let schedulable =
        || s.ok(&["get", "nodes", "--field-selector", "spec.unschedulable=false", "-o", "name"]);
    assert_eq!(schedulable(), "node/n1\n");
    assert_eq!(s.ok(&["cordon", "n1"]), "node/n1 cordoned\n");
    assert_eq!(schedulable(), "");
    assert_eq!(rows(&s.ok(&["get", "node", "n1"]))[1][1], "Unknown,SchedulingDisabled");
    assert_eq!(s.ok(&["uncordon", "n1"]), "node/n1 uncordoned\n");
    assert_eq!(s.ok(&["uncordon", "n1"]), "node/n1 already uncordoned\n");
    assert_eq!(schedulable(), "node/n1\n");
}

#[test]
fn cluster_admin_is_bound_to_system_masters() {
    let s = Server::start();
    let table = rows(&s.ok(&["get", "clusterrolebinding", "cluster-admin", "-o", "wide"]));
    assert_eq!(table[0], ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]);
    assert_eq!(table[1][..2], ["cluster-admin", "ClusterRole/cluster-admin"]);
    assert_eq!(table[1][3], "system:masters");
    let rules = s.ok(&[
        "get",
        "clusterrole",
        "cluster-admin",
        "-o",
        "jsonpath={.rules[0].verbs} {.rules[1].nonResourceURLs}",
    ]);
    assert_eq!(rules, r#"["*"] ["*"]"#);
}

#[test]
fn service_account_tokens_authenticate_and_review() {
    let s = Server::start();
    let whoami = rows(&s.ok(&["auth", "whoami"]));
    assert_eq!(whoami[0], ["ATTRIBUTE", "VALUE"]);
    assert_eq!(whoami[1], ["Username", "kubernetes-admin"]);
    assert_eq!(whoami[2], ["Groups", "[system:masters", "system:authenticated]"]);

    s.ok(&["create", "serviceaccount", "robot"]);
    let token = s.ok(&["create", "token", "robot"]);
    assert_eq!(token.trim().split('.').count(), 3, "a JWT: {token}");
    let err = s.fails(&["create", "token", "nobody"]);
    assert_eq!(err, "error: failed to create token: serviceaccounts \"nobody\" not found\n");
    let err = s.fails(&["create", "token", "robot", "--duration=1m"]);
    assert!(err.contains(
        "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"
    ));

    // The token is a bearer credential for the service account's user.
    let server = s.ok(&["config", "view", "-o", "jsonpath={.clusters[0].cluster.server}"]);
    let as_robot = |args: &[&str]| {
        let mut all = vec!["--kubeconfig=/dev/null", "--server", &server, "--insecure-skip-tls-verify"];
        all.extend(["--token", token.trim()]);
        all.extend(args);
        s.kubectl(&all)
    };
    let whoami = as_robot(&["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
    assert_eq!(stdout(&whoami), "system:serviceaccount:default:robot", "{}", stderr(&whoami));

    // A TokenReview says whom a token stands for.
    let review = |token: &str| {
        let doc = format!(
            r#"{{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {{"token": "{token}"}}}}"#
        );
        let out = s.kubectl_stdin(
            &[
                "create",
                "-f",
                "-",
                "-o",
                "jsonpath={.status.authenticated} {.status.user.username} {.status.error}",
            ],
            &doc,
        );
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    assert_eq!(review(token.trim()), "true system:serviceaccount:default:robot ");
    // A token bound to a Pod lives as long as that Pod.
    let pod =
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers: [{name: c, image: busybox}]\n";
    assert!(s.kubectl_stdin(&["create", "-f", "-"], pod).status.success());
    let bound = s.ok(&["create", "token", "robot", "--bound-object-kind=Pod", "--bound-object-name=p"]);
    assert_eq!(review(bound.trim()), "true system:serviceaccount:default:robot ");
    s.ok(&["delete", "pod", "p"]);
    assert_eq!(review(bound.trim()), "  service account token has been invalidated");
    // Deleting the service account revokes its tokens.
    s.ok(&["delete", "serviceaccount", "robot"]);
    assert_eq!(review(token.trim()), "  serviceaccounts \"robot\" not found");
    let out = as_robot(&["get", "configmaps"]);
    assert!(stderr(&out).contains("You must be logged in to the server"), "{}", stderr(&out));
}

#[test]
fn logs_of_an_unscheduled_pod_are_empty() {
    let s = Server::start();
    let pod =
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers: [{name: c, image: busybox}]\n";
    assert!(s.kubectl_stdin(&["create", "-f", "-"], pod).status.success());
    // Upstream streams nothing while the Pod has no node; an unknown container is a 400.
    assert_eq!(s.ok(&["logs", "p"]), "");
    let err = s.fails(&["logs", "p", "-c", "nope"]);
    assert!(err.contains("container nope is not valid for pod p"), "{err}");
}

#[test]
fn certificate_signing_requests_select_by_signer() {
    let s = Server::start();
    let csr = format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: jane\nspec:\n  \
         request: {JANE_CSR}\n  signerName: kubernetes.io/kube-apiserver-client\n  usages: [client auth]\n"
    );
    assert!(s.kubectl_stdin(&["create", "-f", "-"], &csr).status.success());
    let signer = |name: &str| {
        s.ok(&["get", "csr", "--field-selector", &format!("spec.signerName={name}"), "-o", "name"])
    };
    assert_eq!(
        signer("kubernetes.io/kube-apiserver-client"),
        "certificatesigningrequest.certificates.k8s.io/jane\n"
    );
    assert_eq!(signer("example.com/other"), "");
}
