//! Series of webhook delivery, one set per `[[webhooks]]` entry (label `webhook`).

use prometheus::{IntCounterVec, IntGaugeVec, Registry};

use super::group::Group;

/// How one delivery attempt ended: the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx; the cursor moved on.
    Delivered,
    /// The receiver answered, but not 2xx (redirects are not followed).
    Rejected,
    /// No answer: connection refused or reset, TLS failure, or the timeout.
    Unreachable,
}

impl DeliveryOutcome {
    /// Every outcome, so that each series exists from the start.
    pub const ALL: [Self; 3] = [Self::Delivered, Self::Rejected, Self::Unreachable];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Rejected => "rejected",
            Self::Unreachable => "unreachable",
        }
    }
}

/// The webhooks' series.
pub struct WebhookMetrics {
    deliveries: IntCounterVec,
    delivered_sequence: IntGaugeVec,
    lag_events: IntGaugeVec,
    lag_seconds: IntGaugeVec,
    failing_attempts: IntGaugeVec,
    skipped: IntCounterVec,
}

impl WebhookMetrics {
    /// Creates and registers the series.
    pub fn new(registry: &Registry) -> Self {
        let mut group = Group::default();
        let labels = &["webhook"];
        let metrics = Self {
            deliveries: group.counter_vec(
                "ldk_server_webhook_deliveries_total",
                "Webhook delivery attempts, by webhook and outcome (delivered, rejected, unreachable)",
                &["webhook", "outcome"],
            ),
            delivered_sequence: group.gauge_vec(
                "ldk_server_webhook_delivered_sequence",
                "Event log sequence a webhook has delivered (or skipped by its kinds) through",
                labels,
            ),
            lag_events: group.gauge_vec(
                "ldk_server_webhook_lag_events",
                "Events recorded in the log after a webhook's cursor (not all may match its kinds)",
                labels,
            ),
            lag_seconds: group.gauge_vec(
                "ldk_server_webhook_lag_seconds",
                "Age of the oldest event a webhook still has to deliver (0 when caught up)",
                labels,
            ),
            failing_attempts: group.gauge_vec(
                "ldk_server_webhook_failing_attempts",
                "Failed attempts in a row at a webhook's current event (0 when the last succeeded)",
                labels,
            ),
            skipped: group.counter_vec(
                "ldk_server_webhook_skipped_events_total",
                "Events pruned from the log before a webhook delivered them (retention_max_events)",
                labels,
            ),
        };
        group.register_open(registry);
        metrics
    }

    /// Makes every series of `webhook` exist, at 0.
    pub fn register_webhook(&self, webhook: &str) {
        for outcome in DeliveryOutcome::ALL {
            self.deliveries
                .with_label_values(&[webhook, outcome.label()])
                .inc_by(0);
        }
        self.skipped.with_label_values(&[webhook]).inc_by(0);
        self.failing_attempts.with_label_values(&[webhook]).set(0);
        self.lag_events.with_label_values(&[webhook]).set(0);
        self.lag_seconds.with_label_values(&[webhook]).set(0);
    }

    /// One delivery attempt ended with `outcome`; `failing` attempts in a row have failed.
    pub fn record_attempt(&self, webhook: &str, outcome: DeliveryOutcome, failing: u64) {
        self.deliveries
            .with_label_values(&[webhook, outcome.label()])
            .inc();
        self.failing_attempts
            .with_label_values(&[webhook])
            .set(gauge_value(failing));
    }

    /// Where the webhook stands: its cursor, the log's newest sequence, and the recording time
    /// of the next event it has to deliver (`None` when caught up).
    pub fn record_position(
        &self,
        webhook: &str,
        cursor: u64,
        newest: u64,
        next_recorded_at: Option<i64>,
    ) {
        self.delivered_sequence
            .with_label_values(&[webhook])
            .set(gauge_value(cursor));
        self.lag_events
            .with_label_values(&[webhook])
            .set(gauge_value(newest.saturating_sub(cursor)));
        let age = next_recorded_at.map_or(0, |recorded_at| {
            (gauge_value(crate::auth::unix_now()) - recorded_at).max(0)
        });
        self.lag_seconds.with_label_values(&[webhook]).set(age);
    }

    /// `count` events were pruned before the webhook delivered them.
    pub fn record_skipped(&self, webhook: &str, count: u64) {
        self.skipped.with_label_values(&[webhook]).inc_by(count);
    }
}

fn gauge_value(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
