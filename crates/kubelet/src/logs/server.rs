//! The agent's HTTPS server, the kubelet's port: what the API server proxies `pods/log` (and,
//! later, exec, attach and port-forward) to.
//!
//! The agent serves a self-signed certificate and the API server does not verify it (upstream's
//! default without `--kubelet-certificate-authority`); the API server proves itself with the
//! join token as a bearer token, a secret only the server and its agents hold.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::{Context, Result};
use axum::{
    Router,
    body::Body,
    extract::{Path, RawQuery, Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use jiff::Timestamp;
use rustls::{
    ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
};
use tokio::{net::TcpListener, sync::mpsc};

use crate::streaming::{self, Kind, Streaming};

use super::{
    cri::Options,
    files::{self, ContainerRef, Liveness, LocateError},
};

/// A Node annotation with the `host:port` the API server dials for this node's kubelet
/// endpoint, when it is not the node's address and `daemonEndpoints` port: simulated nodes
/// share one server on the agent's host. The API server reads the same name.
pub const KUBELET_ENDPOINT: &str = "tugboat.dev/kubelet-endpoint";

/// What the server needs.
#[derive(Clone)]
pub struct AgentServer {
    /// The root of the CRI log layout.
    pub log_dir: PathBuf,
    /// The bearer token the API server presents (the whole join token).
    pub token: String,
    pub liveness: Arc<dyn Liveness>,
    /// exec and attach, when the agent has a container runtime (simulated nodes answer them
    /// with an error).
    pub streaming: Option<Arc<Streaming>>,
    /// `/metrics/resource`, when the agent has a container runtime.
    pub metrics: Option<Arc<crate::stats::ResourceMetrics>>,
    /// Where `/portForward` connects; `None` where pods run no code (simulated nodes).
    pub port_forward: Option<Arc<dyn crate::portforward::PortForwarder>>,
}

impl AgentServer {
    /// Binds `addr` and serves until the returned task is aborted. `names` are the DNS names
    /// and IP addresses of the self-signed certificate.
    ///
    /// # Errors
    /// If the address cannot be bound or the certificate cannot be made.
    pub async fn start(
        self,
        addr: SocketAddr,
        names: Vec<String>,
    ) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        let bound = listener.local_addr()?;
        let tls = tls_config(names)?;
        let app = self.router();
        Ok((bound, tokio::spawn(serve(listener, tls, app))))
    }

    pub fn router(self) -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/containerLogs/{namespace}/{pod}/{container}", get(container_logs))
            .route("/metrics/resource", get(resource_metrics))
            .route("/exec/{namespace}/{pod}/{container}", any(exec))
            .route("/attach/{namespace}/{pod}/{container}", any(attach))
            .route("/portForward/{namespace}/{pod}", any(crate::portforward::handle))
            .with_state(Arc::new(self))
    }
}

async fn container_logs(
    State(server): State<Arc<AgentServer>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers, &server.token) {
        return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    }
    let query = query.unwrap_or_default();
    let pairs: Vec<(String, String)> = form_pairs(&query);
    let options =
        match Options::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), Timestamp::now()) {
            Ok(o) => o,
            Err(e) => return (StatusCode::BAD_REQUEST, format!("{e:#}")).into_response(),
        };
    let container = ContainerRef { namespace, pod, container };
    let running = server.liveness.running(&container);
    let path = match files::locate(&server.log_dir, &container, options.previous, running).await {
        Ok(p) => p,
        Err(e @ (LocateError::NotFound { .. } | LocateError::NoPrevious { .. })) => {
            let code = if matches!(e, LocateError::NoPrevious { .. }) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::NOT_FOUND
            };
            return (code, e.to_string()).into_response();
        }
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(files::stream(path, options, container, server.liveness.clone(), tx));
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
    });
    ([(header::CONTENT_TYPE, "text/plain")], Body::from_stream(body)).into_response()
}

