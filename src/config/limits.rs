//! `[limits]` (ours): what the transport allows a client before and after it authenticates.
//!
//! Every key is optional and has the default an operator facing the Internet would pick; a
//! value of 0 is refused (it would mean "nothing is allowed", which is never what is meant).

use std::time::Duration;

use serde::Deserialize;

use super::error::ConfigError;

/// `[limits]` as written in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsSection {
    pub max_connections: Option<u64>,
    pub tls_handshake_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub keepalive_interval_secs: Option<u64>,
    pub keepalive_timeout_secs: Option<u64>,
    pub max_concurrent_streams: Option<u64>,
    pub max_header_list_bytes: Option<u64>,
    pub max_local_error_resets: Option<u64>,
    pub max_pending_accept_resets: Option<u64>,
    pub unauthenticated_body_bytes: Option<u64>,
    pub unauthenticated_body_bytes_per_address: Option<u64>,
    pub body_read_timeout_secs: Option<u64>,
    pub auth_failures_burst: Option<u64>,
    pub auth_failures_per_minute: Option<u64>,
}

/// The transport's limits, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once, TLS handshakes included (`max_connections`, 1024); one more is
    /// closed as soon as it is accepted.
    pub max_connections: u32,
    /// Time a client has to complete the TLS handshake (`tls_handshake_timeout_secs`, 10).
    pub tls_handshake_timeout: Duration,
    /// A connection with no call in progress is closed (GOAWAY) after this long
    /// (`idle_timeout_secs`, 300). An open `SubscribeEvents` stream is a call in progress.
    pub idle_timeout: Duration,
    /// HTTP/2 PING sent on a connection quiet for this long (`keepalive_interval_secs`, 60).
    pub keepalive_interval: Duration,
    /// A PING unanswered for this long closes the connection (`keepalive_timeout_secs`, 20).
    pub keepalive_timeout: Duration,
    /// Concurrent streams per connection (`max_concurrent_streams`, 1024: a client may hold
    /// many event streams; what each unverified stream may cost is bounded by the budget).
    pub max_concurrent_streams: u32,
    /// Largest header list a client may send, in bytes (`max_header_list_bytes`, 16384).
    pub max_header_list_bytes: u32,
    /// Streams a client may make the server reset for protocol errors before the connection is
    /// closed with GOAWAY (`max_local_error_resets`, 256).
    pub max_local_error_resets: usize,
    /// Streams reset by the client before the server saw them, queued at once
    /// (`max_pending_accept_resets`, 20).
    pub max_pending_accept_resets: usize,
    /// Request-body bytes held, across the whole server, for requests whose signature covers
    /// the body and so is not verified yet, each request also charged 16 KiB for itself
    /// (`unauthenticated_body_bytes`, 64 MiB: five addresses' full shares).
    pub unauthenticated_body_bytes: usize,
    /// The share of that budget one source address may hold
    /// (`unauthenticated_body_bytes_per_address`, 11 MiB: one largest request and change).
    pub unauthenticated_body_bytes_per_address: usize,
    /// Time a client has to send a request's whole body (`body_read_timeout_secs`, 30).
    pub body_read_timeout: Duration,
    /// Failed authentications a source address may make in a burst (`auth_failures_burst`, 20).
    pub auth_failures_burst: u32,
    /// Failed authentications a source address regains per minute (`auth_failures_per_minute`,
    /// 60).
    pub auth_failures_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            tls_handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            keepalive_interval: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(20),
            max_concurrent_streams: 1024,
            max_header_list_bytes: 16 * 1024,
            max_local_error_resets: 256,
            max_pending_accept_resets: 20,
            unauthenticated_body_bytes: 64 * 1024 * 1024,
            unauthenticated_body_bytes_per_address: 11 * 1024 * 1024,
            body_read_timeout: Duration::from_secs(30),
            auth_failures_burst: 20,
            auth_failures_per_minute: 60,
        }
    }
}

