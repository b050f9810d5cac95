//! Calls of federated tools made from code: the internal endpoint a sandbox sends them to
//! ([`mcp_contract::callback`]), so a program in `execute_code` calls an upstream MCP server's
//! tool exactly like a wasm tool while no credential (the caller's or the upstream's) ever
//! enters the sandbox.
//!
//! A request is served only when both hold: `Authorization: Bearer` is one of the configured
//! sandboxes' tokens, and the call-grant header is a grant signed with that same token and not
//! expired (the grant of the running call; it names the caller, their roles and the parent
//! request). The call then takes the steps of a client's `tools/call` of that tool, in the
//! order calls made from code are admitted in the sandbox: the caller's deny-list entry and
//! user rate, authorization with the grant's roles (unknown, forbidden and wasm tools all
//! answer `not_found`), the tool's rate, the argument bounds and schema, the per-caller share
//! of the upstream, the upstream call ([`crate::mcp::call::call_tool`]). Its audit line is an
//! `mcp_request` with `from_code: true` and the parent's request id, its metrics those of any
//! `tools/call`, and its spans join the sandbox's trace (the sandbox sends `traceparent`).
//!
//! The whole path is off (404) when no `mcp_servers` are configured.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use mcp_contract::callback::{CodeCallAnswer, CodeTool, CodeToolList, GRANT_HEADER, LIST_PATH};
use mcp_contract::grant::Grant;
use mcp_gateway_auth::{AuthMethod, Principal};
use pingora::proxy::Session;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::mcp::envelope::Answer;
use crate::observe::trace::RequestTrace;
use crate::observe::{RequestRecord, Status, audit};
use crate::reply::Reply;

/// Longest text of an error message passed back to code.
const MESSAGE_CAP: usize = 4096;

/// The base URL signed into call grants when the gateway federates servers (`None` keeps
/// calls from code to the sandboxes' tools): `code_callback_url`, else the admin listener
/// (plain HTTP, so no certificate need name the address), else `listen`; an unspecified
/// address (`0.0.0.0`) as `127.0.0.1`, which suits a sandbox beside the gateway (sidecar).
pub fn callback_url(gw: &Gateway) -> Option<String> {
    if gw.federation.is_empty() {
        return None;
    }
    let config = &gw.config;
    if let Some(url) = &config.code_callback_url {
        return Some(url.as_str().to_owned());
    }
    let (mut addr, tls) = match config.admin_listen {
        Some(admin) => (admin, false),
        None => (config.listen, config.tls.is_some()),
    };
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let scheme = if tls { "https" } else { "http" };
    Some(format!("{scheme}://{addr}"))
}

/// Serves `POST` [`mcp_contract::callback::CALL_PATH`] and [`LIST_PATH`].
pub async fn serve(gw: &Arc<Gateway>, session: &mut Session, rec: &mut RequestRecord) -> Reply {
    let path = session.req_header().uri.path().to_owned();
    if gw.federation.is_empty() {
        return Reply::error(
            404,
            "not found: this gateway federates no MCP servers, so it takes no calls from code",
        );
    }
    let grant = match authenticate(gw, session) {
        Ok(g) => g,
        Err(why) => {
            tracing::warn!(reason = why, "refused a call from a sandbox");
            rec.fail(Status::Denied, "sandbox_unauthenticated");
            // Its body is left unread: the connection cannot be reused.
            session.set_keepalive(None);
            return Reply::error(401, why);
        }
    };
    let principal = principal_of(&grant);
    rec.user = Some(principal.user.clone());
    rec.principal = Some(principal.id.clone());
    rec.auth = Some("call_grant");
    let limits = &gw.config.limits;
    let read = read_body(session, limits.max_body.as_usize());
    let body = match tokio::time::timeout(limits.body_timeout.get(), read).await {
        Ok(Ok(b)) => b,
        Ok(Err(why)) => return unreadable(session, rec, &why),
        Err(_) => return unreadable(session, rec, "the call did not arrive in time"),
    };
    if path == LIST_PATH {
        return list(gw, &principal);
    }
    let req = session.req_header();
    rec.trace = RequestTrace::start(&req.headers, req.version, &path);
    rec.trace_id = rec.trace.trace_id();
    let answer = call(gw, &principal, &body, rec).await;
    audit(gw, rec, &grant.request_id);
    match serde_json::to_vec(&answer) {
        Ok(bytes) => Reply::json(200, bytes),
        Err(e) => Reply::error(500, &format!("cannot encode the answer: {e}")),
    }
}

