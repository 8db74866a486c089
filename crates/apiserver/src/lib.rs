//! The Kubernetes API over HTTPS: certificates and authentication, discovery, and the REST
//! API of every resource on top of the datastore.

pub mod auth;
mod bootstrap;
mod cache;
mod crds;
pub mod discovery;
pub mod error;
pub mod node_credentials;
mod openapi;
pub mod pki;
pub mod registry;
mod rest;
pub mod serviceaccount;
mod tls;

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::Context;
use axum::{Router, extract::State, middleware, routing::get};
use tokio::net::TcpListener;
use tug_store::Store;

use auth::{Identity, Tokens};
use registry::Registry;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub registry: Registry,
    pub cache: Arc<cache::WatchCache>,
    /// A garbage collector runs, so deletes may leave `orphan` and `foregroundDeletion`
    /// finalizers for it (upstream adds neither without one).
    pub gc_enabled: bool,
    /// `host:port` clients are told to use (legacy discovery's serverAddressByClientCIDRs).
    pub advertise: String,
    /// Signs and checks service account tokens.
    pub signer: Arc<serviceaccount::Signer>,
    /// What the API server presents to node agents: the join token (see `rest/kubelet.rs`).
    pub kubelet_token: Arc<str>,
    /// Signs each node's client certificate.
    pub node_signer: Arc<node_credentials::NodeSigner>,
}

/// How to run the API server.
#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub bind_address: String,
    pub port: u16,
    /// A garbage collector runs beside this server (see [`AppState::gc_enabled`]).
    pub gc_enabled: bool,
}

/// A running API server.
pub struct ApiServer {
    pub addr: SocketAddr,
    pub kubeconfig: PathBuf,
    pub token: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl ApiServer {
    /// Creates or loads the PKI, prepares the built-in namespaces and the `kubernetes`
    /// Service, binds the port, writes `<data-dir>/kubeconfig.yaml` and starts serving.
    ///
    /// # Errors
    /// If the PKI cannot be made, the datastore fails or the port cannot be bound.
    pub async fn start(config: Config, store: Arc<dyn Store>) -> anyhow::Result<ApiServer> {
        let listener = TcpListener::bind((config.bind_address.as_str(), config.port))
            .await
            .with_context(|| format!("binding {}:{}", config.bind_address, config.port))?;
        let addr = listener.local_addr()?;
        let mut names = pki::ServingNames::default();
        if let Ok(ip) = config.bind_address.parse() {
            names.ips.push(ip);
        }
        let pki = pki::Pki::load_or_create(&config.data_dir, &names)?;
        let tls = tls::server_config(&pki)?;
        bootstrap::ensure(store.as_ref()).await.context("creating the built-in objects")?;

        let local_host =
            if addr.ip().is_unspecified() { "127.0.0.1".to_string() } else { addr.ip().to_string() };
        let url = format!("https://{local_host}:{}", addr.port());
        let kubeconfig = config.data_dir.join("kubeconfig.yaml");
        pki.write_kubeconfig(&kubeconfig, &url)?;

        let registry = Registry::builtin();
        let loaded =
            crds::load(store.as_ref(), &registry).await.context("loading CustomResourceDefinitions")?;
        let crd_task = tokio::spawn(crds::follow(store.clone(), registry.clone(), loaded));
        let (cache, cache_task) = cache::WatchCache::start(store.clone());
        let signer = Arc::new(
            serviceaccount::Signer::from_pem(&pki.service_account_key_pem)
                .context("loading the service account key")?,
        );
        let state = AppState {
            store,
            registry,
            cache,
            gc_enabled: config.gc_enabled,
            advertise: format!("{local_host}:{}", addr.port()),
            signer,
            kubelet_token: pki.token.trim().into(),
            node_signer: Arc::new(
                node_credentials::NodeSigner::new(&pki.ca_pem, &pki.ca_key_pem)
                    .context("loading the CA for node credentials")?,
            ),
        };
        let mut tokens = HashMap::new();
        tokens.insert(
            pki.token.clone(),
            Identity {
                user: node_credentials::JOIN_TOKEN_USER.into(),
                groups: vec!["system:nodes".into(), "system:authenticated".into()],
            },
        );
        let app = router(state, Tokens(Arc::new(tokens)), pki.ca_pem.clone());
        let task = tokio::spawn(tls::serve(listener, tls, app));
        Ok(ApiServer { addr, kubeconfig, token: pki.token, tasks: vec![task, crd_task, cache_task] })
    }

    pub fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

fn router(state: AppState, tokens: Tokens, ca_pem: String) -> Router {
    let api = Router::new()
        .route("/version", get(discovery::version))
        .route("/api", get(discovery::core))
        .route("/api/v1", get(discovery::core_resources))
        .route("/apis", get(discovery::groups))
        .route("/apis/{group}", get(discovery::group))
        .route("/apis/{group}/{version}", get(discovery::group_resources))
        .route("/openapi/v2", get(openapi::v2))
        .route("/openapi/v3", get(openapi::index))
        .route("/openapi/v3/api/{version}", get(openapi::core_document))
        .route("/openapi/v3/apis/{group}/{version}", get(openapi::group_document))
        .route(node_credentials::PATH, axum::routing::post(node_credentials::issue))
        .merge(rest::router())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            move |State(st): State<AppState>, req: axum::extract::Request, next: middleware::Next| {
                auth::require_identity(tokens.clone(), st, req, next)
            },
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }))
        // The CA, for agents joining with a token that pins its hash (k3s's `/cacerts`).
        .route("/cacerts", get(move || async move { ca_pem }))
        .merge(api)
        .fallback(|| async { error::Error::PageNotFound })
        .with_state(state)
}
