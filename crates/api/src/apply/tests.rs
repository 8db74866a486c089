//! Server-side apply as kubectl, helm and controllers exercise it, against the built-in schema.

use serde_json::{Value, json};

use super::*;
use crate::patch::{BuiltinSchema, NoSchema, PatchSchema, merge_patch};

const T0: &str = "2025-01-01T00:00:00Z";
const T1: &str = "2025-01-01T00:01:00Z";
const T2: &str = "2025-01-01T00:02:00Z";
const T3: &str = "2025-01-01T00:03:00Z";

fn deployment(image: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "nginx",
                    "image": image,
                    "ports": [{"containerPort": 80}]
                }]}
            }
        }
    })
}

/// What the server adds around a stored object; apply must keep it.
fn stored(mut obj: Value) -> Value {
    let meta = obj["metadata"].as_object_mut().unwrap();
    meta.insert("uid".into(), json!("0b5a"));
    meta.insert("resourceVersion".into(), json!("7"));
    meta.insert("creationTimestamp".into(), json!(T0));
    meta.insert("generation".into(), json!(1));
    obj
}

fn fs(v: Value) -> FieldSet {
    FieldSet::from_fields_v1(&v).unwrap()
}

fn entries(obj: &Value) -> Vec<ManagedFieldsEntry> {
    decode_managed_fields(obj).expect("managedFields decode")
}

fn entry(obj: &Value, manager: &str) -> Value {
    obj["metadata"]["managedFields"]
        .as_array()
        .and_then(|list| list.iter().find(|e| e["manager"] == manager))
        .cloned()
        .unwrap_or_else(|| panic!("no entry for {manager} in {obj:#}"))
}

fn managers(obj: &Value) -> Vec<(String, Operation)> {
    entries(obj).into_iter().map(|e| (e.manager, e.operation)).collect()
}

fn applied(current: Option<&Value>, config: &Value, manager: &str, now: &str) -> Value {
    match apply(current, config, manager, "apps/v1", false, now, &BuiltinSchema) {
        Ok(obj) => obj,
        Err(e) => panic!("apply by {manager} failed: {e}"),
    }
}

fn containers(obj: &Value) -> &Vec<Value> {
    obj["spec"]["template"]["spec"]["containers"].as_array().unwrap()
}

#[test]
fn apply_creates_the_object() {
    let config = deployment("nginx:1.25", 2);
    let obj = applied(None, &config, "kubectl", T0);
    let mut want = config.clone();
    want["metadata"]["managedFields"] = json!([{
        "manager": "kubectl",
        "operation": "Apply",
        "apiVersion": "apps/v1",
        "time": T0,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                        ".": {},
                        "f:image": {},
                        "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                            ".": {}, "f:containerPort": {}
                        }}
                    }}}
                }
            }
        }
    }]);
    assert_eq!(obj, want);
}

#[test]
fn reapplying_the_same_configuration_changes_nothing() {
    let config = deployment("nginx:1.25", 2);
    let first = stored(applied(None, &config, "kubectl", T0));
    let second = applied(Some(&first), &config, "kubectl", T1);
    // Upstream leaves even the time alone when the object does not change, so the server
    // stores nothing and the resourceVersion stays.
    assert_eq!(second, first);
}

#[test]
fn a_changed_reapply_updates_the_time_only_of_the_applier() {
    let first = stored(applied(None, &deployment("nginx:1.25", 2), "kubectl", T0));
    let second = applied(Some(&first), &deployment("nginx:1.26", 2), "kubectl", T1);
    assert_eq!(containers(&second)[0]["image"], "nginx:1.26");
    assert_eq!(entry(&second, "kubectl")["time"], T1);
    assert_eq!(entry(&second, "kubectl")["fieldsV1"], entry(&first, "kubectl")["fieldsV1"]);
    // Server-owned metadata is kept.
    assert_eq!(second["metadata"]["uid"], "0b5a");
    assert_eq!(second["metadata"]["creationTimestamp"], T0);
}

