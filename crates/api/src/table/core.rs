//! The core group: pods, services, nodes, events, endpoints, volumes and the small kinds.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{
    AGE, CONTAINERS, Cells, Column, Columns, IMAGES, NAME, Printer, SELECTOR, age_cell, arr, boolean,
    cmp_time, col, condition_true, format_labels, int, layout_containers, map, name, opt_int, opt_s,
    quantity, s, since, wide,
};

pub(super) fn printer(kind: &str) -> Option<Printer> {
    let (columns, cells): (Columns, Cells) = match kind {
        "Pod" => (pod_columns, pod_cells),
        "Service" => (service_columns, service_cells),
        "Node" => (node_columns, node_cells),
        "Event" => (event_columns, event_cells),
        "Endpoints" => (endpoints_columns, endpoints_cells),
        "Namespace" => (namespace_columns, namespace_cells),
        "ConfigMap" => (config_map_columns, config_map_cells),
        "Secret" => (secret_columns, secret_cells),
        "ServiceAccount" => (service_account_columns, service_account_cells),
        "PersistentVolume" => (pv_columns, pv_cells),
        "PersistentVolumeClaim" => (pvc_columns, pvc_cells),
        "ReplicationController" => (rc_columns, rc_cells),
        "ResourceQuota" => (quota_columns, quota_cells),
        _ => return None,
    };
    Some(Printer { columns, cells })
}

// ---- Pod -------------------------------------------------------------------------------------

fn pod_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
        col("Status", "string", "The aggregate status of the containers in this pod."),
        col(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        AGE,
        wide("IP", "string", "IP address allocated to the pod. Routable at least within the cluster."),
        wide("Node", "string", "NodeName is a request to schedule this pod onto a specific node."),
        wide(
            "Nominated Node",
            "string",
            "The node the scheduler nominated for this pod when it preempted others.",
        ),
        wide("Readiness Gates", "string", "Conditions evaluated for pod readiness besides its containers."),
    ]
}

/// Whether an init container is a sidecar (restartPolicy Always).
fn restartable(init_containers: &[Value], name: &str) -> bool {
    init_containers.iter().any(|c| s(c, "/name") == name && s(c, "/restartPolicy") == "Always")
}

/// The reason a terminated container state shows: its reason, or its signal or exit code.
fn terminated_reason(t: &Value) -> String {
    if let Some(r) = opt_s(t, "/reason") {
        return r.to_string();
    }
    match int(t, "/signal") {
        0 => format!("ExitCode:{}", int(t, "/exitCode")),
        sig => format!("Signal:{sig}"),
    }
}

/// The latest `lastState.terminated.finishedAt` of `status` if later than `latest`.
fn later_restart<'a>(latest: Option<&'a str>, status: &'a Value) -> Option<&'a str> {
    match (latest, opt_s(status, "/lastState/terminated/finishedAt")) {
        (Some(l), Some(f)) if cmp_time(l, f).is_lt() => Some(f),
        (None, Some(f)) => Some(f),
        (l, _) => l,
    }
}

