//! Per-RPC series: calls by method, key and gRPC status code, latency by method, and calls
//! refused for their scope by key and method.
//!
//! The `method` label only takes the service's own method names (anything else, e.g. a path
//! an unauthenticated client made up, is counted as `unknown`), so a client cannot grow the
//! number of series. The `key` label is the name of the key that signed the call (`none` before
//! authentication); only the first [`MAX_KEY_LABELS`] names get series of their own, later
//! ones share `other`, so creating keys cannot grow the series without bound either.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use prometheus::{HistogramVec, IntCounterVec, Registry};

use super::group::Group;

use crate::api::RPC_METHODS;

/// Latency buckets, seconds: from a cached read (≈1 ms) to a payment that waits for its route.
const DURATION_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The codes this server answers calls with (see `crate::error` and the gateway).
const ANSWERED_CODES: [tonic::Code; 10] = [
    tonic::Code::Ok,
    tonic::Code::PermissionDenied,
    tonic::Code::ResourceExhausted,
    tonic::Code::Unimplemented,
    tonic::Code::InvalidArgument,
    tonic::Code::FailedPrecondition,
    tonic::Code::Unavailable,
    tonic::Code::Unauthenticated,
    tonic::Code::DeadlineExceeded,
    tonic::Code::Internal,
];

/// The `method` label of calls to paths that are not methods of the service.
pub const UNKNOWN_METHOD: &str = "unknown";
/// The `key` label of calls refused before a key was authenticated.
pub const NO_KEY: &str = "none";
/// The `key` label shared by key names beyond [`MAX_KEY_LABELS`].
pub const OTHER_KEYS: &str = "other";
/// Most distinct key names with series of their own.
pub const MAX_KEY_LABELS: usize = 32;
/// The key management methods, counted by their own names.
const ADMIN_METHODS: [&str; 4] = crate::server::routes::ADMIN_METHODS;

/// The name Prometheus users know for a gRPC status code (as grpc-go's `codes.Code.String()`).
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "Canceled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

/// The per-RPC series.
pub struct RpcMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    permission_denied: IntCounterVec,
    key_labels: Mutex<HashSet<String>>,
}

impl RpcMetrics {
    /// Registers the series in `registry`, every method at zero.
    pub fn new(registry: &Registry) -> Self {
        let mut series = Group::default();
        let requests = series.counter_vec(
            "ldk_server_grpc_requests_total",
            "gRPC calls by method, key name and status code",
            &["method", "key", "code"],
        );
        let permission_denied = series.counter_vec(
            "ldk_server_permission_denied_total",
            "Calls refused with PERMISSION_DENIED (outside the key's scopes or budget), by key and method",
            &["key", "method"],
        );
        let duration = series.histogram_vec(
            "ldk_server_grpc_request_duration_seconds",
            "Time from a call's arrival to its response headers, by method",
            &DURATION_BUCKETS,
            &["method"],
        );
        series.register_open(registry);
        // Every method starts with a zero for each code this server answers with, and an empty
        // histogram, so that `rate()` and `histogram_quantile()` see the first call.
        for method in RPC_METHODS {
            for code in ANSWERED_CODES {
                requests
                    .with_label_values(&[method, "admin", code_name(code)])
                    .inc_by(0);
            }
            let _ = duration.with_label_values(&[method]);
        }
        Self {
            requests,
            duration,
            permission_denied,
            key_labels: Mutex::new(HashSet::new()),
        }
    }

    /// Records one call; `key` is the name of the key that signed it, if authenticated.
    pub fn observe(&self, method: &str, key: Option<&str>, code: tonic::Code, elapsed: Duration) {
        let method = known_method(method);
        let key = self.key_label(key);
        self.requests
            .with_label_values(&[method, key, code_name(code)])
            .inc();
        self.duration
            .with_label_values(&[method])
            .observe(elapsed.as_secs_f64());
    }

    /// Records a call refused for its key's scope or budget.
    pub fn observe_permission_denied(&self, key: &str, method: &str) {
        let key = self.key_label(Some(key));
        self.permission_denied
            .with_label_values(&[key, known_method(method)])
            .inc();
    }

    /// The bounded `key` label of a key name.
    fn key_label<'a>(&self, key: Option<&'a str>) -> &'a str {
        let Some(name) = key else {
            return NO_KEY;
        };
        let mut labels = self
            .key_labels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if labels.contains(name) {
            return name;
        }
        if labels.len() < MAX_KEY_LABELS {
            labels.insert(name.to_owned());
            return name;
        }
        OTHER_KEYS
    }
}

/// `method` if the service (or the key management service) has it, else [`UNKNOWN_METHOD`].
fn known_method(method: &str) -> &str {
    if RPC_METHODS.contains(&method) || ADMIN_METHODS.contains(&method) {
        method
    } else {
        UNKNOWN_METHOD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(known_method("GetNodeInfo"), "GetNodeInfo");
        assert_eq!(known_method("SubscribeEvents"), "SubscribeEvents");
        assert_eq!(known_method("../../etc/passwd"), UNKNOWN_METHOD);
        assert_eq!(RPC_METHODS.len(), 39);
    }

    #[test]
    fn key_labels_are_bounded() {
        let metrics = RpcMetrics::new(&Registry::new());
        assert_eq!(metrics.key_label(None), NO_KEY);
        for index in 0..MAX_KEY_LABELS {
            assert_eq!(
                metrics.key_label(Some(&format!("k{index}"))),
                format!("k{index}")
            );
        }
        assert_eq!(metrics.key_label(Some("k0")), "k0");
        assert_eq!(metrics.key_label(Some("late")), OTHER_KEYS);
    }

    #[test]
    fn code_names_match_grpc_go() {
        assert_eq!(code_name(tonic::Code::Ok), "OK");
        assert_eq!(code_name(tonic::Code::Cancelled), "Canceled");
        assert_eq!(code_name(tonic::Code::Unavailable), "Unavailable");
    }
}
