//! End to end on regtest: channel management between real `ldk-server` processes — gossip and
//! the network graph, channel configuration, splicing, cooperative and force closes, and
//! forwarding through a middle node.

mod common;

use std::time::Duration;

use common::chain::{metric_value, next_event, open_channel, wait_until, Chain, TestNode};
use ldk_server::proto::api::*;
use ldk_server::proto::events::channel_state_change_reason::Details;
use ldk_server::proto::events::event_envelope::Event;
use ldk_server::proto::events::{
    ChannelClosureInitiator, ChannelState, ChannelStateChangeReasonKind, ChannelStateChanged,
    EventEnvelope,
};
use ldk_server::proto::types::{self, lightning_balance, pending_sweep_balance, BalanceSource};
use serde_json::{json, Value};
use tonic::{Code, Streaming};

const EVENT_TIMEOUT: Duration = Duration::from_secs(90);
const LONG: Duration = Duration::from_secs(150);

/// Asserts that an RPC failed with INVALID_ARGUMENT and a message containing `needle`.
fn assert_invalid<T: std::fmt::Debug>(
    result: Result<tonic::Response<T>, tonic::Status>,
    needle: &str,
) {
    let status = result.expect_err("the request should have been refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains(needle),
        "message {:?} should name {needle:?}",
        status.message()
    );
}

/// The channel `user_channel_id` of `node`, if it lists it.
async fn channel_by_user_id(node: &TestNode, user_channel_id: &str) -> Option<types::Channel> {
    node.channels()
        .await
        .into_iter()
        .find(|c| c.user_channel_id == user_channel_id)
}

/// The channel with `channel_id` as `node` lists it.
/// The channel once its funding output is in `txid` (e.g. after a splice).
async fn funded_by(node: &TestNode, user_channel_id: &str, txid: &str) -> Option<types::Channel> {
    let channel = channel_by_user_id(node, user_channel_id).await?;
    channel
        .funding_txo
        .as_ref()
        .is_some_and(|t| t.txid == txid)
        .then_some(channel)
}

async fn channel_by_id(node: &TestNode, channel_id: &str) -> Option<types::Channel> {
    node.channels()
        .await
        .into_iter()
        .find(|c| c.channel_id == channel_id)
}

/// Waits until both ends list `user_channel_id` (of `from`) as usable; returns it as `from`
/// sees it.
async fn wait_usable(from: &TestNode, to: &TestNode, user_channel_id: &str) -> types::Channel {
    let channel = wait_until("channel usable", LONG, || async {
        channel_by_user_id(from, user_channel_id)
            .await
            .filter(|c| c.is_usable)
    })
    .await;
    wait_until("channel usable on the peer", LONG, || async {
        channel_by_id(to, &channel.channel_id)
            .await
            .filter(|c| c.is_usable)
    })
    .await;
    channel
}

/// The short channel id of a confirmed funding output: block height, index in the block, vout.
fn short_channel_id(chain: &Chain, txo: &types::OutPoint) -> u64 {
    let tx = chain.rpc("getrawtransaction", &[json!(txo.txid), json!(true)]);
    let block = chain.rpc("getblock", &[tx["blockhash"].clone(), json!(1)]);
    let height = block["height"].as_u64().expect("height");
    let index = block["tx"]
        .as_array()
        .expect("block txs")
        .iter()
        .position(|t| t.as_str() == Some(txo.txid.as_str()))
        .expect("funding tx in its block") as u64;
    (height << 40) | (index << 16) | u64::from(txo.vout)
}

/// The mempool transaction spending `txo`, if there is one.
fn mempool_spender(chain: &Chain, txo: &types::OutPoint) -> Option<String> {
    let answer = chain.rpc(
        "gettxspendingprevout",
        &[json!([{ "txid": txo.txid, "vout": txo.vout }])],
    );
    answer[0]["spendingtxid"].as_str().map(str::to_owned)
}

/// Waits until a transaction spending `txo` is in bitcoind's mempool and returns its id.
async fn wait_spender(chain: &Chain, txo: &types::OutPoint, what: &str) -> String {
    wait_until(what, LONG, || async { mempool_spender(chain, txo) }).await
}

/// A decoded transaction (bitcoind, with txindex or from the mempool).
fn transaction(chain: &Chain, txid: &str) -> Value {
    chain.rpc("getrawtransaction", &[json!(txid), json!(true)])
}

/// Sats paid by `tx` to `address`.
fn paid_to(tx: &Value, address: &str) -> u64 {
    tx["vout"]
        .as_array()
        .expect("vout")
        .iter()
        .filter(|out| out["scriptPubKey"]["address"].as_str() == Some(address))
        .map(|out| btc_to_sats(&out["value"]))
        .sum()
}

fn btc_to_sats(value: &Value) -> u64 {
    (value.as_f64().expect("BTC amount") * 100_000_000.0).round() as u64
}

