//! The HTTP front on pingora. The `ProxyHttp` phases stay thin: `request_filter` routes the
//! request and writes the reply (the gateway answers every request itself; tool calls reach the
//! sandboxes through [`crate::upstream`]'s pooled connections), `logging` records metrics and
//! the audit line.
//!
//! MCP requests flow: origin check -> size check -> authentication -> per-user rate limit ->
//! body -> [`crate::mcp::handle`].

mod front;
mod well_known;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use mcp_gateway_auth::AuthError;
use pingora::proxy::Session;
use tracing::Instrument as _;

pub use front::HttpFront;

use crate::gateway::Gateway;
use crate::mcp::{self, Incoming, RpcError, jsonrpc};
use crate::observe::trace::RequestTrace;
use crate::observe::{RequestRecord, Status};
use crate::ratelimit::{Limited, Scope};
use crate::reply::Reply;

/// Headers a browser client may send, for CORS preflight.
const CORS_ALLOW_HEADERS: &str = "authorization, content-type, accept, mcp-protocol-version, mcp-session-id, last-event-id, mcp-method, mcp-name";
const CORS_EXPOSE_HEADERS: &str =
    "mcp-session-id, www-authenticate, retry-after, x-request-id, traceresponse";

/// Routes one request to its handler.
pub async fn route(gw: &Arc<Gateway>, session: &mut Session, rec: &mut RequestRecord) -> Reply {
    let method = session.req_header().method.clone();
    let path = session.req_header().uri.path().to_owned();
    rec.http_method = method_label(&method);
    rec.client_ip = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip().to_string());
    let origin = header(session, "origin").map(str::to_owned);
    let allowed_origin = origin
        .as_deref()
        .filter(|o| gw.config.allowed_origins.iter().any(|a| a == o));
    // With an admin listener, requests are told apart by the port they arrived on.
    let admin_port = gw.config.admin_listen.map(|a| a.port());
    let on_admin = admin_port.is_some()
        && session
            .server_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.port())
            == admin_port;
    let reply = match (method.as_str(), path.as_str()) {
        ("GET", "/health") => well_known::health(),
        ("GET", "/ready") => well_known::ready(gw),
        ("GET", "/metrics") if on_admin || admin_port.is_none() => well_known::metrics(gw),
        ("GET", "/metrics") => Reply::error(404, "metrics are served on the admin listener"),
        _ if on_admin => Reply::error(404, "the admin listener serves /health, /ready and /metrics only"),
        ("GET", "/.well-known/oauth-protected-resource" | "/.well-known/oauth-protected-resource/mcp") => {
            well_known::resource_metadata(gw, session)
        }
        ("POST", "/mcp" | "/") => {
            let req = session.req_header();
            rec.trace = RequestTrace::start(&req.headers, req.version, &path);
            rec.trace_id = rec.trace.trace_id();
            rec.mcp = true;
            if origin.is_some() && allowed_origin.is_none() {
                rec.fail(Status::Denied, "origin_not_allowed");
                Reply::error(403, "this Origin is not allowed to call the gateway (see allowed_origins)")
            } else {
                mcp_post(gw, session, rec).await
            }
        }
        ("OPTIONS", "/mcp" | "/") => match allowed_origin {
            Some(_) => Reply::empty(204)
                .header("access-control-allow-methods", "POST, GET, DELETE, OPTIONS")
                .header("access-control-allow-headers", CORS_ALLOW_HEADERS)
                .header("access-control-max-age", "600"),
            None => Reply::error(403, "this Origin is not allowed to call the gateway (see allowed_origins)"),
        },
        (_, "/mcp") => Reply::error(405, "use POST for MCP messages; this gateway offers no SSE stream on GET and keeps no session state to DELETE")
            .header("allow", "POST, OPTIONS"),
        _ => Reply::error(404, "not found: MCP is served at POST /mcp"),
    };
    let reply = match rec.trace.traceresponse() {
        Some(v) => reply.header("traceresponse", v),
        None => reply,
    };
    match allowed_origin {
        Some(o) => reply
            .header("access-control-allow-origin", o)
            .header("access-control-expose-headers", CORS_EXPOSE_HEADERS)
            .header("vary", "origin"),
        None => reply,
    }
}

