//! Why a tool call failed: the gRPC status of the server's answer, or a problem found before
//! calling it. Either way it becomes a tool result with `isError: true`, so that the agent
//! sees the reason and can correct itself.

use serde_json::{json, Value};
use tonic::Code;

use crate::cli::output::code_name;

/// A failed tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolError {
    /// The gRPC code (INVALID_ARGUMENT for arguments refused before any call).
    pub code: Code,
    /// The server's message, or ours.
    pub message: String,
}

impl ToolError {
    /// Arguments refused before calling the server.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self {
            code: Code::InvalidArgument,
            message: message.into(),
        }
    }

    /// A fault of this process.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            code: Code::Internal,
            message: message.into(),
        }
    }

    /// The code's name as gRPC writes it (`PERMISSION_DENIED`).
    pub fn code_name(&self) -> &'static str {
        code_name(self.code)
    }

    /// The MCP tool result: the code and message as text and as structured data under
    /// `_meta`, with `isError`.
    pub fn to_result(&self) -> Value {
        json!({
            "content": [{
                "type": "text",
                "text": format!("{} ({}): {}", self.code_name(), self.code as i32, self.message),
            }],
            "isError": true,
            "_meta": {
                "ldk-server/grpc_code": self.code as i32,
                "ldk-server/grpc_status": self.code_name(),
            },
        })
    }
}

impl From<tonic::Status> for ToolError {
    fn from(status: tonic::Status) -> Self {
        let message = match status.code() {
            // The transport's own failure (no server answer): say where it comes from.
            Code::Unavailable | Code::Unknown if status.message().is_empty() => {
                "the server cannot be reached".to_owned()
            }
            _ => status.message().to_owned(),
        };
        Self {
            code: status.code(),
            message,
        }
    }
}
