//! Why a request to an upstream MCP server got no result: a closed set, so the gateway maps
//! each to one JSON-RPC error (see [`crate::error::GatewayError::Federated`]) and the circuit
//! breaker knows which failures say the server is unwell.

use std::time::Duration;

/// A failed exchange with an upstream MCP server.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// Its `max_concurrent` requests are all in flight.
    #[error("it already has {max} requests in flight (max_concurrent)")]
    Saturated { max: usize },
    /// The caller already has their share of its `max_concurrent` requests in flight.
    #[error("you already have {max} requests in flight to it (your share of max_concurrent)")]
    CallerShare { max: usize },
    /// Calls are not tried for a while after repeated failures.
    #[error("it failed {failures} times in a row; calls resume within {retry_in:?}")]
    CircuitOpen { failures: u32, retry_in: Duration },
    #[error("cannot connect to {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error("it did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the connection broke: {0}")]
    Broken(String),
    #[error("its answer is larger than {max} bytes")]
    TooLarge { max: usize },
    /// An HTTP status other than success (after one re-initialization on 404 and one new
    /// token on 401).
    #[error("it answered HTTP {status}{}", body_hint(.body))]
    Status { status: u16, body: String },
    /// The answer is not the JSON-RPC response expected.
    #[error("its answer is not a valid MCP response: {0}")]
    Protocol(String),
    /// A JSON-RPC error from the upstream itself (e.g. an unknown tool), passed on.
    #[error("{message}")]
    Rpc { code: i64, message: String },
    /// It speaks a protocol revision or transport the gateway does not (found at `initialize`).
    #[error("{0}")]
    Unsupported(String),
    /// The gateway could not get a token for it.
    #[error("cannot get an access token for it: {0}")]
    Credentials(String),
}

fn body_hint(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

impl FederationError {
    /// Whether the failure counts against the server in its circuit breaker: it could not be
    /// reached, was too slow, or broke down. An error the server chose to send does not.
    pub fn counts_as_failure(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Timeout(_) | Self::Broken(_) => true,
            Self::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// Whether the upstream is unavailable (503 and `Retry-After` to the client) rather than
    /// misbehaving (502).
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::CircuitOpen { .. }
            | Self::Saturated { .. }
            | Self::CallerShare { .. }
            | Self::Connect { .. }
            | Self::Timeout(_)
            | Self::Broken(_)
            | Self::Credentials(_) => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// The short kind, for metrics and trace attributes.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CircuitOpen { .. } => "circuit_open",
            Self::Saturated { .. } => "saturated",
            Self::CallerShare { .. } => "caller_share",
            Self::Connect { .. } => "connect_error",
            Self::Timeout(_) => "timeout",
            Self::Broken(_) => "connection_broken",
            Self::TooLarge { .. } => "response_too_large",
            Self::Status { .. } => "http_status",
            Self::Protocol(_) => "protocol_error",
            Self::Rpc { .. } => "rpc_error",
            Self::Unsupported(_) => "unsupported_protocol",
            Self::Credentials(_) => "credentials",
        }
    }
}
