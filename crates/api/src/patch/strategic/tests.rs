//! Strategic merge patches as kubectl and controllers send them, against the built-in schema.

use serde_json::{Value, json};

use super::{BuiltinSchema, strategic_merge_patch};
use crate::patch::PatchError;

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}
            },
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"team": "blue"}},
                "spec": {
                    "containers": [
                        {
                            "name": "nginx",
                            "image": "nginx:1.24",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "env": [
                                {"name": "A", "value": "1"},
                                {"name": "B", "value": "2"},
                                {"name": "C", "value": "3"}
                            ],
                            "resources": {"limits": {"cpu": "500m"}},
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}]
                        },
                        {"name": "sidecar", "image": "busybox:1.36", "args": ["sleep", "infinity"]}
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "tolerations": [{"key": "a", "operator": "Exists"}]
                }
            }
        }
    })
}

fn apply(target: &Value, patch: Value) -> Result<Value, PatchError> {
    let mut target = target.clone();
    strategic_merge_patch(&mut target, &patch, &BuiltinSchema)?;
    Ok(target)
}

fn applied(target: &Value, patch: Value) -> Value {
    match apply(target, patch) {
        Ok(v) => v,
        Err(e) => panic!("patch failed: {e}"),
    }
}

fn pod_spec(object: &Value) -> &Value {
    &object["spec"]["template"]["spec"]
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array().map(|items| items.iter().filter_map(|i| i["name"].as_str()).collect()).unwrap_or_default()
}

#[test]
fn set_image_keeps_the_container_and_its_neighbours() {
    // `kubectl set image deployment/web nginx=nginx:1.25` as the brief's older clients send it.
    let got = applied(
        &deployment(),
        json!({"spec": {"template": {"spec": {"containers": [{"image": "nginx:1.25", "name": "nginx"}]}}}}),
    );
    let mut want = deployment();
    want["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.25");
    assert_eq!(got, want);
}

#[test]
fn set_image_of_the_second_container_keeps_the_order() {
    let got = applied(
        &deployment(),
        json!({"spec": {"template": {"spec": {"containers": [
            {"image": "busybox:1.37", "name": "sidecar"}
        ]}}}}),
    );
    assert_eq!(names(&pod_spec(&got)["containers"]), ["nginx", "sidecar"]);
    assert_eq!(pod_spec(&got)["containers"][1]["image"], json!("busybox:1.37"));
    assert_eq!(pod_spec(&got)["containers"][1]["args"], json!(["sleep", "infinity"]));
}

#[test]
fn set_image_with_set_element_order() {
    // What current kubectl sends: a two-way patch carrying the list's order.
    let got = applied(
        &deployment(),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
            "containers": [{"image": "nginx:1.25", "name": "nginx"}]
        }}}}),
    );
    let mut want = deployment();
    want["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.25");
    assert_eq!(got, want);
}

#[test]
fn rollout_restart_adds_a_template_annotation() {
    let got = applied(
        &deployment(),
        json!({"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"
        }}}}}),
    );
    assert_eq!(
        got["spec"]["template"]["metadata"],
        json!({
            "labels": {"app": "web"},
            "annotations": {"team": "blue", "kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}
        })
    );
    assert_eq!(got["spec"]["template"]["spec"], deployment()["spec"]["template"]["spec"]);
}

#[test]
fn scale_and_label_via_strategic_patch() {
    let got = applied(
        &deployment(),
        json!({"metadata": {"labels": {"tier": "fe", "app": null}}, "spec": {"replicas": 5}}),
    );
    assert_eq!(got["metadata"]["labels"], json!({"tier": "fe"}));
    assert_eq!(got["spec"]["replicas"], json!(5));
}

#[test]
fn apply_adds_a_container_in_the_declared_order() {
    let got = applied(
        &deployment(),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}, {"name": "log"}, {"name": "sidecar"}],
            "containers": [{"image": "fluent-bit:3", "name": "log"}]
        }}}}),
    );
    assert_eq!(names(&pod_spec(&got)["containers"]), ["nginx", "log", "sidecar"]);
    assert_eq!(pod_spec(&got)["containers"][1], json!({"name": "log", "image": "fluent-bit:3"}));
    assert_eq!(pod_spec(&got)["containers"][0], deployment()["spec"]["template"]["spec"]["containers"][0]);
}

