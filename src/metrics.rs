//! Prometheus metrics.
//!
//! Upstream's twelve `ldk_server_*` series are kept with their names, types and help texts so
//! existing scrapes keep working; they are refreshed by [`Metrics::refresh_from_node`] every
//! `poll_metrics_interval` seconds and by the event loop as events arrive.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use ldk_node::Node;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, Metric, MetricFamily, MetricType};
use prometheus::{Encoder, IntCounter, IntCounterVec, Opts, Registry, TextEncoder};

/// One of upstream's twelve unlabelled series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamMetric {
    /// Connected peers.
    Peers,
    /// Payments known to the node.
    Payments,
    /// Payments still pending.
    PendingPayments,
    /// Successful payments.
    SuccessfulPayments,
    /// Failed payments.
    FailedPayments,
    /// Channels.
    Channels,
    /// Announced channels.
    PublicChannels,
    /// Unannounced channels.
    PrivateChannels,
    /// On-chain balance, sats.
    OnchainBalanceSats,
    /// Spendable on-chain balance, sats.
    SpendableOnchainBalanceSats,
    /// Reserve held for anchor channels, sats.
    AnchorChannelsReserveSats,
    /// Lightning balance, sats.
    LightningBalanceSats,
}

impl UpstreamMetric {
    /// All twelve, in upstream's output order.
    pub const ALL: [UpstreamMetric; 12] = [
        Self::Peers,
        Self::Payments,
        Self::PendingPayments,
        Self::SuccessfulPayments,
        Self::FailedPayments,
        Self::Channels,
        Self::PublicChannels,
        Self::PrivateChannels,
        Self::OnchainBalanceSats,
        Self::SpendableOnchainBalanceSats,
        Self::AnchorChannelsReserveSats,
        Self::LightningBalanceSats,
    ];

    /// Upstream's metric name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Peers => "ldk_server_total_peers_count",
            Self::Payments => "ldk_server_total_payments_count",
            Self::PendingPayments => "ldk_server_total_pending_payments_count",
            Self::SuccessfulPayments => "ldk_server_total_successful_payments_count",
            Self::FailedPayments => "ldk_server_total_failed_payments_count",
            Self::Channels => "ldk_server_total_channels_count",
            Self::PublicChannels => "ldk_server_total_public_channels_count",
            Self::PrivateChannels => "ldk_server_total_private_channels_count",
            Self::OnchainBalanceSats => "ldk_server_total_onchain_balance_sats",
            Self::SpendableOnchainBalanceSats => "ldk_server_spendable_onchain_balance_sats",
            Self::AnchorChannelsReserveSats => "ldk_server_total_anchor_channels_reserve_sats",
            Self::LightningBalanceSats => "ldk_server_total_lightning_balance_sats",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Self::Peers => "Total number of peers",
            Self::Payments => "Total number of payments",
            Self::PendingPayments => "Total number of pending payments",
            Self::SuccessfulPayments => "Total number of successful payments",
            Self::FailedPayments => "Total number of failed payments",
            Self::Channels => "Total number of channels",
            Self::PublicChannels => "Total number of public channels",
            Self::PrivateChannels => "Total number of private channels",
            Self::OnchainBalanceSats => "Total onchain balance in sats",
            Self::SpendableOnchainBalanceSats => "Spendable onchain balance in sats",
            Self::AnchorChannelsReserveSats => "Total anchor channels reserve in sats",
            Self::LightningBalanceSats => "Total lightning balance in sats",
        }
    }

    fn is_counter(self) -> bool {
        matches!(
            self,
            Self::Payments | Self::SuccessfulPayments | Self::FailedPayments
        )
    }

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|m| *m == self)
            .unwrap_or_default()
    }
}

/// The values of upstream's twelve series, exported with upstream's metric types.
#[derive(Default)]
pub struct UpstreamMetrics {
    values: [AtomicI64; 12],
}

impl UpstreamMetrics {
    /// Sets a series.
    pub fn set(&self, metric: UpstreamMetric, value: i64) {
        self.values[metric.index()].store(value, Ordering::Relaxed);
    }

    /// Adds `delta` (which may be negative) to a series.
    pub fn add(&self, metric: UpstreamMetric, delta: i64) {
        self.values[metric.index()].fetch_add(delta, Ordering::Relaxed);
    }

    /// Reads a series.
    pub fn get(&self, metric: UpstreamMetric) -> i64 {
        self.values[metric.index()].load(Ordering::Relaxed)
    }

    fn family(&self, metric: UpstreamMetric) -> MetricFamily {
        let value = self.get(metric) as f64;
        let mut sample = Metric::default();
        let mut family = MetricFamily::default();
        family.set_name(metric.name().to_owned());
        family.set_help(metric.help().to_owned());
        if metric.is_counter() {
            let mut counter = Counter::default();
            counter.set_value(value);
            sample.set_counter(counter);
            family.set_field_type(MetricType::COUNTER);
        } else {
            let mut gauge = Gauge::default();
            gauge.set_value(value);
            sample.set_gauge(gauge);
            family.set_field_type(MetricType::GAUGE);
        }
        family.mut_metric().push(sample);
        family
    }
}

