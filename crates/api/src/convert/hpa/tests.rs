use serde_json::{Value, json};

use super::*;

fn v1(obj: &Value) -> Value {
    to_v1(obj).unwrap_or_else(|e| panic!("to v1: {e:?}"))
}

fn v2(obj: &Value) -> Value {
    to_v2(obj).unwrap_or_else(|e| panic!("to v2: {e:?}"))
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj["metadata"]["annotations"].get(key).and_then(Value::as_str)
}

/// A v2 object as upstream stores it, using every metric source.
fn full_v2() -> Value {
    json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default", "annotations": {"team": "a"}},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
            "minReplicas": 2, "maxReplicas": 10,
            "metrics": [
                {"type": "Pods", "pods": {"metric": {"name": "qps", "selector": {"matchLabels": {"a": "b"}}},
                    "target": {"type": "AverageValue", "averageValue": "1k"}}},
                {"type": "Object", "object": {
                    "describedObject": {"kind": "Ingress", "name": "main", "apiVersion": "networking.k8s.io/v1"},
                    "target": {"type": "Value", "value": "10k"}, "metric": {"name": "requests"}}},
                {"type": "External", "external": {
                    "metric": {"name": "queue",
                        "selector": {"matchExpressions": [{"key": "q", "operator": "In", "values": ["jobs"]}]}},
                    "target": {"type": "AverageValue", "averageValue": "30"}}},
                {"type": "ContainerResource", "containerResource": {"name": "memory", "container": "app",
                    "target": {"type": "Utilization", "averageUtilization": 60}}},
                {"type": "Resource", "resource": {"name": "memory",
                    "target": {"type": "AverageValue", "averageValue": "500Mi"}}},
                {"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 70}}},
            ],
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                    {"type": "Pods", "value": 4, "periodSeconds": 15},
                    {"type": "Percent", "value": 100, "periodSeconds": 15}]},
                "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Min",
                    "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}], "tolerance": "50m"},
            },
        },
        "status": {
            "observedGeneration": 3, "lastScaleTime": "2024-01-01T00:00:00Z",
            "currentReplicas": 4, "desiredReplicas": 5,
            "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu",
                    "current": {"averageValue": "250m", "averageUtilization": 83}}},
                {"type": "Pods", "pods": {"metric": {"name": "qps"}, "current": {"averageValue": "900"}}},
                {"type": "Object", "object": {"metric": {"name": "requests"}, "current": {"value": "9k"},
                    "describedObject": {"kind": "Ingress", "name": "main", "apiVersion": "networking.k8s.io/v1"}}},
                {"type": "External", "external": {"metric": {"name": "queue"},
                    "current": {"value": "0", "averageValue": "25"}}},
                {"type": "ContainerResource", "containerResource": {"name": "memory", "container": "app",
                    "current": {"averageValue": "100Mi", "averageUtilization": 55}}},
            ],
            "conditions": [
                {"type": "AbleToScale", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z",
                    "reason": "ReadyForNewScale", "message": "recommended size matches current size"},
                {"type": "ScalingLimited", "status": "False", "lastTransitionTime": null},
            ],
        },
    })
}

#[test]
fn v2_through_v1_and_back_keeps_everything() {
    let original = full_v2();
    assert_eq!(v2(&v1(&original)), original);
}