#[test]
fn plain_patch_adding_a_container_puts_it_first() {
    // Upstream's order rule without `$setElementOrder` (the kubectl patch docs show the same):
    // the new item goes before the items the patch does not mention.
    let got = applied(
        &deployment(),
        json!({"spec": {"template": {"spec": {"containers": [{"name": "redis", "image": "redis"}]}}}}),
    );
    assert_eq!(names(&pod_spec(&got)["containers"]), ["redis", "nginx", "sidecar"]);
}

#[test]
fn apply_removes_a_container() {
    let got = applied(
        &deployment(),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}],
            "containers": [{"$patch": "delete", "name": "sidecar"}]
        }}}}),
    );
    assert_eq!(names(&pod_spec(&got)["containers"]), ["nginx"]);
}

#[test]
fn apply_deletes_an_env_var() {
    let got = applied(
        &deployment(),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
            "containers": [{
                "$setElementOrder/env": [{"name": "A"}, {"name": "C"}],
                "env": [{"$patch": "delete", "name": "B"}],
                "name": "nginx"
            }]
        }}}}),
    );
    assert_eq!(
        pod_spec(&got)["containers"][0]["env"],
        json!([{"name": "A", "value": "1"}, {"name": "C", "value": "3"}])
    );
    assert_eq!(pod_spec(&got)["containers"][0]["image"], json!("nginx:1.24"));
}

#[test]
fn delete_directive_without_the_order_directive() {
    let got = applied(
        &deployment(),
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "nginx", "env": [{"name": "A", "$patch": "delete"}, {"name": "C", "value": "30"}]}
        ]}}}}),
    );
    assert_eq!(
        pod_spec(&got)["containers"][0]["env"],
        json!([{"name": "B", "value": "2"}, {"name": "C", "value": "30"}])
    );
}

#[test]
fn apply_changes_env_value_and_adds_one_in_order() {
    let got = applied(
        &deployment(),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
            "containers": [{
                "$setElementOrder/env": [{"name": "A"}, {"name": "B"}, {"name": "D"}, {"name": "C"}],
                "env": [{"name": "B", "value": "20"}, {"name": "D", "value": "4"}],
                "name": "nginx"
            }]
        }}}}),
    );
    assert_eq!(
        pod_spec(&got)["containers"][0]["env"],
        json!([
            {"name": "A", "value": "1"},
            {"name": "B", "value": "20"},
            {"name": "D", "value": "4"},
            {"name": "C", "value": "3"}
        ])
    );
}

#[test]
fn apply_reorders_without_changing_items() {
    let got = applied(
        &deployment(),
        json!({"spec": {"template": {"spec": {"containers": [{
            "name": "nginx",
            "$setElementOrder/env": [{"name": "C"}, {"name": "A"}, {"name": "B"}]
        }]}}}}),
    );
    assert_eq!(
        pod_spec(&got)["containers"][0]["env"],
        json!([{"name": "C", "value": "3"}, {"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
    );
}

#[test]
fn order_directive_contradicting_the_patch_list_is_rejected() {
    // The patch list names 443 before 80 while the order says otherwise: upstream rejects this.
    let err = apply(
        &deployment(),
        json!({"spec": {"template": {"spec": {"containers": [{
            "$setElementOrder/ports": [{"containerPort": 80}, {"containerPort": 443}],
            "name": "nginx",
            "ports": [{"containerPort": 443}, {"containerPort": 80}]
        }]}}}}),
    );
    match err {
        Err(PatchError::Strategic { path, message }) => {
            assert_eq!(path, "spec.template.spec.containers.ports");
            assert!(message.contains("doesn't match $setElementOrder list"), "{message}");
        }
        other => panic!("expected an order mismatch, got {other:?}"),
    }
    // A patch item the order does not name is just as wrong.
    let err = apply(
        &deployment(),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}],
            "containers": [{"name": "other", "image": "x"}]
        }}}}),
    );
    assert!(
        matches!(err, Err(PatchError::Strategic { ref message, .. }) if message.contains("doesn't match"))
    );
}

#[test]
fn apply_adds_a_port_in_order() {
    let got = applied(
        &deployment(),
        json!({"spec": {"template": {"spec": {"containers": [{
            "$setElementOrder/ports": [{"containerPort": 80}, {"containerPort": 443}],
            "name": "nginx",
            "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443, "name": "https"}]
        }]}}}}),
    );
    assert_eq!(
        pod_spec(&got)["containers"][0]["ports"],
        json!([
            {"containerPort": 80, "protocol": "TCP", "name": "http"},
            {"containerPort": 443, "name": "https"}
        ])
    );
}