async fn mcp_post(gw: &Arc<Gateway>, session: &mut Session, rec: &mut RequestRecord) -> Reply {
    let max_body = gw.config.limits.max_body.as_usize();
    let declared: Option<usize> =
        header(session, "content-length").and_then(|v| v.trim().parse().ok());
    if declared.is_some_and(|n| n > max_body) {
        return too_large(session, rec, max_body);
    }
    if let Some(ct) = header(session, "content-type")
        && !ct
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
    {
        rec.fail(Status::Error, "unsupported_media_type");
        return RpcError::new(
            415,
            jsonrpc::code::INVALID_REQUEST,
            "send MCP messages as Content-Type: application/json",
        )
        .into_reply(None);
    }

    let authorization = header(session, "authorization").map(str::to_owned);
    let authenticated = {
        let span = rec.trace.authenticate();
        let result = gw
            .auth
            .authenticate(authorization.as_deref())
            .instrument(span.clone())
            .await;
        RequestTrace::authenticated(
            &span,
            result
                .as_ref()
                .map(|p| p.method.as_str())
                .map_err(|e| e.reason()),
        );
        result
    };
    let principal = match authenticated {
        Ok(p) => p,
        Err(e) => return unauthorized(gw, session, rec, &e),
    };
    rec.user = Some(principal.user.clone());
    rec.auth = Some(principal.method.as_str());
    rec.key_id = principal.key_id.clone();

    if let Some(rate) = gw.policy.current().user_rate(&principal.user) {
        let span = rec.trace.rate_limit(Scope::User);
        let checked = gw
            .limiter
            .check(Scope::User, &principal.user, "", rate)
            .instrument(span.clone())
            .await;
        RequestTrace::rate_limited(&span, checked.is_ok());
        drop(span);
        if let Err(limited) = checked {
            return rate_limited(limited, rec).into_reply(None);
        }
    }

    let limits = &gw.config.limits;
    // A slow sender gets a bounded time for the whole body, and for each read of it.
    session.set_read_timeout(Some(limits.body_read_timeout.get()));
    let body =
        match tokio::time::timeout(limits.body_timeout.get(), read_body(session, max_body)).await {
            Ok(Ok(Some(b))) => b,
            Ok(Ok(None)) => return too_large(session, rec, max_body),
            Ok(Err(e)) if e.etype() == &pingora::ErrorType::ReadTimedout => {
                return body_timeout(session, rec);
            }
            Err(_) => return body_timeout(session, rec),
            Ok(Err(e)) => {
                session.set_keepalive(None);
                rec.fail(Status::Error, "body_read_failed");
                return Reply::error(400, &format!("could not read the request body: {e}"));
            }
        };
    let accept = header(session, "accept").unwrap_or("").to_ascii_lowercase();
    let sse = accept.contains("text/event-stream")
        && !accept.contains("application/json")
        && !accept.contains("*/*");
    let traceparent = header(session, "traceparent").filter(|t| is_traceparent(t));
    let incoming = Incoming {
        body: &body,
        protocol_version: header(session, "mcp-protocol-version"),
        session_id: header(session, "mcp-session-id"),
        mcp_method: header(session, "mcp-method"),
        mcp_name: header(session, "mcp-name"),
        traceparent,
        sse,
    };
    if rec.trace_id.is_none() {
        // Traces are not exported here: the client's trace id still ties the audit line to
        // the rest of its trace.
        rec.trace_id = traceparent
            .and_then(|t| t.split('-').nth(1))
            .map(str::to_owned);
    }
    mcp::handle(gw, &principal, incoming, rec).await
}

fn too_large(session: &mut Session, rec: &mut RequestRecord, max: usize) -> Reply {
    // The rest of the body is not read, so the connection cannot be reused.
    session.set_keepalive(None);
    rec.fail(Status::Error, "body_too_large");
    RpcError::new(
        413,
        jsonrpc::code::INVALID_REQUEST,
        format!("the request body is larger than the gateway accepts ({max} bytes)"),
    )
    .into_reply(None)
}

