//! The errors a tool author meets: what a tool returns ([`ToolError`]), what a nested call
//! through the host can end with ([`CallError`]) and why a toolbox cannot be described
//! ([`DescribeError`]).

use std::fmt::Display;

/// A failure the tool reports. The agent sees it as a tool result with `isError: true`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The arguments fit the schema but cannot be acted on (a bad path, an unknown id).
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The tool ran and could not do what was asked.
    #[error("{0}")]
    Failed(String),
}

impl ToolError {
    /// The arguments fit the schema but cannot be acted on.
    pub fn invalid_arguments(message: impl Display) -> Self {
        Self::InvalidArguments(message.to_string())
    }

    /// The tool ran and could not do what was asked.
    pub fn failed(message: impl Display) -> Self {
        Self::Failed(message.to_string())
    }

    /// The message without the variant, as it goes over the wire.
    pub fn message(&self) -> &str {
        match self {
            Self::InvalidArguments(message) | Self::Failed(message) => message,
        }
    }
}

/// A nested call that failed makes the calling tool fail, so `?` works on
/// [`Context::call_tool`](crate::Context::call_tool) inside a tool.
impl From<CallError> for ToolError {
    fn from(error: CallError) -> Self {
        Self::Failed(format!("a nested tool call failed: {error}"))
    }
}

/// Why a call made through [`Context::call_tool`](crate::Context::call_tool) did not return a
/// result. The first six variants mirror the contract's `call-error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No tool by that name exists in this sandbox.
    #[error("tool not found: {0}")]
    NotFound(String),
    /// The caller's roles do not allow that tool.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The arguments are not valid for that tool (schema or the tool's own check).
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The tool ran and reported a failure.
    #[error("the tool failed: {0}")]
    Failed(String),
    /// The host stopped the tool. `kind` is the sandbox's error kind (`timeout`,
    /// `fuel_exhausted`, `memory_limit`, `tool_trap`, ...).
    #[error("the tool was stopped ({kind}): {message}")]
    Aborted {
        /// The sandbox's error kind, e.g. `timeout`.
        kind: String,
        /// The host's explanation.
        message: String,
    },
    /// The nested-call budget of the outer call is spent (count or depth).
    #[error("nested call limit reached: {0}")]
    LimitExceeded(String),
    /// The tool returned a result, but it does not decode as the type the caller asked for.
    #[error("the result of `{tool}` is not what the caller expected: {message}")]
    UnexpectedResult {
        /// The tool that was called.
        tool: String,
        /// Why the result does not decode.
        message: String,
    },
}

impl CallError {
    /// A stable snake_case name for the variant, for logs and for rendering the error as data.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Forbidden(_) => "forbidden",
            Self::InvalidArguments(_) => "invalid_arguments",
            Self::Failed(_) => "failed",
            Self::Aborted { .. } => "aborted",
            Self::LimitExceeded(_) => "limit_exceeded",
            Self::UnexpectedResult { .. } => "unexpected_result",
        }
    }

    /// The message without the variant's prefix.
    pub fn message(&self) -> &str {
        match self {
            Self::NotFound(message)
            | Self::Forbidden(message)
            | Self::InvalidArguments(message)
            | Self::Failed(message)
            | Self::LimitExceeded(message)
            | Self::Aborted { message, .. }
            | Self::UnexpectedResult { message, .. } => message,
        }
    }
}

/// Why a [`Toolbox`](crate::Toolbox) cannot be described to the host. These are programming
/// errors in the tool crate; the component panics with this message when the host loads it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescribeError {
    /// A tool name breaks the naming rule.
    #[error(
        "tool name `{name}` is invalid: {reason}; a tool name is 1-64 characters of a-z A-Z 0-9 _ -"
    )]
    InvalidName {
        /// The refused name.
        name: String,
        /// Which part of the rule it breaks.
        reason: String,
    },
    /// Two tools in one component share a name.
    #[error("two tools are named `{0}`; tool names must be unique within a component")]
    DuplicateName(String),
    /// A tool's argument type does not have an object schema.
    #[error(
        "the arguments of tool `{tool}` (`{type_name}`) are not a JSON object; MCP tool arguments \
         must be an object: use a struct with named fields, or `NoArgs` for a tool without arguments"
    )]
    ArgumentsNotObject {
        /// The tool's name.
        tool: String,
        /// The Rust name of its argument type.
        type_name: &'static str,
    },
}
