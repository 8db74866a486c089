//! The batch group: jobs and cron jobs.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{
    AGE, CONTAINERS, Cells, Column, Columns, IMAGES, NAME, Printer, SELECTOR, age_cell, arr, col,
    condition_true, format_label_selector, human_duration, int, layout_containers, name, opt_int, opt_s, s,
    seconds_between, since,
};

pub(super) fn printer(kind: &str) -> Option<Printer> {
    let (columns, cells): (Columns, Cells) = match kind {
        "Job" => (job_columns, job_cells),
        "CronJob" => (cron_job_columns, cron_job_cells),
        _ => return None,
    };
    Some(Printer { columns, cells })
}

fn job_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Status", "string", "Status of the job."),
        col("Completions", "string", "The number of pods which reached phase Succeeded."),
        col("Duration", "string", "Time required to complete the job."),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ]
}

fn job_status(job: &Value) -> &'static str {
    let conditions = arr(job, "/status/conditions");
    if condition_true(conditions, "Complete") {
        "Complete"
    } else if condition_true(conditions, "Failed") {
        "Failed"
    } else if job.pointer("/metadata/deletionTimestamp").is_some_and(|d| !d.is_null()) {
        "Terminating"
    } else if condition_true(conditions, "Suspended") {
        "Suspended"
    } else if condition_true(conditions, "FailureTarget") {
        "FailureTarget"
    } else if condition_true(conditions, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

fn job_completions(job: &Value) -> String {
    let succeeded = int(job, "/status/succeeded");
    match opt_int(job, "/spec/completions") {
        Some(c) => format!("{succeeded}/{c}"),
        None => match int(job, "/spec/parallelism") {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    }
}

fn job_duration(job: &Value, now: Timestamp) -> String {
    match (opt_s(job, "/status/startTime"), opt_s(job, "/status/completionTime")) {
        (None, _) => String::new(),
        (Some(start), None) => since(Some(start), now),
        (Some(start), Some(done)) => {
            seconds_between(start, done).map_or_else(|| "<invalid>".into(), human_duration)
        }
    }
}

fn job_cells(job: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = layout_containers(job, "/spec/template/spec");
    vec![
        json!(name(job)),
        json!(job_status(job)),
        json!(job_completions(job)),
        json!(job_duration(job, now)),
        age_cell(job, now),
        json!(names),
        json!(images),
        json!(format_label_selector(job.pointer("/spec/selector"))),
    ]
}

fn cron_job_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Schedule", "string", "The schedule in Cron format."),
        col("Timezone", "string", "The time zone name for the given schedule."),
        col("Suspend", "boolean", "This flag tells the controller to suspend subsequent executions."),
        col("Active", "integer", "A list of pointers to currently running jobs."),
        col(
            "Last Schedule",
            "string",
            "Information when was the last time the job was successfully scheduled.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ]
}

fn cron_job_cells(cj: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = layout_containers(cj, "/spec/jobTemplate/spec/template/spec");
    let suspend = match cj.pointer("/spec/suspend").and_then(Value::as_bool) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let last = opt_s(cj, "/status/lastScheduleTime").map_or_else(|| "<none>".into(), |t| since(Some(t), now));
    let time_zone = cj.pointer("/spec/timeZone").and_then(Value::as_str).unwrap_or("<none>");
    vec![
        json!(name(cj)),
        json!(s(cj, "/spec/schedule")),
        json!(time_zone),
        json!(suspend),
        json!(arr(cj, "/status/active").len()),
        json!(last),
        age_cell(cj, now),
        json!(names),
        json!(images),
        json!(format_label_selector(cj.pointer("/spec/jobTemplate/spec/selector"))),
    ]
}
