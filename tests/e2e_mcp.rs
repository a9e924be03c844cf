//! `ldk-server-mcp` on regtest, through its stdio: an agent on each node, an invoice made by
//! one and paid by the other, `wait_for_event` seeing it (live, after the fact and resumed),
//! every result checked against its tool's output schema, a read-only key refused with
//! PERMISSION_DENIED, spending tools absent without the flag, a cancelled wait, and an agent
//! process killed mid-wait without harm to the node.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::chain::{open_channel, Chain, TestNode, PAYMENT_TIMEOUT};
use common::mcp::{assert_matches_schema, initialize, McpProcess, McpTarget};
use ldk_server::proto::admin::CreateKeyRequest;
use serde_json::{json, Value};

/// An agent: the MCP process and the output schemas its tools list gave.
struct Agent {
    mcp: McpProcess,
    schemas: HashMap<String, Value>,
    next_id: u64,
}

impl Agent {
    fn start(node: &TestNode, args: &[&str]) -> Self {
        Self::with_target(&McpTarget::of(&node.server), args)
    }

    fn with_target(target: &McpTarget, args: &[&str]) -> Self {
        let mut mcp = McpProcess::start(target, args);
        let init = initialize(&mut mcp);
        assert_eq!(init["protocolVersion"], "2025-11-25");
        let reply = mcp.request(1, "tools/list", json!({}));
        let schemas = reply["result"]["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .map(|tool| {
                (
                    tool["name"].as_str().unwrap().to_owned(),
                    tool["outputSchema"].clone(),
                )
            })
            .collect();
        Self {
            mcp,
            schemas,
            next_id: 100,
        }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn offers(&self, tool: &str) -> bool {
        self.schemas.contains_key(tool)
    }

    /// Calls a tool that must succeed; checks its result against the tool's output schema.
    fn ok(&mut self, tool: &str, arguments: Value) -> Value {
        let id = self.id();
        let result = self.mcp.call_ok(id, tool, arguments);
        let schema = self
            .schemas
            .get(tool)
            .unwrap_or_else(|| panic!("{tool} not offered"));
        assert_matches_schema(tool, schema, &result);
        result
    }

    /// Calls a tool; returns its result, error or not.
    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let id = self.id();
        self.mcp.call_tool(id, tool, arguments)
    }
}