fn pod_cells(pod: &Value, now: Timestamp) -> Vec<Value> {
    let init_specs = arr(pod, "/spec/initContainers");
    let conditions = arr(pod, "/status/conditions");
    let phase = s(pod, "/status/phase");

    let mut restarts = 0;
    let mut sidecar_restarts = 0;
    let total = arr(pod, "/spec/containers").len()
        + init_specs.iter().filter(|c| s(c, "/restartPolicy") == "Always").count();
    let mut ready = 0;
    let mut last_restart: Option<&str> = None;
    let mut last_sidecar_restart: Option<&str> = None;

    let mut reason = opt_s(pod, "/status/reason").unwrap_or(phase).to_string();
    if conditions.iter().any(|c| s(c, "/type") == "PodScheduled" && s(c, "/reason") == "SchedulingGated") {
        reason = "SchedulingGated".into();
    }

    let mut initializing = false;
    for (i, st) in arr(pod, "/status/initContainerStatuses").iter().enumerate() {
        let count = int(st, "/restartCount");
        restarts += count;
        last_restart = later_restart(last_restart, st);
        let sidecar = restartable(init_specs, s(st, "/name"));
        if sidecar {
            sidecar_restarts += count;
            last_sidecar_restart = later_restart(last_sidecar_restart, st);
        }
        let terminated = st.pointer("/state/terminated").filter(|t| t.is_object());
        let waiting_reason = opt_s(st, "/state/waiting/reason");
        if terminated.is_some_and(|t| int(t, "/exitCode") == 0) {
            continue;
        }
        if sidecar && boolean(st, "/started") {
            if boolean(st, "/ready") {
                ready += 1;
            }
            continue;
        }
        reason = match (terminated, waiting_reason) {
            (Some(t), _) => format!("Init:{}", terminated_reason(t)),
            (None, Some(w)) if w != "PodInitializing" => format!("Init:{w}"),
            _ => format!("Init:{i}/{}", init_specs.len()),
        };
        initializing = true;
        break;
    }

    if !initializing || condition_true(conditions, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for st in arr(pod, "/status/containerStatuses").iter().rev() {
            restarts += int(st, "/restartCount");
            last_restart = later_restart(last_restart, st);
            let terminated = st.pointer("/state/terminated").filter(|t| t.is_object());
            if let Some(w) = opt_s(st, "/state/waiting/reason") {
                reason = w.to_string();
            } else if let Some(t) = terminated {
                reason = terminated_reason(t);
            } else if boolean(st, "/ready") && st.pointer("/state/running").is_some_and(Value::is_object) {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(conditions, "Ready") { "Running" } else { "NotReady" }.into();
        }
    }

    if pod.pointer("/metadata/deletionTimestamp").is_some_and(|d| !d.is_null()) {
        if s(pod, "/status/reason") == "NodeLost" {
            reason = "Unknown".into();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".into();
        }
    }

    let restarts_cell = match last_restart {
        Some(at) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(at), now)),
        _ => restarts.to_string(),
    };

    let ip = arr(pod, "/status/podIPs")
        .first()
        .and_then(|p| opt_s(p, "/ip"))
        .or_else(|| opt_s(pod, "/status/podIP"))
        .unwrap_or("<none>");
    let gates = arr(pod, "/spec/readinessGates");
    let gates_cell = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let met = gates.iter().filter(|g| condition_true(conditions, s(g, "/conditionType"))).count();
        format!("{met}/{}", gates.len())
    };
    vec![
        json!(name(pod)),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_cell),
        age_cell(pod, now),
        json!(ip),
        json!(opt_s(pod, "/spec/nodeName").unwrap_or("<none>")),
        json!(opt_s(pod, "/status/nominatedNodeName").unwrap_or("<none>")),
        json!(gates_cell),
    ]
}

// ---- Service ---------------------------------------------------------------------------------

fn service_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Type", "string", "How the Service is exposed."),
        col("Cluster-IP", "string", "The IP address of the service, usually assigned randomly."),
        col(
            "External-IP",
            "string",
            "IP addresses for which nodes in the cluster accept traffic for this service.",
        ),
        col("Port(s)", "string", "The list of ports that are exposed by this service."),
        AGE,
        wide(
            "Selector",
            "string",
            "Route service traffic to pods with label keys and values matching this selector.",
        ),
    ]
}

