//! `batch/v1`: Job and CronJob.

use serde_json::Value;

use super::apps::prune;
use super::core::non_negative;
use super::cron;
use super::field::{Bad, Errors, Path, get, go_json, int_of, object_of, str_of};
use super::meta;
use super::pod;
use crate::selector::LabelSelector;

const IMMUTABLE: &str = "field is immutable";

/// Template fields a suspended Job may still change (its scheduling directives).
const SCHEDULING_DIRECTIVES: &[&str] = &["nodeSelector", "tolerations", "schedulingGates", "affinity"];

pub fn validate(kind: &str, obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let path = Path::new("spec");
    match kind {
        "Job" => {
            job_spec(spec, &path, errs);
            if let Some(old) = old {
                job_update(spec, old.get("spec").unwrap_or(&Value::Null), &path, errs);
            }
        }
        "CronJob" => {
            let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            // Job names get an 11-character suffix and must stay DNS-1035 labels.
            if old.is_none() && name.len() > 52 {
                errs.invalid(
                    &Path::new("metadata.name"),
                    Bad::Str(name),
                    "must be no more than 52 characters",
                );
            }
            let old_schedule = old.and_then(|o| o.pointer("/spec/schedule")).and_then(Value::as_str);
            cron_job_spec(spec, old_schedule, &path, errs);
        }
        _ => {}
    }
}

/// `ValidateJobSpec`: the shared checks, a selector, and a template it selects.
fn job_spec(spec: &Value, path: &Path, errs: &mut Errors) {
    shared_job_spec(spec, path, errs);
    match get(spec, "selector") {
        None => errs.required(&path.child("selector"), ""),
        Some(sel) => meta::label_selector(sel, &path.child("selector"), errs),
    }
    let sel = spec.get("selector").unwrap_or(&Value::Null);
    if let Ok(parsed) = LabelSelector::from_label_selector_json(sel) {
        let labels = spec.pointer("/template/metadata/labels");
        let map = labels.and_then(Value::as_object).cloned().unwrap_or_default();
        if !parsed.matches(&map) {
            errs.invalid(
                &path.child("template").child("metadata").child("labels"),
                Bad::Raw(meta::render_labels(labels)),
                "`selector` does not match template `labels`",
            );
        }
    }
}

/// `validateJobSpec`: what Jobs and CronJob job templates share.
fn shared_job_spec(spec: &Value, path: &Path, errs: &mut Errors) {
    for field in
        ["completions", "parallelism", "activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"]
    {
        non_negative(spec, field, path, errs);
    }
    if let Some(mode) = spec.get("completionMode").and_then(Value::as_str) {
        if !matches!(mode, "NonIndexed" | "Indexed") {
            errs.not_supported(&path.child("completionMode"), Bad::Str(mode), &["NonIndexed", "Indexed"]);
        }
        if mode == "Indexed" && get(spec, "completions").is_none() {
            errs.required(&path.child("completions"), "when completion mode is Indexed");
        }
    }
    let template = spec.get("template").unwrap_or(&Value::Null);
    let tpath = path.child("template");
    pod::template(template, &tpath, errs);
    let policy = template.pointer("/spec/restartPolicy").and_then(Value::as_str).unwrap_or("");
    if !matches!(policy, "OnFailure" | "Never") {
        errs.not_supported(
            &tpath.child("spec").child("restartPolicy"),
            Bad::Str(policy),
            &["OnFailure", "Never"],
        );
    }
}