/// Applies the file's `[limits]` over the defaults.
pub(crate) fn resolve(section: &LimitsSection) -> Result<Limits, ConfigError> {
    let defaults = Limits::default();
    Ok(Limits {
        max_connections: count(
            "max_connections",
            section.max_connections,
            defaults.max_connections,
        )?,
        tls_handshake_timeout: seconds(
            "tls_handshake_timeout_secs",
            section.tls_handshake_timeout_secs,
            defaults.tls_handshake_timeout,
        )?,
        idle_timeout: seconds(
            "idle_timeout_secs",
            section.idle_timeout_secs,
            defaults.idle_timeout,
        )?,
        keepalive_interval: seconds(
            "keepalive_interval_secs",
            section.keepalive_interval_secs,
            defaults.keepalive_interval,
        )?,
        keepalive_timeout: seconds(
            "keepalive_timeout_secs",
            section.keepalive_timeout_secs,
            defaults.keepalive_timeout,
        )?,
        max_concurrent_streams: count(
            "max_concurrent_streams",
            section.max_concurrent_streams,
            defaults.max_concurrent_streams,
        )?,
        max_header_list_bytes: count(
            "max_header_list_bytes",
            section.max_header_list_bytes,
            defaults.max_header_list_bytes,
        )?,
        max_local_error_resets: count(
            "max_local_error_resets",
            section.max_local_error_resets,
            defaults.max_local_error_resets,
        )?,
        max_pending_accept_resets: count(
            "max_pending_accept_resets",
            section.max_pending_accept_resets,
            defaults.max_pending_accept_resets,
        )?,
        unauthenticated_body_bytes: count(
            "unauthenticated_body_bytes",
            section.unauthenticated_body_bytes,
            defaults.unauthenticated_body_bytes,
        )?,
        unauthenticated_body_bytes_per_address: count(
            "unauthenticated_body_bytes_per_address",
            section.unauthenticated_body_bytes_per_address,
            defaults.unauthenticated_body_bytes_per_address,
        )?,
        body_read_timeout: seconds(
            "body_read_timeout_secs",
            section.body_read_timeout_secs,
            defaults.body_read_timeout,
        )?,
        auth_failures_burst: count(
            "auth_failures_burst",
            section.auth_failures_burst,
            defaults.auth_failures_burst,
        )?,
        auth_failures_per_minute: count(
            "auth_failures_per_minute",
            section.auth_failures_per_minute,
            defaults.auth_failures_per_minute,
        )?,
    })
}

/// A positive whole number that fits `T`, or the default.
fn count<T: TryFrom<u64>>(key: &str, given: Option<u64>, default: T) -> Result<T, ConfigError> {
    let Some(value) = given else {
        return Ok(default);
    };
    if value == 0 {
        return Err(ConfigError::new(
            format!("limits.{key}"),
            "must be greater than 0",
        ));
    }
    T::try_from(value)
        .map_err(|_| ConfigError::new(format!("limits.{key}"), format!("{value} is too large")))
}

/// A positive number of seconds (at most a day), or the default.
fn seconds(key: &str, given: Option<u64>, default: Duration) -> Result<Duration, ConfigError> {
    const ONE_DAY_SECS: u64 = 86_400;
    match given {
        None => Ok(default),
        Some(secs) if secs > ONE_DAY_SECS => Err(ConfigError::new(
            format!("limits.{key}"),
            format!("{secs} s is more than a day ({ONE_DAY_SECS} s)"),
        )),
        Some(secs) => Ok(Duration::from_secs(count(key, Some(secs), 1u64)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_table_gives_the_defaults() {
        assert_eq!(
            resolve(&LimitsSection::default()).unwrap(),
            Limits::default()
        );
    }

    #[test]
    fn given_values_win_and_zero_is_refused() {
        let section = LimitsSection {
            max_connections: Some(5),
            idle_timeout_secs: Some(2),
            ..LimitsSection::default()
        };
        let limits = resolve(&section).unwrap();
        assert_eq!(limits.max_connections, 5);
        assert_eq!(limits.idle_timeout, Duration::from_secs(2));
        let zero = LimitsSection {
            max_concurrent_streams: Some(0),
            ..LimitsSection::default()
        };
        assert_eq!(
            resolve(&zero).unwrap_err().key,
            "limits.max_concurrent_streams"
        );
        let huge = LimitsSection {
            max_header_list_bytes: Some(u64::from(u32::MAX) + 1),
            ..LimitsSection::default()
        };
        assert_eq!(
            resolve(&huge).unwrap_err().key,
            "limits.max_header_list_bytes"
        );
        let long = LimitsSection {
            body_read_timeout_secs: Some(86_401),
            ..LimitsSection::default()
        };
        assert!(resolve(&long).is_err());
    }
}
