//! HTTPS serving: TLS with optional client certificates, HTTP/1.1 and HTTP/2, and the peer's
//! certificate identity attached to each request.

use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::WebPkiClientVerifier,
};
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::{auth::Identity, pki::Pki};

/// Concurrent HTTP/2 streams per client connection, upstream's default.
const MAX_STREAMS: u32 = 1000;

/// A rustls configuration that serves the server certificate and verifies client certificates
/// against the cluster CA, while still admitting clients without one (they may bring a token).
pub fn server_config(pki: &Pki) -> Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
        roots.add(cert.context("parsing the CA certificate")?).context("adding the CA")?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .context("building the client certificate verifier")?;
    let certs = CertificateDer::pem_slice_iter(pki.serving_cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("parsing the serving certificate")?;
    let key =
        PrivateKeyDer::from_pem_slice(pki.serving_key_pem.as_bytes()).context("parsing the serving key")?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .context("serving certificate")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts connections until the task is dropped.
pub async fn serve(listener: TcpListener, tls: Arc<ServerConfig>, app: Router) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                tracing::warn!(error = %err, "accept failed");
                continue;
            }
        };
        // Responses are small writes, often several in flight on one HTTP/2 connection: Nagle's
        // algorithm would hold each behind the previous one's delayed ACK.
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%peer, error = %err, "could not set TCP_NODELAY");
        }
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let stream = match acceptor.accept(tcp).await {
                Ok(s) => s,
                Err(err) => {
                    tracing::debug!(%peer, error = %err, "TLS handshake failed");
                    return;
                }
            };
            let identity = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|cert| Identity::from_certificate(cert.as_ref()));
            let service = app.map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                if let Some(identity) = identity.clone() {
                    req.extensions_mut().insert(identity);
                }
                req.map(axum::body::Body::new)
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            // Upstream's default (--http2-max-streams-per-connection): components multiplex
            // their watches and bursts of writes over one connection.
            builder.http2().max_concurrent_streams(MAX_STREAMS);
            if let Err(err) = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
                .await
            {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
        });
    }
}
