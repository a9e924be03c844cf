//! UnifiedSend as users use it, on regtest: every accepted form (a bare BOLT 11 invoice with
//! and without an amount, with `lightning:`, a bare BOLT 12 offer, a bare address, BIP 21 URIs
//! with and without an amount and with an invoice), through the API and through `pay` of our
//! CLI, each rejected form with its message; and a cooperative close right after a burst of
//! payments, ten times in a row.

mod common;

use std::process::Command;
use std::time::Duration;

use common::chain::{
    open_channel, wait_payment_succeeded, wait_until, Chain, TestNode, PAYMENT_TIMEOUT,
};
use ldk_server::proto::api::unified_send_response::PaymentResult;
use ldk_server::proto::api::*;
use serde_json::json;
use tonic::Code;

async fn unified(
    node: &TestNode,
    uri: &str,
    amount_msat: Option<u64>,
) -> Result<PaymentResult, tonic::Status> {
    node.rpc()
        .unified_send(UnifiedSendRequest {
            uri: uri.to_owned(),
            amount_msat,
            route_parameters: None,
        })
        .await
        .map(|response| {
            response
                .into_inner()
                .payment_result
                .expect("a payment result")
        })
}

fn refused(result: Result<PaymentResult, tonic::Status>, named: &str) -> String {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains(named),
        "{named}: {}",
        status.message()
    );
    status.message().to_owned()
}

async fn offer(node: &TestNode, amount_msat: Option<u64>) -> String {
    node.rpc()
        .bolt12_receive(Bolt12ReceiveRequest {
            description: "unified".into(),
            amount_msat,
            expiry_secs: Some(3600),
            quantity: None,
        })
        .await
        .expect("bolt12 receive")
        .into_inner()
        .offer
}

