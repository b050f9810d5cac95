//! The gateway's one error type. Every way a request can fail before or instead of producing an
//! MCP result is a variant of [`GatewayError`], carrying its own context; one function,
//! [`GatewayError::response`], decides what the client and the audit log see: HTTP status,
//! JSON-RPC code, message, data, audit status and label, and headers (`Retry-After`,
//! `WWW-Authenticate`, `Connection: close`).
//!
//! Three classes, as the MCP specification (2025-11-25) separates them:
//! - protocol errors, sent as JSON-RPC errors (bad JSON, unknown method, bad params, headers
//!   that disagree with the body, an unsupported protocol version, unknown session);
//! - load shedding, sent as 429/503 with `Retry-After` (rate limits, busy or unreachable
//!   sandboxes);
//! - tool errors are *not* here: they are MCP results with `isError: true` (see
//!   [`crate::mcp`]'s call path), so the model can read them and correct itself.
//!
//! An unknown tool and a tool the caller may not use get the same answer, so hidden tool names
//! cannot be probed; only the audit label tells them apart.

use mcp_gateway_auth::AuthError;
use serde_json::{Value, json};

use crate::federation::FederationError;
use crate::mcp::jsonrpc::{EnvelopeError, code};
use crate::mcp::session::SessionError;
use crate::observe::Status;
use crate::ratelimit::{Limited, Scope};
use crate::upstream::UpstreamError;

/// Why a request got no MCP result.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    // --- the HTTP front
    #[error("this Origin is not allowed to call the gateway (see allowed_origins)")]
    OriginNotAllowed,
    #[error("send MCP messages as Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("the request body is larger than the gateway accepts ({max} bytes)")]
    BodyTooLarge { max: usize },
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    #[error("could not read the request body: {detail}")]
    BodyUnreadable { detail: String },
    /// The credentials were refused. `resource_metadata` is the URL the challenge points to.
    #[error("unauthorized: {error}")]
    Unauthenticated {
        error: AuthError,
        resource_metadata: String,
    },
    /// The credentials could not be checked (the identity provider's keys are unreachable).
    #[error("authentication is temporarily unavailable: {0}")]
    AuthUnavailable(AuthError),
    /// Too many requests of this caller (or of all callers) are being read or served.
    #[error("{what}: retry after {retry_after_secs} s")]
    Overloaded {
        what: &'static str,
        retry_after_secs: u64,
        /// Whether the caller's own share is used up (429), or the gateway's (503).
        own_share: bool,
    },

    // --- JSON-RPC protocol
    /// Not JSON, or JSON that is not one JSON-RPC 2.0 request.
    #[error("{}", .0.message)]
    Envelope(EnvelopeError),
    #[error(
        "unsupported MCP-Protocol-Version {requested:?}; this gateway speaks {}",
        supported_list()
    )]
    UnsupportedVersion { requested: String },
    /// An HTTP routing header (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`) disagrees with
    /// the body or is missing or repeated.
    #[error("{detail}")]
    HeaderMismatch { detail: String },
    #[error("session not found ({0}); send initialize again to start a new session")]
    SessionNotFound(SessionError),
    #[error(
        "method {method:?} is not supported by this gateway (it serves tools/list, tools/call, and its \
         upstream MCP servers' resources/list, resources/templates/list, resources/read, \
         prompts/list, prompts/get; not resources/subscribe)"
    )]
    MethodNotFound { method: String },
    #[error("{detail}")]
    InvalidParams { detail: String },
    /// The tool does not exist, or the caller may not use it: answered alike.
    #[error("Unknown tool: {name:?}")]
    UnknownTool { name: String, forbidden: bool },

    // --- load shedding
    #[error("rate limit exceeded for {}; retry after {} s", scope_text(.0.scope), retry_secs(.0))]
    RateLimited(Limited),
    #[error(
        "rate limits cannot be checked right now (the shared store is unreachable); retry shortly"
    )]
    RateStoreUnavailable,
    /// The sandbox has no free execution slot for this caller.
    #[error("{message}")]
    Busy { message: String },
    #[error("no sandbox serving tool '{tool}' is reachable right now; retry shortly")]
    NoReplica { tool: String },
    #[error("tool '{tool}' could not be completed: {error}. It may or may not have taken effect.")]
    Upstream { tool: String, error: UpstreamError },

    /// The gateway is shutting down: a new request is refused, or a call still running when
    /// the shutdown timeout passed is answered (the tool may or may not have finished).
    #[error("{}", shutting_down_text(tool.as_deref()))]
    ShuttingDown { tool: Option<String> },

    // --- the sandbox answered, but not with a result
    #[error("sandbox '{sandbox}' sent an unreadable answer: {detail}")]
    BadUpstreamAnswer { sandbox: String, detail: String },
    /// The sandbox refused the call request itself (a bug or a version mismatch).
    #[error("the sandbox failed: {message}")]
    SandboxFailed { message: String },

    // --- an upstream MCP server (federation) gave no result
    /// Unreachable, slow, circuit open, misbehaving, or a JSON-RPC error of its own.
    #[error("{}", federated_text(server, tool, error))]
    Federated {
        server: String,
        /// The exposed tool name, or `resource:<uri>` / `prompt:<name>` for a resource read or
        /// a prompt get.
        tool: String,
        error: FederationError,
    },
}