fn unreadable(session: &mut Session, rec: &mut RequestRecord, why: &str) -> Reply {
    rec.fail(Status::Error, "body_read_failed");
    session.set_keepalive(None);
    Reply::error(400, why)
}

/// The grant of the running call, if the bearer token is a sandbox's and signed it.
fn authenticate(gw: &Gateway, session: &Session) -> Result<Grant, &'static str> {
    let headers = &session.req_header().headers;
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let token = text("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .ok_or("a call from code needs the sandbox's token as Authorization: Bearer")?;
    let grant = text(GRANT_HEADER).ok_or("a call from code needs the running call's grant")?;
    // Compared as digests in constant time, so the time taken says nothing about the token.
    let presented = Sha256::digest(token.trim().as_bytes());
    let key = gw
        .upstreams
        .targets()
        .iter()
        .filter_map(|t| t.grant_key())
        .find(|k| bool::from(Sha256::digest(k).ct_eq(&presented)))
        .ok_or("the bearer token is not one of the configured sandboxes' tokens")?;
    Grant::verify(grant, key, unix_ms()).map_err(|e| match e {
        mcp_contract::grant::GrantError::Expired { .. } => "the call grant has expired",
        _ => "the call grant was not signed with this sandbox's token",
    })
}

/// The caller as the grant names them (the gateway authenticated them for the parent call).
fn principal_of(grant: &Grant) -> Principal {
    let method = if grant.principal.starts_with("oidc:") {
        AuthMethod::Jwt
    } else {
        AuthMethod::ApiKey
    };
    Principal {
        id: Arc::from(grant.principal.as_str()),
        user: Arc::from(grant.user.as_str()),
        roles: Arc::from(grant.roles.clone()),
        method,
        key_id: None,
        expires_at: None,
    }
}

/// The federated tools `principal`'s roles grant, for the `tools` module's stubs and
/// `search_tools`.
fn list(gw: &Gateway, principal: &Principal) -> Reply {
    let policy = gw.policy.current();
    if policy.is_denied(&principal.id, &principal.user) {
        return Reply::json(200, b"{\"tools\":[]}".to_vec());
    }
    let catalog = gw.catalog.snapshot();
    let tools = catalog
        .iter()
        .filter_map(|route| {
            let server = &route.federated.as_ref()?.server;
            policy
                .check(&principal.roles, &route.name, &route.toolset)
                .is_allowed()
                .then(|| code_tool(&route.name, &server.name, &route.listing))
        })
        .collect();
    match serde_json::to_vec(&CodeToolList { tools }) {
        Ok(bytes) => Reply::json(200, bytes),
        Err(e) => Reply::error(500, &format!("cannot encode the listing: {e}")),
    }
}

fn code_tool(name: &str, server: &str, listing: &RawValue) -> CodeTool {
    let tool: Value = serde_json::from_str(listing.get()).unwrap_or_default();
    let text = |key: &str| tool.get(key).map(Value::to_string);
    CodeTool {
        name: name.to_owned(),
        component: server.to_owned(),
        description: tool["description"].as_str().unwrap_or_default().to_owned(),
        input_schema: text("inputSchema").unwrap_or_else(|| "{\"type\":\"object\"}".into()),
        output_schema: text("outputSchema"),
    }
}