/// Upstream's `loadBalancerStatusStringer` (wide): the sorted, distinct ingress IPs or hostnames.
pub(super) fn load_balancer_ingress(obj: &Value) -> Vec<String> {
    let mut out: Vec<String> = arr(obj, "/status/loadBalancer/ingress")
        .iter()
        .filter_map(|i| opt_s(i, "/ip").or_else(|| opt_s(i, "/hostname")))
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

fn service_external_ip(svc: &Value) -> String {
    let external: Vec<&str> = arr(svc, "/spec/externalIPs").iter().filter_map(Value::as_str).collect();
    match s(svc, "/spec/type") {
        "" | "ClusterIP" | "NodePort" if !external.is_empty() => external.join(","),
        "" | "ClusterIP" | "NodePort" => "<none>".into(),
        "LoadBalancer" => {
            let mut all = load_balancer_ingress(svc);
            all.extend(external.iter().map(|x| x.to_string()));
            if all.is_empty() { "<pending>".into() } else { all.join(",") }
        }
        "ExternalName" => s(svc, "/spec/externalName").to_string(),
        _ => "<unknown>".into(),
    }
}

fn service_ports(svc: &Value) -> String {
    let ports: Vec<String> = arr(svc, "/spec/ports")
        .iter()
        .map(|p| {
            let protocol = opt_s(p, "/protocol").unwrap_or("TCP");
            match int(p, "/nodePort") {
                n if n > 0 => format!("{}:{n}/{protocol}", int(p, "/port")),
                _ => format!("{}/{protocol}", int(p, "/port")),
            }
        })
        .collect();
    if ports.is_empty() { "<none>".into() } else { ports.join(",") }
}

fn service_cells(svc: &Value, now: Timestamp) -> Vec<Value> {
    let cluster_ip = arr(svc, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .filter(|x| !x.is_empty())
        .or_else(|| opt_s(svc, "/spec/clusterIP"))
        .unwrap_or("<none>");
    vec![
        json!(name(svc)),
        json!(opt_s(svc, "/spec/type").unwrap_or("ClusterIP")),
        json!(cluster_ip),
        json!(service_external_ip(svc)),
        json!(service_ports(svc)),
        age_cell(svc, now),
        json!(format_labels(map(svc, "/spec/selector"))),
    ]
}

// ---- Node ------------------------------------------------------------------------------------

fn node_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Status", "string", "The status of the node"),
        col("Roles", "string", "The roles of the node"),
        AGE,
        col("Version", "string", "Kubelet Version reported by the node."),
        wide("Internal-IP", "string", "List of addresses reachable to the node."),
        wide("External-IP", "string", "List of addresses reachable to the node."),
        wide("OS-Image", "string", "OS Image reported by the node from /etc/os-release."),
        wide("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r'."),
        wide(
            "Container-Runtime",
            "string",
            "ContainerRuntime Version reported by the node through runtime remote API.",
        ),
    ]
}

fn node_roles(node: &Value) -> String {
    let mut roles: Vec<&str> = Vec::new();
    for (k, v) in map(node, "/metadata/labels").into_iter().flatten() {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.push(role);
            }
        } else if k == "kubernetes.io/role"
            && let Some(role) = v.as_str().filter(|r| !r.is_empty())
        {
            roles.push(role);
        }
    }
    roles.sort_unstable();
    roles.dedup();
    if roles.is_empty() { "<none>".into() } else { roles.join(",") }
}

fn node_address<'a>(node: &'a Value, kind: &str) -> &'a str {
    arr(node, "/status/addresses")
        .iter()
        .find(|a| s(a, "/type") == kind)
        .map_or("<none>", |a| s(a, "/address"))
}