/// What [`GatewayError::response`] decides.
#[derive(Debug)]
pub struct ErrorResponse {
    pub http: u16,
    pub code: i32,
    pub data: Option<Value>,
    pub status: Status,
    /// The audit line's `error` field and metric label: one of [`GatewayError::LABELS`].
    pub label: &'static str,
    pub headers: Vec<(&'static str, String)>,
}

/// JSON-RPC code of a request whose HTTP headers disagree with its body (2026-07-28).
pub const HEADER_MISMATCH: i32 = -32020;
/// JSON-RPC code of a request at a protocol version the server does not speak (2026-07-28).
pub const UNSUPPORTED_PROTOCOL_VERSION: i32 = -32022;

impl GatewayError {
    /// Every audit label an error of the gateway's own can carry; refused credentials carry
    /// [`AuthError::REASONS`]. Together a closed set: dashboards and the operations guide's
    /// queries key on them (see [`Self::all_labels`]).
    pub const LABELS: &'static [&'static str] = &[
        "origin_not_allowed",
        "unsupported_media_type",
        "body_too_large",
        "body_timeout",
        "body_read_failed",
        "overloaded",
        "parse_error",
        "invalid_request",
        "unsupported_protocol_version",
        "header_mismatch",
        "session_not_found",
        "method_not_found",
        "invalid_params",
        "unknown_tool",
        "forbidden",
        "rate_limited",
        "rate_limit_store_unavailable",
        "busy",
        "unavailable",
        "shutting_down",
        "bad_upstream_response",
        "sandbox_failed",
        "upstream_error",
    ];