#[tokio::test(flavor = "multi_thread")]
async fn unified_send_pays_every_form_it_is_given() {
    let Some(chain) = Chain::start("unified_send_pays_every_form_it_is_given") else {
        return;
    };
    let alice = TestNode::start(&chain, "alice", "").await;
    let bob = TestNode::start(&chain, "bob", "").await;
    alice.fund(&chain, 2_000_000).await;
    open_channel(&chain, &alice, &bob, 1_000_000, 0, false).await;
    let mut events = alice.events().await;

    // A bare BOLT 11 invoice, paid as it asks; then one without an amount, paid as told.
    let invoice = bob.receive_invoice(Some(11_000_000), "bare").await;
    let result = wait_until("a bare invoice is paid", PAYMENT_TIMEOUT, || async {
        unified(&alice, &invoice.invoice, None).await.ok()
    })
    .await;
    assert_eq!(
        result,
        PaymentResult::Bolt11PaymentId(invoice.payment_hash.clone())
    );
    wait_payment_succeeded(&mut events, &invoice.payment_hash).await;
    let open_invoice = bob.receive_invoice(None, "open amount").await;
    refused(
        unified(&alice, &open_invoice.invoice, None).await,
        "amount_msat",
    );
    let result = unified(&alice, &open_invoice.invoice, Some(7_000_000))
        .await
        .unwrap();
    assert_eq!(
        result,
        PaymentResult::Bolt11PaymentId(open_invoice.payment_hash.clone())
    );
    wait_payment_succeeded(&mut events, &open_invoice.payment_hash).await;
    assert_eq!(
        bob.payment(&open_invoice.payment_hash).await.amount_msat,
        Some(7_000_000)
    );
    // With the `lightning:` prefix of a QR code, in capitals.
    let invoice = bob.receive_invoice(Some(3_000_000), "prefixed").await;
    let prefixed = format!("LIGHTNING:{}", invoice.invoice.to_ascii_uppercase());
    let result = unified(&alice, &prefixed, None).await.unwrap();
    assert_eq!(
        result,
        PaymentResult::Bolt11PaymentId(invoice.payment_hash.clone())
    );
    wait_payment_succeeded(&mut events, &invoice.payment_hash).await;

    // A bare BOLT 12 offer, with its amount and without one.
    let priced = offer(&bob, Some(4_000_000)).await;
    let PaymentResult::Bolt12PaymentId(id) = unified(&alice, &priced, None).await.unwrap() else {
        panic!("not a BOLT 12 payment");
    };
    wait_payment_succeeded(&mut events, &id).await;
    let open_offer = offer(&bob, None).await;
    refused(unified(&alice, &open_offer, None).await, "amount_msat");
    let PaymentResult::Bolt12PaymentId(id) =
        unified(&alice, &open_offer, Some(5_000_000)).await.unwrap()
    else {
        panic!("not a BOLT 12 payment");
    };
    wait_payment_succeeded(&mut events, &id).await;
    assert_eq!(alice.payment(&id).await.amount_msat, Some(5_000_000));

    // A bare address: the amount is required and whole satoshis.
    let external = chain.rpc("getnewaddress", &[]).as_str().unwrap().to_owned();
    refused(unified(&alice, &external, None).await, "amount_msat");
    refused(
        unified(&alice, &external, Some(50_000_500)).await,
        "amount_msat",
    );
    let PaymentResult::Txid(txid) = unified(&alice, &external, Some(50_000_000)).await.unwrap()
    else {
        panic!("not on chain");
    };
    confirmed_paying(&chain, &alice, &txid, &external, 50_000).await;

    // BIP 21: its own amount; an amount written into a URI without one; with an invoice.
    let uri = format!("bitcoin:{external}?amount=0.0002");
    let PaymentResult::Txid(txid) = unified(&alice, &uri, None).await.unwrap() else {
        panic!("not on chain");
    };
    confirmed_paying(&chain, &alice, &txid, &external, 20_000).await;
    refused(unified(&alice, &uri, Some(30_000_000)).await, "amount_msat");
    let PaymentResult::Txid(txid) =
        unified(&alice, &format!("bitcoin:{external}"), Some(30_000_000))
            .await
            .unwrap()
    else {
        panic!("not on chain");
    };
    confirmed_paying(&chain, &alice, &txid, &external, 30_000).await;
    let invoice = bob.receive_invoice(Some(6_000_000), "uri").await;
    let bob_address = bob.new_address().await;
    let uri = format!(
        "bitcoin:{bob_address}?amount=0.00006&lightning={}",
        invoice.invoice
    );
    let result = unified(&alice, &uri, None).await.unwrap();
    assert_eq!(
        result,
        PaymentResult::Bolt11PaymentId(invoice.payment_hash.clone())
    );
    wait_payment_succeeded(&mut events, &invoice.payment_hash).await;

    // Through the CLI's `pay`, as upstream's users type it: a bare invoice, an invoice
    // without an amount, `lightning:`, offers with and without an amount, a bare address and
    // a URI without an amount, then the refusals as the CLI shows them.
    let invoice = bob.receive_invoice(Some(2_000_000), "cli").await;
    let printed = cli(&alice, &["pay", &invoice.invoice]);
    assert_eq!(
        printed,
        json!({"payment_result": {"bolt11_payment_id": invoice.payment_hash}})
    );
    wait_payment_succeeded(&mut events, &invoice.payment_hash).await;
    let open_invoice = bob.receive_invoice(None, "cli open").await;
    let printed = cli(&alice, &["pay", &open_invoice.invoice, "2500sat"]);
    assert_eq!(
        printed["payment_result"]["bolt11_payment_id"],
        open_invoice.payment_hash
    );
    wait_payment_succeeded(&mut events, &open_invoice.payment_hash).await;
    let invoice = bob.receive_invoice(Some(1_000_000), "cli prefixed").await;
    let printed = cli(&alice, &["pay", &format!("lightning:{}", invoice.invoice)]);
    assert_eq!(
        printed["payment_result"]["bolt11_payment_id"],
        invoice.payment_hash
    );
    wait_payment_succeeded(&mut events, &invoice.payment_hash).await;
    let printed = cli(&alice, &["pay", &priced]);
    let id = printed["payment_result"]["bolt12_payment_id"]
        .as_str()
        .expect("bolt12 id")
        .to_owned();
    wait_payment_succeeded(&mut events, &id).await;
    let printed = cli(&alice, &["pay", &external, "12000sat"]);
    let txid = printed["payment_result"]["txid"]
        .as_str()
        .expect("txid")
        .to_owned();
    confirmed_paying(&chain, &alice, &txid, &external, 12_000).await;
    let printed = cli(&alice, &["pay", &format!("bitcoin:{external}"), "13000sat"]);
    let txid = printed["payment_result"]["txid"]
        .as_str()
        .expect("txid")
        .to_owned();
    confirmed_paying(&chain, &alice, &txid, &external, 13_000).await;
    let (code, stderr) = cli_fails(&alice, &["pay", "₿alice@example.com", "1sat"]);
    assert_eq!(code, 3, "INVALID_ARGUMENT exits 3: {stderr}");
    assert!(stderr.contains("BIP 353"), "{stderr}");
    let (code, stderr) = cli_fails(&alice, &["pay", &external]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("amount_msat"), "{stderr}");
    let printed = cli(&alice, &["pay", &open_offer, "1500sat"]);
    let id = printed["payment_result"]["bolt12_payment_id"]
        .as_str()
        .expect("bolt12 id")
        .to_owned();
    wait_payment_succeeded(&mut events, &id).await;

    // Failures ldk-node reports bare carry what the server knows: more than the channel can
    // carry, more than the wallet holds.
    let too_much = bob.receive_invoice(Some(5_000_000_000), "too much").await;
    let status = unified(&alice, &too_much.invoice, None).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("channels usable"),
        "{}",
        status.message()
    );
    println!("a send over the channels' capacity: {}", status.message());
    let status = alice
        .rpc()
        .onchain_send(OnchainSendRequest {
            address: external.clone(),
            amount: Some(onchain_send_request::Amount::AmountSats(100_000_000_000)),
            fee_rate_sat_per_vb: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("the wallet can spend"),
        "{}",
        status.message()
    );
    println!("an on-chain send over the balance: {}", status.message());

    // Refused forms, each with its message.
    for name in ["₿alice@example.com", "alice@example.com"] {
        let message = refused(unified(&alice, name, Some(1_000_000)).await, "uri");
        assert!(message.contains("BIP 353"), "{message}");
    }
    let message = refused(unified(&alice, "hello", Some(1_000)).await, "uri");
    assert!(
        message.contains("BOLT 11") && message.contains("BIP 21"),
        "{message}"
    );
    // An address of another network.
    refused(
        unified(
            &alice,
            "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
            Some(1_000_000),
        )
        .await,
        "uri",
    );
    refused(unified(&alice, "lnbc1notaninvoice", None).await, "uri");
    refused(unified(&alice, "lno1notanoffer", Some(1_000)).await, "uri");
    refused(unified(&alice, "  ", None).await, "uri");
}

