//! `ldk-server-mcp` without a chain: the protocol envelope, the tools list derived from the
//! descriptor, the spending gate, scoped keys, hostile input, and a server that cannot be
//! reached. The real binary, over its stdio, against the real server binary where one is needed.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::mcp::{
    assert_matches_schema, initialize, stray_certificate, tool_names, McpProcess, McpTarget,
};
use common::{descriptor_methods, free_port, unreachable_chain_config, ServerProcess};
use ldk_server::proto::admin::CreateKeyRequest;
use serde_json::{json, Value};

/// `GetNodeInfo` → `get_node_info`.
fn snake_case(method: &str) -> String {
    let mut name = String::new();
    for (i, c) in method.char_indices() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

/// The tools a full-power session offers: one per unary RPC, and `wait_for_event` for the
/// one stream.
fn every_tool() -> BTreeSet<String> {
    let mut tools: BTreeSet<String> = descriptor_methods()
        .into_iter()
        .filter(|(_, streaming)| !streaming)
        .map(|(method, _)| snake_case(&method))
        .collect();
    assert_eq!(tools.len(), 38);
    tools.insert("wait_for_event".into());
    tools
}

/// Tools that move funds.
const SPENDING: [&str; 9] = [
    "onchain_send",
    "bolt11_send",
    "bolt11_send_underpaying",
    "bolt12_send",
    "spontaneous_send",
    "unified_send",
    "open_channel",
    "splice_in",
    "splice_out",
];

/// An MCP process pointed at a port where nothing listens.
fn unreachable(extra_args: &[&str]) -> (McpProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let target = McpTarget {
        base_url: format!("127.0.0.1:{}", free_port()),
        api_key: "ab".repeat(32),
        tls_cert: stray_certificate(dir.path()),
    };
    (McpProcess::start(&target, extra_args), dir)
}

fn error_code(reply: &Value) -> i64 {
    reply["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error: {reply}"))
}

#[test]
fn the_envelope_follows_json_rpc_and_mcp() {
    let (mut mcp, _dir) = unreachable(&["--allow-spending"]);
    let init = initialize(&mut mcp);
    assert_eq!(init["protocolVersion"], "2025-11-25", "{init}");
    assert!(init["capabilities"]["tools"].is_object(), "{init}");
    assert_eq!(init["serverInfo"]["name"], "ldk-server-mcp");

    // A notification gets no answer: the next line is the ping's.
    mcp.notify("notifications/progress", json!({"progressToken": 1}));
    mcp.send_request(1, "ping", json!({}));
    let next = mcp
        .next_message(Duration::from_secs(30))
        .expect("ping answer");
    assert_eq!(next, json!({"jsonrpc": "2.0", "id": 1, "result": {}}));

    let reply = mcp.request(2, "resources/list", json!({}));
    assert_eq!(error_code(&reply), -32601, "{reply}");
    let reply = mcp.request(3, "tools/call", json!({"name": "no_such_tool"}));
    assert_eq!(error_code(&reply), -32602, "{reply}");
    assert!(reply["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no_such_tool"));
    let reply = mcp.request(4, "tools/call", json!({"arguments": {}}));
    assert_eq!(error_code(&reply), -32602, "{reply}");

    // Malformed lines: each answered, with a null id, and the session goes on.
    for (line, code) in [
        (
            &b"{\"jsonrpc\": \"2.0\", \"id\": 5, \"method\"\n"[..],
            -32700,
        ),
        (b"\xff\xfe not utf-8\n", -32700),
        (b"[]\n", -32600),
        (b"\"hello\"\n", -32600),
        (
            b"{\"jsonrpc\":\"1.0\",\"id\":6,\"method\":\"ping\"}\n",
            -32600,
        ),
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\",\"params\":[]}\n",
            -32602,
        ),
    ] {
        mcp.write_raw(line);
        let reply = mcp
            .next_message(Duration::from_secs(30))
            .expect("an answer");
        assert_eq!(
            error_code(&reply),
            code,
            "{}: {reply}",
            String::from_utf8_lossy(line)
        );
    }
    // Blank lines are ignored; a 5 MiB line is refused without being buffered whole.
    mcp.write_raw(b"\n\r\n");
    let mut huge =
        b"{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\",\"params\":{\"x\":\"".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 5 * 1024 * 1024));
    huge.extend(b"\"}}\n");
    mcp.write_raw(&huge);
    let reply = mcp
        .next_message(Duration::from_secs(30))
        .expect("an answer");
    assert_eq!(error_code(&reply), -32700, "{reply}");
    assert!(reply["error"]["message"]
        .as_str()
        .unwrap()
        .contains("longer than"));
    let reply = mcp.request(9, "ping", json!({}));
    assert_eq!(reply["result"], json!({}));
    // 2,000 requests written at once, far more than are served at a time: each is answered
    // once.
    let mut burst = Vec::new();
    for id in 1_000..3_000u64 {
        burst.extend(format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"ping\"}}\n").bytes());
    }
    mcp.write_raw(&burst);
    let mut answered = BTreeSet::new();
    while answered.len() < 2_000 {
        let reply = mcp
            .next_message(Duration::from_secs(30))
            .expect("every ping answered");
        assert_eq!(reply["result"], json!({}), "{reply}");
        assert!(
            answered.insert(reply["id"].as_u64().unwrap()),
            "answered twice: {reply}"
        );
    }
    assert_eq!(answered.first(), Some(&1_000));
    assert_eq!(answered.last(), Some(&2_999));
    // String ids are echoed as given.
    mcp.send(&json!({"jsonrpc": "2.0", "id": "abc", "method": "ping"}));
    assert_eq!(
        mcp.answer(&json!("abc"), Duration::from_secs(30))["result"],
        json!({})
    );

    let status = mcp.finish(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
}