#[test]
fn retain_keys_switches_rolling_update_to_recreate() {
    let got = applied(
        &deployment(),
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}}),
    );
    assert_eq!(got["spec"]["strategy"], json!({"type": "Recreate"}));
    // Without the directive the old member would survive beside the new type.
    let got = applied(&deployment(), json!({"spec": {"strategy": {"type": "Recreate"}}}));
    assert_eq!(got["spec"]["strategy"]["rollingUpdate"]["maxSurge"], json!("25%"));
}

#[test]
fn retain_keys_switches_a_volume_source() {
    let got = applied(
        &deployment(),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/volumes": [{"name": "data"}],
            "volumes": [
                {"$retainKeys": ["configMap", "name"], "configMap": {"name": "web-config"}, "name": "data"}
            ]
        }}}}),
    );
    assert_eq!(pod_spec(&got)["volumes"], json!([{"name": "data", "configMap": {"name": "web-config"}}]));
}

#[test]
fn new_volume_drops_its_directives() {
    let got = applied(
        &deployment(),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/volumes": [{"name": "data"}, {"name": "cache"}],
            "volumes": [
                {"$retainKeys": ["emptyDir", "name"], "emptyDir": {"medium": "Memory"}, "name": "cache"}
            ]
        }}}}),
    );
    assert_eq!(
        pod_spec(&got)["volumes"],
        json!([{"name": "data", "emptyDir": {}}, {"name": "cache", "emptyDir": {"medium": "Memory"}}])
    );
}

#[test]
fn finalizer_removed_with_delete_from_primitive_list() {
    let object =
        json!({"metadata": {"name": "ns", "finalizers": ["kubernetes", "example.com/cleanup", "x/y"]}});
    let got = applied(
        &object,
        json!({"metadata": {
            "$deleteFromPrimitiveList/finalizers": ["example.com/cleanup"],
            "$setElementOrder/finalizers": ["kubernetes", "x/y"]
        }}),
    );
    assert_eq!(got["metadata"]["finalizers"], json!(["kubernetes", "x/y"]));
    let got =
        applied(&object, json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["kubernetes", "x/y"]}}));
    assert_eq!(got["metadata"]["finalizers"], json!(["example.com/cleanup"]));
}

#[test]
fn finalizers_merge_as_a_set() {
    let object = json!({"metadata": {"finalizers": ["a", "b"]}});
    assert_eq!(
        applied(&object, json!({"metadata": {"finalizers": ["a", "b"]}}))["metadata"]["finalizers"],
        json!(["a", "b"])
    );
    assert_eq!(
        applied(&object, json!({"metadata": {"finalizers": ["b", "b"]}}))["metadata"]["finalizers"],
        json!(["a", "b"])
    );
    // A new member goes before the unmentioned ones, as upstream orders it.
    assert_eq!(
        applied(&object, json!({"metadata": {"finalizers": ["c"]}}))["metadata"]["finalizers"],
        json!(["c", "a", "b"])
    );
    assert_eq!(
        applied(&object, json!({"metadata": {"finalizers": ["b", "c"]}}))["metadata"]["finalizers"],
        json!(["a", "b", "c"])
    );
    // With the order directive kubectl apply sends, it lands where declared.
    let got = applied(
        &object,
        json!({"metadata": {"$setElementOrder/finalizers": ["a", "b", "c"], "finalizers": ["c"]}}),
    );
    assert_eq!(got["metadata"]["finalizers"], json!(["a", "b", "c"]));
}