#[test]
fn dropping_a_label_from_the_configuration_removes_it() {
    let mut config = deployment("nginx:1.25", 2);
    config["metadata"]["labels"]["tier"] = json!("frontend");
    let first = stored(applied(None, &config, "kubectl", T0));
    let second = applied(Some(&first), &deployment("nginx:1.25", 2), "kubectl", T1);
    assert_eq!(second["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(entry(&second, "kubectl")["fieldsV1"]["f:metadata"], json!({"f:labels": {"f:app": {}}}));

    // Dropping all labels removes the map itself.
    let mut bare = deployment("nginx:1.25", 2);
    bare["metadata"].as_object_mut().unwrap().remove("labels");
    let third = applied(Some(&stored(second)), &bare, "kubectl", T2);
    assert!(third["metadata"].get("labels").is_none(), "{third:#}");
    assert_eq!(third["metadata"]["name"], "web");
}

#[test]
fn a_label_another_manager_also_owns_stays() {
    let first = stored(applied(None, &deployment("nginx:1.25", 2), "kubectl", T0));
    // A second applier states the same label (same value: no conflict) and another one.
    let other = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": "web", "labels": {"app": "web", "team": "blue"}}});
    let second = stored(applied(Some(&first), &other, "labeler", T1));
    assert_eq!(second["metadata"]["labels"], json!({"app": "web", "team": "blue"}));
    let mut no_labels = deployment("nginx:1.25", 2);
    no_labels["metadata"].as_object_mut().unwrap().remove("labels");
    let third = applied(Some(&second), &no_labels, "kubectl", T2);
    // `app` is still the labeler's: it stays.
    assert_eq!(third["metadata"]["labels"], json!({"app": "web", "team": "blue"}));
}

#[test]
fn two_managers_own_different_fields() {
    let first = stored(applied(None, &deployment("nginx:1.25", 2), "kubectl", T0));
    let annotate = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": "web", "annotations": {"owner": "ops"}}, "spec": {"paused": true}});
    let second = stored(applied(Some(&first), &annotate, "ops", T1));
    assert_eq!(second["metadata"]["annotations"], json!({"owner": "ops"}));
    assert_eq!(second["spec"]["paused"], true);
    assert_eq!(second["spec"]["replicas"], 2);
    assert_eq!(
        managers(&second),
        [("kubectl".to_string(), Operation::Apply), ("ops".to_string(), Operation::Apply)]
    );
    assert_eq!(
        entry(&second, "ops")["fieldsV1"],
        json!({"f:metadata": {"f:annotations": {"f:owner": {}}}, "f:spec": {"f:paused": {}}})
    );
    assert_eq!(entry(&second, "kubectl"), entry(&first, "kubectl"));

    // Each one's later applies leave the other's fields alone.
    let third = stored(applied(Some(&second), &deployment("nginx:1.26", 2), "kubectl", T2));
    assert_eq!(third["spec"]["paused"], true);
    let release = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
    let fourth = applied(Some(&third), &release, "ops", T3);
    // Releasing everything removes ops' fields, and its entry.
    assert!(fourth["spec"].get("paused").is_none());
    assert!(fourth["metadata"].get("annotations").is_none());
    assert_eq!(managers(&fourth), [("kubectl".to_string(), Operation::Apply)]);
    assert_eq!(containers(&fourth)[0]["image"], "nginx:1.26");
}

#[test]
fn scaling_then_applying_conflicts_on_replicas_until_forced() {
    let first = stored(applied(None, &deployment("nginx:1.25", 2), "kubectl", T0));
    // `kubectl scale --replicas=5` through the scale subresource.
    let mut scaled = first.clone();
    scaled["spec"]["replicas"] = json!(5);
    let opts = Options::new("kubectl-scale", "apps/v1", T1).subresource("scale");
    let scaled = stored(record_update_with(Some(&first), scaled.clone(), &opts, &BuiltinSchema));
    let scale_entry = entry(&scaled, "kubectl-scale");
    assert_eq!(scale_entry["operation"], "Update");
    assert_eq!(scale_entry["subresource"], "scale");
    assert_eq!(scale_entry["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));
    // The applier lost replicas to the scaler.
    assert!(entry(&scaled, "kubectl")["fieldsV1"]["f:spec"].get("f:replicas").is_none());

    // Re-applying replicas: 2 would change a field kubectl-scale owns.
    let config = deployment("nginx:1.25", 2);
    let err = apply(Some(&scaled), &config, "kubectl", "apps/v1", false, T2, &BuiltinSchema).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "kubectl-scale" with subresource "scale" using apps/v1: .spec.replicas"#
    );
    let ApplyError::Conflicts(conflicts) = &err else { panic!("{err:?}") };
    assert_eq!(conflicts[0].field_path, ".spec.replicas");
    assert_eq!(conflicts[0].manager, "kubectl-scale");
    let status = err.to_api_error().to_status();
    assert_eq!(status["code"], 409);
    assert_eq!(status["details"]["causes"][0]["reason"], "FieldManagerConflict");
    assert_eq!(status["details"]["causes"][0]["field"], ".spec.replicas");

    // Applying the value the object already has is no conflict.
    let same = applied(Some(&scaled), &deployment("nginx:1.25", 5), "kubectl", T2);
    assert_eq!(same["spec"]["replicas"], 5);
    // Both own it now: a later change by either conflicts with the other.
    assert_eq!(entry(&same, "kubectl")["fieldsV1"]["f:spec"]["f:replicas"], json!({}));
    assert_eq!(entry(&same, "kubectl-scale")["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));

    // Forced, the applier takes it and the scaler's entry, now empty, goes.
    let forced = apply(Some(&scaled), &config, "kubectl", "apps/v1", true, T2, &BuiltinSchema).unwrap();
    assert_eq!(forced["spec"]["replicas"], 2);
    assert_eq!(managers(&forced), [("kubectl".to_string(), Operation::Apply)]);
    assert_eq!(entry(&forced, "kubectl")["fieldsV1"]["f:spec"]["f:replicas"], json!({}));
    assert_eq!(entry(&forced, "kubectl")["time"], T2);
}

#[test]
fn conflict_with_client_side_apply_reads_like_upstream() {
    // Created by `kubectl apply` (client-side): an Update entry of kubectl-client-side-apply.
    let created = record_update(
        None,
        &stored(deployment("nginx:1.25", 2)),
        "kubectl-client-side-apply",
        "apps/v1",
        T0,
        &BuiltinSchema,
    );
    let mut config = deployment("nginx:1.26", 3);
    config["metadata"]["labels"]["tier"] = json!("web");
    let err = apply(Some(&created), &config, "helm", "apps/v1", false, T1, &BuiltinSchema).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n\
         - .spec.replicas\n\
         - .spec.template.spec.containers[name=\"nginx\"].image"
    );
}

#[test]
fn kubectl_server_side_apply_takes_over_from_client_side_apply() {
    let mut csa = stored(deployment("nginx:1.25", 2));
    let last = "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"}}\n";
    // What client-side apply stored: the whole configuration.
    let config_text = serde_json::to_string(&deployment("nginx:1.25", 2)).unwrap();
    csa["metadata"]["annotations"] = json!({LAST_APPLIED_ANNOTATION: config_text});
    let created = record_update(None, &csa, "kubectl-client-side-apply", "apps/v1", T0, &BuiltinSchema);
    // `kubectl apply --server-side` changes the image: a field client-side apply applied.
    let obj = applied(Some(&created), &deployment("nginx:1.26", 2), "kubectl", T1);
    assert_eq!(containers(&obj)[0]["image"], "nginx:1.26");
    let annotation = obj["metadata"]["annotations"][LAST_APPLIED_ANNOTATION].as_str().unwrap();
    assert!(annotation.contains("nginx:1.26") && annotation.ends_with('\n'), "{annotation}");
    assert_ne!(annotation, last);
    // Another manager gets no such pass.
    assert!(matches!(
        apply(Some(&created), &deployment("nginx:1.26", 2), "helm", "apps/v1", false, T1, &BuiltinSchema),
        Err(ApplyError::Conflicts(_))
    ));
}

#[test]
fn associative_lists_merge_by_key() {
    let mut config = deployment("nginx:1.25", 2);
    let pod = &mut config["spec"]["template"]["spec"];
    pod["containers"] = json!([
        {"name": "nginx", "image": "nginx:1.25", "ports": [
            {"containerPort": 80},
            {"containerPort": 53, "protocol": "UDP"}
        ]},
        {"name": "helper", "image": "busybox", "args": ["sleep", "1"]}
    ]);
    let first = stored(applied(None, &config, "app", T0));
    // A sidecar injector applies its own container and a port on nginx.
    let mut sidecar = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"template": {"spec": {"containers": [
        {"name": "nginx", "ports": [{"containerPort": 9090, "protocol": "TCP", "name": "metrics"}]},
        {"name": "proxy", "image": "envoy"}
    ]}}}});
    let second = stored(applied(Some(&first), &sidecar, "injector", T1));
    let names: Vec<&str> = containers(&second).iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["nginx", "helper", "proxy"]);
    assert_eq!(
        containers(&second)[0]["ports"],
        json!([
            {"containerPort": 80},
            {"containerPort": 53, "protocol": "UDP"},
            {"containerPort": 9090, "protocol": "TCP", "name": "metrics"}
        ])
    );
    assert_eq!(
        entry(&second, "injector")["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"],
        json!({
            "k:{\"name\":\"nginx\"}": {".": {}, "f:name": {}, "f:ports": {
                "k:{\"containerPort\":9090,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:name": {}, "f:protocol": {}}
            }},
            "k:{\"name\":\"proxy\"}": {".": {}, "f:image": {}, "f:name": {}}
        })
    );

    // The app drops its helper container and the UDP port: they go, as only it owned them.
    // It also drops nginx entirely, which the injector still partly owns: nginx stays with
    // the injector's fields and its name.
    let mut smaller = config.clone();
    smaller["spec"]["template"]["spec"]["containers"] = json!([]);
    let third = stored(applied(Some(&second), &smaller, "app", T2));
    assert_eq!(
        containers(&third),
        &vec![
            json!({"name": "nginx", "ports": [{"containerPort": 9090, "protocol": "TCP", "name": "metrics"}]}),
            json!({"name": "proxy", "image": "envoy"})
        ]
    );

    // The injector drops its proxy: gone; nginx, now owned by nobody, goes too.
    sidecar["spec"]["template"]["spec"]["containers"] = json!([{"name": "other", "image": "x"}]);
    let fourth = applied(Some(&third), &sidecar, "injector", T3);
    assert_eq!(containers(&fourth), &vec![json!({"name": "other", "image": "x"})]);
}

