//! Discovery: `/version`, aggregated discovery (v2) on `/api` and `/apis`, and the legacy
//! per-group-version resource lists that `kubectl scale`, `drain` and `autoscale` still read.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tug_api::{resources::Resource, status::ApiError};

use crate::{AppState, error::Error};

const AGGREGATED_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

pub async fn version() -> Response {
    json_response(json!({
        "major": "1",
        "minor": "35",
        "emulationMajor": "1",
        "emulationMinor": "35",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "34",
        "gitVersion": concat!("v1.35.0+tug", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("linux/{}", std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64")),
    }))
}

fn wants_aggregated(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.contains("as=APIGroupDiscoveryList") && t.contains("v=v2") && !t.contains("v=v2beta1"))
}

pub async fn core(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if wants_aggregated(&headers) {
        let resources: Vec<_> = state.registry.all().into_iter().filter(|r| r.group.is_empty()).collect();
        let item =
            json!({"metadata": {"creationTimestamp": null}, "versions": [version_entry("v1", &resources)]});
        return aggregated(vec![item]);
    }
    json_response(json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": state.advertise.clone()}],
    }))
}

pub async fn groups(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let all = state.registry.all();
    let named: Vec<(String, Vec<String>)> =
        state.registry.groups().into_iter().filter(|(g, _)| !g.is_empty()).collect();
    if wants_aggregated(&headers) {
        let items = named
            .iter()
            .map(|(group, versions)| {
                let versions: Vec<Value> = versions
                    .iter()
                    .map(|v| {
                        let rs: Vec<_> =
                            all.iter().filter(|r| &r.group == group && &r.version == v).cloned().collect();
                        version_entry(v, &rs)
                    })
                    .collect();
                json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": versions})
            })
            .collect();
        return aggregated(items);
    }
    let groups: Vec<Value> = named.iter().map(|(g, vs)| api_group(g, vs)).collect();
    json_response(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
}

pub async fn group(State(state): State<AppState>, Path(group): Path<String>) -> Result<Response, Error> {
    let (g, versions) = state
        .registry
        .groups()
        .into_iter()
        .find(|(g, _)| *g == group)
        .ok_or_else(|| ApiError::not_found("", "groups", &group))?;
    let mut body = api_group(&g, &versions);
    body["kind"] = json!("APIGroup");
    body["apiVersion"] = json!("v1");
    Ok(json_response(body))
}

pub async fn core_resources(State(state): State<AppState>) -> Response {
    resource_list(&state, "", "v1")
}

pub async fn group_resources(
    State(state): State<AppState>,
    Path((group, version)): Path<(String, String)>,
) -> Result<Response, Error> {
    if !state.registry.all().iter().any(|r| r.group == group && r.version == version) {
        return Err(ApiError::not_found("", "groupversions", &format!("{group}/{version}")).into());
    }
    Ok(resource_list(&state, &group, &version))
}

fn resource_list(state: &AppState, group: &str, version: &str) -> Response {
    let mut resources = Vec::new();
    for r in state.registry.all().iter().filter(|r| r.group == group && r.version == version) {
        resources.push(json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
            "shortNames": r.short_names,
            "categories": r.categories,
        }));
        for s in &r.subresources {
            let mut entry = json!({
                "name": format!("{}/{}", r.plural, s.name),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": s.kind,
                "verbs": s.verbs,
            });
            if s.group != r.group || s.version != r.version {
                entry["group"] = json!(s.group);
                entry["version"] = json!(s.version);
            }
            resources.push(entry);
        }
    }
    let group_version = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    json_response(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

fn api_group(group: &str, versions: &[String]) -> Value {
    let gv = |v: &String| json!({"groupVersion": format!("{group}/{v}"), "version": v});
    json!({
        "name": group,
        "versions": versions.iter().map(gv).collect::<Vec<_>>(),
        "preferredVersion": versions.first().map(gv).unwrap_or(Value::Null),
    })
}

fn version_entry(version: &str, resources: &[std::sync::Arc<Resource>]) -> Value {
    let resources: Vec<Value> = resources
        .iter()
        .map(|r| {
            let mut entry = json!({
                "resource": r.plural,
                "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": r.singular,
                "verbs": r.verbs,
            });
            if !r.short_names.is_empty() {
                entry["shortNames"] = json!(r.short_names);
            }
            if !r.categories.is_empty() {
                entry["categories"] = json!(r.categories);
            }
            if !r.subresources.is_empty() {
                entry["subresources"] = r
                    .subresources
                    .iter()
                    .map(|s| {
                        json!({
                            "subresource": s.name,
                            "responseKind": {"group": s.group, "version": s.version, "kind": s.kind},
                            "verbs": s.verbs,
                        })
                    })
                    .collect();
            }
            entry
        })
        .collect();
    json!({"version": version, "resources": resources, "freshness": "Current"})
}

fn aggregated(items: Vec<Value>) -> Response {
    let body = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    });
    ([(header::CONTENT_TYPE, AGGREGATED_V2)], body.to_string()).into_response()
}