#[test]
fn v1_shows_the_cpu_target_and_annotates_the_rest() {
    let out = v1(&full_v2());
    assert_eq!(out["apiVersion"], "autoscaling/v1");
    assert_eq!(
        out["spec"],
        json!({"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
               "minReplicas": 2, "maxReplicas": 10, "targetCPUUtilizationPercentage": 70})
    );
    assert_eq!(
        out["status"],
        json!({"observedGeneration": 3, "lastScaleTime": "2024-01-01T00:00:00Z", "currentReplicas": 4,
               "desiredReplicas": 5, "currentCPUUtilizationPercentage": 83})
    );
    assert_eq!(annotation(&out, "team"), Some("a"));
    // The JSON upstream writes: v1 MetricSpecs in Go field order.
    assert_eq!(
        annotation(&out, METRICS_ANNOTATION),
        Some(concat!(
            r#"[{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"1k","selector":{"matchLabels":{"a":"b"}}}},"#,
            r#"{"type":"Object","object":{"target":{"kind":"Ingress","name":"main","apiVersion":"networking.k8s.io/v1"},"#,
            r#""metricName":"requests","targetValue":"10k"}},"#,
            r#"{"type":"External","external":{"metricName":"queue","metricSelector":{"matchExpressions":"#,
            r#"[{"key":"q","operator":"In","values":["jobs"]}]},"targetAverageValue":"30"}},"#,
            r#"{"type":"ContainerResource","containerResource":{"name":"memory","targetAverageUtilization":60,"container":"app"}},"#,
            r#"{"type":"Resource","resource":{"name":"memory","targetAverageValue":"500Mi"}}]"#,
        ))
    );
    assert_eq!(
        annotation(&out, CURRENT_METRICS_ANNOTATION),
        Some(concat!(
            r#"[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":83,"currentAverageValue":"250m"}},"#,
            r#"{"type":"Pods","pods":{"metricName":"qps","currentAverageValue":"900"}},"#,
            r#"{"type":"Object","object":{"target":{"kind":"Ingress","name":"main","apiVersion":"networking.k8s.io/v1"},"#,
            r#""metricName":"requests","currentValue":"9k"}},"#,
            r#"{"type":"External","external":{"metricName":"queue","currentValue":"0","currentAverageValue":"25"}},"#,
            r#"{"type":"ContainerResource","containerResource":{"name":"memory","currentAverageUtilization":55,"#,
            r#""currentAverageValue":"100Mi","container":"app"}}]"#,
        ))
    );
    // The internal type's Go field names, unset pointers as null.
    assert_eq!(
        annotation(&out, BEHAVIOR_ANNOTATION),
        Some(concat!(
            r#"{"ScaleUp":{"StabilizationWindowSeconds":0,"SelectPolicy":"Max","Policies":"#,
            r#"[{"Type":"Pods","Value":4,"PeriodSeconds":15},{"Type":"Percent","Value":100,"PeriodSeconds":15}],"#,
            r#""Tolerance":null},"ScaleDown":{"StabilizationWindowSeconds":300,"SelectPolicy":"Min","Policies":"#,
            r#"[{"Type":"Percent","Value":10,"PeriodSeconds":60}],"Tolerance":"50m"}}"#,
        ))
    );
    assert_eq!(
        annotation(&out, CONDITIONS_ANNOTATION),
        Some(concat!(
            r#"[{"type":"AbleToScale","status":"True","lastTransitionTime":"2024-01-01T00:00:00Z","#,
            r#""reason":"ReadyForNewScale","message":"recommended size matches current size"},"#,
            r#"{"type":"ScalingLimited","status":"False","lastTransitionTime":null}]"#,
        ))
    );
}

#[test]
fn v1_target_becomes_a_cpu_utilization_metric() {
    let obj = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 5,
                 "targetCPUUtilizationPercentage": 50},
        "status": {"currentReplicas": 2, "desiredReplicas": 3, "currentCPUUtilizationPercentage": 40}});
    assert_eq!(
        v2(&obj),
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 5,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 50}}}]},
            "status": {"currentReplicas": 2, "desiredReplicas": 3, "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 40}}}]}})
    );
}

#[test]
fn v1_without_a_target_gets_the_implicit_80_percent() {
    let obj = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5}});
    let out = v2(&obj);
    assert_eq!(
        out["spec"]["metrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}])
    );
    // minReplicas is v1 defaulting's business, not conversion's.
    assert!(out["spec"].get("minReplicas").is_none());
    // v2's status always has desiredReplicas and currentMetrics (null when there are none).
    assert_eq!(out["status"], json!({"desiredReplicas": 0, "currentMetrics": null}));
    assert!(out["metadata"].get("annotations").is_none());
}

#[test]
fn v2_without_a_cpu_metric_has_no_v1_target() {
    let obj = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "mem"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 4,
            "metrics": [{"type": "Resource", "resource": {"name": "memory",
                "target": {"type": "Utilization", "averageUtilization": 60}}}]}});
    let out = v1(&obj);
    assert!(out["spec"].get("targetCPUUtilizationPercentage").is_none());
    assert_eq!(
        annotation(&out, METRICS_ANNOTATION),
        Some(r#"[{"type":"Resource","resource":{"name":"memory","targetAverageUtilization":60}}]"#)
    );
    // No status in v2 still reads back with v1's always-written replica counts.
    assert_eq!(out["status"], json!({"currentReplicas": 0, "desiredReplicas": 0}));
    // Back in v2 the memory metric alone, without the implicit CPU default.
    assert_eq!(v2(&out)["spec"]["metrics"], obj["spec"]["metrics"]);
}

#[test]
fn cpu_only_needs_no_annotations() {
    let obj = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 4,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 60}}}]},
        "status": {"desiredReplicas": 0, "currentMetrics": null}});
    let out = v1(&obj);
    assert_eq!(out["metadata"], json!({"name": "web"}));
    assert_eq!(out["spec"]["targetCPUUtilizationPercentage"], 60);
    assert_eq!(v2(&out), obj);
}

