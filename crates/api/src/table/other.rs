//! Storage, autoscaling, policy, scheduling, coordination and RBAC kinds.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{
    AGE, Cells, Column, Columns, NAME, Printer, age_cell, arr, col, human_duration, int, int_or_string, map,
    name, opt_int, opt_s, quantity, s, wide,
};

pub(super) fn printer(kind: &str) -> Option<Printer> {
    let (columns, cells): (Columns, Cells) = match kind {
        "StorageClass" => (storage_class_columns, storage_class_cells),
        "HorizontalPodAutoscaler" => (hpa_columns, hpa_cells),
        "PodDisruptionBudget" => (pdb_columns, pdb_cells),
        "PriorityClass" => (priority_class_columns, priority_class_cells),
        "Lease" => (lease_columns, lease_cells),
        "RoleBinding" => (role_binding_columns, binding_cells),
        "ClusterRoleBinding" => (cluster_role_binding_columns, binding_cells),
        "CertificateSigningRequest" => (csr_columns, csr_cells),
        "APIService" => (api_service_columns, api_service_cells),
        _ => return None,
    };
    Some(Printer { columns, cells })
}

// ---- StorageClass ----------------------------------------------------------------------------

fn storage_class_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Provisioner", "string", "provisioner indicates the type of the provisioner."),
        col(
            "ReclaimPolicy",
            "string",
            "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class.",
        ),
        col(
            "VolumeBindingMode",
            "string",
            "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.",
        ),
        col(
            "AllowVolumeExpansion",
            "string",
            "allowVolumeExpansion shows whether the storage class allow volume expand.",
        ),
        AGE,
    ]
}

fn storage_class_cells(sc: &Value, now: Timestamp) -> Vec<Value> {
    let annotations = map(sc, "/metadata/annotations");
    let is_default =
        ["storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class"]
            .iter()
            .any(|k| annotations.and_then(|a| a.get(*k)).and_then(Value::as_str) == Some("true"));
    let name = if is_default { format!("{} (default)", name(sc)) } else { name(sc).to_string() };
    vec![
        json!(name),
        json!(s(sc, "/provisioner")),
        json!(opt_s(sc, "/reclaimPolicy").unwrap_or("Delete")),
        json!(opt_s(sc, "/volumeBindingMode").unwrap_or("Immediate")),
        json!(sc.get("allowVolumeExpansion").and_then(Value::as_bool).unwrap_or(false)),
        age_cell(sc, now),
    ]
}

// ---- HorizontalPodAutoscaler -----------------------------------------------------------------

fn hpa_columns() -> Vec<Column> {
    vec![
        NAME,
        col(
            "Reference",
            "string",
            "reference to scaled resource; horizontal pod autoscaler will learn the current resource consumption and will set the desired number of pods by using its Scale subresource.",
        ),
        col(
            "Targets",
            "string",
            "metrics contains the specifications for which to use to calculate the desired replica count.",
        ),
        col(
            "MinPods",
            "string",
            "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.",
        ),
        col(
            "MaxPods",
            "string",
            "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up.",
        ),
        col(
            "Replicas",
            "string",
            "currentReplicas is current number of replicas of pods managed by this autoscaler.",
        ),
        AGE,
    ]
}

/// The spec and current-status metrics in autoscaling/v2 shape. An autoscaling/v1 object's
/// CPU target becomes a Resource metric as upstream's conversion makes it; with no metrics at
/// all, upstream's v2 defaulting supplies an 80% CPU target.
fn hpa_metrics(hpa: &Value) -> (Vec<Value>, Vec<Value>) {
    let specs = arr(hpa, "/spec/metrics");
    if !specs.is_empty() {
        return (specs.to_vec(), arr(hpa, "/status/currentMetrics").to_vec());
    }
    let target = opt_int(hpa, "/spec/targetCPUUtilizationPercentage").unwrap_or(80);
    let spec = json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}});
    let status = match opt_int(hpa, "/status/currentCPUUtilizationPercentage") {
        Some(c) => vec![
            json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": c}}}),
        ],
        None => arr(hpa, "/status/currentMetrics").to_vec(),
    };
    (vec![spec], status)
}

/// The current metric status at index `i` if it carries the `source` block.
fn status_at<'a>(statuses: &'a [Value], i: usize, source: &str) -> Option<&'a Value> {
    statuses.get(i).and_then(|st| st.get(source)).filter(|v| v.is_object())
}

