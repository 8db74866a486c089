//! The apps group: deployments, replica sets, stateful sets, daemon sets, controller revisions.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{
    AGE, CONTAINERS, Cells, Column, Columns, IMAGES, NAME, Printer, SELECTOR, age_cell, arr, col,
    format_label_selector, format_labels, int, layout_containers, map, name, opt_int, s, selector_string,
};

pub(super) fn printer(kind: &str) -> Option<Printer> {
    let (columns, cells): (Columns, Cells) = match kind {
        "Deployment" => (deployment_columns, deployment_cells),
        "ReplicaSet" => (replica_set_columns, replica_set_cells),
        "StatefulSet" => (stateful_set_columns, stateful_set_cells),
        "DaemonSet" => (daemon_set_columns, daemon_set_cells),
        "ControllerRevision" => (revision_columns, revision_cells),
        _ => return None,
    };
    Some(Printer { columns, cells })
}

/// `spec.replicas`, which the API defaults to 1.
fn desired(obj: &Value) -> i64 {
    opt_int(obj, "/spec/replicas").unwrap_or(1)
}

fn deployment_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Ready", "string", "Number of the pod with ready state"),
        col(
            "Up-to-date",
            "string",
            "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
        ),
        col(
            "Available",
            "string",
            "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ]
}

fn deployment_cells(d: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = layout_containers(d, "/spec/template/spec");
    let selector = selector_string(d.pointer("/spec/selector")).unwrap_or_else(|()| "<invalid>".into());
    vec![
        json!(name(d)),
        json!(format!("{}/{}", int(d, "/status/readyReplicas"), desired(d))),
        json!(int(d, "/status/updatedReplicas")),
        json!(int(d, "/status/availableReplicas")),
        age_cell(d, now),
        json!(names),
        json!(images),
        json!(selector),
    ]
}

fn replica_set_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Desired", "integer", "Replicas is the number of desired replicas."),
        col("Current", "integer", "Replicas is the most recently observed number of replicas."),
        col("Ready", "integer", "The number of ready replicas for this replica set."),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ]
}

fn replica_set_cells(rs: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = layout_containers(rs, "/spec/template/spec");
    vec![
        json!(name(rs)),
        json!(desired(rs)),
        json!(int(rs, "/status/replicas")),
        json!(int(rs, "/status/readyReplicas")),
        age_cell(rs, now),
        json!(names),
        json!(images),
        json!(format_label_selector(rs.pointer("/spec/selector"))),
    ]
}

fn stateful_set_columns() -> Vec<Column> {
    vec![NAME, col("Ready", "string", "Number of the pod with ready state"), AGE, CONTAINERS, IMAGES]
}

fn stateful_set_cells(sts: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = layout_containers(sts, "/spec/template/spec");
    vec![
        json!(name(sts)),
        json!(format!("{}/{}", int(sts, "/status/readyReplicas"), desired(sts))),
        age_cell(sts, now),
        json!(names),
        json!(images),
    ]
}

fn daemon_set_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Desired", "integer", "The total number of nodes that should be running the daemon pod."),
        col(
            "Current",
            "integer",
            "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
        ),
        col(
            "Ready",
            "integer",
            "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
        ),
        col("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
        col(
            "Available",
            "integer",
            "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.",
        ),
        col(
            "Node Selector",
            "string",
            "NodeSelector is a selector which must be true for the pod to fit on a node.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ]
}

fn daemon_set_cells(ds: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = layout_containers(ds, "/spec/template/spec");
    vec![
        json!(name(ds)),
        json!(int(ds, "/status/desiredNumberScheduled")),
        json!(int(ds, "/status/currentNumberScheduled")),
        json!(int(ds, "/status/numberReady")),
        json!(int(ds, "/status/updatedNumberScheduled")),
        json!(int(ds, "/status/numberAvailable")),
        json!(format_labels(map(ds, "/spec/template/spec/nodeSelector"))),
        age_cell(ds, now),
        json!(names),
        json!(images),
        json!(format_label_selector(ds.pointer("/spec/selector"))),
    ]
}

fn revision_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Controller", "string", "Controller of the object"),
        col("Revision", "string", "Revision indicates the revision of the state represented by Data."),
        AGE,
    ]
}

/// The controller owner as `kind.group/name` (`kind/name` for the core group), lower-cased kind.
fn controller_of(obj: &Value) -> String {
    let Some(owner) = arr(obj, "/metadata/ownerReferences")
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
    else {
        return "<none>".into();
    };
    let api_version = s(owner, "/apiVersion");
    let group = if api_version.contains('/') { api_version.split('/').next().unwrap_or("") } else { "" };
    let kind = s(owner, "/kind");
    let name = s(owner, "/name");
    match (kind.is_empty(), group.is_empty()) {
        (true, true) => name.to_string(),
        (_, true) => format!("{}/{name}", kind.to_lowercase()),
        _ => format!("{}/{name}", format!("{kind}.{group}").to_lowercase()),
    }
}

fn revision_cells(cr: &Value, now: Timestamp) -> Vec<Value> {
    vec![json!(name(cr)), json!(controller_of(cr)), json!(int(cr, "/revision")), age_cell(cr, now)]
}
