//! Each node's own client credentials, as k3s gives its agents: an agent that proves it holds
//! the join token asks `POST /v1-tug/node-credentials` for a client certificate naming it
//! `system:node:<name>` in group `system:nodes` (upstream's node identity, which node
//! authorization will key on), signed by the cluster CA. The key is made here and sent once
//! over the TLS connection the agent already checked against the token's CA hash.

use std::sync::Arc;

use axum::{Extension, Json, extract::State};
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair, KeyUsagePurpose};
use serde::{Deserialize, Serialize};
use tug_api::status::{ApiError, Reason};

use crate::{AppState, auth::Identity, error::Error};

/// The path agents post to.
pub const PATH: &str = "/v1-tug/node-credentials";
/// Who the join token authenticates as.
pub const JOIN_TOKEN_USER: &str = "tug:agent";

/// Signs node client certificates with the cluster CA.
pub struct NodeSigner {
    issuer: Issuer<'static, KeyPair>,
}

impl NodeSigner {
    /// # Errors
    /// If the CA certificate or key does not parse.
    pub fn new(ca_pem: &str, ca_key_pem: &str) -> anyhow::Result<NodeSigner> {
        let key = KeyPair::from_pem(ca_key_pem).map_err(|e| anyhow::anyhow!("parsing the CA key: {e}"))?;
        let issuer = Issuer::from_ca_cert_pem(ca_pem, key)
            .map_err(|e| anyhow::anyhow!("parsing the CA certificate: {e}"))?;
        Ok(NodeSigner { issuer })
    }

    /// A client certificate and key (PEM) for node `name`, valid for a year.
    ///
    /// # Errors
    /// If signing fails.
    pub fn sign(&self, name: &str) -> Result<NodeCredentials, rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, format!("system:node:{name}"));
        params.distinguished_name.push(DnType::OrganizationName, "system:nodes");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = now + time::Duration::days(365);
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(NodeCredentials { certificate: cert.pem(), key: key.serialize_pem() })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeCredentialsRequest {
    pub node_name: String,
}

#[derive(Serialize, Deserialize)]
pub struct NodeCredentials {
    pub certificate: String,
    pub key: String,
}

/// `POST /v1-tug/node-credentials`: only the join token may ask.
pub async fn issue(
    State(state): State<AppState>,
    Extension(caller): Extension<Identity>,
    body: axum::body::Bytes,
) -> Result<Json<NodeCredentials>, Error> {
    if caller.user != JOIN_TOKEN_USER {
        return Err(ApiError::new(
            Reason::Forbidden,
            format!("user \"{}\" cannot request node credentials: only the join token can", caller.user),
        )
        .into());
    }
    // Any content type: kubectl's `create --raw` sends none.
    let request: NodeCredentialsRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not {{\"nodeName\": NAME}}: {e}")))?;
    if let Some(why) = tug_api::meta::dns1123_subdomain_error(&request.node_name) {
        return Err(ApiError::bad_request(format!("invalid node name {:?}: {why}", request.node_name)).into());
    }
    let signer: &Arc<NodeSigner> = &state.node_signer;
    let credentials = signer
        .sign(&request.node_name)
        .map_err(|e| ApiError::internal(format!("signing node credentials: {e}")))?;
    Ok(Json(credentials))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_certificates_name_the_node_and_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::pki::Pki::load_or_create(dir.path(), &Default::default()).unwrap();
        let signer = NodeSigner::new(&pki.ca_pem, &pki.ca_key_pem).unwrap();
        let creds = signer.sign("node-1").unwrap();
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        let der = CertificateDer::from_pem_slice(creds.certificate.as_bytes()).unwrap();
        let identity = Identity::from_certificate(der.as_ref()).unwrap();
        assert_eq!(identity.user, "system:node:node-1");
        assert_eq!(identity.groups, vec!["system:nodes".to_string()]);
        assert!(creds.key.contains("PRIVATE KEY"));
    }
}