/// The call's steps; every failure becomes an answer for code.
async fn call(
    gw: &Gateway,
    principal: &Principal,
    body: &[u8],
    rec: &mut RequestRecord,
) -> CodeCallAnswer {
    let params = match std::str::from_utf8(body)
        .ok()
        .and_then(|t| serde_json::from_str::<&RawValue>(t).ok())
    {
        Some(p) => p,
        None => {
            rec.fail(Status::Error, "invalid_params");
            return error("invalid_arguments", "the call is not JSON");
        }
    };
    rec.method = Some("tools/call".to_owned());
    let policy = gw.policy.current();
    if policy.is_denied(&principal.id, &principal.user) {
        rec.fail(Status::Denied, "denied");
        return error("forbidden", "your access has been revoked");
    }
    if let Err(limited) = crate::mcp::call::user_rate(gw, &policy, principal, rec).await {
        return failed(limited, rec);
    }
    // Only federated tools come this way: a sandbox runs its own tools itself, and a wasm tool
    // it does not serve is as unknown from code as one that does not exist.
    let name = serde_json::from_str::<mcp_contract::callback::CodeCall<'_>>(params.get())
        .map(|c| c.name.into_owned())
        .unwrap_or_default();
    let federated = gw
        .catalog
        .snapshot()
        .get(&name)
        .is_some_and(|r| r.federated.is_some());
    if !federated {
        rec.tool = Some(crate::mcp::bounded(&name, 128));
        return failed(
            GatewayError::UnknownTool {
                name: crate::mcp::bounded(&name, 128),
                forbidden: false,
            },
            rec,
        );
    }
    match crate::mcp::call::call_tool(gw, principal, Some(params), None, rec).await {
        Ok(answer) => shape(answer, rec),
        Err(e) => failed(e, rec),
    }
}

/// An MCP result as code sees it (see [`CodeCallAnswer::Result`]); `isError` is a failure.
///
/// Read as a view over the raw JSON, never as a tree (an upstream's answer may be as large as
/// its `max_response`): only the content items' `type` and `text` are decoded, and the
/// structured content or the whole result is passed on as the text the upstream wrote.
fn shape(answer: Answer, rec: &mut RequestRecord) -> CodeCallAnswer {
    let bytes = match answer {
        Answer::Value(v) => v.to_string().into_bytes(),
        Answer::Open(mut bytes) => {
            bytes.push(b'}');
            bytes
        }
        Answer::Upstream(raw) => raw.get().as_bytes().to_vec(),
        Answer::Finished(_) => return error("bad_upstream_response", "unexpected answer"),
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return error("bad_upstream_response", "the result is not UTF-8");
    };
    let view: ResultView<'_> = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return error("bad_upstream_response", &e.to_string()),
    };
    if view.is_error {
        let kind = view
            .meta
            .and_then(|m| serde_json::from_str::<GatewayMeta<'_>>(m.get()).ok())
            .and_then(|m| m.error)
            .map_or(Cow::Borrowed("tool_error"), |e| e.kind);
        if rec.error.is_none() {
            rec.fail(Status::Error, "tool_error");
        }
        let texts: Vec<&str> = view
            .content
            .iter()
            .filter_map(|i| i.text.as_deref())
            .collect();
        return error(&kind, &texts.join("\n"));
    }
    if let Some(structured) = view.structured.filter(|r| r.get() != "null") {
        return CodeCallAnswer::Result(structured.get().to_owned());
    }
    match view.content.as_slice() {
        // The text as a JSON string, so code reads it as the string it is.
        [
            ContentView {
                kind,
                text: Some(only),
            },
        ] if kind == "text" => {
            CodeCallAnswer::Result(serde_json::Value::from(only.as_ref()).to_string())
        }
        _ => CodeCallAnswer::Result(text.to_owned()),
    }
}

