use serde_json::{Value, json};

use super::*;

const CREATED: &str = "2026-01-01T00:00:00Z";

fn now() -> Timestamp {
    "2026-01-01T01:00:00Z".parse().unwrap()
}

/// `n` seconds before `now()`, RFC 3339.
fn ago(n: i64) -> String {
    jiff::Timestamp::from_second(now().as_second() - n).unwrap().to_string()
}

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": CREATED})
}

fn row_cells(kind: &str, obj: Value) -> Value {
    let t = table(kind, &[obj], "1", IncludeObject::None, now());
    t["rows"][0]["cells"].clone()
}

fn column_names(kind: &str) -> Vec<(&'static str, u8)> {
    columns(kind).iter().map(|c| (c.name, c.priority)).collect()
}

/// The priority-0 cells only, as `kubectl get` without `-o wide` shows them.
fn narrow(kind: &str, obj: Value) -> Value {
    let cells = cells(kind, &obj, now());
    let kept: Vec<Value> =
        columns(kind).iter().zip(cells).filter(|(c, _)| c.priority == 0).map(|(_, v)| v).collect();
    Value::Array(kept)
}

const KINDS: &[&str] = &[
    "Pod",
    "Service",
    "Deployment",
    "ReplicaSet",
    "ReplicationController",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "Node",
    "Event",
    "Endpoints",
    "EndpointSlice",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "StorageClass",
    "Ingress",
    "IngressClass",
    "NetworkPolicy",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "PriorityClass",
    "Lease",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "Namespace",
    "ResourceQuota",
    "LimitRange",
    "ControllerRevision",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "Widget",
];

#[test]
fn human_durations_match_upstream() {
    for (secs, want) in [
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (125, "2m5s"),
        (600, "10m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60, "3h1m"),
        (47 * 3600, "47h"),
        (50 * 3600, "2d2h"),
        (10 * 86400, "10d"),
        (3 * 365 * 86400, "3y"),
        (3 * 365 * 86400 + 86400, "3y1d"),
        (9 * 365 * 86400, "9y"),
        (-5, "<invalid>"),
    ] {
        assert_eq!(human_duration(secs), want, "{secs}");
    }
}

#[test]
fn namespace_rows() {
    let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
    let ns = json!({"metadata": {"name": "default", "creationTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Active"}});
    let t = table("Namespace", &[ns], "42", IncludeObject::Metadata, now);
    assert_eq!(t["rows"][0]["cells"], json!(["default", "Active", "10m"]));
    assert_eq!(t["metadata"]["resourceVersion"], "42");
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(t["columnDefinitions"][0]["name"], "Name");
}

#[test]
fn every_kind_has_one_cell_per_column_even_for_empty_objects() {
    for kind in KINDS {
        for obj in [json!({}), json!({"metadata": meta("x"), "spec": {}, "status": {}})] {
            let n = cells(kind, &obj, now()).len();
            assert_eq!(n, columns(kind).len(), "{kind}");
        }
        let defs = table(kind, &[], "1", IncludeObject::None, now())["columnDefinitions"].clone();
        for d in defs.as_array().unwrap() {
            assert!(
                ["string", "integer", "boolean", "date", "number"].contains(&d["type"].as_str().unwrap())
            );
            assert!(!d["description"].as_str().unwrap().is_empty(), "{kind} {}", d["name"]);
        }
    }
}

#[test]
fn unknown_kinds_print_name_and_creation_time() {
    for kind in ["LimitRange", "Role", "ClusterRole", "CustomResourceDefinition", "Widget"] {
        assert_eq!(column_names(kind), vec![("Name", 0), ("Created At", 0)]);
        let t = table(kind, &[json!({"metadata": meta("x")})], "1", IncludeObject::None, now());
        assert_eq!(t["columnDefinitions"][1]["type"], "date");
        assert_eq!(t["rows"][0]["cells"], json!(["x", CREATED]));
    }
}

// ---- Pod -------------------------------------------------------------------------------------

fn running(name: &str, ready: bool, restarts: i64) -> Value {
    json!({"name": name, "ready": ready, "restartCount": restarts, "started": true,
           "state": {"running": {"startedAt": CREATED}}})
}

fn waiting(name: &str, reason: &str, restarts: i64) -> Value {
    json!({"name": name, "ready": false, "restartCount": restarts, "state": {"waiting": {"reason": reason}}})
}

fn terminated(name: &str, term: Value) -> Value {
    json!({"name": name, "ready": false, "restartCount": 0, "state": {"terminated": term}})
}

fn pod(containers: &[&str], status: Value) -> Value {
    let cs: Vec<Value> = containers.iter().map(|c| json!({"name": c, "image": "nginx"})).collect();
    json!({"metadata": meta("web-1"), "spec": {"containers": cs, "nodeName": "node-1"}, "status": status})
}

#[test]
fn pod_columns_match_upstream() {
    assert_eq!(
        column_names("Pod"),
        vec![
            ("Name", 0),
            ("Ready", 0),
            ("Status", 0),
            ("Restarts", 0),
            ("Age", 0),
            ("IP", 1),
            ("Node", 1),
            ("Nominated Node", 1),
            ("Readiness Gates", 1)
        ]
    );
    let t = table("Pod", &[], "1", IncludeObject::None, now());
    assert_eq!(t["columnDefinitions"][0]["format"], "name");
    assert_eq!(t["columnDefinitions"][3]["type"], "string");
}

#[test]
fn pod_running_and_ready() {
    let p = pod(
        &["web", "sidecar"],
        json!({"phase": "Running", "podIP": "10.244.0.5", "podIPs": [{"ip": "10.244.0.5"}],
               "conditions": [{"type": "Ready", "status": "True"}],
               "containerStatuses": [running("web", true, 0), running("sidecar", true, 0)]}),
    );
    assert_eq!(
        row_cells("Pod", p),
        json!(["web-1", "2/2", "Running", "0", "60m", "10.244.0.5", "node-1", "<none>", "<none>"])
    );
}

#[test]
fn pod_pending_without_statuses() {
    let p = json!({"metadata": meta("web-1"), "spec": {"containers": [{"name": "web"}]}, "status": {"phase": "Pending"}});
    assert_eq!(
        row_cells("Pod", p),
        json!(["web-1", "0/1", "Pending", "0", "60m", "<none>", "<none>", "<none>", "<none>"])
    );
}

#[test]
fn pod_ready_counts_only_ready_running_containers() {
    let p = pod(
        &["web", "sidecar"],
        json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
               "containerStatuses": [running("web", true, 0), running("sidecar", false, 0)]}),
    );
    assert_eq!(narrow("Pod", p), json!(["web-1", "1/2", "Running", "0", "60m"]));
}