    /// Every audit label an error can carry: the gateway's own and the credential reasons.
    pub fn all_labels() -> impl Iterator<Item = &'static str> {
        Self::LABELS
            .iter()
            .chain(AuthError::REASONS.iter())
            .copied()
    }

    /// The one mapping from an error to what is sent and recorded.
    pub fn response(&self) -> ErrorResponse {
        use GatewayError as E;
        let (http, code, status, label) = match self {
            E::OriginNotAllowed => (
                403,
                code::INVALID_REQUEST,
                Status::Denied,
                "origin_not_allowed",
            ),
            E::UnsupportedMediaType => (
                415,
                code::INVALID_REQUEST,
                Status::Error,
                "unsupported_media_type",
            ),
            E::BodyTooLarge { .. } => (413, code::INVALID_REQUEST, Status::Error, "body_too_large"),
            E::BodyTimeout => (408, code::INVALID_REQUEST, Status::Error, "body_timeout"),
            E::BodyUnreadable { .. } => (
                400,
                code::INVALID_REQUEST,
                Status::Error,
                "body_read_failed",
            ),
            E::Unauthenticated { error, .. } => {
                (401, code::UNAUTHORIZED, Status::Denied, error.reason())
            }
            E::AuthUnavailable(error) => (503, code::UNAVAILABLE, Status::Denied, error.reason()),
            E::Overloaded { own_share, .. } => (
                if *own_share { 429 } else { 503 },
                code::UNAVAILABLE,
                Status::RateLimited,
                "overloaded",
            ),
            E::Envelope(e) if e.code == code::PARSE_ERROR => {
                (400, e.code, Status::Error, "parse_error")
            }
            E::Envelope(e) => (400, e.code, Status::Error, "invalid_request"),
            E::UnsupportedVersion { .. } => (
                400,
                UNSUPPORTED_PROTOCOL_VERSION,
                Status::Error,
                "unsupported_protocol_version",
            ),
            E::HeaderMismatch { .. } => (400, HEADER_MISMATCH, Status::Error, "header_mismatch"),
            E::SessionNotFound(_) => (
                404,
                code::INVALID_REQUEST,
                Status::Error,
                "session_not_found",
            ),
            E::MethodNotFound { .. } => (
                200,
                code::METHOD_NOT_FOUND,
                Status::Error,
                "method_not_found",
            ),
            E::InvalidParams { .. } => (200, code::INVALID_PARAMS, Status::Error, "invalid_params"),
            E::UnknownTool { forbidden, .. } => (
                200,
                code::INVALID_PARAMS,
                if *forbidden {
                    Status::Denied
                } else {
                    Status::Error
                },
                if *forbidden {
                    "forbidden"
                } else {
                    "unknown_tool"
                },
            ),
            E::RateLimited(_) => (429, code::RATE_LIMITED, Status::RateLimited, "rate_limited"),
            E::RateStoreUnavailable => (
                503,
                code::UNAVAILABLE,
                Status::Error,
                "rate_limit_store_unavailable",
            ),
            E::Busy { .. } => (503, code::UNAVAILABLE, Status::Error, "busy"),
            E::NoReplica { .. } | E::Upstream { .. } => {
                (503, code::UNAVAILABLE, Status::Error, "unavailable")
            }
            E::ShuttingDown { .. } => (503, code::UNAVAILABLE, Status::Error, "shutting_down"),
            E::BadUpstreamAnswer { .. } => (
                502,
                code::INTERNAL_ERROR,
                Status::Error,
                "bad_upstream_response",
            ),
            E::SandboxFailed { .. } => (502, code::INTERNAL_ERROR, Status::Error, "sandbox_failed"),
            E::Federated { error, .. } => match error {
                FederationError::Rpc { code, .. } => (
                    200,
                    i32::try_from(*code).unwrap_or(code::INTERNAL_ERROR),
                    Status::Error,
                    "upstream_error",
                ),
                e if e.is_unavailable() => (503, code::UNAVAILABLE, Status::Error, "unavailable"),
                _ => (
                    502,
                    code::INTERNAL_ERROR,
                    Status::Error,
                    "bad_upstream_response",
                ),
            },
        };
        let mut headers = Vec::new();
        let mut data = None;
        match self {
            E::Unauthenticated {
                error,
                resource_metadata,
            } => headers.push(("www-authenticate", challenge(error, resource_metadata))),
            E::AuthUnavailable(_) => headers.push(("retry-after", "5".into())),
            E::Overloaded {
                retry_after_secs, ..
            } => headers.push(("retry-after", retry_after_secs.to_string())),
            E::BodyTooLarge { .. } | E::BodyTimeout | E::BodyUnreadable { .. } => {
                headers.push(("connection", "close".into()))
            }
            E::UnsupportedVersion { requested } => {
                data = Some(json!({"supported": supported_versions(), "requested": requested}));
            }
            E::RateLimited(limited) => {
                let secs = retry_secs(limited);
                headers.push(("retry-after", secs.to_string()));
                data = Some(json!({"scope": limited.scope.as_str(), "retryAfterSeconds": secs}));
            }
            E::RateStoreUnavailable | E::NoReplica { .. } | E::Upstream { .. } => {
                headers.push(("retry-after", "1".into()))
            }
            E::ShuttingDown { .. } => {
                headers.push(("retry-after", "1".into()));
                headers.push(("connection", "close".into()));
            }
            E::Busy { .. } => {
                headers.push(("retry-after", "1".into()));
                data = Some(json!({"kind": "busy"}));
            }
            E::Federated { server, error, .. } => {
                if error.is_unavailable() {
                    let secs = match error {
                        FederationError::CircuitOpen { retry_in, .. } => {
                            retry_in.as_secs_f64().ceil().max(1.0) as u64
                        }
                        _ => 1,
                    };
                    headers.push(("retry-after", secs.to_string()));
                }
                data = Some(json!({"server": server, "kind": error.kind()}));
            }
            _ => {}
        }
        ErrorResponse {
            http,
            code,
            data,
            status,
            label,
            headers,
        }
    }

    /// Counts the error in the metrics it belongs to (besides the per-request counters every
    /// request updates when it ends).
    pub fn count(&self) {
        match self {
            Self::Unauthenticated { error, .. } | Self::AuthUnavailable(error) => {
                metrics::counter!("mcp_auth_failures_total", "reason" => error.reason())
                    .increment(1);
            }
            Self::UnknownTool {
                forbidden: true, ..
            } => {
                metrics::counter!("mcp_auth_failures_total", "reason" => "forbidden").increment(1);
            }
            Self::RateLimited(l) => {
                metrics::counter!("mcp_rate_limited_total", "scope" => l.scope.as_str())
                    .increment(1);
            }
            Self::BodyTimeout => {
                metrics::counter!("mcp_request_timeouts_total", "phase" => "body").increment(1);
            }
            Self::Overloaded { what, .. } => {
                metrics::counter!("mcp_requests_shed_total", "reason" => *what).increment(1);
            }
            _ => {}
        }
    }
}

