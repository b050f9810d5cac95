//! Calls of the gateway's federated tools (upstream MCP servers' tools) made from code: sent
//! back to the gateway replica that issued the running call ([`mcp_contract::callback`]).
//!
//! What goes out is the sandbox's own token (`Authorization: Bearer`), the grant of the
//! running call exactly as the gateway signed it, the tool's name and the program's arguments,
//! and the trace context. No credential of the caller or of an upstream is held here or handed
//! to the guest: the gateway authorizes, rate limits, audits and runs the call with its own
//! upstream credentials and answers with what the program sees ([`CodeCallAnswer`]). Answers
//! are read up to [`MAX_ANSWER`] bytes.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mcp_contract::callback::{
    CALL_PATH, CodeCall, CodeCallAnswer, CodeToolList, GRANT_HEADER, LIST_PATH,
};
use serde_json::value::RawValue;

use super::bindings::{AbortReason, CallError as WitCallError, ToolSummary};
use super::host::unavailable_tool;

/// Largest answer read from the gateway (its own bound on an upstream's answer,
/// `mcp_servers[].max_response`, is 4 MiB by default); a larger one fails the call.
pub const MAX_ANSWER: usize = 16 * 1024 * 1024;
/// Connecting to the gateway; the whole request is bounded by the caller's host-call budget.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The way back to the gateway for one call tree: where, and the grant it runs under.
pub struct GatewayCallback {
    base: String,
    grant: Arc<str>,
    token: Arc<[u8]>,
    /// The federated tools this caller may call, read once per call tree.
    listing: tokio::sync::OnceCell<Vec<ToolSummary>>,
}

impl std::fmt::Debug for GatewayCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token or the grant.
        f.debug_struct("GatewayCallback")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default()
    })
}

impl GatewayCallback {
    /// `base` comes from the verified grant; `grant` is its token as received; `token` the
    /// sandbox's own.
    pub fn new(base: &str, grant: &str, token: Arc<[u8]>) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            grant: Arc::from(grant),
            token,
            listing: tokio::sync::OnceCell::new(),
        }
    }

    fn post(&self, path: &str, span: &tracing::Span) -> reqwest::RequestBuilder {
        let token = String::from_utf8_lossy(&self.token);
        let mut req = client()
            .post(format!("{}{path}", self.base))
            .bearer_auth(token.trim())
            .header(GRANT_HEADER, &*self.grant)
            .header("content-type", "application/json");
        if let Some(h) = mcp_telemetry::propagation::inject(span) {
            for (k, v) in h.pairs() {
                req = req.header(k, v);
            }
        }
        req
    }

    /// Calls federated tool `tool` through the gateway; what the guest's `call-tool` answers.
    pub async fn call(
        &self,
        tool: &str,
        arguments: &str,
        span: &tracing::Span,
    ) -> Result<String, WitCallError> {
        let arguments = RawValue::from_string(arguments.to_owned()).map_err(|e| {
            WitCallError::InvalidArguments(format!(
                "arguments for tool '{tool}' are not valid JSON: {e}"
            ))
        })?;
        let body = serde_json::to_vec(&CodeCall {
            name: tool.into(),
            arguments: Some(&arguments),
        })
        .map_err(|e| aborted("internal", format!("cannot encode the call: {e}")))?;
        let answer = self
            .send(self.post(CALL_PATH, span).body(body))
            .await
            .map_err(|(kind, e)| aborted(kind, format!("tool '{tool}': {e}")))?;
        match serde_json::from_slice(&answer) {
            Ok(CodeCallAnswer::Result(text)) => Ok(text),
            Ok(CodeCallAnswer::Error { kind, message }) => Err(match kind.as_str() {
                "not_found" => unavailable_tool(tool),
                "invalid_arguments" => WitCallError::InvalidArguments(message),
                "tool_error" => WitCallError::Failed(message),
                "forbidden" => WitCallError::Forbidden(message),
                "rate_limited" => WitCallError::LimitExceeded(message),
                _ => aborted(&kind, message),
            }),
            Err(e) => Err(aborted(
                "bad_upstream_response",
                format!("tool '{tool}': the gateway's answer is not a call answer: {e}"),
            )),
        }
    }

    /// The federated tools the caller may call (empty, and logged, if the gateway cannot be
    /// asked: the sandbox's own tools are still listed).
    pub async fn list(&self, span: &tracing::Span) -> &[ToolSummary] {
        self.listing
            .get_or_init(|| async {
                let read = async {
                    let bytes = self
                        .send(self.post(LIST_PATH, span))
                        .await
                        .map_err(|e| e.1)?;
                    serde_json::from_slice::<CodeToolList>(&bytes).map_err(|e| e.to_string())
                };
                match read.await {
                    Ok(list) => list
                        .tools
                        .into_iter()
                        .map(|t| ToolSummary {
                            name: t.name,
                            component: t.component,
                            description: t.description,
                            input_schema: t.input_schema,
                            output_schema: t.output_schema,
                        })
                        .collect(),
                    Err(e) => {
                        tracing::warn!(gateway = %self.base, error = %e,
                            "cannot list the gateway's federated tools for code");
                        Vec::new()
                    }
                }
            })
            .await
    }

    /// Sends `req` and reads a 200 answer of at most [`MAX_ANSWER`] bytes; else the failure's
    /// kind (`output_too_large` or `unavailable`) and what happened.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Vec<u8>, (&'static str, String)> {
        let unavailable = |e: String| ("unavailable", e);
        let mut resp = req
            .send()
            .await
            .map_err(|e| unavailable(format!("cannot reach the gateway at {}: {e}", self.base)))?;
        let status = resp.status();
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| unavailable(format!("the gateway's answer broke off: {e}")))?
        {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err((
                    "output_too_large",
                    format!("the answer is larger than the {MAX_ANSWER} bytes code may receive"),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(unavailable(format!(
                "the gateway refused the call ({status}): {}",
                super::host::untrusted(&text, 512)
            )));
        }
        Ok(body)
    }
}

fn aborted(kind: &str, message: String) -> WitCallError {
    WitCallError::Aborted(AbortReason {
        kind: kind.to_owned(),
        message,
    })
}
