//! Series read from the node's state: whether it runs, chain sync, peers, channels and their
//! liquidity, balances, payments by direction and status with their volumes and fees, and
//! forwarding. Gauges are recomputed from a snapshot; the `_total` counters only ever grow
//! (they are advanced to a snapshot's value, or by each forwarding event).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ldk_node::payment::{PaymentDirection, PaymentStatus};
use ldk_node::{ChannelDetails, Node};
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry};

use super::group::{Gate, Group};
use super::upstream::{UpstreamMetric, UpstreamMetrics};

/// What a `ldk_server_*_sync_*` series is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    /// The on-chain (BDK) wallet.
    OnchainWallet,
    /// The Lightning wallet (channel monitors, sweeps).
    LightningWallet,
    /// The fee-rate estimates.
    FeeRateCache,
}

impl SyncKind {
    const ALL: [SyncKind; 3] = [
        Self::OnchainWallet,
        Self::LightningWallet,
        Self::FeeRateCache,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::OnchainWallet => "onchain_wallet",
            Self::LightningWallet => "lightning_wallet",
            Self::FeeRateCache => "fee_rate_cache",
        }
    }
}

/// A channel's state as the `state` label says it.
fn channel_state(channel: &ChannelDetails) -> &'static str {
    if !channel.is_channel_ready {
        "pending"
    } else if channel.is_usable {
        "active"
    } else {
        "inactive"
    }
}

const CHANNEL_STATES: [&str; 3] = ["pending", "active", "inactive"];
const DIRECTIONS: [&str; 2] = ["inbound", "outbound"];
const STATUSES: [&str; 3] = ["pending", "succeeded", "failed"];

fn status_label(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Pending => "pending",
        PaymentStatus::Succeeded => "succeeded",
        PaymentStatus::Failed => "failed",
    }
}

/// Totals of the forwarding history.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ForwardingTotals {
    /// Forwarded payments.
    pub count: u64,
    /// Amount forwarded out, msat.
    pub amount_msat: u64,
    /// Fees earned, msat.
    pub fees_msat: u64,
}

/// The node-derived series.
pub struct NodeMetrics {
    node_running: IntGauge,
    best_block_height: IntGauge,
    last_sync_timestamp: IntGaugeVec,
    sync_age: IntGaugeVec,
    sync_timestamps: [AtomicU64; 3],
    peers: IntGaugeVec,
    channels: IntGaugeVec,
    channel_outbound_capacity: IntGaugeVec,
    channel_inbound_capacity: IntGaugeVec,
    channel_value: IntGaugeVec,
    onchain_balance: IntGauge,
    onchain_spendable_balance: IntGauge,
    anchor_reserve: IntGauge,
    lightning_balance: IntGauge,
    payments: IntGaugeVec,
    payment_amount: IntCounterVec,
    payment_fees_paid: IntCounter,
    forwarded_payments: IntCounter,
    forwarded_amount: IntCounter,
    forwarding_fees: IntCounter,
    status_gate: Gate,
    channels_gate: Gate,
    balances_gate: Gate,
    payments_gate: Gate,
    forwarding_gate: Gate,
}