fn node_cells(node: &Value, now: Timestamp) -> Vec<Value> {
    let mut status: Vec<&str> = Vec::new();
    // Upstream keys conditions by type in a map, so the last Ready condition counts.
    match arr(node, "/status/conditions").iter().rev().find(|c| s(c, "/type") == "Ready") {
        Some(c) if s(c, "/status") == "True" => status.push("Ready"),
        Some(_) => status.push("NotReady"),
        None => status.push("Unknown"),
    }
    if boolean(node, "/spec/unschedulable") {
        status.push("SchedulingDisabled");
    }
    let info = |field: &str| opt_s(node, &format!("/status/nodeInfo/{field}")).unwrap_or("<unknown>");
    vec![
        json!(name(node)),
        json!(status.join(",")),
        json!(node_roles(node)),
        age_cell(node, now),
        json!(s(node, "/status/nodeInfo/kubeletVersion")),
        json!(node_address(node, "InternalIP")),
        json!(node_address(node, "ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

// ---- Event (core/v1 and events.k8s.io/v1) ----------------------------------------------------

fn event_columns() -> Vec<Column> {
    vec![
        col(
            "Last Seen",
            "string",
            "The time at which the most recent occurrence of this event was recorded.",
        ),
        col("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
        col(
            "Reason",
            "string",
            "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
        ),
        col("Object", "string", "The object that this event is about."),
        wide("Subobject", "string", "The field of the object this event is about, if any."),
        wide("Source", "string", "The component reporting this event."),
        col("Message", "string", "A human-readable description of the status of this operation."),
        wide("First Seen", "string", "The time at which the event was first recorded."),
        wide("Count", "string", "The number of times this event has occurred."),
        Column { priority: 1, ..NAME },
    ]
}

/// The first of the fields (core/v1 name first, then events.k8s.io/v1 name) that is set.
fn either<'a>(ev: &'a Value, core: &str, events: &str) -> Option<&'a Value> {
    ev.pointer(core).filter(|v| !v.is_null()).or_else(|| ev.pointer(events).filter(|v| !v.is_null()))
}

fn either_s<'a>(ev: &'a Value, core: &str, events: &str) -> &'a str {
    opt_s(ev, core).or_else(|| opt_s(ev, events)).unwrap_or("")
}

fn event_cells(ev: &Value, now: Timestamp) -> Vec<Value> {
    let first = match either_s(ev, "/firstTimestamp", "/deprecatedFirstTimestamp") {
        "" => since(opt_s(ev, "/eventTime"), now),
        t => since(Some(t), now),
    };
    let mut last = match either_s(ev, "/lastTimestamp", "/deprecatedLastTimestamp") {
        "" => first.clone(),
        t => since(Some(t), now),
    };
    let mut count = either(ev, "/count", "/deprecatedCount").and_then(Value::as_i64).unwrap_or(0);
    if let Some(series) = ev.get("series").filter(|v| v.is_object()) {
        last = since(opt_s(series, "/lastObservedTime"), now);
        count = int(series, "/count");
    } else if count == 0 {
        count = 1;
    }
    let involved = either(ev, "/involvedObject", "/regarding").unwrap_or(&Value::Null);
    let kind = s(involved, "/kind").to_lowercase();
    let target = match opt_s(involved, "/name") {
        Some(n) => format!("{kind}/{n}"),
        None => kind,
    };
    let component = either_s(ev, "/source/component", "/deprecatedSource/component");
    let component = if component.is_empty() {
        either_s(ev, "/reportingComponent", "/reportingController")
    } else {
        component
    };
    let host = either_s(ev, "/source/host", "/deprecatedSource/host");
    let host = if host.is_empty() { s(ev, "/reportingInstance") } else { host };
    let source = if host.is_empty() { component.to_string() } else { format!("{component}, {host}") };
    vec![
        json!(last),
        json!(s(ev, "/type")),
        json!(s(ev, "/reason")),
        json!(target),
        json!(s(involved, "/fieldPath")),
        json!(source),
        json!(either_s(ev, "/message", "/note").trim()),
        json!(first),
        json!(count),
        json!(name(ev)),
    ]
}

// ---- Endpoints -------------------------------------------------------------------------------

fn endpoints_columns() -> Vec<Column> {
    vec![NAME, col("Endpoints", "string", "The set of all endpoints is the union of all subsets."), AGE]
}

/// Upstream's `formatEndpoints`: up to three `ip:port`, then "+ N more...".
fn format_endpoints(ep: &Value) -> String {
    let subsets = arr(ep, "/subsets");
    if subsets.is_empty() {
        return "<none>".into();
    }
    const MAX: usize = 3;
    let mut list: Vec<String> = Vec::new();
    let mut count = 0;
    for ss in subsets {
        let addresses = arr(ss, "/addresses");
        let ports = arr(ss, "/ports");
        if ports.is_empty() {
            count += addresses.len();
            list.extend(addresses.iter().map(|a| s(a, "/ip").to_string()));
            continue;
        }
        for port in ports {
            count += addresses.len();
            for a in addresses {
                let ip = s(a, "/ip");
                let p = int(port, "/port");
                list.push(if ip.contains(':') { format!("[{ip}]:{p}") } else { format!("{ip}:{p}") });
            }
        }
    }
    let shown = list.iter().take(MAX).cloned().collect::<Vec<_>>().join(",");
    if count > MAX { format!("{shown} + {} more...", count - MAX) } else { shown }
}

fn endpoints_cells(ep: &Value, now: Timestamp) -> Vec<Value> {
    vec![json!(name(ep)), json!(format_endpoints(ep)), age_cell(ep, now)]
}

// ---- Namespace, ConfigMap, Secret, ServiceAccount --------------------------------------------

fn namespace_columns() -> Vec<Column> {
    vec![NAME, col("Status", "string", "The status of the namespace"), AGE]
}

fn namespace_cells(ns: &Value, now: Timestamp) -> Vec<Value> {
    vec![json!(name(ns)), json!(s(ns, "/status/phase")), age_cell(ns, now)]
}

fn config_map_columns() -> Vec<Column> {
    vec![NAME, col("Data", "string", "Data contains the configuration data."), AGE]
}

fn config_map_cells(cm: &Value, now: Timestamp) -> Vec<Value> {
    let n = map(cm, "/data").map_or(0, |m| m.len()) + map(cm, "/binaryData").map_or(0, |m| m.len());
    vec![json!(name(cm)), json!(n), age_cell(cm, now)]
}

fn secret_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Type", "string", "Used to facilitate programmatic handling of secret data."),
        col("Data", "string", "Data contains the secret data."),
        AGE,
    ]
}

