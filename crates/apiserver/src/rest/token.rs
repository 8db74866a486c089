//! Requests answered rather than stored: a service account's `token` subresource (TokenRequest),
//! TokenReviews and SelfSubjectReviews (`kubectl create token`, `kubectl auth whoami`).

use axum::{
    body::Bytes,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tug_api::status::{ApiError, Cause};

use super::{Target, to_object, write::decode_body};
use crate::{
    AppState,
    auth::Identity,
    discovery::object_json,
    error::Error,
    serviceaccount::{self, ISSUER},
};

const GROUP: &str = "authentication.k8s.io";

fn created(obj: &Value) -> Response {
    (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], object_json(obj)).into_response()
}

/// The body's metadata, as a Go client sends it back (a zero creation time is `null`).
fn metadata_of(body: &Value) -> Value {
    let mut metadata = body.get("metadata").cloned().filter(Value::is_object).unwrap_or_else(|| json!({}));
    if metadata.get("creationTimestamp").is_none() {
        metadata["creationTimestamp"] = Value::Null;
    }
    metadata
}

fn audiences_of(spec: &Value) -> Vec<String> {
    let given: Vec<String> = spec["audiences"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    if given.is_empty() { vec![ISSUER.to_string()] } else { given }
}

/// Shortest and longest token lifetimes upstream accepts.
const MIN_EXPIRATION: i64 = 600;
const MAX_EXPIRATION: i64 = 1 << 32;

/// POST `serviceaccounts/<name>/token`: a signed token for the service account, optionally
/// bound to a Pod or Secret, as a TokenRequest with `status.token`.
pub async fn request_token(
    state: AppState,
    target: Target,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let request = decode_body(&headers, &body)?;
    let name = target.name.clone().unwrap_or_default();
    let namespace = target.namespace.clone().unwrap_or_default();
    if request.pointer("/metadata/name").and_then(Value::as_str).is_some_and(|n| !n.is_empty() && n != name) {
        return Err(ApiError::bad_request("name in URL does not match name in TokenRequest object").into());
    }
    let spec = request.get("spec").cloned().unwrap_or_else(|| json!({}));
    let expiration = spec["expirationSeconds"].as_i64().unwrap_or(3600);
    let invalid = |message: String| {
        let cause =
            Cause { reason: "FieldValueInvalid".into(), message, field: "spec.expirationSeconds".into() };
        Error::from(ApiError::invalid(GROUP, "TokenRequest", &name, vec![cause]))
    };
    if expiration < MIN_EXPIRATION {
        return Err(invalid(format!(
            "Invalid value: {expiration}: may not specify a duration less than 10 minutes"
        )));
    }
    if expiration > MAX_EXPIRATION {
        return Err(invalid(format!(
            "Invalid value: {expiration}: may not specify a duration larger than 2^32 seconds"
        )));
    }
    let account = read(&state, &format!("/registry/core/serviceaccounts/{namespace}/{name}"))
        .await?
        .ok_or_else(|| ApiError::not_found("", "serviceaccounts", &name))?;
    let audiences = audiences_of(&spec);
    let now = jiff::Timestamp::now();
    let mut k8s = json!({
        "namespace": namespace,
        "serviceaccount": {"name": name, "uid": uid_of(&account)},
    });
    if let Some(bound) = spec.get("boundObjectRef").filter(|b| b.is_object()) {
        let (kind, bound_name) =
            (bound["kind"].as_str().unwrap_or_default(), bound["name"].as_str().unwrap_or_default());
        let plural = match kind {
            "Pod" => "pods",
            "Secret" => "secrets",
            other => {
                return Err(ApiError::bad_request(format!(
                    "cannot bind token for serviceaccount \"{name}\" to object of type {other}"
                ))
                .into());
            }
        };
        let object = read(&state, &format!("/registry/core/{plural}/{namespace}/{bound_name}"))
            .await?
            .ok_or_else(|| ApiError::not_found("", plural, bound_name))?;
        let uid = uid_of(&object);
        if bound["uid"].as_str().is_some_and(|u| !u.is_empty() && u != uid) {
            return Err(ApiError::conflict(
                "",
                plural,
                bound_name,
                &format!(
                    "the UID in the bound object reference ({}) does not match the UID in record. The object might have been deleted and then recreated",
                    bound["uid"].as_str().unwrap_or_default()
                ),
            )
            .into());
        }
        k8s[kind.to_lowercase()] = json!({"name": bound_name, "uid": uid});
    }
    let expires = now.as_second() + expiration;
    let claims = json!({
        "aud": audiences,
        "exp": expires,
        "iat": now.as_second(),
        "iss": ISSUER,
        "jti": super::write::new_uid()?,
        "kubernetes.io": k8s,
        "nbf": now.as_second(),
        "sub": format!("system:serviceaccount:{namespace}:{name}"),
    });
    let token = state.signer.issue(&claims);
    let expires_at = jiff::Timestamp::from_second(expires)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut out_spec = spec.clone();
    out_spec["audiences"] = json!(audiences);
    out_spec["expirationSeconds"] = json!(expiration);
    Ok(created(&json!({
        "kind": "TokenRequest",
        "apiVersion": format!("{GROUP}/v1"),
        "metadata": metadata_of(&request),
        "spec": out_spec,
        "status": {"token": token, "expirationTimestamp": expires_at},
    })))
}

/// POST `tokenreviews`: whether a token is a valid service account token, and for whom.
pub async fn review_token(state: AppState, headers: HeaderMap, body: Bytes) -> Result<Response, Error> {
    let review = decode_body(&headers, &body)?;
    let spec = review.get("spec").cloned().unwrap_or_else(|| json!({}));
    let token = spec["token"].as_str().unwrap_or_default();
    if token.is_empty() {
        return Err(ApiError::bad_request("token is required for TokenReview in authentication").into());
    }
    let audiences = audiences_of(&spec);
    let status = match serviceaccount::authenticate(state.store.as_ref(), &state.signer, token, &audiences)
        .await
    {
        Ok((user, accepted)) => json!({"authenticated": true, "user": user.to_json(), "audiences": accepted}),
        Err(message) => json!({"user": {}, "error": message}),
    };
    Ok(created(&json!({
        "kind": "TokenReview",
        "apiVersion": format!("{GROUP}/v1"),
        "metadata": metadata_of(&review),
        "spec": spec,
        "status": status,
    })))
}

/// POST `selfsubjectreviews`: who the caller is.
pub fn review_self(caller: Option<&Identity>) -> Result<Response, Error> {
    let caller = caller.ok_or_else(ApiError::unauthorized)?;
    let mut groups = caller.groups.clone();
    if !groups.iter().any(|g| g == "system:authenticated") {
        groups.push("system:authenticated".into());
    }
    Ok(created(&json!({
        "kind": "SelfSubjectReview",
        "apiVersion": format!("{GROUP}/v1"),
        "metadata": {"creationTimestamp": null},
        "status": {"userInfo": {"username": caller.user, "groups": groups}},
    })))
}

async fn read(state: &AppState, key: &str) -> Result<Option<Value>, Error> {
    let (kv, _) = state.store.get(key).await?;
    kv.as_ref().map(to_object).transpose()
}

fn uid_of(obj: &Value) -> String {
    obj.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default().to_string()
}

/// 405 for the verbs these resources do not have (all but create).
pub fn not_allowed(method: &axum::http::Method) -> Error {
    ApiError::method_not_allowed(format!(
        "the server does not allow this method on the requested resource: {method}"
    ))
    .into()
}
