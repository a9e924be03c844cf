//! The tools: one per unary RPC of `api.LightningNode`, with upstream's snake_case names,
//! plus `wait_for_event` (see [`super::wait`]).
//!
//! Each tool says what it does to the node (its MCP annotations) and whether it moves funds;
//! spending tools are offered only with `--allow-spending`.

use std::time::Duration;

use serde_json::Value;

use super::arguments;
use super::tool_error::ToolError;
use crate::api::rpc_method_name;
use crate::client::LdkServerClient;
use crate::proto::api::*;

/// What a tool does to the node and the world, for the MCP annotations and the spending gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effects {
    /// Changes nothing (`readOnlyHint`).
    pub read_only: bool,
    /// May undo or destroy something: a payment sent, a channel closed (`destructiveHint`).
    pub destructive: bool,
    /// Calling it again with the same arguments has no further effect (`idempotentHint`).
    pub idempotent: bool,
    /// Talks to other nodes or the chain (`openWorldHint`).
    pub open_world: bool,
    /// Moves funds out of the wallet or the channels: offered only with `--allow-spending`.
    pub spending: bool,
}

/// Reads the node's state.
const READ: Effects = Effects {
    read_only: true,
    destructive: false,
    idempotent: true,
    open_world: false,
    spending: false,
};
/// Creates something new to receive with (an address, an invoice, an offer).
const RECEIVE: Effects = Effects {
    read_only: false,
    destructive: false,
    idempotent: false,
    open_world: false,
    spending: false,
};
/// Sends funds: irreversible.
const SEND: Effects = Effects {
    read_only: false,
    destructive: true,
    idempotent: false,
    open_world: true,
    spending: true,
};
/// Commits wallet funds to a channel.
const FUND_CHANNEL: Effects = Effects {
    read_only: false,
    destructive: false,
    idempotent: false,
    open_world: true,
    spending: true,
};
/// Ends a channel or refuses a payment: cannot be undone.
const END: Effects = Effects {
    read_only: false,
    destructive: true,
    idempotent: true,
    open_world: true,
    spending: false,
};
/// Settles something held or changes a setting or a connection.
const SETTLE: Effects = Effects {
    read_only: false,
    destructive: false,
    idempotent: true,
    open_world: true,
    spending: false,
};

/// One tool.
#[derive(Debug, Clone, Copy)]
pub struct ToolSpec {
    /// The tool's name (upstream's, snake_case).
    pub name: &'static str,
    /// The RPC of `api.LightningNode` it calls.
    pub rpc: &'static str,
    /// The full name of the request message (its fields are the arguments).
    pub request: &'static str,
    /// The full name of the response message (its fields are the result).
    pub response: &'static str,
    /// What it does.
    pub description: &'static str,
    /// What it does to the node.
    pub effects: Effects,
}

/// RPCs of `api.LightningNode` that have no tool of their own, and why.
pub const EXCLUDED_RPCS: &[(&str, &str)] = &[(
    "SubscribeEvents",
    "a server stream, which an MCP tool call cannot be: `wait_for_event` waits for one event \
     of it (with the same kinds and resume point) and returns it",
)];

