//! The HTTP front on pingora. The `ProxyHttp` phases stay thin: `request_filter` routes the
//! request and writes the reply (the gateway answers every request itself; tool calls reach the
//! sandboxes through [`crate::upstream`]'s pooled connections), `logging` records metrics and
//! the audit line.
//!
//! Every connection is first counted against the connection caps and given a deadline for
//! its request headers ([`connections`]). MCP requests flow: origin check -> size check ->
//! authentication -> per-user rate limit -> the caller's budget -> body -> a turn for a
//! CPU-heavy (large) request ([`fair`]) -> [`crate::mcp::handle`].

mod admission;
pub mod connections;
pub mod fair;
mod front;
mod stream;
mod well_known;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use mcp_gateway_auth::AuthError;
use pingora::proxy::Session;
use tracing::Instrument as _;

pub use admission::{Admission, Admitted};
pub use connections::{ConnectionLimits, Limited};
pub use front::HttpFront;

use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::mcp::{self, Incoming};
use crate::observe::RequestRecord;
use crate::observe::trace::RequestTrace;
use crate::reply::Reply;

/// Headers a browser client may send, for CORS preflight.
const CORS_ALLOW_HEADERS: &str = "authorization, content-type, accept, mcp-protocol-version, mcp-session-id, last-event-id, mcp-method, mcp-name";
const CORS_EXPOSE_HEADERS: &str =
    "mcp-session-id, www-authenticate, retry-after, x-request-id, traceresponse";

/// The gateway's HTTP service for pingora: [`HttpFront`] under the connection caps and
/// header deadline of `server.connections`. Listeners are added by the caller.
pub fn service(
    conf: &Arc<pingora::server::configuration::ServerConf>,
    gw: Arc<Gateway>,
) -> pingora::services::listening::Service<Limited<pingora::proxy::HttpProxy<HttpFront>>> {
    let server = &gw.config.server;
    let (limits, keepalive) = (server.connections, server.keepalive_timeout.get());
    let proxy = pingora::proxy::http_proxy(conf, HttpFront::new(gw));
    pingora::services::listening::Service::new(
        "mcp-gateway".to_owned(),
        Limited::new(proxy, limits, keepalive),
    )
}

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
        // With an admin listener, the public port says only ready or not; the details (sandbox
        // names and addresses, tool counts) are for operators.
        ("GET", "/ready") => well_known::ready(gw, on_admin || admin_port.is_none()),
        ("GET", "/metrics") if on_admin || admin_port.is_none() => well_known::metrics(gw),
        ("GET", "/metrics") => Reply::error(404, "metrics are served on the admin listener"),
        // Calls of federated tools made from code, sent back by a sandbox (its token + the
        // grant), on either listener: the admin one is where sandboxes reach a TLS gateway.
        ("POST", mcp_contract::callback::CALL_PATH | mcp_contract::callback::LIST_PATH) => {
            // Boxed: a rare path, kept out of the size of every request's future.
            Box::pin(crate::federation::internal::serve(gw, session, rec)).await
        }
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
                mcp::error_reply(&GatewayError::OriginNotAllowed, None, rec)
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
    decorate(reply, rec, allowed_origin)
}