/// Advances a counter to `value` (a counter never goes down; a lower value is ignored).
fn advance(counter: &IntCounter, value: u64) {
    let current = counter.get();
    if value > current {
        counter.inc_by(value - current);
    }
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl NodeMetrics {
    /// Registers every node-derived series in `registry`, at zero. Only `node_running` is
    /// exported at once; every other group once the node has been read for it.
    pub fn new(registry: &Registry) -> Self {
        let mut ungated = Group::default();
        let mut status_group = Group::default();
        let mut channels_group = Group::default();
        let mut balances_group = Group::default();
        let mut payments_group = Group::default();
        let mut forwarding_group = Group::default();
        let node_running = ungated.gauge(
            "ldk_server_node_running",
            "1 while the Lightning node runs, 0 while it starts or stops",
        );
        let best_block_height = status_group.gauge(
            "ldk_server_best_block_height",
            "Height of the best block the node has synced to",
        );
        let last_sync_timestamp = status_group.gauge_vec("ldk_server_last_sync_timestamp_seconds",
                "Unix time of the last successful sync, by kind (onchain_wallet, lightning_wallet, fee_rate_cache)",
                &["kind"],
            );
        let sync_age = status_group.gauge_vec(
            "ldk_server_seconds_since_last_sync",
            "Seconds since the last successful sync at scrape time, by kind",
            &["kind"],
        );
        let peers = channels_group.gauge_vec(
            "ldk_server_peers",
            "Known peers by state (connected, disconnected)",
            &["state"],
        );
        let channels = channels_group.gauge_vec(
            "ldk_server_channels",
            "Channels by state (pending, active, inactive) and whether they are announced",
            &["state", "announced"],
        );
        let channel_outbound_capacity = channels_group.gauge_vec(
            "ldk_server_channel_outbound_capacity_msat",
            "What the node can send over its channels, msat, by channel state",
            &["state"],
        );
        let channel_inbound_capacity = channels_group.gauge_vec(
            "ldk_server_channel_inbound_capacity_msat",
            "What the node can receive over its channels, msat, by channel state",
            &["state"],
        );
        let channel_value = channels_group.gauge_vec(
            "ldk_server_channel_value_sats",
            "Total size of the channels, sats, by channel state",
            &["state"],
        );
        let onchain_balance = balances_group.gauge(
            "ldk_server_onchain_balance_sats",
            "On-chain wallet balance, sats (confirmed and unconfirmed)",
        );
        let onchain_spendable_balance = balances_group.gauge(
            "ldk_server_onchain_spendable_balance_sats",
            "On-chain balance that can be spent now, sats",
        );
        let anchor_reserve = balances_group.gauge(
            "ldk_server_anchor_channels_reserve_sats",
            "On-chain balance held back to bump anchor channel closes, sats",
        );
        let lightning_balance = balances_group.gauge(
            "ldk_server_lightning_balance_sats",
            "Balance in channels, sats",
        );
        let payments = payments_group.gauge_vec("ldk_server_payments",
                "Payments the node knows, by direction (inbound, outbound) and status (pending, succeeded, failed)",
                &["direction", "status"],
            );
        let payment_amount = payments_group.counter_vec(
            "ldk_server_payments_amount_msat_total",
            "Amount of succeeded payments, msat, by direction",
            &["direction"],
        );
        let payment_fees_paid = payments_group.counter(
            "ldk_server_payment_fees_paid_msat_total",
            "Routing fees paid on succeeded outbound payments, msat",
        );
        let forwarded_payments = forwarding_group.counter(
            "ldk_server_forwarded_payments_total",
            "Payments forwarded by this node",
        );
        let forwarded_amount = forwarding_group.counter(
            "ldk_server_forwarded_amount_msat_total",
            "Amount forwarded out to the next hop, msat",
        );
        let forwarding_fees = forwarding_group.counter(
            "ldk_server_forwarding_fees_earned_msat_total",
            "Fees earned by forwarding, msat",
        );
        ungated.register_open(registry);
        let metrics = Self {
            node_running,
            best_block_height,
            last_sync_timestamp,
            sync_age,
            sync_timestamps: Default::default(),
            peers,
            channels,
            channel_outbound_capacity,
            channel_inbound_capacity,
            channel_value,
            onchain_balance,
            onchain_spendable_balance,
            anchor_reserve,
            lightning_balance,
            payments,
            payment_amount,
            payment_fees_paid,
            forwarded_payments,
            forwarded_amount,
            forwarding_fees,
            status_gate: status_group.register(registry),
            channels_gate: channels_group.register(registry),
            balances_gate: balances_group.register(registry),
            payments_gate: payments_group.register(registry),
            forwarding_gate: forwarding_group.register(registry),
        };
        metrics.zero_label_sets();
        metrics
    }

    /// Creates every label combination at zero, so that boards and alerts see a series (0)
    /// rather than no data before the first payment or channel.
    fn zero_label_sets(&self) {
        for state in CHANNEL_STATES {
            for announced in ["true", "false"] {
                self.channels.with_label_values(&[state, announced]).set(0);
            }
            self.channel_outbound_capacity
                .with_label_values(&[state])
                .set(0);
            self.channel_inbound_capacity
                .with_label_values(&[state])
                .set(0);
            self.channel_value.with_label_values(&[state]).set(0);
        }
        for state in ["connected", "disconnected"] {
            self.peers.with_label_values(&[state]).set(0);
        }
        for direction in DIRECTIONS {
            for status in STATUSES {
                self.payments.with_label_values(&[direction, status]).set(0);
            }
            self.payment_amount
                .with_label_values(&[direction])
                .inc_by(0);
        }
    }

    /// Records whether the node runs.
    pub fn set_node_running(&self, running: bool) {
        self.node_running.set(i64::from(running));
    }

    /// Reads the node's status: best block and sync times.
    pub fn refresh_status(&self, node: &Node) {
        let status = node.status();
        self.status_gate.open();
        self.node_running.set(i64::from(status.is_running));
        self.best_block_height
            .set(i64::from(status.current_best_block.height));
        let timestamps = [
            status.latest_onchain_wallet_sync_timestamp,
            status.latest_lightning_wallet_sync_timestamp,
            status.latest_fee_rate_cache_update_timestamp,
        ];
        for (kind, timestamp) in SyncKind::ALL.iter().zip(timestamps) {
            if let Some(timestamp) = timestamp {
                self.last_sync_timestamp
                    .with_label_values(&[kind.label()])
                    .set(saturating_i64(timestamp));
                self.sync_timestamps[*kind as usize].store(timestamp, Ordering::Relaxed);
            }
        }
    }

    /// Brings the `seconds since` gauges to the present; called at each scrape.
    pub fn update_sync_ages(&self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        for kind in SyncKind::ALL {
            let synced_at = self.sync_timestamps[kind as usize].load(Ordering::Relaxed);
            if synced_at > 0 {
                self.sync_age
                    .with_label_values(&[kind.label()])
                    .set(saturating_i64(now.saturating_sub(synced_at)));
            }
        }
    }

    /// Recomputes peers and channels (and upstream's counts of them).
    pub fn refresh_channels_and_peers(&self, node: &Node, upstream: &UpstreamMetrics) {
        let peers = node.list_peers();
        let connected = peers.iter().filter(|p| p.is_connected).count();
        self.peers
            .with_label_values(&["connected"])
            .set(connected as i64);
        self.peers
            .with_label_values(&["disconnected"])
            .set((peers.len() - connected) as i64);
        upstream.set(UpstreamMetric::Peers, connected as i64);

        let channels = node.list_channels();
        for state in CHANNEL_STATES {
            let in_state = || channels.iter().filter(move |c| channel_state(c) == state);
            for announced in [true, false] {
                let count = in_state().filter(|c| c.is_announced == announced).count();
                self.channels
                    .with_label_values(&[state, if announced { "true" } else { "false" }])
                    .set(count as i64);
            }
            let outbound: u64 = in_state().map(|c| c.outbound_capacity_msat).sum();
            let inbound: u64 = in_state().map(|c| c.inbound_capacity_msat).sum();
            let value: u64 = in_state().map(|c| c.channel_value_sats).sum();
            self.channel_outbound_capacity
                .with_label_values(&[state])
                .set(saturating_i64(outbound));
            self.channel_inbound_capacity
                .with_label_values(&[state])
                .set(saturating_i64(inbound));
            self.channel_value
                .with_label_values(&[state])
                .set(saturating_i64(value));
        }
        let public = channels.iter().filter(|c| c.is_announced).count() as i64;
        upstream.set(UpstreamMetric::Channels, channels.len() as i64);
        upstream.set(UpstreamMetric::PublicChannels, public);
        upstream.set(
            UpstreamMetric::PrivateChannels,
            channels.len() as i64 - public,
        );
        self.channels_gate.open();
    }

    /// Recomputes the balances (and upstream's).
    pub fn refresh_balances(&self, node: &Node, upstream: &UpstreamMetrics) {
        let balances = node.list_balances();
        let values = [
            (
                &self.onchain_balance,
                UpstreamMetric::OnchainBalanceSats,
                balances.total_onchain_balance_sats,
            ),
            (
                &self.onchain_spendable_balance,
                UpstreamMetric::SpendableOnchainBalanceSats,
                balances.spendable_onchain_balance_sats,
            ),
            (
                &self.anchor_reserve,
                UpstreamMetric::AnchorChannelsReserveSats,
                balances.total_anchor_channels_reserve_sats,
            ),
            (
                &self.lightning_balance,
                UpstreamMetric::LightningBalanceSats,
                balances.total_lightning_balance_sats,
            ),
        ];
        for (gauge, legacy, sats) in values {
            gauge.set(saturating_i64(sats));
            upstream.set(legacy, saturating_i64(sats));
        }
        self.balances_gate.open();
    }

    /// Recomputes payments by direction and status, their volumes and fees (and upstream's
    /// counts). This reads every payment ldk-node knows: poll interval only, never per event.
    pub fn refresh_payments(&self, node: &Node, upstream: &UpstreamMetrics) {
        let payments = node.list_payments();
        let mut counts = [[0i64; 3]; 2];
        let mut amounts = [0u64; 2];
        let mut fees_paid = 0u64;
        for payment in &payments {
            let direction = usize::from(payment.direction == PaymentDirection::Outbound);
            let status = STATUSES
                .iter()
                .position(|s| *s == status_label(payment.status))
                .unwrap_or_default();
            counts[direction][status] += 1;
            if payment.status == PaymentStatus::Succeeded {
                amounts[direction] =
                    amounts[direction].saturating_add(payment.amount_msat.unwrap_or(0));
                if payment.direction == PaymentDirection::Outbound {
                    fees_paid = fees_paid.saturating_add(payment.fee_paid_msat.unwrap_or(0));
                }
            }
        }
        for (d, direction) in DIRECTIONS.iter().enumerate() {
            for (s, status) in STATUSES.iter().enumerate() {
                self.payments
                    .with_label_values(&[direction, status])
                    .set(counts[d][s]);
            }
            advance(
                &self.payment_amount.with_label_values(&[direction]),
                amounts[d],
            );
        }
        advance(&self.payment_fees_paid, fees_paid);
        let by_status = |s: usize| counts[0][s] + counts[1][s];
        upstream.set(UpstreamMetric::Payments, payments.len() as i64);
        upstream.set(UpstreamMetric::PendingPayments, by_status(0));
        upstream.set(UpstreamMetric::SuccessfulPayments, by_status(1));
        upstream.set(UpstreamMetric::FailedPayments, by_status(2));
        self.payments_gate.open();
    }

    /// Sets the forwarding counters from the stored history (at startup).
    pub fn set_forwarding_totals(&self, totals: ForwardingTotals) {
        advance(&self.forwarded_payments, totals.count);
        advance(&self.forwarded_amount, totals.amount_msat);
        advance(&self.forwarding_fees, totals.fees_msat);
        self.forwarding_gate.open();
    }

    /// Counts one forwarded payment.
    pub fn record_forward(&self, amount_msat: u64, fees_msat: u64) {
        self.forwarded_payments.inc();
        self.forwarded_amount.inc_by(amount_msat);
        self.forwarding_fees.inc_by(fees_msat);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_only_advance() {
        let counter = IntCounter::new("c_total", "c").unwrap();
        advance(&counter, 5);
        advance(&counter, 3);
        assert_eq!(counter.get(), 5);
        advance(&counter, 9);
        assert_eq!(counter.get(), 9);
    }

    #[test]
    fn groups_are_exported_once_read_with_every_label_set_at_zero() {
        let registry = Registry::new();
        let metrics = NodeMetrics::new(&registry);
        let series = |name: &str| {
            registry
                .gather()
                .iter()
                .find(|f| f.name() == name)
                .map(|f| f.get_metric().len())
                .unwrap_or(0)
        };
        assert_eq!(series("ldk_server_node_running"), 1);
        assert_eq!(series("ldk_server_channels"), 0, "not read yet");
        assert_eq!(
            series("ldk_server_payments_amount_msat_total"),
            0,
            "not read yet"
        );
        metrics.channels_gate.open();
        metrics.payments_gate.open();
        assert_eq!(series("ldk_server_channels"), 6);
        assert_eq!(series("ldk_server_peers"), 2);
        assert_eq!(series("ldk_server_payments"), 6);
        assert_eq!(series("ldk_server_payments_amount_msat_total"), 2);
        assert_eq!(
            series("ldk_server_onchain_balance_sats"),
            0,
            "balances not read yet"
        );
        metrics.set_forwarding_totals(ForwardingTotals {
            count: 2,
            amount_msat: 5_000,
            fees_msat: 7,
        });
        assert_eq!(series("ldk_server_forwarded_payments_total"), 1);
        assert_eq!(metrics.forwarded_payments.get(), 2);
    }
}
