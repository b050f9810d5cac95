//! One upstream MCP server over Streamable HTTP: its sessions, its requests, its health.
//!
//! Sessions: the gateway opens its own session with the upstream (`initialize`, then
//! `notifications/initialized`), one per caller (keyed by principal) so no upstream state is
//! shared between callers, and one of its own for listing tools. A stateful upstream's
//! `Mcp-Session-Id` is sent back on every request; when the upstream answers 404 (it expired
//! or forgot the session, e.g. after a restart) the session is opened again and the request
//! sent once more. Stateless upstreams (no session id) work the same way. The gateway itself
//! keeps no session toward its clients: this is a cache any replica rebuilds.
//!
//! Answers: plain JSON or a `text/event-stream`, bounded in size and time, the result kept as
//! the raw JSON the upstream sent ([`answer`] reads them).
//!
//! Progress: when the call's client asked for it ([`wire::PROGRESS`] is set), the request
//! carries a progress token of the gateway's own (unique per server and process, so callers
//! sharing nothing cannot collide in the upstream session), and each `notifications/progress`
//! with that token is handed to the sink with the client's own token; any other is skipped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::SetupError;
use super::auth::Credentials;
use super::breaker::{Breaker, Outcome};
use super::error::FederationError;
use super::share::CallerShares;
use super::wire::{self, ProgressSink};
use crate::config::McpServerConfig;

mod answer;

/// Sessions kept per server (one per recent caller); past it, one is dropped.
const MAX_SESSIONS: usize = 4096;
/// Pages of `tools/list` read from one server at most.
const MAX_LIST_PAGES: usize = 50;
/// Session key of the gateway's own requests (tool, resource and prompt lists).
pub(super) const GATEWAY_KEY: &str = "";

/// The protocol version the gateway asks upstreams for (the upstream may answer an older one).
const PROTOCOL_VERSION: &str = "2025-11-25";

/// What a request carries besides its body: the caller's trace context and identity.
#[derive(Default)]
pub struct CallContext<'a> {
    /// Session key: the caller's principal.
    pub caller: &'a str,
    /// The caller's user name, sent only if the server is configured for it.
    pub user: Option<&'a str>,
    /// `traceparent`/`tracestate` pairs.
    pub trace: Vec<(&'static str, String)>,
}

#[derive(Clone)]
struct Session {
    id: Option<String>,
    protocol_version: String,
}

type Slot = Arc<tokio::sync::Mutex<Option<Session>>>;

/// One upstream MCP server.
pub struct Server {
    pub name: String,
    pub toolset: String,
    pub url: reqwest::Url,
    http: reqwest::Client,
    credentials: Credentials,
    breaker: Breaker,
    identity_header: Option<String>,
    request_timeout: Duration,
    max_response: usize,
    /// Permits for requests in flight (`max_concurrent`).
    in_flight: tokio::sync::Semaphore,
    max_concurrent: usize,
    /// Each caller's share of `in_flight`.
    shares: CallerShares,
    sessions: DashMap<String, Slot>,
    next_id: AtomicU64,
    up: AtomicBool,
    /// What its last `initialize` answer advertised ([`Offers`] bits).
    offers: std::sync::atomic::AtomicU8,
    /// The last tool list read (kept while the server is down, so its tools stay known and
    /// their calls get a clear "unavailable" rather than "unknown tool").
    last_tools: std::sync::Mutex<Option<Arc<Vec<serde_json::Value>>>>,
}

#[derive(Deserialize)]
struct InitializeResult {
    #[serde(rename = "protocolVersion")]
    protocol_version: String,
    #[serde(default)]
    capabilities: Capabilities,
}

/// The server capabilities the gateway federates besides tools.
#[derive(Deserialize, Default)]
struct Capabilities {
    #[serde(default)]
    resources: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    prompts: Option<serde::de::IgnoredAny>,
}

/// What a server's `initialize` answer advertised besides tools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offers {
    pub resources: bool,
    pub prompts: bool,
}

#[derive(Deserialize)]
struct ToolPage {
    tools: Vec<serde_json::Value>,
    #[serde(rename = "nextCursor", default)]
    next_cursor: Option<String>,
}

/// An HTTP answer whose body is not read yet.
struct Pending {
    resp: reqwest::Response,
}