fn body_timeout(session: &mut Session, rec: &mut RequestRecord) -> Reply {
    session.set_keepalive(None);
    rec.fail(Status::Error, "body_timeout");
    metrics::counter!("mcp_request_timeouts_total", "phase" => "body").increment(1);
    RpcError::new(
        408,
        jsonrpc::code::INVALID_REQUEST,
        "the request body did not arrive in time",
    )
    .into_reply(None)
    .header("connection", "close")
}

/// Reads the whole body, or `None` as soon as it passes `max` bytes.
async fn read_body(session: &mut Session, max: usize) -> pingora::Result<Option<Bytes>> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = session.read_request_body().await? {
        if buf.len() + chunk.len() > max {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Some(buf.freeze()))
}

fn unauthorized(gw: &Gateway, session: &Session, rec: &mut RequestRecord, e: &AuthError) -> Reply {
    let reason = e.reason();
    metrics::counter!("mcp_auth_failures_total", "reason" => reason).increment(1);
    rec.fail(Status::Denied, reason);
    if e.is_transient() {
        // The credential could not be checked (the identity provider's keys are unreachable):
        // not the client's fault, so not a 401 that would make it discard the token.
        tracing::warn!(detail = %e.log_detail(), "authentication unavailable");
        return RpcError::new(
            503,
            jsonrpc::code::UNAVAILABLE,
            format!("authentication is temporarily unavailable: {e}"),
        )
        .into_reply(None)
        .header("retry-after", "5");
    }
    let metadata = well_known::resource_metadata_url(gw, session);
    let challenge = match e {
        AuthError::Missing => {
            format!("Bearer realm=\"mcp-gateway\", resource_metadata=\"{metadata}\"")
        }
        _ => format!(
            "Bearer realm=\"mcp-gateway\", resource_metadata=\"{metadata}\", error=\"invalid_token\", error_description=\"{}\"",
            e.to_string().replace('"', "'")
        ),
    };
    RpcError::new(
        401,
        jsonrpc::code::UNAUTHORIZED,
        format!("unauthorized: {e}"),
    )
    .into_reply(None)
    .header("www-authenticate", challenge)
}

/// The JSON-RPC error (and audit/metric bookkeeping) for a request over a rate limit.
pub fn rate_limited(limited: Limited, rec: &mut RequestRecord) -> RpcError {
    if limited.store_unavailable {
        rec.fail(Status::Error, "rate_limit_store_unavailable");
        let mut e = RpcError::new(
            503,
            jsonrpc::code::UNAVAILABLE,
            "rate limits cannot be checked right now (the shared store is unreachable); retry shortly",
        );
        e.headers.push(("retry-after", "1".into()));
        return e;
    }
    metrics::counter!("mcp_rate_limited_total", "scope" => limited.scope.as_str()).increment(1);
    rec.fail(Status::RateLimited, "rate_limited");
    let secs = limited.retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let what = match limited.scope {
        Scope::User => "your requests",
        Scope::UserTool => "your calls of this tool",
    };
    let mut e = RpcError::new(
        429,
        jsonrpc::code::RATE_LIMITED,
        format!("rate limit exceeded for {what}; retry after {secs} s"),
    );
    e.data = Some(Box::new(
        serde_json::json!({"scope": limited.scope.as_str(), "retryAfterSeconds": secs}),
    ));
    e.headers.push(("retry-after", secs.to_string()));
    e
}

/// A header as text, if present and valid UTF-8.
fn header<'a>(session: &'a Session, name: &str) -> Option<&'a str> {
    session
        .req_header()
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
}

/// W3C trace context: `00-<32 hex>-<16 hex>-<2 hex>`.
fn is_traceparent(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    parts.len() == 4
        && [2, 32, 16, 2]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn method_label(m: &http::Method) -> &'static str {
    match *m {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::DELETE => "DELETE",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::HEAD => "HEAD",
        http::Method::PUT => "PUT",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::is_traceparent;

    #[test]
    fn traceparent_shape_is_checked() {
        assert!(is_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        assert!(!is_traceparent("00-xyz-00f067aa0ba902b7-01"));
        assert!(!is_traceparent("garbage"));
    }
}
