//! `tug server`: the datastore (compacted in the background), the API server on it, and the
//! controllers and the scheduler as its clients. The local agent joins here as it is built.

use std::sync::Arc;

use anyhow::Context;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tug_store::{
    Store,
    compactor::{self, Retention},
    embedded::Embedded,
    etcd::Etcd,
};

use crate::cli::ServerArgs;

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    // Installed first, so that a signal during start-up stops the server cleanly too.
    let shutdown = ShutdownSignals::install()?;
    let store = open_datastore(&args).await?;
    let revision = store.revision().await?;
    tracing::info!(revision, "datastore ready");
    let compaction = tokio::spawn(compactor::run(store.clone(), Retention::default()));
    let config = tug_apiserver::Config {
        data_dir: args.data_dir.clone(),
        bind_address: args.bind_address.clone(),
        port: args.https_port,
        gc_enabled: gc_enabled(&args.disabled_controllers),
    };
    let api =
        tug_apiserver::ApiServer::start(config, store.clone()).await.context("starting the API server")?;
    start_controllers(&args, &api).await?;
    tracing::info!(
        address = %api.addr,
        kubeconfig = %api.kubeconfig.display(),
        "API server ready; point kubectl at it with: export KUBECONFIG={}",
        api.kubeconfig.display()
    );
    if !args.disable_scheduler {
        start_scheduler(api.kubeconfig.clone())?;
    }
    let (stop_agent, agent_stopped) = tokio::sync::watch::channel(false);
    let agent = (!args.disable_agent).then(|| start_agent(&args, &api, agent_stopped));
    shutdown.wait().await;
    tracing::info!("shutting down");
    if let Some(agent) = agent {
        let _ = stop_agent.send(true);
        let _ = agent.await;
    }
    api.stop();
    compaction.abort();
    Ok(())
}

/// The controllers, as a client of the API server with the admin credentials (upstream's
/// controller-manager has its own kubeconfig the same way), under leader election. They run on
/// a thread of their own (`tug-controllers`), as the scheduler does, so that a burst of
/// controller work never queues behind API requests and their CPU shows apart in /proc. While
/// they lead, the controllers run on a second thread of that name, stopped with the lease.
async fn start_controllers(args: &ServerArgs, api: &tug_apiserver::ApiServer) -> anyhow::Result<()> {
    if args.disabled_controllers.iter().any(|c| c == "all") {
        return Ok(());
    }
    let options = tug_controllers::Options {
        disabled: args.disabled_controllers.clone(),
        node_monitor_grace_period: args.node_monitor_grace_period,
        cluster_cidr: args.cluster_cidr.clone(),
        terminated_pod_gc_threshold: args.terminated_pod_gc_threshold,
    };
    let kubeconfig = api.kubeconfig.clone();
    spawn_component(tug_controllers::THREAD_NAME, async move {
        let client = admin_client(&kubeconfig, "kube-controller-manager").await?;
        tug_controllers::run(client, options).await
    })
}

/// The server's own node, as `tug agent` would run it, joined over loopback with the server's
/// token. A node that cannot start (no containerd, not root) leaves the control plane
/// running and says why: `--disable-agent` runs the server without one.
fn start_agent(
    args: &ServerArgs,
    api: &tug_apiserver::ApiServer,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let mut node = args.node.clone();
    let ip = api.addr.ip();
    let loopback = if ip.is_unspecified() { std::net::Ipv4Addr::LOCALHOST.into() } else { ip };
    if node.node_ip.is_none() {
        node.node_ip = Some(match ip {
            std::net::IpAddr::V4(v4) if !v4.is_unspecified() => v4,
            _ => tug_kubelet::host::default_route_ip(),
        });
    }
    let settings = crate::agent::NodeSettings {
        server: format!("https://{}", std::net::SocketAddr::new(loopback, api.addr.port())),
        token: api.token.trim().to_string(),
        data_dir: args.data_dir.clone(),
        node,
        // As k3s marks its servers' nodes (kubectl's ROLES column).
        labels: vec!["node-role.kubernetes.io/control-plane=true".to_string()],
        taints: Vec::new(),
        registries: args.registries.clone(),
    };
    tokio::spawn(async move {
        if let Err(err) = crate::agent::run_node_until(settings, stopped).await {
            tracing::error!(
                "the server's node agent stopped: {err:#} (the control plane keeps running; \
                 --disable-agent runs the server without a node)"
            );
        }
    })
}