/// Mines `blocks` and waits until every node has synced to the new tip.
async fn mine_and_sync(chain: &Chain, blocks: u64, nodes: &[&TestNode]) {
    chain.mine(blocks);
    for node in nodes {
        node.wait_for_height(chain.height()).await;
    }
}

/// The next CLOSED ChannelStateChanged of `channel_id`.
async fn closed_event(
    stream: &mut Streaming<EventEnvelope>,
    channel_id: &str,
) -> ChannelStateChanged {
    next_event(
        stream,
        &format!("channel {channel_id} closed"),
        EVENT_TIMEOUT,
        |event| match event {
            Event::ChannelStateChanged(c)
                if c.channel_id == channel_id && c.state() == ChannelState::Closed =>
            {
                Some(c.clone())
            }
            _ => None,
        },
    )
    .await
}

fn reason_kind(event: &ChannelStateChanged) -> ChannelStateChangeReasonKind {
    event.reason.as_ref().expect("closure reason").kind()
}

/// The channel id a lightning balance belongs to.
fn lightning_balance_channel(balance: &types::LightningBalance) -> Option<&str> {
    use lightning_balance::BalanceType;
    Some(match balance.balance_type.as_ref()? {
        BalanceType::ClaimableOnChannelClose(b) => &b.channel_id,
        BalanceType::ClaimableAwaitingConfirmations(b) => &b.channel_id,
        BalanceType::ContentiousClaimable(b) => &b.channel_id,
        BalanceType::MaybeTimeoutClaimableHtlc(b) => &b.channel_id,
        BalanceType::MaybePreimageClaimableHtlc(b) => &b.channel_id,
        BalanceType::CounterpartyRevokedOutputClaimable(b) => &b.channel_id,
    })
}

/// The channel id a pending sweep belongs to.
fn sweep_channel(balance: &types::PendingSweepBalance) -> Option<&str> {
    use pending_sweep_balance::BalanceType;
    match balance.balance_type.as_ref()? {
        BalanceType::PendingBroadcast(b) => b.channel_id.as_deref(),
        BalanceType::BroadcastAwaitingConfirmation(b) => b.channel_id.as_deref(),
        BalanceType::AwaitingThresholdConfirmations(b) => b.channel_id.as_deref(),
    }
}

/// The sweep of `channel_id` once its spend confirmed (at or below `height`) and no
/// lightning balance of the channel is left.
fn settled_sweep(
    balances: &GetBalancesResponse,
    channel_id: &str,
    height: u32,
) -> Option<types::AwaitingThresholdConfirmations> {
    if balances
        .lightning_balances
        .iter()
        .any(|b| lightning_balance_channel(b) == Some(channel_id))
    {
        return None;
    }
    balances
        .pending_balances_from_channel_closures
        .iter()
        .find_map(|b| match &b.balance_type {
            Some(pending_sweep_balance::BalanceType::AwaitingThresholdConfirmations(a))
                if a.channel_id.as_deref() == Some(channel_id)
                    && a.confirmation_height <= height =>
            {
                Some(a.clone())
            }
            _ => None,
        })
}

