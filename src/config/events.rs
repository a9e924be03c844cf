//! `[events]` (ours): how long the durable event log keeps events, and the live buffer.
//!
//! The log keeps every event for `retention_days` (default 30) and at most
//! `retention_max_events` of them (default 10,000,000, a few GB at most); older ones are pruned in the
//! background. Webhooks hold back age-based pruning of what they have not delivered yet; the
//! count limit holds whatever happens, so one dead endpoint cannot fill the disk.

use std::time::Duration;

use serde::Deserialize;

use super::error::ConfigError;

/// `[events]` as written in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsSection {
    pub retention_days: Option<u64>,
    pub retention_max_events: Option<u64>,
    pub live_buffer_events: Option<u64>,
    pub prune_interval_secs: Option<u64>,
}

/// The event log's settings, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    /// Events older than this are pruned (`retention_days`, 30).
    pub retention: Duration,
    /// At most this many events are kept (`retention_max_events`, 10,000,000).
    pub retention_max_events: u64,
    /// Live events buffered per subscriber before it falls back to reading the log
    /// (`live_buffer_events`, 1024).
    pub live_buffer_events: usize,
    /// How often pruning runs (`prune_interval_secs`, 600); it also runs at startup.
    pub prune_interval: Duration,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(30 * 86_400),
            retention_max_events: 10_000_000,
            live_buffer_events: crate::api::events::EVENT_CHANNEL_CAPACITY,
            prune_interval: Duration::from_secs(600),
        }
    }
}

/// Checks `[events]`: every value positive; retention at most 100 years.
pub(crate) fn resolve(section: &EventsSection) -> Result<EventsConfig, ConfigError> {
    let defaults = EventsConfig::default();
    let positive = |key: &str, value: Option<u64>| match value {
        Some(0) => Err(ConfigError::new(
            format!("events.{key}"),
            "must be greater than 0",
        )),
        other => Ok(other),
    };
    let retention = match positive("retention_days", section.retention_days)? {
        None => defaults.retention,
        Some(days) if days > 36_500 => {
            return Err(ConfigError::new(
                "events.retention_days",
                format!("{days} days is more than 100 years"),
            ))
        }
        Some(days) => Duration::from_secs(days * 86_400),
    };
    let live_buffer_events = match positive("live_buffer_events", section.live_buffer_events)? {
        None => defaults.live_buffer_events,
        Some(events) if events > 1_000_000 => {
            return Err(ConfigError::new(
                "events.live_buffer_events",
                format!("{events} is more than 1000000"),
            ))
        }
        Some(events) => usize::try_from(events).unwrap_or(defaults.live_buffer_events),
    };
    Ok(EventsConfig {
        retention,
        retention_max_events: positive("retention_max_events", section.retention_max_events)?
            .unwrap_or(defaults.retention_max_events),
        live_buffer_events,
        prune_interval: positive("prune_interval_secs", section.prune_interval_secs)?
            .map_or(defaults.prune_interval, Duration::from_secs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_table_gives_the_defaults() {
        assert_eq!(
            resolve(&EventsSection::default()).unwrap(),
            EventsConfig::default()
        );
    }

    #[test]
    fn values_are_taken_and_zero_or_absurd_ones_refused() {
        let section = EventsSection {
            retention_days: Some(7),
            retention_max_events: Some(500),
            live_buffer_events: Some(4),
            prune_interval_secs: Some(2),
        };
        let config = resolve(&section).unwrap();
        assert_eq!(config.retention, Duration::from_secs(7 * 86_400));
        assert_eq!(
            (config.retention_max_events, config.live_buffer_events),
            (500, 4)
        );
        assert_eq!(config.prune_interval, Duration::from_secs(2));
        for section in [
            EventsSection {
                retention_days: Some(0),
                ..Default::default()
            },
            EventsSection {
                retention_days: Some(40_000),
                ..Default::default()
            },
            EventsSection {
                live_buffer_events: Some(0),
                ..Default::default()
            },
        ] {
            let error = resolve(&section).unwrap_err().to_string();
            assert!(error.contains("events."), "{error}");
        }
    }
}
