//! One log record per handled event, with the fields an operator filters the journal on.

use ldk_node::Event;

/// One log record per handled event, with the fields an operator filters the journal on:
/// `PAYMENT_HASH`, `CHANNEL_ID`, `PEER`, amounts in msat.
pub fn log_event(event: &Event) {
    match event {
        Event::PaymentReceived {
            payment_hash,
            amount_msat,
            ..
        } => tracing::info!(payment_hash = %payment_hash, amount_msat, "payment received"),
        Event::PaymentSuccessful {
            payment_hash,
            fee_paid_msat,
            ..
        } => {
            tracing::info!(payment_hash = %payment_hash, fee_paid_msat = ?fee_paid_msat, "payment sent")
        }
        Event::PaymentFailed {
            payment_hash,
            reason,
            ..
        } => tracing::info!(
            payment_hash = payment_hash.map(|h| h.to_string()),
            reason = ?reason,
            "payment failed"
        ),
        Event::PaymentClaimable {
            payment_hash,
            claimable_amount_msat,
            ..
        } => tracing::info!(
            payment_hash = %payment_hash,
            amount_msat = claimable_amount_msat,
            "payment claimable: claim or fail it by hash"
        ),
        Event::PaymentForwarded {
            prev_channel_id,
            next_channel_id,
            total_fee_earned_msat,
            outbound_amount_forwarded_msat,
            ..
        } => tracing::info!(
            channel_id = %prev_channel_id,
            next_channel_id = %next_channel_id,
            fee_msat = ?total_fee_earned_msat,
            amount_msat = ?outbound_amount_forwarded_msat,
            "payment forwarded"
        ),
        Event::ChannelPending {
            channel_id,
            counterparty_node_id,
            ..
        } => {
            tracing::info!(channel_id = %channel_id, peer = %counterparty_node_id, "channel pending")
        }
        Event::ChannelReady {
            channel_id,
            counterparty_node_id,
            ..
        } => tracing::info!(
            channel_id = %channel_id,
            peer = counterparty_node_id.map(|p| p.to_string()),
            "channel ready"
        ),
        Event::ChannelClosed {
            channel_id,
            counterparty_node_id,
            reason,
            ..
        } => tracing::info!(
            channel_id = %channel_id,
            peer = counterparty_node_id.map(|p| p.to_string()),
            reason = ?reason,
            "channel closed"
        ),
        other => tracing::info!(event = ?other, "node event"),
    }
}
