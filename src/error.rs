//! Errors as types: every failure an RPC can report, and how it maps to a gRPC status.
//!
//! Handlers return [`ApiError`]; the transport turns it into a `tonic::Status` with the code
//! of the LDK Server API contract and a message an operator can act on.

use ldk_node::NodeError;
use tonic::{Code, Status};

/// A failed RPC, classified by what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or names something that cannot exist (INVALID_ARGUMENT).
    #[error("{0}")]
    InvalidArgument(String),
    /// The Lightning operation itself failed: no route, no funds, peer refused (FAILED_PRECONDITION).
    #[error("{0}")]
    Lightning(String),
    /// The node is not running yet, or is shutting down (UNAVAILABLE).
    #[error("{0}")]
    Unavailable(String),
    /// The server cannot do this at all with the ldk-node version it runs on (UNIMPLEMENTED).
    #[error("{0}")]
    Unimplemented(String),
    /// A bug or an environment failure on the server side (INTERNAL).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// Shorthand for an INVALID_ARGUMENT error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidArgument(message.into())
    }

    /// Shorthand for an INTERNAL error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }

    /// INVALID_ARGUMENT naming a required field that was left empty.
    pub fn missing_field(field: &str) -> Self {
        Self::InvalidArgument(format!("missing required field `{field}`"))
    }

    /// INVALID_ARGUMENT for a field whose value could not be parsed.
    pub fn bad_field(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::InvalidArgument(format!("invalid `{field}`: {problem}"))
    }

    /// The gRPC status code this error is reported with.
    pub fn code(&self) -> Code {
        match self {
            Self::InvalidArgument(_) => Code::InvalidArgument,
            Self::Lightning(_) => Code::FailedPrecondition,
            Self::Unavailable(_) => Code::Unavailable,
            Self::Unimplemented(_) => Code::Unimplemented,
            Self::Internal(_) => Code::Internal,
        }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        let code = error.code();
        Status::new(code, error.to_string())
    }
}

impl From<NodeError> for ApiError {
    fn from(error: NodeError) -> Self {
        let message = error.to_string();
        match node_error_class(&error) {
            NodeErrorClass::InvalidRequest => Self::InvalidArgument(message),
            NodeErrorClass::Lightning => Self::Lightning(message),
            NodeErrorClass::NotRunning => Self::Unavailable(format!("node not running: {message}")),
            NodeErrorClass::Internal => Self::Internal(message),
        }
    }
}

enum NodeErrorClass {
    InvalidRequest,
    Lightning,
    NotRunning,
    Internal,
}

fn node_error_class(error: &NodeError) -> NodeErrorClass {
    use NodeError::*;
    match error {
        InvalidAddress
        | InvalidSocketAddress
        | InvalidPublicKey
        | InvalidSecretKey
        | InvalidOfferId
        | InvalidNodeId
        | InvalidPaymentId
        | InvalidPaymentHash
        | InvalidPaymentPreimage
        | InvalidPaymentSecret
        | InvalidAmount
        | InvalidInvoice
        | InvalidOffer
        | InvalidRefund
        | InvalidChannelId
        | InvalidNetwork
        | InvalidUri
        | InvalidQuantity
        | InvalidNodeAlias
        | InvalidDateTime
        | InvalidFeeRate
        | UriParameterParsingFailed
        | InvalidBlindedPaths
        | AsyncPaymentServicesDisabled => NodeErrorClass::InvalidRequest,
        ConnectionFailed
        | InvoiceCreationFailed
        | InvoiceRequestCreationFailed
        | OfferCreationFailed
        | RefundCreationFailed
        | PaymentSendingFailed
        | InvalidCustomTlvs
        | ProbeSendingFailed
        | ChannelCreationFailed
        | ChannelClosingFailed
        | ChannelSplicingFailed
        | ChannelConfigUpdateFailed
        | DuplicatePayment
        | InsufficientFunds
        | UnsupportedCurrency
        | LiquidityFeeTooHigh => NodeErrorClass::Lightning,
        NotRunning => NodeErrorClass::NotRunning,
        _ => NodeErrorClass::Internal,
    }
}

/// Result alias used by every RPC handler.
pub type ApiResult<T> = Result<T, ApiError>;