/// Where a call's progress goes: the gateway's token for it upstream, and the client's sink.
struct Forward {
    token: u64,
    sink: Arc<ProgressSink>,
}

impl Server {
    pub fn new(cfg: &McpServerConfig) -> Result<Self, SetupError> {
        let url = reqwest::Url::parse(&cfg.url).map_err(|e| SetupError::Url {
            server: cfg.name.clone(),
            detail: e.to_string(),
        })?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout.get())
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(tls) = &cfg.tls {
            builder = super::auth::tls(builder, &cfg.name, tls)?;
        }
        let http = builder.build().map_err(|e| SetupError::Client {
            server: cfg.name.clone(),
            detail: e.to_string(),
        })?;
        Ok(Self {
            name: cfg.name.clone(),
            toolset: cfg.toolset().to_owned(),
            url,
            http,
            credentials: Credentials::load(&cfg.name, &cfg.auth)?,
            breaker: Breaker::new(cfg.circuit_breaker),
            identity_header: cfg.forward_identity_header.clone(),
            request_timeout: cfg.request_timeout.get(),
            max_response: cfg.max_response.as_usize(),
            in_flight: tokio::sync::Semaphore::new(cfg.max_concurrent),
            max_concurrent: cfg.max_concurrent,
            shares: CallerShares::new(cfg.max_concurrent),
            sessions: DashMap::new(),
            next_id: AtomicU64::new(1),
            up: AtomicBool::new(false),
            offers: std::sync::atomic::AtomicU8::new(0),
            last_tools: std::sync::Mutex::new(None),
        })
    }

    /// Whether its last request was answered.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// The capabilities its last `initialize` answer advertised (none before one was read).
    pub fn offers(&self) -> Offers {
        let bits = self.offers.load(Ordering::Acquire);
        Offers {
            resources: bits & 1 != 0,
            prompts: bits & 2 != 0,
        }
    }

    /// The circuit breaker's state (`closed`, `open`, `half_open`).
    pub fn breaker_state(&self) -> &'static str {
        self.breaker.state()
    }

    fn mark(&self, up: bool) {
        if self.up.swap(up, Ordering::AcqRel) != up {
            if up {
                tracing::info!(mcp_server = %self.name, "upstream MCP server is reachable");
            } else {
                tracing::warn!(mcp_server = %self.name, url = %self.url, "upstream MCP server is unreachable");
            }
        }
        metrics::gauge!("mcp_upstream_server_up", "server" => self.name.clone()).set(if up {
            1.0
        } else {
            0.0
        });
    }

    /// Runs `tools/call` of `tool` for a caller; the result as the upstream wrote it.
    pub async fn call_tool(
        &self,
        tool: &str,
        arguments: Option<&RawValue>,
        ctx: &CallContext<'_>,
    ) -> Result<Box<RawValue>, FederationError> {
        let forward = wire::PROGRESS
            .try_with(Arc::clone)
            .ok()
            .map(|sink| Forward {
                token: self.next_id.fetch_add(1, Ordering::Relaxed),
                sink,
            });
        let params = wire::call_params(tool, arguments, forward.as_ref().map(|f| f.token));
        self.guarded_forwarding("tools/call", &params, ctx, forward.as_ref())
            .await
    }

    /// Reads every page of the server's tools (its own session); on failure the last list
    /// read, if any, with the error.
    pub async fn list_tools(
        &self,
    ) -> (Option<Arc<Vec<serde_json::Value>>>, Option<FederationError>) {
        let ctx = CallContext {
            caller: GATEWAY_KEY,
            ..CallContext::default()
        };
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        let mut error = None;
        for _ in 0..MAX_LIST_PAGES {
            let params = match &cursor {
                Some(c) => serde_json::json!({ "cursor": c }).to_string(),
                None => "{}".to_owned(),
            };
            let page = match self.guarded("tools/list", &params, &ctx).await {
                Ok(raw) => serde_json::from_str::<ToolPage>(raw.get())
                    .map_err(|e| FederationError::Protocol(format!("tools/list result: {e}"))),
                Err(e) => Err(e),
            };
            match page {
                Ok(p) => {
                    tools.extend(p.tools);
                    cursor = p.next_cursor;
                    if cursor.is_none() {
                        break;
                    }
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let mut last = self.last_tools.lock().unwrap_or_else(|e| e.into_inner());
        if error.is_none() {
            *last = Some(Arc::new(tools));
        }
        (last.clone(), error)
    }

    /// One request through the circuit breaker, within the request timeout.
    pub(super) async fn guarded(
        &self,
        method: &str,
        params: &str,
        ctx: &CallContext<'_>,
    ) -> Result<Box<RawValue>, FederationError> {
        self.guarded_forwarding(method, params, ctx, None).await
    }

    /// [`Self::guarded`], passing the call's progress on to `progress`.
    async fn guarded_forwarding(
        &self,
        method: &str,
        params: &str,
        ctx: &CallContext<'_>,
        progress: Option<&Forward>,
    ) -> Result<Box<RawValue>, FederationError> {
        let _place = self
            .shares
            .take(ctx.caller)
            .ok_or(FederationError::CallerShare {
                max: self.shares.share(),
            })?;
        let _permit = self
            .in_flight
            .try_acquire()
            .map_err(|_| FederationError::Saturated {
                max: self.max_concurrent,
            })?;
        self.breaker.admit(ctx.caller, Instant::now())?;
        let request = self.request(method, params, ctx, progress);
        let result = tokio::time::timeout(self.request_timeout, request)
            .await
            .unwrap_or(Err(FederationError::Timeout(self.request_timeout)));
        let outcome = Outcome::of(&result);
        self.breaker.record(ctx.caller, outcome, Instant::now());
        self.mark(outcome == Outcome::Answered);
        result
    }

    fn slot(&self, caller: &str) -> Slot {
        if let Some(s) = self.sessions.get(caller) {
            return s.clone();
        }
        if self.sessions.len() >= MAX_SESSIONS {
            // Found in a statement of its own: the iterator's shard lock must be released
            // before `remove` takes a write lock (possibly on the same shard).
            let victim = self.sessions.iter().next().map(|e| e.key().clone());
            if let Some(victim) = victim {
                self.sessions.remove(&victim);
            }
        }
        self.sessions.entry(caller.to_owned()).or_default().clone()
    }

    /// Sends `method` in the caller's session, opening it first if needed, and opening it
    /// again (once) when the upstream no longer knows it.
    async fn request(
        &self,
        method: &str,
        params: &str,
        ctx: &CallContext<'_>,
        progress: Option<&Forward>,
    ) -> Result<Box<RawValue>, FederationError> {
        let slot = self.slot(ctx.caller);
        let mut retried_session = false;
        let mut retried_token = false;
        loop {
            let session = match self.session(&slot, ctx).await {
                Ok(s) => s,
                // The token was refused while opening the session: one new token, once.
                Err(FederationError::Status { status: 401, .. })
                    if !retried_token && self.credentials.invalidate().await =>
                {
                    retried_token = true;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let body = wire::request(id, method, params);
            let pending = self.post(body, Some(&session), ctx).await?;
            let status = pending.resp.status().as_u16();
            match status {
                404 if session.id.is_some() && !retried_session => {
                    retried_session = true;
                    let mut current = slot.lock().await;
                    if current.as_ref().map(|s| &s.id) == Some(&session.id) {
                        *current = None;
                    }
                    continue;
                }
                401 if !retried_token && self.credentials.invalidate().await => {
                    retried_token = true;
                    continue;
                }
                200..=299 => {
                    return self
                        .read_response(pending, id, &session, ctx, progress)
                        .await;
                }
                _ => return Err(self.status_error(pending).await),
            }
        }
    }

    /// The caller's session, opened if there is none.
    async fn session(
        &self,
        slot: &Slot,
        ctx: &CallContext<'_>,
    ) -> Result<Session, FederationError> {
        let mut guard = slot.lock().await;
        if let Some(s) = &*guard {
            return Ok(s.clone());
        }
        let params = serde_json::json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "mcp-gateway", "version": env!("CARGO_PKG_VERSION")},
        })
        .to_string();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let pending = self
            .post(wire::request(id, "initialize", &params), None, ctx)
            .await?;
        let status = pending.resp.status().as_u16();
        if matches!(status, 404 | 405) {
            return Err(old_transport(status));
        }
        if !pending.resp.status().is_success() {
            return Err(self.status_error(pending).await);
        }
        let session_id = pending
            .resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let provisional = Session {
            id: session_id,
            protocol_version: PROTOCOL_VERSION.to_owned(),
        };
        let result = self
            .read_response(pending, id, &provisional, ctx, None)
            .await?;
        let init: InitializeResult = serde_json::from_str(result.get())
            .map_err(|e| FederationError::Protocol(format!("initialize result: {e}")))?;
        if !crate::mcp::version::upstream_supported(&init.protocol_version) {
            return Err(unsupported_revision(&init.protocol_version));
        }
        let offers = u8::from(init.capabilities.resources.is_some())
            | (u8::from(init.capabilities.prompts.is_some()) << 1);
        self.offers.store(offers, Ordering::Release);
        let session = Session {
            protocol_version: init.protocol_version,
            ..provisional
        };
        let note = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_vec();
        let sent = self.post(note, Some(&session), ctx).await?;
        if !sent.resp.status().is_success() {
            return Err(self.status_error(sent).await);
        }
        *guard = Some(session.clone());
        Ok(session)
    }

    /// POSTs one message with the server's credentials and the call's headers.
    async fn post(
        &self,
        body: Vec<u8>,
        session: Option<&Session>,
        ctx: &CallContext<'_>,
    ) -> Result<Pending, FederationError> {
        let mut req = self
            .http
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(s) = session {
            req = req.header("mcp-protocol-version", s.protocol_version.as_str());
            if let Some(id) = &s.id {
                req = req.header("mcp-session-id", id.as_str());
            }
        }
        if let Some(auth) = self
            .credentials
            .header(&self.http, self.request_timeout)
            .await?
        {
            req = req.header("authorization", auth);
        }
        if let (Some(h), Some(user)) = (&self.identity_header, ctx.user)
            && user.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        {
            req = req.header(h.as_str(), user);
        }
        for (k, v) in &ctx.trace {
            req = req.header(*k, v.as_str());
        }
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| self.send_error(&e))?;
        Ok(Pending { resp })
    }
}