#[test]
fn removing_a_container_only_this_manager_owned() {
    let mut config = deployment("nginx:1.25", 2);
    config["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "sidecar", "image": "busybox"}));
    let first = stored(applied(None, &config, "app", T0));
    // The server defaulted fields in both containers; nobody owns them.
    let mut defaulted = first.clone();
    for c in defaulted["spec"]["template"]["spec"]["containers"].as_array_mut().unwrap() {
        c["imagePullPolicy"] = json!("IfNotPresent");
    }
    let second = applied(Some(&defaulted), &deployment("nginx:1.25", 2), "app", T1);
    assert_eq!(
        containers(&second),
        &vec![json!({"name": "nginx", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
                     "ports": [{"containerPort": 80}]})]
    );
}

#[test]
fn helm_install_then_upgrade() {
    let mut chart = deployment("app:1.0", 1);
    chart["spec"]["template"]["spec"]["containers"][0]["env"] = json!([
        {"name": "LOG_LEVEL", "value": "info"},
        {"name": "FEATURE_X", "value": "on"}
    ]);
    chart["spec"]["template"]["spec"]["containers"][0]["resources"] = json!({"limits": {"cpu": "500m"}});
    let installed = stored(applied(None, &chart, "helm", T0));
    // The deployment controller and defaulting run; a user `kubectl edit`s an annotation.
    let mut edited = installed.clone();
    edited["metadata"]["annotations"] = json!({"note": "hand-edited"});
    edited["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] =
        json!("/dev/termination-log");
    let edited =
        stored(record_update(Some(&installed), &edited, "kubectl-edit", "apps/v1", T1, &BuiltinSchema));
    assert_eq!(
        entry(&edited, "kubectl-edit")["fieldsV1"],
        json!({
            "f:metadata": {"f:annotations": {".": {}, "f:note": {}}},
            "f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                "f:terminationMessagePath": {}
            }}}}}
        })
    );

    // Upgrade: new image, FEATURE_X gone, resources gone.
    let mut upgrade = deployment("app:2.0", 1);
    upgrade["spec"]["template"]["spec"]["containers"][0]["env"] =
        json!([{"name": "LOG_LEVEL", "value": "info"}]);
    let upgraded = applied(Some(&edited), &upgrade, "helm", T2);
    let c = &containers(&upgraded)[0];
    assert_eq!(c["image"], "app:2.0");
    assert_eq!(c["env"], json!([{"name": "LOG_LEVEL", "value": "info"}]));
    assert!(c.get("resources").is_none(), "{c:#}");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(upgraded["metadata"]["annotations"], json!({"note": "hand-edited"}));
    assert_eq!(
        managers(&upgraded),
        [("helm".to_string(), Operation::Apply), ("kubectl-edit".to_string(), Operation::Update)]
    );
    let helm = &entry(&upgraded, "helm")["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"];
    assert_eq!(
        helm["k:{\"name\":\"nginx\"}"]["f:env"],
        json!({"k:{\"name\":\"LOG_LEVEL\"}": {".": {}, "f:name": {}, "f:value": {}}})
    );
    assert_eq!(entry(&upgraded, "helm")["time"], T2);
}

