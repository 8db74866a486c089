//! Authentication: who is calling. Client certificates signed by the cluster CA name a user
//! (CN) and groups (O); bearer tokens are looked up; anyone else gets 401.

use std::{collections::HashMap, sync::Arc};

use axum::{extract::Request, middleware::Next, response::Response};
use tug_api::status::ApiError;

use crate::error::Error;

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

impl Identity {
    /// The identity in a verified client certificate (rustls has checked it against the CA).
    pub fn from_certificate(der: &[u8]) -> Option<Identity> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let subject = cert.subject();
        let user = subject.iter_common_name().next()?.as_str().ok()?.to_string();
        let groups =
            subject.iter_organization().filter_map(|o| o.as_str().ok().map(str::to_string)).collect();
        Some(Identity { user, groups })
    }
}

/// Static bearer tokens and who they stand for.
#[derive(Clone, Default)]
pub struct Tokens(pub Arc<HashMap<String, Identity>>);

/// Middleware: passes requests with an identity, or a known bearer token, and answers 401 to
/// the rest.
pub async fn require_identity(tokens: Tokens, mut req: Request, next: Next) -> Result<Response, Error> {
    if req.extensions().get::<Identity>().is_none() {
        let bearer = req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match bearer.and_then(|t| tokens.0.get(t)) {
            Some(identity) => {
                let identity = identity.clone();
                req.extensions_mut().insert(identity);
            }
            None => return Err(ApiError::unauthorized().into()),
        }
    }
    Ok(next.run(req).await)
}
