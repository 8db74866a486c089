//! End to end: kinds served in several versions over one stored collection, read and written
//! with the real kubectl in each version: HorizontalPodAutoscaler autoscaling/v1 and v2, and
//! core and events.k8s.io Events.

mod common;

use common::Server;

#[test]
fn an_hpa_written_as_v1_reads_as_v2_and_back() {
    let s = Server::start();
    s.apply(
        r#"{"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "maxReplicas": 5, "targetCPUUtilizationPercentage": 50}}"#,
    );
    let v2 = s.ok(&[
        "get",
        "horizontalpodautoscalers.v2.autoscaling",
        "web",
        "-o",
        "jsonpath={.apiVersion} {.spec.metrics[0].resource.name} {.spec.metrics[0].resource.target.averageUtilization} {.spec.minReplicas}",
    ]);
    assert_eq!(v2, "autoscaling/v2 cpu 50 1");
    let v1 = s.ok(&[
        "get",
        "horizontalpodautoscalers.v1.autoscaling",
        "web",
        "-o",
        "jsonpath={.apiVersion} {.spec.targetCPUUtilizationPercentage}",
    ]);
    assert_eq!(v1, "autoscaling/v1 50");

    // Without a target, v1 reads back with upstream's 80% CPU default.
    s.apply(
        r#"{"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "api"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
                     "maxReplicas": 3}}"#,
    );
    let target = s.ok(&[
        "get",
        "horizontalpodautoscalers.v1.autoscaling",
        "api",
        "-o",
        "jsonpath={.spec.targetCPUUtilizationPercentage}",
    ]);
    assert_eq!(target, "80");

    // A v2 write with a memory metric survives a v1 round trip.
    s.apply(
        r#"{"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "mem"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "mem"},
                     "maxReplicas": 4,
                     "metrics": [{"type": "Resource", "resource": {"name": "memory",
                                  "target": {"type": "AverageValue", "averageValue": "500Mi"}}}]}}"#,
    );
    let label = s.ok(&["label", "horizontalpodautoscalers.v1.autoscaling", "mem", "tier=x"]);
    assert!(label.contains("labeled"), "{label}");
    let metric = s.ok(&[
        "get",
        "horizontalpodautoscalers.v2.autoscaling",
        "mem",
        "-o",
        "jsonpath={.spec.metrics[0].resource.name} {.spec.metrics[0].resource.target.averageValue} {.metadata.labels.tier}",
    ]);
    assert_eq!(metric, "memory 500Mi x");
}

#[test]
fn core_and_events_k8s_io_events_are_one_collection() {
    let s = Server::start();
    s.apply(
        r#"{"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "web.1"},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
            "reason": "Started", "message": "Started container web", "type": "Normal",
            "source": {"component": "kubelet"}}"#,
    );
    let regarding = s.ok(&[
        "get",
        "events.v1.events.k8s.io",
        "web.1",
        "-o",
        "jsonpath={.apiVersion} {.regarding.name} {.note} {.deprecatedSource.component}",
    ]);
    assert_eq!(regarding, "events.k8s.io/v1 web Started container web kubelet");

    s.apply(
        r#"{"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "db.1"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "example.com/ctl", "reportingInstance": "ctl-1",
            "action": "Scale", "reason": "Scaled", "note": "scaled db", "type": "Normal",
            "regarding": {"kind": "Deployment", "name": "db", "namespace": "default"}}"#,
    );
    let core = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=db",
        "-o",
        "jsonpath={.items[*].message} {.items[*].reportingComponent}",
    ]);
    assert_eq!(core, "scaled db example.com/ctl");
    let selected =
        s.ok(&["get", "events.v1.events.k8s.io", "--field-selector", "regarding.name=web", "-o", "name"]);
    assert_eq!(selected.trim(), "event.events.k8s.io/web.1");
    let err = s.fails(&["get", "events.v1.events.k8s.io", "--field-selector", "involvedObject.name=web"]);
    assert!(err.contains("field label not supported: involvedObject.name"), "{err}");
}
