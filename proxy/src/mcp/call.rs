//! `tools/call`: find the tool, check the caller may use it and is within its rate, validate the
//! arguments against the tool's schema, then run it on a sandbox that serves it and turn the
//! sandbox's answer into an MCP result.
//!
//! The caller's token never leaves the gateway: the sandbox receives the user name and roles.

use std::time::Instant;

use mcp_contract::sandbox_api::{CALL_PATH, CallRequest, CallResponse, ErrorKind};
use mcp_gateway_auth::Principal;
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use tracing::Instrument as _;

use super::RpcError;
use super::jsonrpc::code;
use crate::config::ArgumentAudit;
use crate::gateway::Gateway;
use crate::observe::trace::RequestTrace;
use crate::observe::{RequestRecord, Status};
use crate::ratelimit::Scope;
use crate::upstream::UpstreamError;

#[derive(Deserialize)]
struct CallParams<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
}

pub async fn call_tool(
    gw: &Gateway,
    principal: &Principal,
    params: Option<&RawValue>,
    traceparent: Option<&str>,
    rec: &mut RequestRecord,
) -> Result<serde_json::Value, RpcError> {
    let params: CallParams<'_> = params
        .ok_or_else(|| RpcError::invalid_params("tools/call needs params with the tool's name"))
        .and_then(|p| {
            serde_json::from_str(p.get())
                .map_err(|e| RpcError::invalid_params(format!("invalid tools/call params: {e}")))
        })?;
    let name: &str = &params.name;
    rec.tool = Some(name.to_owned());
    let catalog = gw.catalog.snapshot();
    let route = catalog
        .get(name)
        .ok_or_else(|| RpcError::invalid_params(format!("Unknown tool: {name:?}")))?;
    rec.tool_known = true;

    let policy = gw.policy.current();
    let allowed = {
        let span = rec.trace.authorize(name);
        let _in = span.enter();
        let allowed = policy
            .check(&principal.roles, name, &route.toolset)
            .is_allowed();
        RequestTrace::authorized(&span, allowed);
        allowed
    };
    if !allowed {
        rec.fail(Status::Denied, "forbidden");
        metrics::counter!("mcp_auth_failures_total", "reason" => "forbidden").increment(1);
        return Err(RpcError::new(
            403,
            code::FORBIDDEN,
            format!(
                "user '{}' may not call tool '{name}': none of their roles grants it",
                principal.user
            ),
        ));
    }
    if let Some(rate) = policy.tool_rate(name) {
        let span = rec.trace.rate_limit(Scope::UserTool);
        let checked = gw
            .limiter
            .check(Scope::UserTool, &principal.user, name, rate)
            .instrument(span.clone())
            .await;
        RequestTrace::rate_limited(&span, checked.is_ok());
        drop(span);
        if let Err(limited) = checked {
            return Err(crate::http::rate_limited(limited, rec));
        }
    }

    let arguments = params.arguments;
    audit_arguments(gw.config.audit.arguments, arguments, rec);
    let value: serde_json::Value = match arguments {
        Some(a) => {
            serde_json::from_str(a.get()).map_err(|e| RpcError::invalid_params(e.to_string()))?
        }
        None => json!({}),
    };
    let problems = mcp_contract::schema::problems(&route.validator, &value);
    if !problems.is_empty() {
        return Err(RpcError::invalid_params(format!(
            "arguments for tool '{name}' do not match its input schema: {}",
            problems.join("; ")
        )));
    }

    let execute = gw.config.upstream.execute_timeout.get();
    let request = CallRequest {
        tool: name.into(),
        arguments,
        user: (&*principal.user).into(),
        roles: principal.roles.iter().map(|r| r.as_str().into()).collect(),
        request_id: Some(rec.request_id.as_str().into()),
        deadline_ms: Some(execute.as_millis() as u64),
        principal: None,
        grant: None,
    };
    let body = bytes::Bytes::from(
        serde_json::to_vec(&request)
            .map_err(|e| RpcError::new(500, code::INTERNAL_ERROR, e.to_string()))?,
    );
    let mut excluded = None;
    loop {
        let Some(target) = route.pick(&gw.upstreams, excluded) else {
            rec.fail(Status::Error, "unavailable");
            return Err(unavailable(format!(
                "no sandbox serving tool '{name}' is reachable right now; retry shortly"
            )));
        };
        let sandbox = gw.upstreams.target(target);
        rec.sandbox = Some(sandbox.name.clone());
        let span = rec.trace.upstream(sandbox, CALL_PATH);
        // The sandbox's spans go under this attempt's span; with traces off here, the
        // client's own context is passed through so the sandbox can still join its trace.
        let injected = mcp_telemetry::propagation::inject(&span);
        let headers: Vec<(&'static str, &str)> = match &injected {
            Some(h) => h.pairs().collect(),
            None => traceparent
                .map(|t| ("traceparent", t))
                .into_iter()
                .collect(),
        };
        let started = Instant::now();
        let sent = gw
            .upstreams
            .send(
                target,
                "POST",
                CALL_PATH,
                Some(body.clone()),
                &headers,
                gw.upstreams.request_timeout(),
            )
            .instrument(span.clone())
            .await;
        rec.upstream_seconds = Some(started.elapsed().as_secs_f64());
        RequestTrace::upstream_done(&span, sent.as_ref().map(|a| a.status));
        drop(span);
        match sent {
            Ok(answer) => {
                let resp: CallResponse = serde_json::from_slice(&answer.body).map_err(|e| {
                    rec.fail(Status::Error, "bad_upstream_response");
                    RpcError::new(
                        502,
                        code::INTERNAL_ERROR,
                        format!("sandbox '{}' sent an unreadable answer: {e}", sandbox.name),
                    )
                })?;
                return tool_result(resp, rec);
            }
            // Nothing was sent: try another replica once.
            Err(UpstreamError::Connect { .. }) if excluded.is_none() => {
                sandbox.mark(false);
                excluded = Some(target);
            }
            Err(e) => {
                if !matches!(e, UpstreamError::Timeout { .. }) {
                    sandbox.mark(false);
                }
                rec.fail(Status::Error, "unavailable");
                return Err(unavailable(format!(
                    "tool '{name}' could not be completed: {e}. It may or may not have taken effect."
                )));
            }
        }
    }
}