macro_rules! tool_catalog {
    ($($name:literal => $method:ident($request:ident) -> $response:ident, $effects:ident, $description:literal;)*) => {
        /// Every RPC tool, in the service's order.
        pub const TOOLS: &[ToolSpec] = &[
            $(ToolSpec {
                name: $name,
                rpc: rpc_method_name(stringify!($request)),
                request: concat!("api.", stringify!($request)),
                response: concat!("api.", stringify!($response)),
                description: $description,
                effects: $effects,
            },)*
        ];

        /// Calls `rpc` with `arguments` (already shaped by [`arguments::prepare`]) within
        /// `timeout` and returns the response as JSON.
        pub async fn call(
            client: &mut LdkServerClient,
            rpc: &str,
            arguments: Value,
            timeout: Duration,
        ) -> Result<Value, ToolError> {
            match rpc {
                $(_ if rpc == rpc_method_name(stringify!($request)) => {
                    let mut request = tonic::Request::new(arguments::decode::<$request>(arguments)?);
                    request.set_timeout(timeout);
                    let response = client.$method(request).await?.into_inner();
                    arguments::encode(&response)
                })*
                _ => Err(ToolError::internal(format!("no client call for {rpc}"))),
            }
        }

        /// The JSON of every response type's default value, by RPC (to check the output
        /// schemas against what the serializer really writes).
        #[cfg(test)]
        pub fn default_responses() -> Vec<(&'static str, Value)> {
            vec![$((rpc_method_name(stringify!($request)), serde_json::to_value($response::default()).unwrap()),)*]
        }
    };
}

