//! API clients for Tugboat's own components (controllers, scheduler, node agents), built as
//! upstream's client-go builds them: HTTP/2 over one TLS connection to the server.
//!
//! kube-rs's default client speaks HTTP/1.1, so every request in flight holds a connection of
//! its own: a controller creating 256 pods at once opened 256 TLS connections, and the handshakes
//! cost more CPU than the requests. Over HTTP/2 they share one connection as streams.

pub mod unverified;

use std::time::Duration;

use anyhow::Context;
use hyper_util::{
    client::legacy::{Client as HyperClient, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use kube::client::{Body, ConfigExt};
use tower::{BoxError, ServiceBuilder};

/// How often an idle connection is pinged, so a dead server is noticed even while the only
/// traffic is a quiet watch.
const KEEP_ALIVE: Duration = Duration::from_secs(30);

/// A kube-rs client for `config` that speaks HTTP/2 only, with the same authentication, headers
/// (User-Agent, impersonation) and base URL handling as kube-rs's own client.
///
/// # Errors
/// If the TLS settings or credentials in `config` cannot be loaded.
pub fn client(config: kube::Config) -> anyhow::Result<kube::Client> {
    let tls = config.rustls_client_config().context("the client's TLS settings")?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(config.connect_timeout);
    // Many small requests share the connection; Nagle's algorithm would delay each one behind
    // the server's delayed ACK of the previous.
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http2()
        .wrap_connector(http);
    let hyper: HyperClient<_, Body> = HyperClient::builder(TokioExecutor::new())
        .http2_only(true)
        .timer(TokioTimer::new())
        .http2_keep_alive_interval(KEEP_ALIVE)
        .http2_keep_alive_while_idle(true)
        .build(https);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer().context("the client's credentials")?)
        .layer(config.extra_headers_layer().context("the client's extra headers")?)
        // Boxed below the authentication layer, whose token refresh fails with a boxed error.
        .map_err(BoxError::from)
        .service(hyper);
    Ok(kube::Client::new(service, config.default_namespace))
}