pub fn json_response(body: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], object_json(&body)).into_response()
}

/// An API object as JSON text with the members in upstream's order at the top level: `kind`,
/// `apiVersion`, `metadata`, then the rest. Go encodes structs in field order, and some clients
/// rely on it (kube-rs reports a wrong kind at the column where `"kind"` ends).
pub fn object_json(obj: &Value) -> String {
    // serde_json writes UTF-8 only.
    String::from_utf8(object_json_bytes(obj, false)).unwrap_or_default()
}

/// [`object_json`] as bytes; `stored` leaves out `metadata.resourceVersion`, which the
/// datastore's revision stands for, without copying the object to remove it.
pub fn object_json_bytes(obj: &Value, stored: bool) -> Vec<u8> {
    const FIRST: [&str; 3] = ["kind", "apiVersion", "metadata"];
    let Value::Object(map) = obj else { return serde_json::to_vec(obj).unwrap_or_default() };
    let leading = FIRST.iter().filter_map(|k| map.get_key_value(*k));
    let rest = map.iter().filter(|(k, _)| !FIRST.contains(&k.as_str()));
    let mut out = Vec::with_capacity(1024);
    out.push(b'{');
    for (i, (key, value)) in leading.chain(rest).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing JSON values into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, key);
        out.push(b':');
        match value {
            Value::Object(meta) if stored && key == "metadata" => {
                out.push(b'{');
                let kept = meta.iter().filter(|(k, _)| k.as_str() != "resourceVersion");
                for (j, (k, v)) in kept.enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    let _ = serde_json::to_writer(&mut out, k);
                    out.push(b':');
                    let _ = serde_json::to_writer(&mut out, v);
                }
                out.push(b'}');
            }
            _ => {
                let _ = serde_json::to_writer(&mut out, value);
            }
        }
    }
    out.push(b'}');
    out
}

/// A value as compact JSON text. serde_json's writer, not `Value`'s `Display`, which goes
/// through `fmt::Formatter` and cost the API server about a tenth of its CPU on every response.
pub fn json_text(value: &Value) -> String {
    serde_json::to_vec(value).ok().and_then(|v| String::from_utf8(v).ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn objects_go_out_kind_first_and_are_stored_without_their_resource_version() {
        let obj = json!({
            "data": {"k": "v"},
            "metadata": {"name": "a", "resourceVersion": "5", "uid": "u"},
            "apiVersion": "v1",
            "kind": "ConfigMap",
        });
        let sent = object_json(&obj);
        assert!(sent.starts_with(r#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"#), "{sent}");
        assert_eq!(serde_json::from_str::<Value>(&sent).unwrap(), obj);

        let stored: Value = serde_json::from_slice(&object_json_bytes(&obj, true)).unwrap();
        let mut expected = obj.clone();
        expected["metadata"].as_object_mut().unwrap().remove("resourceVersion");
        assert_eq!(stored, expected);
        let only_rv = json!({"kind": "X", "metadata": {"resourceVersion": "1"}});
        assert_eq!(object_json_bytes(&only_rv, true), br#"{"kind":"X","metadata":{}}"#);
    }
}
