//! Drives the real `ldk-server-mcp` binary over its stdio, one JSON-RPC message per line.

use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Path of the MCP binary cargo built for this test run.
pub const MCP_BIN: &str = env!("CARGO_BIN_EXE_ldk-server-mcp");
/// How long a test waits for an answer it expects.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// How the MCP process finds its server.
#[derive(Debug, Clone)]
pub struct McpTarget {
    /// `host:port`.
    pub base_url: String,
    /// The API key, hex.
    pub api_key: String,
    /// The server's certificate file.
    pub tls_cert: std::path::PathBuf,
}

impl McpTarget {
    /// The target of a running server, with its admin key.
    pub fn of(server: &super::ServerProcess) -> Self {
        Self {
            base_url: server.grpc_address.to_string(),
            api_key: server.api_key().as_hex().to_owned(),
            tls_cert: server.storage().join("tls.crt"),
        }
    }

    /// The same server with another key.
    pub fn with_key(&self, api_key: &str) -> Self {
        Self {
            api_key: api_key.to_owned(),
            ..self.clone()
        }
    }
}

/// A running `ldk-server-mcp`.
pub struct McpProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Lines read while looking for another answer.
    pending: Vec<Value>,
}

impl McpProcess {
    /// Starts it against `target` (upstream's environment variables), with `extra_args`.
    pub fn start(target: &McpTarget, extra_args: &[&str]) -> Self {
        Self::spawn(extra_args, |command| {
            command
                .env("LDK_BASE_URL", &target.base_url)
                .env("LDK_API_KEY", &target.api_key)
                .env("LDK_TLS_CERT_PATH", &target.tls_cert);
        })
    }

    /// Starts it with `args`, after `configure` sets its environment (which starts empty of
    /// any `LDK_*` variable, with `HOME` in a fresh directory).
    pub fn spawn(args: &[&str], configure: impl FnOnce(&mut Command)) -> Self {
        let home = tempfile::tempdir().expect("tempdir").keep();
        let mut command = Command::new(MCP_BIN);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        configure(&mut command);
        let mut child = command.spawn().expect("spawn ldk-server-mcp");
        let stdout = child.stdout.take().expect("stdout");
        let lines = super::line_receiver(stdout);
        Self {
            stdin: child.stdin.take(),
            child,
            lines,
            pending: Vec::new(),
        }
    }

    /// Writes raw bytes (a line must end with `\n`).
    pub fn write_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("write to ldk-server-mcp");
        stdin.flush().expect("flush");
    }

    /// Sends one message.
    pub fn send(&mut self, message: &Value) {
        let mut line = message.to_string().into_bytes();
        line.push(b'\n');
        self.write_raw(&line);
    }

    /// Sends a request.
    pub fn send_request(&mut self, id: u64, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
    }

    /// Sends a notification.
    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and returns its answer.
    pub fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send_request(id, method, params);
        self.answer(&json!(id), ANSWER_TIMEOUT)
    }

    /// Calls a tool; returns the `result` (a tool result, `isError` or not).
    pub fn call_tool(&mut self, id: u64, name: &str, arguments: Value) -> Value {
        let reply = self.request(
            id,
            "tools/call",
            json!({"name": name, "arguments": arguments}),
        );
        match reply.get("result") {
            Some(result) => result.clone(),
            None => panic!("tools/call {name} got no result: {reply}"),
        }
    }

    /// Calls a tool that must succeed; returns its structured content.
    pub fn call_ok(&mut self, id: u64, name: &str, arguments: Value) -> Value {
        let result = self.call_tool(id, name, arguments.clone());
        assert_eq!(result["isError"], false, "{name}({arguments}): {result}");
        let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap())
            .expect("the text content is JSON");
        assert_eq!(
            text, result["structuredContent"],
            "text and structured content agree"
        );
        result["structuredContent"].clone()
    }

    /// The answer with `id` (other lines read meanwhile are kept for later).
    pub fn answer(&mut self, id: &Value, timeout: Duration) -> Value {
        if let Some(index) = self.pending.iter().position(|m| &m["id"] == id) {
            return self.pending.remove(index);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let message = self
                .next_message(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|| panic!("no answer to request {id} in {timeout:?}"));
            if &message["id"] == id {
                return message;
            }
            self.pending.push(message);
        }
    }

    /// The next message within `timeout`, if one comes.
    pub fn next_message(&mut self, timeout: Duration) -> Option<Value> {
        if !self.pending.is_empty() {
            return Some(self.pending.remove(0));
        }
        match self.lines.recv_timeout(timeout) {
            Ok(line) => Some(serde_json::from_str(&line).unwrap_or_else(|e| {
                panic!("ldk-server-mcp wrote a line that is not JSON ({e}): {line}")
            })),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Closes stdin and waits for the process to exit.
    pub fn finish(mut self, timeout: Duration) -> ExitStatus {
        drop(self.stdin.take());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "ldk-server-mcp did not exit after stdin closed"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for McpProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `initialize` handshake, as a client does it; returns the result.
pub fn initialize(mcp: &mut McpProcess) -> Value {
    let reply = mcp.request(
        0,
        "initialize",
        json!({
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "ldk-server-tests", "version": "1"},
        }),
    );
    mcp.notify("notifications/initialized", json!({}));
    reply["result"].clone()
}

/// The names `tools/list` offers.
pub fn tool_names(mcp: &mut McpProcess, id: u64) -> Vec<String> {
    let reply = mcp.request(id, "tools/list", json!({}));
    reply["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("tools/list: {reply}"))
        .iter()
        .map(|tool| tool["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Checks `value` against the JSON Schema `schema`; panics naming every violation.
pub fn assert_matches_schema(what: &str, schema: &Value, value: &Value) {
    let validator = jsonschema::validator_for(schema)
        .unwrap_or_else(|e| panic!("{what}: the schema is not valid: {e}\n{schema:#}"));
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: {value:#}\nviolates its schema: {errors:#?}"
    );
}

/// A self-signed certificate file for a server that does not exist.
pub fn stray_certificate(dir: &Path) -> std::path::PathBuf {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let path = dir.join("stray.crt");
    std::fs::write(&path, certified.cert.pem()).unwrap();
    path
}
