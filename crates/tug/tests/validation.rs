//! End to end: the real kubectl sees upstream's 422 Invalid errors for objects that fail
//! per-kind validation, and valid objects still go through.

mod common;

use common::Server;

const CONTAINER: &str = "      containers:
      - name: web
        image: nginx
";

fn deployment(replicas: i64, selector_app: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {selector_app}}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
{CONTAINER}"
    )
}

/// Applies `manifest`, expects kubectl to fail with exit code 1, and returns its stderr.
fn rejected(s: &Server, manifest: &str) -> String {
    let out = s.kubectl_stdin(&["apply", "-f", "-"], manifest);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "kubectl should fail with 1: {stderr}");
    stderr
}

#[test]
fn invalid_objects_are_rejected_with_upstreams_messages() {
    let s = Server::start();

    let err = rejected(&s, &deployment(-1, "web"));
    assert_eq!(
        err.trim_end(),
        "The Deployment \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    );

    let err = rejected(&s, &deployment(1, "other"));
    assert_eq!(
        err.trim_end(),
        "The Deployment \"web\" is invalid: spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: \
         `selector` does not match template `labels`"
    );

    let pod = "apiVersion: v1
kind: Pod
metadata:
  name: no-image
spec:
  containers:
  - name: app
";
    let err = rejected(&s, pod);
    assert_eq!(err.trim_end(), "The Pod \"no-image\" is invalid: spec.containers[0].image: Required value");

    let service = "apiVersion: v1
kind: Service
metadata:
  name: zero
spec:
  selector: {app: web}
  ports:
  - port: 0
    targetPort: 8080
";
    let err = rejected(&s, service);
    assert_eq!(
        err.trim_end(),
        "The Service \"zero\" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"
    );

    let job = format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: once
spec:
  template:
    spec:
      restartPolicy: Always
{CONTAINER}"
    );
    let err = rejected(&s, &job);
    assert_eq!(
        err.trim_end(),
        "The Job \"once\" is invalid: spec.template.spec.restartPolicy: Unsupported value: \"Always\": \
         supported values: \"OnFailure\", \"Never\""
    );

    // Several causes are listed one per line.
    let err = rejected(&s, &deployment(-1, "other"));
    assert_eq!(
        err.trim_end(),
        "The Deployment \"web\" is invalid: \n\
         * spec.replicas: Invalid value: -1: must be greater than or equal to 0\n\
         * spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`"
    );

    // Nothing invalid was stored.
    let out = s.kubectl(&["get", "deployment/web", "pod/no-image", "service/zero", "job/once"]);
    assert!(!out.status.success());
}

#[test]
fn updates_are_validated_against_the_stored_object() {
    let s = Server::start();
    assert!(s.kubectl_stdin(&["apply", "-f", "-"], &deployment(1, "web")).status.success());

    let err = rejected(&s, &deployment(-3, "web"));
    assert_eq!(
        err.trim_end(),
        "The Deployment \"web\" is invalid: spec.replicas: Invalid value: -3: must be greater than or equal to 0"
    );

    // apps/v1 selectors are immutable.
    let changed = deployment(1, "web")
        .replace("matchLabels: {app: web}", "matchLabels: {app: web, tier: x}")
        .replace("labels: {app: web}", "labels: {app: web, tier: x}");
    let err = rejected(&s, &changed);
    assert!(
        err.contains(
            "spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"web\",\"tier\":\"x\"}}: field is immutable"
        ),
        "{err}"
    );

    // A valid change still applies, and scaling still works.
    assert!(s.kubectl_stdin(&["apply", "-f", "-"], &deployment(2, "web")).status.success());
    s.ok(&["scale", "deployment/web", "--replicas=3"]);
}

#[test]
fn a_pods_spec_changes_only_where_upstream_allows() {
    let s = Server::start();
    let pod = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                  "spec": {"containers": [{"name": "c", "image": "nginx:1.0"}]}}"#;
    assert!(s.kubectl_stdin(&["create", "-f", "-"], pod).status.success());
    // An image may change.
    assert_eq!(s.ok(&["set", "image", "pod/p", "c=nginx:2.0"]), "pod/p image updated\n");
    // The restart policy may not.
    let err = s.fails(&["patch", "pod", "p", "-p", r#"{"spec":{"restartPolicy":"Never"}}"#]);
    assert!(
        err.starts_with(
            "The Pod \"p\" is invalid: spec: Forbidden: pod updates may not change fields other than \
             `spec.containers[*].image`"
        ),
        "{err}"
    );
}
