//! Prometheus metrics, rendered for `GET /metrics` on the gRPC listener and on the plain-HTTP
//! metrics listener.
//!
//! Names follow Prometheus conventions (`ldk_server_` prefix, unit in the name, `_total` on
//! counters): [`node`] holds what is read from the node (refreshed every
//! `poll_metrics_interval` and by the event loop as events arrive), [`rpc`] the per-call series,
//! and this module the API's own series (auth failures, event subscribers, events sent and
//! dropped), `ldk_server_build_info` and the process series. [`upstream`] keeps upstream's
//! twelve legacy names alongside unless `[metrics] upstream_names = false`.

pub mod event_log;
mod group;
pub mod node;
pub mod process;
pub mod rpc;
pub mod transport;
pub mod upstream;
pub mod webhooks;

use std::sync::Arc;

use ldk_node::Node;
use prometheus::core::Collector;
use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

use group::Group;
use node::{ForwardingTotals, NodeMetrics};
use rpc::RpcMetrics;
use transport::TransportMetrics;
use upstream::{UpstreamCollector, UpstreamMetrics};

pub use upstream::UpstreamMetric;

/// Every metric the server exports, and the registry they are rendered from.
pub struct Metrics {
    registry: Registry,
    upstream: Arc<UpstreamMetrics>,
    /// Per-RPC calls and latency.
    pub rpc: RpcMetrics,
    /// Series read from the node.
    pub node: NodeMetrics,
    /// Connections of the gRPC listener.
    pub transport: Arc<TransportMetrics>,
    /// The durable event log.
    pub event_log: event_log::EventLogMetrics,
    /// Webhook delivery.
    pub webhooks: webhooks::WebhookMetrics,
    faults: IntCounter,
    auth_failures: IntCounterVec,
    event_subscribers: IntGauge,
    events_sent: IntCounterVec,
    events_dropped: IntCounter,
    events_dead_lettered: IntCounter,
}

impl Metrics {
    /// Creates the metrics; `upstream_names` controls whether upstream's twelve are exported.
    pub fn new(upstream_names: bool) -> Self {
        let registry = Registry::new();
        let upstream = Arc::new(UpstreamMetrics::default());
        if upstream_names {
            register(
                &registry,
                Box::new(UpstreamCollector::new(Arc::clone(&upstream))),
            );
        }
        register_process_metrics(&registry);
        register_build_info(&registry);
        let mut api = Group::default();
        let auth_failures = api.counter_vec(
            "ldk_server_auth_failures_total",
            "Requests rejected by HMAC authentication, by reason",
            &["reason"],
        );
        let event_subscribers = api.gauge(
            "ldk_server_event_subscribers",
            "Open SubscribeEvents streams",
        );
        let events_sent = api.counter_vec(
            "ldk_server_events_sent_total",
            "Events published to SubscribeEvents streams, by type",
            &["type"],
        );
        let events_dropped = api.counter(
            "ldk_server_events_dropped_total",
            "Live events a SubscribeEvents stream fell behind by; it read them back from the event log",
        );
        let events_dead_lettered = api.counter(
            "ldk_server_events_dead_lettered_total",
            "Node events given up on after every retry, stored as dead letters and acknowledged",
        );
        let faults = api.counter(
            "ldk_server_node_faults_total",
            "Panics seen by the server; each stops the node and ends the process",
        );
        api.register_open(&registry);
        // Every reason and event type starts at 0, so that `rate()` sees the first one.
        for reason in crate::auth::AuthError::REASONS {
            auth_failures.with_label_values(&[reason]).inc_by(0);
        }
        for name in crate::convert::events::EVENT_NAMES {
            events_sent.with_label_values(&[name]).inc_by(0);
        }
        Self {
            rpc: RpcMetrics::new(&registry),
            node: NodeMetrics::new(&registry),
            transport: Arc::new(TransportMetrics::new(&registry)),
            event_log: event_log::EventLogMetrics::new(&registry),
            webhooks: webhooks::WebhookMetrics::new(&registry),
            faults,
            registry,
            upstream,
            auth_failures,
            event_subscribers,
            events_sent,
            events_dropped,
            events_dead_lettered,
        }
    }