/// Whether the garbage collector runs: the API server then leaves `orphan` and
/// `foregroundDeletion` finalizers for it, as upstream's does only with one running.
fn gc_enabled(disabled: &[String]) -> bool {
    !disabled.iter().any(|c| c == "all" || c == tug_controllers::GARBAGE_COLLECTOR)
}

/// Runs the scheduler on a thread of its own (named `tug-scheduler`, so that its CPU shows
/// apart in /proc): its loop is one core's work and must not queue behind API requests. While
/// it leads, the loop runs on a second thread of the same name, stopped with the lease. It
/// ends with the process.
fn start_scheduler(kubeconfig: std::path::PathBuf) -> anyhow::Result<()> {
    spawn_component(tug_scheduler::THREAD_NAME, async move {
        let client = admin_client(&kubeconfig, "kube-scheduler").await?;
        tug_scheduler::run(client, tug_scheduler::identity()).await
    })
}

/// Runs a component's loop on a named thread with a single-threaded runtime of its own.
fn spawn_component<F>(name: &'static str, component: F) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .with_context(|| format!("building the runtime of {name}"))?;
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            if let Err(err) = runtime.block_on(component) {
                tracing::error!("{name} stopped: {err:#}");
            }
        })
        .with_context(|| format!("starting the {name} thread"))?;
    Ok(())
}

/// A client of this server with the admin credentials it wrote: the scheduler and controllers
/// go through the API like any other client.
/// `component` names it in the User-Agent, which the API server takes as the default field
/// manager (`kube-controller-manager`, `kube-scheduler`), as upstream's components do.
async fn admin_client(kubeconfig: &std::path::Path, component: &str) -> anyhow::Result<kube::Client> {
    use kube::config::{KubeConfigOptions, Kubeconfig};
    let file = Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("reading the admin kubeconfig {}", kubeconfig.display()))?;
    let mut config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .context("loading the admin kubeconfig")?;
    let agent = format!(
        "{component}/v1.35.0 (linux/{}) tugboat/{}",
        std::env::consts::ARCH,
        env!("CARGO_PKG_VERSION")
    );
    let agent = http::HeaderValue::from_str(&agent).context("the User-Agent header")?;
    config.headers.push((http::header::USER_AGENT, agent));
    tug_client::client(config).context("building the admin client")
}

async fn open_datastore(args: &ServerArgs) -> anyhow::Result<Arc<dyn Store>> {
    match &args.datastore_endpoint {
        Some(endpoints) => {
            let endpoints: Vec<String> = endpoints.split(',').map(|e| e.trim().to_string()).collect();
            let store = Etcd::connect(&endpoints)
                .await
                .with_context(|| format!("connecting to etcd at {}", endpoints.join(",")))?;
            tracing::info!(endpoints = %endpoints.join(","), "using etcd");
            Ok(Arc::new(store))
        }
        None => {
            let dir = args.data_dir.join("db");
            let store = Embedded::open_dir(&dir)
                .with_context(|| format!("opening the embedded datastore in {}", dir.display()))?;
            tracing::info!(dir = %dir.display(), "using the embedded datastore");
            Ok(Arc::new(store))
        }
    }
}

/// SIGINT and SIGTERM, caught from the moment they are installed.
pub(crate) struct ShutdownSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl ShutdownSignals {
    pub(crate) fn install() -> anyhow::Result<Self> {
        Ok(ShutdownSignals {
            interrupt: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        })
    }

    pub(crate) async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
