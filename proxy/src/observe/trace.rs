//! The gateway's trace spans, named and attributed after the OpenTelemetry semantic
//! conventions for MCP, GenAI tools, HTTP and JSON-RPC.
//!
//! One server span per MCP request (child of the client's `traceparent` when it sends one),
//! with children `authenticate`, `rate_limit`, `authorize` and one client span per attempt
//! to reach a sandbox, whose context the sandbox receives as `traceparent`/`tracestate`.
//!
//! Spans exist only while traces are exported ([`mcp_telemetry::exporting`]); otherwise
//! every span here is [`Span::none`] and nothing is allocated or formatted. Credentials and
//! tool arguments are never recorded: attributes come from the [`RequestRecord`], which has
//! no field that could hold either.

use mcp_telemetry::{child_span, propagation, record_error, server_span};
use tracing::Span;
use tracing::field::Empty;

use super::RequestRecord;
use crate::config::SandboxUrl;
use crate::ratelimit::Scope;
use crate::upstream::{Target, UpstreamError};

/// The server span of one request (none when traces are off or the request is not MCP).
pub struct RequestTrace {
    span: Span,
}

impl Default for RequestTrace {
    fn default() -> Self {
        Self::none()
    }
}

impl RequestTrace {
    pub fn none() -> Self {
        Self { span: Span::none() }
    }

    /// Starts the server span of an MCP request, child of the client's trace context in
    /// `headers` if it sent a valid one.
    pub fn start(headers: &http::HeaderMap, version: http::Version, path: &str) -> Self {
        let span = server_span!(
            headers,
            "mcp.request",
            otel.name = "POST /mcp",
            otel.kind = "server",
            otel.status_code = Empty,
            http.request.method = "POST",
            url.path = path,
            network.protocol.name = "http",
            network.protocol.version = protocol_version(version),
            http.response.status_code = Empty,
            client.address = Empty,
            mcp.method.name = Empty,
            mcp.session.id = Empty,
            mcp.protocol.version = Empty,
            jsonrpc.protocol.version = Empty,
            jsonrpc.request.id = Empty,
            gen_ai.operation.name = Empty,
            gen_ai.tool.name = Empty,
            enduser.id = Empty,
            mcp.auth.method = Empty,
            mcp.auth.key_id = Empty,
            mcp.gateway.outcome = Empty,
            mcp.gateway.request_id = Empty,
            error.type = Empty,
        );
        Self { span }
    }

    pub fn is_enabled(&self) -> bool {
        !self.span.is_disabled()
    }

    /// The trace id, to put in the audit line.
    pub fn trace_id(&self) -> Option<String> {
        propagation::trace_id(&self.span)
    }

    /// The `traceresponse` header value telling the client which trace served it.
    pub fn traceresponse(&self) -> Option<String> {
        propagation::traceresponse(&self.span)
    }

    /// JSON-RPC details of the request, once its envelope is parsed.
    pub fn record_rpc(&self, id: &str, protocol_version: Option<&str>) {
        if self.span.is_disabled() {
            return;
        }
        self.span.record("jsonrpc.protocol.version", "2.0");
        // A string id is recorded without its JSON quotes.
        self.span.record("jsonrpc.request.id", id.trim_matches('"'));
        if let Some(v) = protocol_version {
            self.span.record("mcp.protocol.version", v);
        }
    }

    pub fn authenticate(&self) -> Span {
        child_span!(
            &self.span,
            "authenticate",
            mcp.auth.method = Empty,
            error.type = Empty,
            otel.status_code = Empty
        )
    }

    /// Records the outcome of authentication on its span.
    pub fn authenticated(span: &Span, result: Result<&'static str, &'static str>) {
        match result {
            Ok(method) => {
                span.record("mcp.auth.method", method);
            }
            Err(reason) => record_error(span, reason),
        }
    }

    pub fn rate_limit(&self, scope: Scope) -> Span {
        child_span!(
            &self.span,
            "rate_limit",
            mcp.rate_limit.scope = scope.as_str(),
            mcp.rate_limit.outcome = Empty,
            error.type = Empty
        )
    }

    /// Records whether the rate limit let the request through.
    pub fn rate_limited(span: &Span, allowed: bool) {
        let outcome = if allowed { "allowed" } else { "limited" };
        record_decision(
            span,
            "mcp.rate_limit.outcome",
            outcome,
            allowed,
            "rate_limited",
        );
    }

    pub fn authorize(&self, tool: &str) -> Span {
        child_span!(
            &self.span,
            "authorize",
            gen_ai.tool.name = tool,
            mcp.authz.decision = Empty,
            error.type = Empty
        )
    }