impl From<Limited> for GatewayError {
    fn from(l: Limited) -> Self {
        if l.store_unavailable {
            Self::RateStoreUnavailable
        } else {
            Self::RateLimited(l)
        }
    }
}

impl From<EnvelopeError> for GatewayError {
    fn from(e: EnvelopeError) -> Self {
        Self::Envelope(e)
    }
}

/// Every protocol version the gateway answers, newest first (the 2026-07-28 `supported` list).
pub fn supported_versions() -> Vec<&'static str> {
    let mut v = vec![crate::mcp::version::STATELESS];
    v.extend(crate::mcp::version::SUPPORTED);
    v
}

fn supported_list() -> String {
    supported_versions().join(", ")
}

fn shutting_down_text(tool: Option<&str>) -> String {
    match tool {
        None => {
            "this gateway replica is shutting down; retry (another replica will serve it)".into()
        }
        Some(t) => format!(
            "this gateway replica shut down before tool '{t}' finished; it may or may not have \
             taken effect"
        ),
    }
}

fn federated_text(server: &str, tool: &str, error: &FederationError) -> String {
    let tail = match error {
        FederationError::Timeout(_) | FederationError::Broken(_) => {
            " It may or may not have taken effect."
        }
        FederationError::CircuitOpen { .. }
        | FederationError::Connect { .. }
        | FederationError::Saturated { .. } => " Retry later.",
        _ => "",
    };
    // `tool` is a tool's name, or `resource:<uri>` / `prompt:<name>` (no tool name has ':').
    let what = match tool.split_once(':') {
        Some(("resource", uri)) => format!("read resource {uri:?}"),
        Some(("prompt", name)) => format!("get prompt '{name}'"),
        _ => format!("run tool '{tool}'"),
    };
    format!("MCP server '{server}' could not {what}: {error}.{tail}")
}

fn scope_text(scope: Scope) -> &'static str {
    match scope {
        Scope::User => "your requests",
        Scope::UserTool => "your calls of this tool",
    }
}

fn retry_secs(l: &Limited) -> u64 {
    l.retry_after.as_secs_f64().ceil().max(1.0) as u64
}