#[test]
fn empty_patch_list_changes_nothing_but_replace_empties() {
    let got = applied(&deployment(), json!({"spec": {"template": {"spec": {"containers": []}}}}));
    assert_eq!(got, deployment());
    let got = applied(
        &deployment(),
        json!({"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}]}}}}),
    );
    assert_eq!(pod_spec(&got)["containers"], json!([]));
}

#[test]
fn list_replace_directive() {
    let got = applied(
        &deployment(),
        json!({"spec": {"template": {"spec": {"containers": [
            {
                "name": "only",
                "image": "alpine",
                "env": [{"name": "X", "$patch": "delete"}, {"name": "Y", "value": "1"}]
            },
            {"$patch": "replace"}
        ]}}}}),
    );
    assert_eq!(
        pod_spec(&got)["containers"],
        json!([{"name": "only", "image": "alpine", "env": [{"name": "Y", "value": "1"}]}])
    );
}

#[test]
fn item_replace_directive_replaces_that_item_only() {
    let got = applied(
        &deployment(),
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "nginx", "image": "nginx:1.26", "$patch": "replace"}
        ]}}}}),
    );
    assert_eq!(
        pod_spec(&got)["containers"],
        json!([
            {"name": "nginx", "image": "nginx:1.26"},
            {"name": "sidecar", "image": "busybox:1.36", "args": ["sleep", "infinity"]}
        ])
    );
}

#[test]
fn map_replace_directive_on_resources() {
    let got = applied(
        &deployment(),
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "nginx", "resources": {"$patch": "replace", "requests": {"memory": "64Mi"}}}
        ]}}}}),
    );
    assert_eq!(pod_spec(&got)["containers"][0]["resources"], json!({"requests": {"memory": "64Mi"}}));
}

#[test]
fn atomic_lists_are_replaced() {
    let got = applied(
        &deployment(),
        json!({"spec": {"template": {"spec": {
            "tolerations": [{"key": "b", "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [{"name": "sidecar", "args": ["sh"]}]
        }}}}),
    );
    assert_eq!(
        pod_spec(&got)["tolerations"],
        json!([{"key": "b", "operator": "Exists", "effect": "NoSchedule"}])
    );
    assert_eq!(pod_spec(&got)["containers"][1]["args"], json!(["sh"]));
}

#[test]
fn node_taints_are_atomic() {
    let node = json!({"spec": {"taints": [
        {"key": "a", "effect": "NoSchedule"},
        {"key": "b", "effect": "NoExecute"}
    ]}});
    let got = applied(&node, json!({"spec": {"taints": [{"key": "c", "effect": "NoSchedule"}]}}));
    assert_eq!(got["spec"]["taints"], json!([{"key": "c", "effect": "NoSchedule"}]));
}

#[test]
fn service_ports_merge_by_port() {
    let service = json!({"spec": {"type": "ClusterIP", "ports": [
        {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"name": "metrics", "port": 9090, "protocol": "TCP"}
    ]}});
    let got = applied(
        &service,
        json!({"spec": {
            "$setElementOrder/ports": [{"port": 80}, {"port": 9090}, {"port": 443}],
            "ports": [{"port": 80, "targetPort": 8081}, {"name": "https", "port": 443, "targetPort": 8443}]
        }}),
    );
    assert_eq!(
        got["spec"]["ports"],
        json!([
            {"name": "http", "port": 80, "targetPort": 8081, "protocol": "TCP"},
            {"name": "metrics", "port": 9090, "protocol": "TCP"},
            {"name": "https", "port": 443, "targetPort": 8443}
        ])
    );
}

#[test]
fn pod_status_conditions_merge_by_type() {
    // The kubelet's status patch.
    let pod = json!({"status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "True"},
        {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}
    ]}});
    let got = applied(
        &pod,
        json!({"status": {
            "$setElementOrder/conditions": [
                {"type": "PodScheduled"},
                {"type": "Initialized"},
                {"type": "Ready"}
            ],
            "conditions": [
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": "True", "reason": null}
            ],
            "phase": "Running"
        }}),
    );
    assert_eq!(
        got["status"],
        json!({"phase": "Running", "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True"},
            {"type": "Ready", "status": "True"}
        ]})
    );
}

#[test]
fn owner_references_merge_by_uid() {
    let object = json!({"metadata": {"ownerReferences": [{"uid": "1", "kind": "ReplicaSet", "name": "a"}]}});
    let got = applied(
        &object,
        json!({"metadata": {"ownerReferences": [
            {"uid": "1", "controller": true},
            {"uid": "2", "kind": "Job", "name": "b"}
        ]}}),
    );
    assert_eq!(
        got["metadata"]["ownerReferences"],
        json!([
            {"uid": "1", "kind": "ReplicaSet", "name": "a", "controller": true},
            {"uid": "2", "kind": "Job", "name": "b"}
        ])
    );
}

