//! `api_request`: every unary RPC of `api.LightningNode`, fed an arbitrary request message.
//!
//! Input layout: one byte choosing the method (an index into the unary methods of
//! [`RPC_METHODS`], modulo their number, so an RPC added to the service is fuzzed with no change
//! here), then the protobuf bytes of its request. They go, as a gRPC frame, through the
//! generated `LightningNodeServer` over the real [`ApiService`]: the codec decodes the message
//! with prost and the handler parses and validates every field as it does in the server. The
//! node is never started (its handle stays `Starting`), so a request that passes validation ends
//! at the node gate with UNAVAILABLE, while the RPCs that need no node (ListPayments and
//! ListForwardedPayments on an empty temporary store, DecodeInvoice, DecodeOffer) run to the end.
//!
//! Invariants: no request panics the service; the status is one the API promises for bad input
//! (never INTERNAL or UNKNOWN); every error carries a message.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use ldk_node::bitcoin::Network;
use ldk_server::api::events::EVENT_CHANNEL_CAPACITY;
use ldk_server::api::{ApiContext, ApiService, RPC_METHODS};
use ldk_server::metrics::Metrics;
use ldk_server::node::NodeHandle;
use ldk_server::proto::api::lightning_node_server::{LightningNodeServer, SERVICE_NAME};
use ldk_server::store::PaymentStore;
use tempfile::TempDir;
use tokio::runtime::Runtime;
use tokio::sync::{broadcast, watch};
use tonic::{Code, Status};
use tower_service::Service;

/// The server-streaming method, which a single request/response call cannot exercise.
const STREAMING_METHOD: &str = "SubscribeEvents";

/// Status codes a request may end with when the node is not running.
const ALLOWED_CODES: [Code; 6] = [
    Code::Ok,
    Code::InvalidArgument,
    Code::FailedPrecondition,
    Code::OutOfRange,
    Code::Unavailable,
    Code::Unimplemented,
];

/// The unary methods, in [`RPC_METHODS`] order: the method byte indexes this list.
pub fn unary_methods() -> Vec<&'static str> {
    RPC_METHODS
        .iter()
        .copied()
        .filter(|method| *method != STREAMING_METHOD)
        .collect()
}

/// A service over a node that never starts, with its runtime and store.
pub struct ApiHarness {
    runtime: Runtime,
    service: LightningNodeServer<ApiService>,
    methods: Vec<&'static str>,
    _shutdown: watch::Sender<bool>,
    _store_dir: TempDir,
}

impl ApiHarness {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let store_dir = tempfile::tempdir().expect("a temporary store directory");
        let store = PaymentStore::open(store_dir.path()).expect("opening the store");
        let (shutdown_sender, shutdown) = watch::channel(false);
        let ctx = ApiContext {
            node: Arc::new(NodeHandle::new()),
            store: Arc::new(store),
            events: broadcast::channel(EVENT_CHANNEL_CAPACITY).0,
            shutdown,
            network: Network::Regtest,
            metrics: Arc::new(Metrics::new(false)),
            gossip_via_p2p: true,
        };
        Self {
            runtime,
            service: LightningNodeServer::new(ApiService::new(Arc::new(ctx))),
            methods: unary_methods(),
            _shutdown: shutdown_sender,
            _store_dir: store_dir,
        }
    }

    /// Calls `method` with `message` as its request body and returns the final status.
    pub fn call(&self, method: &str, message: &[u8]) -> Status {
        let request = grpc_request(method, message);
        let mut service = self.service.clone();
        self.runtime.block_on(async move {
            let response = match service.call(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let (parts, body) = response.into_parts();
            if let Some(status) = Status::from_header_map(&parts.headers) {
                return status;
            }
            let collected = match body.collect().await {
                Ok(collected) => collected,
                Err(status) => return status,
            };
            collected
                .trailers()
                .and_then(Status::from_header_map)
                .unwrap_or_else(|| panic!("{method}: the response has no grpc-status"))
        })
    }
}

fn grpc_request(method: &str, message: &[u8]) -> http::Request<Full<Bytes>> {
    let length = u32::try_from(message.len()).expect("a fuzz input is below 4 GiB");
    let mut frame = Vec::with_capacity(5 + message.len());
    frame.push(0); // not compressed
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(message);
    http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("/{SERVICE_NAME}/{method}"))
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers")
        .body(Full::new(Bytes::from(frame)))
        .expect("a valid request")
}

fn harness() -> &'static ApiHarness {
    static HARNESS: OnceLock<ApiHarness> = OnceLock::new();
    HARNESS.get_or_init(ApiHarness::new)
}

/// Runs the check on one fuzz input.
pub fn check(data: &[u8]) {
    let Some((selector, message)) = data.split_first() else {
        return;
    };
    let harness = harness();
    let method = harness.methods[usize::from(*selector) % harness.methods.len()];
    let status = harness.call(method, message);
    assert!(
        ALLOWED_CODES.contains(&status.code()),
        "{method} answered {:?}: {}",
        status.code(),
        status.message()
    );
    if status.code() != Code::Ok {
        assert!(
            !status.message().trim().is_empty(),
            "{method} answered {:?} without a message",
            status.code()
        );
    }
}
