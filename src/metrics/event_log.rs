//! Series of the durable event log: its span, size and pruning.

use prometheus::{IntCounter, IntGauge, Registry};

use super::group::Group;
use crate::store::event_log::{LogBounds, Pruned};

/// The event log's series.
pub struct EventLogMetrics {
    oldest: IntGauge,
    newest: IntGauge,
    rows: IntGauge,
    pruned: IntCounter,
    pruned_undelivered: IntCounter,
}

impl EventLogMetrics {
    /// Creates and registers the series.
    pub fn new(registry: &Registry) -> Self {
        let mut group = Group::default();
        let metrics = Self {
            oldest: group.gauge(
                "ldk_server_event_log_oldest_sequence",
                "Sequence number of the oldest event kept in the event log (0 when empty)",
            ),
            newest: group.gauge(
                "ldk_server_event_log_newest_sequence",
                "Sequence number of the newest event recorded in the event log",
            ),
            rows: group.gauge(
                "ldk_server_event_log_rows",
                "Events kept in the event log (counted when it is pruned)",
            ),
            pruned: group.counter(
                "ldk_server_event_log_pruned_total",
                "Events deleted from the event log by retention",
            ),
            pruned_undelivered: group.counter(
                "ldk_server_event_log_pruned_undelivered_total",
                "Events deleted by the count limit before every webhook had delivered them",
            ),
        };
        group.register_open(registry);
        metrics
    }

    /// An event was recorded with `sequence`.
    pub fn record_appended(&self, sequence: u64) {
        self.newest.set(gauge_value(sequence));
    }

    /// The log's span and size after pruning `pruned`.
    pub fn record_pruned(&self, pruned: Pruned, bounds: LogBounds, rows: u64) {
        self.pruned.inc_by(pruned.deleted);
        self.pruned_undelivered.inc_by(pruned.undelivered);
        self.oldest.set(gauge_value(bounds.oldest.unwrap_or(0)));
        self.newest.set(gauge_value(bounds.newest));
        self.rows.set(gauge_value(rows));
    }
}

fn gauge_value(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
