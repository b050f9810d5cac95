//! The MCP protocol layer: one authenticated JSON-RPC message in, one [`Reply`] out.
//!
//! A request is served in named steps: parse the message, tell its protocol era from the
//! `MCP-Protocol-Version` header, check the transport rules of that era ([`transport`]), run
//! the method (`initialize`, `ping`, `server/discover`, `tools/list` in [`list`], `tools/call`
//! in [`call`], the upstream servers' resources and prompts in [`federated`]), and frame the
//! answer with that era's envelope ([`envelope`]). Every failure is a [`GatewayError`], mapped
//! in one place; tool execution failures are results with `isError: true`.

pub(crate) mod call;
pub mod envelope;
mod federated;
pub mod jsonrpc;
mod list;
pub mod session;
#[cfg(test)]
mod tests;
mod transport;
pub mod version;

use mcp_gateway_auth::Principal;
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;

use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::observe::RequestRecord;
use crate::reply::Reply;
use envelope::{Answer, Cache};
use jsonrpc::Message;
use version::Era;

/// The parts of an MCP POST the protocol layer reads.
pub struct Incoming<'a> {
    pub body: &'a [u8],
    pub protocol_version: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub mcp_method: Option<&'a str>,
    pub mcp_name: Option<&'a str>,
    /// A routing header (`mcp-protocol-version`, `mcp-method`, `mcp-name`) sent more than once.
    pub duplicated_header: Option<&'static str>,
    pub traceparent: Option<&'a str>,
    /// Reply as a Server-Sent Events stream (the client does not accept plain JSON).
    pub sse: bool,
}

/// A successful method's answer: the result, its cache hints, and a new session id.
struct Served {
    answer: Answer,
    cache: Option<Cache>,
    session: Option<String>,
}

impl Served {
    fn value(v: serde_json::Value) -> Self {
        Self {
            answer: Answer::Value(v),
            cache: None,
            session: None,
        }
    }
}

/// Writes a [`GatewayError`] as a JSON-RPC error reply and records it on the request.
pub fn error_reply(e: &GatewayError, id: Option<&RawValue>, rec: &mut RequestRecord) -> Reply {
    let r = e.response();
    e.count();
    if rec.error.is_none() {
        rec.fail(r.status, r.label);
    }
    let mut reply = Reply::json(
        r.http,
        jsonrpc::error_bytes(id, r.code, &e.to_string(), r.data.as_ref()),
    );
    reply.headers = r.headers;
    reply
}

/// A client-chosen string as it may enter logs, audit lines and error messages: at most `max`
/// characters, control characters replaced. JSON encoding escapes the rest.
pub(crate) fn bounded(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Longest method name recorded as given (real ones are far shorter).
const MAX_RECORDED_METHOD: usize = 64;

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
    let req = match jsonrpc::parse(inc.body) {
        Ok(Message::Request(r)) => r,
        Ok(Message::Notification { method }) => {
            rec.method = Some(bounded(&method, MAX_RECORDED_METHOD));
            return Reply::empty(202);
        }
        Ok(Message::Response) => return Reply::empty(202),
        Err(e) => return error_reply(&e.into(), None, rec),
    };
    rec.method = Some(bounded(&req.method, MAX_RECORDED_METHOD));
    rec.trace.record_rpc(req.id.get(), inc.protocol_version);
    let era = Era::of(inc.protocol_version);
    let served = match transport::check(gw, principal, inc, &req, era, rec) {
        Ok(()) => serve(gw, principal, inc, &req, rec).await,
        Err(e) => Err(e),
    };
    match served {
        Ok(s) => {
            let revision = version::Revision::of(inc.protocol_version);
            let result = envelope::finish_for(s.answer, era, revision, s.cache);
            let mut reply = Reply::json(200, jsonrpc::result_raw_bytes(Some(req.id), &result));
            if let Some(sid) = s.session {
                reply = reply.header("mcp-session-id", sid);
            }
            reply
        }
        Err(e) => error_reply(&e, Some(req.id), rec),
    }
}

