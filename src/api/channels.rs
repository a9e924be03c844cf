//! Channel RPCs: open, splice in/out, update config, close, force-close, list.

use std::time::{Duration, Instant};

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::{NodeError, UserChannelId};

use super::failure_context;
use super::ApiContext;
use crate::convert::bounds::{self, Unit, MAX_FREE_TEXT_BYTES};
use crate::convert::{channels, parse};
use crate::error::{ApiError, ApiResult};
use crate::proto::api::*;

/// OpenChannel: opens an (optionally announced) channel with an exact amount.
pub async fn open(ctx: &ApiContext, request: OpenChannelRequest) -> ApiResult<OpenChannelResponse> {
    use open_channel_request::Amount;
    let node_id = parse::public_key("node_pubkey", &request.node_pubkey)?;
    let address = parse::socket_address("address", &request.address)?;
    let amount_sats = match request.amount {
        Some(Amount::ChannelAmountSats(sats)) => {
            bounds::positive_amount("channel_amount_sats", sats, Unit::Sat)?
        }
        Some(Amount::AllFunds(_)) => {
            return Err(ApiError::invalid(
                "`all_funds` is not supported: ldk-node 0.7.1 funds a channel with an exact \
                 amount and chooses the fee only when it builds the funding transaction, so \
                 \"everything\" cannot be computed exactly; give `channel_amount_sats` (at most \
                 GetBalances' spendable_onchain_balance_sats less the fee)",
            ))
        }
        None => return Err(ApiError::missing_field("channel_amount_sats")),
    };
    if request.disable_counterparty_reserve {
        return Err(ApiError::invalid(
            "`disable_counterparty_reserve` is not supported: ldk-node 0.7 has no zero-reserve channels",
        ));
    }
    let channel_config = request
        .channel_config
        .as_ref()
        .map(|c| parse::channel_config("channel_config", c))
        .transpose()?;
    let push = request.push_to_counterparty_msat;
    if let Some(push_msat) = push {
        check_push_within_channel(push_msat, amount_sats)?;
    }
    ctx.blocking(move |node| {
        super::peers::not_this_node("node_pubkey", node, node_id)?;
        let opened = if request.announce_channel {
            node.open_announced_channel(node_id, address, amount_sats, push, channel_config)
        } else {
            node.open_channel(node_id, address, amount_sats, push, channel_config)
        };
        let user_channel_id = opened.map_err(|error| match error {
            NodeError::InsufficientFunds => failure_context::explained(
                error,
                format!(
                    "{amount_sats} sat asked for the channel; {}",
                    failure_context::spendable_funds(node)
                ),
            ),
            NodeError::ChannelCreationFailed | NodeError::ConnectionFailed => {
                let connected = failure_context::peer_connected(node, &node_id);
                failure_context::explained(
                    error,
                    format!("peer connected: {}", failure_context::yes_no(connected)),
                )
            }
            other => other.into(),
        })?;
        Ok(OpenChannelResponse {
            user_channel_id: channels::user_channel_id_string(&user_channel_id),
        })
    })
    .await
}

/// The amount pushed to the peer at opening comes out of the channel: it cannot exceed it.
fn check_push_within_channel(push_msat: u64, channel_amount_sats: u64) -> ApiResult<()> {
    let channel_msat = channel_amount_sats.saturating_mul(1_000);
    if push_msat > channel_msat {
        return Err(ApiError::bad_field(
            "push_to_counterparty_msat",
            format!(
                "{push_msat} msat is more than the channel holds ({channel_msat} msat = \
                 `channel_amount_sats` × 1000)"
            ),
        ));
    }
    Ok(())
}

fn channel_ref(user_channel_id: &str, counterparty: &str) -> ApiResult<(UserChannelId, PublicKey)> {
    Ok((
        parse::user_channel_id("user_channel_id", user_channel_id)?,
        parse::public_key("counterparty_node_id", counterparty)?,
    ))
}

/// The channel with this user channel id and counterparty, or INVALID_ARGUMENT naming both.
/// (ldk-node reports success when closing a channel it does not know, so every RPC that names a
/// channel checks first.)
fn find_channel(
    node: &ldk_node::Node,
    channel: &UserChannelId,
    counterparty: PublicKey,
) -> ApiResult<ldk_node::ChannelDetails> {
    node.list_channels()
        .into_iter()
        .find(|c| c.user_channel_id == *channel && c.counterparty_node_id == counterparty)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "no channel with user_channel_id {} and counterparty_node_id {counterparty}",
                channels::user_channel_id_string(channel)
            ))
        })
}

