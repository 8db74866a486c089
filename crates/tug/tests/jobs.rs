//! End to end: the Job, CronJob and TTL-after-finished controllers inside `tug server`, with
//! pods run by simulated nodes (`tug agent --simulate 2`), driven with the real kubectl.

mod common;

use common::{Agent, Server, eventually_within as eventually, rows};

fn job(name: &str, spec: &str, annotations: &str) -> String {
    format!(
        r#"{{"apiVersion": "batch/v1", "kind": "Job", "metadata": {{"name": "{name}"}},
  "spec": {{{spec}
    "template": {{"metadata": {{"annotations": {{{annotations}}}}},
                 "spec": {{"restartPolicy": "Never", "containers": [{{"name": "main", "image": "busybox"}}]}}}}}}}}"#
    )
}

fn jsonpath(s: &Server, what: &[&str], path: &str) -> String {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    let jp = format!("jsonpath={path}");
    args.extend_from_slice(&["-o", &jp]);
    s.ok(&args)
}

fn wait_complete(s: &Server, name: &str) {
    let out = s.kubectl(&["wait", "--for=condition=complete", &format!("job/{name}"), "--timeout=60s"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn jobs_complete_fail_and_index_their_pods() {
    let s = Server::start();
    let _agent = Agent::start(&s, &["--simulate", "2"]);

    // completions 3, parallelism 2: three pods succeed, never more than two at once.
    s.apply(&job("pi", r#""completions": 3, "parallelism": 2,"#, ""));
    // A Job that fails every time, with one retry allowed.
    s.apply(&job("broken", r#""backoffLimit": 1,"#, r#""sim.tugboat.dev/exit-code": "1""#));
    // Indexed: pods named and labelled by index.
    s.apply(&job("indexed", r#""completions": 3, "parallelism": 3, "completionMode": "Indexed","#, ""));
    // Deleted as soon as it is done.
    s.apply(&job("short", r#""ttlSecondsAfterFinished": 0,"#, ""));

    wait_complete(&s, "pi");
    let table = rows(&s.ok(&["get", "jobs", "pi"]));
    assert_eq!(table[0], ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]);
    assert_eq!(table[1][1..3], ["Complete", "3/3"]);
    assert_eq!(
        jsonpath(&s, &["job", "pi"], "{.status.succeeded}/{.status.ready}/{.status.terminating}"),
        "3/0/0"
    );
    let conditions = jsonpath(&s, &["job", "pi"], "{.status.conditions[*].type}");
    assert_eq!(conditions, "SuccessCriteriaMet Complete");
    assert!(!jsonpath(&s, &["job", "pi"], "{.status.completionTime}").is_empty());
    // Every pod is counted and released: no tracking finalizer is left behind.
    let finalizers =
        s.ok(&["get", "pods", "-l", "job-name=pi", "-o", "jsonpath={.items[*].metadata.finalizers}"]);
    assert!(!finalizers.contains("job-tracking"), "{finalizers}");
    let events = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=pi",
        "-o",
        "jsonpath={.items[*].reason}",
    ]);
    assert!(events.contains("SuccessfulCreate") && events.contains("Completed"), "{events}");

    wait_complete(&s, "indexed");
    assert_eq!(jsonpath(&s, &["job", "indexed"], "{.status.completedIndexes}"), "0-2");
    let names = s.ok(&[
        "get",
        "pods",
        "-l",
        "job-name=indexed",
        "-o",
        "jsonpath={range .items[*]}{.metadata.labels.batch\\.kubernetes\\.io/job-completion-index} {.spec.hostname} {.metadata.name}{\"\\n\"}{end}",
    ]);
    let mut lines: Vec<&str> = names.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 3, "{names}");
    for (i, line) in lines.iter().enumerate() {
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts[..2], [i.to_string().as_str(), format!("indexed-{i}").as_str()], "{line}");
        assert!(parts[2].starts_with(&format!("indexed-{i}-")), "{line}");
    }

    let out = s.kubectl(&["wait", "--for=condition=failed", "job/broken", "--timeout=60s"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let failed = jsonpath(
        &s,
        &["job", "broken"],
        "{.status.conditions[?(@.type==\"Failed\")].reason} {.status.failed}",
    );
    assert_eq!(failed, "BackoffLimitExceeded 2");
    assert_eq!(rows(&s.ok(&["get", "jobs", "broken"]))[1][1..3], ["Failed", "0/1"]);
    let events = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=broken",
        "-o",
        "jsonpath={.items[*].reason}",
    ]);
    assert!(events.contains("BackoffLimitExceeded"), "{events}");

    // Suspended: no pods, the Suspended condition; resumed: it runs to completion.
    s.apply(&job("later", r#""suspend": true,"#, ""));
    eventually("the Suspended condition", 30, || {
        let reason = jsonpath(&s, &["job", "later"], "{.status.conditions[?(@.type==\"Suspended\")].reason}");
        (reason == "JobSuspended").then_some(())
    });
    assert_eq!(s.ok(&["get", "pods", "-l", "job-name=later", "-o", "name"]), "");
    assert_eq!(rows(&s.ok(&["get", "jobs", "later"]))[1][1], "Suspended");
    s.ok(&["patch", "job", "later", "--type=merge", "-p", r#"{"spec": {"suspend": false}}"#]);
    wait_complete(&s, "later");
    let resumed = jsonpath(&s, &["job", "later"], "{.status.conditions[?(@.type==\"Suspended\")].reason}");
    assert_eq!(resumed, "JobResumed");

    eventually("the finished Job with ttlSecondsAfterFinished: 0 to be deleted", 60, || {
        let out = s.kubectl(&["get", "job", "short"]);
        (!out.status.success()).then_some(())
    });
}

const CRONJOB: &str = r#"{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hello"},
  "spec": {"schedule": "* * * * *", "suspend": true,
    "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure",
      "containers": [{"name": "hello", "image": "busybox"}]}}}}}}"#;

#[test]
fn a_cronjob_fires_on_schedule_and_by_hand() {
    let s = Server::start();
    let _agent = Agent::start(&s, &["--simulate", "2"]);
    s.apply(CRONJOB);

    // By hand: kubectl builds the Job from the template; it runs like any other.
    s.ok(&["create", "job", "--from=cronjob/hello", "by-hand"]);
    wait_complete(&s, "by-hand");

    // On schedule, without waiting for the next minute: a last schedule time two minutes ago
    // makes the start time of a minute ago due as soon as the CronJob is resumed.
    let past = (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(120))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let patch = format!(r#"{{"status": {{"lastScheduleTime": "{past}"}}}}"#);
    s.ok(&["patch", "cronjob", "hello", "--subresource=status", "--type=merge", "-p", &patch]);
    s.ok(&["patch", "cronjob", "hello", "--type=merge", "-p", r#"{"spec": {"suspend": false}}"#]);
    let name = eventually("a scheduled Job", 30, || {
        let out = s.ok(&["get", "jobs", "-o", "jsonpath={.items[*].metadata.name}"]);
        out.split_whitespace().find(|n| n.starts_with("hello-")).map(str::to_string)
    });
    let minutes: i64 = name.trim_start_matches("hello-").parse().expect("named by minute");
    let stamp = jsonpath(
        &s,
        &["job", &name],
        "{.metadata.annotations.batch\\.kubernetes\\.io/cronjob-scheduled-timestamp}",
    );
    let scheduled: jiff::Timestamp = stamp.parse().expect("an RFC 3339 timestamp");
    assert_eq!(scheduled.as_second(), minutes * 60);
    assert_eq!(jsonpath(&s, &["job", &name], "{.metadata.ownerReferences[0].kind}"), "CronJob");
    wait_complete(&s, &name);
    eventually("lastSuccessfulTime", 30, || {
        let last =
            jsonpath(&s, &["cronjob", "hello"], "{.status.lastScheduleTime} {.status.lastSuccessfulTime}");
        let parts: Vec<&str> = last.split_whitespace().collect();
        // A later minute may have fired meanwhile (the schedule is every minute).
        (parts.len() == 2 && parts[0].parse::<jiff::Timestamp>().is_ok_and(|t| t >= scheduled)).then_some(())
    });
    let events = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=hello",
        "-o",
        "jsonpath={.items[*].reason}",
    ]);
    assert!(events.contains("SuccessfulCreate") && events.contains("SawCompletedJob"), "{events}");
    let table = rows(&s.ok(&["get", "cronjobs", "hello"]));
    assert_eq!(table[0], ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"]);
    assert_eq!(table[1][1..7], ["*", "*", "*", "*", "*", "<none>"]);
}

fn events_of(s: &Server, name: &str) -> String {
    let selector = format!("involvedObject.name={name}");
    s.ok(&["get", "events", "--field-selector", &selector, "-o", "jsonpath={.items[*].reason}"])
}

fn wait_failed(s: &Server, name: &str) -> String {
    let out = s.kubectl(&["wait", "--for=condition=failed", &format!("job/{name}"), "--timeout=90s"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    jsonpath(
        s,
        &["job", name],
        "{.status.conditions[?(@.type==\"Failed\")].reason} {.status.failedIndexes} {.status.failed}",
    )
}

#[test]
fn backoff_limit_per_index_fails_indexes_on_their_own() {
    let s = Server::start();
    let _agent = Agent::start(&s, &["--simulate", "2"]);
    let indexed = r#""completionMode": "Indexed", "#;
    let failing = r#""sim.tugboat.dev/exit-code": "1""#;

    // Every index gets one retry (after its own back-off), then fails; the Job fails once all
    // indexes are done.
    let spec = format!(r#"{indexed}"completions": 2, "parallelism": 2, "backoffLimitPerIndex": 1,"#);
    s.apply(&job("retried", &spec, failing));
    // No failed index allowed: the first one fails the Job at once.
    let spec = format!(
        r#"{indexed}"completions": 3, "parallelism": 1, "backoffLimitPerIndex": 0, "maxFailedIndexes": 0,"#
    );
    s.apply(&job("capped", &spec, failing));
    // A FailIndex rule fails the index without using its retries.
    let spec = format!(
        r#"{indexed}"completions": 1, "backoffLimitPerIndex": 3,
           "podFailurePolicy": {{"rules": [{{"action": "FailIndex",
                                "onExitCodes": {{"operator": "In", "values": [42]}}}}]}},"#
    );
    s.apply(&job("fail-index", &spec, r#""sim.tugboat.dev/exit-code": "42""#));

    assert_eq!(wait_failed(&s, "capped"), "MaxFailedIndexesExceeded 0 1");
    let message = jsonpath(&s, &["job", "capped"], "{.status.conditions[?(@.type==\"Failed\")].message}");
    assert_eq!(message, "Job has exceeded the specified maximal number of failed indexes");
    assert!(events_of(&s, "capped").contains("MaxFailedIndexesExceeded"));

    assert_eq!(wait_failed(&s, "fail-index"), "FailedIndexes 0 1");
    assert_eq!(s.ok(&["get", "pods", "-l", "job-name=fail-index", "-o", "name"]).lines().count(), 1);

    assert_eq!(wait_failed(&s, "retried"), "FailedIndexes 0,1 4");
    let message = jsonpath(&s, &["job", "retried"], "{.status.conditions[?(@.type==\"Failed\")].message}");
    assert_eq!(message, "Job has failed indexes");
    assert!(events_of(&s, "retried").contains("FailedIndexes"));
    // Two pods per index; the replacement carries the index's failure count.
    let counts = s.ok(&[
        "get",
        "pods",
        "-l",
        "job-name=retried",
        "-o",
        "jsonpath={range .items[*]}{.metadata.labels.batch\\.kubernetes\\.io/job-completion-index}:{.metadata.annotations.batch\\.kubernetes\\.io/job-index-failure-count}{\"\\n\"}{end}",
    ]);
    let mut counts: Vec<&str> = counts.lines().collect();
    counts.sort();
    assert_eq!(counts, ["0:0", "0:1", "1:0", "1:1"]);
}

#[test]
fn a_success_policy_completes_the_job_early() {
    let s = Server::start();
    // Room for one pod at a time: index 0 runs first while index 1 waits.
    let _agent = Agent::start(&s, &["--simulate", "1", "--sim-pods", "1"]);
    // Pods ignore SIGTERM (stop-after past their grace period): a pod deleted early is killed
    // and fails rather than completing its index.
    s.apply(r#"{"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "leader"},
  "spec": {"completionMode": "Indexed", "completions": 3, "parallelism": 2,
    "successPolicy": {"rules": [{"succeededIndexes": "0"}]},
    "template": {"metadata": {"annotations": {"sim.tugboat.dev/exit-after": "2s", "sim.tugboat.dev/stop-after": "60s"}},
                 "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                          "containers": [{"name": "main", "image": "busybox"}]}}}}"#,
    );

    wait_complete(&s, "leader");
    let conditions =
        jsonpath(&s, &["job", "leader"], "{range .status.conditions[*]}{.type}={.reason}:{.message};{end}");
    assert_eq!(
        conditions,
        "SuccessCriteriaMet=SuccessPolicy:Matched rules at index 0;Complete=SuccessPolicy:Matched rules at index 0;"
    );
    assert_eq!(jsonpath(&s, &["job", "leader"], "{.status.completedIndexes} {.status.succeeded}"), "0 1");
    // The pod still waiting for index 1 was not needed any more.
    let events = events_of(&s, "leader");
    assert!(events.contains("SuccessfulDelete") && events.contains("Completed"), "{events}");
    assert_eq!(jsonpath(&s, &["job", "leader"], "{.status.active}"), "");

    // By count: two indexes, whichever they are, and no third pod.
    let spec = r#""completionMode": "Indexed", "completions": 5, "parallelism": 1,
        "successPolicy": {"rules": [{"succeededCount": 2}]},"#;
    s.apply(&job("two", spec, ""));
    wait_complete(&s, "two");
    assert_eq!(jsonpath(&s, &["job", "two"], "{.status.completedIndexes}"), "0,1");
    assert_eq!(s.ok(&["get", "pods", "-l", "job-name=two", "-o", "name"]).lines().count(), 2);
}