fn unavailable(message: String) -> RpcError {
    let mut e = RpcError::new(503, code::UNAVAILABLE, message);
    e.headers.push(("retry-after", "1".into()));
    e
}

fn audit_arguments(mode: ArgumentAudit, arguments: Option<&RawValue>, rec: &mut RequestRecord) {
    let Some(a) = arguments else { return };
    match mode {
        ArgumentAudit::None => {}
        ArgumentAudit::Hash => {
            let digest = Sha256::digest(a.get().as_bytes());
            rec.arguments_sha256 = Some(digest.iter().map(|b| format!("{b:02x}")).collect());
        }
        ArgumentAudit::Full => rec.arguments = Some(a.to_owned()),
    }
}

/// Maps the sandbox's answer: results and tool failures are MCP results (`isError` for the
/// latter, so the agent can read and react); protocol-level problems are JSON-RPC errors.
fn tool_result(resp: CallResponse, rec: &mut RequestRecord) -> Result<serde_json::Value, RpcError> {
    let Some(error) = resp.error else {
        let result = resp.result.unwrap_or(serde_json::Value::Null);
        let text = match &result {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut out = json!({"content": [{"type": "text", "text": text}], "isError": false});
        if result.is_object() {
            out["structuredContent"] = result;
        }
        return Ok(out);
    };
    rec.fail(Status::Error, error.kind.as_str());
    match error.kind {
        ErrorKind::UnknownTool => Err(RpcError::invalid_params(format!(
            "Unknown tool: {}",
            error.message
        ))),
        ErrorKind::Forbidden => {
            rec.status = Status::Denied;
            Err(RpcError::new(403, code::FORBIDDEN, error.message))
        }
        ErrorKind::Busy => {
            let mut e = RpcError::new(503, code::UNAVAILABLE, error.message);
            e.headers.push(("retry-after", "1".into()));
            e.data = Some(Box::new(json!({"kind": "busy"})));
            Err(e)
        }
        ErrorKind::BadRequest | ErrorKind::Internal | ErrorKind::Unavailable => Err(RpcError::new(
            502,
            code::INTERNAL_ERROR,
            format!("the sandbox failed: {}", error.message),
        )),
        kind => Ok(json!({
            "content": [{"type": "text", "text": format!("{} ({kind})", error.message)}],
            "isError": true,
            "_meta": {"io.mcp-gateway/error": {"kind": kind.as_str(), "limit": kind.is_limit()}},
        })),
    }
}
