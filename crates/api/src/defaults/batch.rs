//! `batch/v1`: Job and CronJob, and the selector the Job strategy generates on create.

use serde_json::{Value, json};

use super::{
    Object, child, child_or_insert, default_str, default_value, is_empty_collection, is_unset, items,
};

const CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
const LEGACY_CONTROLLER_UID: &str = "controller-uid";
const JOB_NAME: &str = "batch.kubernetes.io/job-name";
const LEGACY_JOB_NAME: &str = "job-name";

/// `SetDefaults_Job`. Like upstream, the pod template's `restartPolicy` defaults to `Always`,
/// which Job validation then refuses (`Unsupported value: "Always"`): clients must set it.
pub(super) fn job(o: &mut Object) {
    let template_labels = o
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .filter(|l| l.as_object().is_some_and(|l| !l.is_empty()))
        .cloned();
    if let Some(labels) = template_labels
        && let Some(meta) = child_or_insert(o, "metadata")
        && is_empty_collection(meta.get("labels"))
    {
        meta.insert("labels".into(), labels);
    }
    if let Some(spec) = child_or_insert(o, "spec") {
        job_spec(spec);
    }
    child_or_insert(o, "status");
}

fn job_spec(spec: &mut Object) {
    if is_unset(spec.get("completions")) && is_unset(spec.get("parallelism")) {
        spec.insert("completions".into(), json!(1));
        spec.insert("parallelism".into(), json!(1));
    }
    default_value(spec, "parallelism", json!(1));
    if is_unset(spec.get("backoffLimit")) {
        let limit = if is_unset(spec.get("backoffLimitPerIndex")) { 6 } else { i32::MAX as i64 };
        spec.insert("backoffLimit".into(), json!(limit));
    }
    default_value(spec, "completionMode", json!("NonIndexed"));
    default_value(spec, "suspend", json!(false));
    pod_failure_policy(spec);
    if is_unset(spec.get("podReplacementPolicy")) {
        let policy = if is_unset(spec.get("podFailurePolicy")) { "TerminatingOrFailed" } else { "Failed" };
        spec.insert("podReplacementPolicy".into(), json!(policy));
    }
    default_value(spec, "manualSelector", json!(false));
    if let Some(t) = child_or_insert(spec, "template") {
        super::pod::template(t);
    }
}

/// Pod condition patterns of a pod failure policy match `status: "True"` by default.
fn pod_failure_policy(spec: &mut Object) {
    let Some(policy) = child(spec, "podFailurePolicy") else { return };
    for rule in items(policy, "rules") {
        for pattern in items(rule, "onPodConditions") {
            default_str(pattern, "status", "True");
        }
    }
}

/// `SetDefaults_CronJob`, and the pod template of its job template. The job template's own
/// spec is not defaulted (upstream defaults Jobs, not JobTemplateSpecs), except for its pod
/// failure policy patterns.
pub(super) fn cron_job(o: &mut Object) {
    if let Some(spec) = child_or_insert(o, "spec") {
        default_str(spec, "concurrencyPolicy", "Allow");
        default_value(spec, "suspend", json!(false));
        default_value(spec, "successfulJobsHistoryLimit", json!(3));
        default_value(spec, "failedJobsHistoryLimit", json!(1));
        if let Some(job_template) = child_or_insert(spec, "jobTemplate") {
            child_or_insert(job_template, "metadata");
            if let Some(job_spec) = child_or_insert(job_template, "spec") {
                pod_failure_policy(job_spec);
                if let Some(t) = child_or_insert(job_spec, "template") {
                    super::pod::template(t);
                }
            }
        }
    }
    child_or_insert(o, "status");
}