/// Runs the request's method.
async fn serve(
    gw: &Gateway,
    principal: &Principal,
    inc: &Incoming<'_>,
    req: &jsonrpc::Request<'_>,
    rec: &mut RequestRecord,
) -> Result<Served, GatewayError> {
    match req.method.as_ref() {
        "initialize" => initialize(gw, principal, req.params),
        "ping" => Ok(Served::value(json!({}))),
        "server/discover" => Ok(Served {
            answer: Answer::Value(discover(gw)),
            cache: Some(Cache {
                ttl_ms: 0,
                private: false,
            }),
            session: None,
        }),
        "tools/list" => {
            let (catalog, policy) = (gw.catalog.snapshot(), gw.policy.current());
            let request = list::ListRequest {
                catalog: &catalog,
                policy: &policy,
                principal,
                page_size: gw.config.catalog.page_size,
                era: Era::of(inc.protocol_version),
            };
            let page = list::list_tools(list::ListCache::shared(), &request, req.params)?;
            Ok(Served {
                answer: Answer::Finished(page),
                cache: Some(list::CACHE_HINT),
                session: None,
            })
        }
        "tools/call" => call::call_tool(gw, principal, req.params, inc.traceparent, rec)
            .await
            .map(|answer| Served {
                answer,
                cache: None,
                session: None,
            }),
        // Served only while an upstream server offers them (and `initialize` advertises
        // them); otherwise they are unknown methods, as without federation.
        m @ ("resources/list"
        | "resources/templates/list"
        | "resources/read"
        | "prompts/list"
        | "prompts/get")
            if !offered(gw, m) =>
        {
            Err(GatewayError::MethodNotFound { method: m.into() })
        }
        "resources/list" | "resources/templates/list" | "prompts/list" => {
            let kind = match req.method.as_ref() {
                "resources/list" => crate::federation::Kind::Resources,
                "resources/templates/list" => crate::federation::Kind::Templates,
                _ => crate::federation::Kind::Prompts,
            };
            federated::list(gw, principal, kind, req.params).map(|answer| Served {
                answer,
                cache: Some(federated::CACHE_HINT),
                session: None,
            })
        }
        "resources/read" => federated::read(gw, principal, req.params, inc.traceparent, rec)
            .await
            .map(|answer| Served {
                answer,
                cache: None,
                session: None,
            }),
        "prompts/get" => federated::get_prompt(gw, principal, req.params, inc.traceparent, rec)
            .await
            .map(|answer| Served {
                answer,
                cache: None,
                session: None,
            }),
        other => Err(GatewayError::MethodNotFound {
            method: other.chars().take(64).collect(),
        }),
    }
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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
) -> Result<Served, GatewayError> {
    let params: InitializeParams = params
        .and_then(|p| serde_json::from_str(p.get()).ok())
        .ok_or_else(|| GatewayError::InvalidParams {
            detail: "initialize needs params with a protocolVersion".into(),
        })?;
    let version = version::negotiate(&params.protocol_version);
    let session = gw
        .sessions
        .issue(&session_principal(principal), version, unix_now());
    let result = json!({
        "protocolVersion": version,
        "capabilities": capabilities(gw),
        "serverInfo": envelope::server_identity(),
        "instructions": INSTRUCTIONS,
    });
    Ok(Served {
        answer: Answer::Value(result),
        cache: None,
        session: Some(session),
    })
}

/// Whether an upstream server offers the capability of `method` (`resources/*`, `prompts/*`).
fn offered(gw: &Gateway, method: &str) -> bool {
    let offers = gw.federation.offers();
    if method.starts_with("prompts/") {
        offers.prompts
    } else {
        offers.resources
    }
}

/// Tools always; resources and prompts once an upstream server advertised them (known from
/// its `initialize` answer, read on the first catalog refresh). Subscriptions and list-change
/// notifications are not offered.
fn capabilities(gw: &Gateway) -> serde_json::Value {
    let offers = gw.federation.offers();
    let mut caps = json!({"tools": {"listChanged": false}});
    if offers.resources {
        caps["resources"] = json!({"subscribe": false, "listChanged": false});
    }
    if offers.prompts {
        caps["prompts"] = json!({"listChanged": false});
    }
    caps
}

fn discover(gw: &Gateway) -> serde_json::Value {
    json!({
        "supportedVersions": crate::error::supported_versions(),
        "capabilities": capabilities(gw),
        "serverInfo": envelope::server_identity(),
        "instructions": INSTRUCTIONS,
    })
}