/// Upstream's `formatHPAMetrics`: up to two metrics as `current/target`, then "+ N more...".
fn format_hpa_metrics(specs: &[Value], statuses: &[Value]) -> String {
    if specs.is_empty() {
        return "<none>".into();
    }
    let unknown = || "<unknown>".to_string();
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| match s(spec, "/type") {
            source_type @ ("External" | "Object") => {
                let source = if source_type == "External" { "external" } else { "object" };
                let target = &spec[source]["target"];
                let current = status_at(statuses, i, source);
                if let Some(avg) = target.get("averageValue").filter(|v| !v.is_null()) {
                    let cur = current
                        .and_then(|c| c.pointer("/current/averageValue"))
                        .filter(|v| !v.is_null())
                        .map_or_else(unknown, |v| quantity(Some(v)));
                    format!("{cur}/{} (avg)", quantity(Some(avg)))
                } else {
                    let cur = current.map_or_else(unknown, |c| quantity(c.pointer("/current/value")));
                    format!("{cur}/{}", quantity(target.get("value")))
                }
            }
            "Pods" => {
                let cur = status_at(statuses, i, "pods")
                    .map_or_else(unknown, |c| quantity(c.pointer("/current/averageValue")));
                format!("{cur}/{}", quantity(spec.pointer("/pods/target/averageValue")))
            }
            source_type @ ("Resource" | "ContainerResource") => {
                let source = if source_type == "Resource" { "resource" } else { "containerResource" };
                let resource = s(&spec[source], "/name");
                let target = &spec[source]["target"];
                let current = status_at(statuses, i, source);
                if let Some(avg) = target.get("averageValue").filter(|v| !v.is_null()) {
                    let cur = current.map_or_else(unknown, |c| quantity(c.pointer("/current/averageValue")));
                    format!("{resource}: {cur}/{}", quantity(Some(avg)))
                } else {
                    let cur = current
                        .and_then(|c| opt_int(c, "/current/averageUtilization"))
                        .map_or_else(unknown, |u| format!("{u}%"));
                    let goal = opt_int(target, "/averageUtilization")
                        .map_or_else(|| "<auto>".into(), |u| format!("{u}%"));
                    format!("{resource}: {cur}/{goal}")
                }
            }
            _ => "<unknown type>".into(),
        })
        .collect();
    const MAX: usize = 2;
    let shown = list.iter().take(MAX).cloned().collect::<Vec<_>>().join(", ");
    if list.len() > MAX { format!("{shown} + {} more...", list.len() - MAX) } else { shown }
}

fn hpa_cells(hpa: &Value, now: Timestamp) -> Vec<Value> {
    let (specs, statuses) = hpa_metrics(hpa);
    let reference =
        format!("{}/{}", s(hpa, "/spec/scaleTargetRef/kind"), s(hpa, "/spec/scaleTargetRef/name"));
    let min = opt_int(hpa, "/spec/minReplicas").map_or_else(|| "<unset>".into(), |m| m.to_string());
    vec![
        json!(name(hpa)),
        json!(reference),
        json!(format_hpa_metrics(&specs, &statuses)),
        json!(min),
        json!(int(hpa, "/spec/maxReplicas")),
        json!(int(hpa, "/status/currentReplicas")),
        age_cell(hpa, now),
    ]
}

// ---- PodDisruptionBudget, PriorityClass, Lease -----------------------------------------------

fn pdb_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Min Available", "string", "The minimum number of pods that must be available."),
        col("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
        col(
            "Allowed Disruptions",
            "integer",
            "Calculated number of pods that may be disrupted at this time.",
        ),
        AGE,
    ]
}

fn pdb_cells(pdb: &Value, now: Timestamp) -> Vec<Value> {
    let field =
        |ptr: &str| pdb.pointer(ptr).filter(|v| !v.is_null()).map_or_else(|| "N/A".into(), int_or_string);
    vec![
        json!(name(pdb)),
        json!(field("/spec/minAvailable")),
        json!(field("/spec/maxUnavailable")),
        json!(int(pdb, "/status/disruptionsAllowed")),
        age_cell(pdb, now),
    ]
}

fn priority_class_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Value", "integer", "value represents the integer value of this priority class."),
        col(
            "Global-Default",
            "boolean",
            "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class.",
        ),
        AGE,
        col(
            "PreemptionPolicy",
            "string",
            "preemptionPolicy is the Policy for preempting pods with lower priority.",
        ),
    ]
}

fn priority_class_cells(pc: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        json!(name(pc)),
        json!(int(pc, "/value")),
        json!(pc.get("globalDefault").and_then(Value::as_bool).unwrap_or(false)),
        age_cell(pc, now),
        json!(s(pc, "/preemptionPolicy")),
    ]
}

