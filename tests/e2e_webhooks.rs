//! Webhooks on regtest with real payments: every payment bob receives reaches his webhook
//! receiver, signed, once, in order, with the payment's id; and how long after a
//! SubscribeEvents subscriber the webhook has it (the live path, printed as p50/p99).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::chain::{open_channel, pay_each_until_received, Chain, TestNode};
use common::webhook_receiver::Receiver;
use ldk_server::proto::api::SubscribeEventsRequest;
use ldk_server::webhooks::signature::verify;

const SECRET: &str = "e2e-webhook-secret-0123456789";
const PAYMENTS: usize = 20;

fn now() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn received_payments_reach_the_webhook_signed_in_order_and_right_behind_subscribers() {
    let Some(chain) = Chain::start("received_payments_reach_the_webhook") else {
        return;
    };
    let receiver = Receiver::start().await;
    let secrets = tempfile::tempdir().unwrap();
    let secret_file = secrets.path().join("shop.secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    std::fs::set_permissions(
        &secret_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let table = format!(
        "[[webhooks]]\nname = \"shop\"\nurl = \"{}\"\nsecret_file = \"{}\"\nkinds = [\"payment_received\"]\n",
        receiver.url("/shop"),
        secret_file.display()
    );
    let (alice, bob) = tokio::join!(
        TestNode::start(&chain, "alice", ""),
        TestNode::start(&chain, "bob", &table)
    );
    alice.fund(&chain, 2_000_000).await;
    open_channel(&chain, &alice, &bob, 1_000_000, 0, false).await;

    // A subscriber on bob notes when each payment event reaches it.
    let mut stream = bob
        .rpc()
        .subscribe_events(SubscribeEventsRequest {
            after_sequence: None,
            kinds: vec!["payment_received".into()],
        })
        .await
        .expect("subscribe")
        .into_inner();
    let seen = Arc::new(Mutex::new(Vec::<(u64, Instant)>::new()));
    let collector = {
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok(Some(envelope)) = stream.message().await {
                seen.lock()
                    .unwrap()
                    .push((envelope.sequence, Instant::now()));
            }
        })
    };

    let paid = pay_each_until_received(&alice, &bob, PAYMENTS, 2_000).await;
    let deliveries = receiver
        .wait_for("/shop", Duration::from_secs(60), |all| {
            all.len() >= PAYMENTS
        })
        .await;
    let ids: Vec<String> = deliveries
        .iter()
        .map(|d| {
            d.json()["event"]["payment_received"]["payment"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids, paid, "each received payment once, in order");
    let sequences: Vec<u64> = deliveries.iter().map(|d| d.sequence()).collect();
    assert!(
        sequences.windows(2).all(|pair| pair[0] < pair[1]),
        "{sequences:?}"
    );
    for delivery in &deliveries {
        let signature = delivery.header("x-ldk-server-signature").unwrap();
        assert_eq!(
            verify(SECRET.as_bytes(), &signature, &delivery.body, now(), 300),
            Ok(())
        );
        assert_eq!(delivery.json()["webhook"], "shop");
    }

    // Latency of the live path: webhook receipt minus subscriber receipt, per event.
    tokio::time::sleep(Duration::from_millis(500)).await;
    collector.abort();
    let seen = seen.lock().unwrap().clone();
    let mut behind_ms: Vec<f64> = deliveries
        .iter()
        .filter_map(|delivery| {
            let (_, at) = seen.iter().find(|(s, _)| *s == delivery.sequence())?;
            let millis = if delivery.at >= *at {
                delivery.at.duration_since(*at).as_secs_f64() * 1e3
            } else {
                -(at.duration_since(delivery.at).as_secs_f64() * 1e3)
            };
            Some(millis)
        })
        .collect();
    assert_eq!(
        behind_ms.len(),
        PAYMENTS,
        "the subscriber saw every payment too"
    );
    behind_ms.sort_by(f64::total_cmp);
    println!(
        "webhook receipt after the subscriber's, {PAYMENTS} live payments: p50 {:.2} ms, \
         p99 {:.2} ms, max {:.2} ms",
        behind_ms[PAYMENTS / 2],
        behind_ms[(PAYMENTS * 99) / 100],
        behind_ms[PAYMENTS - 1]
    );
    let metrics = bob.metrics().await;
    assert!(
        metrics.contains(&format!(
            "ldk_server_webhook_deliveries_total{{outcome=\"delivered\",webhook=\"shop\"}} {PAYMENTS}"
        )),
        "{metrics}"
    );
}
