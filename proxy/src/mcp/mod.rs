//! The MCP protocol layer: one authenticated JSON-RPC message in, one [`Reply`] out.
//!
//! It checks the transport headers (`MCP-Protocol-Version`, `Mcp-Session-Id`, and the
//! stateless revision's `Mcp-Method`/`Mcp-Name`), then serves `initialize`, `ping`,
//! `tools/list`, `tools/call` and `server/discover`. Tool execution failures come back as
//! results with `isError: true`; protocol problems as JSON-RPC errors.

mod call;
pub mod jsonrpc;
pub mod session;
pub mod version;

use mcp_gateway_auth::Principal;
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;

use crate::gateway::Gateway;
use crate::observe::{RequestRecord, Status};
use crate::reply::Reply;
use jsonrpc::{Message, code};

/// The parts of an MCP POST the protocol layer reads.
pub struct Incoming<'a> {
    pub body: &'a [u8],
    pub protocol_version: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub mcp_method: Option<&'a str>,
    pub mcp_name: Option<&'a str>,
    pub traceparent: Option<&'a str>,
    /// Reply as a Server-Sent Events stream (the client does not accept plain JSON).
    pub sse: bool,
}

/// A JSON-RPC error with the HTTP status to send it with.
pub struct RpcError {
    pub http: u16,
    pub code: i32,
    pub message: String,
    pub data: Option<Box<serde_json::Value>>,
    pub headers: Vec<(&'static str, String)>,
}

impl RpcError {
    pub fn new(http: u16, code: i32, message: impl Into<String>) -> Self {
        Self {
            http,
            code,
            message: message.into(),
            data: None,
            headers: Vec::new(),
        }
    }

    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(200, code::INVALID_PARAMS, message)
    }

    pub fn into_reply(self, id: Option<&RawValue>) -> Reply {
        let mut r = Reply::json(
            self.http,
            jsonrpc::error_bytes(id, self.code, &self.message, self.data.as_deref()),
        );
        r.headers = self.headers;
        r
    }
}

/// The principal's key for session binding: auth method and user.
pub fn session_principal(p: &Principal) -> String {
    format!("{}:{}", p.method.as_str(), p.user)
}

pub async fn handle(
    gw: &Gateway,
    principal: &Principal,
    inc: Incoming<'_>,
    rec: &mut RequestRecord,
) -> Reply {
    let reply = dispatch(gw, principal, &inc, rec).await;
    if inc.sse && reply.status == 200 && reply.content_type == Some("application/json") {
        reply.into_sse()
    } else {
        reply
    }
}

async fn dispatch(
    gw: &Gateway,
    principal: &Principal,
    inc: &Incoming<'_>,
    rec: &mut RequestRecord,
) -> Reply {
    let message = match jsonrpc::parse(inc.body) {
        Ok(m) => m,
        Err(e) => {
            rec.fail(
                Status::Error,
                if e.code == code::PARSE_ERROR {
                    "parse_error"
                } else {
                    "invalid_request"
                },
            );
            return RpcError::new(400, e.code, e.message).into_reply(None);
        }
    };
    let req = match message {
        Message::Request(r) => r,
        Message::Notification { method } => {
            rec.method = Some(method.into_owned());
            return Reply::empty(202);
        }
        Message::Response => return Reply::empty(202),
    };
    rec.method = Some(req.method.to_string());
    rec.trace.record_rpc(req.id.get(), inc.protocol_version);
    let id = Some(req.id);
    let result = match check_transport(gw, principal, inc, &req, rec) {
        Err(e) => Err(e),
        Ok(()) => match req.method.as_ref() {
            "initialize" => initialize(gw, principal, req.params).map(|(v, sid)| (v, Some(sid))),
            "ping" => Ok((json!({}), None)),
            "tools/list" => list_tools(gw, principal, req.params).map(|v| (v, None)),
            "tools/call" => call::call_tool(gw, principal, req.params, inc.traceparent, rec)
                .await
                .map(|v| (v, None)),
            "server/discover" => Ok((discover(), None)),
            other => Err(RpcError::new(
                200,
                code::METHOD_NOT_FOUND,
                format!(
                    "method {other:?} is not supported by this gateway (it serves tools: tools/list, tools/call)"
                ),
            )),
        },
    };
    match result {
        Ok((value, session)) => {
            let mut reply = Reply::json(200, jsonrpc::result_bytes(id, &value));
            if let Some(sid) = session {
                reply = reply.header("mcp-session-id", sid);
            }
            reply
        }
        Err(e) => {
            if rec.error.is_none() {
                let status = match e.code {
                    code::FORBIDDEN => Status::Denied,
                    code::RATE_LIMITED => Status::RateLimited,
                    _ => Status::Error,
                };
                rec.fail(status, error_label(e.code));
            }
            e.into_reply(id)
        }
    }
}

fn error_label(code: i32) -> &'static str {
    match code {
        code::INVALID_PARAMS => "invalid_params",
        code::METHOD_NOT_FOUND => "method_not_found",
        code::INVALID_REQUEST => "invalid_request",
        code::FORBIDDEN => "forbidden",
        code::RATE_LIMITED => "rate_limited",
        code::UNAVAILABLE => "unavailable",
        _ => "internal",
    }
}