#[test]
fn pod_waiting_reasons_show_as_status() {
    for reason in [
        "ContainerCreating",
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "CreateContainerConfigError",
    ] {
        let p = pod(&["web"], json!({"phase": "Pending", "containerStatuses": [waiting("web", reason, 0)]}));
        assert_eq!(narrow("Pod", p), json!(["web-1", "0/1", reason, "0", "60m"]), "{reason}");
    }
}

#[test]
fn pod_first_container_reason_wins() {
    // Upstream walks the statuses backwards, so the first container's reason is the last written.
    let p = pod(
        &["a", "b"],
        json!({"phase": "Running", "containerStatuses": [waiting("a", "CrashLoopBackOff", 0), waiting("b", "ErrImagePull", 0)]}),
    );
    assert_eq!(narrow("Pod", p)[2], "CrashLoopBackOff");
}

#[test]
fn pod_restarts_show_the_latest_restart() {
    let mut a = waiting("a", "CrashLoopBackOff", 3);
    a["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(600)}});
    let mut b = running("b", true, 2);
    b["lastState"] = json!({"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": ago(125)}});
    let p = pod(&["a", "b"], json!({"phase": "Running", "containerStatuses": [a, b]}));
    assert_eq!(narrow("Pod", p), json!(["web-1", "1/2", "CrashLoopBackOff", "5 (2m5s ago)", "60m"]));
}

#[test]
fn pod_restarts_without_last_state_are_a_bare_count() {
    let p = pod(&["web"], json!({"phase": "Running", "containerStatuses": [running("web", true, 4)]}));
    assert_eq!(narrow("Pod", p)[3], "4");
}

#[test]
fn pod_terminated_containers() {
    for (term, want) in [
        (json!({"exitCode": 0, "reason": "Completed"}), "Completed"),
        (json!({"exitCode": 1, "reason": "Error"}), "Error"),
        (json!({"exitCode": 137, "reason": "OOMKilled"}), "OOMKilled"),
        (json!({"exitCode": 137, "signal": 9}), "Signal:9"),
        (json!({"exitCode": 2}), "ExitCode:2"),
    ] {
        let phase = if want == "Completed" { "Succeeded" } else { "Failed" };
        let p = pod(&["web"], json!({"phase": phase, "containerStatuses": [terminated("web", term)]}));
        assert_eq!(narrow("Pod", p), json!(["web-1", "0/1", want, "0", "60m"]), "{want}");
    }
}

#[test]
fn pod_completed_rows_carry_a_completed_condition() {
    let done = pod(
        &["web"],
        json!({"phase": "Succeeded", "containerStatuses": [terminated("web", json!({"exitCode": 0, "reason": "Completed"}))]}),
    );
    let t = table("Pod", &[done], "1", IncludeObject::None, now());
    assert_eq!(
        t["rows"][0]["conditions"],
        json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}])
    );
    let failed = pod(&["web"], json!({"phase": "Failed"}));
    let t = table("Pod", &[failed], "1", IncludeObject::None, now());
    assert_eq!(t["rows"][0]["conditions"][0]["reason"], "Failed");
    let live = pod(&["web"], json!({"phase": "Running"}));
    let t = table("Pod", &[live], "1", IncludeObject::None, now());
    assert!(t["rows"][0].get("conditions").is_none());
}

#[test]
fn pod_completed_container_beside_a_running_one() {
    let statuses =
        json!([terminated("job", json!({"exitCode": 0, "reason": "Completed"})), running("web", true, 0)]);
    let p = pod(
        &["job", "web"],
        json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}], "containerStatuses": statuses}),
    );
    assert_eq!(narrow("Pod", p), json!(["web-1", "1/2", "NotReady", "0", "60m"]));
    let p = pod(
        &["job", "web"],
        json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": statuses}),
    );
    assert_eq!(narrow("Pod", p)[2], "Running");
}

#[test]
fn pod_status_reason_overrides_phase() {
    let p = pod(&["web"], json!({"phase": "Failed", "reason": "Evicted", "message": "low on memory"}));
    assert_eq!(narrow("Pod", p)[2], "Evicted");
}

#[test]
fn pod_scheduling_gated() {
    let p = pod(
        &["web"],
        json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
    );
    assert_eq!(narrow("Pod", p)[2], "SchedulingGated");
}

fn with_init(mut p: Value, inits: Value, init_statuses: Value) -> Value {
    p["spec"]["initContainers"] = inits;
    p["status"]["initContainerStatuses"] = init_statuses;
    p
}

#[test]
fn pod_init_containers() {
    let inits = json!([{"name": "migrate", "image": "busybox"}, {"name": "seed", "image": "busybox"}]);
    let main = json!([waiting("web", "PodInitializing", 0)]);
    let init_status = |first: Value, second: Value| json!([first, second]);
    let pending = json!({"phase": "Pending", "conditions": [{"type": "Initialized", "status": "False"}], "containerStatuses": main});

    // The first init container is running.
    let p = with_init(
        pod(&["web"], pending.clone()),
        inits.clone(),
        init_status(running("migrate", false, 0), waiting("seed", "PodInitializing", 0)),
    );
    assert_eq!(narrow("Pod", p), json!(["web-1", "0/1", "Init:0/2", "0", "60m"]));

    // The first finished, the second is running.
    let p = with_init(
        pod(&["web"], pending.clone()),
        inits.clone(),
        init_status(
            terminated("migrate", json!({"exitCode": 0, "reason": "Completed"})),
            running("seed", false, 0),
        ),
    );
    assert_eq!(narrow("Pod", p)[2], "Init:1/2");

    // The first is crash-looping: its restarts count while initializing.
    let mut crashing = waiting("migrate", "CrashLoopBackOff", 2);
    crashing["lastState"] = json!({"terminated": {"exitCode": 1, "finishedAt": ago(30)}});
    let p = with_init(
        pod(&["web"], pending.clone()),
        inits.clone(),
        init_status(crashing, waiting("seed", "PodInitializing", 0)),
    );
    assert_eq!(narrow("Pod", p), json!(["web-1", "0/1", "Init:CrashLoopBackOff", "2 (30s ago)", "60m"]));

    // The first failed.
    for (term, want) in [
        (json!({"exitCode": 1, "reason": "Error"}), "Init:Error"),
        (json!({"exitCode": 3}), "Init:ExitCode:3"),
        (json!({"exitCode": 143, "signal": 15}), "Init:Signal:15"),
    ] {
        let p = with_init(
            pod(&["web"], pending.clone()),
            inits.clone(),
            init_status(terminated("migrate", term), waiting("seed", "PodInitializing", 0)),
        );
        assert_eq!(narrow("Pod", p)[2], want);
    }

    // All init containers done; the main container is about to start.
    let done = json!({"exitCode": 0, "reason": "Completed"});
    let p = with_init(
        pod(
            &["web"],
            json!({"phase": "Pending", "conditions": [{"type": "Initialized", "status": "True"}], "containerStatuses": main}),
        ),
        inits.clone(),
        init_status(terminated("migrate", done.clone()), terminated("seed", done.clone())),
    );
    assert_eq!(narrow("Pod", p), json!(["web-1", "0/1", "PodInitializing", "0", "60m"]));
}

