//! Connection series of the gRPC listener: open connections, and closed ones by reason.

use prometheus::{IntCounterVec, IntGauge, Registry};

use super::group::Group;

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Refused at accept: `max_connections` were open.
    Limit,
    /// Refused at accept: the source address is throttled for its failures.
    Throttled,
    /// The TLS handshake did not finish in time.
    HandshakeTimeout,
    /// The TLS handshake failed (no h2 ALPN, bad record, plaintext …).
    HandshakeFailed,
    /// Closed by the server after `idle_timeout` with no open call.
    Idle,
    /// Closed because the server shuts down.
    Shutdown,
    /// Ended by an HTTP/2 protocol error (including too many error resets).
    ProtocolError,
    /// Closed by the client.
    Client,
}

impl CloseReason {
    const ALL: [CloseReason; 8] = [
        Self::Limit,
        Self::Throttled,
        Self::HandshakeTimeout,
        Self::HandshakeFailed,
        Self::Idle,
        Self::Shutdown,
        Self::ProtocolError,
        Self::Client,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Limit => "limit",
            Self::Throttled => "throttled",
            Self::HandshakeTimeout => "handshake_timeout",
            Self::HandshakeFailed => "handshake_failed",
            Self::Idle => "idle",
            Self::Shutdown => "shutdown",
            Self::ProtocolError => "protocol_error",
            Self::Client => "client",
        }
    }
}

/// The listener's connection series.
pub struct TransportMetrics {
    open: IntGauge,
    closed: IntCounterVec,
}

impl TransportMetrics {
    /// Creates and registers the series; every reason starts at 0.
    pub fn new(registry: &Registry) -> Self {
        let mut group = Group::default();
        let open = group.gauge(
            "ldk_server_connections_open",
            "Connections open on the gRPC listener, TLS handshakes included",
        );
        let closed = group.counter_vec(
            "ldk_server_connections_closed_total",
            "Connections of the gRPC listener that ended, by reason",
            &["reason"],
        );
        group.register_open(registry);
        for reason in CloseReason::ALL {
            closed.with_label_values(&[reason.label()]).inc_by(0);
        }
        Self { open, closed }
    }

    /// Counts a connection as open until the guard is dropped.
    pub fn open(&self) -> OpenConnection {
        self.open.inc();
        OpenConnection(self.open.clone())
    }

    /// Counts a connection that ended.
    pub fn closed(&self, reason: CloseReason) {
        self.closed.with_label_values(&[reason.label()]).inc();
    }
}

/// Keeps `ldk_server_connections_open` counting one connection.
pub struct OpenConnection(IntGauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}
