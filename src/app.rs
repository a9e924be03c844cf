//! The server process: prepares storage, keys and TLS, serves the API at once on the listeners
//! `main` took, starts the node in the background, keeps systemd informed (status, readiness,
//! watchdog), and shuts everything down in order on a signal.

use std::sync::Arc;

use tokio::sync::{broadcast, watch};

use crate::api::{ApiContext, ApiService};
use crate::auth::{load_or_generate_api_key, ApiKey, KeyId};
use crate::config::{ApiKeySource, Config};
use crate::events::service::EventLogService;
use crate::keys::service::KeyService;
use crate::keys::store::KeyStore;
use crate::keys::{AuthPolicy, Keyring};
use crate::logging::RotatingFile;
use crate::metrics::Metrics;
use crate::node::builder::{build_and_start, load_or_generate_mnemonic};
use crate::node::{start_with_retry, NodeHandle, NodeState};
use crate::private_storage;
use crate::proto::events::EventEnvelope;
use crate::server::gateway::GatewayState;
use crate::server::metrics_endpoint::basic_authorization;
use crate::server::metrics_http::{self, MetricsHttp};
use crate::store::PaymentStore;
use crate::systemd::listeners::Listeners;
use crate::systemd::watchdog::{self, Parts};
use crate::systemd::{self, notify};
use crate::tls::{self, TlsSettings};
use crate::{events, server};