#[test]
fn pod_sidecars_count_towards_ready_and_restarts() {
    let inits = json!([{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}]);
    let mut proxy = running("proxy", true, 1);
    proxy["lastState"] = json!({"terminated": {"exitCode": 1, "finishedAt": ago(300)}});
    let p = with_init(
        pod(
            &["web"],
            json!({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
                   "containerStatuses": [running("web", true, 0)]}),
        ),
        inits,
        json!([proxy]),
    );
    assert_eq!(narrow("Pod", p), json!(["web-1", "2/2", "Running", "1 (5m ago)", "60m"]));
}

#[test]
fn pod_terminating_and_unknown() {
    let mut p = pod(&["web"], json!({"phase": "Running", "containerStatuses": [running("web", true, 0)]}));
    p["metadata"]["deletionTimestamp"] = json!(ago(5));
    assert_eq!(narrow("Pod", p.clone()), json!(["web-1", "1/1", "Terminating", "0", "60m"]));

    p["status"]["reason"] = json!("NodeLost");
    assert_eq!(narrow("Pod", p)[2], "Unknown");

    let mut done = pod(
        &["web"],
        json!({"phase": "Succeeded", "containerStatuses": [terminated("web", json!({"exitCode": 0, "reason": "Completed"}))]}),
    );
    done["metadata"]["deletionTimestamp"] = json!(ago(5));
    assert_eq!(narrow("Pod", done)[2], "Completed");
}

#[test]
fn pod_wide_cells() {
    let mut p = pod(
        &["web"],
        json!({"phase": "Running", "podIPs": [{"ip": "10.0.0.7"}, {"ip": "fd00::7"}], "nominatedNodeName": "node-2",
               "conditions": [{"type": "Ready", "status": "True"}, {"type": "example.com/lb", "status": "True"},
                              {"type": "example.com/dns", "status": "False"}],
               "containerStatuses": [running("web", true, 0)]}),
    );
    p["spec"]["readinessGates"] =
        json!([{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]);
    let cells = row_cells("Pod", p);
    assert_eq!(
        cells.as_array().unwrap()[5..],
        [json!("10.0.0.7"), json!("node-1"), json!("node-2"), json!("1/2")]
    );
}

// ---- Service ---------------------------------------------------------------------------------

fn service(spec: Value, status: Value) -> Value {
    json!({"metadata": meta("web"), "spec": spec, "status": status})
}

#[test]
fn service_columns_match_upstream() {
    assert_eq!(
        column_names("Service"),
        vec![
            ("Name", 0),
            ("Type", 0),
            ("Cluster-IP", 0),
            ("External-IP", 0),
            ("Port(s)", 0),
            ("Age", 0),
            ("Selector", 1)
        ]
    );
}

#[test]
fn service_cluster_ip() {
    let s = service(
        json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
               "selector": {"tier": "front", "app": "web"},
               "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}, {"port": 9153}]}),
        json!({}),
    );
    assert_eq!(
        row_cells("Service", s),
        json!([
            "web",
            "ClusterIP",
            "10.96.0.10",
            "<none>",
            "53/UDP,53/TCP,9153/TCP",
            "60m",
            "app=web,tier=front"
        ])
    );
}

#[test]
fn service_node_port_and_external_ips() {
    let s = service(
        json!({"type": "NodePort", "clusterIPs": ["10.96.1.1"], "externalIPs": ["1.2.3.4", "5.6.7.8"],
               "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 443, "nodePort": 30443, "protocol": "TCP"}]}),
        json!({}),
    );
    assert_eq!(
        narrow("Service", s),
        json!(["web", "NodePort", "10.96.1.1", "1.2.3.4,5.6.7.8", "80:30080/TCP,443:30443/TCP", "60m"])
    );
}

#[test]
fn service_load_balancer() {
    let spec = json!({"type": "LoadBalancer", "clusterIPs": ["10.96.2.2"], "ports": [{"port": 80, "nodePort": 31000, "protocol": "TCP"}]});
    let pending = service(spec.clone(), json!({"loadBalancer": {}}));
    assert_eq!(narrow("Service", pending)[3], "<pending>");

    let ready = service(
        spec.clone(),
        json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "lb.example.com"}, {"ip": "203.0.113.1"}]}}),
    );
    assert_eq!(narrow("Service", ready)[3], "203.0.113.1,203.0.113.9,lb.example.com");

    let mut both = spec;
    both["externalIPs"] = json!(["198.51.100.4"]);
    let both = service(both, json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}}));
    assert_eq!(narrow("Service", both)[3], "203.0.113.9,198.51.100.4");
}

#[test]
fn service_external_name_and_headless() {
    let s = service(json!({"type": "ExternalName", "externalName": "db.example.com"}), json!({}));
    assert_eq!(
        row_cells("Service", s),
        json!(["web", "ExternalName", "<none>", "db.example.com", "<none>", "60m", "<none>"])
    );

    let s = service(
        json!({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"], "selector": {"app": "db"},
               "ports": [{"port": 5432, "protocol": "TCP", "targetPort": 5432}]}),
        json!({}),
    );
    assert_eq!(narrow("Service", s), json!(["web", "ClusterIP", "None", "<none>", "5432/TCP", "60m"]));
}

// ---- Workloads -------------------------------------------------------------------------------

fn template(containers: Value) -> Value {
    json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}})
}

fn two_containers() -> Value {
    json!([{"name": "web", "image": "nginx:1.27"}, {"name": "log", "image": "fluent-bit:3"}])
}