#[test]
fn record_update_after_a_merge_patch() {
    let created = stored(record_update(
        None,
        &stored(deployment("nginx:1.25", 2)),
        "kubectl-create",
        "apps/v1",
        T0,
        &BuiltinSchema,
    ));
    assert_eq!(
        entry(&created, "kubectl-create")["fieldsV1"],
        json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                    // Upstream's Go zero value has `containers: null`, so it shows no `.` there.
                    "f:spec": {"f:containers": {".": {}, "k:{\"name\":\"nginx\"}": {
                        ".": {}, "f:image": {}, "f:name": {}, "f:ports": {
                            ".": {}, "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}
                        }
                    }}}
                }
            }
        })
    );
    // `kubectl patch --type merge -p '{"metadata":{"labels":{"app":null,"tier":"web"}},"spec":{"replicas":4}}'`
    let mut patched = created.clone();
    merge_patch(
        &mut patched,
        &json!({"metadata": {"labels": {"app": null, "tier": "web"}}, "spec": {"replicas": 4}}),
    );
    let recorded = record_update(Some(&created), &patched, "kubectl-patch", "apps/v1", T1, &BuiltinSchema);
    assert_eq!(recorded["spec"]["replicas"], 4);
    assert_eq!(
        entry(&recorded, "kubectl-patch"),
        json!({
            "manager": "kubectl-patch",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": T1,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {"f:tier": {}}}, "f:spec": {"f:replicas": {}}}
        })
    );
    // The creator lost replicas (taken) and the app label (removed from the object).
    let creator = &entry(&recorded, "kubectl-create")["fieldsV1"];
    // It still owns the labels map it created: a member without children is `{}`.
    assert_eq!(creator["f:metadata"], json!({"f:labels": {}}));
    assert!(creator["f:spec"].get("f:replicas").is_none());
    assert_eq!(managers(&recorded)[0].0, "kubectl-create");

    // A second patch by the same manager merges into its entry.
    let mut again = recorded.clone();
    merge_patch(&mut again, &json!({"spec": {"paused": true}}));
    let again = record_update(Some(&recorded), &again, "kubectl-patch", "apps/v1", T2, &BuiltinSchema);
    assert_eq!(
        entry(&again, "kubectl-patch")["fieldsV1"],
        json!({"f:metadata": {"f:labels": {"f:tier": {}}}, "f:spec": {"f:paused": {}, "f:replicas": {}}})
    );
    assert_eq!(entry(&again, "kubectl-patch")["time"], T2);
    // A write that changes nothing changes no entry.
    let noop = record_update(Some(&again), &again, "someone", "apps/v1", T3, &BuiltinSchema);
    assert_eq!(noop, again);
}