#[test]
fn every_unary_rpc_is_a_tool_with_schemas_and_annotations() {
    let (mut mcp, _dir) = unreachable(&["--allow-spending"]);
    initialize(&mut mcp);
    let reply = mcp.request(1, "tools/list", json!({}));
    let tools = reply["result"]["tools"].as_array().expect("tools").clone();
    let names: BTreeSet<String> = tools
        .iter()
        .map(|tool| tool["name"].as_str().unwrap().to_owned())
        .collect();
    // The server cannot be asked what the key may call: everything is offered.
    assert_eq!(names, every_tool());
    let meta_schema = json!({"type": "object", "required": ["type", "properties"]});
    for tool in &tools {
        let name = tool["name"].as_str().unwrap();
        assert!(
            tool["description"].as_str().is_some_and(|d| d.len() > 20),
            "{name}"
        );
        assert_matches_schema(name, &meta_schema, &tool["inputSchema"]);
        assert_matches_schema(name, &meta_schema, &tool["outputSchema"]);
        assert!(
            jsonschema::validator_for(&tool["inputSchema"]).is_ok(),
            "{name}"
        );
        assert!(
            jsonschema::validator_for(&tool["outputSchema"]).is_ok(),
            "{name}"
        );
        let annotations = &tool["annotations"];
        for hint in [
            "readOnlyHint",
            "destructiveHint",
            "idempotentHint",
            "openWorldHint",
        ] {
            assert!(annotations[hint].is_boolean(), "{name}: {hint}");
        }
        let spending = SPENDING.contains(&name);
        if spending || name.contains("close") {
            assert_eq!(annotations["readOnlyHint"], false, "{name}");
        }
        if name.starts_with("get_") || name.starts_with("list_") || name.starts_with("graph_") {
            assert_eq!(annotations["readOnlyHint"], true, "{name}");
        }
    }
    // Amounts that may be "all" are one field taking an integer or "all".
    let onchain_send = tools.iter().find(|t| t["name"] == "onchain_send").unwrap();
    let amount = &onchain_send["inputSchema"]["properties"]["amount_sats"];
    assert_eq!(amount["oneOf"][1]["const"], "all", "{amount}");
    let open = tools.iter().find(|t| t["name"] == "open_channel").unwrap();
    assert!(open["inputSchema"]["properties"]["channel_amount_sats"]["oneOf"].is_array());
}

#[test]
fn spending_tools_are_absent_and_refused_without_the_flag() {
    let (mut mcp, _dir) = unreachable(&[]);
    initialize(&mut mcp);
    let names: BTreeSet<String> = tool_names(&mut mcp, 1).into_iter().collect();
    let expected: BTreeSet<String> = every_tool()
        .into_iter()
        .filter(|name| !SPENDING.contains(&name.as_str()))
        .collect();
    assert_eq!(names, expected);
    for (id, tool) in SPENDING.iter().enumerate() {
        let reply = mcp.request(
            10 + id as u64,
            "tools/call",
            json!({"name": tool, "arguments": {"address": "bcrt1qxyz", "amount_sats": 1000}}),
        );
        assert_eq!(error_code(&reply), -32602, "{tool}: {reply}");
        assert!(
            reply["error"]["message"]
                .as_str()
                .unwrap()
                .contains("--allow-spending"),
            "{reply}"
        );
    }
}