#[test]
fn deployment_cells() {
    assert_eq!(
        column_names("Deployment"),
        vec![
            ("Name", 0),
            ("Ready", 0),
            ("Up-to-date", 0),
            ("Available", 0),
            ("Age", 0),
            ("Containers", 1),
            ("Images", 1),
            ("Selector", 1)
        ]
    );
    let d = json!({"metadata": meta("web"),
                   "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template(two_containers())},
                   "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
    assert_eq!(
        row_cells("Deployment", d),
        json!(["web", "2/3", 3, 2, "60m", "web,log", "nginx:1.27,fluent-bit:3", "app=web"])
    );

    let fresh = json!({"metadata": meta("api"),
                       "spec": {"replicas": 2, "template": template(json!([{"name": "api", "image": "api:1"}])),
                                "selector": {"matchLabels": {"app": "api"},
                                             "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]},
                                                                  {"key": "canary", "operator": "DoesNotExist"}]}},
                       "status": {}});
    assert_eq!(
        row_cells("Deployment", fresh),
        json!(["api", "0/2", 0, 0, "60m", "api", "api:1", "app=api,!canary,env in (dev,prod)"])
    );

    let scaled_to_zero =
        json!({"metadata": meta("idle"), "spec": {"replicas": 0}, "status": {"observedGeneration": 2}});
    assert_eq!(narrow("Deployment", scaled_to_zero), json!(["idle", "0/0", 0, 0, "60m"]));
}

#[test]
fn replica_sets_and_replication_controllers() {
    let rs = json!({"metadata": meta("web-5d9c"),
                    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d9c"}},
                             "template": template(two_containers())},
                    "status": {"replicas": 3, "readyReplicas": 1}});
    assert_eq!(
        row_cells("ReplicaSet", rs),
        json!([
            "web-5d9c",
            3,
            3,
            1,
            "60m",
            "web,log",
            "nginx:1.27,fluent-bit:3",
            "app=web,pod-template-hash=5d9c"
        ])
    );
    let rc = json!({"metadata": meta("legacy"),
                    "spec": {"replicas": 2, "selector": {"app": "legacy"}, "template": template(json!([{"name": "app", "image": "app:1"}]))},
                    "status": {"replicas": 2, "readyReplicas": 2}});
    assert_eq!(
        row_cells("ReplicationController", rc),
        json!(["legacy", 2, 2, 2, "60m", "app", "app:1", "app=legacy"])
    );
    let t = table("ReplicaSet", &[], "1", IncludeObject::None, now());
    assert_eq!(t["columnDefinitions"][1]["type"], "integer");
    assert_eq!(column_names("ReplicationController"), column_names("ReplicaSet"));
}

#[test]
fn stateful_set_cells() {
    assert_eq!(
        column_names("StatefulSet"),
        vec![("Name", 0), ("Ready", 0), ("Age", 0), ("Containers", 1), ("Images", 1)]
    );
    let sts = json!({"metadata": meta("db"), "spec": {"replicas": 3, "serviceName": "db", "template": template(json!([{"name": "pg", "image": "postgres:17"}]))},
                     "status": {"replicas": 3, "readyReplicas": 2}});
    assert_eq!(row_cells("StatefulSet", sts), json!(["db", "2/3", "60m", "pg", "postgres:17"]));
}

#[test]
fn daemon_set_cells() {
    assert_eq!(
        column_names("DaemonSet"),
        vec![
            ("Name", 0),
            ("Desired", 0),
            ("Current", 0),
            ("Ready", 0),
            ("Up-to-date", 0),
            ("Available", 0),
            ("Node Selector", 0),
            ("Age", 0),
            ("Containers", 1),
            ("Images", 1),
            ("Selector", 1)
        ]
    );
    let mut tpl = template(json!([{"name": "agent", "image": "agent:2"}]));
    tpl["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "linux"});
    let ds = json!({"metadata": meta("agent"), "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": tpl},
                    "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2}});
    assert_eq!(
        row_cells("DaemonSet", ds),
        json!(["agent", 3, 3, 2, 3, 2, "kubernetes.io/os=linux", "60m", "agent", "agent:2", "app=agent"])
    );
    let bare = json!({"metadata": meta("new"), "spec": {"template": template(json!([]))}, "status": {}});
    assert_eq!(narrow("DaemonSet", bare), json!(["new", 0, 0, 0, 0, 0, "<none>", "60m"]));
}

#[test]
fn controller_revision_cells() {
    let cr = json!({"metadata": {"name": "web-6b7f", "creationTimestamp": CREATED,
                                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": true, "uid": "u"}]},
                    "revision": 2, "data": {}});
    assert_eq!(row_cells("ControllerRevision", cr), json!(["web-6b7f", "statefulset.apps/web", 2, "60m"]));
    let orphan = json!({"metadata": meta("x"), "revision": 1});
    assert_eq!(row_cells("ControllerRevision", orphan), json!(["x", "<none>", 1, "60m"]));
}

// ---- Batch -----------------------------------------------------------------------------------

fn job(spec: Value, status: Value) -> Value {
    let mut spec = spec;
    spec["template"] = template(json!([{"name": "pi", "image": "perl:5"}]));
    spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}});
    json!({"metadata": meta("pi"), "spec": spec, "status": status})
}