struct UpstreamCollector {
    values: Arc<UpstreamMetrics>,
    descs: Vec<Desc>,
}

impl Collector for UpstreamCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        UpstreamMetric::ALL
            .iter()
            .map(|metric| self.values.family(*metric))
            .collect()
    }
}

/// Every metric the server exports, and the registry they are rendered from.
pub struct Metrics {
    registry: Registry,
    upstream: Arc<UpstreamMetrics>,
    auth_failures: IntCounterVec,
    events_dropped: IntCounter,
}

impl Metrics {
    /// Creates the metrics; `upstream_names` controls whether upstream's twelve are exported.
    pub fn new(upstream_names: bool) -> Self {
        let registry = Registry::new();
        let upstream = Arc::new(UpstreamMetrics::default());
        if upstream_names {
            let descs = UpstreamMetric::ALL
                .iter()
                .filter_map(|m| {
                    Desc::new(
                        m.name().to_owned(),
                        m.help().to_owned(),
                        vec![],
                        Default::default(),
                    )
                    .ok()
                })
                .collect();
            let collector = UpstreamCollector {
                values: Arc::clone(&upstream),
                descs,
            };
            register(&registry, Box::new(collector));
        }
        let auth_failures = IntCounterVec::new(
            Opts::new(
                "ldk_server_auth_failures_total",
                "Requests rejected by HMAC authentication, by reason",
            ),
            &["reason"],
        )
        .unwrap_or_else(|_| unreachable!("static metric definition is valid"));
        register(&registry, Box::new(auth_failures.clone()));
        let events_dropped = IntCounter::new(
            "ldk_server_events_dropped_total",
            "Events a lagging SubscribeEvents stream missed",
        )
        .unwrap_or_else(|_| unreachable!("static metric definition is valid"));
        register(&registry, Box::new(events_dropped.clone()));
        Self {
            registry,
            upstream,
            auth_failures,
            events_dropped,
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

    /// Counts events a lagging subscriber missed.
    pub fn record_events_dropped(&self, missed: u64) {
        self.events_dropped.inc_by(missed);
    }

    /// Renders every metric in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let families = self.registry.gather();
        if let Err(error) = TextEncoder::new().encode(&families, &mut buffer) {
            tracing::error!(%error, "encoding metrics failed");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }

    /// Recomputes every series that is read from the node's state.
    pub fn refresh_from_node(&self, node: &Node) {
        self.refresh_payments(node);
        self.refresh_channels_and_peers(node);
        self.refresh_balances(node);
    }

    /// Recomputes the payment counts. This reads every payment ldk-node knows, so it runs on
    /// the poll interval only, never per event.
    pub fn refresh_payments(&self, node: &Node) {
        use ldk_node::payment::PaymentStatus;
        use UpstreamMetric::*;
        let payments = node.list_payments();
        let count = |status| payments.iter().filter(|p| p.status == status).count() as i64;
        let values = &self.upstream;
        values.set(Payments, payments.len() as i64);
        values.set(PendingPayments, count(PaymentStatus::Pending));
        values.set(SuccessfulPayments, count(PaymentStatus::Succeeded));
        values.set(FailedPayments, count(PaymentStatus::Failed));
    }

    /// Recomputes the channel and peer counts.
    pub fn refresh_channels_and_peers(&self, node: &Node) {
        use UpstreamMetric::*;
        let values = &self.upstream;
        let connected = node.list_peers().iter().filter(|p| p.is_connected).count();
        values.set(Peers, connected as i64);
        let channels = node.list_channels();
        let public = channels.iter().filter(|c| c.is_announced).count() as i64;
        values.set(Channels, channels.len() as i64);
        values.set(PublicChannels, public);
        values.set(PrivateChannels, channels.len() as i64 - public);
    }

    /// Recomputes the balance series.
    pub fn refresh_balances(&self, node: &Node) {
        use UpstreamMetric::*;
        let balances = node.list_balances();
        let values = &self.upstream;
        values.set(
            OnchainBalanceSats,
            balances.total_onchain_balance_sats as i64,
        );
        values.set(
            SpendableOnchainBalanceSats,
            balances.spendable_onchain_balance_sats as i64,
        );
        values.set(
            AnchorChannelsReserveSats,
            balances.total_anchor_channels_reserve_sats as i64,
        );
        values.set(
            LightningBalanceSats,
            balances.total_lightning_balance_sats as i64,
        );
    }
}

fn register(registry: &Registry, collector: Box<dyn Collector>) {
    if let Err(error) = registry.register(collector) {
        tracing::error!(%error, "registering a metric failed");
    }
}
