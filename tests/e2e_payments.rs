//! End to end on regtest: two `ldk-server` processes on a real bitcoind pay each other every way
//! the API offers, and the history, events and metrics show it.

mod common;

use std::time::Duration;

use common::chain::{
    metric_value, next_channel_state, next_event, open_channel, wait_payment_succeeded, wait_until,
    Chain, TestNode,
};
use ldk_server::proto::api::*;
use ldk_server::proto::events::event_envelope::Event;
use ldk_server::proto::events::ChannelState;
use ldk_server::proto::types::{self, payment_kind, PaymentStatus};

const EVENT_TIMEOUT: Duration = Duration::from_secs(60);

async fn wait_all_succeeded(
    stream: &mut tonic::Streaming<ldk_server::proto::events::EventEnvelope>,
    ids: &[String],
) {
    let mut pending: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
    while !pending.is_empty() {
        let id = next_event(
            stream,
            &format!("{} payments to succeed", pending.len()),
            EVENT_TIMEOUT,
            |event| match event {
                Event::PaymentSuccessful(e) => e.payment.as_ref().map(|p| p.id.clone()),
                Event::PaymentFailed(e) => panic!("payment failed: {e:?}"),
                _ => None,
            },
        )
        .await;
        pending.remove(id.as_str());
    }
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
    let bob_address = bob.new_address().await;
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
    // ldk-node 0.7 learns that its own send spent its coins only at its next wallet sync; a
    // channel funded before that could reuse the spent coin. Wait for the sync, as an operator
    // would.
    wait_until(
        "alice's wallet sees its send",
        Duration::from_secs(120),
        || async {
            (alice.balances().await.total_onchain_balance_sats < 2_000_000 - 150_000).then_some(())
        },
    )
    .await;

    // Peers: a failed connection is a Lightning error; a good one is listed (and persisted).
    let nobody = format!("127.0.0.1:{}", common::free_port());
    let status = alice
        .rpc()
        .connect_peer(ConnectPeerRequest {
            node_pubkey: bob.node_id.clone(),
            address: nobody,
            persist: false,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    let status = alice
        .rpc()
        .connect_peer(ConnectPeerRequest {
            node_pubkey: "02abc".into(),
            address: bob.p2p_address.clone(),
            persist: false,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("node_pubkey"),
        "{}",
        status.message()
    );
    alice
        .rpc()
        .connect_peer(ConnectPeerRequest {
            node_pubkey: bob.node_id.clone(),
            address: bob.p2p_address.clone(),
            persist: true,
        })
        .await
        .expect("connect peer");
    let peers = alice.peers().await;
    let peer = peers
        .iter()
        .find(|p| p.node_id == bob.node_id)
        .expect("bob listed");
    assert!(peer.is_connected && peer.is_persisted, "{peer:?}");
    assert_eq!(peer.address, bob.p2p_address);
    alice
        .rpc()
        .disconnect_peer(DisconnectPeerRequest {
            node_pubkey: bob.node_id.clone(),
        })
        .await
        .expect("disconnect peer");
    wait_until("bob disconnected", Duration::from_secs(30), || async {
        let peers = alice.peers().await;
        (!peers
            .iter()
            .any(|p| p.node_id == bob.node_id && p.is_connected))
        .then_some(())
    })
    .await;

    // SignMessage with the node key; anyone can check it with VerifySignature.
    let message = b"proof of node ownership".to_vec();
    let signature = alice
        .rpc()
        .sign_message(SignMessageRequest {
            message: message.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .signature;
    let verified = bob
        .rpc()
        .verify_signature(VerifySignatureRequest {
            message,
            signature,
            public_key: alice.node_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(verified.valid);

    // Channel Alice -> Bob, with the PENDING and READY events on both sides.
    let mut alice_events = alice.events().await;
    let mut bob_events = bob.events().await;
    let user_channel_id = open_channel(&chain, &alice, &bob, 1_000_000, 100_000_000, false).await;
    for (stream, peer) in [
        (&mut alice_events, &bob.node_id),
        (&mut bob_events, &alice.node_id),
    ] {
        let pending = next_channel_state(stream, ChannelState::Pending, EVENT_TIMEOUT).await;
        assert_eq!(pending.counterparty_node_id.as_deref(), Some(peer.as_str()));
        assert!(pending
            .funding_txo
            .as_ref()
            .is_some_and(|txo| txo.contains(':')));
        let ready = next_channel_state(stream, ChannelState::Ready, EVENT_TIMEOUT).await;
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
    let invoice = bob.receive_invoice(Some(50_000_000), "fixed").await;
    let payment_id = alice.pay_invoice(&invoice.invoice, None).await;
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
    let invoice = bob.receive_invoice(None, "any").await;
    let payment_id = alice.pay_invoice(&invoice.invoice, Some(7_777_000)).await;
    wait_payment_succeeded(&mut alice_events, &payment_id).await;
}

/// A plain keysend of `amount_msat` to `to`.
fn keysend_to(to: &TestNode, amount_msat: u64) -> SpontaneousSendRequest {
    SpontaneousSendRequest {
        amount_msat,
        node_id: to.node_id.clone(),
        route_parameters: None,
        custom_tlvs: vec![],
        preimage: None,
    }
}

fn bolt12_offer_of(payment: &types::Payment) -> Option<&types::Bolt12Offer> {
    match payment.kind.as_ref()?.kind.as_ref()? {
        payment_kind::Kind::Bolt12Offer(offer) => Some(offer),
        _ => None,
    }
}

fn spontaneous_of(payment: &types::Payment) -> Option<&types::Spontaneous> {
    match payment.kind.as_ref()?.kind.as_ref()? {
        payment_kind::Kind::Spontaneous(keysend) => Some(keysend),
        _ => None,
    }
}

/// Walks ListPayments with page tokens and returns every payment, checking the pages.
async fn walk_payments(node: &TestNode) -> Vec<types::Payment> {
    let mut all = Vec::new();
    let mut token: Option<types::PageToken> = None;
    let mut last_index = i64::MAX;
    let mut pages = 0;
    loop {
        let page = node
            .rpc()
            .list_payments(ListPaymentsRequest {
                page_token: token.clone(),
            })
            .await
            .expect("list payments")
            .into_inner();
        pages += 1;
        assert!(
            page.payments.len() <= 100,
            "pages hold at most 100 payments"
        );
        match page.next_page_token {
            Some(next) => {
                assert!(
                    !page.payments.is_empty(),
                    "a token comes only with a non-empty page"
                );
                assert!(next.index <= last_index, "pages go from newest to oldest");
                last_index = next.index;
                all.extend(page.payments);
                token = Some(next);
            }
            None => {
                assert!(
                    page.payments.is_empty(),
                    "the end is an empty page without a token"
                );
                break;
            }
        }
        assert!(pages < 100, "pagination does not end");
    }
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn offers_keysend_unified_pagination_metrics_and_restart() {
    use sha2::Digest;
    let Some(chain) = Chain::start("offers_keysend_unified_pagination_metrics_and_restart") else {
        return;
    };
    let alice = TestNode::start(&chain, "alice", "").await;
    let bob = TestNode::start(&chain, "bob", "").await;
    alice.fund(&chain, 3_000_000).await;
    open_channel(&chain, &alice, &bob, 2_000_000, 0, false).await;
    let mut alice_events = alice.events().await;
    let mut bob_events = bob.events().await;

    // BOLT 12: a fixed-amount offer and a variable-amount one.
    let offer = bob
        .rpc()
        .bolt12_receive(Bolt12ReceiveRequest {
            description: "tea".into(),
            amount_msat: Some(12_000_000),
            expiry_secs: None,
            quantity: None,
        })
        .await
        .expect("bolt12 receive")
        .into_inner();
    assert!(offer.offer.starts_with("lno1"));
    let payment_id = alice
        .rpc()
        .bolt12_send(Bolt12SendRequest {
            offer: offer.offer.clone(),
            amount_msat: None,
            quantity: None,
            payer_note: Some("thanks".into()),
            route_parameters: None,
        })
        .await
        .expect("bolt12 send")
        .into_inner()
        .payment_id;
    wait_payment_succeeded(&mut alice_events, &payment_id).await;
    let paid = alice.payment(&payment_id).await;
    let kind = bolt12_offer_of(&paid).expect("bolt12 offer payment");
    assert_eq!(kind.offer_id, offer.offer_id);
    assert_eq!(kind.payer_note.as_deref(), Some("thanks"));
    assert_eq!(paid.amount_msat, Some(12_000_000));
    let open_offer = bob
        .rpc()
        .bolt12_receive(Bolt12ReceiveRequest {
            description: "tips".into(),
            amount_msat: None,
            expiry_secs: Some(3600),
            quantity: None,
        })
        .await
        .unwrap()
        .into_inner();
    let payment_id = alice
        .rpc()
        .bolt12_send(Bolt12SendRequest {
            offer: open_offer.offer,
            amount_msat: Some(3_000_000),
            quantity: None,
            payer_note: None,
            route_parameters: None,
        })
        .await
        .expect("variable bolt12 send")
        .into_inner()
        .payment_id;
    wait_payment_succeeded(&mut alice_events, &payment_id).await;

    // Keysend with custom TLVs, and with a preimage of our choosing.
    let tlv = types::CustomTlvRecord {
        type_num: 65_537,
        value: b"order-42".to_vec(),
    };
    let payment_id = alice
        .rpc()
        .spontaneous_send(SpontaneousSendRequest {
            custom_tlvs: vec![tlv.clone()],
            ..keysend_to(&bob, 1_500_000)
        })
        .await
        .expect("keysend with TLVs")
        .into_inner()
        .payment_id;
    wait_payment_succeeded(&mut alice_events, &payment_id).await;
    let records = next_event(
        &mut bob_events,
        "keysend received",
        EVENT_TIMEOUT,
        |event| match event {
            Event::PaymentReceived(e)
                if e.payment
                    .as_ref()
                    .is_some_and(|p| spontaneous_of(p).is_some()) =>
            {
                Some(e.custom_records.clone())
            }
            _ => None,
        },
    )
    .await;
    assert_eq!(records, vec![tlv]);
    let preimage = [0x42u8; 32];
    let payment_id = alice
        .rpc()
        .spontaneous_send(SpontaneousSendRequest {
            preimage: Some(hex::encode(preimage)),
            ..keysend_to(&bob, 2_000_000)
        })
        .await
        .expect("keysend with preimage")
        .into_inner()
        .payment_id;
    wait_payment_succeeded(&mut alice_events, &payment_id).await;
    let paid = alice.payment(&payment_id).await;
    let keysend = spontaneous_of(&paid).expect("spontaneous payment");
    assert_eq!(keysend.hash, hex::encode(sha2::Sha256::digest(preimage)));

    // UnifiedSend: a BIP 21 URI with a BOLT 11 invoice is paid over Lightning, a plain one on chain.
    let bob_address = bob.new_address().await;
    let invoice = bob.receive_invoice(Some(40_000_000), "unified").await;
    let uri = format!(
        "bitcoin:{bob_address}?amount=0.0004&lightning={}",
        invoice.invoice
    );
    let result = alice
        .rpc()
        .unified_send(UnifiedSendRequest {
            uri,
            amount_msat: None,
            route_parameters: None,
        })
        .await
        .expect("unified send with invoice")
        .into_inner();
    let Some(unified_send_response::PaymentResult::Bolt11PaymentId(payment_id)) =
        result.payment_result
    else {
        panic!("expected a BOLT 11 payment, got {result:?}")
    };
    wait_payment_succeeded(&mut alice_events, &payment_id).await;
    let result = alice
        .rpc()
        .unified_send(UnifiedSendRequest {
            uri: format!("bitcoin:{bob_address}?amount=0.0002"),
            amount_msat: None,
            route_parameters: None,
        })
        .await
        .expect("unified send on chain")
        .into_inner();
    let Some(unified_send_response::PaymentResult::Txid(txid)) = result.payment_result else {
        panic!("expected an on-chain payment, got {result:?}")
    };
    wait_until(
        "unified on-chain tx in mempool",
        Duration::from_secs(30),
        || async { chain.in_mempool(&txid).then_some(()) },
    )
    .await;
    let status = alice
        .rpc()
        .unified_send(UnifiedSendRequest {
            uri: "bitcoin:x".into(),
            amount_msat: Some(5),
            route_parameters: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("amount_msat"),
        "{}",
        status.message()
    );

    // Many payments: 260 keysends in batches of 5, then walk ListPayments on both sides.
    let mut sent_ids = Vec::new();
    for batch in 0..52u64 {
        let sends = (0..5u64).map(|i| {
            let mut client = alice.rpc();
            let request = keysend_to(&bob, 10_000 + batch * 10 + i);
            async move {
                client
                    .spontaneous_send(request)
                    .await
                    .expect("bulk keysend")
                    .into_inner()
                    .payment_id
            }
        });
        let ids = futures_util::future::join_all(sends).await;
        wait_all_succeeded(&mut alice_events, &ids).await;
        sent_ids.extend(ids);
    }
    let expected_outbound = sent_ids.len() + 5;
    wait_until(
        "all bulk payments settled",
        Duration::from_secs(180),
        || async {
            let settled = walk_payments(&alice)
                .await
                .iter()
                .filter(|p| p.status() == PaymentStatus::Succeeded)
                .count();
            (settled >= expected_outbound).then_some(())
        },
    )
    .await;
    let alice_payments = walk_payments(&alice).await;
    let ids: std::collections::HashSet<_> = alice_payments.iter().map(|p| p.id.clone()).collect();
    assert_eq!(ids.len(), alice_payments.len(), "no payment appears twice");
    assert!(
        sent_ids.iter().all(|id| ids.contains(id)),
        "every bulk payment is listed"
    );
    assert!(
        alice_payments.len() >= 265,
        "{} payments",
        alice_payments.len()
    );
    let bob_payments = wait_until(
        "bob stored all received payments",
        Duration::from_secs(120),
        || async {
            let payments = walk_payments(&bob).await;
            (payments.len() >= 265).then_some(payments)
        },
    )
    .await;
    let bob_ids: std::collections::HashSet<_> = bob_payments.iter().map(|p| p.id.clone()).collect();
    assert_eq!(bob_ids.len(), bob_payments.len());
    // Newest first: the last bulk payment is on the first page, the BOLT 12 ones at the end.
    let newest_first: Vec<u64> = alice_payments
        .iter()
        .map(|p| p.latest_update_timestamp)
        .collect();
    assert!(newest_first.first() >= newest_first.last());

    // Scores exist after payments.
    let scores = alice
        .rpc()
        .export_pathfinding_scores(ExportPathfindingScoresRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!scores.scores.is_empty());

    // The metrics count what happened (polled every second). ldk-node's own payment store, which
    // upstream's metrics read, also holds on-chain payments (the deposit, the unified on-chain send,
    // possibly the channel funding), which ListPayments does not list.
    chain.mine(6);
    alice.wait_for_height(chain.height()).await;
    let lightning = alice_payments.len() as f64;
    let metrics = wait_until("metrics catch up", Duration::from_secs(60), || async {
        let text = alice.metrics().await;
        let successful = metric_value(&text, "ldk_server_total_successful_payments_count");
        let total = metric_value(&text, "ldk_server_total_payments_count");
        (successful >= lightning + 2.0 && total == successful).then_some(text)
    })
    .await;
    let successful = metric_value(&metrics, "ldk_server_total_successful_payments_count");
    assert!(
        successful <= lightning + 3.0,
        "{successful} successful for {lightning} Lightning payments:\n{metrics}"
    );
    for line in [
        "ldk_server_total_channels_count 1",
        "ldk_server_total_private_channels_count 1",
        "ldk_server_total_public_channels_count 0",
        "ldk_server_total_peers_count 1",
        "ldk_server_total_failed_payments_count 0",
        "ldk_server_total_pending_payments_count 0",
    ] {
        assert!(
            metrics.contains(&format!("\n{line}\n")),
            "{line} missing:\n{metrics}"
        );
    }
    let lightning_sats = metric_value(&metrics, "ldk_server_total_lightning_balance_sats");
    let balances = alice.balances().await;
    assert_eq!(lightning_sats, balances.total_lightning_balance_sats as f64);
    assert!(lightning_sats > 0.0);

    // A restart keeps the channel and the whole history, and the node pays again.
    let alice = alice.restart(&chain).await;
    assert_eq!(walk_payments(&alice).await.len(), alice_payments.len());
    wait_until(
        "channel usable after restart",
        Duration::from_secs(120),
        || async {
            alice
                .channels()
                .await
                .iter()
                .any(|c| c.counterparty_node_id == bob.node_id && c.is_usable)
                .then_some(())
        },
    )
    .await;
    let mut alice_events = alice.events().await;
    let payment_id = alice
        .rpc()
        .spontaneous_send(keysend_to(&bob, 5_000_000))
        .await
        .expect("keysend after restart")
        .into_inner()
        .payment_id;
    wait_payment_succeeded(&mut alice_events, &payment_id).await;
}