#[test]
fn status_is_not_tracked_on_the_main_resource() {
    let mut config = deployment("nginx:1.25", 2);
    config["status"] = json!({"replicas": 9});
    let created = applied(None, &config, "kubectl", T0);
    assert!(created.get("status").is_none());
    assert!(entry(&created, "kubectl")["fieldsV1"].get("f:status").is_none());
    assert!(field_set(&config, &BuiltinSchema).child(&PathElement::field("status")).is_none());
    let mut live = stored(created);
    live["status"] = json!({"replicas": 2});
    let reapplied = applied(Some(&live), &config, "kubectl", T1);
    assert_eq!(reapplied["status"], json!({"replicas": 2}));

    // The kubelet-like status writer is recorded against the status subresource.
    let mut new = live.clone();
    new["status"] = json!({"replicas": 2, "conditions": [{"type": "Available", "status": "True"}]});
    let opts = Options::new("kube-controller-manager", "apps/v1", T2).subresource("status");
    let recorded = record_update_with(Some(&live), new.clone(), &opts, &BuiltinSchema);
    assert_eq!(
        entry(&recorded, "kube-controller-manager"),
        json!({
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": T2,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {"f:conditions": {".": {}, "k:{\"type\":\"Available\"}": {
                ".": {}, "f:status": {}, "f:type": {}
            }}}},
            "subresource": "status"
        })
    );
}

