//! What the CLI prints: JSON results on stdout, `error: <code>: <message>` on stderr, and an
//! exit code per class of failure so scripts can tell them apart.

use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;
use tonic::Code;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Indented JSON (the default).
    Pretty,
    /// One compact JSON object per line, for scripts and `jq -c`.
    JsonLines,
}

/// Exit codes, one per class of failure (2 is clap's for bad arguments).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Bad command-line arguments, found before calling the server.
    pub const USAGE: u8 = 2;
    /// The server rejected the request as invalid (INVALID_ARGUMENT).
    pub const INVALID_ARGUMENT: u8 = 3;
    /// Authentication failed (UNAUTHENTICATED).
    pub const AUTH: u8 = 4;
    /// The Lightning operation failed (FAILED_PRECONDITION).
    pub const LIGHTNING: u8 = 5;
    /// The node is starting or the server is stopping (UNAVAILABLE).
    pub const UNAVAILABLE: u8 = 6;
    /// The server failed or cannot do it (INTERNAL, UNIMPLEMENTED, anything else).
    pub const INTERNAL: u8 = 7;
    /// The server could not be reached (connection, TLS).
    pub const CONNECTION: u8 = 8;
    /// The CLI's own setup failed (no API key, unreadable certificate or config).
    pub const SETUP: u8 = 9;
}

/// A failure, with the exit code it ends the process with.
#[derive(Debug)]
pub struct CliError {
    /// The exit code.
    pub exit_code: u8,
    /// The line printed after `error: `.
    pub message: String,
}

impl CliError {
    /// A failure of the CLI's own setup.
    pub fn setup(message: impl Into<String>) -> Self {
        Self {
            exit_code: exit::SETUP,
            message: message.into(),
        }
    }

    /// Bad arguments noticed before any call.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            exit_code: exit::USAGE,
            message: message.into(),
        }
    }

    /// The server could not be reached.
    pub fn connection(message: impl Into<String>) -> Self {
        Self {
            exit_code: exit::CONNECTION,
            message: message.into(),
        }
    }

    /// A gRPC status from the server (or from the transport when the connection broke).
    pub fn from_status(status: &tonic::Status) -> Self {
        let exit_code = match status.code() {
            Code::InvalidArgument => exit::INVALID_ARGUMENT,
            Code::Unauthenticated | Code::PermissionDenied => exit::AUTH,
            Code::FailedPrecondition => exit::LIGHTNING,
            Code::Unavailable if is_transport_failure(status) => exit::CONNECTION,
            Code::Unavailable => exit::UNAVAILABLE,
            _ => exit::INTERNAL,
        };
        Self {
            exit_code,
            message: format!("{}: {}", code_name(status.code()), status.message()),
        }
    }

    /// Prints the error and returns the exit code.
    pub fn report(&self) -> ExitCode {
        eprintln!("error: {}", self.message);
        ExitCode::from(self.exit_code)
    }
}

impl From<tonic::Status> for CliError {
    fn from(status: tonic::Status) -> Self {
        Self::from_status(&status)
    }
}

/// tonic reports a broken connection as UNAVAILABLE with a transport error as its source.
fn is_transport_failure(status: &tonic::Status) -> bool {
    use std::error::Error;
    status
        .source()
        .is_some_and(|source| source.is::<tonic::transport::Error>())
}

/// The canonical gRPC name of a status code, e.g. `INVALID_ARGUMENT`.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Prints one result in the chosen format.
pub fn print<T: Serialize>(format: OutputFormat, value: &T) -> Result<(), CliError> {
    let text = match format {
        OutputFormat::Pretty => serde_json::to_string_pretty(value),
        OutputFormat::JsonLines => serde_json::to_string(value),
    }
    .map_err(|e| CliError {
        exit_code: exit::INTERNAL,
        message: format!("cannot render the result: {e}"),
    })?;
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (e.g. `| head`) is not an error worth a message.
    let _ = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
    Ok(())
}