#[test]
fn cronjob_containers_merge_at_depth() {
    let cronjob = json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
        "restartPolicy": "OnFailure",
        "containers": [{"name": "job", "image": "busybox", "env": [{"name": "A", "value": "1"}]}]
    }}}}}});
    let got = applied(
        &cronjob,
        json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
            {"name": "job", "image": "busybox:1.36", "env": [{"name": "B", "value": "2"}]}
        ]}}}}}}),
    );
    let containers = &got["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        containers,
        &json!([{
            "name": "job",
            "image": "busybox:1.36",
            "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]
        }])
    );
}

#[test]
fn kubectl_edit_two_way_patch() {
    let got = applied(
        &deployment(),
        json!({"spec": {
            "replicas": 3,
            "template": {"spec": {
                "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
                "containers": [{
                    "$setElementOrder/env": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
                    "env": [{"name": "B", "value": "two"}],
                    "name": "nginx",
                    "resources": {"limits": {"cpu": null, "memory": "128Mi"}}
                }]
            }}
        }}),
    );
    let nginx = &pod_spec(&got)["containers"][0];
    assert_eq!(got["spec"]["replicas"], json!(3));
    assert_eq!(nginx["env"][1], json!({"name": "B", "value": "two"}));
    assert_eq!(nginx["resources"], json!({"limits": {"memory": "128Mi"}}));
    assert_eq!(names(&pod_spec(&got)["containers"]), ["nginx", "sidecar"]);
}

#[test]
fn missing_merge_key_is_an_error_and_changes_nothing() {
    let original = deployment();
    let mut object = original.clone();
    let err = strategic_merge_patch(
        &mut object,
        &json!({"spec": {"replicas": 9, "template": {"spec": {"containers": [{"image": "nginx:1.25"}]}}}}),
        &BuiltinSchema,
    )
    .expect_err("container without name");
    assert_eq!(err.to_string(), r#"map: {"image":"nginx:1.25"} does not contain declared merge key: name"#);
    assert_eq!(err.status_code(), 400);
    assert!(matches!(err, PatchError::Strategic { ref path, .. } if path == "spec.template.spec.containers"));
    assert_eq!(object, original);
}

/// The message of a strategic merge patch error.
fn failure(result: Result<Value, PatchError>) -> String {
    match result {
        Err(PatchError::Strategic { message, .. }) => message,
        other => panic!("expected a strategic merge patch error, got {other:?}"),
    }
}

#[test]
fn delete_directive_needs_the_merge_key() {
    let got =
        apply(&deployment(), json!({"spec": {"template": {"spec": {"containers": [{"$patch": "delete"}]}}}}));
    assert_eq!(failure(got), r#"map: {"$patch":"delete"} does not contain declared merge key: name"#);
}

#[test]
fn malformed_lists_are_errors() {
    let got = apply(&deployment(), json!({"spec": {"template": {"spec": {"containers": ["nginx"]}}}}));
    assert_eq!(failure(got), "list element types are not identical: found a map and a string");
    let object = json!({"metadata": {"finalizers": [["a"]]}});
    let got = apply(&object, json!({"metadata": {"finalizers": [["b"]]}}));
    assert_eq!(failure(got), "lists of lists are not supported");
    let got = apply(
        &deployment(),
        json!({"spec": {"template": {"spec": {"containers": [{"name": "x", "$patch": "bogus"}]}}}}),
    );
    assert!(failure(got).starts_with("unknown patch type: bogus in map: "));
}

#[test]
fn maps_in_a_merge_list_without_a_key_are_an_error() {
    let schema = |path: &[&str]| {
        if path == ["items"] { super::FieldMeta::merge_set() } else { super::FieldMeta::default() }
    };
    let mut object = json!({"items": [{"a": 1}]});
    let err =
        strategic_merge_patch(&mut object, &json!({"items": [{"a": 2}]}), &schema).expect_err("no merge key");
    assert_eq!(err.to_string(), "cannot merge lists without merge key for items");
}

#[test]
fn patch_without_schema_knowledge_replaces_lists() {
    let mut object = deployment();
    strategic_merge_patch(
        &mut object,
        &json!({"spec": {"template": {"spec": {"containers": [{"name": "x"}]}}}}),
        &super::NoSchema,
    )
    .expect("applies");
    assert_eq!(pod_spec(&object)["containers"], json!([{"name": "x"}]));
}