/// The headers every answer to a request carries: its trace, and CORS for an allowed origin.
fn decorate(reply: Reply, rec: &RequestRecord, allowed_origin: Option<&str>) -> Reply {
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
        return fail(session, rec, GatewayError::BodyTooLarge { max: max_body });
    }
    if let Some(ct) = header(session, "content-type")
        && !ct
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
    {
        return fail(session, rec, GatewayError::UnsupportedMediaType);
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
        Err(e) => return unauthorized(gw, session, rec, e),
    };
    rec.user = Some(principal.user.clone());
    rec.principal = Some(principal.id.clone());
    if gw
        .policy
        .current()
        .is_denied(&principal.id, &principal.user)
    {
        // Offboarded: the credential is valid but no longer honoured (policy `deny:`).
        return unauthorized(gw, session, rec, AuthError::Denied);
    }
    rec.auth = Some(principal.method.as_str());
    rec.key_id = principal.key_id.clone();

    let policy = gw.policy.current();
    if let Err(limited) = mcp::call::user_rate(gw, &policy, &principal, rec).await {
        return fail(session, rec, limited);
    }
    drop(policy);

    if gw.is_closing() {
        return fail(session, rec, GatewayError::ShuttingDown { tool: None });
    }
    // The caller's share of requests in flight and bytes buffered, held until the reply: the
    // declared length up front, or, for a body of unknown length, what has arrived so far.
    let mut admitted = match gw.admission.admit(&principal.id, declared.unwrap_or(0)) {
        Ok(a) => a,
        Err(e) => return fail(session, rec, e),
    };

    let limits = &gw.config.limits;
    // A slow sender gets a bounded time for the whole body, and for each read of it.
    session.set_read_timeout(Some(limits.body_read_timeout.get()));
    let read = read_body(session, max_body, &mut admitted);
    let body = match tokio::time::timeout(limits.body_timeout.get(), read).await {
        Ok(Ok(Ok(b))) => b,
        Ok(Ok(Err(e))) => return fail(session, rec, e),
        Ok(Err(e)) if e.etype() == &pingora::ErrorType::ReadTimedout => {
            return fail(session, rec, GatewayError::BodyTimeout);
        }
        Err(_) => return fail(session, rec, GatewayError::BodyTimeout),
        Ok(Err(e)) => {
            let detail = e.to_string();
            return fail(session, rec, GatewayError::BodyUnreadable { detail });
        }
    };
    // A large request is CPU-heavy from here on (parsing, checking and copying its arguments):
    // it runs with a turn, shared fairly between callers, for at most a slice.
    let wait = gw.upstreams.request_timeout();
    let turn = match gw.admission.turn(&principal.id, body.len(), wait).await {
        Ok(t) => t,
        Err(e) => return fail(session, rec, e),
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
        duplicated_header: duplicated_routing_header(session),
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
    // The call path gives the turn back as soon as the request leaves for its tool.
    let released = turn.as_ref().map(|_| {
        let (release, released) = fair::Release::pair();
        rec.turn_release = Some(release);
        released
    });
    if let Some(token) = stream::wanted(&accept, &body)
        && let Ok(head) = stream::response_head(gw, session, rec)
    {
        // Progress may be streamed: the call runs while the session writes. Boxed, so the
        // plain path's future does not grow by the streaming one.
        let copied = stream::CopiedHeaders::of(&incoming);
        return Box::pin(async move {
            let reply = {
                let handled =
                    std::pin::pin!(mcp::handle(gw, &principal, copied.incoming(&body), rec));
                let handled = fair::run(turn, fair::SLICE, released, handled);
                stream::serve(gw, session, token, head, handled).await
            };
            stream::recorded(reply, rec)
        })
        .await;
    }
    // Pinned in place, held once in this future (allocated and copied once per request).
    fair::run(
        turn,
        fair::SLICE,
        released,
        std::pin::pin!(mcp::handle(gw, &principal, incoming, rec)),
    )
    .await
}

/// Answers an error before the MCP layer; a connection whose body was not read to the end
/// cannot be reused.
fn fail(session: &mut Session, rec: &mut RequestRecord, e: GatewayError) -> Reply {
    if matches!(
        e,
        GatewayError::BodyTooLarge { .. }
            | GatewayError::BodyTimeout
            | GatewayError::BodyUnreadable { .. }
            | GatewayError::Overloaded { .. }
            | GatewayError::ShuttingDown { .. }
    ) {
        session.set_keepalive(None);
    }
    mcp::error_reply(&e, None, rec)
}

/// Reads the whole body, refusing it as soon as it passes `max` bytes or the bytes buffered
/// would pass the caller's (or the gateway's) budget, which grows with what arrives when the
/// length was not declared.
async fn read_body(
    session: &mut Session,
    max: usize,
    admitted: &mut Admitted<'_>,
) -> pingora::Result<Result<Bytes, GatewayError>> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = session.read_request_body().await? {
        if buf.len() + chunk.len() > max {
            return Ok(Err(GatewayError::BodyTooLarge { max }));
        }
        if let Err(e) = admitted.hold(buf.len() + chunk.len()) {
            return Ok(Err(e));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Ok(buf.freeze()))
}

fn unauthorized(
    gw: &Gateway,
    session: &mut Session,
    rec: &mut RequestRecord,
    e: AuthError,
) -> Reply {
    let err = if e.is_transient() {
        // The credential could not be checked (the identity provider's keys are unreachable):
        // not the client's fault, so not a 401 that would make it discard the token.
        tracing::warn!(detail = %e.log_detail(), "authentication unavailable");
        GatewayError::AuthUnavailable(e)
    } else {
        GatewayError::Unauthenticated {
            error: e,
            resource_metadata: well_known::resource_metadata_url(gw, session),
        }
    };
    fail(session, rec, err)
}

/// The first routing header sent more than once (first-copy and last-copy readers would
/// disagree about it).
fn duplicated_routing_header(session: &Session) -> Option<&'static str> {
    let headers = &session.req_header().headers;
    ["mcp-protocol-version", "mcp-method", "mcp-name"]
        .into_iter()
        .find(|h| headers.get_all(*h).iter().count() > 1)
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