/// SpliceIn: adds on-chain funds to a channel.
pub async fn splice_in(ctx: &ApiContext, request: SpliceInRequest) -> ApiResult<SpliceInResponse> {
    use splice_in_request::Amount;
    let (channel, counterparty) =
        channel_ref(&request.user_channel_id, &request.counterparty_node_id)?;
    let amount_sats = match request.amount {
        Some(Amount::SpliceAmountSats(sats)) => {
            bounds::positive_amount("splice_amount_sats", sats, Unit::Sat)?
        }
        Some(Amount::AllFunds(_)) => {
            return Err(ApiError::invalid(
                "`all_funds` is not supported: ldk-node 0.7.1 splices in an exact amount and \
                 selects coins and fee itself, so \"everything\" cannot be computed exactly; \
                 give `splice_amount_sats`",
            ))
        }
        None => return Err(ApiError::missing_field("splice_amount_sats")),
    };
    ctx.blocking(move |node| {
        let details = find_channel(node, &channel, counterparty)?;
        bounds::checked_sum(
            &[
                ("channel value", details.channel_value_sats),
                ("splice_amount_sats", amount_sats),
            ],
            Unit::Sat,
        )?;
        node.splice_in(&channel, counterparty, amount_sats)
            .map_err(|error| match error {
                NodeError::InsufficientFunds | NodeError::ChannelSplicingFailed => {
                    failure_context::explained(
                        error,
                        format!(
                            "{amount_sats} sat to splice in; {}; {}",
                            failure_context::spendable_funds(node),
                            failure_context::describe(node, &details)
                        ),
                    )
                }
                other => other.into(),
            })?;
        Ok(SpliceInResponse {})
    })
    .await
}

/// SpliceOut: moves funds out of a channel to an address (a fresh wallet address if none).
pub async fn splice_out(
    ctx: &ApiContext,
    request: SpliceOutRequest,
) -> ApiResult<SpliceOutResponse> {
    let (channel, counterparty) =
        channel_ref(&request.user_channel_id, &request.counterparty_node_id)?;
    let amount_sats =
        bounds::positive_amount("splice_amount_sats", request.splice_amount_sats, Unit::Sat)?;
    let address = request
        .address
        .as_deref()
        .map(|address| parse::onchain_address("address", address, ctx.network))
        .transpose()?;
    if let Some(address) = &address {
        bounds::above_dust("splice_amount_sats", amount_sats, &address.script_pubkey())?;
    }
    ctx.blocking(move |node| {
        let details = find_channel(node, &channel, counterparty)?;
        let outbound_sats = details.outbound_capacity_msat / 1_000;
        if amount_sats > outbound_sats {
            return Err(ApiError::Lightning(format!(
                "`splice_amount_sats` {amount_sats} sat is more than the channel's outbound \
                 capacity ({outbound_sats} sat)"
            )));
        }
        let address = match address {
            Some(address) => address,
            None => node.onchain_payment().new_address()?,
        };
        bounds::above_dust("splice_amount_sats", amount_sats, &address.script_pubkey())?;
        node.splice_out(&channel, counterparty, &address, amount_sats)
            .map_err(|error| match error {
                NodeError::ChannelSplicingFailed => {
                    failure_context::explained(error, failure_context::describe(node, &details))
                }
                other => other.into(),
            })?;
        Ok(SpliceOutResponse {
            address: address.to_string(),
        })
    })
    .await
}

/// UpdateChannelConfig: changes the fields that are set, keeps the others.
pub async fn update_config(
    ctx: &ApiContext,
    request: UpdateChannelConfigRequest,
) -> ApiResult<UpdateChannelConfigResponse> {
    let (channel, counterparty) =
        channel_ref(&request.user_channel_id, &request.counterparty_node_id)?;
    let update = request
        .channel_config
        .ok_or_else(|| ApiError::missing_field("channel_config"))?;
    // Every set field is checked now, before the channel is looked up.
    parse::channel_config("channel_config", &update)?;
    ctx.blocking(move |node| {
        let current = find_channel(node, &channel, counterparty)?;
        let config = parse::apply_channel_config_update("channel_config", current.config, &update)?;
        node.update_channel_config(&channel, counterparty, config)?;
        Ok(UpdateChannelConfigResponse {})
    })
    .await
}