    /// Upstream's twelve series.
    pub fn upstream(&self) -> &UpstreamMetrics {
        &self.upstream
    }

    /// Counts a request rejected by authentication.
    pub fn record_auth_failure(&self, reason: &str) {
        self.auth_failures.with_label_values(&[reason]).inc();
    }

    /// Counts a call refused with PERMISSION_DENIED for key `key`.
    pub fn record_permission_denied(&self, key: &str, method: &str) {
        self.rpc.observe_permission_denied(key, method);
    }

    /// Counts a panic (a node fault).
    pub fn record_fault(&self) {
        self.faults.inc();
    }

    /// Counts live events a lagging subscriber fell behind by (it reads them from the log).
    pub fn record_events_dropped(&self, missed: u64) {
        self.events_dropped.inc_by(missed);
    }

    /// Counts an event stored as a dead letter.
    pub fn record_event_dead_lettered(&self) {
        self.events_dead_lettered.inc();
    }

    /// Counts an event published to subscribers.
    pub fn record_event_sent(&self, event_type: &str) {
        self.events_sent.with_label_values(&[event_type]).inc();
    }

    /// Counts a subscriber until the returned guard is dropped (the stream ends).
    pub fn subscriber(&self) -> SubscriberGuard {
        self.event_subscribers.inc();
        SubscriberGuard(self.event_subscribers.clone())
    }

    /// Renders every metric in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        self.node.update_sync_ages();
        let mut buffer = Vec::new();
        let families = self.registry.gather();
        if let Err(error) = TextEncoder::new().encode(&families, &mut buffer) {
            tracing::error!(%error, "encoding metrics failed");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }

    /// Recomputes every series that is read from the node's state.
    pub fn refresh_from_node(&self, node: &Node) {
        self.node.refresh_status(node);
        self.refresh_payments(node);
        self.refresh_channels_and_peers(node);
        self.refresh_balances(node);
    }

    /// Recomputes the payment series. This reads every payment ldk-node knows, so it runs on
    /// the poll interval only, never per event.
    pub fn refresh_payments(&self, node: &Node) {
        self.node.refresh_payments(node, &self.upstream);
    }

    /// Recomputes the channel and peer series.
    pub fn refresh_channels_and_peers(&self, node: &Node) {
        self.node.refresh_channels_and_peers(node, &self.upstream);
    }

    /// Recomputes the balance series.
    pub fn refresh_balances(&self, node: &Node) {
        self.node.refresh_balances(node, &self.upstream);
    }

    /// Sets the forwarding counters from the stored history.
    pub fn set_forwarding_totals(&self, totals: ForwardingTotals) {
        self.node.set_forwarding_totals(totals);
    }
}

/// Keeps `ldk_server_event_subscribers` counting one stream until dropped.
pub struct SubscriberGuard(IntGauge);

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `ldk_server_build_info{version}`: always 1; the labels say which build runs.
fn register_build_info(registry: &Registry) {
    let info = IntGauge::with_opts(
        Opts::new(
            "ldk_server_build_info",
            "Build of the running server (always 1): version of ldk-server",
        )
        .const_label("version", env!("CARGO_PKG_VERSION")),
    )
    .unwrap_or_else(|e| unreachable!("{e}"));
    info.set(1);
    register(registry, Box::new(info));
}

/// The standard `process_*` series (CPU, memory, open fds, start time).
fn register_process_metrics(registry: &Registry) {
    register(
        registry,
        Box::new(process::PreciseProcessCollector::for_self()),
    );
}

pub(crate) fn register(registry: &Registry, collector: Box<dyn Collector>) {
    if let Err(error) = registry.register(collector) {
        tracing::error!(%error, "registering a metric failed");
    }
}