#[test]
fn the_first_cpu_utilization_is_the_target_and_others_are_annotated() {
    // Upstream #101370: a CPU AverageValue metric before the utilisation one does not hide it.
    let obj = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
    "spec": {"maxReplicas": 3, "metrics": [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "AverageValue", "averageValue": "300m"}}},
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}},
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 90}}},
    ]},
    "status": {"currentMetrics": [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 10}}},
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 20}}},
    ]}});
    let out = v1(&obj);
    assert_eq!(out["spec"]["targetCPUUtilizationPercentage"], 70);
    assert_eq!(
        annotation(&out, METRICS_ANNOTATION),
        Some(r#"[{"type":"Resource","resource":{"name":"cpu","targetAverageValue":"300m"}}]"#)
    );
    // Status: the last CPU utilisation wins.
    assert_eq!(out["status"]["currentCPUUtilizationPercentage"], 20);
}

#[test]
fn a_cpu_metric_moves_to_the_end_and_v1_only_zero_values_appear() {
    let obj = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "spec": {"maxReplicas": 3, "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
            {"type": "Object", "object": {"describedObject": {"kind": "Service", "name": "s"},
                "target": {"type": "AverageValue", "averageValue": "2"}, "metric": {"name": "hits"}}},
        ]},
        "status": {"currentMetrics": [{"type": "Resource", "resource": {"name": "cpu",
            "current": {"averageUtilization": 30}}}]}});
    let back = v2(&v1(&obj));
    assert_eq!(
        back["spec"]["metrics"],
        json!([
            // v1's non-pointer targetValue comes back as a value of "0".
            {"type": "Object", "object": {"describedObject": {"kind": "Service", "name": "s"},
                "target": {"type": "AverageValue", "value": "0", "averageValue": "2"}, "metric": {"name": "hits"}}},
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
        ])
    );
    assert_eq!(
        back["status"]["currentMetrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu",
            "current": {"averageValue": "0", "averageUtilization": 30}}}])
    );
}

#[test]
fn malformed_annotations_are_ignored_and_dropped() {
    // Each breaks every one of the four annotations for encoding/json.
    for text in ["", "abc", "{}", "[1]", r#"[{"type": 5}]"#] {
        let obj = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"annotations": {
                METRICS_ANNOTATION: text, CURRENT_METRICS_ANNOTATION: text,
                BEHAVIOR_ANNOTATION: text, CONDITIONS_ANNOTATION: text, "keep": "me"}},
            "spec": {"maxReplicas": 2, "targetCPUUtilizationPercentage": 60},
            "status": {"currentCPUUtilizationPercentage": 5}});
        let out = v2(&obj);
        assert_eq!(out["metadata"]["annotations"], json!({"keep": "me"}), "{text:?}");
        assert_eq!(out["spec"]["metrics"].as_array().map(Vec::len), Some(1), "{text:?}");
        assert!(out["spec"].get("behavior").is_none(), "{text:?}");
        assert_eq!(out["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"], 5);
        assert!(out["status"].get("conditions").is_none(), "{text:?}");
    }
    // One bad quantity discards the whole list, not just its item.
    let obj = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"annotations": {METRICS_ANNOTATION: concat!(
            r#"[{"type": "Pods", "pods": {"metricName": "a", "targetAverageValue": "1"}},"#,
            r#"{"type": "Pods", "pods": {"metricName": "b", "targetAverageValue": "ten"}}]"#)}},
        "spec": {"maxReplicas": 2, "targetCPUUtilizationPercentage": 60}});
    assert_eq!(v2(&obj)["spec"]["metrics"].as_array().map(Vec::len), Some(1));
}

