//! OpenAPI v3: the index at `/openapi/v3` and one document per group-version.
//!
//! For now each document declares the operations of every resource with their
//! `x-kubernetes-group-version-kind` and the `fieldValidation` parameter on PATCH: that is how
//! kubectl decides to leave field validation to the server. Schemas (for `kubectl explain`
//! and client-side patch computation) come next.

use axum::{
    extract::{Path, State},
    response::{IntoResponse, Response},
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

/// `/openapi/v2`: an empty Swagger document. kubectl falls back to it for kinds that have no
/// v3 document (a group this server does not serve) and reports a missing kind from there;
/// without it the fallback fails and kubectl reports that instead. It asks for gnostic's
/// protobuf encoding: `swagger: "2.0"` is field 1 of its `Document`.
pub async fn v2(headers: axum::http::HeaderMap) -> Response {
    let wants_protobuf = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("protobuf"));
    if wants_protobuf {
        let body: &'static [u8] = b"\x0a\x032.0";
        return (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            )],
            body,
        )
            .into_response();
    }
    json_response(json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.35.0"},
        "paths": {},
        "definitions": {},
    }))
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

/// One group-version's document, built once per set of served resources (custom resources
/// change it) and kept.
fn document(state: &AppState, group: &str, version: &str) -> Value {
    let resources: Vec<_> =
        state.registry.all().into_iter().filter(|r| r.group == group && r.version == version).collect();
    let fingerprint: Vec<String> = resources.iter().map(|r| format!("{}/{}", r.plural, r.kind)).collect();
    let key = (group.to_string(), version.to_string());
    let cache = DOCUMENTS.get_or_init(Default::default);
    if let Some((seen, doc)) = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key)
        && *seen == fingerprint
    {
        return doc.clone();
    }
    let doc = build_document(state, group, version);
    cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key, (fingerprint, doc.clone()));
    doc
}

type DocumentCache = std::sync::Mutex<std::collections::HashMap<(String, String), (Vec<String>, Value)>>;
static DOCUMENTS: std::sync::OnceLock<DocumentCache> = std::sync::OnceLock::new();

fn build_document(state: &AppState, group: &str, version: &str) -> Value {
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
    let kinds: Vec<String> = state
        .registry
        .all()
        .iter()
        .filter(|r| r.group == group && r.version == version && !r.custom)
        .filter(|r| tug_api::schema::definition_for(group, version, &r.kind).is_some())
        .map(|r| r.kind.clone())
        .collect();
    let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.35.0"},
        "paths": paths,
        "components": {"schemas": tug_api::schema::document_schemas(group, version, &kinds)},
    })
}