/// Calls `probe` every half second until it returns something, for at most `timeout`.
fn retry<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn error_text(result: &Value) -> &str {
    assert_eq!(result["isError"], true, "{result}");
    result["content"][0]["text"].as_str().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_pay_an_invoice_and_wait_for_it() {
    let Some(chain) = Chain::start("agents_pay_an_invoice_and_wait_for_it") else {
        return;
    };
    let alice = TestNode::start(&chain, "alice", "").await;
    let bob = TestNode::start(&chain, "bob", "").await;
    let mut alice_agent = Agent::start(&alice, &["--allow-spending"]);
    let mut bob_agent = Agent::start(&bob, &[]);

    let info = alice_agent.ok("get_node_info", json!({}));
    assert_eq!(info["node_id"], alice.node_id, "{info}");
    let address = alice_agent.ok("onchain_receive", json!({}));
    let address = address["address"].as_str().unwrap().to_owned();
    assert!(address.starts_with("bcrt1"), "{address}");
    // The address is the wallet's: funds sent to it show in the balance the agent reads.
    chain.fund(&address, 1_500_000);
    alice.wait_for_height(chain.height()).await;
    retry(
        "alice's agent sees the funds",
        Duration::from_secs(120),
        || {
            let balances = alice_agent.ok("get_balances", json!({}));
            (balances["spendable_onchain_balance_sats"].as_u64() >= Some(1_000_000)).then_some(())
        },
    );
    open_channel(&chain, &alice, &bob, 1_000_000, 0, false).await;

    // Bob's agent makes an invoice and waits for it to be paid.
    let invoice = bob_agent.ok(
        "bolt11_receive",
        json!({"amount_msat": 25_000_000, "description": {"kind": {"direct": "agent coffee"}}}),
    );
    let hash = invoice["payment_hash"].as_str().unwrap().to_owned();
    let decoded = alice_agent.ok("decode_invoice", json!({"invoice": invoice["invoice"]}));
    assert_eq!(decoded["destination"], bob.node_id);
    assert_eq!(decoded["amount_msat"], 25_000_000);
    assert_eq!(decoded["description"], "agent coffee");
    let wait_id = bob_agent.id();
    bob_agent.mcp.send_request(
        wait_id,
        "tools/call",
        json!({"name": "wait_for_event", "arguments": {
            "payment_hash": hash, "kinds": ["payment_received"], "timeout_secs": 120,
        }}),
    );
    // The wait does not hold up other requests.
    let ping_id = bob_agent.id();
    let pong = bob_agent.mcp.request(ping_id, "ping", json!({}));
    assert_eq!(pong["result"], json!({}));

    // Spending tools are absent from bob's agent (no --allow-spending), and refused.
    assert!(!bob_agent.offers("bolt11_send") && !bob_agent.offers("onchain_send"));
    let id = bob_agent.id();
    let refused = bob_agent.mcp.request(
        id,
        "tools/call",
        json!({"name": "bolt11_send", "arguments": {"invoice": invoice["invoice"]}}),
    );
    assert_eq!(refused["error"]["code"], -32602, "{refused}");

    // Alice's agent pays (the channel may need a moment after opening to carry it).
    let sent = retry("alice's agent pays", PAYMENT_TIMEOUT, || {
        let result = alice_agent.call("bolt11_send", json!({"invoice": invoice["invoice"]}));
        if result["isError"] == true {
            let text = error_text(&result);
            assert!(
                text.starts_with("FAILED_PRECONDITION") || text.starts_with("UNAVAILABLE"),
                "{text}"
            );
            return None;
        }
        Some(result["structuredContent"].clone())
    });
    assert_matches_schema("bolt11_send", &alice_agent.schemas["bolt11_send"], &sent);
    let payment_id = sent["payment_id"].as_str().unwrap().to_owned();

    let answer = bob_agent
        .mcp
        .answer(&json!(wait_id), Duration::from_secs(150));
    let waited = &answer["result"]["structuredContent"];
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    assert_matches_schema(
        "wait_for_event",
        &bob_agent.schemas["wait_for_event"],
        waited,
    );
    assert_eq!(waited["timed_out"], false);
    let received = &waited["event"]["event"]["payment_received"]["payment"];
    assert_eq!(received["kind"]["kind"]["bolt11"]["hash"], hash, "{waited}");
    assert_eq!(received["amount_msat"], 25_000_000);
    let sequence = waited["event"]["sequence"].as_u64().expect("a sequence");

    // After the fact: the payment has ended, so the wait returns it at once.
    let again = bob_agent.ok(
        "wait_for_event",
        json!({"payment_hash": hash, "timeout_secs": 5}),
    );
    assert_eq!(again["payment"]["status"], "SUCCEEDED", "{again}");
    assert_eq!(again["payment"]["direction"], "INBOUND");
    // Resumed from the log: the same event, with the same sequence.
    let resumed = bob_agent.ok(
        "wait_for_event",
        json!({"after_sequence": sequence - 1, "kinds": ["payment_received"], "timeout_secs": 30}),
    );
    assert_eq!(resumed["event"]["sequence"], sequence, "{resumed}");
    // Alice's side: succeeded, seen as the event or as the ended payment.
    let mine = alice_agent.ok(
        "wait_for_event",
        json!({"payment_hash": hash, "timeout_secs": 60}),
    );
    let status = if mine["payment"].is_object() {
        mine["payment"]["status"].clone()
    } else {
        let success = &mine["event"]["event"]["payment_successful"];
        assert!(success.is_object(), "{mine}");
        success["payment"]["status"].clone()
    };
    assert_eq!(status, "SUCCEEDED", "{mine}");
    let details = alice_agent.ok("get_payment_details", json!({"payment_id": payment_id}));
    assert_eq!(details["payment"]["direction"], "OUTBOUND");
    let listed = bob_agent.ok("list_payments", json!({}));
    assert!(listed["payments"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == hash));
    bob_agent.ok("list_channels", json!({}));
    bob_agent.ok("list_peers", json!({}));
    let signed = bob_agent.ok("sign_message", json!({"message": "agent was here"}));
    let verified = alice_agent.ok(
        "verify_signature",
        json!({"message": "agent was here", "signature": signed["signature"], "public_key": bob.node_id}),
    );
    assert_eq!(verified["valid"], true);
    // A wait that nothing matches times out, as a result, not an error.
    let quiet = bob_agent.ok(
        "wait_for_event",
        json!({"payment_hash": "00".repeat(32), "timeout_secs": 2}),
    );
    assert_eq!(quiet["timed_out"], true);

    // A cancelled wait is never answered; the session goes on.
    let cancelled = bob_agent.id();
    bob_agent.mcp.send_request(
        cancelled,
        "tools/call",
        json!({"name": "wait_for_event", "arguments": {"timeout_secs": 60}}),
    );
    std::thread::sleep(Duration::from_millis(500));
    bob_agent.mcp.notify(
        "notifications/cancelled",
        json!({"requestId": cancelled, "reason": "test"}),
    );
    let ping_id = bob_agent.id();
    assert_eq!(
        bob_agent.mcp.request(ping_id, "ping", json!({}))["result"],
        json!({})
    );
    let late = bob_agent.mcp.next_message(Duration::from_secs(3));
    assert!(late.is_none(), "a cancelled request was answered: {late:?}");

    // A read-only key: its agent offers read tools only, and the server refuses the rest.
    let mut keys = ldk_server::client::connect_key_management(alice.server.client_options())
        .await
        .expect("key management");
    let read_key = keys
        .create_key(CreateKeyRequest {
            name: "reader".into(),
            scopes: vec!["read".into()],
            ..Default::default()
        })
        .await
        .expect("create key")
        .into_inner()
        .api_key;
    let target = McpTarget::of(&alice.server).with_key(&read_key);
    let mut reader = Agent::with_target(&target, &["--allow-spending"]);
    assert!(reader.offers("get_balances") && reader.offers("wait_for_event"));
    assert!(!reader.offers("bolt11_receive") && !reader.offers("bolt11_send"));
    reader.ok("get_balances", json!({}));
    let denied = reader.call("bolt11_receive", json!({"amount_msat": 1000}));
    assert!(
        error_text(&denied).starts_with("PERMISSION_DENIED (7)"),
        "{denied}"
    );
    let denied = reader.call("bolt11_send", json!({"invoice": invoice["invoice"]}));
    assert!(
        error_text(&denied).starts_with("PERMISSION_DENIED (7)"),
        "{denied}"
    );

    // kill -9 of an agent in the middle of a wait: the node does not notice.
    let waiting = reader.id();
    reader.mcp.send_request(
        waiting,
        "tools/call",
        json!({"name": "wait_for_event", "arguments": {"timeout_secs": 60}}),
    );
    std::thread::sleep(Duration::from_millis(500));
    let pid = reader.mcp.pid();
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    drop(reader);
    let info = alice_agent.ok("get_node_info", json!({}));
    assert_eq!(info["node_id"], alice.node_id);
    let invoice = bob_agent.ok("bolt11_receive", json!({"amount_msat": 1_000_000}));
    retry("a payment after the kill", PAYMENT_TIMEOUT, || {
        let result = alice_agent.call("bolt11_send", json!({"invoice": invoice["invoice"]}));
        (result["isError"] == false).then_some(())
    });
    let waited = bob_agent.ok(
        "wait_for_event",
        json!({"payment_hash": invoice["payment_hash"], "timeout_secs": 60}),
    );
    assert!(
        waited["payment"]["status"] == "SUCCEEDED"
            || waited["event"]["event"]["payment_received"].is_object(),
        "{waited}"
    );
}