#[test]
fn invalid_applies() {
    let config = deployment("nginx:1.25", 2);
    let err = apply(None, &config, "", "apps/v1", false, T0, &BuiltinSchema).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch"#
    );
    assert_eq!(err.status_code(), 422);
    let err = apply(None, &json!([]), "m", "apps/v1", false, T0, &BuiltinSchema).unwrap_err();
    assert!(matches!(err, ApplyError::NotAnObject(_)));
    let err = apply(None, &config, "m", "apps/v1beta1", false, T0, &BuiltinSchema).unwrap_err();
    assert_eq!(err.to_string(), "invalid object type: apps/v1, Kind=Deployment");
    let mut no_kind = config.clone();
    no_kind.as_object_mut().unwrap().remove("kind");
    assert_eq!(
        apply(None, &no_kind, "m", "apps/v1", false, T0, &BuiltinSchema).unwrap_err().to_string(),
        "invalid object type: apps/v1, Kind="
    );
    let live = stored(applied(None, &config, "m", T0));
    let mut other_kind = config.clone();
    other_kind["kind"] = json!("StatefulSet");
    assert!(matches!(
        apply(Some(&live), &other_kind, "m", "apps/v1", false, T0, &BuiltinSchema),
        Err(ApplyError::WrongType(_))
    ));
    let mut with_managed = config.clone();
    with_managed["metadata"]["managedFields"] = json!([]);
    assert_eq!(
        apply(None, &with_managed, "m", "apps/v1", false, T0, &BuiltinSchema).unwrap_err(),
        ApplyError::ManagedFieldsInConfig
    );
    let mut dup = config.clone();
    dup["spec"]["template"]["spec"]["containers"] = json!([{"name": "a"}, {"name": "a"}]);
    let err = apply(Some(&live), &dup, "m", "apps/v1", false, T0, &BuiltinSchema).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to create typed patch object (apps/v1, Kind=Deployment): .spec.template.spec.containers: duplicate entries for key [name=\"a\"]"
    );
    assert_eq!(err.status_code(), 400);
}

#[test]
fn options_validation() {
    assert!(validate_patch_options("kubectl", None, true).is_ok());
    assert!(validate_patch_options("", None, false).is_ok());
    let forced = validate_patch_options("m", Some(false), false).unwrap_err();
    assert_eq!(
        forced.to_string(),
        r#"PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch"#
    );
    let long = "m".repeat(129);
    let err = validate_write_options("CreateOptions", &long).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"CreateOptions.meta.k8s.io "" is invalid: fieldManager: Too long: may not be more than 128 bytes"#
    );
    assert!(validate_write_options("UpdateOptions", "bad\u{7}").is_err());
    assert!(validate_write_options("UpdateOptions", &"m".repeat(128)).is_ok());
}

#[test]
fn default_managers() {
    assert_eq!(default_manager("kubectl/v1.35.0 (linux/amd64) kubernetes/66452049"), "kubectl");
    assert_eq!(default_manager("Helm/4.0.0"), "Helm");
    assert_eq!(
        default_manager(
            "kube-controller-manager/v1.35.0 (linux/amd64) kubernetes/x/system:serviceaccount:kube-system:deployment-controller"
        ),
        "kube-controller-manager"
    );
    assert_eq!(default_manager("curl"), "curl");
    assert_eq!(default_manager(""), "");
    assert_eq!(default_manager("a\tb/1"), "a?b");
    assert_eq!(default_manager(&"x".repeat(200)).len(), 128);
}