/// The ClaimableAwaitingConfirmations balance of `channel_id`, if `node` has one.
async fn awaiting_confirmations(
    node: &TestNode,
    channel_id: &str,
) -> Option<types::ClaimableAwaitingConfirmations> {
    node.balances()
        .await
        .lightning_balances
        .into_iter()
        .find_map(|b| match b.balance_type {
            Some(lightning_balance::BalanceType::ClaimableAwaitingConfirmations(c))
                if c.channel_id == channel_id =>
            {
                Some(c)
            }
            _ => None,
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn announced_channel_graph_and_config() {
    let Some(chain) = Chain::start("announced_channel_graph_and_config") else {
        return;
    };
    let alice = TestNode::start(&chain, "alice", "").await;
    let bob = TestNode::start(&chain, "bob", "").await;
    alice.fund(&chain, 1_000_000).await;

    let user_channel_id = open_channel(&chain, &alice, &bob, 500_000, 0, true).await;
    let channel = channel_by_user_id(&alice, &user_channel_id).await.unwrap();
    assert!(channel.is_announced);
    assert!(
        channel_by_id(&bob, &channel.channel_id)
            .await
            .unwrap()
            .is_announced
    );
    // Announcement signatures go out at 6 confirmations; a few more blocks for good measure.
    mine_and_sync(&chain, 6, &[&alice, &bob]).await;
    let scid = short_channel_id(&chain, channel.funding_txo.as_ref().unwrap());
    let mut ends = [alice.node_id.clone(), bob.node_id.clone()];
    ends.sort();

    // Both nodes put the channel in their graph, between the two of them.
    for node in [&alice, &bob] {
        wait_until(
            &format!("{} has the channel in its graph", node.alias),
            LONG,
            || async {
                let ids = node
                    .rpc()
                    .graph_list_channels(GraphListChannelsRequest {})
                    .await
                    .ok()?
                    .into_inner()
                    .short_channel_ids;
                ids.contains(&scid).then_some(())
            },
        )
        .await;
        let graph_channel = node
            .rpc()
            .graph_get_channel(GraphGetChannelRequest {
                short_channel_id: scid,
            })
            .await
            .expect("graph get channel")
            .into_inner()
            .channel
            .expect("channel");
        assert_eq!(
            [
                graph_channel.node_one.clone(),
                graph_channel.node_two.clone()
            ],
            ends
        );
        assert_eq!(graph_channel.capacity_sats, Some(500_000));
    }

    // Each node's announcement (alias and address) reaches the other.
    for (viewer, subject) in [(&bob, &alice), (&alice, &bob)] {
        let info = wait_until(
            &format!(
                "{} sees the announcement of {}",
                viewer.alias, subject.alias
            ),
            LONG,
            || async {
                let node = viewer
                    .rpc()
                    .graph_get_node(GraphGetNodeRequest {
                        node_id: subject.node_id.clone(),
                    })
                    .await
                    .ok()?
                    .into_inner()
                    .node?;
                node.announcement_info.clone().map(|a| (node, a))
            },
        )
        .await;
        let (node, announcement) = info;
        assert_eq!(announcement.alias, subject.alias);
        assert!(
            announcement.addresses.contains(&subject.p2p_address),
            "{:?} should contain {}",
            announcement.addresses,
            subject.p2p_address
        );
        assert!(announcement.last_update > 0);
        assert_eq!(announcement.rgb, "000000");
        assert_eq!(node.channels, vec![scid]);
        let mut listed = viewer
            .rpc()
            .graph_list_nodes(GraphListNodesRequest {})
            .await
            .expect("graph list nodes")
            .into_inner()
            .node_ids;
        listed.sort();
        assert_eq!(listed, ends.to_vec());
    }
    for node in [&alice, &bob] {
        let info = node
            .rpc()
            .get_node_info(GetNodeInfoRequest {})
            .await
            .unwrap()
            .into_inner();
        assert!(info.latest_node_announcement_broadcast_timestamp.is_some());
    }

    // Graph lookups with bad or unknown keys.
    assert_invalid(
        alice
            .rpc()
            .graph_get_node(GraphGetNodeRequest {
                node_id: "02abcd".into(),
            })
            .await,
        "node_id",
    );
    assert_invalid(
        alice
            .rpc()
            .graph_get_channel(GraphGetChannelRequest {
                short_channel_id: 0,
            })
            .await,
        "short_channel_id",
    );
    assert_invalid(
        alice
            .rpc()
            .graph_get_channel(GraphGetChannelRequest {
                short_channel_id: scid + 1,
            })
            .await,
        "short_channel_id",
    );

    // UpdateChannelConfig changes the two fields given and nothing else.
    let before = channel.channel_config.expect("channel config");
    let new_proportional = 4_321;
    let new_cltv = 100;
    assert_ne!(
        before.forwarding_fee_proportional_millionths,
        Some(new_proportional)
    );
    assert_ne!(before.cltv_expiry_delta, Some(new_cltv));
    // A later block time, so the new channel_update is newer than the first one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    mine_and_sync(&chain, 1, &[&alice, &bob]).await;
    alice
        .rpc()
        .update_channel_config(UpdateChannelConfigRequest {
            user_channel_id: user_channel_id.clone(),
            counterparty_node_id: bob.node_id.clone(),
            channel_config: Some(types::ChannelConfig {
                forwarding_fee_proportional_millionths: Some(new_proportional),
                cltv_expiry_delta: Some(new_cltv),
                ..Default::default()
            }),
        })
        .await
        .expect("update channel config");
    let after = channel_by_user_id(&alice, &user_channel_id)
        .await
        .unwrap()
        .channel_config
        .unwrap();
    assert_eq!(
        after,
        types::ChannelConfig {
            forwarding_fee_proportional_millionths: Some(new_proportional),
            cltv_expiry_delta: Some(new_cltv),
            ..before
        }
    );
    // The peer learns the new forwarding terms, and so does its graph.
    wait_until("bob sees alice's new fees", LONG, || async {
        let theirs = channel_by_id(&bob, &channel.channel_id).await?;
        (theirs.counterparty_forwarding_info_fee_proportional_millionths == Some(new_proportional)
            && theirs.counterparty_forwarding_info_cltv_expiry_delta == Some(new_cltv))
        .then_some(())
    })
    .await;
    let alice_is_one = ends[0] == alice.node_id;
    wait_until("bob's graph has alice's new fees", LONG, || async {
        let graph_channel = bob
            .rpc()
            .graph_get_channel(GraphGetChannelRequest {
                short_channel_id: scid,
            })
            .await
            .ok()?
            .into_inner()
            .channel?;
        let update = if alice_is_one {
            graph_channel.one_to_two
        } else {
            graph_channel.two_to_one
        }?;
        (update.fees?.proportional_millionths == new_proportional
            && update.cltv_expiry_delta == new_cltv)
            .then_some(())
    })
    .await;

    // Unknown channel and malformed counterparty.
    assert_invalid(
        alice
            .rpc()
            .update_channel_config(UpdateChannelConfigRequest {
                user_channel_id: "123456789".into(),
                counterparty_node_id: bob.node_id.clone(),
                channel_config: Some(types::ChannelConfig {
                    forwarding_fee_base_msat: Some(5),
                    ..Default::default()
                }),
            })
            .await,
        "123456789",
    );
    assert_invalid(
        alice
            .rpc()
            .update_channel_config(UpdateChannelConfigRequest {
                user_channel_id: user_channel_id.clone(),
                counterparty_node_id: "03nothex".into(),
                channel_config: Some(types::ChannelConfig {
                    forwarding_fee_base_msat: Some(5),
                    ..Default::default()
                }),
            })
            .await,
        "counterparty_node_id",
    );
    // Neither failed call changed anything.
    assert_eq!(
        channel_by_user_id(&alice, &user_channel_id)
            .await
            .unwrap()
            .channel_config
            .unwrap(),
        after
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn splice_in_and_out() {
    let Some(chain) = Chain::start("splice_in_and_out") else {
        return;
    };
    let alice = TestNode::start(&chain, "alice", "").await;
    let bob = TestNode::start(&chain, "bob", "").await;
    alice.fund(&chain, 2_000_000).await;
    let user_channel_id = open_channel(&chain, &alice, &bob, 500_000, 0, false).await;
    let channel = channel_by_user_id(&alice, &user_channel_id).await.unwrap();
    assert_eq!(channel.channel_value_sats, 500_000);
    let mut alice_events = alice.events().await;

    // `all_funds` is refused by name, before anything happens.
    assert_invalid(
        alice
            .rpc()
            .splice_in(SpliceInRequest {
                user_channel_id: user_channel_id.clone(),
                counterparty_node_id: bob.node_id.clone(),
                amount: Some(splice_in_request::Amount::AllFunds(AllFunds {})),
            })
            .await,
        "all_funds",
    );

    // Splice in 200k sats from the wallet.
    let onchain_before = alice.balances().await.total_onchain_balance_sats;
    alice
        .rpc()
        .splice_in(SpliceInRequest {
            user_channel_id: user_channel_id.clone(),
            counterparty_node_id: bob.node_id.clone(),
            amount: Some(splice_in_request::Amount::SpliceAmountSats(200_000)),
        })
        .await
        .expect("splice in");
    let old_txo = channel.funding_txo.clone().unwrap();
    let splice_txid = wait_spender(&chain, &old_txo, "splice-in transaction").await;
    mine_and_sync(&chain, 6, &[&alice, &bob]).await;
    let spliced = wait_until("channel grows to 700k", LONG, || async {
        channel_by_user_id(&alice, &user_channel_id)
            .await
            .filter(|c| c.channel_value_sats == 700_000)
    })
    .await;
    assert_eq!(spliced.funding_txo.as_ref().unwrap().txid, splice_txid);
    wait_until("bob sees 700k", LONG, || async {
        channel_by_id(&bob, &channel.channel_id)
            .await
            .filter(|c| c.channel_value_sats == 700_000)
    })
    .await;
    // The opening's own READY may still arrive on this stream (the channel is usable before
    // its event is processed), so wait for the READY that carries the splice's outpoint.
    next_event(
        &mut alice_events,
        "READY with the splice's funding outpoint",
        EVENT_TIMEOUT,
        |event| match event {
            Event::ChannelStateChanged(c)
                if c.state() == ChannelState::Ready
                    && c.channel_id == channel.channel_id
                    && c.funding_txo
                        .as_deref()
                        .is_some_and(|txo| txo.starts_with(&splice_txid)) =>
            {
                Some(c.clone())
            }
            _ => None,
        },
    )
    .await;
    let onchain_after = wait_until("wallet pays for the splice", LONG, || async {
        let now = alice.balances().await.total_onchain_balance_sats;
        (now <= onchain_before - 200_000).then_some(now)
    })
    .await;
    assert!(
        onchain_after > onchain_before - 210_000,
        "splice-in cost {} sats",
        onchain_before - onchain_after
    );

    // Splice out 100k sats to an address of bitcoind's wallet.
    let external = chain.rpc("getnewaddress", &[]);
    let external = external.as_str().unwrap().to_owned();
    let response = alice
        .rpc()
        .splice_out(SpliceOutRequest {
            user_channel_id: user_channel_id.clone(),
            counterparty_node_id: bob.node_id.clone(),
            address: Some(external.clone()),
            splice_amount_sats: 100_000,
        })
        .await
        .expect("splice out to an address")
        .into_inner();
    assert_eq!(response.address, external);
    let txo = spliced.funding_txo.clone().unwrap();
    let splice_txid = wait_spender(&chain, &txo, "splice-out transaction").await;
    assert_eq!(
        paid_to(&transaction(&chain, &splice_txid), &external),
        100_000
    );
    mine_and_sync(&chain, 6, &[&alice, &bob]).await;
    let received = chain.rpc("getreceivedbyaddress", &[json!(external), json!(1)]);
    assert_eq!(btc_to_sats(&received), 100_000);
    let spliced = wait_until("channel shrinks after splice-out", LONG, || async {
        funded_by(&alice, &user_channel_id, &splice_txid).await
    })
    .await;
    // The channel pays the 100k and the fee of the splice.
    assert!(
        (590_000..600_000).contains(&spliced.channel_value_sats),
        "channel value after splice-out: {}",
        spliced.channel_value_sats
    );

    // Splice out 50k sats without an address: a fresh address of the node's own wallet.
    let onchain_before = alice.balances().await.total_onchain_balance_sats;
    let value_before = spliced.channel_value_sats;
    let response = alice
        .rpc()
        .splice_out(SpliceOutRequest {
            user_channel_id: user_channel_id.clone(),
            counterparty_node_id: bob.node_id.clone(),
            address: None,
            splice_amount_sats: 50_000,
        })
        .await
        .expect("splice out to the wallet")
        .into_inner();
    assert!(
        response.address.starts_with("bcrt1"),
        "{}",
        response.address
    );
    assert_ne!(response.address, external);
    let txo = spliced.funding_txo.clone().unwrap();
    let splice_txid = wait_spender(&chain, &txo, "second splice-out transaction").await;
    assert_eq!(
        paid_to(&transaction(&chain, &splice_txid), &response.address),
        50_000
    );
    mine_and_sync(&chain, 6, &[&alice, &bob]).await;
    wait_until("alice's wallet receives the 50k", LONG, || async {
        let now = alice.balances().await.total_onchain_balance_sats;
        (now >= onchain_before + 50_000).then_some(())
    })
    .await;
    let spliced = wait_until("channel shrinks again", LONG, || async {
        funded_by(&alice, &user_channel_id, &splice_txid).await
    })
    .await;
    assert!(
        (value_before - 60_000..value_before - 50_000).contains(&spliced.channel_value_sats),
        "channel value after second splice-out: {} (was {value_before})",
        spliced.channel_value_sats
    );
    assert!(spliced.is_usable);
}

#[tokio::test(flavor = "multi_thread")]
async fn cooperative_and_force_close() {
    let Some(chain) = Chain::start("cooperative_and_force_close") else {
        return;
    };
    let alice = TestNode::start(&chain, "alice", "").await;
    let bob = TestNode::start(&chain, "bob", "").await;
    alice.fund(&chain, 2_000_000).await;

    // OpenChannel fields ldk-node 0.7 cannot honour are refused by name.
    assert_invalid(
        alice
            .rpc()
            .open_channel(OpenChannelRequest {
                node_pubkey: bob.node_id.clone(),
                address: bob.p2p_address.clone(),
                amount: Some(open_channel_request::Amount::AllFunds(AllFunds {})),
                push_to_counterparty_msat: None,
                channel_config: None,
                announce_channel: false,
                disable_counterparty_reserve: false,
            })
            .await,
        "all_funds",
    );
    assert_invalid(
        alice
            .rpc()
            .open_channel(OpenChannelRequest {
                node_pubkey: bob.node_id.clone(),
                address: bob.p2p_address.clone(),
                amount: Some(open_channel_request::Amount::ChannelAmountSats(300_000)),
                push_to_counterparty_msat: None,
                channel_config: None,
                announce_channel: false,
                disable_counterparty_reserve: true,
            })
            .await,
        "disable_counterparty_reserve",
    );
    assert!(alice.channels().await.is_empty());

    let first = open_channel(&chain, &alice, &bob, 300_000, 0, false).await;
    let second = open_channel(&chain, &alice, &bob, 400_000, 100_000_000, false).await;
    let first = wait_usable(&alice, &bob, &first).await;
    let second = wait_usable(&alice, &bob, &second).await;
    let mut alice_events = alice.events().await;
    let mut bob_events = bob.events().await;

    // Closing a channel that does not exist is an error, not a silent success.
    for force in [false, true] {
        let unknown = "12345".to_owned();
        let status = if force {
            alice
                .rpc()
                .force_close_channel(ForceCloseChannelRequest {
                    user_channel_id: unknown,
                    counterparty_node_id: bob.node_id.clone(),
                    force_close_reason: None,
                })
                .await
                .unwrap_err()
        } else {
            alice
                .rpc()
                .close_channel(CloseChannelRequest {
                    user_channel_id: unknown,
                    counterparty_node_id: bob.node_id.clone(),
                })
                .await
                .unwrap_err()
        };
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains("12345"), "{}", status.message());
    }

    // Cooperative close of the first channel.
    alice
        .rpc()
        .close_channel(CloseChannelRequest {
            user_channel_id: first.user_channel_id.clone(),
            counterparty_node_id: bob.node_id.clone(),
        })
        .await
        .expect("close channel");
    let closed = closed_event(&mut alice_events, &first.channel_id).await;
    assert_eq!(
        reason_kind(&closed),
        ChannelStateChangeReasonKind::LocallyInitiatedCooperativeClosure
    );
    assert_eq!(closed.closure_initiator(), ChannelClosureInitiator::Local);
    assert_eq!(closed.user_channel_id, first.user_channel_id);
    assert_eq!(
        closed.counterparty_node_id.as_deref(),
        Some(bob.node_id.as_str())
    );
    let closed = closed_event(&mut bob_events, &first.channel_id).await;
    assert_eq!(
        reason_kind(&closed),
        ChannelStateChangeReasonKind::CounterpartyInitiatedCooperativeClosure
    );
    assert_eq!(closed.closure_initiator(), ChannelClosureInitiator::Remote);
    assert_eq!(
        closed.counterparty_node_id.as_deref(),
        Some(alice.node_id.as_str())
    );
    for node in [&alice, &bob] {
        wait_until("closed channel leaves ListChannels", LONG, || async {
            channel_by_id(node, &first.channel_id)
                .await
                .is_none()
                .then_some(())
        })
        .await;
    }
    let coop_txid = wait_spender(
        &chain,
        first.funding_txo.as_ref().unwrap(),
        "cooperative closing transaction",
    )
    .await;
    assert!(channel_by_id(&alice, &second.channel_id).await.is_some());

    // Force close of the second channel, with a reason the peer gets to read.
    let reason = "e2e test force close";
    alice
        .rpc()
        .force_close_channel(ForceCloseChannelRequest {
            user_channel_id: second.user_channel_id.clone(),
            counterparty_node_id: bob.node_id.clone(),
            force_close_reason: Some(reason.into()),
        })
        .await
        .expect("force close");
    let closed = closed_event(&mut alice_events, &second.channel_id).await;
    assert_eq!(
        reason_kind(&closed),
        ChannelStateChangeReasonKind::HolderForceClosed
    );
    assert_eq!(closed.closure_initiator(), ChannelClosureInitiator::Local);
    match closed.reason.as_ref().unwrap().details.as_ref() {
        Some(Details::HolderForceClosed(details)) => {
            assert_eq!(details.message, reason);
            assert_eq!(details.broadcasted_latest_txn, Some(true));
        }
        other => panic!("holder force-close details expected, got {other:?}"),
    }
    let closed = closed_event(&mut bob_events, &second.channel_id).await;
    assert_eq!(
        reason_kind(&closed),
        ChannelStateChangeReasonKind::CounterpartyForceClosed
    );
    assert_eq!(closed.closure_initiator(), ChannelClosureInitiator::Remote);
    match closed.reason.as_ref().unwrap().details.as_ref() {
        Some(Details::CounterpartyForceClosed(details)) => {
            assert!(
                details.peer_msg.contains(reason),
                "peer_msg {:?}",
                details.peer_msg
            );
        }
        other => panic!("counterparty force-close details expected, got {other:?}"),
    }
    for node in [&alice, &bob] {
        wait_until("force-closed channel leaves ListChannels", LONG, || async {
            node.channels().await.is_empty().then_some(())
        })
        .await;
    }
    let commitment_txid = wait_spender(
        &chain,
        second.funding_txo.as_ref().unwrap(),
        "commitment transaction",
    )
    .await;
    assert_ne!(commitment_txid, coop_txid);

    // One confirmation: both sides wait for their outputs to mature.
    mine_and_sync(&chain, 1, &[&alice, &bob]).await;
    let commitment_height = chain.height();
    let alice_claim = wait_until("alice's to_local awaits its delay", LONG, || async {
        awaiting_confirmations(&alice, &second.channel_id)
            .await
            .filter(|c| c.source() == BalanceSource::HolderForceClosed)
    })
    .await;
    assert_eq!(alice_claim.counterparty_node_id, bob.node_id);
    assert!(alice_claim.amount_satoshis > 250_000 && alice_claim.amount_satoshis < 300_000);
    // The CSV delay Bob imposed on Alice's output (144 blocks by default) is still ahead.
    assert!(
        alice_claim.confirmation_height > commitment_height + 100,
        "claimable at {} (commitment at {commitment_height})",
        alice_claim.confirmation_height
    );
    let bob_claim = wait_until("bob's to_remote awaits confirmations", LONG, || async {
        awaiting_confirmations(&bob, &second.channel_id)
            .await
            .filter(|c| c.source() == BalanceSource::CounterpartyForceClosed)
    })
    .await;
    assert_eq!(bob_claim.amount_satoshis, 100_000);
    assert_eq!(bob_claim.counterparty_node_id, alice.node_id);
    let alice_balances = alice.balances().await;
    assert!(alice_balances.total_lightning_balance_sats >= alice_claim.amount_satoshis);
    let alice_onchain_before = alice_balances.total_onchain_balance_sats;

    // Until the output matures it stays a claimable balance of the channel and nothing is
    // swept yet.
    let blocks = u64::from(alice_claim.confirmation_height - 3 - chain.height());
    mine_and_sync(&chain, blocks, &[&alice, &bob]).await;
    let balances = alice.balances().await;
    assert!(
        balances
            .pending_balances_from_channel_closures
            .iter()
            .all(|b| sweep_channel(b) != Some(second.channel_id.as_str())),
        "nothing to sweep before maturity: {balances:?}"
    );
    assert_eq!(
        awaiting_confirmations(&alice, &second.channel_id)
            .await
            .map(|c| c.amount_satoshis),
        Some(alice_claim.amount_satoshis)
    );
    assert_eq!(balances.total_onchain_balance_sats, alice_onchain_before);

    // From maturity on, the sweep is a pending balance of the closure; once it confirms the
    // money is in the wallet and the sweep waits out LDK's prune delay (PRUNE_DELAY_BLOCKS,
    // 4038 blocks) as AwaitingThresholdConfirmations. Each round mines one more block.
    let deadline = std::time::Instant::now() + LONG;
    let settled = loop {
        let balances = alice.balances().await;
        let height = chain.height();
        if let Some(sweep) = settled_sweep(&balances, &second.channel_id, height) {
            if balances.total_onchain_balance_sats > alice_onchain_before + 250_000 {
                break sweep;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "alice's sweep did not settle by height {height}: {balances:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        mine_and_sync(&chain, 1, &[&alice, &bob]).await;
    };
    assert_eq!(settled.amount_satoshis, alice_claim.amount_satoshis);
    assert!(settled.confirmation_height >= alice_claim.confirmation_height);
    let sweep_tx = transaction(&chain, &settled.latest_spending_txid);
    assert!(
        sweep_tx["vin"]
            .as_array()
            .unwrap()
            .iter()
            .any(|input| input["txid"].as_str() == Some(commitment_txid.as_str())),
        "the sweep spends the commitment transaction"
    );

    // Bob's to_remote (1-block CSV, then 6 confirmations) was swept long ago into his wallet.
    let bob_balances = bob.balances().await;
    let bob_sweep = settled_sweep(&bob_balances, &second.channel_id, chain.height())
        .unwrap_or_else(|| panic!("bob's sweep settled: {bob_balances:?}"));
    assert_eq!(bob_sweep.amount_satoshis, 100_000);
    assert!(
        (90_000..100_000).contains(&bob_balances.total_onchain_balance_sats),
        "bob's wallet: {bob_balances:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarding_through_three_nodes() {
    let Some(chain) = Chain::start("forwarding_through_three_nodes") else {
        return;
    };
    let alice = TestNode::start(&chain, "alice", "").await;
    let bob = TestNode::start(&chain, "bob", "").await;
    let carol = TestNode::start(&chain, "carol", "").await;
    alice.fund(&chain, 1_000_000).await;
    bob.fund(&chain, 1_000_000).await;

    // Alice -> Bob private, Bob -> Carol announced: ldk-node 0.7.1 leaves LDK's
    // `accept_forwards_to_priv_channels` off (it turns it on only for an LSPS2 service or an
    // async-payments server), so Bob forwards only into announced channels. Alice learns
    // Bob -> Carol from Bob's gossip.
    let alice_bob = open_channel(&chain, &alice, &bob, 500_000, 0, false).await;
    let bob_carol = open_channel(&chain, &bob, &carol, 500_000, 0, true).await;
    let alice_bob = wait_usable(&alice, &bob, &alice_bob).await;
    let bob_carol = wait_usable(&bob, &carol, &bob_carol).await;
    let bob_side_of_alice_bob = channel_by_id(&bob, &alice_bob.channel_id).await.unwrap();
    let scid = short_channel_id(&chain, bob_carol.funding_txo.as_ref().unwrap());
    let bob_is_one = bob.node_id < carol.node_id;
    wait_until(
        "alice's graph has bob's side of bob-carol",
        LONG,
        || async {
            let channel = alice
                .rpc()
                .graph_get_channel(GraphGetChannelRequest {
                    short_channel_id: scid,
                })
                .await
                .ok()?
                .into_inner()
                .channel?;
            if bob_is_one {
                channel.one_to_two
            } else {
                channel.two_to_one
            }
            .filter(|update| update.enabled)
        },
    )
    .await;
    let config = bob_carol.channel_config.unwrap();
    let amount_msat = 40_000_000u64;
    let expected_fee = u64::from(config.forwarding_fee_base_msat.unwrap())
        + amount_msat * u64::from(config.forwarding_fee_proportional_millionths.unwrap())
            / 1_000_000;
    assert!(expected_fee > 0);

    let mut alice_events = alice.events().await;
    let mut bob_events = bob.events().await;
    let invoice = carol
        .receive_invoice(Some(amount_msat), "through bob")
        .await
        .invoice;
    let payment_id = alice.pay_invoice(&invoice, None).await;
    let paid = next_event(
        &mut alice_events,
        "payment successful",
        EVENT_TIMEOUT,
        |event| match event {
            Event::PaymentSuccessful(e)
                if e.payment.as_ref().is_some_and(|p| p.id == payment_id) =>
            {
                e.payment.clone()
            }
            Event::PaymentFailed(e) if e.payment.as_ref().is_some_and(|p| p.id == payment_id) => {
                panic!(
                    "payment failed: {e:?}\nALICE LOG:\n{}\nBOB LOG:\n{}",
                    alice.server.log(),
                    bob.server.log()
                )
            }
            _ => None,
        },
    )
    .await;
    assert_eq!(paid.amount_msat, Some(amount_msat));
    assert_eq!(paid.fee_paid_msat, Some(expected_fee));

    let forwarded = next_event(
        &mut bob_events,
        "payment forwarded",
        EVENT_TIMEOUT,
        |event| match event {
            Event::PaymentForwarded(e) => e.forwarded_payment.clone(),
            _ => None,
        },
    )
    .await;
    assert_eq!(forwarded.total_fee_earned_msat, Some(expected_fee));
    assert_eq!(forwarded.outbound_amount_forwarded_msat, Some(amount_msat));
    assert!(!forwarded.claim_from_onchain_tx);
    assert!(matches!(forwarded.skimmed_fee_msat, None | Some(0)));
    assert_eq!(
        forwarded.prev_htlcs,
        vec![types::HtlcLocator {
            channel_id: alice_bob.channel_id.clone(),
            user_channel_id: Some(bob_side_of_alice_bob.user_channel_id.clone()),
            node_id: Some(alice.node_id.clone()),
        }]
    );
    assert_eq!(
        forwarded.next_htlcs,
        vec![types::HtlcLocator {
            channel_id: bob_carol.channel_id.clone(),
            user_channel_id: Some(bob_carol.user_channel_id.clone()),
            node_id: Some(carol.node_id.clone()),
        }]
    );

    // The routing history: exactly this record on Bob, nothing on the end points.
    let history = wait_until("bob's forwarding history", LONG, || async {
        let page = bob
            .rpc()
            .list_forwarded_payments(ListForwardedPaymentsRequest { page_token: None })
            .await
            .ok()?
            .into_inner();
        (!page.forwarded_payments.is_empty()).then_some(page)
    })
    .await;
    assert_eq!(history.forwarded_payments, vec![forwarded]);
    for node in [&alice, &carol] {
        let page = node
            .rpc()
            .list_forwarded_payments(ListForwardedPaymentsRequest { page_token: None })
            .await
            .expect("list forwarded payments")
            .into_inner();
        assert!(
            page.forwarded_payments.is_empty(),
            "{} forwarded {:?}",
            node.alias,
            page.forwarded_payments
        );
    }

    // Carol got exactly the invoice amount (the BOLT 11 payment id is the payment hash on
    // both ends).
    let received = wait_until("carol's payment record", LONG, || async {
        carol
            .rpc()
            .get_payment_details(GetPaymentDetailsRequest {
                payment_id: payment_id.clone(),
            })
            .await
            .ok()?
            .into_inner()
            .payment
            .filter(|p| p.status() == types::PaymentStatus::Succeeded)
    })
    .await;
    assert_eq!(received.amount_msat, Some(amount_msat));
    assert_eq!(received.direction(), types::PaymentDirection::Inbound);

    // Bob's forwarding counters, live and again after a restart (read back from the history).
    let forwarding = |text: &str| {
        [
            "ldk_server_forwarded_payments_total",
            "ldk_server_forwarded_amount_msat_total",
            "ldk_server_forwarding_fees_earned_msat_total",
        ]
        .map(|name| metric_value(text, name))
    };
    let expected = [1.0, amount_msat as f64, expected_fee as f64];
    assert_eq!(forwarding(&bob.metrics().await), expected);
    let bob = bob.restart(&chain).await;
    let counters = wait_until(
        "bob's forwarding counters after a restart",
        LONG,
        || async {
            let text = bob.metrics().await;
            // Exported once the history has been read.
            let counters = text
                .contains("ldk_server_forwarded_payments_total ")
                .then(|| forwarding(&text))?;
            (counters == expected).then_some(counters)
        },
    )
    .await;
    assert_eq!(counters, expected);
}