#[test]
fn job_columns_and_a_completed_job() {
    assert_eq!(
        column_names("Job"),
        vec![
            ("Name", 0),
            ("Status", 0),
            ("Completions", 0),
            ("Duration", 0),
            ("Age", 0),
            ("Containers", 1),
            ("Images", 1),
            ("Selector", 1)
        ]
    );
    let j = job(
        json!({"completions": 1, "parallelism": 1}),
        json!({"succeeded": 1, "startTime": "2026-01-01T00:00:05Z", "completionTime": "2026-01-01T00:00:30Z",
               "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}),
    );
    assert_eq!(
        row_cells("Job", j),
        json!([
            "pi",
            "Complete",
            "1/1",
            "25s",
            "60m",
            "pi",
            "perl:5",
            "batch.kubernetes.io/controller-uid=abc"
        ])
    );
}

#[test]
fn job_statuses() {
    let with = |conditions: Value| job(json!({"completions": 1}), json!({"conditions": conditions}));
    for (conditions, want) in [
        (json!([]), "Running"),
        (json!([{"type": "Complete", "status": "True"}]), "Complete"),
        (
            json!([{"type": "FailureTarget", "status": "True"}, {"type": "Failed", "status": "True"}]),
            "Failed",
        ),
        (json!([{"type": "Suspended", "status": "True"}]), "Suspended"),
        (json!([{"type": "Suspended", "status": "False"}]), "Running"),
        (json!([{"type": "FailureTarget", "status": "True"}]), "FailureTarget"),
        (json!([{"type": "SuccessCriteriaMet", "status": "True"}]), "SuccessCriteriaMet"),
        (json!([{"type": "Complete", "status": "False"}]), "Running"),
    ] {
        assert_eq!(narrow("Job", with(conditions.clone()))[1], want, "{conditions}");
    }
    let mut deleting = with(json!([{"type": "Suspended", "status": "True"}]));
    deleting["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(narrow("Job", deleting.clone())[1], "Terminating");
    deleting["status"]["conditions"] = json!([{"type": "Complete", "status": "True"}]);
    assert_eq!(narrow("Job", deleting)[1], "Complete");
}

#[test]
fn job_completions_and_duration() {
    let running = job(
        json!({"completions": 3, "parallelism": 2}),
        json!({"succeeded": 1, "active": 2, "startTime": ago(90)}),
    );
    assert_eq!(narrow("Job", running), json!(["pi", "Running", "1/3", "90s", "60m"]));

    let work_queue = job(json!({"parallelism": 3}), json!({"succeeded": 0}));
    assert_eq!(narrow("Job", work_queue), json!(["pi", "Running", "0/1 of 3", "", "60m"]));

    let single = job(json!({"parallelism": 1}), json!({}));
    assert_eq!(narrow("Job", single)[2], "0/1");
}

#[test]
fn cron_job_cells() {
    assert_eq!(
        column_names("CronJob"),
        vec![
            ("Name", 0),
            ("Schedule", 0),
            ("Timezone", 0),
            ("Suspend", 0),
            ("Active", 0),
            ("Last Schedule", 0),
            ("Age", 0),
            ("Containers", 1),
            ("Images", 1),
            ("Selector", 1)
        ]
    );
    let jt = json!({"spec": {"template": template(json!([{"name": "hello", "image": "busybox"}]))}});
    let cj = json!({"metadata": meta("hello"), "spec": {"schedule": "*/5 * * * *", "suspend": false, "jobTemplate": jt},
                    "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": ago(240)}});
    assert_eq!(
        row_cells("CronJob", cj),
        json!(["hello", "*/5 * * * *", "<none>", "False", 1, "4m", "60m", "hello", "busybox", "<none>"])
    );
    let cj = json!({"metadata": meta("nightly"), "spec": {"schedule": "0 3 * * *", "timeZone": "Europe/Paris", "suspend": true, "jobTemplate": jt}, "status": {}});
    assert_eq!(
        narrow("CronJob", cj),
        json!(["nightly", "0 3 * * *", "Europe/Paris", "True", 0, "<none>", "60m"])
    );
}

// ---- Node ------------------------------------------------------------------------------------

fn node(labels: Value, conditions: Value, unschedulable: bool) -> Value {
    json!({"metadata": {"name": "node-1", "creationTimestamp": CREATED, "labels": labels},
           "spec": {"unschedulable": unschedulable},
           "status": {"conditions": conditions,
                      "addresses": [{"type": "Hostname", "address": "node-1"}, {"type": "InternalIP", "address": "192.168.1.10"}],
                      "nodeInfo": {"kubeletVersion": "v1.35.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                   "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "containerd://2.0.0"}}})
}

#[test]
fn node_cells() {
    assert_eq!(
        column_names("Node"),
        vec![
            ("Name", 0),
            ("Status", 0),
            ("Roles", 0),
            ("Age", 0),
            ("Version", 0),
            ("Internal-IP", 1),
            ("External-IP", 1),
            ("OS-Image", 1),
            ("Kernel-Version", 1),
            ("Container-Runtime", 1)
        ]
    );
    let n = node(
        json!({"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "node-1"}),
        json!([{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]),
        false,
    );
    assert_eq!(
        row_cells("Node", n),
        json!([
            "node-1",
            "Ready",
            "control-plane",
            "60m",
            "v1.35.0",
            "192.168.1.10",
            "<none>",
            "Debian GNU/Linux 12 (bookworm)",
            "6.1.0-18-amd64",
            "containerd://2.0.0"
        ])
    );
}

#[test]
fn node_statuses() {
    let ready = |s: &str| json!([{"type": "Ready", "status": s}]);
    for (conditions, unschedulable, want) in [
        (ready("True"), false, "Ready"),
        (ready("False"), false, "NotReady"),
        (ready("Unknown"), false, "NotReady"),
        (json!([]), false, "Unknown"),
        (ready("True"), true, "Ready,SchedulingDisabled"),
        (ready("False"), true, "NotReady,SchedulingDisabled"),
    ] {
        assert_eq!(narrow("Node", node(json!({}), conditions, unschedulable))[1], want);
    }
}

#[test]
fn node_roles() {
    for (labels, want) in [
        (json!({}), "<none>"),
        (
            json!({"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": ""}),
            "control-plane,worker",
        ),
        (json!({"kubernetes.io/role": "master", "node-role.kubernetes.io/master": ""}), "master"),
        (json!({"node-role.kubernetes.io/": "", "kubernetes.io/role": ""}), "<none>"),
    ] {
        assert_eq!(narrow("Node", node(labels, json!([]), false))[2], want);
    }
}

#[test]
fn node_wide_unknowns() {
    let n = json!({"metadata": meta("bare"), "status": {"addresses": [{"type": "ExternalIP", "address": "203.0.113.5"}]}});
    assert_eq!(
        row_cells("Node", n),
        json!([
            "bare",
            "Unknown",
            "<none>",
            "60m",
            "",
            "<none>",
            "203.0.113.5",
            "<unknown>",
            "<unknown>",
            "<unknown>"
        ])
    );
}

// ---- Events ----------------------------------------------------------------------------------

#[test]
fn event_columns_match_upstream_order() {
    assert_eq!(
        column_names("Event"),
        vec![
            ("Last Seen", 0),
            ("Type", 0),
            ("Reason", 0),
            ("Object", 0),
            ("Subobject", 1),
            ("Source", 1),
            ("Message", 0),
            ("First Seen", 1),
            ("Count", 1),
            ("Name", 1)
        ]
    );
    let t = table("Event", &[], "1", IncludeObject::None, now());
    assert_eq!(t["columnDefinitions"][9]["format"], "name");
}

#[test]
fn core_event_cells() {
    let ev = json!({"apiVersion": "v1", "kind": "Event", "metadata": meta("web-1.17a"),
                    "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default", "fieldPath": "spec.containers{web}"},
                    "reason": "Pulled", "message": "Successfully pulled image \"nginx\"\n", "type": "Normal",
                    "source": {"component": "kubelet", "host": "node-1"},
                    "firstTimestamp": ago(600), "lastTimestamp": ago(30), "count": 4});
    assert_eq!(
        row_cells("Event", ev),
        json!([
            "30s",
            "Normal",
            "Pulled",
            "pod/web-1",
            "spec.containers{web}",
            "kubelet, node-1",
            "Successfully pulled image \"nginx\"",
            "10m",
            4,
            "web-1.17a"
        ])
    );
}

#[test]
fn core_event_from_the_new_api() {
    // Written through events.k8s.io but read as core/v1: eventTime and series, no timestamps.
    let ev = json!({"metadata": meta("web.1"), "involvedObject": {"kind": "Deployment", "name": "web"},
                    "reason": "ScalingReplicaSet", "message": "Scaled up", "type": "Normal",
                    "eventTime": ago(300).replace('Z', ".123456Z"),
                    "reportingComponent": "deployment-controller", "reportingInstance": "",
                    "source": {}});
    assert_eq!(
        row_cells("Event", ev),
        json!([
            "5m",
            "Normal",
            "ScalingReplicaSet",
            "deployment/web",
            "",
            "deployment-controller",
            "Scaled up",
            "5m",
            1,
            "web.1"
        ])
    );
}

#[test]
fn events_k8s_io_event_cells() {
    let ev = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": meta("web-1.17b"),
                    "regarding": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{web}"},
                    "reason": "BackOff", "note": "Back-off restarting failed container", "type": "Warning",
                    "eventTime": ago(3000), "reportingController": "kubelet", "reportingInstance": "node-1",
                    "series": {"count": 12, "lastObservedTime": ago(20)}});
    assert_eq!(
        row_cells("Event", ev),
        json!([
            "20s",
            "Warning",
            "BackOff",
            "pod/web-1",
            "spec.containers{web}",
            "kubelet, node-1",
            "Back-off restarting failed container",
            "50m",
            12,
            "web-1.17b"
        ])
    );
    let legacy = json!({"metadata": meta("n.1"), "regarding": {"kind": "Node"}, "reason": "Starting", "note": "",
                        "type": "Normal", "deprecatedFirstTimestamp": ago(7200), "deprecatedLastTimestamp": ago(3600),
                        "deprecatedCount": 2, "deprecatedSource": {"component": "kube-proxy"}});
    assert_eq!(narrow("Event", legacy), json!(["60m", "Normal", "Starting", "node", ""]));
}

// ---- Endpoints -------------------------------------------------------------------------------

#[test]
fn endpoints_cells() {
    let ep = |subsets: Value| json!({"metadata": meta("web"), "subsets": subsets});
    assert_eq!(row_cells("Endpoints", ep(json!(null))), json!(["web", "<none>", "60m"]));
    assert_eq!(
        row_cells(
            "Endpoints",
            ep(
                json!([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80, "protocol": "TCP"}]}])
            )
        ),
        json!(["web", "10.0.0.1:80,10.0.0.2:80", "60m"])
    );
    let many = json!([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.3"}],
                       "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]}]);
    assert_eq!(row_cells("Endpoints", ep(many))[1], "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 3 more...");
    let headless = json!([{"addresses": [{"ip": "10.0.0.9"}]}]);
    assert_eq!(row_cells("Endpoints", ep(headless))[1], "10.0.0.9");
    let v6 = json!([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 8080}]}]);
    assert_eq!(row_cells("Endpoints", ep(v6))[1], "[fd00::1]:8080");
    let not_ready = json!([{"notReadyAddresses": [{"ip": "10.0.0.4"}], "ports": [{"port": 80}]}]);
    assert_eq!(row_cells("Endpoints", ep(not_ready))[1], "");
}