#[test]
fn the_first_apply_to_an_unmanaged_object_records_what_was_there() {
    // An object stored before managedFields were tracked.
    let live = stored(deployment("nginx:1.25", 2));
    let config = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                        "spec": {"paused": true}});
    let obj = applied(Some(&live), &config, "ops", T1);
    assert_eq!(
        managers(&obj),
        [("ops".to_string(), Operation::Apply), (BEFORE_FIRST_APPLY.to_string(), Operation::Update)]
    );
    assert_eq!(entry(&obj, BEFORE_FIRST_APPLY)["fieldsV1"]["f:spec"]["f:replicas"], json!({}));
    // Its fields now conflict like anyone's.
    let scale = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                       "spec": {"replicas": 3}});
    let err = apply(Some(&obj), &scale, "ops", "apps/v1", false, T2, &BuiltinSchema).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: .spec.replicas"#
    );
}

#[test]
fn set_lists_are_owned_per_value() {
    let with = |finalizers: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": finalizers}});
    let apply_cm = |current: Option<&Value>, config: &Value, manager: &str| {
        apply(current, config, manager, "v1", false, T1, &BuiltinSchema).unwrap()
    };
    let first = stored(apply_cm(None, &with(json!(["a.io/x"])), "one"));
    let second = stored(apply_cm(Some(&first), &with(json!(["b.io/y"])), "two"));
    assert_eq!(second["metadata"]["finalizers"], json!(["a.io/x", "b.io/y"]));
    assert_eq!(
        entry(&second, "two")["fieldsV1"],
        json!({"f:metadata": {"f:finalizers": {"v:\"b.io/y\"": {}}}})
    );
    let third = apply_cm(Some(&second), &with(json!([])), "one");
    assert_eq!(third["metadata"]["finalizers"], json!(["b.io/y"]));
}

#[test]
fn null_removes_and_releases_a_field() {
    let first = stored(applied(None, &deployment("nginx:1.25", 2), "kubectl", T0));
    let mut paused = first.clone();
    paused["spec"]["paused"] = json!(true);
    let paused =
        stored(record_update(Some(&first), &paused, "kubectl-rollout", "apps/v1", T1, &BuiltinSchema));
    let mut config = deployment("nginx:1.25", 2);
    config["spec"]["paused"] = Value::Null;
    config["metadata"]["creationTimestamp"] = Value::Null;
    let obj = apply(Some(&paused), &config, "kubectl", "apps/v1", true, T2, &BuiltinSchema).unwrap();
    assert!(obj["spec"].get("paused").is_none());
    assert_eq!(obj["metadata"]["creationTimestamp"], T0);
    assert_eq!(managers(&obj), [("kubectl".to_string(), Operation::Apply)]);
}

