//! Networking and discovery: ingresses, ingress classes, network policies, endpoint slices.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{
    AGE, Cells, Column, Columns, NAME, Printer, age_cell, arr, col, core::load_balancer_ingress,
    format_label_selector, list_with_more, name, opt_int, opt_s, s,
};

pub(super) fn printer(kind: &str) -> Option<Printer> {
    let (columns, cells): (Columns, Cells) = match kind {
        "Ingress" => (ingress_columns, ingress_cells),
        "IngressClass" => (ingress_class_columns, ingress_class_cells),
        "NetworkPolicy" => (network_policy_columns, network_policy_cells),
        "EndpointSlice" => (endpoint_slice_columns, endpoint_slice_cells),
        _ => return None,
    };
    Some(Printer { columns, cells })
}

fn ingress_columns() -> Vec<Column> {
    vec![
        NAME,
        col(
            "Class",
            "string",
            "The name of the IngressClass resource that should be used for additional configuration",
        ),
        col("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
        col("Address", "string", "Address is a list containing ingress points for the load-balancer"),
        col("Ports", "string", "Ports of TLS configurations that open"),
        AGE,
    ]
}

/// Upstream's `formatHosts`: up to three hosts, `*` when none.
fn ingress_hosts(rules: &[Value]) -> String {
    const MAX: usize = 3;
    let mut list: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if list.len() == MAX {
            more = true;
        }
        if let Some(host) = opt_s(rule, "/host").filter(|_| !more) {
            list.push(host);
        }
    }
    if list.is_empty() {
        return "*".into();
    }
    let joined = list.join(",");
    if more { format!("{joined} + {} more...", rules.len() - MAX) } else { joined }
}

fn ingress_cells(ing: &Value, now: Timestamp) -> Vec<Value> {
    let class = ing.pointer("/spec/ingressClassName").and_then(Value::as_str).unwrap_or("<none>");
    let ports = if arr(ing, "/spec/tls").is_empty() { "80" } else { "80, 443" };
    vec![
        json!(name(ing)),
        json!(class),
        json!(ingress_hosts(arr(ing, "/spec/rules"))),
        json!(load_balancer_ingress(ing).join(",")),
        json!(ports),
        age_cell(ing, now),
    ]
}

fn ingress_class_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Controller", "string", "Controller that is responsible for handling this class"),
        col("Parameters", "string", "A reference to a resource with additional parameters"),
        AGE,
    ]
}

fn ingress_class_cells(ic: &Value, now: Timestamp) -> Vec<Value> {
    let parameters = match ic.pointer("/spec/parameters").filter(|p| p.is_object()) {
        Some(p) => {
            let kind = s(p, "/kind");
            let kind = match p.get("apiGroup").and_then(Value::as_str) {
                Some(group) => format!("{kind}.{group}"),
                None => kind.to_string(),
            };
            format!("{kind}/{}", s(p, "/name"))
        }
        None => "<none>".into(),
    };
    vec![json!(name(ic)), json!(s(ic, "/spec/controller")), json!(parameters), age_cell(ic, now)]
}

fn network_policy_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Pod-Selector", "string", "Selects the pods to which this NetworkPolicy object applies."),
        AGE,
    ]
}

fn network_policy_cells(np: &Value, now: Timestamp) -> Vec<Value> {
    // podSelector is not a pointer upstream: an absent one is the empty selector.
    let selector = np.pointer("/spec/podSelector").cloned().unwrap_or_else(|| json!({}));
    vec![json!(name(np)), json!(format_label_selector(Some(&selector))), age_cell(np, now)]
}

fn endpoint_slice_columns() -> Vec<Column> {
    vec![
        NAME,
        col(
            "AddressType",
            "string",
            "addressType specifies the type of address carried by this EndpointSlice.",
        ),
        col(
            "Ports",
            "string",
            "ports specifies the list of network ports exposed by each endpoint in this slice.",
        ),
        col("Endpoints", "string", "endpoints is a list of unique endpoints in this slice."),
        AGE,
    ]
}

fn endpoint_slice_cells(slice: &Value, now: Timestamp) -> Vec<Value> {
    let ports: Vec<String> = arr(slice, "/ports")
        .iter()
        .map(|p| match (opt_int(p, "/port"), p.get("name").and_then(Value::as_str)) {
            (Some(n), _) => n.to_string(),
            (None, Some(name)) => name.to_string(),
            (None, None) => "*".into(),
        })
        .collect();
    let addresses: Vec<String> = arr(slice, "/endpoints")
        .iter()
        .flat_map(|e| arr(e, "/addresses").iter().filter_map(Value::as_str).map(str::to_string))
        .collect();
    vec![
        json!(name(slice)),
        json!(s(slice, "/addressType")),
        json!(list_with_more(&ports, ports.len(), 3)),
        json!(list_with_more(&addresses, addresses.len(), 3)),
        age_cell(slice, now),
    ]
}