/// The parts of an MCP `CallToolResult` code needs, borrowed from its raw JSON.
#[derive(Deserialize)]
struct ResultView<'a> {
    #[serde(default)]
    content: Vec<ContentView<'a>>,
    #[serde(borrow, default, rename = "structuredContent")]
    structured: Option<&'a RawValue>,
    #[serde(default, rename = "isError")]
    is_error: bool,
    #[serde(borrow, default, rename = "_meta")]
    meta: Option<&'a RawValue>,
}

/// A content item's type and text; its other fields (an image's data) are skipped unread.
#[derive(Deserialize)]
struct ContentView<'a> {
    #[serde(borrow, rename = "type", default)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

/// The gateway's own failure kind in an `isError` result it made (`_meta`).
#[derive(Deserialize)]
struct GatewayMeta<'a> {
    #[serde(borrow, rename = "io.mcp-gateway/error")]
    error: Option<GatewayErrorMeta<'a>>,
}

#[derive(Deserialize)]
struct GatewayErrorMeta<'a> {
    #[serde(borrow)]
    kind: Cow<'a, str>,
}

/// A refused or failed call, recorded like a client's and answered in code's terms: unknown
/// and forbidden alike as `not_found`.
fn failed(e: GatewayError, rec: &mut RequestRecord) -> CodeCallAnswer {
    let r = e.response();
    e.count();
    if rec.error.is_none() {
        rec.fail(r.status, r.label);
    }
    let kind = match &e {
        GatewayError::UnknownTool { name, .. } => {
            return error(
                "not_found",
                &format!("no tool named '{name}' among the tools you may call; see tools.list()"),
            );
        }
        GatewayError::RateLimited(_) | GatewayError::RateStoreUnavailable => "rate_limited",
        GatewayError::Federated { error, .. } => error.kind(),
        _ => r.label,
    };
    error(kind, &e.to_string())
}

fn error(kind: &str, message: &str) -> CodeCallAnswer {
    CodeCallAnswer::Error {
        kind: kind.to_owned(),
        message: crate::mcp::bounded(message, MESSAGE_CAP),
    }
}

/// The audit line: an `mcp_request` like a client's `tools/call`, marked as made from code
/// with the request id of the call whose code made it; and the tool-call metrics.
fn audit(gw: &Gateway, rec: &RequestRecord, parent_request_id: &str) {
    #[derive(Serialize)]
    struct FromCode<'a> {
        #[serde(flatten)]
        record: audit::AuditRecord<'a>,
        from_code: bool,
        parent_request_id: &'a str,
    }
    let elapsed = rec.started.elapsed();
    if let Some(tool) = &rec.tool {
        let label = if rec.tool_known {
            tool.clone()
        } else {
            "unknown".to_owned()
        };
        metrics::counter!("mcp_tool_calls_total", "tool_name" => label.clone(), "status" => rec.status.as_str())
            .increment(1);
        if let (Some(server), Some(secs)) = (&rec.sandbox, rec.upstream_seconds) {
            metrics::histogram!("mcp_sandbox_duration_seconds", "sandbox" => server.clone(), "tool" => label)
                .record(secs);
        }
    }
    gw.audit.write_event(&FromCode {
        record: audit::AuditRecord {
            kind: "mcp_request",
            timestamp: audit::now_rfc3339(),
            user: rec.user.as_deref(),
            principal: rec.principal.as_deref(),
            auth: rec.auth,
            key_id: None,
            method: rec.method.as_deref(),
            tool: rec.tool.as_deref(),
            status: rec.status,
            error: rec.error.as_deref(),
            duration_ms: (elapsed.as_secs_f64() * 1e6).round() / 1e3,
            client_ip: rec.client_ip.clone(),
            session_id: None,
            trace_id: rec.trace_id.as_deref(),
            request_id: &rec.request_id,
            client_request_id: None,
            arguments_sha256: rec.arguments_sha256.as_deref(),
            arguments: rec.arguments.as_deref(),
            server: None,
        },
        from_code: true,
        parent_request_id,
    });
}