/// How long CloseChannel keeps trying while the channel's HTLCs settle (a shorter deadline of
/// the call ends it first).
pub const CLOSE_RETRY_WINDOW: Duration = Duration::from_secs(30);
/// The pause between two attempts.
const CLOSE_RETRY_INTERVAL: Duration = Duration::from_millis(250);

/// Why one cooperative close attempt was refused.
struct CloseRefusal {
    peer_connected: bool,
    channel: String,
}

/// CloseChannel: cooperative close. LDK refuses to begin a shutdown while HTLCs are still
/// being settled (right after payments), so a refusal with the peer connected is retried
/// until they have settled or [`CLOSE_RETRY_WINDOW`] has passed, as upstream's node does.
pub async fn close(
    ctx: &ApiContext,
    request: CloseChannelRequest,
) -> ApiResult<CloseChannelResponse> {
    let (channel, counterparty) =
        channel_ref(&request.user_channel_id, &request.counterparty_node_id)?;
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let refused = ctx
            .blocking(move |node| close_once(node, channel, counterparty))
            .await?;
        let Some(refusal) = refused else {
            if attempt > 1 {
                tracing::info!(
                    attempts = attempt,
                    waited_ms = started.elapsed().as_millis() as u64,
                    "cooperative close accepted once the channel's HTLCs had settled"
                );
            }
            return Ok(CloseChannelResponse {});
        };
        let advice = if !refusal.peer_connected {
            "the peer is not connected: reconnect it (ConnectPeer) or force-close"
        } else if started.elapsed() >= CLOSE_RETRY_WINDOW {
            "the channel's HTLCs did not settle in 30 s: try again later or force-close"
        } else {
            if attempt == 1 {
                tracing::info!(
                    channel = %refusal.channel,
                    "cooperative close refused by LDK: retrying while the HTLCs settle"
                );
            }
            tokio::time::sleep(CLOSE_RETRY_INTERVAL).await;
            continue;
        };
        return Err(ApiError::Lightning(format!(
            "cannot close the channel cooperatively ({}; {attempt} attempts): {advice}",
            refusal.channel
        )));
    }
}

/// One cooperative close: `None` once LDK has begun the shutdown, or why it refused.
fn close_once(
    node: &ldk_node::Node,
    channel: UserChannelId,
    counterparty: PublicKey,
) -> ApiResult<Option<CloseRefusal>> {
    let details = find_channel(node, &channel, counterparty)?;
    match node.close_channel(&channel, counterparty) {
        Ok(()) => Ok(None),
        Err(NodeError::ChannelClosingFailed) => Ok(Some(CloseRefusal {
            peer_connected: failure_context::peer_connected(node, &counterparty),
            channel: failure_context::describe(node, &details),
        })),
        Err(error) => Err(error.into()),
    }
}

/// ForceCloseChannel: unilateral close, with an optional reason sent to the peer.
pub async fn force_close(
    ctx: &ApiContext,
    request: ForceCloseChannelRequest,
) -> ApiResult<ForceCloseChannelResponse> {
    let (channel, counterparty) =
        channel_ref(&request.user_channel_id, &request.counterparty_node_id)?;
    let reason = bounds::optional_text_at_most(
        "force_close_reason",
        request.force_close_reason,
        MAX_FREE_TEXT_BYTES,
    )?;
    ctx.blocking(move |node| {
        find_channel(node, &channel, counterparty)?;
        node.force_close_channel(&channel, counterparty, reason)?;
        Ok(ForceCloseChannelResponse {})
    })
    .await
}

/// ListChannels: every channel the node has, open or opening.
pub async fn list(
    ctx: &ApiContext,
    _request: ListChannelsRequest,
) -> ApiResult<ListChannelsResponse> {
    let node = ctx.node()?;
    Ok(ListChannelsResponse {
        channels: node
            .list_channels()
            .iter()
            .map(channels::channel_to_proto)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_cannot_exceed_the_channel() {
        assert!(check_push_within_channel(0, 1).is_ok());
        assert!(check_push_within_channel(1_000_000, 1_000).is_ok());
        let error = check_push_within_channel(1_000_001, 1_000).unwrap_err();
        assert_eq!(error.code(), tonic::Code::InvalidArgument);
        assert!(
            error.to_string().contains("`push_to_counterparty_msat`"),
            "{error}"
        );
        assert!(check_push_within_channel(u64::MAX, bounds::MAX_MONEY_SATS).is_err());
    }
}
