//! The `api.LightningNode` service: one module per group of RPCs.
//!
//! The transport stays thin: each RPC is a function `(context, request) -> ApiResult<response>`;
//! this module only wires them into the generated tonic trait and turns [`ApiError`]s into
//! gRPC statuses.

pub mod bolt11;
pub mod bolt12;
pub mod channels;
pub mod decode;
pub mod events;
pub mod failure_context;
pub mod graph;
pub mod node_info;
pub mod onchain;
pub mod payments;
pub mod peers;
pub mod send;
pub mod unified;

use std::sync::Arc;

use ldk_node::bitcoin::Network;
use ldk_node::Node;
use tokio::sync::{broadcast, watch};
use tonic::{Request, Response, Status};

use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::node::NodeHandle;
use crate::proto::api::lightning_node_server::LightningNode;
use crate::proto::api::*;
use crate::proto::events::EventEnvelope;
use crate::store::PaymentStore;

/// Everything an RPC handler may use.
pub struct ApiContext {
    /// The node, once it runs.
    pub node: Arc<NodeHandle>,
    /// Payment and forwarding history.
    pub store: Arc<PaymentStore>,
    /// Live events, fanned out to `SubscribeEvents` streams.
    pub events: broadcast::Sender<EventEnvelope>,
    /// Turns `true` when the server begins to shut down.
    pub shutdown: watch::Receiver<bool>,
    /// The chain the node runs on (known before the node starts).
    pub network: Network,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Whether gossip comes over P2P (no Rapid Gossip Sync server), which shows in our features.
    pub gossip_via_p2p: bool,
}

impl ApiContext {
    /// The running node, or UNAVAILABLE.
    pub fn node(&self) -> ApiResult<Arc<Node>> {
        self.node.running()
    }

    /// Runs `work` on the running node on a blocking thread, so ldk-node calls that block (sends,
    /// channel opens, syncs) never stall the async reactor.
    pub async fn blocking<T, F>(&self, work: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Node) -> ApiResult<T> + Send + 'static,
    {
        let node = self.node()?;
        let method = crate::fault::current_rpc();
        let outcome = tokio::task::spawn_blocking(move || {
            crate::fault::on_blocking_thread(method, || work(&node))
        })
        .await;
        match outcome {
            Ok(result) => result,
            // The panic hook has marked the node faulted; the server is stopping.
            Err(error) if error.is_panic() => Err(self.node().err().unwrap_or_else(|| {
                ApiError::Unavailable("node fault: a panic in an ldk-node call".to_owned())
            })),
            Err(error) => Err(ApiError::internal(format!("request task failed: {error}"))),
        }
    }

    /// Runs blocking store work off the reactor.
    pub async fn with_store<T, F>(&self, work: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&PaymentStore) -> ApiResult<T> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|error| ApiError::internal(format!("store task failed: {error}")))?
    }
}

/// The tonic service: a shared [`ApiContext`].
#[derive(Clone)]
pub struct ApiService {
    ctx: Arc<ApiContext>,
}

impl ApiService {
    /// Wraps the context.
    pub fn new(ctx: Arc<ApiContext>) -> Self {
        Self { ctx }
    }
}