/// The Job strategy's work on create, which needs `metadata.uid` and `metadata.name`: unless
/// `spec.manualSelector` is true, the pod template gains the labels
/// `batch.kubernetes.io/controller-uid` and `controller-uid` (the uid) and
/// `batch.kubernetes.io/job-name` and `job-name` (the name), each only when absent, and
/// `spec.selector.matchLabels` selects `batch.kubernetes.io/controller-uid`. The Job's own labels,
/// when empty, then become the template's labels, as upstream's defaulting does when it reads
/// the stored Job back. Call it on create after [`super::apply_defaults`].
pub fn job_create_defaults(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    let meta_str = |key: &str| {
        o.get("metadata").and_then(|m| m.get(key)).and_then(Value::as_str).unwrap_or("").to_string()
    };
    let (uid, name) = (meta_str("uid"), meta_str("name"));
    let Some(spec) = child_or_insert(o, "spec") else { return };
    if spec.get("manualSelector") == Some(&Value::Bool(true)) {
        return;
    }
    if let Some(labels) = child_or_insert(spec, "template")
        .and_then(|t| child_or_insert(t, "metadata"))
        .and_then(|m| child_or_insert(m, "labels"))
    {
        for (key, value) in [
            (LEGACY_JOB_NAME, &name),
            (JOB_NAME, &name),
            (LEGACY_CONTROLLER_UID, &uid),
            (CONTROLLER_UID, &uid),
        ] {
            labels.entry(key).or_insert_with(|| json!(value));
        }
    }
    if let Some(match_labels) =
        child_or_insert(spec, "selector").and_then(|s| child_or_insert(s, "matchLabels"))
    {
        match_labels.entry(CONTROLLER_UID).or_insert_with(|| json!(uid));
    }
    let template_labels = o
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .cloned();
    if let Some(labels) = template_labels
        && let Some(meta) = child_or_insert(o, "metadata")
        && is_empty_collection(meta.get("labels"))
    {
        meta.insert("labels".into(), labels);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{created, defaulted};
    use super::*;

    const UID: &str = "8c6c0a9e-1f0b-4bde-9f3e-2f8f1d2b7c11";

    /// What `kubectl create job pi --image=perl:5.34.0 -- perl -e 'print 1'` sends, once the
    /// server assigned the uid.
    fn kubectl_create_job() -> Value {
        json!({
            "kind": "Job", "apiVersion": "batch/v1",
            "metadata": {"name": "pi", "uid": UID},
            "spec": {"template": {"metadata": {}, "spec": {
                "containers": [{"name": "pi", "image": "perl:5.34.0", "command": ["perl", "-e", "print 1"],
                                "resources": {}}],
                "restartPolicy": "Never"
            }}},
            "status": {}
        })
    }

    #[test]
    fn kubectl_create_job_reads_back_as_upstream_serves_it() {
        let got = created("batch", "v1", "Job", kubectl_create_job());
        let labels = json!({
            "batch.kubernetes.io/controller-uid": UID,
            "batch.kubernetes.io/job-name": "pi",
            "controller-uid": UID,
            "job-name": "pi"
        });
        let want = json!({
            "kind": "Job", "apiVersion": "batch/v1",
            "metadata": {"name": "pi", "uid": UID, "labels": labels},
            "spec": {
                "backoffLimit": 6,
                "completionMode": "NonIndexed",
                "completions": 1,
                "manualSelector": false,
                "parallelism": 1,
                "podReplacementPolicy": "TerminatingOrFailed",
                "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": UID}},
                "suspend": false,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [{
                            "name": "pi", "image": "perl:5.34.0", "command": ["perl", "-e", "print 1"],
                            "imagePullPolicy": "IfNotPresent", "resources": {},
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File"
                        }],
                        "dnsPolicy": "ClusterFirst",
                        "restartPolicy": "Never",
                        "schedulerName": "default-scheduler",
                        "securityContext": {},
                        "terminationGracePeriodSeconds": 30
                    }
                }
            },
            "status": {}
        });
        assert_eq!(got, want);
    }

    #[test]
    fn job_parallelism_backoff_and_replacement_rules() {
        let parallel = defaulted("batch", "v1", "Job", json!({"spec": {"parallelism": 3}}));
        assert!(parallel["spec"].get("completions").is_none());
        assert_eq!(parallel["spec"]["parallelism"], 3);

        let completions = defaulted("batch", "v1", "Job", json!({"spec": {"completions": 5}}));
        assert_eq!(completions["spec"]["parallelism"], 1);
        assert_eq!(completions["spec"]["completions"], 5);

        let indexed = defaulted(
            "batch",
            "v1",
            "Job",
            json!({"spec": {"completions": 4, "completionMode": "Indexed",
            "backoffLimitPerIndex": 1}}),
        );
        assert_eq!(indexed["spec"]["backoffLimit"], 2147483647);
        assert_eq!(indexed["spec"]["completionMode"], "Indexed");

        let with_policy = defaulted(
            "batch",
            "v1",
            "Job",
            json!({"spec": {"backoffLimit": 0, "suspend": true,
            "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}}}),
        );
        assert_eq!(with_policy["spec"]["podReplacementPolicy"], "Failed");
        assert_eq!(with_policy["spec"]["backoffLimit"], 0);
        assert_eq!(with_policy["spec"]["suspend"], true);
        assert_eq!(
            with_policy["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"],
            json!([{"type": "DisruptionTarget", "status": "True"}])
        );

        // The template's restartPolicy defaults like any pod spec's (validation refuses it).
        let unset =
            defaulted("batch", "v1", "Job", json!({"spec": {"template": {"spec": {"containers": []}}}}));
        assert_eq!(unset["spec"]["template"]["spec"]["restartPolicy"], "Always");
    }

    #[test]
    fn job_create_keeps_manual_selectors_and_user_labels() {
        let manual = created(
            "batch",
            "v1",
            "Job",
            json!({
                "metadata": {"name": "m", "uid": UID},
                "spec": {"manualSelector": true, "selector": {"matchLabels": {"app": "m"}},
                         "template": {"metadata": {"labels": {"app": "m"}}, "spec": {"containers": []}}}
            }),
        );
        assert_eq!(manual["spec"]["selector"], json!({"matchLabels": {"app": "m"}}));
        assert_eq!(manual["spec"]["template"]["metadata"]["labels"], json!({"app": "m"}));
        assert_eq!(manual["metadata"]["labels"], json!({"app": "m"}));

        let labelled = created(
            "batch",
            "v1",
            "Job",
            json!({
                "metadata": {"name": "l", "uid": UID, "labels": {"team": "a"}},
                "spec": {"template": {"metadata": {"labels": {"app": "l", "job-name": "custom"}}, "spec": {"containers": []}}}
            }),
        );
        assert_eq!(labelled["metadata"]["labels"], json!({"team": "a"}));
        assert_eq!(
            labelled["spec"]["template"]["metadata"]["labels"],
            json!({
                "app": "l", "job-name": "custom", "batch.kubernetes.io/job-name": "l",
                "controller-uid": UID, "batch.kubernetes.io/controller-uid": UID
            })
        );
    }

    #[test]
    fn cron_job_defaults_only_its_own_fields_and_the_pod_template() {
        let cj = defaulted(
            "batch",
            "v1",
            "CronJob",
            json!({
                "kind": "CronJob", "apiVersion": "batch/v1",
                "metadata": {"name": "tick"},
                "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"metadata": {"name": "tick"}, "spec": {
                    "template": {"metadata": {}, "spec": {
                        "containers": [{"name": "tick", "image": "busybox", "resources": {}}],
                        "restartPolicy": "OnFailure"
                    }}
                }}},
                "status": {}
            }),
        );
        assert_eq!(
            cj,
            json!({
                "kind": "CronJob", "apiVersion": "batch/v1",
                "metadata": {"name": "tick"},
                "spec": {
                    "concurrencyPolicy": "Allow",
                    "failedJobsHistoryLimit": 1,
                    "jobTemplate": {"metadata": {"name": "tick"}, "spec": {"template": {"metadata": {}, "spec": {
                        "containers": [{"name": "tick", "image": "busybox", "imagePullPolicy": "Always", "resources": {},
                                        "terminationMessagePath": "/dev/termination-log",
                                        "terminationMessagePolicy": "File"}],
                        "dnsPolicy": "ClusterFirst",
                        "restartPolicy": "OnFailure",
                        "schedulerName": "default-scheduler",
                        "securityContext": {},
                        "terminationGracePeriodSeconds": 30
                    }}}},
                    "schedule": "*/1 * * * *",
                    "successfulJobsHistoryLimit": 3,
                    "suspend": false
                },
                "status": {}
            })
        );
        let kept = defaulted(
            "batch",
            "v1",
            "CronJob",
            json!({"spec": {"concurrencyPolicy": "Forbid", "suspend": true,
            "successfulJobsHistoryLimit": 0, "failedJobsHistoryLimit": 0}}),
        );
        assert_eq!(kept["spec"]["concurrencyPolicy"], "Forbid");
        assert_eq!(kept["spec"]["suspend"], true);
        assert_eq!(kept["spec"]["successfulJobsHistoryLimit"], 0);
        assert_eq!(kept["spec"]["failedJobsHistoryLimit"], 0);
    }
}
