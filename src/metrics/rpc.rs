//! Per-RPC series: calls by method and gRPC status code, and latency by method.
//!
//! The `method` label only takes the service's own method names (anything else, e.g. a path
//! an unauthenticated client made up, is counted as `unknown`), so a client cannot grow the
//! number of series.

use std::time::Duration;

use prometheus::{HistogramVec, IntCounterVec, Registry};

use super::group::Group;

use crate::api::RPC_METHODS;

/// Latency buckets, seconds: from a cached read (≈1 ms) to a payment that waits for its route.
const DURATION_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The codes this server answers calls with (see `crate::error` and the gateway).
const ANSWERED_CODES: [tonic::Code; 9] = [
    tonic::Code::Ok,
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
}

impl RpcMetrics {
    /// Registers the series in `registry`, every method at zero.
    pub fn new(registry: &Registry) -> Self {
        let mut series = Group::default();
        let requests = series.counter_vec(
            "ldk_server_grpc_requests_total",
            "gRPC calls by method and status code",
            &["method", "code"],
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
                    .with_label_values(&[method, code_name(code)])
                    .inc_by(0);
            }
            let _ = duration.with_label_values(&[method]);
        }
        Self { requests, duration }
    }

    /// Records one call.
    pub fn observe(&self, method: &str, code: tonic::Code, elapsed: Duration) {
        let method = known_method(method);
        self.requests
            .with_label_values(&[method, code_name(code)])
            .inc();
        self.duration
            .with_label_values(&[method])
            .observe(elapsed.as_secs_f64());
    }
}

/// `method` if the service has it, else [`UNKNOWN_METHOD`].
fn known_method(method: &str) -> &str {
    if RPC_METHODS.contains(&method) {
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
    fn code_names_match_grpc_go() {
        assert_eq!(code_name(tonic::Code::Ok), "OK");
        assert_eq!(code_name(tonic::Code::Cancelled), "Canceled");
        assert_eq!(code_name(tonic::Code::Unavailable), "Unavailable");
    }
}