/// Waits for `txid` in the mempool, checks that it pays `sats` to `address`, then mines it and
/// waits for `node` to see the block, so that its wallet spends no coin twice in the next send.
async fn confirmed_paying(chain: &Chain, node: &TestNode, txid: &str, address: &str, sats: u64) {
    wait_until(
        &format!("{txid} in the mempool"),
        PAYMENT_TIMEOUT,
        || async { chain.in_mempool(txid).then_some(()) },
    )
    .await;
    assert_eq!(chain.paid_to(txid, address), sats, "{txid}");
    chain.mine(1);
    node.wait_for_height(chain.height()).await;
}

/// Runs our CLI against `node`; returns its JSON output.
fn cli(node: &TestNode, args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_ldk-server-cli"))
        .args(node.server.cli_flags())
        .args(["-o", "json-lines"])
        .args(args)
        .output()
        .expect("run ldk-server-cli");
    assert!(
        output.status.success(),
        "ldk-server-cli {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

/// Runs our CLI against `node`, which must fail; returns its exit code and stderr.
fn cli_fails(node: &TestNode, args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_ldk-server-cli"))
        .args(node.server.cli_flags())
        .args(args)
        .output()
        .expect("run ldk-server-cli");
    assert!(
        !output.status.success(),
        "ldk-server-cli {args:?} succeeded"
    );
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cooperative_close_right_after_payments_waits_for_them_to_settle() {
    const ROUNDS: usize = 10;
    let Some(chain) = Chain::start("a_cooperative_close_right_after_payments") else {
        return;
    };
    let alice = TestNode::start(&chain, "alice", "").await;
    let bob = TestNode::start(&chain, "bob", "").await;
    alice.fund(&chain, 4_000_000).await;
    for round in 0..ROUNDS {
        let user_channel_id = open_channel(&chain, &alice, &bob, 200_000, 0, false).await;
        // A burst of keysends, not waited for, then the close at once.
        for _ in 0..5 {
            alice
                .rpc()
                .spontaneous_send(SpontaneousSendRequest {
                    amount_msat: 1_000_000,
                    node_id: bob.node_id.clone(),
                    ..Default::default()
                })
                .await
                .expect("keysend");
        }
        alice
            .rpc()
            .close_channel(CloseChannelRequest {
                user_channel_id: user_channel_id.clone(),
                counterparty_node_id: bob.node_id.clone(),
            })
            .await
            .unwrap_or_else(|status| panic!("round {round}: the close failed: {status:?}"));
        wait_until("the channel closes", Duration::from_secs(60), || async {
            chain.mine(1);
            let channels = alice.channels().await;
            (!channels
                .iter()
                .any(|c| c.user_channel_id == user_channel_id))
            .then_some(())
        })
        .await;
    }
    let log = alice.server.log();
    let retried = log
        .matches("cooperative close refused by LDK: retrying")
        .count();
    let mut waits: Vec<u64> = log
        .lines()
        .filter(|line| line.contains("cooperative close accepted once"))
        .filter_map(|line| {
            let (_, rest) = line.split_once("waited_ms")?;
            let digits: String = rest
                .chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect();
    waits.sort_unstable();
    println!(
        "closes right after a burst of 5 payments: {ROUNDS} of {ROUNDS} succeeded, {retried} of \
         them after waiting for HTLCs to settle (waits in ms: {waits:?})"
    );
}