fn job_update(spec: &Value, old: &Value, path: &Path, errs: &mut Errors) {
    let (completions, old_completions) = (get(spec, "completions"), get(old, "completions"));
    // Indexed Jobs may scale completions together with parallelism (elastic Jobs).
    let elastic = str_of(spec, "completionMode") == "Indexed" && completions == get(spec, "parallelism");
    if completions != old_completions && !elastic {
        let shown = completions.map_or(Bad::Raw("null".into()), |c| Bad::Int(c.as_i64().unwrap_or(0)));
        errs.invalid(&path.child("completions"), shown, IMMUTABLE);
    }
    let (sel, old_sel) = (get(spec, "selector"), get(old, "selector"));
    if prune(sel.cloned().unwrap_or(Value::Null)) != prune(old_sel.cloned().unwrap_or(Value::Null)) {
        let shown = meta::render_selector(sel.unwrap_or(&Value::Null));
        errs.invalid(&path.child("selector"), Bad::Raw(shown), IMMUTABLE);
    }
    let template = spec.get("template").cloned().unwrap_or(Value::Null);
    let mut old_template = old.get("template").cloned().unwrap_or(Value::Null);
    let suspended = old.get("suspend").and_then(Value::as_bool) == Some(true);
    if suspended {
        // A suspended Job may change where its pods will run, and their labels and annotations.
        for field in ["labels", "annotations"] {
            copy_field(&template, &mut old_template, &["metadata", field]);
        }
        for field in SCHEDULING_DIRECTIVES {
            copy_field(&template, &mut old_template, &["spec", field]);
        }
    }
    if prune(template.clone()) != prune(old_template) {
        errs.invalid(&path.child("template"), Bad::Raw(go_json(&template)), IMMUTABLE);
    }
}

fn copy_field(from: &Value, to: &mut Value, at: &[&str]) {
    let [parent, field] = at else { return };
    let value = from.get(parent).and_then(|p| p.get(field)).cloned();
    if let Some(target) = to.get_mut(parent).and_then(Value::as_object_mut) {
        match value {
            Some(v) => target.insert(field.to_string(), v),
            None => target.remove(*field),
        };
    }
}

