//! Upstream's twelve unlabelled `ldk_server_*` series, kept with their names, types and help
//! texts so that existing scrapes keep working (`[metrics] upstream_names`, default on). Their
//! names break Prometheus conventions (counters without `_total`, gauges ending in `_count`);
//! every one has a correctly named equivalent in [`super::node`].

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, Metric, MetricFamily, MetricType};

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

/// Exports [`UpstreamMetrics`] under upstream's names.
pub struct UpstreamCollector {
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

impl UpstreamCollector {
    /// A collector over `values`.
    pub fn new(values: Arc<UpstreamMetrics>) -> Self {
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
        Self { values, descs }
    }
}