#[test]
fn an_unreachable_server_and_bad_arguments_are_tool_errors() {
    let (mut mcp, _dir) = unreachable(&["--allow-spending"]);
    initialize(&mut mcp);
    let result = mcp.call_tool(1, "get_node_info", json!({}));
    assert_eq!(result["isError"], true, "{result}");
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("UNAVAILABLE (14)"), "{text}");
    assert_eq!(result["_meta"]["ldk-server/grpc_code"], 14);
    let result = mcp.call_tool(2, "wait_for_event", json!({"timeout_secs": 5}));
    assert_eq!(result["isError"], true, "{result}");

    // Arguments are refused before any call, naming the field.
    for (id, (tool, arguments, named)) in [
        (
            "onchain_send",
            json!({"address": "x", "amount_sats": "lots"}),
            "amount_sats",
        ),
        (
            "onchain_send",
            json!({"address": "x", "amount_sats": -5}),
            "amount_sats",
        ),
        (
            "bolt11_receive",
            json!({"amount_msat": 1, "memo": "x"}),
            "memo",
        ),
        (
            "bolt11_receive",
            json!({"amount_msat": "1000"}),
            "amount_msat",
        ),
        ("list_payments", json!({"page_token": 5}), "page_token"),
        ("sign_message", json!({"message": 5}), "message"),
        ("get_node_info", json!([1, 2]), "arguments"),
        (
            "wait_for_event",
            json!({"payment_hash": "zz"}),
            "payment_hash",
        ),
        ("wait_for_event", json!({"kinds": ["everything"]}), "kinds"),
        (
            "wait_for_event",
            json!({"timeout_secs": 100000}),
            "timeout_secs",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let result = mcp.call_tool(10 + id as u64, tool, arguments.clone());
        assert_eq!(result["isError"], true, "{tool} {arguments}: {result}");
        let text = result["content"][0]["text"].as_str().unwrap();
        assert!(
            text.starts_with("INVALID_ARGUMENT (3)") && text.contains(named),
            "{tool} {arguments}: {text}"
        );
    }
}

#[test]
fn setup_failures_exit_with_a_message_and_no_secret() {
    // No key anywhere: HOME is empty and no variable is set.
    let mcp = McpProcess::spawn(&[], |_| {});
    let status = mcp.finish(Duration::from_secs(10));
    assert_eq!(status.code(), Some(9), "{status:?}");
    // A certificate that does not exist.
    let mcp = McpProcess::spawn(&[], |command| {
        command
            .env("LDK_API_KEY", "ab".repeat(32))
            .env("LDK_BASE_URL", "127.0.0.1:1")
            .env("LDK_TLS_CERT_PATH", "/nonexistent/tls.crt");
    });
    assert_eq!(mcp.finish(Duration::from_secs(10)).code(), Some(9));
}

#[tokio::test(flavor = "multi_thread")]
async fn scoped_keys_see_their_tools_and_get_permission_denied_for_others() {
    let server = ServerProcess::start(&unreachable_chain_config(""));
    let mut keys = ldk_server::client::connect_key_management(server.client_options())
        .await
        .expect("key management");
    let created = keys
        .create_key(CreateKeyRequest {
            name: "agent".into(),
            scopes: vec!["read".into()],
            ..Default::default()
        })
        .await
        .expect("create key")
        .into_inner();
    let target = McpTarget::of(&server);
    let read_only = target.with_key(&created.api_key);

    // The read key's session offers the read scope's tools, even with --allow-spending.
    let mut mcp = McpProcess::start(&read_only, &["--allow-spending"]);
    initialize(&mut mcp);
    let names: BTreeSet<String> = tool_names(&mut mcp, 1).into_iter().collect();
    let read_tools: BTreeSet<String> = descriptor_methods()
        .into_iter()
        .filter(|(method, streaming)| {
            !streaming
                && ldk_server::keys::scope::scope_of(method)
                    == Some(ldk_server::keys::scope::Scope::Read)
        })
        .map(|(method, _)| snake_case(&method))
        .chain(["wait_for_event".to_owned()])
        .collect();
    assert_eq!(names, read_tools);
    // A tool it was not offered is still the server's to refuse: PERMISSION_DENIED, named.
    let result = mcp.call_tool(2, "bolt11_receive", json!({"amount_msat": 1000}));
    assert_eq!(result["isError"], true, "{result}");
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("PERMISSION_DENIED (7)") && text.contains("scope `receive`"),
        "{text}"
    );
    let result = mcp.call_tool(3, "onchain_send", json!({"address": "x", "amount_sats": 1}));
    assert!(result["content"][0]["text"]
        .as_str()
        .unwrap()
        .starts_with("PERMISSION_DENIED (7)"));
    drop(mcp);

    // The admin key without --allow-spending: everything but spending.
    let mut mcp = McpProcess::start(&target, &[]);
    initialize(&mut mcp);
    let names: BTreeSet<String> = tool_names(&mut mcp, 1).into_iter().collect();
    assert!(names.contains("bolt11_receive") && names.contains("close_channel"));
    assert!(
        SPENDING.iter().all(|tool| !names.contains(*tool)),
        "{names:?}"
    );
    // A wrong key: every call is UNAUTHENTICATED, and the list falls back to everything
    // allowed by the flag (the server would not say what an unknown key may call).
    let mut mcp = McpProcess::start(&target.with_key(&"cd".repeat(32)), &[]);
    initialize(&mut mcp);
    let result = mcp.call_tool(2, "get_balances", json!({}));
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("UNAUTHENTICATED (16)"),
        "{result}"
    );
}