/// How long the node may take to stop.
const NODE_STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// How long open calls and connections may take to finish once shutdown begins.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the server on `listeners` until SIGTERM or SIGINT; returns an error message if it
/// cannot run.
pub async fn run(
    config: Config,
    log_file: Option<Arc<RotatingFile>>,
    listeners: Listeners,
) -> Result<(), String> {
    let config = Arc::new(config);
    notify::status("preparing storage, keys and TLS");
    let Prepared {
        identity,
        api_key,
        mnemonic,
        store,
    } = prepare(&config)?;
    let store = Arc::new(store);
    let metrics = Arc::new(Metrics::new(config.metrics.upstream_names));
    let (grpc_address, metrics_address) = listeners.addresses();
    let grpc_listener = tokio::net::TcpListener::from_std(listeners.grpc)
        .map_err(|e| format!("gRPC listener: {e}"))?;
    let metrics_listener = listeners
        .metrics
        .map(tokio::net::TcpListener::from_std)
        .transpose()
        .map_err(|e| format!("metrics listener: {e}"))?;

    let (shutdown_sender, shutdown) = watch::channel(false);
    let (event_sender, _) = broadcast::channel::<EventEnvelope>(config.events.live_buffer_events);
    let node_handle = Arc::new(NodeHandle::new());
    let parts = Parts::default();
    let ctx = Arc::new(ApiContext {
        node: Arc::clone(&node_handle),
        store: Arc::clone(&store),
        events: event_sender.clone(),
        shutdown: shutdown.clone(),
        network: config.network,
        metrics: Arc::clone(&metrics),
        gossip_via_p2p: config.rgs_server_url.is_none(),
    });
    let metrics_authorization = config
        .metrics
        .basic_auth
        .as_ref()
        .map(|auth| basic_authorization(&auth.username, &auth.password));
    let keyring = Arc::new(open_keyring(&config, api_key)?);
    let gateway = Arc::new(GatewayState {
        metrics_enabled: config.metrics.enabled,
        metrics_authorization: metrics_authorization.clone(),
        ..GatewayState::new(
            Arc::clone(&keyring),
            config.limits.clone(),
            Arc::clone(&metrics),
        )
    });
    let key_service = KeyService::new(Arc::clone(&keyring), Arc::clone(&ctx) as _);
    let mut faults = crate::fault::install(Arc::clone(&metrics), Arc::clone(&node_handle));
    let server_task = tokio::spawn(parts.grpc_server.track({
        let shutdown = shutdown.clone();
        async move {
            server::serve(
                grpc_listener,
                &identity,
                gateway,
                server::Services {
                    api: ApiService::new(Arc::clone(&ctx)),
                    keys: key_service,
                    event_log: EventLogService::new(Arc::clone(&ctx.store)),
                },
                wait_for(shutdown),
            )
            .await
        }
    }));

    tracing::info!(
        address = ?grpc_address,
        origin = ?listeners.origin,
        network = %config.network,
        "serving the gRPC API"
    );
    let mut background = Vec::new();
    if let Some(store) = keyring.store() {
        background.push(tokio::spawn(Arc::clone(store).watch(shutdown.clone())));
    }
    if let Some(listener) = metrics_listener {
        tracing::info!(address = ?metrics_address, origin = ?listeners.origin, "serving /metrics and /healthz over plain HTTP");
        let state = Arc::new(MetricsHttp {
            metrics: Arc::clone(&metrics),
            authorization: metrics_authorization,
            node: Arc::clone(&node_handle),
        });
        background.push(tokio::spawn(metrics_http::serve(
            listener,
            state,
            shutdown.clone(),
        )));
    }
    background.extend(crate::webhooks::spawn(
        &config.webhooks,
        &store,
        &event_sender,
        &metrics,
        &shutdown,
    )?);
    background.push(tokio::spawn(events::retention::run(
        Arc::clone(&store),
        config.events.clone(),
        crate::webhooks::keep_after(&config.webhooks),
        Arc::clone(&metrics),
        shutdown.clone(),
    )));
    background.push(tokio::spawn(systemd::report_node_state(
        Arc::clone(&node_handle),
        shutdown.clone(),
    )));
    if let Some(interval) = watchdog::ping_interval() {
        tracing::debug!(
            interval_ms = interval.as_millis() as u64,
            "systemd watchdog enabled"
        );
        background.push(tokio::spawn(watchdog::run(
            interval,
            parts.clone(),
            Arc::clone(&node_handle),
            shutdown.clone(),
        )));
    }

    // The event loop, the only writer of forwards, starts after this scan: no forward is
    // counted twice or missed.
    let mut forwarding_totals = Some(tokio::spawn(load_forwarding_totals(
        Arc::clone(&store),
        Arc::clone(&metrics),
    )));

    let runtime = tokio::runtime::Handle::current();
    let attempt = {
        let config = Arc::clone(&config);
        move || build_and_start(&config, &mnemonic, &runtime)
    };
    let mut node_task = tokio::spawn(parts.node_start.track({
        let handle = Arc::clone(&node_handle);
        let shutdown = shutdown.clone();
        async move { start_with_retry(&handle, shutdown, attempt).await }
    }));

    let outcome = tokio::select! {
        started = &mut node_task => match started {
            Ok(Ok(Some(node))) => {
                tracing::info!(node_id = %node.node_id(), "node running");
                metrics.node.set_node_running(true);
                if let Some(scan) = forwarding_totals.take() {
                    let _ = scan.await;
                }
                background.push(tokio::spawn(parts.event_loop.track(events::run(
                    Arc::clone(&node),
                    Arc::clone(&store),
                    event_sender.clone(),
                    Arc::clone(&metrics),
                    shutdown.clone(),
                ))));
                background.push(tokio::spawn(poll_metrics(
                    Arc::clone(&node),
                    Arc::clone(&metrics),
                    config.metrics.poll_interval,
                    shutdown.clone(),
                )));
                tokio::select! {
                    signal = wait_for_signal(log_file.as_deref(), &node_handle) => signal,
                    reason = node_fault(&mut faults) => Err(reason),
                }
            }
            Ok(Ok(None)) => Ok(()),
            Ok(Err(reason)) => Err(format!("the node cannot start: {reason}")),
            Err(join_error) => Err(format!("node start task failed: {join_error}")),
        },
        signal = wait_for_signal(log_file.as_deref(), &node_handle) => signal,
        reason = node_fault(&mut faults) => Err(reason),
    };

    tracing::info!("shutting down");
    notify::stopping();
    metrics.node.set_node_running(false);
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

/// What the server needs on disk before it serves: created on first run, checked after.
pub struct Prepared {
    /// The TLS certificate and key.
    pub identity: tls::TlsIdentity,
    /// The API key requests are signed with.
    pub api_key: ApiKey,
    /// The wallet seed.
    pub mnemonic: ldk_node::bip39::Mnemonic,
    /// The payment and forwarding history.
    pub store: PaymentStore,
}

/// Creates (or checks) the storage directories, TLS certificate, key directory, API key, wallet
/// seed and history database. `ldk-server --init` does only this.
pub fn prepare(config: &Config) -> Result<Prepared, String> {
    prepare_directories(config)?;
    let identity = tls::load_or_generate(&TlsSettings {
        cert_path: config.tls.cert_path.clone(),
        key_path: config.tls.key_path.clone(),
        hosts: config.tls.hosts.clone(),
    })
    .map_err(|e| format!("TLS: {e}"))?;
    // Before the API key, so that a client that sees the key file finds the key directory.
    crate::keys::store::create_dir(&config.auth.keys_dir)?;
    let api_key = load_api_key(&config.auth.api_key)?;
    let mnemonic = load_or_generate_mnemonic(&config.storage_dir)?;
    let store =
        PaymentStore::open(&config.network_dir).map_err(|e| format!("payment store: {e}"))?;
    Ok(Prepared {
        identity,
        api_key,
        mnemonic,
        store,
    })
}

/// Creates the storage directories owner-only and tightens what an earlier, looser start left
/// (logged, not refused).
fn prepare_directories(config: &Config) -> Result<(), String> {
    let log_file = config.log.file.as_ref().map(|file| file.path.as_path());
    let report = private_storage::secure(
        &config.storage_dir,
        &config.network_dir,
        log_file,
        &[&config.tls.cert_path],
    )
    .map_err(|error| error.to_string())?;
    report.log();
    Ok(())
}

/// The admin key and the key directory, with the configured signature policy.
fn open_keyring(config: &Config, admin: ApiKey) -> Result<Keyring, String> {
    let store = KeyStore::open(
        &config.auth.keys_dir,
        config.auth.credentials_dir.clone(),
        KeyId::of(&admin),
    )?;
    let policy = AuthPolicy {
        require_body_signature: config.auth.require_body_signature,
        require_v2: config.auth.require_v2,
    };
    Ok(Keyring::new(admin, Arc::new(store), policy))
}

fn load_api_key(source: &ApiKeySource) -> Result<ApiKey, String> {
    match source {
        ApiKeySource::File(path) => load_or_generate_api_key(path, false),
        ApiKeySource::Generated(path) => load_or_generate_api_key(path, true),
    }
}

/// Completes with the reason once a panic has marked the node faulted.
async fn node_fault(faults: &mut watch::Receiver<Option<String>>) -> String {
    match faults.wait_for(Option::is_some).await {
        Ok(reason) => format!("node fault: {}", reason.as_deref().unwrap_or("a panic")),
        Err(_) => std::future::pending().await,
    }
}

async fn wait_for(mut shutdown: watch::Receiver<bool>) {
    crate::shutdown::requested(&mut shutdown).await;
}

/// Waits for SIGTERM or SIGINT; SIGHUP meanwhile reopens the log file (for logrotate).
async fn wait_for_signal(log_file: Option<&RotatingFile>, node: &NodeHandle) -> Result<(), String> {
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
            _ = hangup.recv() => reload(log_file, node),
        }
    }
}

