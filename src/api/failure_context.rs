//! What the server can tell when ldk-node refuses an operation with a bare error
//! (`ChannelClosingFailed`, `ChannelCreationFailed`, `ChannelSplicingFailed`,
//! `PaymentSendingFailed`, `InsufficientFunds`): a channel's state, its peer's connection and
//! its HTLCs in flight, what the channels can send, the wallet's spendable funds; so that the
//! status message says what the operator can act on.

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::{ChannelDetails, LightningBalance, Node, NodeError};

use crate::error::ApiError;

/// ldk-node's error with `context` added, when it is a Lightning failure (FAILED_PRECONDITION).
pub fn explained(error: NodeError, context: String) -> ApiError {
    match ApiError::from(error) {
        ApiError::Lightning(message) => {
            ApiError::Lightning(format!("{}: {context}", message.trim_end_matches('.')))
        }
        other => other,
    }
}

/// A Lightning send ldk-node refused at once, with what the channels can carry now.
pub fn send_failure(node: &Node, error: NodeError, amount_msat: u64) -> ApiError {
    match error {
        NodeError::PaymentSendingFailed | NodeError::InsufficientFunds => {
            let context = lightning_capacity(node, amount_msat);
            explained(error, context)
        }
        other => other.into(),
    }
}

/// An on-chain send ldk-node refused, with what the wallet can spend.
pub fn onchain_failure(node: &Node, error: NodeError, amount_sats: Option<u64>) -> ApiError {
    match error {
        NodeError::InsufficientFunds | NodeError::OnchainTxCreationFailed => {
            let asked = match amount_sats {
                Some(sats) => format!("{sats} sat asked"),
                None => "everything asked".to_owned(),
            };
            explained(error, format!("{asked}; {}", spendable_funds(node)))
        }
        other => other.into(),
    }
}

/// What the node's channels can send now, against `amount_msat`.
fn lightning_capacity(node: &Node, amount_msat: u64) -> String {
    let channels = node.list_channels();
    let usable: Vec<&ChannelDetails> = channels.iter().filter(|c| c.is_usable).collect();
    let total: u64 = usable.iter().map(|c| c.outbound_capacity_msat).sum();
    let largest = usable
        .iter()
        .map(|c| c.next_outbound_htlc_limit_msat)
        .max()
        .unwrap_or(0);
    format!(
        "{amount_msat} msat asked; {} of {} channels usable, which can send {total} msat in \
         all and {largest} msat in one part now",
        usable.len(),
        channels.len()
    )
}

/// HTLCs of a channel still in flight, as its monitor sees them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HtlcsInFlight {
    /// How many.
    pub count: usize,
    /// Their total value, in satoshis.
    pub total_sats: u64,
}

/// The HTLCs in flight on `channel` (sent and received, not yet settled).
pub fn htlcs_in_flight(node: &Node, channel: &ChannelDetails) -> HtlcsInFlight {
    let mut htlcs = HtlcsInFlight::default();
    for balance in node.list_balances().lightning_balances {
        let amount = match balance {
            LightningBalance::MaybeTimeoutClaimableHTLC {
                channel_id,
                amount_satoshis,
                ..
            }
            | LightningBalance::MaybePreimageClaimableHTLC {
                channel_id,
                amount_satoshis,
                ..
            } if channel_id == channel.channel_id => amount_satoshis,
            _ => continue,
        };
        htlcs.count += 1;
        htlcs.total_sats = htlcs.total_sats.saturating_add(amount);
    }
    htlcs
}

/// Whether the node is connected to `peer` now.
pub fn peer_connected(node: &Node, peer: &PublicKey) -> bool {
    node.list_peers()
        .iter()
        .any(|p| p.node_id == *peer && p.is_connected)
}

/// "yes" or "no".
pub fn yes_no(flag: bool) -> &'static str {
    if flag {
        "yes"
    } else {
        "no"
    }
}

/// One line on `channel`: ready and usable or not, the peer's connection, HTLCs in flight.
pub fn describe(node: &Node, channel: &ChannelDetails) -> String {
    let htlcs = htlcs_in_flight(node, channel);
    let mut text = format!(
        "channel ready: {}, usable: {}, peer connected: {}, our outbound capacity {} sat",
        yes_no(channel.is_channel_ready),
        yes_no(channel.is_usable),
        yes_no(peer_connected(node, &channel.counterparty_node_id)),
        channel.outbound_capacity_msat / 1_000,
    );
    if htlcs.count > 0 {
        text.push_str(&format!(
            ", {} HTLC(s) in flight ({} sat)",
            htlcs.count, htlcs.total_sats
        ));
    }
    text
}

/// What the wallet can spend on a new channel or a splice (after the anchor reserve).
pub fn spendable_funds(node: &Node) -> String {
    let balances = node.list_balances();
    format!(
        "the wallet can spend {} sat (total {} sat, {} sat kept as the anchor-channel reserve)",
        balances.spendable_onchain_balance_sats,
        balances.total_onchain_balance_sats,
        balances.total_anchor_channels_reserve_sats
    )
}