#[test]
fn client_sent_managed_fields() {
    let created = stored(record_update(
        None,
        &stored(deployment("nginx:1.25", 2)),
        "kubectl-create",
        "apps/v1",
        T0,
        &BuiltinSchema,
    ));
    // A PUT without managedFields keeps the live ones.
    let mut put = created.clone();
    put["metadata"].as_object_mut().unwrap().remove("managedFields");
    put["spec"]["replicas"] = json!(3);
    let updated = record_update(Some(&created), &put, "kubectl-replace", "apps/v1", T1, &BuiltinSchema);
    assert_eq!(
        managers(&updated),
        [
            ("kubectl-create".to_string(), Operation::Update),
            ("kubectl-replace".to_string(), Operation::Update)
        ]
    );
    // A request that sets them is taken at its word.
    let mut given = created.clone();
    given["metadata"]["managedFields"] = json!([{"manager": "importer", "operation": "Update",
        "apiVersion": "apps/v1", "time": T0, "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]);
    let taken = record_update(Some(&created), &given, "kubectl-replace", "apps/v1", T1, &BuiltinSchema);
    assert_eq!(managers(&taken), [("importer".to_string(), Operation::Update)]);
    // `[{}]` clears them.
    let mut reset = created.clone();
    reset["metadata"]["managedFields"] = json!([{}]);
    let cleared = record_update(Some(&created), &reset, "kubectl-replace", "apps/v1", T1, &BuiltinSchema);
    assert!(cleared["metadata"].get("managedFields").is_none(), "{cleared:#}");
    // Garbage falls back to the live ones.
    let mut garbage = created.clone();
    garbage["metadata"]["managedFields"] = json!([{"manager": "x", "operation": "Bogus"}]);
    let kept = record_update(Some(&created), &garbage, "kubectl-replace", "apps/v1", T1, &BuiltinSchema);
    assert_eq!(entries(&kept), entries(&created));
}

#[test]
fn update_entries_are_capped_at_ten() {
    let mut obj = stored(record_update(
        None,
        &stored(deployment("nginx:1.25", 0)),
        "creator",
        "apps/v1",
        T0,
        &BuiltinSchema,
    ));
    for i in 1..=12 {
        // Each writer adds an annotation of its own, so every entry keeps a field.
        let mut next = obj.clone();
        let template = next["spec"]["template"]["metadata"].as_object_mut().unwrap();
        let annotations = template.entry("annotations").or_insert_with(|| json!({}));
        annotations[format!("a{i}")] = json!("x");
        let now = format!("2025-01-01T01:00:{i:02}Z");
        obj = record_update(Some(&obj), &next, &format!("writer-{i:02}"), "apps/v1", &now, &BuiltinSchema);
    }
    let all = entries(&obj);
    assert!(all.len() <= MAX_UPDATE_MANAGERS, "{}", all.len());
    assert!(all.iter().any(|e| e.manager == ANCIENT_CHANGES));
    assert!(all.iter().any(|e| e.manager == "writer-12"));
}

#[test]
fn custom_resources_without_a_schema_have_atomic_lists() {
    let cr = |items: Value| {
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
               "spec": {"items": items, "size": {"w": 1}}})
    };
    let first = stored(
        apply(None, &cr(json!([{"name": "a"}])), "one", "example.com/v1", false, T0, &NoSchema).unwrap(),
    );
    assert_eq!(entry(&first, "one")["fieldsV1"], json!({"f:spec": {"f:items": {}, "f:size": {"f:w": {}}}}));
    let err = apply(Some(&first), &cr(json!([{"name": "b"}])), "two", "example.com/v1", false, T1, &NoSchema)
        .unwrap_err();
    assert_eq!(err.to_string(), r#"Apply failed with 1 conflict: conflict with "one": .spec.items"#);
    // With its OpenAPI schema, the list is associative.
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "size": {"type": "object", "properties": {"w": {"type": "integer"}}}
    }}}});
    let schema = OpenApiSchema::new(&schema);
    let fresh = stored(
        apply(None, &cr(json!([{"name": "a"}])), "one", "example.com/v1", false, T0, &schema).unwrap(),
    );
    let merged =
        apply(Some(&fresh), &cr(json!([{"name": "b"}])), "two", "example.com/v1", false, T1, &schema)
            .unwrap();
    assert_eq!(merged["spec"]["items"], json!([{"name": "a"}, {"name": "b"}]));
}

#[test]
fn a_dyn_patch_schema_works_too() {
    let schema: &dyn PatchSchema = &BuiltinSchema;
    let obj = apply(None, &deployment("nginx:1.25", 2), "m", "apps/v1", false, T0, schema).unwrap();
    let fields = &entry(&obj, "m")["fieldsV1"];
    // Lists come from the patch metadata; objects are all granular, selectors included.
    assert_eq!(fields["f:spec"]["f:selector"], json!({"f:matchLabels": {"f:app": {}}}));
    assert!(fields["f:spec"]["f:template"]["f:spec"]["f:containers"].get("k:{\"name\":\"nginx\"}").is_some());
}

#[test]
fn field_sets_of_configurations() {
    let set = field_set(&deployment("nginx:1.25", 2), &BuiltinSchema);
    assert_eq!(
        set,
        fs(json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                        ".": {}, "f:image": {}, "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}
                    }}}
                }
            }
        }))
    );
    assert!(!set.contains(&[PathElement::field("metadata"), PathElement::field("name")]));
    assert!(!set.contains(&[PathElement::field("apiVersion")]));
}