/// `initialize` POSTed to a URL that does not take it: a server of the HTTP+SSE transport of
/// revision 2024-11-05 (a GET stream plus a separate POST endpoint) answers so, and so does a
/// wrong path. Said plainly, since retrying cannot help.
fn old_transport(status: u16) -> FederationError {
    FederationError::Unsupported(format!(
        "it answered HTTP {status} to an initialize POST: the URL is not a Streamable HTTP \
         endpoint (MCP revision 2025-03-26 or later). A server of the older HTTP+SSE transport \
         (revision 2024-11-05) is not supported: upgrade it, or put a Streamable HTTP bridge in \
         front of it, and check the URL's path"
    ))
}

/// An `initialize` answer with a protocol version the gateway does not speak with upstreams.
fn unsupported_revision(version: &str) -> FederationError {
    let version: String = version.chars().take(32).collect();
    FederationError::Unsupported(format!(
        "it answered initialize with MCP protocol revision {version:?}; the gateway speaks {} \
         with upstream servers: upgrade it (any current MCP SDK speaks them)",
        crate::mcp::version::SUPPORTED.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_per_caller_are_capped() {
        let cfg: McpServerConfig =
            serde_yaml::from_str("{name: up, url: 'http://127.0.0.1:9/mcp'}").unwrap();
        let server = Server::new(&cfg).unwrap();
        for i in 0..MAX_SESSIONS + 10 {
            let _ = server.slot(&format!("apikey:user{i}"));
        }
        assert_eq!(server.sessions.len(), MAX_SESSIONS);
        let a = server.slot("apikey:again");
        assert!(
            Arc::ptr_eq(&a, &server.slot("apikey:again")),
            "one slot per caller"
        );
    }

    #[test]
    fn old_revisions_and_transports_are_refused_with_what_to_do() {
        let e = unsupported_revision("2024-11-05");
        assert_eq!(e.kind(), "unsupported_protocol");
        assert!(!e.counts_as_failure() && !e.is_unavailable());
        let text = e.to_string();
        assert!(
            text.contains("\"2024-11-05\"")
                && text.contains("2025-03-26")
                && text.contains("upgrade"),
            "{text}"
        );
        let text = old_transport(405).to_string();
        assert!(text.contains("HTTP+SSE") && text.contains("405"), "{text}");
    }
}
