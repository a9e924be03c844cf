//! Channel RPCs: open, splice in/out, update config, close, force-close, list.

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::UserChannelId;

use super::ApiContext;
use crate::convert::{channels, parse};
use crate::error::{ApiError, ApiResult};
use crate::proto::api::*;

/// OpenChannel: opens an (optionally announced) channel with an exact amount.
pub async fn open(ctx: &ApiContext, request: OpenChannelRequest) -> ApiResult<OpenChannelResponse> {
    use open_channel_request::Amount;
    let node_id = parse::public_key("node_pubkey", &request.node_pubkey)?;
    let address = parse::socket_address("address", &request.address)?;
    let amount_sats =
        match request.amount {
            Some(Amount::ChannelAmountSats(sats)) if sats > 0 => sats,
            Some(Amount::ChannelAmountSats(_)) => {
                return Err(ApiError::invalid(
                    "`channel_amount_sats` must be greater than 0",
                ))
            }
            Some(Amount::AllFunds(_)) => return Err(ApiError::invalid(
                "`all_funds` is not supported: ldk-node 0.7 cannot fund a channel with the whole \
                 wallet; give `channel_amount_sats`",
            )),
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
    ctx.blocking(move |node| {
        let user_channel_id = if request.announce_channel {
            node.open_announced_channel(node_id, address, amount_sats, push, channel_config)?
        } else {
            node.open_channel(node_id, address, amount_sats, push, channel_config)?
        };
        Ok(OpenChannelResponse {
            user_channel_id: channels::user_channel_id_string(&user_channel_id),
        })
    })
    .await
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
    let amount_sats =
        match request.amount {
            Some(Amount::SpliceAmountSats(sats)) if sats > 0 => sats,
            Some(Amount::SpliceAmountSats(_)) => {
                return Err(ApiError::invalid(
                    "`splice_amount_sats` must be greater than 0",
                ))
            }
            Some(Amount::AllFunds(_)) => return Err(ApiError::invalid(
                "`all_funds` is not supported: ldk-node 0.7 cannot splice in the whole wallet; \
                 give `splice_amount_sats`",
            )),
            None => return Err(ApiError::missing_field("splice_amount_sats")),
        };
    ctx.blocking(move |node| {
        find_channel(node, &channel, counterparty)?;
        node.splice_in(&channel, counterparty, amount_sats)?;
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
    if request.splice_amount_sats == 0 {
        return Err(ApiError::invalid(
            "`splice_amount_sats` must be greater than 0",
        ));
    }
    let address = request
        .address
        .as_deref()
        .map(|address| parse::onchain_address("address", address, ctx.network))
        .transpose()?;
    ctx.blocking(move |node| {
        find_channel(node, &channel, counterparty)?;
        let address = match address {
            Some(address) => address,
            None => node.onchain_payment().new_address()?,
        };
        node.splice_out(&channel, counterparty, &address, request.splice_amount_sats)?;
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
    ctx.blocking(move |node| {
        let current = find_channel(node, &channel, counterparty)?;
        let config = parse::apply_channel_config_update("channel_config", current.config, &update)?;
        node.update_channel_config(&channel, counterparty, config)?;
        Ok(UpdateChannelConfigResponse {})
    })
    .await
}

/// CloseChannel: cooperative close.
pub async fn close(
    ctx: &ApiContext,
    request: CloseChannelRequest,
) -> ApiResult<CloseChannelResponse> {
    let (channel, counterparty) =
        channel_ref(&request.user_channel_id, &request.counterparty_node_id)?;
    ctx.blocking(move |node| {
        find_channel(node, &channel, counterparty)?;
        node.close_channel(&channel, counterparty)?;
        Ok(CloseChannelResponse {})
    })
    .await
}

/// ForceCloseChannel: unilateral close, with an optional reason sent to the peer.
pub async fn force_close(
    ctx: &ApiContext,
    request: ForceCloseChannelRequest,
) -> ApiResult<ForceCloseChannelResponse> {
    let (channel, counterparty) =
        channel_ref(&request.user_channel_id, &request.counterparty_node_id)?;
    ctx.blocking(move |node| {
        find_channel(node, &channel, counterparty)?;
        node.force_close_channel(&channel, counterparty, request.force_close_reason)?;
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