/// SIGHUP: reopens the log file, framed by `RELOADING=1` and `READY=1` once the node runs.
fn reload(log_file: Option<&RotatingFile>, node: &NodeHandle) {
    let running = match node.state() {
        NodeState::Running(running) => Some(running),
        _ => None,
    };
    if running.is_some() {
        notify::reloading();
    }
    if let Some(Err(error)) = log_file.map(RotatingFile::reopen) {
        tracing::error!(%error, "reopening the log file failed");
    } else {
        tracing::info!("SIGHUP: log file reopened");
    }
    if let Some(running) = running {
        systemd::notify_running(&running);
    }
}

/// Stops the node (it persists its state), giving up after [`NODE_STOP_TIMEOUT`]: after a
/// fault a poisoned lock may keep `stop` from returning, and the process must still end.
async fn stop_node(node: Arc<ldk_node::Node>) {
    let stopped = tokio::task::spawn_blocking(move || node.stop());
    match tokio::time::timeout(NODE_STOP_TIMEOUT, stopped).await {
        Ok(Ok(Ok(()))) => tracing::info!("node stopped"),
        Ok(Ok(Err(error))) => tracing::error!(%error, "stopping the node failed"),
        Ok(Err(error)) => tracing::error!(%error, "the node stop task failed"),
        Err(_) => tracing::error!(
            timeout_secs = NODE_STOP_TIMEOUT.as_secs(),
            "the node did not stop in time; exiting without waiting for it"
        ),
    }
}

/// Sets the forwarding counters from the stored history (a full scan, off the reactor).
async fn load_forwarding_totals(store: Arc<PaymentStore>, metrics: Arc<Metrics>) {
    let totals = tokio::task::spawn_blocking(move || store.forwarding_totals()).await;
    match totals {
        Ok(Ok(totals)) => metrics.set_forwarding_totals(totals),
        Ok(Err(error)) => {
            tracing::error!(%error, "reading the forwarding history for metrics failed")
        }
        Err(error) => tracing::error!(%error, "the forwarding totals task failed"),
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