tool_catalog! {
    "get_node_info" => get_node_info(GetNodeInfoRequest) -> GetNodeInfoResponse, READ,
        "The node's id, network, sync state, best block and listening addresses.";
    "get_balances" => get_balances(GetBalancesRequest) -> GetBalancesResponse, READ,
        "On-chain and Lightning balances: spendable, total, reserved, and what is still being claimed on chain.";
    "onchain_receive" => onchain_receive(OnchainReceiveRequest) -> OnchainReceiveResponse, RECEIVE,
        "A fresh on-chain address of the node's wallet.";
    "onchain_send" => onchain_send(OnchainSendRequest) -> OnchainSendResponse, SEND,
        "Send bitcoin on chain to `address`: `amount_sats` is an integer, or \"all\" to sweep the wallet (keeping the anchor reserve). Returns the txid.";
    "bolt11_receive" => bolt11_receive(Bolt11ReceiveRequest) -> Bolt11ReceiveResponse, RECEIVE,
        "Create a BOLT 11 invoice. Omit `amount_msat` for an invoice that lets the payer choose; `expiry_secs` defaults to 86400.";
    "bolt11_receive_for_hash" => bolt11_receive_for_hash(Bolt11ReceiveForHashRequest) -> Bolt11ReceiveForHashResponse, RECEIVE,
        "Create a BOLT 11 invoice for a payment hash whose preimage you hold; the payment waits (claimable) until bolt11_claim_for_hash or bolt11_fail_for_hash.";
    "bolt11_claim_for_hash" => bolt11_claim_for_hash(Bolt11ClaimForHashRequest) -> Bolt11ClaimForHashResponse, SETTLE,
        "Claim a held payment with its preimage.";
    "bolt11_fail_for_hash" => bolt11_fail_for_hash(Bolt11FailForHashRequest) -> Bolt11FailForHashResponse, END,
        "Refuse a held payment: the payer gets its money back.";
    "bolt11_receive_via_jit_channel" => bolt11_receive_via_jit_channel(Bolt11ReceiveViaJitChannelRequest) -> Bolt11ReceiveViaJitChannelResponse, RECEIVE,
        "Create a BOLT 11 invoice paid through a just-in-time channel from the configured LSPS2 service.";
    "bolt11_receive_variable_amount_via_jit_channel" => bolt11_receive_variable_amount_via_jit_channel(Bolt11ReceiveVariableAmountViaJitChannelRequest) -> Bolt11ReceiveVariableAmountViaJitChannelResponse, RECEIVE,
        "Create a BOLT 11 invoice without an amount, paid through a just-in-time channel from the configured LSPS2 service.";
    "bolt11_send" => bolt11_send(Bolt11SendRequest) -> Bolt11SendResponse, SEND,
        "Pay a BOLT 11 invoice (`amount_msat` only for an invoice without an amount). Returns the payment id at once; wait_for_event tells how it ends.";
    "bolt11_send_underpaying" => bolt11_send_underpaying(Bolt11SendUnderpayingRequest) -> Bolt11SendUnderpayingResponse, SEND,
        "Pay part of a BOLT 11 invoice's amount, for payments split across several payers.";
    "bolt12_receive" => bolt12_receive(Bolt12ReceiveRequest) -> Bolt12ReceiveResponse, RECEIVE,
        "Create a BOLT 12 offer (reusable); omit `amount_msat` to let payers choose.";
    "bolt12_send" => bolt12_send(Bolt12SendRequest) -> Bolt12SendResponse, SEND,
        "Pay a BOLT 12 offer. Returns the payment id at once; wait_for_event tells how it ends.";
    "spontaneous_send" => spontaneous_send(SpontaneousSendRequest) -> SpontaneousSendResponse, SEND,
        "Send a keysend payment of `amount_msat` to the node `node_id`, without an invoice.";
    "unified_send" => unified_send(UnifiedSendRequest) -> UnifiedSendResponse, SEND,
        "Pay a BIP 21 URI, choosing Lightning when it offers it and on-chain otherwise.";
    "open_channel" => open_channel(OpenChannelRequest) -> OpenChannelResponse, FUND_CHANNEL,
        "Open a channel to `node_pubkey` at `address`, funded with `channel_amount_sats` from the wallet.";
    "splice_in" => splice_in(SpliceInRequest) -> SpliceInResponse, FUND_CHANNEL,
        "Add wallet funds to an open channel without closing it.";
    "splice_out" => splice_out(SpliceOutRequest) -> SpliceOutResponse, SEND,
        "Take funds out of an open channel to an on-chain address (the wallet's when `address` is omitted).";
    "update_channel_config" => update_channel_config(UpdateChannelConfigRequest) -> UpdateChannelConfigResponse, SETTLE,
        "Change a channel's forwarding fees, CLTV delta and dust limits.";
    "close_channel" => close_channel(CloseChannelRequest) -> CloseChannelResponse, END,
        "Close a channel cooperatively with its peer; the funds return to the wallet once the closing transaction confirms.";
    "force_close_channel" => force_close_channel(ForceCloseChannelRequest) -> ForceCloseChannelResponse, END,
        "Close a channel unilaterally by broadcasting the latest commitment; our funds stay locked for the channel's delay.";
    "list_channels" => list_channels(ListChannelsRequest) -> ListChannelsResponse, READ,
        "Every channel of the node with its balances, state and config.";
    "get_payment_details" => get_payment_details(GetPaymentDetailsRequest) -> GetPaymentDetailsResponse, READ,
        "One payment by its id (for BOLT 11, the payment hash).";
    "list_payments" => list_payments(ListPaymentsRequest) -> ListPaymentsResponse, READ,
        "Payments, newest first, a page at a time: pass the returned `next_page_token` as `page_token` for the next page.";
    "list_forwarded_payments" => list_forwarded_payments(ListForwardedPaymentsRequest) -> ListForwardedPaymentsResponse, READ,
        "Payments the node forwarded, a page at a time, with the fees earned.";
    "connect_peer" => connect_peer(ConnectPeerRequest) -> ConnectPeerResponse, SETTLE,
        "Connect to a Lightning node (`node_pubkey` at `address`, host:port), optionally remembering it.";
    "disconnect_peer" => disconnect_peer(DisconnectPeerRequest) -> DisconnectPeerResponse, SETTLE,
        "Disconnect from a peer and forget it.";
    "list_peers" => list_peers(ListPeersRequest) -> ListPeersResponse, READ,
        "The peers the node knows, connected or not.";
    "sign_message" => sign_message(SignMessageRequest) -> SignMessageResponse, READ,
        "Sign `message` (text) with the node's key; anyone can check it with verify_signature.";
    "verify_signature" => verify_signature(VerifySignatureRequest) -> VerifySignatureResponse, READ,
        "Check that `signature` over `message` (text) was made by the node `public_key`.";
    "export_pathfinding_scores" => export_pathfinding_scores(ExportPathfindingScoresRequest) -> ExportPathfindingScoresResponse, READ,
        "The router's learned channel liquidity scores, serialized (hex).";
    "decode_invoice" => decode_invoice(DecodeInvoiceRequest) -> DecodeInvoiceResponse, READ,
        "Decode a BOLT 11 invoice: destination, amount, hash, expiry, route hints, features.";
    "decode_offer" => decode_offer(DecodeOfferRequest) -> DecodeOfferResponse, READ,
        "Decode a BOLT 12 offer: issuer, amount, paths, expiry, features.";
    "graph_list_channels" => graph_list_channels(GraphListChannelsRequest) -> GraphListChannelsResponse, READ,
        "Short channel ids of every channel in the network graph.";
    "graph_get_channel" => graph_get_channel(GraphGetChannelRequest) -> GraphGetChannelResponse, READ,
        "One channel of the network graph by short channel id.";
    "graph_list_nodes" => graph_list_nodes(GraphListNodesRequest) -> GraphListNodesResponse, READ,
        "Ids of every node in the network graph.";
    "graph_get_node" => graph_get_node(GraphGetNodeRequest) -> GraphGetNodeResponse, READ,
        "One node of the network graph by id, with its announcement.";
}

