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
    /// The calling key may not do this: its budget does not cover the send (PERMISSION_DENIED).
    #[error("{0}")]
    PermissionDenied(String),
    /// A position outside what is kept: an event sequence older than the retained log or
    /// newer than the newest event (OUT_OF_RANGE).
    #[error("{0}")]
    OutOfRange(String),
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
            Self::PermissionDenied(_) => Code::PermissionDenied,
            Self::OutOfRange(_) => Code::OutOfRange,
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
        let message = node_error_message(&error);
        match node_error_class(&error) {
            NodeErrorClass::InvalidRequest => Self::InvalidArgument(message),
            NodeErrorClass::Precondition => Self::Lightning(message),
            NodeErrorClass::NotRunning => Self::Unavailable(format!("node not running: {message}")),
            NodeErrorClass::ChainSourceUnavailable => Self::Unavailable(message),
            NodeErrorClass::Internal => Self::Internal(message),
        }
    }
}

/// What a failed ldk-node call says about who can fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeErrorClass {
    /// The request was wrong: INVALID_ARGUMENT.
    InvalidRequest,
    /// The request was fine but the node's state, its funds, its peers, the network or its
    /// configuration do not allow it now: FAILED_PRECONDITION.
    Precondition,
    /// The node is not running: UNAVAILABLE.
    NotRunning,
    /// The chain source did not answer in time: UNAVAILABLE (retry later).
    ChainSourceUnavailable,
    /// A fault of the server or its environment (persistence, signing, the wallet's own
    /// bookkeeping): INTERNAL.
    Internal,
}

/// Classifies every ldk-node 0.7.1 error. The match is exhaustive on purpose: a new variant
/// in a later ldk-node must be classified here before the server builds.
pub fn node_error_class(error: &NodeError) -> NodeErrorClass {
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
        | InvalidCustomTlvs
        | UriParameterParsingFailed
        | InvalidBlindedPaths => NodeErrorClass::InvalidRequest,
        OnchainTxCreationFailed
        | ConnectionFailed
        | InvoiceCreationFailed
        | InvoiceRequestCreationFailed
        | OfferCreationFailed
        | RefundCreationFailed
        | PaymentSendingFailed
        | ProbeSendingFailed
        | ChannelCreationFailed
        | ChannelClosingFailed
        | ChannelSplicingFailed
        | ChannelConfigUpdateFailed
        | LiquidityRequestFailed
        | DuplicatePayment
        | UnsupportedCurrency
        | InsufficientFunds
        | LiquiditySourceUnavailable
        | LiquidityFeeTooHigh
        | AsyncPaymentServicesDisabled => NodeErrorClass::Precondition,
        NotRunning => NodeErrorClass::NotRunning,
        FeerateEstimationUpdateFailed
        | FeerateEstimationUpdateTimeout
        | WalletOperationTimeout
        | TxSyncFailed
        | TxSyncTimeout
        | GossipUpdateFailed
        | GossipUpdateTimeout => NodeErrorClass::ChainSourceUnavailable,
        AlreadyRunning | PersistenceFailed | WalletOperationFailed | OnchainTxSigningFailed => {
            NodeErrorClass::Internal
        }
    }
}

/// ldk-node's own text, with what the operator can do where ldk-node's text does not say.
pub fn node_error_message(error: &NodeError) -> String {
    use NodeError::*;
    let hint = match error {
        LiquiditySourceUnavailable => {
            "no LSPS2 liquidity provider is configured: JIT channels need the \
             [liquidity.lsps2_client] table (node_pubkey, address) in the configuration"
        }
        OnchainTxCreationFailed => {
            "the wallet cannot build the transaction (e.g. what is left after fees is below \
             the dust limit)"
        }
        ConnectionFailed => "the peer could not be reached or closed the connection",
        ChannelSplicingFailed => {
            "the channel cannot be spliced now (not ready, not enough confirmed coins or \
             balance, or the peer does not support splicing)"
        }
        AsyncPaymentServicesDisabled => "async payment services are not enabled on this node",
        _ if node_error_class(error) == NodeErrorClass::ChainSourceUnavailable => {
            "the chain source is unreachable or slow; try again"
        }
        _ => return error.to_string(),
    };
    format!("{error} ({hint})")
}

/// Result alias used by every RPC handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// An error and its sources on one line, `outer: inner: …`: the messages of reqwest, hyper
/// and rustls leave out their causes.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn funds_dust_and_missing_lsp_are_preconditions() {
        for error in [
            NodeError::InsufficientFunds,
            NodeError::OnchainTxCreationFailed,
            NodeError::LiquiditySourceUnavailable,
            NodeError::ConnectionFailed,
        ] {
            assert_eq!(
                ApiError::from(error).code(),
                Code::FailedPrecondition,
                "{error:?}"
            );
        }
        let message = ApiError::from(NodeError::LiquiditySourceUnavailable).to_string();
        assert!(message.contains("[liquidity.lsps2_client]"), "{message}");
    }

    #[test]
    fn request_faults_chain_outages_and_our_faults() {
        assert_eq!(
            ApiError::from(NodeError::InvalidCustomTlvs).code(),
            Code::InvalidArgument
        );
        assert_eq!(
            ApiError::from(NodeError::InvalidUri).code(),
            Code::InvalidArgument
        );
        assert_eq!(
            ApiError::from(NodeError::NotRunning).code(),
            Code::Unavailable
        );
        let sync = ApiError::from(NodeError::TxSyncTimeout);
        assert_eq!(sync.code(), Code::Unavailable);
        assert!(sync.to_string().contains("try again"), "{sync}");
        assert_eq!(
            ApiError::from(NodeError::PersistenceFailed).code(),
            Code::Internal
        );
        assert_eq!(
            ApiError::from(NodeError::InsufficientFunds).to_string(),
            NodeError::InsufficientFunds.to_string()
        );
    }
}
