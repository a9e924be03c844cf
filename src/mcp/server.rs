//! The MCP methods: `initialize`, `ping`, `tools/list` and `tools/call`.

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Mutex;
use tonic::Code;

use super::catalog::{self, ToolSpec};
use super::jsonrpc::{ErrorReply, INVALID_PARAMS, METHOD_NOT_FOUND};
use super::schema::{input_schema, output_schema};
use super::tool_error::ToolError;
use super::{arguments, wait};
use crate::client::{KeyManagementClient, LdkServerClient};
use crate::proto::admin::InspectKeyRequest;

/// The protocol version we speak; an older one a client asks for is accepted too.
pub const PROTOCOL_VERSION: &str = "2025-11-25";
const OLDER_PROTOCOL_VERSIONS: [&str; 3] = ["2025-06-18", "2025-03-26", "2024-11-05"];
/// How long one RPC may take (sent to the server as the gRPC deadline).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long `tools/list` waits to learn what the key may call.
const INSPECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the calling key may call, once the server has said.
#[derive(Debug, Clone)]
enum KeyGrants {
    /// These RPCs of `api.LightningNode`.
    Methods(BTreeSet<String>),
    /// The server does not say (upstream's, or an older one of ours): offer everything.
    Unknown,
}

/// One MCP session's state.
pub struct McpServer {
    client: LdkServerClient,
    keys: KeyManagementClient,
    allow_spending: bool,
    grants: Mutex<Option<KeyGrants>>,
}

impl McpServer {
    /// A server calling the node through `client` and `keys`.
    pub fn new(client: LdkServerClient, keys: KeyManagementClient, allow_spending: bool) -> Self {
        Self {
            client,
            keys,
            allow_spending,
            grants: Mutex::new(None),
        }
    }

    /// Answers a request: its result, or a JSON-RPC error.
    pub async fn handle(
        &self,
        id: &Value,
        method: &str,
        params: Value,
    ) -> Result<Value, ErrorReply> {
        match method {
            "initialize" => Ok(initialize(&params)),
            "ping" => Ok(json!({})),
            "tools/list" => Ok(json!({"tools": self.list_tools().await})),
            "tools/call" => self.call_tool(id, params).await,
            _ => Err(ErrorReply::new(
                id.clone(),
                METHOD_NOT_FOUND,
                format!("Method not found: {method}"),
            )),
        }
    }

    async fn list_tools(&self) -> Vec<Value> {
        let grants = self.key_grants().await;
        let may_call = |rpc: &str| match &grants {
            KeyGrants::Methods(methods) => methods.contains(rpc),
            KeyGrants::Unknown => true,
        };
        let mut tools: Vec<Value> = catalog::TOOLS
            .iter()
            .zip(definitions())
            .filter(|(tool, _)| self.offered(tool) && may_call(tool.rpc))
            .map(|(_, definition)| definition.clone())
            .collect();
        if may_call("SubscribeEvents") {
            tools.push(wait_definition().clone());
        }
        tools
    }

    fn offered(&self, tool: &ToolSpec) -> bool {
        self.allow_spending || !tool.effects.spending
    }

    /// What the key may call: asked of the server once (and again after a failure).
    async fn key_grants(&self) -> KeyGrants {
        let mut cached = self.grants.lock().await;
        if let Some(grants) = cached.as_ref() {
            return grants.clone();
        }
        let mut request = tonic::Request::new(InspectKeyRequest { key: None });
        request.set_timeout(INSPECT_TIMEOUT);
        let mut keys = self.keys.clone();
        match keys.inspect_key(request).await {
            Ok(response) => {
                let methods = response.into_inner().allowed_methods.into_iter().collect();
                let grants = KeyGrants::Methods(methods);
                *cached = Some(grants.clone());
                grants
            }
            Err(status)
                if matches!(status.code(), Code::Unimplemented | Code::PermissionDenied) =>
            {
                eprintln!(
                    "ldk-server-mcp: the server does not say what this key may call ({}): listing every tool",
                    status.message()
                );
                *cached = Some(KeyGrants::Unknown);
                KeyGrants::Unknown
            }
            Err(status) => {
                eprintln!(
                    "ldk-server-mcp: cannot ask the server what this key may call: {}: {}",
                    crate::cli::output::code_name(status.code()),
                    status.message()
                );
                KeyGrants::Unknown
            }
        }
    }

