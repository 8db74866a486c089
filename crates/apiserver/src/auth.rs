//! Authentication: who is calling. Client certificates signed by the cluster CA name a user
//! (CN) and groups (O); bearer tokens are looked up, or checked as service account tokens;
//! anyone else gets 401.

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

/// Middleware: passes requests with an identity, a known bearer token or a valid service account
/// token (for the API's audience), and answers 401 to the rest.
pub async fn require_identity(
    tokens: Tokens,
    state: crate::AppState,
    mut req: Request,
    next: Next,
) -> Result<Response, Error> {
    if req.extensions().get::<Identity>().is_none() {
        let bearer = req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        let identity = match tokens.0.get(bearer) {
            Some(identity) => Some(identity.clone()),
            None if bearer.matches('.').count() == 2 => {
                let audiences = [crate::serviceaccount::ISSUER.to_string()];
                crate::serviceaccount::authenticate(state.store.as_ref(), &state.signer, bearer, &audiences)
                    .await
                    .ok()
                    .map(|(user, _)| Identity { user: user.username, groups: user.groups })
            }
            None => None,
        };
        match identity {
            Some(identity) => {
                req.extensions_mut().insert(identity);
            }
            None => return Err(ApiError::unauthorized().into()),
        }
    }
    Ok(next.run(req).await)
}
