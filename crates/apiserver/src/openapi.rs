//! OpenAPI v3: the index at `/openapi/v3` and one document per group-version.
//!
//! For now each document declares the operations of every resource with their
//! `x-kubernetes-group-version-kind` and the `fieldValidation` parameter on PATCH: that is how
//! kubectl decides to leave field validation to the server. Schemas (for `kubectl explain`
//! and client-side patch computation) come next.

use axum::{
    extract::{Path, State},
    response::Response,
};
use serde_json::{Map, Value, json};
use sha2::Digest;
use tug_api::status::ApiError;

use crate::{AppState, discovery::json_response, error::Error};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

pub async fn index(State(state): State<AppState>) -> Response {
    let mut paths = Map::new();
    for (group, versions) in state.registry.groups() {
        for version in versions {
            let doc = document(&state, &group, &version);
            let hash = hex::encode(sha2::Sha512::digest(doc.to_string().as_bytes()));
            let path = gv_path(&group, &version);
            paths.insert(
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", &hash[..32])}),
            );
        }
    }
    json_response(json!({"paths": paths}))
}

pub async fn core_document(
    State(state): State<AppState>,
    Path(version): Path<String>,
) -> Result<Response, Error> {
    found(&state, "", &version)
}

pub async fn group_document(
    State(state): State<AppState>,
    Path((group, version)): Path<(String, String)>,
) -> Result<Response, Error> {
    found(&state, &group, &version)
}

fn found(state: &AppState, group: &str, version: &str) -> Result<Response, Error> {
    if !state.registry.all().iter().any(|r| r.group == group && r.version == version) {
        return Err(ApiError::not_found("", "openapi", &gv_path(group, version)).into());
    }
    Ok(json_response(document(state, group, version)))
}

fn document(state: &AppState, group: &str, version: &str) -> Value {
    let mut paths = Map::new();
    for r in state.registry.all().iter().filter(|r| r.group == group && r.version == version) {
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        let op = |action: &str, extra: Vec<Value>| {
            let mut params = vec![
                json!({"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}}),
                json!({"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}}),
            ];
            params.extend(extra);
            json!({
                "operationId": format!("{action}{}", r.kind),
                "parameters": params,
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
            })
        };
        let field_validation = json!({"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}});
        let base = format!("/{}", gv_path(group, version));
        let item = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{base}/{}/{{name}}", r.plural)
        };
        paths.insert(
            item,
            json!({
                "get": op("get", vec![]),
                "put": op("put", vec![field_validation.clone()]),
                "patch": op("patch", vec![field_validation.clone(), json!({"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}})]),
                "delete": op("delete", vec![]),
            }),
        );
        let collection = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{base}/{}", r.plural)
        };
        paths.insert(
            collection,
            json!({"get": op("list", vec![]), "post": op("post", vec![field_validation])}),
        );
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.35.0"},
        "paths": paths,
        "components": {"schemas": {}},
    })
}