    async fn call_tool(&self, id: &Value, params: Value) -> Result<Value, ErrorReply> {
        let invalid = |message: String| ErrorReply::new(id.clone(), INVALID_PARAMS, message);
        let Some(name) = params.get("name").and_then(Value::as_str) else {
            return Err(invalid(
                "Invalid params: `name` (a string) is required".into(),
            ));
        };
        let arguments = params.get("arguments").cloned().unwrap_or(Value::Null);
        let outcome = if name == wait::TOOL_NAME {
            wait::run(self.client.clone(), arguments).await
        } else {
            let Some(tool) = catalog::find(name) else {
                return Err(invalid(format!("Unknown tool: {name}")));
            };
            if !self.offered(tool) {
                return Err(invalid(format!(
                    "Tool {name} moves funds and is not offered: start ldk-server-mcp with --allow-spending to offer it"
                )));
            }
            self.call_rpc(tool, arguments).await
        };
        Ok(match outcome {
            Ok(value) => success(value),
            Err(error) => error.to_result(),
        })
    }

    async fn call_rpc(&self, tool: &ToolSpec, arguments: Value) -> Result<Value, ToolError> {
        let prepared = arguments::prepare(tool.request, arguments)?;
        let mut client = self.client.clone();
        catalog::call(&mut client, tool.rpc, prepared, CALL_TIMEOUT).await
    }
}

/// A successful tool result: the JSON as text and as structured content.
fn success(value: Value) -> Value {
    json!({
        "content": [{"type": "text", "text": value.to_string()}],
        "structuredContent": value,
        "isError": false,
    })
}

fn initialize(params: &Value) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    let version = match asked {
        Some(version) if OLDER_PROTOCOL_VERSIONS.contains(&version) => version,
        _ => PROTOCOL_VERSION,
    };
    json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}},
        "serverInfo": {
            "name": "ldk-server-mcp",
            "title": "LDK Server",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "instructions": "Tools drive a Lightning node. Amounts are integers: *_msat in \
            millisatoshis, *_sats in satoshis. Sends return a payment id at once; call \
            wait_for_event with the payment hash to learn how a payment ends. Tools that move \
            funds are listed only when the operator allows spending.",
    })
}

/// The `tools/list` entries of the RPC tools, in [`catalog::TOOLS`]' order, built once.
fn definitions() -> &'static [Value] {
    static DEFINITIONS: OnceLock<Vec<Value>> = OnceLock::new();
    DEFINITIONS.get_or_init(|| catalog::TOOLS.iter().map(definition).collect())
}

fn definition(tool: &ToolSpec) -> Value {
    let effects = tool.effects;
    json!({
        "name": tool.name,
        "description": tool.description,
        "inputSchema": input_schema(tool.request),
        "outputSchema": output_schema(tool.response),
        "annotations": {
            "readOnlyHint": effects.read_only,
            "destructiveHint": effects.destructive,
            "idempotentHint": effects.idempotent,
            "openWorldHint": effects.open_world,
        },
    })
}

fn wait_definition() -> &'static Value {
    static DEFINITION: OnceLock<Value> = OnceLock::new();
    DEFINITION.get_or_init(|| {
        json!({
            "name": wait::TOOL_NAME,
            "description": wait::description(),
            "inputSchema": wait::input_schema(),
            "outputSchema": wait::output_schema_value(),
            "annotations": {
                "readOnlyHint": true,
                "destructiveHint": false,
                "idempotentHint": true,
                "openWorldHint": false,
            },
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_definition_has_schemas_and_annotations() {
        for definition in definitions().iter().chain([wait_definition()]) {
            assert_eq!(definition["inputSchema"]["type"], "object", "{definition}");
            assert_eq!(definition["outputSchema"]["type"], "object", "{definition}");
            assert!(definition["annotations"]["readOnlyHint"].is_boolean());
        }
    }

    #[test]
    fn initialize_answers_the_version_asked_when_known() {
        assert_eq!(initialize(&json!({}))["protocolVersion"], PROTOCOL_VERSION);
        assert_eq!(
            initialize(&json!({"protocolVersion": "2025-06-18"}))["protocolVersion"],
            "2025-06-18"
        );
        assert_eq!(
            initialize(&json!({"protocolVersion": "1999-01-01"}))["protocolVersion"],
            PROTOCOL_VERSION
        );
    }
}