/// The RFC 6750 challenge: `error` from [`AuthError::bearer_error_code`] (none when no
/// credentials were sent, `invalid_request` for a malformed header, else `invalid_token`).
fn challenge(e: &AuthError, resource_metadata: &str) -> String {
    let mut c = format!("Bearer realm=\"mcp-gateway\", resource_metadata=\"{resource_metadata}\"");
    if let Some(code) = e.bearer_error_code() {
        c.push_str(&format!(
            ", error=\"{code}\", error_description=\"{}\"",
            e.to_string().replace(['"', '\\'], "'")
        ));
    }
    c
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mcp_gateway_auth::Credential;

    use super::*;

    /// One of every variant (and of every auth reason), so the mapping is checked whole.
    pub(crate) fn every_variant() -> Vec<GatewayError> {
        use GatewayError as E;
        let unauth = |error| E::Unauthenticated {
            error,
            resource_metadata: "https://gw.example/.well-known/oauth-protected-resource".into(),
        };
        vec![
            E::OriginNotAllowed,
            E::UnsupportedMediaType,
            E::BodyTooLarge { max: 10 },
            E::BodyTimeout,
            E::BodyUnreadable {
                detail: "reset".into(),
            },
            unauth(AuthError::Missing),
            unauth(AuthError::Malformed("not Bearer".into())),
            unauth(AuthError::Expired(Credential::Token)),
            unauth(AuthError::BadSignature(Credential::ApiKey)),
            unauth(AuthError::WrongAudience),
            unauth(AuthError::WrongIssuer),
            unauth(AuthError::Revoked),
            unauth(AuthError::UnknownKey(Credential::Token)),
            E::AuthUnavailable(AuthError::KeysUnavailable(
                "https://idp/jwks: refused".into(),
            )),
            E::Overloaded {
                what: "your requests in flight",
                retry_after_secs: 1,
                own_share: true,
            },
            E::Envelope(EnvelopeError {
                code: code::PARSE_ERROR,
                message: "not JSON".into(),
            }),
            E::Envelope(EnvelopeError {
                code: code::INVALID_REQUEST,
                message: "no method".into(),
            }),
            E::UnsupportedVersion {
                requested: "2099-01-01".into(),
            },
            E::HeaderMismatch {
                detail: "Mcp-Method header does not match".into(),
            },
            E::SessionNotFound(SessionError::Expired),
            E::MethodNotFound {
                method: "resources/list".into(),
            },
            E::InvalidParams {
                detail: "tools/call needs params".into(),
            },
            E::UnknownTool {
                name: "nope".into(),
                forbidden: false,
            },
            E::UnknownTool {
                name: "secret".into(),
                forbidden: true,
            },
            E::RateLimited(Limited {
                scope: Scope::UserTool,
                retry_after: Duration::from_millis(1500),
                store_unavailable: false,
            }),
            E::RateStoreUnavailable,
            E::Busy {
                message: "no slot".into(),
            },
            E::NoReplica {
                tool: "echo".into(),
            },
            E::Upstream {
                tool: "echo".into(),
                error: UpstreamError::Timeout {
                    sandbox: "s".into(),
                    timeout: Duration::from_secs(1),
                },
            },
            E::BadUpstreamAnswer {
                sandbox: "s".into(),
                detail: "EOF".into(),
            },
            E::SandboxFailed {
                message: "bad request".into(),
            },
            E::ShuttingDown { tool: None },
            E::ShuttingDown {
                tool: Some("execute_code".into()),
            },
            E::Federated {
                server: "gh".into(),
                tool: "gh__search".into(),
                error: FederationError::CircuitOpen {
                    failures: 5,
                    retry_in: Duration::from_millis(2500),
                },
            },
            E::Federated {
                server: "gh".into(),
                tool: "gh__search".into(),
                error: FederationError::Rpc {
                    code: -32602,
                    message: "Unknown tool".into(),
                },
            },
            E::Federated {
                server: "gh".into(),
                tool: "gh__search".into(),
                error: FederationError::TooLarge { max: 10 },
            },
            E::Federated {
                server: "gh".into(),
                tool: "gh__search".into(),
                error: FederationError::CallerShare { max: 32 },
            },
        ]
    }

    #[test]
    fn every_label_is_in_the_closed_set_and_every_label_is_used() {
        let labels: Vec<&str> = every_variant().iter().map(|e| e.response().label).collect();
        let listed: Vec<&str> = GatewayError::all_labels().collect();
        for l in &labels {
            assert!(listed.contains(l), "label {l:?} is not listed");
        }
        for l in &listed {
            assert!(labels.contains(l), "listed label {l:?} is never produced");
        }
        let mut sorted = listed.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), listed.len(), "duplicate labels");
    }

    #[test]
    fn load_shedding_always_says_when_to_retry() {
        for e in every_variant() {
            let r = e.response();
            if matches!(r.http, 429 | 503) {
                assert!(
                    r.headers.iter().any(|(h, _)| *h == "retry-after"),
                    "{e:?} answers {} without Retry-After",
                    r.http
                );
            }
        }
    }

    #[test]
    fn unknown_and_forbidden_tools_are_answered_alike() {
        let unknown = GatewayError::UnknownTool {
            name: "x".into(),
            forbidden: false,
        };
        let forbidden = GatewayError::UnknownTool {
            name: "x".into(),
            forbidden: true,
        };
        let (a, b) = (unknown.response(), forbidden.response());
        assert_eq!((a.http, a.code), (b.http, b.code));
        assert_eq!(unknown.to_string(), forbidden.to_string());
        assert_ne!(a.label, b.label, "the audit line still tells them apart");
    }

    #[test]
    fn malformed_authorization_is_invalid_request_and_missing_has_no_error_code() {
        let header = |error| {
            let e = GatewayError::Unauthenticated {
                error,
                resource_metadata: "https://gw/.well-known/oauth-protected-resource".into(),
            };
            e.response()
                .headers
                .into_iter()
                .find(|(h, _)| *h == "www-authenticate")
                .map(|(_, v)| v)
                .unwrap_or_default()
        };
        assert!(header(AuthError::Malformed("x".into())).contains("error=\"invalid_request\""));
        assert!(header(AuthError::Revoked).contains("error=\"invalid_token\""));
        let missing = header(AuthError::Missing);
        assert!(missing.contains("resource_metadata=") && !missing.contains("error="));
    }

    #[test]
    fn unsupported_version_names_every_supported_version() {
        let r = GatewayError::UnsupportedVersion {
            requested: "2099-01-01".into(),
        }
        .response();
        assert_eq!((r.http, r.code), (400, UNSUPPORTED_PROTOCOL_VERSION));
        let data = r.data.unwrap_or_default();
        assert_eq!(data["requested"], "2099-01-01");
        assert_eq!(data["supported"][0], "2026-07-28");
        assert!(
            data["supported"]
                .as_array()
                .is_some_and(|v| v.iter().any(|x| x == "2025-11-25"))
        );
    }
}