fn cron_job_spec(spec: &Value, old_schedule: Option<&str>, path: &Path, errs: &mut Errors) {
    let schedule = str_of(spec, "schedule");
    let spath = path.child("schedule");
    if schedule.is_empty() {
        errs.required(&spath, "");
    } else {
        if let Some(e) = cron::schedule_error(schedule) {
            errs.invalid(&spath, Bad::Str(schedule), &e);
        }
        // A time zone inside the schedule is tolerated only on objects that already had one.
        let allow_tz = old_schedule.is_some_and(|s| s.contains("TZ"));
        let time_zone = get(spec, "timeZone").is_some();
        if allow_tz && schedule.contains("TZ") && time_zone {
            errs.invalid(
                &spath,
                Bad::Str(schedule),
                "cannot use both timeZone field and TZ or CRON_TZ in schedule",
            );
        } else if !allow_tz && schedule.contains("TZ") {
            errs.invalid(
                &spath,
                Bad::Str(schedule),
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            );
        }
    }
    if let Some(tz) = spec.get("timeZone").and_then(Value::as_str) {
        let tz_path = path.child("timeZone");
        if tz.is_empty() {
            errs.invalid(&tz_path, Bad::Str(tz), "timeZone must be nil or non-empty string");
        } else if tz.eq_ignore_ascii_case("local") {
            errs.invalid(
                &tz_path,
                Bad::Str(tz),
                "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
            );
        }
    }
    non_negative(spec, "startingDeadlineSeconds", path, errs);
    pod::one_of(
        spec,
        "concurrencyPolicy",
        &["Allow", "Forbid", "Replace"],
        &path.child("concurrencyPolicy"),
        errs,
    );
    let template = spec.get("jobTemplate").unwrap_or(&Value::Null);
    let jpath = path.child("jobTemplate");
    let tmeta = template.get("metadata").unwrap_or(&Value::Null);
    meta::labels(object_of(tmeta, "labels"), &jpath.child("metadata").child("labels"), errs);
    meta::annotations(object_of(tmeta, "annotations"), &jpath.child("metadata").child("annotations"), errs);
    let job = template.get("spec").unwrap_or(&Value::Null);
    let job_path = jpath.child("spec");
    shared_job_spec(job, &job_path, errs);
    if let Some(sel) = get(job, "selector") {
        errs.invalid(
            &job_path.child("selector"),
            Bad::Raw(meta::render_selector(sel)),
            "`selector` will be auto-generated",
        );
    }
    if job.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        errs.not_supported(&job_path.child("manualSelector"), Bad::Raw("true".into()), &["nil", "false"]);
    }
    for field in ["successfulJobsHistoryLimit", "failedJobsHistoryLimit"] {
        if let Some(v) = int_of(spec, field).filter(|v| *v < 0) {
            errs.invalid(&path.child(field), Bad::Int(v), "must be greater than or equal to 0");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod_template(policy: &str) -> Value {
        json!({"metadata": {"labels": {"job": "x"}}, "spec": {
            "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "Always", "terminationMessagePolicy": "File"}],
            "restartPolicy": policy, "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30}})
    }

    fn job(policy: &str) -> Value {
        json!({"metadata": {"name": "pi"}, "spec": {
            "selector": {"matchLabels": {"job": "x"}}, "backoffLimit": 6, "completions": 1, "parallelism": 1,
            "template": pod_template(policy)}})
    }

    fn run(kind: &str, obj: &Value, old: Option<&Value>) -> Vec<(String, String)> {
        let mut errs = Errors::default();
        validate(kind, obj, old, &mut errs);
        errs.0.into_iter().map(|c| (c.field, c.message)).collect()
    }

    #[test]
    fn jobs_restart_on_failure_or_never() {
        assert!(run("Job", &job("Never"), None).is_empty());
        assert_eq!(
            run("Job", &job("Always"), None),
            [(
                "spec.template.spec.restartPolicy".into(),
                "Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"".into()
            )]
        );
    }

    #[test]
    fn job_counts_may_not_be_negative() {
        let mut j = job("Never");
        j["spec"]["backoffLimit"] = json!(-1);
        j["spec"]["parallelism"] = json!(-2);
        assert_eq!(
            run("Job", &j, None),
            [
                ("spec.parallelism".into(), "Invalid value: -2: must be greater than or equal to 0".into()),
                ("spec.backoffLimit".into(), "Invalid value: -1: must be greater than or equal to 0".into()),
            ]
        );
    }

    #[test]
    fn job_updates_keep_selector_and_template() {
        let old = job("Never");
        let mut new = job("Never");
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("busybox:2");
        let got = run("Job", &new, Some(&old));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "spec.template");
        assert!(got[0].1.ends_with(": field is immutable"));
        let mut new = job("Never");
        new["spec"]["selector"] = json!({"matchLabels": {"job": "x", "b": "c"}});
        new["spec"]["template"]["metadata"]["labels"]["b"] = json!("c");
        let got = run("Job", &new, Some(&old));
        assert_eq!(
            got[0],
            (
                "spec.selector".into(),
                "Invalid value: {\"matchLabels\":{\"b\":\"c\",\"job\":\"x\"}}: field is immutable".into()
            )
        );
        let mut suspended = old.clone();
        suspended["spec"]["suspend"] = json!(true);
        let mut new = suspended.clone();
        new["spec"]["template"]["spec"]["nodeSelector"] = json!({"disk": "ssd"});
        assert!(run("Job", &new, Some(&suspended)).is_empty());
    }

    fn cron(schedule: &str) -> Value {
        json!({"metadata": {"name": "hello"}, "spec": {"schedule": schedule, "concurrencyPolicy": "Allow",
            "jobTemplate": {"spec": {"template": pod_template("OnFailure")}}}})
    }

    #[test]
    fn cron_jobs_parse_their_schedule() {
        assert!(run("CronJob", &cron("*/1 * * * *"), None).is_empty());
        assert_eq!(
            run("CronJob", &cron("* * *"), None),
            [(
                "spec.schedule".into(),
                "Invalid value: \"* * *\": expected exactly 5 fields, found 3: [* * *]".into()
            )]
        );
        assert_eq!(
            run("CronJob", &cron("TZ=UTC 0 * * * *"), None),
            [(
                "spec.schedule".into(),
                "Invalid value: \"TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead".into()
            )]
        );
        let mut c = cron("@daily");
        c["spec"]["concurrencyPolicy"] = json!("Sometimes");
        c["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
        assert_eq!(
            run("CronJob", &c, None),
            [
                (
                    "spec.concurrencyPolicy".into(),
                    "Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\""
                        .into()
                ),
                (
                    "spec.jobTemplate.spec.template.spec.restartPolicy".into(),
                    "Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"".into()
                ),
            ]
        );
    }
}
