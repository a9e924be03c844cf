//! End to end on regtest: two `ldk-server` processes on a real bitcoind pay each other every way
//! the API offers, and the history, events and metrics show it.

mod common;

use std::time::Duration;

use common::chain::{next_event, open_channel, wait_until, Chain, TestNode};
use ldk_server::proto::api::*;
use ldk_server::proto::events::event_envelope::Event;
use ldk_server::proto::events::ChannelState;
use ldk_server::proto::types::{self, bolt11_invoice_description, payment_kind, PaymentStatus};

const EVENT_TIMEOUT: Duration = Duration::from_secs(60);

fn description(text: &str) -> Option<types::Bolt11InvoiceDescription> {
    Some(types::Bolt11InvoiceDescription {
        kind: Some(bolt11_invoice_description::Kind::Direct(text.into())),
    })
}

async fn wait_payment_succeeded(
    stream: &mut tonic::Streaming<ldk_server::proto::events::EventEnvelope>,
    payment_id: &str,
) {
    next_event(
        stream,
        &format!("PaymentSuccessful {payment_id}"),
        EVENT_TIMEOUT,
        |event| match event {
            Event::PaymentSuccessful(e)
                if e.payment.as_ref().is_some_and(|p| p.id == payment_id) =>
            {
                Some(())
            }
            Event::PaymentFailed(e) if e.payment.as_ref().is_some_and(|p| p.id == payment_id) => {
                panic!("payment {payment_id} failed: {e:?}")
            }
            _ => None,
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn onchain_channel_and_bolt11() {
    let Some(chain) = Chain::start("onchain_channel_and_bolt11") else {
        return;
    };
    let alice = TestNode::start(&chain, "alice", "").await;
    let bob = TestNode::start(&chain, "bob", "").await;

    // Fund Alice and send some of it to Bob on chain.
    alice.fund(&chain, 2_000_000).await;
    let bob_address = bob
        .rpc()
        .onchain_receive(OnchainReceiveRequest {})
        .await
        .unwrap()
        .into_inner()
        .address;
    let sent = alice
        .rpc()
        .onchain_send(OnchainSendRequest {
            address: bob_address,
            amount: Some(onchain_send_request::Amount::AmountSats(150_000)),
            fee_rate_sat_per_vb: Some(2),
        })
        .await
        .expect("onchain send")
        .into_inner();
    assert_eq!(sent.txid.len(), 64);
    wait_until("tx in mempool", Duration::from_secs(20), || async {
        chain.in_mempool(&sent.txid).then_some(())
    })
    .await;
    chain.mine(6);
    bob.wait_for_height(chain.height()).await;
    wait_until("bob sees 150k sats", Duration::from_secs(120), || async {
        (bob.balances().await.spendable_onchain_balance_sats == 150_000).then_some(())
    })
    .await;

    // Channel Alice -> Bob, with the PENDING and READY events on both sides.
    let mut alice_events = alice.events().await;
    let mut bob_events = bob.events().await;
    let user_channel_id = open_channel(&chain, &alice, &bob, 1_000_000, 100_000_000, false).await;
    for (stream, peer) in [
        (&mut alice_events, &bob.node_id),
        (&mut bob_events, &alice.node_id),
    ] {
        let pending = next_event(
            stream,
            "channel pending",
            EVENT_TIMEOUT,
            |event| match event {
                Event::ChannelStateChanged(c) if c.state() == ChannelState::Pending => {
                    Some(c.clone())
                }
                _ => None,
            },
        )
        .await;
        assert_eq!(pending.counterparty_node_id.as_deref(), Some(peer.as_str()));
        assert!(pending
            .funding_txo
            .as_ref()
            .is_some_and(|txo| txo.contains(':')));
        let ready = next_event(
            stream,
            "channel ready",
            EVENT_TIMEOUT,
            |event| match event {
                Event::ChannelStateChanged(c) if c.state() == ChannelState::Ready => {
                    Some(c.clone())
                }
                _ => None,
            },
        )
        .await;
        assert_eq!(ready.channel_id, pending.channel_id);
    }
    let channel = alice
        .channels()
        .await
        .into_iter()
        .find(|c| c.user_channel_id == user_channel_id)
        .unwrap();
    assert_eq!(channel.channel_value_sats, 1_000_000);

    // BOLT 11 with a fixed amount.
    let invoice = bob
        .rpc()
        .bolt11_receive(Bolt11ReceiveRequest {
            amount_msat: Some(50_000_000),
            description: description("fixed"),
            expiry_secs: 3600,
        })
        .await
        .expect("bolt11 receive")
        .into_inner();
    let payment_id = alice
        .rpc()
        .bolt11_send(Bolt11SendRequest {
            invoice: invoice.invoice.clone(),
            amount_msat: None,
            route_parameters: None,
        })
        .await
        .expect("bolt11 send")
        .into_inner()
        .payment_id;
    wait_payment_succeeded(&mut alice_events, &payment_id).await;
    let received = next_event(
        &mut bob_events,
        "PaymentReceived",
        EVENT_TIMEOUT,
        |event| match event {
            Event::PaymentReceived(e) => e.payment.clone(),
            _ => None,
        },
    )
    .await;
    assert_eq!(received.amount_msat, Some(50_000_000));
    assert_eq!(received.status(), PaymentStatus::Succeeded);
    assert!(matches!(
        received.kind.as_ref().and_then(|k| k.kind.as_ref()),
        Some(payment_kind::Kind::Bolt11(_))
    ));

    // GetPaymentDetails sees it on both sides.
    let details = alice
        .rpc()
        .get_payment_details(GetPaymentDetailsRequest {
            payment_id: payment_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .payment
        .expect("payment known");
    assert_eq!(details.status(), PaymentStatus::Succeeded);
    assert_eq!(details.amount_msat, Some(50_000_000));
    let unknown = alice
        .rpc()
        .get_payment_details(GetPaymentDetailsRequest {
            payment_id: "00".repeat(32),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(unknown.payment.is_none());

    // BOLT 11 without an amount: the payer chooses it.
    let invoice = bob
        .rpc()
        .bolt11_receive(Bolt11ReceiveRequest {
            amount_msat: None,
            description: description("any"),
            expiry_secs: 3600,
        })
        .await
        .unwrap()
        .into_inner();
    let payment_id = alice
        .rpc()
        .bolt11_send(Bolt11SendRequest {
            invoice: invoice.invoice,
            amount_msat: Some(7_777_000),
            route_parameters: None,
        })
        .await
        .expect("variable amount send")
        .into_inner()
        .payment_id;
    wait_payment_succeeded(&mut alice_events, &payment_id).await;
}
