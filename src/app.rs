//! The server process: prepares storage, keys and TLS, binds the listener, serves the API at
//! once, starts the node in the background, and shuts everything down in order on a signal.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

use crate::api::events::EVENT_CHANNEL_CAPACITY;
use crate::api::{ApiContext, ApiService};
use crate::auth::{load_or_generate_api_key, ApiKey};
use crate::config::{ApiKeySource, Config};
use crate::logging::RotatingFile;
use crate::metrics::Metrics;
use crate::node::builder::{build_and_start, load_or_generate_mnemonic};
use crate::node::{start_with_retry, NodeHandle};
use crate::proto::events::EventEnvelope;
use crate::server::gateway::{basic_authorization, GatewayState};
use crate::store::PaymentStore;
use crate::tls::{self, TlsSettings};
use crate::{events, server};

/// How long open calls and connections may take to finish once shutdown begins.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the server until SIGTERM or SIGINT; returns an error message if it cannot run.
pub async fn run(config: Config, log_file: Option<Arc<RotatingFile>>) -> Result<(), String> {
    let config = Arc::new(config);
    prepare_directories(&config)?;
    let identity = tls::load_or_generate(&TlsSettings {
        cert_path: config.tls.cert_path.clone(),
        key_path: config.tls.key_path.clone(),
        hosts: config.tls.hosts.clone(),
    })
    .map_err(|e| format!("TLS: {e}"))?;
    let api_key = load_api_key(&config.auth.api_key)?;
    let mnemonic = load_or_generate_mnemonic(&config.storage_dir)?;
    let store = Arc::new(
        PaymentStore::open(&config.network_dir).map_err(|e| format!("payment store: {e}"))?,
    );
    let metrics = Arc::new(Metrics::new(config.metrics.upstream_names));
    let listener = TcpListener::bind(config.grpc_service_address)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.grpc_service_address))?;
    tracing::info!(address = %config.grpc_service_address, network = %config.network, "serving the gRPC API");

    let (shutdown_sender, shutdown) = watch::channel(false);
    let (event_sender, _) = broadcast::channel::<EventEnvelope>(EVENT_CHANNEL_CAPACITY);
    let node_handle = Arc::new(NodeHandle::new());
    let ctx = Arc::new(ApiContext {
        node: Arc::clone(&node_handle),
        store: Arc::clone(&store),
        events: event_sender.clone(),
        shutdown: shutdown.clone(),
        network: config.network,
        metrics: Arc::clone(&metrics),
        gossip_via_p2p: config.rgs_server_url.is_none(),
    });
    let gateway = Arc::new(GatewayState {
        api_key,
        require_body_signature: config.auth.require_body_signature,
        metrics: Arc::clone(&metrics),
        metrics_enabled: config.metrics.enabled,
        metrics_authorization: config
            .metrics
            .basic_auth
            .as_ref()
            .map(|auth| basic_authorization(&auth.username, &auth.password)),
    });
    let server_task = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            server::serve(
                listener,
                &identity,
                gateway,
                ApiService::new(ctx),
                wait_for(shutdown),
            )
            .await
        }
    });

    let runtime = tokio::runtime::Handle::current();
    let attempt = {
        let config = Arc::clone(&config);
        move || build_and_start(&config, &mnemonic, &runtime)
    };
    let mut node_task = tokio::spawn({
        let handle = Arc::clone(&node_handle);
        let shutdown = shutdown.clone();
        async move { start_with_retry(&handle, shutdown, attempt).await }
    });

    let mut background = Vec::new();
    let outcome = tokio::select! {
        started = &mut node_task => match started {
            Ok(Ok(Some(node))) => {
                tracing::info!(node_id = %node.node_id(), "node running");
                background.push(tokio::spawn(events::run(
                    Arc::clone(&node),
                    Arc::clone(&store),
                    event_sender.clone(),
                    Arc::clone(&metrics),
                    shutdown.clone(),
                )));
                background.push(tokio::spawn(poll_metrics(
                    Arc::clone(&node),
                    Arc::clone(&metrics),
                    config.metrics.poll_interval,
                    shutdown.clone(),
                )));
                wait_for_signal(log_file.as_deref()).await
            }
            Ok(Ok(None)) => Ok(()),
            Ok(Err(reason)) => Err(format!("the node cannot start: {reason}")),
            Err(join_error) => Err(format!("node start task failed: {join_error}")),
        },
        signal = wait_for_signal(log_file.as_deref()) => signal,
    };

    tracing::info!("shutting down");
    let _ = shutdown_sender.send(true);
    for task in background {
        let _ = task.await;
    }
    if let Some(node) = node_handle.begin_shutdown() {
        stop_node(node).await;
    }
    node_task.abort();
    match tokio::time::timeout(DRAIN_TIMEOUT, server_task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(error))) => tracing::error!(%error, "the gRPC server failed"),
        Ok(Err(error)) => tracing::error!(%error, "the gRPC server task failed"),
        Err(_) => tracing::warn!(
            timeout_secs = DRAIN_TIMEOUT.as_secs(),
            "clients kept connections open past the drain timeout; closing them"
        ),
    }
    outcome
}

fn prepare_directories(config: &Config) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    for dir in [&config.storage_dir, &config.network_dir] {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    Ok(())
}

fn load_api_key(source: &ApiKeySource) -> Result<ApiKey, String> {
    match source {
        ApiKeySource::File(path) => load_or_generate_api_key(path, false),
        ApiKeySource::Generated(path) => load_or_generate_api_key(path, true),
    }
}

async fn wait_for(mut shutdown: watch::Receiver<bool>) {
    crate::shutdown::requested(&mut shutdown).await;
}

/// Waits for SIGTERM or SIGINT; SIGHUP meanwhile reopens the log file (for logrotate).
async fn wait_for_signal(log_file: Option<&RotatingFile>) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut hangup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            _ = terminate.recv() => {
                tracing::info!("SIGTERM received");
                return Ok(());
            }
            _ = interrupt.recv() => {
                tracing::info!("SIGINT received");
                return Ok(());
            }
            _ = hangup.recv() => {
                if let Some(Err(error)) = log_file.map(RotatingFile::reopen) {
                    tracing::error!(%error, "reopening the log file failed");
                } else {
                    tracing::info!("SIGHUP: log file reopened");
                }
            }
        }
    }
}

async fn stop_node(node: Arc<ldk_node::Node>) {
    let stopped = tokio::task::spawn_blocking(move || node.stop()).await;
    match stopped {
        Ok(Ok(())) => tracing::info!("node stopped"),
        Ok(Err(error)) => tracing::error!(%error, "stopping the node failed"),
        Err(error) => tracing::error!(%error, "the node stop task failed"),
    }
}

async fn poll_metrics(
    node: Arc<ldk_node::Node>,
    metrics: Arc<Metrics>,
    every: std::time::Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = interval.tick() => {
                let node = Arc::clone(&node);
                let metrics = Arc::clone(&metrics);
                let _ = tokio::task::spawn_blocking(move || metrics.refresh_from_node(&node)).await;
            }
            _ = crate::shutdown::requested(&mut shutdown) => return,
        }
    }
}