/// The body, refused past `max` bytes.
async fn read_body(session: &mut Session, max: usize) -> Result<Bytes, String> {
    let mut buf = BytesMut::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > max {
                    return Err(format!("the call is larger than {max} bytes"));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(e) => return Err(format!("cannot read the call: {e}")),
        }
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result_of(v: Value) -> CodeCallAnswer {
        shape(Answer::Value(v), &mut RequestRecord::new(String::new()))
    }

    #[test]
    fn results_are_shaped_like_a_wasm_tools() {
        let structured = json!({"content": [{"type": "text", "text": "x"}],
            "structuredContent": {"n": 3}, "isError": false});
        assert_eq!(
            result_of(structured),
            CodeCallAnswer::Result("{\"n\":3}".into())
        );
        let text = json!({"content": [{"type": "text", "text": "hello"}]});
        assert_eq!(result_of(text), CodeCallAnswer::Result("\"hello\"".into()));
        let image =
            json!({"content": [{"type": "image", "data": "AA==", "mimeType": "image/png"}]});
        let CodeCallAnswer::Result(whole) = result_of(image.clone()) else {
            panic!("an image is a result")
        };
        assert_eq!(serde_json::from_str::<Value>(&whole).unwrap(), image);
    }

    #[test]
    fn is_error_is_a_tool_error_with_its_text() {
        let failed = json!({"content": [{"type": "text", "text": "boom"}], "isError": true});
        assert_eq!(
            result_of(failed),
            CodeCallAnswer::Error {
                kind: "tool_error".into(),
                message: "boom".into()
            }
        );
        let invalid = json!({"content": [{"type": "text", "text": "bad"}], "isError": true,
            "_meta": {"io.mcp-gateway/error": {"kind": "invalid_arguments"}}});
        assert!(matches!(result_of(invalid),
            CodeCallAnswer::Error { kind, .. } if kind == "invalid_arguments"));
    }

    #[test]
    fn callback_urls_are_a_scheme_and_an_authority() {
        use crate::config::CallbackUrl;
        let ok = CallbackUrl::try_from("http://10.0.0.7:9090/".to_owned()).unwrap();
        assert_eq!(ok.as_str(), "http://10.0.0.7:9090");
        assert!(CallbackUrl::try_from("https://gw.internal".to_owned()).is_ok());
        for bad in [
            "http://gw/internal",
            "ftp://gw",
            "gw:8080",
            "http://",
            "http://a b",
        ] {
            assert!(CallbackUrl::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn structured_content_and_whole_results_pass_as_the_upstream_wrote_them() {
        let open = br#"{"content":[{"type":"text","text":"x"}], "structuredContent": {"b": 1,  "a": [0,0]},"isError":false"#;
        let mut rec = RequestRecord::new(String::new());
        assert_eq!(
            shape(Answer::Open(open.to_vec()), &mut rec),
            CodeCallAnswer::Result(r#"{"b": 1,  "a": [0,0]}"#.into())
        );
        let two = br#"{"content":[{"type":"text","text":"a"},{"type":"image","data":"AA==","mimeType":"image/png"}] "#;
        let CodeCallAnswer::Result(whole) = shape(Answer::Open(two.to_vec()), &mut rec) else {
            panic!("two items are a result")
        };
        assert_eq!(whole.as_bytes(), [&two[..], b"}"].concat().as_slice());
    }

    #[test]
    fn open_answers_are_closed_and_read() {
        let open = br#"{"content":[{"type":"text","text":"hi"}],"isError":false"#.to_vec();
        let mut rec = RequestRecord::new(String::new());
        assert_eq!(
            shape(Answer::Open(open), &mut rec),
            CodeCallAnswer::Result("\"hi\"".into())
        );
    }
}