/// Usage for the metrics pipeline (metrics-server scrapes this path on upstream's kubelet).
async fn resource_metrics(State(server): State<Arc<AgentServer>>, headers: HeaderMap) -> Response {
    if !authorized(&headers, &server.token) {
        return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    }
    let Some(metrics) = &server.metrics else {
        return (StatusCode::NOT_FOUND, "this node runs no containers").into_response();
    };
    let text = metrics.scrape().await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

async fn exec(
    State(server): State<Arc<AgentServer>>,
    path: Path<(String, String, String)>,
    query: RawQuery,
    request: Request,
) -> Response {
    if !authorized(request.headers(), &server.token) {
        return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    }
    streaming::serve(server.streaming.clone(), Kind::Exec, path, query, request).await
}

async fn attach(
    State(server): State<Arc<AgentServer>>,
    path: Path<(String, String, String)>,
    query: RawQuery,
    request: Request,
) -> Response {
    if !authorized(request.headers(), &server.token) {
        return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    }
    streaming::serve(server.streaming.clone(), Kind::Attach, path, query, request).await
}

/// Compares the bearer token in constant time.
pub(crate) fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    given.len() == token.len() && given.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

fn form_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

/// A self-signed serving certificate for `names`.
pub(crate) fn tls_config(names: Vec<String>) -> Result<Arc<ServerConfig>> {
    let key = rcgen::KeyPair::generate().context("generating the serving key")?;
    let params = rcgen::CertificateParams::new(names).context("certificate names")?;
    let cert = params.self_signed(&key).context("self-signing the serving certificate")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .context("serving certificate")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

async fn serve(listener: TcpListener, tls: Arc<ServerConfig>, app: Router) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                tracing::warn!(error = %err, "agent server: accept failed");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let stream = match acceptor.accept(tcp).await {
                Ok(s) => s,
                Err(err) => {
                    tracing::debug!(%peer, error = %err, "agent server: TLS handshake failed");
                    return;
                }
            };
            let service =
                tower::ServiceExt::map_request(app, |req: axum::http::Request<hyper::body::Incoming>| {
                    req.map(Body::new)
                });
            let builder = auto::Builder::new(TokioExecutor::new());
            if let Err(err) = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
                .await
            {
                tracing::debug!(%peer, error = %err, "agent server: connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_must_match() {
        let mut headers = HeaderMap::new();
        assert!(!authorized(&headers, "s3cret"));
        headers.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert!(authorized(&headers, "s3cret"));
        assert!(!authorized(&headers, "s3cre"));
        assert!(!authorized(&headers, "s3creT"));
    }

    struct Running;
    impl Liveness for Running {
        fn running(&self, _: &ContainerRef) -> bool {
            true
        }
    }

    async fn get(app: &Router, uri: &str, token: Option<&str>) -> (StatusCode, String) {
        let mut request = axum::http::Request::get(uri);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let response =
            tower::ServiceExt::oneshot(app.clone(), request.body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn serves_logs_to_the_token_holder_only() {
        let root = tempfile::tempdir().unwrap();
        let path = files::run_file(root.path(), "ns", "p", "u1", "web", 0);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "2026-01-01T00:00:01Z stdout F a\n2026-01-01T00:00:02Z stderr F b\n").unwrap();
        let app = AgentServer {
            log_dir: root.path().into(),
            token: "s3cret".into(),
            liveness: Arc::new(Running),
            streaming: None,
            metrics: None,
            port_forward: None,
        }
        .router();
        let logs = "/containerLogs/ns/p/web";
        assert_eq!(get(&app, logs, None).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(get(&app, logs, Some("guess")).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(get(&app, logs, Some("s3cret")).await, (StatusCode::OK, "a\nb\n".into()));
        let tail = get(&app, &format!("{logs}?tailLines=1&timestamps=true"), Some("s3cret")).await;
        assert_eq!(tail.1, "2026-01-01T00:00:02Z b\n");
        let (status, body) = get(&app, "/containerLogs/ns/p/db", Some("s3cret")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, body) = get(&app, &format!("{logs}?previous=true"), Some("s3cret")).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::BAD_REQUEST, "previous terminated container \"web\" in pod \"p\" not found")
        );
        assert_eq!(
            get(&app, &format!("{logs}?limitBytes=0"), Some("s3cret")).await.0,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn decodes_queries() {
        let pairs = form_pairs("follow=true&sinceTime=2026-01-01T00%3A00%3A00Z&x");
        assert_eq!(pairs[1], ("sinceTime".into(), "2026-01-01T00:00:00Z".into()));
        assert_eq!(pairs[2], ("x".into(), String::new()));
    }
}