/// Checks the protocol version, session and stateless-revision headers.
fn check_transport(
    gw: &Gateway,
    principal: &Principal,
    inc: &Incoming<'_>,
    req: &jsonrpc::Request<'_>,
    rec: &mut RequestRecord,
) -> Result<(), RpcError> {
    if let Some(v) = inc.protocol_version
        && !version::is_accepted(v)
    {
        return Err(RpcError::new(
            400,
            code::INVALID_REQUEST,
            format!(
                "unsupported MCP-Protocol-Version {v:?}; this gateway speaks {}",
                version::SUPPORTED.join(", ")
            ),
        ));
    }
    if let Some(header) = inc.mcp_method
        && header != req.method
    {
        return Err(RpcError::new(
            400,
            code::INVALID_REQUEST,
            format!(
                "the Mcp-Method header {header:?} does not match the body's method {:?}",
                req.method
            ),
        ));
    }
    if let Some(header) = inc.mcp_name {
        let name = req
            .params
            .and_then(|p| serde_json::from_str::<NameOnly<'_>>(p.get()).ok())
            .and_then(|p| p.name);
        if name.as_deref() != Some(header) {
            return Err(RpcError::new(
                400,
                code::INVALID_REQUEST,
                format!("the Mcp-Name header {header:?} does not match the body's params.name"),
            ));
        }
    }
    if req.method == "initialize" {
        return Ok(());
    }
    if let Some(sid) = inc.session_id {
        rec.session_id = Some(sid.to_owned());
        let now = unix_now();
        if let Err(e) = gw.sessions.open(sid, &session_principal(principal), now) {
            return Err(RpcError::new(
                404,
                code::INVALID_REQUEST,
                format!("session not found ({e}); send initialize again to start a new session"),
            ));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct NameOnly<'a> {
    #[serde(borrow, default)]
    name: Option<std::borrow::Cow<'a, str>>,
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn server_info() -> serde_json::Value {
    json!({"name": "mcp-gateway", "title": "MCP code gateway", "version": env!("CARGO_PKG_VERSION")})
}

const INSTRUCTIONS: &str = "Tools run in WebAssembly sandboxes with hard limits. Prefer execute_code for \
multi-step work: it can call the other tools from inside the sandbox and return only a summary.";

#[derive(Deserialize)]
struct InitializeParams {
    #[serde(rename = "protocolVersion")]
    protocol_version: String,
}

fn initialize(
    gw: &Gateway,
    principal: &Principal,
    params: Option<&RawValue>,
) -> Result<(serde_json::Value, String), RpcError> {
    let params: InitializeParams = params
        .and_then(|p| serde_json::from_str(p.get()).ok())
        .ok_or_else(|| {
            RpcError::invalid_params("initialize needs params with a protocolVersion")
        })?;
    let version = version::negotiate(&params.protocol_version);
    let session = gw
        .sessions
        .issue(&session_principal(principal), version, unix_now());
    let result = json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}},
        "serverInfo": server_info(),
        "instructions": INSTRUCTIONS,
    });
    Ok((result, session))
}

fn discover() -> serde_json::Value {
    let mut versions: Vec<&str> = vec![version::STATELESS];
    versions.extend(version::SUPPORTED);
    json!({
        "supportedVersions": versions,
        "capabilities": {"tools": {"listChanged": false}},
        "serverInfo": server_info(),
        "instructions": INSTRUCTIONS,
    })
}

#[derive(Deserialize, Default)]
struct ListParams {
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(serde::Serialize)]
struct ToolPage<'a> {
    tools: Vec<&'a RawValue>,
    #[serde(rename = "nextCursor", skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// `tools/list`: the tools the caller may call and that are listed, in name order, paginated
/// with an opaque cursor (the last name served), which stays valid across catalog changes.
fn list_tools(
    gw: &Gateway,
    principal: &Principal,
    params: Option<&RawValue>,
) -> Result<serde_json::Value, RpcError> {
    let params: ListParams = match params {
        Some(p) => serde_json::from_str(p.get())
            .map_err(|e| RpcError::invalid_params(format!("invalid tools/list params: {e}")))?,
        None => ListParams::default(),
    };
    let after = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let policy = gw.policy.current();
    let catalog = gw.catalog.snapshot();
    let page_size = gw.config.catalog.page_size;
    let mut tools = Vec::with_capacity(page_size.min(catalog.len()));
    let mut next_cursor = None;
    for route in catalog.iter() {
        if after.as_deref().is_some_and(|a| route.name.as_str() <= a) {
            continue;
        }
        if !policy
            .check(&principal.roles, &route.name, &route.toolset)
            .is_allowed()
            || !policy.is_listed(&route.name, &route.toolset)
        {
            continue;
        }
        if tools.len() == page_size {
            next_cursor = tools
                .last()
                .map(|_: &&RawValue| encode_cursor(last_name(&tools)));
            break;
        }
        tools.push(&*route.listing);
    }
    serde_json::to_value(ToolPage { tools, next_cursor })
        .map_err(|e| RpcError::new(500, code::INTERNAL_ERROR, e.to_string()))
}

fn last_name(tools: &[&RawValue]) -> String {
    tools
        .last()
        .and_then(|t| serde_json::from_str::<NameOnly<'_>>(t.get()).ok())
        .and_then(|n| n.name.map(|c| c.into_owned()))
        .unwrap_or_default()
}

fn encode_cursor(after: String) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("after:{after}"))
}

fn decode_cursor(cursor: &str) -> Result<String, RpcError> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("after:").map(str::to_owned))
        .ok_or_else(|| {
            RpcError::invalid_params(
                "invalid cursor: pass back the nextCursor of a previous tools/list",
            )
        })
}