#[test]
fn endpoint_slice_cells() {
    assert_eq!(
        column_names("EndpointSlice"),
        vec![("Name", 0), ("AddressType", 0), ("Ports", 0), ("Endpoints", 0), ("Age", 0)]
    );
    let slice = json!({"metadata": meta("web-abc12"), "addressType": "IPv4",
                       "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "metrics"}],
                       "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}, {"addresses": ["10.0.0.3"]}, {"addresses": ["10.0.0.4"]}]});
    assert_eq!(
        row_cells("EndpointSlice", slice),
        json!(["web-abc12", "IPv4", "80,metrics", "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...", "60m"])
    );
    let empty =
        json!({"metadata": meta("web-empty"), "addressType": "IPv6", "ports": [{}], "endpoints": null});
    assert_eq!(row_cells("EndpointSlice", empty), json!(["web-empty", "IPv6", "*", "<unset>", "60m"]));
}

// ---- Storage ---------------------------------------------------------------------------------

#[test]
fn persistent_volume_cells() {
    assert_eq!(
        column_names("PersistentVolume"),
        vec![
            ("Name", 0),
            ("Capacity", 0),
            ("Access Modes", 0),
            ("Reclaim Policy", 0),
            ("Status", 0),
            ("Claim", 0),
            ("StorageClass", 0),
            ("VolumeAttributesClass", 0),
            ("Reason", 0),
            ("Age", 0),
            ("VolumeMode", 1)
        ]
    );
    let pv = json!({"metadata": meta("pv-1"),
                    "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"],
                             "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "standard", "volumeMode": "Filesystem",
                             "claimRef": {"namespace": "default", "name": "data"}},
                    "status": {"phase": "Bound"}});
    assert_eq!(
        row_cells("PersistentVolume", pv),
        json!([
            "pv-1",
            "10Gi",
            "RWO,RWX",
            "Retain",
            "Bound",
            "default/data",
            "standard",
            "<unset>",
            "",
            "60m",
            "Filesystem"
        ])
    );
    let mut released = json!({"metadata": meta("pv-2"),
                              "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOncePod", "ReadOnlyMany"],
                                       "persistentVolumeReclaimPolicy": "Delete", "volumeAttributesClassName": "gold"},
                              "status": {"phase": "Failed", "reason": "VolumeFailedDelete"}});
    released["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(
        row_cells("PersistentVolume", released),
        json!([
            "pv-2",
            "1Gi",
            "ROX,RWOP",
            "Delete",
            "Terminating",
            "",
            "",
            "gold",
            "VolumeFailedDelete",
            "60m",
            "<unset>"
        ])
    );
}

