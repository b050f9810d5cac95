//! The sandbox host's HTTP API, as JSON messages.
//!
//! - `GET /v1/tools` answers a [`ToolList`].
//! - `POST /v1/call` takes a [`CallRequest`] (plus W3C `traceparent`/`tracestate` headers) and
//!   answers a [`CallResponse`]. The HTTP status mirrors [`ErrorKind::http_status`], but the body
//!   is authoritative: a client should read `ok` and `error.kind`.
//! - `GET /health`, `GET /ready` and `GET /metrics` are for probes and Prometheus.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Path of the tool listing endpoint.
pub const TOOLS_PATH: &str = "/v1/tools";
/// Path of the tool call endpoint.
pub const CALL_PATH: &str = "/v1/call";

/// Every tool a sandbox serves, with the data the gateway needs to list, filter and route them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolList {
    /// The sandbox instance's name (from its configuration), for metrics and logs.
    pub sandbox: String,
    /// Changes whenever the set of tools or any definition changes.
    pub revision: String,
    /// The tools, each with its tool set and component.
    pub tools: Vec<ToolEntry>,
}

/// One tool, in the shape MCP `tools/list` uses, plus where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolEntry {
    /// The tool's name, unique across the sandbox.
    pub name: String,
    /// A short human-readable name for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the tool does, for the agent choosing it.
    pub description: String,
    /// JSON Schema of the `arguments` object.
    pub input_schema: serde_json::Value,
    /// JSON Schema of the result, when the tool declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<serde_json::Value>,
    /// MCP tool annotations (hints such as `readOnlyHint`), passed through as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Value>,
    /// The tool set (policy unit) this tool belongs to.
    pub toolset: String,
    /// The component (wasm module) that implements it.
    pub component: String,
}

/// A request to run one tool for one authenticated caller.
///
/// The gateway forwards the caller's identity, never their credentials.
#[derive(Debug, Serialize, Deserialize)]
pub struct CallRequest<'a> {
    /// The name of the tool to run.
    #[serde(borrow)]
    pub tool: std::borrow::Cow<'a, str>,
    /// The MCP `arguments` object, forwarded as the client sent it.
    #[serde(borrow, default)]
    pub arguments: Option<&'a RawValue>,
    /// The caller's user name, as the credential states it.
    #[serde(borrow)]
    pub user: std::borrow::Cow<'a, str>,
    /// The caller's roles, as the credential states them.
    #[serde(default)]
    pub roles: Vec<std::borrow::Cow<'a, str>>,
    /// Correlates the sandbox's logs with the gateway's audit line.
    #[serde(borrow, default)]
    pub request_id: Option<std::borrow::Cow<'a, str>>,
    /// The most time the caller will wait, in milliseconds. The sandbox never runs a call
    /// longer than this or the tool's own limit, whichever is smaller.
    #[serde(default)]
    pub deadline_ms: Option<u64>,
    /// The caller's immutable, issuer-scoped id (e.g. `oidc:<issuer>#<sub>`, `key:<key id>`);
    /// `user` stays the display name.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<std::borrow::Cow<'a, str>>,
    /// A call grant signed by the gateway (see `grant`): who the caller is and the call tree's
    /// budgets. A sandbox that requires its gateway's token takes identity only from it.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<std::borrow::Cow<'a, str>>,
}

/// The outcome of a call: `ok` with a result, or an error with its kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallResponse {
    /// Whether the call produced a result (else `error` says why not).
    pub ok: bool,
    /// The tool that was called.
    pub tool: String,
    /// The tool's result (any JSON value) when `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Why the call failed, when not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<CallError>,
    /// What the call used.
    #[serde(default)]
    pub stats: CallStats,
}

impl CallResponse {
    /// A successful call of `tool` that returned `result`.
    pub fn success(tool: impl Into<String>, result: serde_json::Value, stats: CallStats) -> Self {
        Self {
            ok: true,
            tool: tool.into(),
            result: Some(result),
            error: None,
            stats,
        }
    }

    /// A failed call of `tool`, with the reason.
    pub fn failure(tool: impl Into<String>, error: CallError, stats: CallStats) -> Self {
        Self {
            ok: false,
            tool: tool.into(),
            result: None,
            error: Some(error),
            stats,
        }
    }
}

/// Why a call produced no result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallError {
    /// Which of the closed set of failures this is.
    pub kind: ErrorKind,
    /// A sentence for a human (and the agent): what happened and, where it helps, what to do.
    pub message: String,
    /// Structured detail of a tool failure (e.g. `execute_code`'s output and traceback), which
    /// the gateway passes to the client as the `isError` result's `structuredContent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Box<serde_json::Value>>,
}