/// A method's wire name from its request type's name: `GetNodeInfoRequest` → `GetNodeInfo`.
pub const fn rpc_method_name(request_type: &'static str) -> &'static str {
    const SUFFIX: usize = "Request".len();
    match request_type.split_at_checked(request_type.len() - SUFFIX) {
        Some((name, _)) => name,
        None => request_type,
    }
}

fn respond<T>(result: ApiResult<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

/// Implements the generated trait: every unary RPC forwards to its handler function.
macro_rules! lightning_node_service {
    ($($method:ident($request:ident) -> $response:ty => $handler:path;)*) => {
        /// The wire names of every method of the service (`GetNodeInfo`, …, `SubscribeEvents`).
        pub const RPC_METHODS: &[&str] = &[
            $(rpc_method_name(stringify!($request)),)*
            "SubscribeEvents",
        ];

        #[tonic::async_trait]
        impl LightningNode for ApiService {
            $(
                async fn $method(
                    &self,
                    request: Request<$request>,
                ) -> Result<Response<$response>, Status> {
                    let method = rpc_method_name(stringify!($request));
                    let caller = request.extensions().get::<crate::keys::Caller>().cloned();
                    let handler = $handler(&self.ctx, request.into_inner());
                    let handler = crate::fault::rpc_scope(method, handler);
                    respond(crate::keys::with_caller(caller, handler).await)
                }
            )*

            type SubscribeEventsStream = events::EventStream;

            async fn subscribe_events(
                &self,
                request: Request<SubscribeEventsRequest>,
            ) -> Result<Response<Self::SubscribeEventsStream>, Status> {
                respond(events::subscribe(&self.ctx, request.into_inner()).await)
            }
        }
    };
}

lightning_node_service! {
    get_node_info(GetNodeInfoRequest) -> GetNodeInfoResponse => node_info::get_node_info;
    get_balances(GetBalancesRequest) -> GetBalancesResponse => node_info::get_balances;
    sign_message(SignMessageRequest) -> SignMessageResponse => node_info::sign_message;
    verify_signature(VerifySignatureRequest) -> VerifySignatureResponse => node_info::verify_signature;
    export_pathfinding_scores(ExportPathfindingScoresRequest) -> ExportPathfindingScoresResponse => node_info::export_pathfinding_scores;
    onchain_receive(OnchainReceiveRequest) -> OnchainReceiveResponse => onchain::receive;
    onchain_send(OnchainSendRequest) -> OnchainSendResponse => onchain::send;
    bolt11_receive(Bolt11ReceiveRequest) -> Bolt11ReceiveResponse => bolt11::receive;
    bolt11_receive_for_hash(Bolt11ReceiveForHashRequest) -> Bolt11ReceiveForHashResponse => bolt11::receive_for_hash;
    bolt11_claim_for_hash(Bolt11ClaimForHashRequest) -> Bolt11ClaimForHashResponse => bolt11::claim_for_hash;
    bolt11_fail_for_hash(Bolt11FailForHashRequest) -> Bolt11FailForHashResponse => bolt11::fail_for_hash;
    bolt11_receive_via_jit_channel(Bolt11ReceiveViaJitChannelRequest) -> Bolt11ReceiveViaJitChannelResponse => bolt11::receive_via_jit_channel;
    bolt11_receive_variable_amount_via_jit_channel(Bolt11ReceiveVariableAmountViaJitChannelRequest) -> Bolt11ReceiveVariableAmountViaJitChannelResponse => bolt11::receive_variable_amount_via_jit_channel;
    bolt11_send(Bolt11SendRequest) -> Bolt11SendResponse => bolt11::send;
    bolt11_send_underpaying(Bolt11SendUnderpayingRequest) -> Bolt11SendUnderpayingResponse => bolt11::send_underpaying;
    bolt12_receive(Bolt12ReceiveRequest) -> Bolt12ReceiveResponse => bolt12::receive;
    bolt12_send(Bolt12SendRequest) -> Bolt12SendResponse => bolt12::send;
    spontaneous_send(SpontaneousSendRequest) -> SpontaneousSendResponse => send::spontaneous_send;
    unified_send(UnifiedSendRequest) -> UnifiedSendResponse => unified::send;
    open_channel(OpenChannelRequest) -> OpenChannelResponse => channels::open;
    splice_in(SpliceInRequest) -> SpliceInResponse => channels::splice_in;
    splice_out(SpliceOutRequest) -> SpliceOutResponse => channels::splice_out;
    update_channel_config(UpdateChannelConfigRequest) -> UpdateChannelConfigResponse => channels::update_config;
    close_channel(CloseChannelRequest) -> CloseChannelResponse => channels::close;
    force_close_channel(ForceCloseChannelRequest) -> ForceCloseChannelResponse => channels::force_close;
    list_channels(ListChannelsRequest) -> ListChannelsResponse => channels::list;
    get_payment_details(GetPaymentDetailsRequest) -> GetPaymentDetailsResponse => payments::get_details;
    list_payments(ListPaymentsRequest) -> ListPaymentsResponse => payments::list;
    list_forwarded_payments(ListForwardedPaymentsRequest) -> ListForwardedPaymentsResponse => payments::list_forwarded;
    connect_peer(ConnectPeerRequest) -> ConnectPeerResponse => peers::connect;
    disconnect_peer(DisconnectPeerRequest) -> DisconnectPeerResponse => peers::disconnect;
    list_peers(ListPeersRequest) -> ListPeersResponse => peers::list;
    decode_invoice(DecodeInvoiceRequest) -> DecodeInvoiceResponse => decode::invoice;
    decode_offer(DecodeOfferRequest) -> DecodeOfferResponse => decode::offer;
    graph_list_channels(GraphListChannelsRequest) -> GraphListChannelsResponse => graph::list_channels;
    graph_get_channel(GraphGetChannelRequest) -> GraphGetChannelResponse => graph::get_channel;
    graph_list_nodes(GraphListNodesRequest) -> GraphListNodesResponse => graph::list_nodes;
    graph_get_node(GraphGetNodeRequest) -> GraphGetNodeResponse => graph::get_node;
}