/// The tool named `name`.
pub fn find(name: &str) -> Option<&'static ToolSpec> {
    TOOLS.iter().find(|tool| tool.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::RPC_METHODS;

    #[test]
    fn every_unary_rpc_has_one_tool_or_a_reason() {
        for method in RPC_METHODS {
            let tools = TOOLS.iter().filter(|tool| tool.rpc == *method).count();
            let excluded = EXCLUDED_RPCS.iter().any(|(rpc, _)| rpc == method);
            assert!(
                (tools == 1) != excluded,
                "{method}: {tools} tools, excluded: {excluded}"
            );
        }
        assert_eq!(TOOLS.len() + EXCLUDED_RPCS.len(), RPC_METHODS.len());
    }

    #[test]
    fn names_are_the_snake_case_rpc_names() {
        for tool in TOOLS {
            let mut snake = String::new();
            for (i, c) in tool.rpc.char_indices() {
                if c.is_ascii_uppercase() && i > 0 {
                    snake.push('_');
                }
                snake.push(c.to_ascii_lowercase());
            }
            assert_eq!(tool.name, snake, "{}", tool.rpc);
        }
    }

    #[test]
    fn output_schemas_accept_what_the_serializer_writes() {
        let responses = default_responses();
        assert_eq!(responses.len(), TOOLS.len());
        for (rpc, value) in responses {
            let tool = TOOLS.iter().find(|tool| tool.rpc == rpc).unwrap();
            let schema = super::super::schema::output_schema(tool.response);
            let validator = jsonschema::validator_for(&schema).expect("a valid schema");
            let errors: Vec<String> = validator
                .iter_errors(&value)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{rpc}: {value}: {errors:?}");
        }
    }

    #[test]
    fn input_schemas_are_valid_and_accept_empty_arguments() {
        for tool in TOOLS {
            let schema = super::super::schema::input_schema(tool.request);
            let validator = jsonschema::validator_for(&schema).expect("a valid schema");
            assert!(validator.is_valid(&serde_json::json!({})), "{}", tool.name);
            assert!(
                !validator.is_valid(&serde_json::json!({"no_such_field": 1})),
                "{}",
                tool.name
            );
        }
    }

    #[test]
    fn every_send_scope_method_is_a_spending_tool() {
        use crate::keys::scope::{scope_of, Scope};
        for tool in TOOLS {
            if scope_of(tool.rpc) == Some(Scope::Send) {
                assert!(tool.effects.spending, "{} moves funds", tool.name);
            }
            if tool.effects.read_only {
                assert!(!tool.effects.spending && !tool.effects.destructive);
            }
        }
    }
}