impl CallError {
    /// An error of `kind` with a message and no detail.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            detail: None,
        }
    }

    /// The same error with structured detail for the client.
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(Box::new(detail));
        self
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// What a call used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallStats {
    /// Wall-clock time inside the sandbox, queueing included.
    pub duration_us: u64,
    /// Time spent waiting for a free execution slot.
    pub queue_us: u64,
    /// Fuel (instruction budget) the tool burned.
    pub fuel_consumed: u64,
    /// Peak linear memory of the tool's instance, in bytes.
    pub memory_peak: u64,
    /// Tools this call invoked through the host (transitively).
    pub nested_calls: u32,
}

/// The closed set of ways a call can fail. Names are stable: they appear in metrics labels,
/// audit lines and the error messages agents see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The call request itself is malformed (not JSON, missing field).
    BadRequest,
    /// No tool by that name in this sandbox.
    UnknownTool,
    /// The caller's roles do not allow the tool.
    Forbidden,
    /// The arguments do not match the tool's input schema, or the tool rejected them.
    InvalidArguments,
    /// The tool ran and reported a failure.
    ToolError,
    /// The tool used up its fuel (instruction budget).
    FuelExhausted,
    /// The tool ran past its wall-clock deadline.
    Timeout,
    /// The tool tried to grow its memory past its cap.
    MemoryLimit,
    /// The tool overflowed its stack.
    StackOverflow,
    /// The tool trapped (panic, unreachable, out-of-bounds access, ...).
    ToolTrap,
    /// The tool's result or its stdout went past the output cap.
    OutputTooLarge,
    /// The tool returned something that is not JSON or does not match its output schema.
    BadOutput,
    /// The call made too many nested tool calls, or nested them too deeply.
    NestedCallLimit,
    /// Every execution slot and queue place is taken; retry later.
    Busy,
    /// The sandbox could not be reached or died mid-call (reported by the gateway).
    Unavailable,
    /// A bug or an unexpected host failure.
    Internal,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 16] = [
        Self::BadRequest,
        Self::UnknownTool,
        Self::Forbidden,
        Self::InvalidArguments,
        Self::ToolError,
        Self::FuelExhausted,
        Self::Timeout,
        Self::MemoryLimit,
        Self::StackOverflow,
        Self::ToolTrap,
        Self::OutputTooLarge,
        Self::BadOutput,
        Self::NestedCallLimit,
        Self::Busy,
        Self::Unavailable,
        Self::Internal,
    ];

    /// The stable snake_case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::UnknownTool => "unknown_tool",
            Self::Forbidden => "forbidden",
            Self::InvalidArguments => "invalid_arguments",
            Self::ToolError => "tool_error",
            Self::FuelExhausted => "fuel_exhausted",
            Self::Timeout => "timeout",
            Self::MemoryLimit => "memory_limit",
            Self::StackOverflow => "stack_overflow",
            Self::ToolTrap => "tool_trap",
            Self::OutputTooLarge => "output_too_large",
            Self::BadOutput => "bad_output",
            Self::NestedCallLimit => "nested_call_limit",
            Self::Busy => "busy",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// Whether the sandbox stopped the tool for exceeding one of its limits.
    pub fn is_limit(self) -> bool {
        matches!(
            self,
            Self::FuelExhausted
                | Self::Timeout
                | Self::MemoryLimit
                | Self::StackOverflow
                | Self::OutputTooLarge
                | Self::NestedCallLimit
        )
    }

    /// The HTTP status the sandbox answers with for this outcome.
    pub fn http_status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Forbidden => 403,
            Self::UnknownTool => 404,
            Self::InvalidArguments => 422,
            Self::Busy | Self::Unavailable => 503,
            Self::Internal => 500,
            // The tool ran; the call itself was served.
            _ => 200,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_serialize_as_their_names() {
        for kind in ErrorKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            let back: ErrorKind = serde_json::from_str(&json).unwrap();
            assert_eq!(back, kind);
        }
    }

    #[test]
    fn call_request_borrows_arguments_verbatim() {
        let body = r#"{"tool":"echo","arguments":{"text":"hi","n":[1,2]},"user":"alice","roles":["mcp-user"]}"#;
        let req: CallRequest<'_> = serde_json::from_str(body).unwrap();
        assert_eq!(req.tool, "echo");
        assert_eq!(req.arguments.unwrap().get(), r#"{"text":"hi","n":[1,2]}"#);
        assert_eq!(req.roles, vec!["mcp-user"]);
        assert_eq!(req.deadline_ms, None);
    }

    #[test]
    fn call_response_round_trips_with_error() {
        let resp = CallResponse::failure(
            "spin",
            CallError::new(ErrorKind::FuelExhausted, "tool 'spin' used all of its fuel"),
            CallStats {
                fuel_consumed: 10,
                ..CallStats::default()
            },
        );
        let text = serde_json::to_string(&resp).unwrap();
        assert!(text.contains(r#""kind":"fuel_exhausted""#), "{text}");
        let back: CallResponse = serde_json::from_str(&text).unwrap();
        assert!(!back.ok);
        assert_eq!(back.error.unwrap().kind, ErrorKind::FuelExhausted);
        assert_eq!(back.stats.fuel_consumed, 10);
    }
}
