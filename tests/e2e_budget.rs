//! Budgets on regtest: a key with `max_send_msat` over a short rolling window makes 20
//! concurrent sends that together ask for twice its budget; what succeeds never adds up to more
//! than the budget, the rest is PERMISSION_DENIED saying what is left, and once the window has
//! rolled past the first payments the key can send again.

mod common;

use std::time::{Duration, Instant};

use common::chain::{open_channel, wait_until, Chain, TestNode};
use ldk_server::auth::ApiKey;
use ldk_server::client::{connect, connect_key_management, ClientOptions};
use ldk_server::proto::admin::{Budget, CreateKeyRequest, InspectKeyRequest};
use ldk_server::proto::api::*;
use ldk_server::proto::types::{self, PaymentStatus};

const BUDGET_SAT: u64 = 60_000;
const WINDOW_SECS: u64 = 20;
const SEND_SAT: u64 = 5_000;
const FEE_LIMIT_SAT: u64 = 1_000;
const SENDS: usize = 20;

fn keysend(node_id: &str) -> SpontaneousSendRequest {
    SpontaneousSendRequest {
        amount_msat: SEND_SAT * 1_000,
        node_id: node_id.to_owned(),
        route_parameters: Some(types::RouteParametersConfig {
            max_total_routing_fee_msat: Some(FEE_LIMIT_SAT * 1_000),
            ..Default::default()
        }),
        custom_tlvs: vec![],
        preimage: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_sends_never_exceed_the_budget_and_the_window_rolls() {
    let Some(chain) = Chain::start("concurrent_sends_never_exceed_the_budget") else {
        return;
    };
    let alice = TestNode::start(&chain, "alice", "").await;
    let bob = TestNode::start(&chain, "bob", "").await;
    alice.fund(&chain, 3_000_000).await;
    open_channel(&chain, &alice, &bob, 2_000_000, 0, false).await;

    let admin = alice.server.client_options();
    let mut keys = connect_key_management(admin.clone()).await.unwrap();
    let created = keys
        .create_key(CreateKeyRequest {
            name: "agent".into(),
            scopes: vec!["send".into(), "read".into()],
            methods: vec![],
            expires_in_secs: None,
            budget: Some(Budget {
                max_send_msat: BUDGET_SAT * 1_000,
                window_secs: WINDOW_SECS,
            }),
        })
        .await
        .expect("create key")
        .into_inner();
    let agent_key = ApiKey::from_hex(&created.api_key);
    let agent = connect(ClientOptions::new(
        admin.base_url.clone(),
        agent_key,
        admin.tls_cert_pem.clone(),
    ))
    .await
    .unwrap();

    let started = Instant::now();
    let sends = (0..SENDS).map(|_| {
        let mut agent = agent.clone();
        let request = keysend(&bob.node_id);
        tokio::spawn(async move { agent.spontaneous_send(request).await })
    });
    let mut accepted = Vec::new();
    let mut denied = 0;
    for send in futures_util::future::join_all(sends).await {
        match send.unwrap() {
            Ok(response) => accepted.push(response.into_inner().payment_id),
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
                assert!(status.message().contains("is left"), "{status:?}");
                denied += 1;
            }
        }
    }
    let first_window_ends = started + Duration::from_secs(WINDOW_SECS);
    println!(
        "{SENDS} concurrent sends of {SEND_SAT} sat (fee limit {FEE_LIMIT_SAT} sat) against a \
         {BUDGET_SAT} sat budget: {} accepted, {denied} denied",
        accepted.len()
    );
    assert!(!accepted.is_empty() && denied > 0);
    // What the accepted sends may cost at most (a send's reservation counts until it
    // succeeds, then its real amount + fee) never exceeds the budget.
    let mut paid_msat = 0;
    for payment_id in &accepted {
        let payment = wait_until("payment settles", Duration::from_secs(60), || async {
            let payment = alice.payment(payment_id).await;
            (payment.status != PaymentStatus::Pending as i32).then_some(payment)
        })
        .await;
        assert_eq!(
            payment.status,
            PaymentStatus::Succeeded as i32,
            "{payment:?}"
        );
        paid_msat += payment.amount_msat.unwrap_or(0) + payment.fee_paid_msat.unwrap_or(0);
    }
    println!("succeeded: {} sat in total", paid_msat / 1_000);
    assert!(paid_msat <= BUDGET_SAT * 1_000, "{paid_msat} msat");
    assert!(accepted.len() as u64 * SEND_SAT <= BUDGET_SAT);

    let inspected_at = Instant::now();
    let inspect = keys
        .inspect_key(InspectKeyRequest {
            key: Some("agent".into()),
        })
        .await
        .unwrap()
        .into_inner();
    if inspected_at + Duration::from_secs(1) < first_window_ends {
        assert_eq!(inspect.budget_spent_msat, Some(paid_msat), "{inspect:?}");
        assert_eq!(
            inspect.budget_left_msat,
            Some(BUDGET_SAT * 1_000 - paid_msat),
            "{inspect:?}"
        );
    } else {
        println!("SKIPPED the InspectKey check: settling took longer than the window");
    }

    // While the window holds the payments, a send that does not fit is refused...
    if Instant::now() + Duration::from_secs(2) < first_window_ends
        && BUDGET_SAT * 1_000 - paid_msat < (SEND_SAT + FEE_LIMIT_SAT) * 1_000
    {
        let status = agent
            .clone()
            .spontaneous_send(keysend(&bob.node_id))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    }
    // ...and once it has rolled past them, the key may send again.
    tokio::time::sleep_until((first_window_ends + Duration::from_secs(2)).into()).await;
    let again = agent
        .clone()
        .spontaneous_send(keysend(&bob.node_id))
        .await
        .expect("the window rolled");
    assert!(!again.into_inner().payment_id.is_empty());

    // The admin key has no budget.
    let mut admin_client = connect(admin).await.unwrap();
    admin_client
        .spontaneous_send(SpontaneousSendRequest {
            amount_msat: BUDGET_SAT * 2 * 1_000,
            ..keysend(&bob.node_id)
        })
        .await
        .expect("the admin key is not budgeted");
}