#[test]
fn persistent_volume_claim_cells() {
    assert_eq!(
        column_names("PersistentVolumeClaim"),
        vec![
            ("Name", 0),
            ("Status", 0),
            ("Volume", 0),
            ("Capacity", 0),
            ("Access Modes", 0),
            ("StorageClass", 0),
            ("VolumeAttributesClass", 0),
            ("Age", 0),
            ("VolumeMode", 1)
        ]
    );
    let bound = json!({"metadata": meta("data"),
                       "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                                "storageClassName": "standard", "volumeName": "pvc-123", "volumeMode": "Filesystem"},
                       "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "2Gi"}}});
    assert_eq!(
        row_cells("PersistentVolumeClaim", bound),
        json!(["data", "Bound", "pvc-123", "2Gi", "RWO", "standard", "<unset>", "60m", "Filesystem"])
    );
    let pending = json!({"metadata": {"name": "wait", "creationTimestamp": CREATED,
                                      "annotations": {"volume.beta.kubernetes.io/storage-class": "legacy"}},
                         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "storageClassName": "standard"},
                         "status": {"phase": "Pending"}});
    assert_eq!(
        narrow("PersistentVolumeClaim", pending),
        json!(["wait", "Pending", "", "", "", "legacy", "<unset>", "60m"])
    );
}

#[test]
fn storage_class_cells() {
    assert_eq!(
        column_names("StorageClass"),
        vec![
            ("Name", 0),
            ("Provisioner", 0),
            ("ReclaimPolicy", 0),
            ("VolumeBindingMode", 0),
            ("AllowVolumeExpansion", 0),
            ("Age", 0)
        ]
    );
    let sc = json!({"metadata": {"name": "standard", "creationTimestamp": CREATED,
                                 "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                    "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete",
                    "volumeBindingMode": "WaitForFirstConsumer"});
    assert_eq!(
        row_cells("StorageClass", sc),
        json!([
            "standard (default)",
            "rancher.io/local-path",
            "Delete",
            "WaitForFirstConsumer",
            false,
            "60m"
        ])
    );
    let sc = json!({"metadata": {"name": "fast", "creationTimestamp": CREATED,
                                 "annotations": {"storageclass.kubernetes.io/is-default-class": "false"}},
                    "provisioner": "csi.example.com", "allowVolumeExpansion": true});
    assert_eq!(
        row_cells("StorageClass", sc),
        json!(["fast", "csi.example.com", "Delete", "Immediate", true, "60m"])
    );
}

// ---- Networking ------------------------------------------------------------------------------

#[test]
fn ingress_cells() {
    assert_eq!(
        column_names("Ingress"),
        vec![("Name", 0), ("Class", 0), ("Hosts", 0), ("Address", 0), ("Ports", 0), ("Age", 0)]
    );
    let ing = json!({"metadata": meta("web"),
                     "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.example.com"]}],
                              "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}]},
                     "status": {"loadBalancer": {"ingress": [{"ip": "172.18.0.2"}]}}});
    assert_eq!(
        row_cells("Ingress", ing),
        json!(["web", "nginx", "a.example.com,b.example.com", "172.18.0.2", "80, 443", "60m"])
    );
    let bare = json!({"metadata": meta("catch-all"), "spec": {"defaultBackend": {"service": {"name": "web"}}}, "status": {}});
    assert_eq!(row_cells("Ingress", bare), json!(["catch-all", "<none>", "*", "", "80", "60m"]));
    let many = json!({"metadata": meta("many"),
                      "spec": {"rules": [{"host": "a"}, {}, {"host": "b"}, {"host": "c"}, {"host": "d"}]}});
    assert_eq!(row_cells("Ingress", many)[2], "a,b,c + 2 more...");
}

