//! Joining a server: the join token, the server's CA checked against it, and an API client.
//!
//! A join token has k3s's shape, `K10<sha256 of the CA certificate>::server:<secret>`, and the
//! server accepts the whole token as a bearer token. The agent fetches the CA from the
//! unauthenticated `GET /cacerts` without verifying the connection, then trusts it only if its
//! hash is the one the token pins.

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use rustls_pki_types::{CertificateDer, pem::PemObject};
use sha2::{Digest, Sha256};

/// A parsed join token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinToken {
    /// Hex SHA-256 of the CA certificate (DER), when the token pins one.
    pub ca_hash: Option<String>,
    /// What the agent presents as `Authorization: Bearer`.
    pub bearer: String,
}

impl JoinToken {
    /// Reads a full (`K10<hash>::<user>:<secret>`) or bare (`<secret>`) token.
    ///
    /// # Errors
    /// If a `K10` token carries no `::` or an empty hash.
    pub fn parse(token: &str) -> Result<JoinToken> {
        let token = token.trim();
        if token.is_empty() {
            bail!("the join token is empty");
        }
        let Some(rest) = token.strip_prefix("K10") else {
            return Ok(JoinToken { ca_hash: None, bearer: token.to_string() });
        };
        let Some((hash, _credentials)) = rest.split_once("::") else {
            bail!("the join token starts with K10 but has no '::' separating the CA hash");
        };
        if hash.is_empty() || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("the join token's CA hash is not hex");
        }
        Ok(JoinToken { ca_hash: Some(hash.to_ascii_lowercase()), bearer: token.to_string() })
    }
}

/// The DER bytes of the first certificate in `pem`, and their hex SHA-256.
///
/// # Errors
/// If `pem` holds no certificate.
pub fn ca_der_and_hash(pem: &str) -> Result<(Vec<u8>, String)> {
    let der = CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| anyhow::anyhow!("parsing the server's CA certificate: {e}"))?;
    let hash = hex::encode(Sha256::digest(der.as_ref()));
    Ok((der.as_ref().to_vec(), hash))
}

/// Connects to the server at `url` with a join token: fetches and checks its CA, then returns
/// a client that verifies the server against that CA and authenticates with the token.
///
/// # Errors
/// If the URL is invalid, the CA cannot be fetched, or it does not match the token's hash.
pub async fn connect(url: &str, token: &str) -> Result<kube::Client> {
    let config = trusted_config(url, token).await?;
    tug_client::client(config).context("building the API client")
}

/// Connects as node `node_name` with credentials of its own: the join token (checked as in
/// [`connect`]) buys a client certificate for `system:node:<node_name>` from the server, and
/// the returned client authenticates with that certificate.
///
/// # Errors
/// As [`connect`], or if the server refuses or fails to issue the credentials.
pub async fn connect_node(url: &str, token: &str, node_name: &str) -> Result<kube::Client> {
    let config = trusted_config(url, token).await?;
    let bootstrap = tug_client::client(config.clone()).context("building the bootstrap client")?;
    let body = serde_json::to_vec(&serde_json::json!({ "nodeName": node_name }))?;
    let request = http::Request::post(NODE_CREDENTIALS_PATH)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .context("building the node credentials request")?;
    let credentials: NodeCredentials = bootstrap
        .request(request)
        .await
        .with_context(|| format!("asking {url} for the credentials of node {node_name}"))?;
    let mut config = config;
    config.auth_info.token = None;
    config.auth_info.client_certificate_data =
        Some(base64::engine::general_purpose::STANDARD.encode(credentials.certificate));
    config.auth_info.client_key_data =
        Some(base64::engine::general_purpose::STANDARD.encode(credentials.key).into());
    tug_client::client(config).context("building the node's API client")
}

/// The API server's path for node credentials (`tug_apiserver::node_credentials::PATH`).
const NODE_CREDENTIALS_PATH: &str = "/v1-tug/node-credentials";

#[derive(serde::Deserialize)]
struct NodeCredentials {
    certificate: String,
    key: String,
}

/// A client config for `url` that trusts the server's CA once its hash matches the token's,
/// authenticating with the token.
async fn trusted_config(url: &str, token: &str) -> Result<kube::Config> {
    let token = JoinToken::parse(token)?;
    let uri: http::Uri = url.parse().with_context(|| format!("invalid server URL {url:?}"))?;
    let pem = fetch_ca(&uri).await?;
    let (der, hash) = ca_der_and_hash(&pem)?;
    match &token.ca_hash {
        Some(pinned) if *pinned != hash => bail!(
            "the server's CA certificate (sha256 {hash}) is not the one the join token pins ({pinned}); \
             is --server the cluster the token came from?"
        ),
        Some(_) => {}
        None => tracing::warn!(
            "the join token pins no CA (it lacks the K10<hash>:: prefix); trusting the server's CA unchecked"
        ),
    }
    let mut config = kube::Config::new(uri);
    config.root_cert = Some(vec![der]);
    config.auth_info.token = Some(token.bearer.into());
    Ok(config)
}

/// `GET /cacerts` without verifying the server: the hash check comes after.
async fn fetch_ca(uri: &http::Uri) -> Result<String> {
    let mut config = kube::Config::new(uri.clone());
    config.accept_invalid_certs = true;
    let client = kube::Client::try_from(config).context("building the bootstrap client")?;
    let request = http::Request::get("/cacerts").body(Vec::new()).context("building GET /cacerts")?;
    let base = uri.to_string();
    let base = base.trim_end_matches('/');
    client.request_text(request).await.with_context(|| format!("fetching the CA from {base}/cacerts"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse() {
        let full = JoinToken::parse("K10ABCdef01::server:s3cret\n").unwrap();
        assert_eq!(full.ca_hash.as_deref(), Some("abcdef01"));
        assert_eq!(full.bearer, "K10ABCdef01::server:s3cret");
        let bare = JoinToken::parse("s3cret").unwrap();
        assert_eq!((bare.ca_hash, bare.bearer.as_str()), (None, "s3cret"));
        assert!(JoinToken::parse("K10abc").is_err());
        assert!(JoinToken::parse("K10zz::server:x").is_err());
        assert!(JoinToken::parse(" ").is_err());
    }
}