    pub fn authorized(span: &Span, allowed: bool) {
        let decision = if allowed { "allowed" } else { "denied" };
        record_decision(span, "mcp.authz.decision", decision, allowed, "forbidden");
    }

    /// The client span of one attempt to run a tool on `sandbox`.
    pub fn upstream(&self, sandbox: &Target, path: &'static str) -> Span {
        if self.span.is_disabled() {
            return Span::none();
        }
        let (transport, address, port) = match &sandbox.url {
            SandboxUrl::Tcp(a) => ("tcp", a.ip().to_string(), Some(a.port())),
            SandboxUrl::Host { host, port } => ("tcp", host.clone(), Some(*port)),
            SandboxUrl::Unix(p) => ("unix", p.display().to_string(), None),
        };
        child_span!(
            &self.span,
            "sandbox call",
            otel.name = "POST /v1/call",
            otel.kind = "client",
            otel.status_code = Empty,
            http.request.method = "POST",
            url.path = path,
            network.transport = transport,
            server.address = address,
            server.port = port,
            peer.service = "mcp-sandbox",
            mcp.sandbox.name = sandbox.name.as_str(),
            http.response.status_code = Empty,
            error.type = Empty
        )
    }

    /// The client span of a call to an upstream MCP server (federation); its context goes to
    /// the upstream as `traceparent`.
    pub fn federated(&self, server: &str, url: &reqwest::Url) -> Span {
        child_span!(
            &self.span,
            "mcp server call",
            otel.name = "tools/call",
            otel.kind = "client",
            otel.status_code = Empty,
            http.request.method = "POST",
            url.path = url.path(),
            network.transport = "tcp",
            server.address = url.host_str().unwrap_or_default(),
            server.port = url.port_or_known_default(),
            peer.service = "mcp-server",
            mcp.server.name = server,
            error.type = Empty
        )
    }

    /// Records how a call to an upstream MCP server ended (`Err` carries the failure's kind).
    pub fn federated_done(span: &Span, result: Result<(), &'static str>) {
        if let Err(kind) = result {
            record_error(span, kind);
        }
    }

    /// Records how an attempt to reach a sandbox ended.
    pub fn upstream_done(span: &Span, result: Result<u16, &UpstreamError>) {
        match result {
            Ok(status) => {
                span.record("http.response.status_code", status);
                if status >= 500 {
                    record_error(span, status);
                }
            }
            Err(e) => record_error(span, upstream_error_type(e)),
        }
    }

    /// Records everything the request learnt, when it ends.
    pub fn finish(&self, rec: &RequestRecord, http_status: u16) {
        let span = &self.span;
        if span.is_disabled() {
            return;
        }
        span.record("http.response.status_code", http_status);
        span.record("mcp.gateway.request_id", rec.request_id.as_str());
        if let Some(ip) = &rec.client_ip {
            span.record("client.address", ip.as_str());
        }
        if let Some(user) = &rec.user {
            span.record("enduser.id", &**user);
        }
        if let Some(auth) = rec.auth {
            span.record("mcp.auth.method", auth);
        }
        if let Some(key) = &rec.key_id {
            span.record("mcp.auth.key_id", &**key);
        }
        if let Some(sid) = &rec.session_id {
            span.record("mcp.session.id", sid.as_str());
        }
        if let Some(method) = &rec.method {
            span.record("mcp.method.name", super::method_label(method));
            if method == "tools/call" {
                span.record("gen_ai.operation.name", "execute_tool");
            }
            match &rec.tool {
                // Only names from the catalog: an unknown one is whatever the client sent.
                Some(tool) if rec.tool_known => {
                    span.record("gen_ai.tool.name", tool.as_str());
                    mcp_telemetry::rename(span, format!("{} {tool}", super::method_label(method)));
                }
                _ => mcp_telemetry::rename(span, super::method_label(method)),
            }
        }
        span.record("mcp.gateway.outcome", rec.status.as_str());
        if let Some(error) = &rec.error {
            record_error(span, error.as_str());
        } else if http_status >= 500 {
            record_error(span, http_status);
        }
    }
}

/// Records a gate's verdict in `field`; a refusal also sets `error.type` (the request goes on
/// to be answered, so the span's status stays unset).
fn record_decision(
    span: &Span,
    field: &'static str,
    verdict: &'static str,
    allowed: bool,
    error_type: &'static str,
) {
    span.record(field, verdict);
    if !allowed {
        span.record("error.type", error_type);
    }
}

fn protocol_version(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

fn upstream_error_type(e: &UpstreamError) -> &'static str {
    match e {
        UpstreamError::Connect { .. } => "connect_error",
        UpstreamError::Timeout { .. } => "timeout",
        UpstreamError::Broken { .. } => "connection_broken",
        UpstreamError::TooLarge { .. } => "response_too_large",
    }
}
