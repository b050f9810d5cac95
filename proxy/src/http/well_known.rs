//! Probes, metrics and the OAuth protected resource metadata (RFC 9728).

use pingora::proxy::Session;
use serde_json::json;

use crate::gateway::Gateway;
use crate::reply::Reply;

pub fn health() -> Reply {
    Reply::json(
        200,
        json!({"status": "healthy", "version": env!("CARGO_PKG_VERSION")}).to_string(),
    )
}

/// Ready when the policy is loaded (it is, once the gateway runs), the gateway is not draining
/// and a sandbox answers. `details` adds the sandboxes and the tool count.
pub fn ready(gw: &Gateway, details: bool) -> Reply {
    let status = if gw.is_ready() { "ready" } else { "not_ready" };
    let code = if gw.is_ready() { 200 } else { 503 };
    if !details {
        return Reply::json(code, json!({"status": status}).to_string());
    }
    let sandboxes: Vec<_> = gw
        .upstreams
        .targets()
        .iter()
        .map(|t| json!({"name": t.name, "url": t.url.to_string(), "up": t.is_healthy()}))
        .collect();
    let tools = gw.catalog.snapshot().len();
    // Upstream MCP servers are named with their state, but do not decide readiness: the
    // gateway serves every other tool while one is down.
    let mcp_servers: Vec<_> = gw
        .federation
        .servers()
        .iter()
        .map(|s| json!({"name": s.name, "url": s.url.as_str(), "up": s.is_up(), "circuit": s.breaker_state()}))
        .collect();
    let body = json!({"status": status, "policy": "loaded", "draining": gw.is_draining(),
                      "tools": tools, "sandboxes": sandboxes, "mcp_servers": mcp_servers});
    Reply::json(code, body.to_string())
}

pub fn metrics(gw: &Gateway) -> Reply {
    match &gw.metrics {
        Some(h) => Reply::new(
            200,
            Some("text/plain; version=0.0.4; charset=utf-8"),
            h.render(),
        ),
        None => Reply::error(404, "metrics are not enabled"),
    }
}

/// The gateway's own base URL: configured, or from the request.
fn base_url(gw: &Gateway, session: &Session) -> String {
    if let Some(u) = &gw.config.public_url {
        return u.trim_end_matches('/').to_owned();
    }
    let scheme = if gw.config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let host = session
        .req_header()
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| gw.config.listen.to_string());
    format!("{scheme}://{host}")
}

pub fn resource_metadata_url(gw: &Gateway, session: &Session) -> String {
    format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        base_url(gw, session)
    )
}

pub fn resource_metadata(gw: &Gateway, session: &Session) -> Reply {
    let base = base_url(gw, session);
    let servers: Vec<&str> = gw.config.oidc.iter().map(|o| o.issuer.as_str()).collect();
    let body = json!({
        "resource": format!("{base}/mcp"),
        "authorization_servers": servers,
        "bearer_methods_supported": ["header"],
        "resource_name": "MCP code gateway",
    });
    Reply::json(200, body.to_string())
}