fn secret_cells(secret: &Value, now: Timestamp) -> Vec<Value> {
    // stringData is folded into data on write; count both in case it was not.
    let mut keys: Vec<&String> = map(secret, "/data").into_iter().flatten().map(|(k, _)| k).collect();
    keys.extend(map(secret, "/stringData").into_iter().flatten().map(|(k, _)| k));
    keys.sort_unstable();
    keys.dedup();
    vec![json!(name(secret)), json!(s(secret, "/type")), json!(keys.len()), age_cell(secret, now)]
}

fn service_account_columns() -> Vec<Column> {
    vec![NAME, col("Secrets", "string", "Secrets is a list of the secrets in the same namespace."), AGE]
}

fn service_account_cells(sa: &Value, now: Timestamp) -> Vec<Value> {
    vec![json!(name(sa)), json!(arr(sa, "/secrets").len()), age_cell(sa, now)]
}

// ---- PersistentVolume, PersistentVolumeClaim -------------------------------------------------

/// Upstream's `GetAccessModesAsString`: fixed order, duplicates dropped.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|x| x.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(m, _)| has(m))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// The storage class, the beta annotation winning over the field as upstream has it.
fn storage_class(obj: &Value) -> &str {
    match map(obj, "/metadata/annotations").and_then(|a| a.get("volume.beta.kubernetes.io/storage-class")) {
        Some(v) => v.as_str().unwrap_or(""),
        None => s(obj, "/spec/storageClassName"),
    }
}

fn terminating_or(obj: &Value, phase: &str) -> String {
    if obj.pointer("/metadata/deletionTimestamp").is_some_and(|d| !d.is_null()) {
        "Terminating".into()
    } else {
        phase.into()
    }
}

fn pv_columns() -> Vec<Column> {
    vec![
        NAME,
        col(
            "Capacity",
            "string",
            "capacity is the description of the persistent volume's resources and capacity.",
        ),
        col("Access Modes", "string", "accessModes contains all ways the volume can be mounted."),
        col("Reclaim Policy", "string", "What happens to a persistent volume when released from its claim."),
        col(
            "Status",
            "string",
            "phase indicates if a volume is available, bound to a claim, or released by a claim.",
        ),
        col(
            "Claim",
            "string",
            "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.",
        ),
        col("StorageClass", "string", "StorageClass of the pv"),
        col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
        col("Reason", "string", "reason is a brief CamelCase string that describes any failure."),
        AGE,
        wide(
            "VolumeMode",
            "string",
            "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.",
        ),
    ]
}