fn lease_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Holder", "string", "holderIdentity contains the identity of the holder of a current lease."),
        AGE,
    ]
}

fn lease_cells(lease: &Value, now: Timestamp) -> Vec<Value> {
    vec![json!(name(lease)), json!(s(lease, "/spec/holderIdentity")), age_cell(lease, now)]
}

// ---- RoleBinding, ClusterRoleBinding ---------------------------------------------------------

fn role_binding_columns() -> Vec<Column> {
    vec![
        NAME,
        col(
            "Role",
            "string",
            "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.",
        ),
        AGE,
        wide("Users", "string", "Users in the roleBinding"),
        wide("Groups", "string", "Groups in the roleBinding"),
        wide("ServiceAccounts", "string", "ServiceAccounts in the roleBinding"),
    ]
}

fn cluster_role_binding_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Role", "string", "RoleRef can only reference a ClusterRole in the global namespace."),
        AGE,
        wide("Users", "string", "Users in the clusterRoleBinding"),
        wide("Groups", "string", "Groups in the clusterRoleBinding"),
        wide("ServiceAccounts", "string", "ServiceAccounts in the clusterRoleBinding"),
    ]
}

fn binding_cells(b: &Value, now: Timestamp) -> Vec<Value> {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subject in arr(b, "/subjects") {
        match s(subject, "/kind") {
            "User" => users.push(s(subject, "/name").to_string()),
            "Group" => groups.push(s(subject, "/name").to_string()),
            "ServiceAccount" => sas.push(format!("{}/{}", s(subject, "/namespace"), s(subject, "/name"))),
            _ => {}
        }
    }
    vec![
        json!(name(b)),
        json!(format!("{}/{}", s(b, "/roleRef/kind"), s(b, "/roleRef/name"))),
        age_cell(b, now),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(sas.join(", ")),
    ]
}

// ---- CertificateSigningRequest, APIService ---------------------------------------------------

fn csr_columns() -> Vec<Column> {
    vec![
        NAME,
        AGE,
        col("SignerName", "string", "signerName indicates the requested signer, and is a qualified name."),
        col(
            "Requestor",
            "string",
            "request contains an x509 certificate signing request encoded in a \"CERTIFICATE REQUEST\" PEM block.",
        ),
        col(
            "RequestedDuration",
            "string",
            "expirationSeconds is the requested duration of validity of the issued certificate.",
        ),
        col("Condition", "string", "conditions applied to the request."),
    ]
}

fn csr_cells(csr: &Value, now: Timestamp) -> Vec<Value> {
    let duration = opt_int(csr, "/spec/expirationSeconds").map_or_else(|| "<none>".into(), human_duration);
    vec![
        json!(name(csr)),
        age_cell(csr, now),
        json!(s(csr, "/spec/signerName")),
        json!(s(csr, "/spec/username")),
        json!(duration),
        json!(csr_condition(csr)),
    ]
}

/// Denied wins over Approved, neither is Pending; Failed and an issued certificate are added.
fn csr_condition(csr: &Value) -> String {
    let has = |t: &str| arr(csr, "/status/conditions").iter().any(|c| s(c, "/type") == t);
    let mut out = String::from(if has("Denied") {
        "Denied"
    } else if has("Approved") {
        "Approved"
    } else {
        "Pending"
    });
    if has("Failed") {
        out.push_str(",Failed");
    }
    if !s(csr, "/status/certificate").is_empty() {
        out.push_str(",Issued");
    }
    out
}

fn api_service_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Service", "string", "The reference to the service that hosts this API endpoint."),
        col("Available", "string", "Whether this service is available."),
        AGE,
    ]
}

fn api_service_cells(svc: &Value, now: Timestamp) -> Vec<Value> {
    let service = match svc.pointer("/spec/service").filter(|v| !v.is_null()) {
        Some(r) => format!("{}/{}", s(r, "/namespace"), s(r, "/name")),
        None => "Local".into(),
    };
    let available = match arr(svc, "/status/conditions").iter().find(|c| s(c, "/type") == "Available") {
        None => "Unknown".to_string(),
        Some(c) if s(c, "/status") == "True" || s(c, "/reason").is_empty() => s(c, "/status").to_string(),
        Some(c) => format!("{} ({})", s(c, "/status"), s(c, "/reason")),
    };
    vec![json!(name(svc)), json!(service), json!(available), age_cell(svc, now)]
}