#[test]
fn empty_annotation_lists_replace_what_v1_shows() {
    let obj = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"annotations": {CURRENT_METRICS_ANNOTATION: "[]", CONDITIONS_ANNOTATION: "null",
                                     METRICS_ANNOTATION: "[]"}},
        "spec": {"maxReplicas": 2},
        "status": {"currentCPUUtilizationPercentage": 5}});
    let out = v2(&obj);
    // Go's empty, non-nil slice: written as [] (currentMetrics has no omitempty).
    assert_eq!(out["status"]["currentMetrics"], json!([]));
    assert!(out["status"].get("conditions").is_none());
    assert_eq!(out["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 80);
    assert!(out["metadata"].get("annotations").is_none());
}

#[test]
fn annotations_are_read_like_encoding_json() {
    // Case-insensitive member names, unknown members ignored, null items as zero values.
    let obj = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"annotations": {
            METRICS_ANNOTATION: r#"[{"Type":"Pods","PODS":{"MetricName":"qps","targetAverageValue":5,"extra":1}}]"#,
            BEHAVIOR_ANNOTATION: r#"{"scaleDown":{"selectPolicy":"Disabled","policies":[]}}"#,
            CONDITIONS_ANNOTATION: r#"[null]"#}},
        "spec": {"maxReplicas": 2}});
    let out = v2(&obj);
    assert_eq!(
        out["spec"]["metrics"],
        json!([{"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "5"}}}])
    );
    assert_eq!(out["spec"]["behavior"], json!({"scaleDown": {"selectPolicy": "Disabled"}}));
    assert_eq!(out["status"]["conditions"], json!([{"type": "", "status": "", "lastTransitionTime": null}]));
}

#[test]
fn a_behavior_without_rules_is_not_restored() {
    for text in [r#"{"ScaleUp":null,"ScaleDown":null}"#, "null", "[]"] {
        let obj = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"annotations": {BEHAVIOR_ANNOTATION: text}}, "spec": {"maxReplicas": 2}});
        assert!(v2(&obj)["spec"].get("behavior").is_none(), "{text}");
    }
    // An empty v2 behavior still writes the annotation, as upstream does.
    let obj = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "spec": {"maxReplicas": 2, "behavior": {}}});
    assert_eq!(annotation(&v1(&obj), BEHAVIOR_ANNOTATION), Some(r#"{"ScaleUp":null,"ScaleDown":null}"#));
}

#[test]
fn stale_round_trip_annotations_on_v2_objects_never_show() {
    let obj = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"annotations": {METRICS_ANNOTATION: "[]", BEHAVIOR_ANNOTATION: "{}",
                                     CONDITIONS_ANNOTATION: "[]", CURRENT_METRICS_ANNOTATION: "[]"}},
        "spec": {"maxReplicas": 2, "metrics": [{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 60}}}]}});
    let out = v1(&obj);
    assert!(out["metadata"].get("annotations").is_none());
    // And a v1 object written back drops them too.
    let mut with_stale = out.clone();
    with_stale["metadata"]["annotations"] = json!({BEHAVIOR_ANNOTATION: "{}"});
    assert!(v2(&with_stale)["metadata"].get("annotations").is_none());
}

#[test]
fn go_escapes_html_in_annotations() {
    let obj = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "spec": {"maxReplicas": 2},
        "status": {"conditions": [{"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
            "message": "missing request for cpu in container <app> & sidecar"}]}});
    let text = annotation(&v1(&obj), CONDITIONS_ANNOTATION).unwrap_or_default().to_string();
    assert!(text.contains(r"container \u003capp\u003e \u0026 sidecar"), "{text}");
    // And decodes back to the original characters.
    let back = v2(&v1(&obj));
    assert_eq!(
        back["status"]["conditions"][0]["message"],
        "missing request for cpu in container <app> & sidecar"
    );
}

#[test]
fn unknown_members_are_dropped_and_wrong_types_rejected() {
    let mut obj = full_v2();
    obj["spec"]["bogus"] = json!(true);
    obj["status"]["currentMetrics"][0]["resource"]["extra"] = json!(1);
    obj["bogus"] = json!(1);
    assert_eq!(v2(&v1(&obj)), full_v2());

    let bad = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "spec": {"metrics": [{"type": "Pods", "pods": {"target": {"averageValue": "lots"}}}]}});
    assert_eq!(
        to_v1(&bad).unwrap_err().0,
        "spec.metrics[0].pods.target.averageValue: quantities must match the regular expression"
    );
    let bad =
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "spec": {"metrics": {}}});
    assert_eq!(to_v1(&bad).unwrap_err().0, "spec.metrics: expected a list, got an object");
    let bad = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"annotations": {"a": 1}}});
    assert_eq!(to_v2(&bad).unwrap_err().0, "metadata.annotations.a: expected a string, got a number");
}

#[test]
fn converted_objects_default_like_upstreams_storage_reads() {
    // A v1 create without a target: v1 defaulting gives minReplicas, conversion the CPU
    // metric, and v2 defaulting (which upstream applies when reading storage) the rest.
    let mut body = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5}});
    body["spec"]["minReplicas"] = json!(1);
    let mut stored = v2(&body);
    crate::defaults::apply_defaults("autoscaling", "v2", "HorizontalPodAutoscaler", &mut stored);
    let shown = v1(&stored);
    assert_eq!(shown["spec"]["targetCPUUtilizationPercentage"], 80);
    assert_eq!(shown["spec"]["minReplicas"], 1);
    assert!(shown["metadata"].get("annotations").is_none());
}