fn pv_cells(pv: &Value, now: Timestamp) -> Vec<Value> {
    let claim = match pv.pointer("/spec/claimRef").filter(|c| c.is_object()) {
        Some(c) => format!("{}/{}", s(c, "/namespace"), s(c, "/name")),
        None => String::new(),
    };
    vec![
        json!(name(pv)),
        json!(quantity(pv.pointer("/spec/capacity/storage"))),
        json!(access_modes(arr(pv, "/spec/accessModes"))),
        json!(s(pv, "/spec/persistentVolumeReclaimPolicy")),
        json!(terminating_or(pv, s(pv, "/status/phase"))),
        json!(claim),
        json!(storage_class(pv)),
        json!(opt_s(pv, "/spec/volumeAttributesClassName").unwrap_or("<unset>")),
        json!(s(pv, "/status/reason")),
        age_cell(pv, now),
        json!(opt_s(pv, "/spec/volumeMode").unwrap_or("<unset>")),
    ]
}

fn pvc_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Status", "string", "phase represents the current phase of PersistentVolumeClaim."),
        col(
            "Volume",
            "string",
            "volumeName is the binding reference to the PersistentVolume backing this claim.",
        ),
        col("Capacity", "string", "capacity represents the actual resources of the underlying volume."),
        col(
            "Access Modes",
            "string",
            "accessModes contains the actual access modes the volume backing the PVC has.",
        ),
        col("StorageClass", "string", "StorageClass of the pvc"),
        col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
        AGE,
        wide("VolumeMode", "string", "volumeMode defines what type of volume is required by the claim."),
    ]
}

fn pvc_cells(pvc: &Value, now: Timestamp) -> Vec<Value> {
    let volume = s(pvc, "/spec/volumeName");
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (quantity(pvc.pointer("/status/capacity/storage")), access_modes(arr(pvc, "/status/accessModes")))
    };
    vec![
        json!(name(pvc)),
        json!(terminating_or(pvc, s(pvc, "/status/phase"))),
        json!(volume),
        json!(capacity),
        json!(modes),
        json!(storage_class(pvc)),
        json!(opt_s(pvc, "/spec/volumeAttributesClassName").unwrap_or("<unset>")),
        age_cell(pvc, now),
        json!(opt_s(pvc, "/spec/volumeMode").unwrap_or("<unset>")),
    ]
}

// ---- ReplicationController -------------------------------------------------------------------

fn rc_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Desired", "integer", "Replicas is the number of desired replicas."),
        col("Current", "integer", "Replicas is the most recently observed number of replicas."),
        col("Ready", "integer", "The number of ready replicas for this replication controller."),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ]
}

fn rc_cells(rc: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = layout_containers(rc, "/spec/template/spec");
    vec![
        json!(name(rc)),
        json!(opt_int(rc, "/spec/replicas").unwrap_or(1)),
        json!(int(rc, "/status/replicas")),
        json!(int(rc, "/status/readyReplicas")),
        age_cell(rc, now),
        json!(names),
        json!(images),
        json!(format_labels(map(rc, "/spec/selector"))),
    ]
}

// ---- ResourceQuota ---------------------------------------------------------------------------

fn quota_columns() -> Vec<Column> {
    vec![
        NAME,
        col(
            "Request",
            "string",
            "Request represents a minimum amount of cpu/memory that a container may consume.",
        ),
        col(
            "Limit",
            "string",
            "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
        ),
        AGE,
    ]
}

fn quota_cells(quota: &Value, now: Timestamp) -> Vec<Value> {
    let hard = map(quota, "/status/hard");
    let used = map(quota, "/status/used");
    let mut resources: Vec<&String> = hard.into_iter().flatten().map(|(k, _)| k).collect();
    resources.sort_unstable();
    let (mut requests, mut limits) = (Vec::new(), Vec::new());
    for r in resources {
        let text = format!(
            "{r}: {}/{}",
            quantity(used.and_then(|u| u.get(r.as_str()))),
            quantity(hard.and_then(|h| h.get(r.as_str())))
        );
        let is_limit = r.split('.').count() > 1 && r.split('.').next() == Some("limits");
        if is_limit { limits.push(text) } else { requests.push(text) }
    }
    vec![json!(name(quota)), json!(requests.join(", ")), json!(limits.join(", ")), age_cell(quota, now)]
}