#[test]
fn ingress_class_and_network_policy_cells() {
    let ic = json!({"metadata": meta("nginx"),
                    "spec": {"controller": "k8s.io/ingress-nginx",
                             "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}});
    assert_eq!(
        row_cells("IngressClass", ic),
        json!(["nginx", "k8s.io/ingress-nginx", "IngressParameters.k8s.example.com/external-lb", "60m"])
    );
    let ic = json!({"metadata": meta("plain"), "spec": {"controller": "example.com/ingress"}});
    assert_eq!(row_cells("IngressClass", ic), json!(["plain", "example.com/ingress", "<none>", "60m"]));

    assert_eq!(column_names("NetworkPolicy"), vec![("Name", 0), ("Pod-Selector", 0), ("Age", 0)]);
    let np = json!({"metadata": meta("deny-all"), "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}});
    assert_eq!(row_cells("NetworkPolicy", np), json!(["deny-all", "<none>", "60m"]));
    let np = json!({"metadata": meta("db"),
                    "spec": {"podSelector": {"matchLabels": {"role": "db"},
                                             "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["test"]},
                                                                  {"key": "tier", "operator": "Exists"}]}}});
    assert_eq!(row_cells("NetworkPolicy", np), json!(["db", "env notin (test),role=db,tier", "60m"]));
}

// ---- Autoscaling, policy, scheduling, coordination -------------------------------------------

#[test]
fn hpa_cells() {
    assert_eq!(
        column_names("HorizontalPodAutoscaler"),
        vec![
            ("Name", 0),
            ("Reference", 0),
            ("Targets", 0),
            ("MinPods", 0),
            ("MaxPods", 0),
            ("Replicas", 0),
            ("Age", 0)
        ]
    );
    let target = json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"});
    let v1 = json!({"metadata": meta("web"),
                    "spec": {"scaleTargetRef": target, "minReplicas": 1, "maxReplicas": 10, "targetCPUUtilizationPercentage": 50},
                    "status": {"currentReplicas": 2, "desiredReplicas": 2, "currentCPUUtilizationPercentage": 30}});
    assert_eq!(
        row_cells("HorizontalPodAutoscaler", v1),
        json!(["web", "Deployment/web", "cpu: 30%/50%", "1", 10, 2, "60m"])
    );

    let v1_fresh = json!({"metadata": meta("web"),
                          "spec": {"scaleTargetRef": target, "maxReplicas": 5, "targetCPUUtilizationPercentage": 50}, "status": {}});
    assert_eq!(
        row_cells("HorizontalPodAutoscaler", v1_fresh),
        json!(["web", "Deployment/web", "cpu: <unknown>/50%", "<unset>", 5, 0, "60m"])
    );

    let v2 = json!({"metadata": meta("web"),
                    "spec": {"scaleTargetRef": target, "minReplicas": 2, "maxReplicas": 8,
                             "metrics": [
                                 {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
                                 {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}}},
                                 {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}}]},
                    "status": {"currentReplicas": 3,
                               "currentMetrics": [
                                   {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 72, "averageValue": "360m"}}},
                                   {"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "200Mi"}}}]}});
    assert_eq!(
        row_cells("HorizontalPodAutoscaler", v2),
        json!(["web", "Deployment/web", "cpu: 72%/60%, memory: 200Mi/500Mi + 1 more...", "2", 8, 3, "60m"])
    );

    let v2_other = json!({"metadata": meta("q"),
                          "spec": {"scaleTargetRef": {"kind": "StatefulSet", "name": "q"}, "minReplicas": 1, "maxReplicas": 3,
                                   "metrics": [
                                       {"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "AverageValue", "averageValue": "30"}}},
                                       {"type": "Object", "object": {"metric": {"name": "rps"}, "target": {"type": "Value", "value": "2k"}}}]},
                          "status": {"currentMetrics": [
                                       {"type": "External", "external": {"current": {"averageValue": "12"}}}]}});
    assert_eq!(row_cells("HorizontalPodAutoscaler", v2_other)[2], "12/30 (avg), <unknown>/2k");

    let defaulted = json!({"metadata": meta("d"), "spec": {"scaleTargetRef": target, "minReplicas": 1, "maxReplicas": 3}});
    assert_eq!(row_cells("HorizontalPodAutoscaler", defaulted)[2], "cpu: <unknown>/80%");
}

#[test]
fn pdb_priority_class_and_lease_cells() {
    let pdb = json!({"metadata": meta("web"), "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
                     "status": {"disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3}});
    assert_eq!(row_cells("PodDisruptionBudget", pdb), json!(["web", "2", "N/A", 1, "60m"]));
    let pdb = json!({"metadata": meta("db"), "spec": {"maxUnavailable": "25%"}, "status": {}});
    assert_eq!(row_cells("PodDisruptionBudget", pdb), json!(["db", "N/A", "25%", 0, "60m"]));
    assert_eq!(
        column_names("PodDisruptionBudget"),
        vec![
            ("Name", 0),
            ("Min Available", 0),
            ("Max Unavailable", 0),
            ("Allowed Disruptions", 0),
            ("Age", 0)
        ]
    );

    assert_eq!(
        column_names("PriorityClass"),
        vec![("Name", 0), ("Value", 0), ("Global-Default", 0), ("Age", 0), ("PreemptionPolicy", 0)]
    );
    let pc = json!({"metadata": meta("system-cluster-critical"), "value": 2000000000, "globalDefault": false,
                    "preemptionPolicy": "PreemptLowerPriority"});
    assert_eq!(
        row_cells("PriorityClass", pc),
        json!(["system-cluster-critical", 2000000000, false, "60m", "PreemptLowerPriority"])
    );

    let lease = json!({"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "node-1_2f1e", "leaseDurationSeconds": 15}});
    assert_eq!(row_cells("Lease", lease), json!(["kube-scheduler", "node-1_2f1e", "60m"]));
    let lease = json!({"metadata": meta("node-2"), "spec": {}});
    assert_eq!(row_cells("Lease", lease), json!(["node-2", "", "60m"]));
}

// ---- Configuration, accounts, quotas, RBAC ---------------------------------------------------

#[test]
fn small_core_kinds() {
    let sa = json!({"metadata": meta("default"), "secrets": [{"name": "t"}]});
    assert_eq!(row_cells("ServiceAccount", sa), json!(["default", 1, "60m"]));
    let secret =
        json!({"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
    assert_eq!(row_cells("Secret", secret), json!(["tls", "kubernetes.io/tls", 2, "60m"]));
    let cm = json!({"metadata": meta("cfg"), "data": {"a": "1"}, "binaryData": {"b": "AA=="}});
    assert_eq!(row_cells("ConfigMap", cm), json!(["cfg", 2, "60m"]));
    let no_age = json!({"metadata": {"name": "x"}, "data": {}});
    assert_eq!(row_cells("ConfigMap", no_age), json!(["x", 0, "<unknown>"]));
}

#[test]
fn resource_quota_cells() {
    assert_eq!(column_names("ResourceQuota"), vec![("Name", 0), ("Request", 0), ("Limit", 0), ("Age", 0)]);
    let rq = json!({"metadata": meta("compute"),
                    "spec": {"hard": {"pods": "10"}},
                    "status": {"hard": {"requests.cpu": "1", "pods": "10", "limits.memory": "2Gi", "limits.cpu": "2", "requests.memory": "1Gi"},
                               "used": {"requests.cpu": "500m", "pods": "3", "limits.cpu": "1"}}});
    assert_eq!(
        row_cells("ResourceQuota", rq),
        json!([
            "compute",
            "pods: 3/10, requests.cpu: 500m/1, requests.memory: 0/1Gi",
            "limits.cpu: 1/2, limits.memory: 0/2Gi",
            "60m"
        ])
    );
}

#[test]
fn role_binding_cells() {
    assert_eq!(
        column_names("RoleBinding"),
        vec![("Name", 0), ("Role", 0), ("Age", 0), ("Users", 1), ("Groups", 1), ("ServiceAccounts", 1)]
    );
    assert_eq!(column_names("ClusterRoleBinding"), column_names("RoleBinding"));
    let rb = json!({"metadata": meta("read-pods"),
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
                    "subjects": [{"kind": "User", "name": "jane"}, {"kind": "User", "name": "joe"},
                                 {"kind": "Group", "name": "devs"},
                                 {"kind": "ServiceAccount", "name": "ci", "namespace": "build"}]});
    assert_eq!(
        row_cells("RoleBinding", rb),
        json!(["read-pods", "Role/pod-reader", "60m", "jane, joe", "devs", "build/ci"])
    );
    let crb = json!({"metadata": meta("cluster-admin"),
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                     "subjects": [{"kind": "Group", "name": "system:masters"}]});
    assert_eq!(
        row_cells("ClusterRoleBinding", crb),
        json!(["cluster-admin", "ClusterRole/cluster-admin", "60m", "", "system:masters", ""])
    );
}

#[test]
fn label_selector_formatting() {
    assert_eq!(format_label_selector(None), "<none>");
    assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
    assert_eq!(
        format_label_selector(Some(&json!({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}))),
        "<error>"
    );
    assert_eq!(
        format_label_selector(Some(&json!({"matchLabels": {"b": "2", "a": "1"},
                                            "matchExpressions": [{"key": "c", "operator": "In", "values": ["z", "y"]}]}))),
        "a=1,b=2,c in (y,z)"
    );
    assert_eq!(format_labels(None), "<none>");
}
