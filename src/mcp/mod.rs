//! `ldk-server-mcp`: the node's API as Model Context Protocol tools for AI agents, over
//! stdio (JSON-RPC 2.0, one message per line).
//!
//! Each unary RPC of `api.LightningNode` is a tool ([`catalog`]) with schemas derived from the
//! API's descriptors ([`schema`]); `wait_for_event` ([`wait`]) waits for an event instead of
//! polling. The tools list shows only what the configured key may call, and tools that move
//! funds only with `--allow-spending`. Requests are served concurrently (a long
//! `wait_for_event` does not hold up a `ping`), at most [`MAX_IN_FLIGHT`] at a time, and a
//! request can be cancelled with `notifications/cancelled`.

pub mod arguments;
pub mod catalog;
pub mod config;
pub mod jsonrpc;
pub mod lines;
pub mod schema;
pub mod server;
pub mod tool_error;
pub mod wait;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::Parser;
use futures_util::FutureExt;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::{AbortHandle, JoinSet};

use crate::client::{self, SigningService};
use crate::proto::admin::key_management_client::KeyManagementClient;
use crate::proto::api::lightning_node_client::LightningNodeClient;
use crate::server::gateway::MAX_REQUEST_BODY_BYTES;
use config::McpArgs;
use jsonrpc::{ErrorReply, Incoming, INTERNAL_ERROR, PARSE_ERROR};
use lines::{LineError, LineReader};
use server::McpServer;

/// Requests served at once; further lines wait to be read.
pub const MAX_IN_FLIGHT: usize = 16;
/// The longest line (one message) accepted; a longer one is answered with a parse error.
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// Runs `ldk-server-mcp` with the process's arguments.
pub fn main() -> ExitCode {
    let args = McpArgs::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ldk-server-mcp: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: McpArgs) -> ExitCode {
    let connection = config::connection_args(&args, &|name| std::env::var(name).ok());
    let options = match connection.resolve() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("ldk-server-mcp: {}", error.message);
            return ExitCode::from(error.exit_code);
        }
    };
    let channel = match client::lazy_channel(&options) {
        Ok(channel) => channel,
        Err(error) => {
            eprintln!("ldk-server-mcp: {error}");
            return ExitCode::from(crate::cli::output::exit::SETUP);
        }
    };
    let signing = SigningService::with_signing(channel, options.api_key, options.signing);
    let node = LightningNodeClient::new(signing.clone())
        .max_decoding_message_size(MAX_REQUEST_BODY_BYTES)
        .max_encoding_message_size(MAX_REQUEST_BODY_BYTES);
    let keys = KeyManagementClient::new(signing);
    tokio::spawn(probe(node.clone(), options.base_url.clone()));
    let server = Arc::new(McpServer::new(node, keys, args.allow_spending));
    eprintln!(
        "ldk-server-mcp: serving MCP on stdio for {} (spending tools {})",
        options.base_url,
        if args.allow_spending {
            "offered"
        } else {
            "not offered"
        }
    );
    serve(tokio::io::stdin(), tokio::io::stdout(), server).await;
    ExitCode::SUCCESS
}

/// Says on stderr at once when the server cannot be reached, instead of at the first call;
/// the session is served either way.
async fn probe(mut node: client::LdkServerClient, base_url: String) {
    let mut request = tonic::Request::new(crate::proto::api::GetNodeInfoRequest {});
    request.set_timeout(std::time::Duration::from_secs(10));
    if let Err(status) = node.get_node_info(request).await {
        eprintln!(
            "ldk-server-mcp: warning: {base_url} does not answer GetNodeInfo: {}: {}",
            crate::cli::output::code_name(status.code()),
            status.message()
        );
    }
}

/// Requests in flight, by id, so that `notifications/cancelled` can stop one.
type InFlight = Arc<Mutex<HashMap<String, AbortHandle>>>;

/// Serves one session: reads messages from `reader` until it ends, answers on `writer`.
pub async fn serve<R, W>(reader: R, writer: W, server: Arc<McpServer>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (replies, outgoing) = mpsc::channel::<Value>(MAX_IN_FLIGHT * 2);
    let writer_task = tokio::spawn(write_lines(writer, outgoing));
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let in_flight: InFlight = Arc::default();
    let mut tasks = JoinSet::new();
    let mut lines = LineReader::new(reader, MAX_LINE_BYTES);
    while let Some(line) = lines.next_line().await {
        while tasks.try_join_next().is_some() {}
        if replies.is_closed() {
            break;
        }
        let line = match line {
            Ok(line) => line,
            Err(LineError::Read(error)) => {
                eprintln!("ldk-server-mcp: reading stdin failed: {error}");
                break;
            }
            Err(refused) => {
                let error = ErrorReply::new(Value::Null, PARSE_ERROR, refused.to_string());
                let _ = replies.send(error.to_json()).await;
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match jsonrpc::parse_line(&line) {
            Incoming::Invalid(error) => {
                let _ = replies.send(error.to_json()).await;
            }
            Incoming::Notification { method, params } => notification(&method, &params, &in_flight),
            Incoming::Request { id, method, params } => {
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                    break;
                };
                let key = id.to_string();
                let task = answer(Arc::clone(&server), id, method, params, replies.clone());
                let done = Arc::clone(&in_flight);
                let done_key = key.clone();
                let handle = tasks.spawn(async move {
                    task.await;
                    done.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&done_key);
                    drop(permit);
                });
                in_flight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, handle);
            }
        }
    }
    // The client closed its end: let the calls in flight answer (each has a deadline).
    while tasks.join_next().await.is_some() {}
    drop(replies);
    let _ = writer_task.await;
}

/// Answers one request; a panic in it becomes an internal error instead of no answer.
async fn answer(
    server: Arc<McpServer>,
    id: Value,
    method: String,
    params: Value,
    replies: mpsc::Sender<Value>,
) {
    let handled = std::panic::AssertUnwindSafe(server.handle(&id, &method, params))
        .catch_unwind()
        .await;
    let reply = match handled {
        Ok(Ok(result)) => jsonrpc::result(id, result),
        Ok(Err(error)) => error.to_json(),
        Err(_) => {
            ErrorReply::new(id, INTERNAL_ERROR, format!("Internal error in {method}")).to_json()
        }
    };
    let _ = replies.send(reply).await;
}

/// `notifications/cancelled` stops the request it names (which then gets no answer, as the
/// protocol says); other notifications need nothing.
fn notification(method: &str, params: &Value, in_flight: &InFlight) {
    if method != "notifications/cancelled" {
        return;
    }
    let Some(id) = params.get("requestId") else {
        return;
    };
    let handle = in_flight
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id.to_string());
    if let Some(handle) = handle {
        handle.abort();
    }
}

async fn write_lines<W: AsyncWrite + Unpin>(mut writer: W, mut outgoing: mpsc::Receiver<Value>) {
    while let Some(message) = outgoing.recv().await {
        let mut line = message.to_string().into_bytes();
        line.push(b'\n');
        if writer.write_all(&line).await.is_err() || writer.flush().await.is_err() {
            eprintln!("ldk-server-mcp: stdout is closed: stopping");
            return;
        }
    }
}
