//! `tools/call`, in the steps it takes: parse the params, authorize the caller for the tool,
//! check the caller's rate for it, validate the arguments, run the tool on a sandbox that
//! serves it ([`crate::upstream`] owns the replica loop), and shape the sandbox's answer as an
//! MCP result. A federated tool (an upstream MCP server's) takes the same first four steps,
//! then is run by [`crate::federation`], and its result is passed on as the raw JSON the
//! upstream wrote.
//!
//! Tool failures, including arguments that do not match the input schema, are results with
//! `isError: true` (MCP 2025-11-25), so the model can read them and correct itself. The
//! caller's token never leaves the gateway: the sandbox receives the user, roles and principal.

use std::borrow::Cow;
use std::time::Instant;

use mcp_contract::grant::Grant;
use mcp_contract::policy::AccessPolicy;
use mcp_contract::sandbox_api::{CALL_PATH, CallError, CallRequest, ErrorKind};
use mcp_gateway_auth::Principal;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tracing::Instrument as _;

use super::envelope::Answer;
use crate::catalog::{FederatedTool, ToolRoute};
use crate::config::ArgumentAudit;
use crate::error::GatewayError;
use crate::federation::wire::ResultFlags;
use crate::federation::{CallContext, FederationError, Server};
use crate::gateway::Gateway;
use crate::observe::trace::RequestTrace;
use crate::observe::{RequestRecord, Status};
use crate::ratelimit::Scope;
use crate::upstream::Failover;

/// Longest tool name recorded as given (longer names cannot exist; they are cut for the log).
const MAX_RECORDED_NAME: usize = 128;

#[derive(Deserialize)]
struct CallParams<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
}

pub async fn call_tool(
    gw: &Gateway,
    principal: &Principal,
    params: Option<&RawValue>,
    traceparent: Option<&str>,
    rec: &mut RequestRecord,
) -> Result<Answer, GatewayError> {
    let params = parse_params(params)?;
    let name: &str = &params.name;
    rec.tool = Some(super::bounded(name, MAX_RECORDED_NAME));
    // One policy for the whole call, so a reload between two steps cannot mix two policies.
    let policy = gw.policy.current();
    let route = authorize(gw, &policy, principal, name, rec)?;
    rate_limit(gw, &policy, principal, name, rec).await?;
    audit_arguments(gw.config.audit.arguments, params.arguments, rec);
    if let Err(problem) = validate(gw, &route, params.arguments) {
        rec.fail(Status::Error, ErrorKind::InvalidArguments.as_str());
        return Ok(Answer::Value(tool_error(
            ErrorKind::InvalidArguments,
            &format!("arguments for tool '{name}' {problem}"),
            None,
        )));
    }
    // The arguments are checked: the request now waits for its tool, and a large one gives
    // its CPU turn back (http::fair) to other callers' large requests.
    rec.release_turn();
    if let Some(federated) = &route.federated {
        return run_federated(
            gw,
            &route,
            federated,
            principal,
            params.arguments,
            traceparent,
            rec,
        )
        .await;
    }
    let (sandbox, answer) = run(gw, &route, principal, params.arguments, traceparent, rec).await?;
    // Reading and shaping a large answer is CPU-heavy again: it takes a turn of its own,
    // fairly shared with other callers' large requests. The tool has run by now, so a turn
    // not granted within the request timeout does not throw its answer away.
    let wait = gw.upstreams.request_timeout();
    let _turn = gw
        .admission
        .turn(&principal.id, answer.len(), wait)
        .await
        .ok()
        .flatten();
    shape(&sandbox, &answer, rec)
}

/// Step 5 for a federated tool: the call on its upstream MCP server, in the caller's session
/// there, with the trace context and (if configured) the caller's user name, never the
/// caller's credentials. The result is passed on as the upstream wrote it (only `isError` is
/// read from it), or translated for a client of an older revision ([`super::envelope`]).
async fn run_federated(
    gw: &Gateway,
    route: &ToolRoute,
    federated: &FederatedTool,
    principal: &Principal,
    arguments: Option<&RawValue>,
    traceparent: Option<&str>,
    rec: &mut RequestRecord,
) -> Result<Answer, GatewayError> {
    let server = &federated.server;
    let span = rec.trace.federated(&server.name, &server.url);
    let ctx = upstream_context(principal, &span, traceparent);
    let started = Instant::now();
    let call = server
        .call_tool(&federated.backend, arguments, &ctx)
        .instrument(span.clone());
    let result = tokio::select! {
        r = call => r,
        () = gw.cut() => {
            return Err(GatewayError::ShuttingDown { tool: Some(route.name.clone()) });
        }
    };
    record_upstream(rec, server, &span, started, &result);
    let failed = |error| GatewayError::Federated {
        server: server.name.clone(),
        tool: route.name.clone(),
        error,
    };
    let result = result.map_err(failed)?;
    let flags = ResultFlags::of(&result);
    if flags.is_error {
        rec.fail(Status::Error, ErrorKind::ToolError.as_str());
    }
    require_object(&result, "tools/call").map_err(failed)?;
    // Written as it came, or translated for an older client, by the envelope.
    Ok(Answer::Upstream(result))
}

/// The context of a request to an upstream server for `principal`: their session there, their
/// user name (sent only if the server is configured for it), never their credentials, and the
/// trace context of `span` (the client's own `traceparent` when tracing is off).
pub(super) fn upstream_context<'a>(
    principal: &'a Principal,
    span: &tracing::Span,
    traceparent: Option<&str>,
) -> CallContext<'a> {
    let trace = match mcp_telemetry::propagation::inject(span) {
        Some(h) => h.pairs().map(|(k, v)| (k, v.to_owned())).collect(),
        None => traceparent
            .map(|t| vec![("traceparent", t.to_owned())])
            .unwrap_or_default(),
    };
    CallContext {
        caller: &principal.id,
        user: Some(&principal.user),
        trace,
    }
}

/// Records how a request to `server` went: its time, the server, and the outcome on `span`.
pub(super) fn record_upstream<T>(
    rec: &mut RequestRecord,
    server: &Server,
    span: &tracing::Span,
    started: Instant,
    result: &Result<T, FederationError>,
) {
    rec.upstream_seconds = Some(started.elapsed().as_secs_f64());
    rec.sandbox = Some(server.name.clone());
    RequestTrace::federated_done(span, result.as_ref().map(|_| ()).map_err(|e| e.kind()));
}

/// An upstream's `method` result must be a JSON object.
pub(super) fn require_object(result: &RawValue, method: &str) -> Result<(), FederationError> {
    let raw = result.get();
    if raw.starts_with('{') && raw.ends_with('}') {
        Ok(())
    } else {
        Err(FederationError::Protocol(format!(
            "the {method} result is not an object"
        )))
    }
}

/// `method`'s params as they came and read as `T`; a clear error when they are missing
/// (`needs` says what they must hold) or do not fit.
pub(super) fn params_of<'a, T: Deserialize<'a>>(
    params: Option<&'a RawValue>,
    method: &str,
    needs: &str,
) -> Result<(&'a RawValue, T), GatewayError> {
    let raw = params.ok_or_else(|| GatewayError::InvalidParams {
        detail: format!("{method} needs params with {needs}"),
    })?;
    let read = serde_json::from_str(raw.get()).map_err(|e| GatewayError::InvalidParams {
        detail: format!("invalid {method} params: {e}"),
    })?;
    Ok((raw, read))
}

/// Step 1: the params, with the tool's name.
fn parse_params(params: Option<&RawValue>) -> Result<CallParams<'_>, GatewayError> {
    params_of(params, "tools/call", "the tool's name").map(|(_, p)| p)
}

/// Step 2: the tool exists and one of the caller's roles grants it. Checked before anything
/// else reads the tool's definition, and answered alike for unknown and forbidden tools.
fn authorize(
    gw: &Gateway,
    policy: &AccessPolicy,
    principal: &Principal,
    name: &str,
    rec: &mut RequestRecord,
) -> Result<std::sync::Arc<ToolRoute>, GatewayError> {
    let route = gw.catalog.snapshot().get(name).cloned();
    let span = rec.trace.authorize(name);
    let _in = span.enter();
    let allowed = route.as_ref().is_some_and(|r| {
        policy
            .check(&principal.roles, name, &r.toolset)
            .is_allowed()
    });
    RequestTrace::authorized(&span, allowed);
    match route {
        Some(r) if allowed => {
            rec.tool_known = true;
            Ok(r)
        }
        known => {
            rec.tool_known = known.is_some();
            Err(GatewayError::UnknownTool {
                name: super::bounded(name, MAX_RECORDED_NAME),
                forbidden: known.is_some(),
            })
        }
    }
}

/// The caller's own rate across all requests (policy `rate_limits.users`), checked once per
/// request: by the HTTP front for a client's request, and by the internal endpoint for a call
/// made from code.
pub(crate) async fn user_rate(
    gw: &Gateway,
    policy: &AccessPolicy,
    principal: &Principal,
    rec: &mut RequestRecord,
) -> Result<(), GatewayError> {
    let Some(rate) = policy.user_rate(&principal.user) else {
        return Ok(());
    };
    let span = rec.trace.rate_limit(Scope::User);
    let checked = gw
        .limiter
        .check(Scope::User, &principal.id, "", rate)
        .instrument(span.clone())
        .await;
    RequestTrace::rate_limited(&span, checked.is_ok());
    checked.map_err(GatewayError::from)
}

/// Step 3: the caller's rate for this tool (or for `name`, a prompt's or a server's resource
/// reads, in [`super::federated`]).
pub(super) async fn rate_limit(
    gw: &Gateway,
    policy: &AccessPolicy,
    principal: &Principal,
    name: &str,
    rec: &mut RequestRecord,
) -> Result<(), GatewayError> {
    let Some(rate) = policy.tool_rate(name) else {
        return Ok(());
    };
    let span = rec.trace.rate_limit(Scope::UserTool);
    let checked = gw
        .limiter
        .check(Scope::UserTool, &principal.id, name, rate)
        .instrument(span.clone())
        .await;
    RequestTrace::rate_limited(&span, checked.is_ok());
    checked.map_err(GatewayError::from)
}

/// Step 4: the arguments fit the gateway's bounds and the tool's input schema. The bounds are
/// checked on the bytes, before a JSON tree is built, so a hostile request costs memory in
/// proportion to its size at most.
fn validate(gw: &Gateway, route: &ToolRoute, arguments: Option<&RawValue>) -> Result<(), String> {
    let limits = &gw.config.limits;
    let raw = arguments.map_or("{}", RawValue::get);
    let max = limits.max_arguments_for(&route.name);
    if raw.len() > max {
        return Err(format!(
            "are {} bytes, more than the {max} bytes this tool accepts: send less data per call \
             (for example a file in parts)",
            raw.len()
        ));
    }
    let values = count_values(raw.as_bytes());
    if values > limits.max_argument_values {
        return Err(format!(
            "hold {values} JSON values, more than the {} a call may carry: send fewer items \
             per call",
            limits.max_argument_values
        ));
    }
    let value: Value = serde_json::from_str(raw).map_err(|e| format!("are not valid JSON: {e}"))?;
    let problems = mcp_contract::schema::problems(&route.validator, &value);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "do not match its input schema: {}",
            problems.join("; ")
        ))
    }
}

/// An upper bound of the number of JSON values in `raw` (each value but the first follows a
/// `[`, `{`, `,` or `:` outside a string), in one linear pass.
fn count_values(raw: &[u8]) -> usize {
    let mut n = 1usize;
    super::jsonrpc::for_each_structural(raw, |b| {
        if matches!(b, b'[' | b'{' | b',' | b':') {
            n += 1;
        }
    });
    n
}

/// Step 5: the call on a sandbox serving the tool, with one other replica tried when the
/// first could not be reached (nothing was sent).
async fn run(
    gw: &Gateway,
    route: &ToolRoute,
    principal: &Principal,
    arguments: Option<&RawValue>,
    traceparent: Option<&str>,
    rec: &mut RequestRecord,
) -> Result<(String, bytes::Bytes), GatewayError> {
    let execute = gw.config.upstream.execute_timeout.get();
    let grant = Grant {
        principal: principal.id.to_string(),
        user: principal.user.to_string(),
        roles: principal.roles.to_vec(),
        request_id: rec.request_id.clone(),
        // The call's own bound plus a little clock skew between gateway and sandbox.
        expires_at_ms: unix_ms() + gw.upstreams.request_timeout().as_millis() as u64 + 30_000,
        tool: Some(route.name.clone()),
        // Where its code's calls of federated tools come back to (none without mcp_servers).
        callback: crate::federation::internal::callback_url(gw),
    };
    let request_id = rec.request_id.as_str();
    // Each replica gets the grant signed with its own token.
    let body_for = |key: Option<&[u8]>| {
        let signed = key.map(|k| grant.sign(k));
        let request = CallRequest {
            tool: route.name.as_str().into(),
            arguments,
            user: (&*principal.user).into(),
            roles: principal.roles.iter().map(|r| r.as_str().into()).collect(),
            request_id: Some(request_id.into()),
            deadline_ms: Some(execute.as_millis() as u64),
            principal: Some((&*principal.id).into()),
            grant: signed.as_deref().map(Into::into),
        };
        bytes::Bytes::from(serde_json::to_vec(&request).unwrap_or_default())
    };
    let upstreams = &gw.upstreams;
    let trace = &rec.trace;
    let started = Instant::now();
    let failover = upstreams.with_failover(
        |excluded| route.pick(upstreams, excluded),
        |target| {
            let sandbox = upstreams.target(target);
            let span = trace.upstream(sandbox, CALL_PATH);
            // The sandbox's spans go under this attempt's span; with traces off here, the
            // client's own context is passed through so the sandbox can still join it.
            let injected = mcp_telemetry::propagation::inject(&span);
            let body = body_for(sandbox.grant_key());
            async move {
                let headers: Vec<(&'static str, &str)> = match &injected {
                    Some(h) => h.pairs().collect(),
                    None => traceparent
                        .map(|t| ("traceparent", t))
                        .into_iter()
                        .collect(),
                };
                let sent = upstreams
                    .send(
                        target,
                        "POST",
                        CALL_PATH,
                        Some(body),
                        &headers,
                        upstreams.request_timeout(),
                    )
                    .instrument(span.clone())
                    .await;
                RequestTrace::upstream_done(&span, sent.as_ref().map(|a| a.status));
                sent
            }
        },
    );
    // A call still running when the gateway's shutdown timeout passes is answered, not cut.
    let sent = tokio::select! {
        sent = failover => sent,
        () = gw.cut() => {
            return Err(GatewayError::ShuttingDown { tool: Some(route.name.clone()) });
        }
    };
    rec.upstream_seconds = Some(started.elapsed().as_secs_f64());
    let (target, answer) = sent.map_err(|f| match f {
        Failover::NoReplica => GatewayError::NoReplica {
            tool: route.name.clone(),
        },
        Failover::Failed(error) => GatewayError::Upstream {
            tool: route.name.clone(),
            error,
        },
    })?;
    let sandbox = upstreams.target(target).name.clone();
    rec.sandbox = Some(sandbox.clone());
    Ok((sandbox, answer.body))
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The arguments in the audit line, as the gateway's `audit.arguments` setting says.
pub(super) fn audit_arguments(
    mode: ArgumentAudit,
    arguments: Option<&RawValue>,
    rec: &mut RequestRecord,
) {
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

/// The sandbox's answer (a [`mcp_contract::sandbox_api::CallResponse`]) as far as the gateway
/// reads it: the result stays raw JSON, to be copied into the MCP result as it is.
#[derive(Deserialize)]
struct SandboxAnswer<'a> {
    #[serde(default)]
    tool: String,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<CallError>,
}

/// Step 6: the sandbox's answer as an MCP result. Results and tool failures are results
/// (`isError` for the latter, with the failure's detail as `structuredContent`); a refused or
/// unserviceable call is a [`GatewayError`].
fn shape(sandbox: &str, body: &[u8], rec: &mut RequestRecord) -> Result<Answer, GatewayError> {
    let resp: SandboxAnswer<'_> =
        serde_json::from_slice(body).map_err(|e| GatewayError::BadUpstreamAnswer {
            sandbox: sandbox.to_owned(),
            detail: e.to_string(),
        })?;
    let Some(error) = resp.error else {
        return shape_result(resp.result).map_err(|e| GatewayError::BadUpstreamAnswer {
            sandbox: sandbox.to_owned(),
            detail: e.to_string(),
        });
    };
    match error.kind {
        ErrorKind::UnknownTool | ErrorKind::Forbidden => Err(GatewayError::UnknownTool {
            name: resp.tool,
            forbidden: error.kind == ErrorKind::Forbidden,
        }),
        ErrorKind::Busy => Err(GatewayError::Busy {
            message: error.message,
        }),
        ErrorKind::BadRequest | ErrorKind::Internal | ErrorKind::Unavailable => {
            Err(GatewayError::SandboxFailed {
                message: error.message,
            })
        }
        kind => {
            rec.fail(Status::Error, kind.as_str());
            Ok(Answer::Value(tool_error(
                kind,
                &error.message,
                error.detail.map(|d| *d),
            )))
        }
    }
}

/// A tool's result as an MCP result: its text (a string result as it is, any other value as
/// JSON text) and, for an object, the object as `structuredContent`. Written from the raw JSON
/// the sandbox sent, without building a tree: the sandbox writes compact JSON (serde_json),
/// so an object's text is what serializing it again would give.
fn shape_result(result: Option<&RawValue>) -> Result<Answer, serde_json::Error> {
    const HEAD: &[u8] = br#"{"content":[{"type":"text","text":"#;
    const TAIL: &[u8] = br#"}],"isError":false"#;
    const STRUCTURED: &[u8] = br#","structuredContent":"#;
    let raw = result.map_or("null", RawValue::get);
    let object = raw.starts_with('{');
    let mut out = Vec::with_capacity(HEAD.len() + 2 * raw.len() + TAIL.len() + 32);
    out.extend_from_slice(HEAD);
    if raw.starts_with('"') {
        out.extend_from_slice(raw.as_bytes());
    } else {
        // The value as JSON text, in a JSON string.
        serde_json::to_writer(&mut out, raw)?;
    }
    out.extend_from_slice(TAIL);
    if object {
        out.extend_from_slice(STRUCTURED);
        out.extend_from_slice(raw.as_bytes());
    }
    // No `_meta`: it may go out open, for the envelope to close.
    Ok(Answer::Open(out))
}

/// An `isError` result the model can read: the message, the failure's kind in `_meta`, and
/// its structured detail when the tool gave one.
fn tool_error(kind: ErrorKind, message: &str, detail: Option<Value>) -> Value {
    let mut out = json!({
        "content": [{"type": "text", "text": format!("{message} ({kind})")}],
        "isError": true,
        "_meta": {"io.mcp-gateway/error": {"kind": kind.as_str(), "limit": kind.is_limit()}},
    });
    if let Some(d) = detail.filter(Value::is_object) {
        out["structuredContent"] = d;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Answer, count_values, shape_result};
    use serde_json::value::RawValue;
    use serde_json::{Value, json};

    /// The MCP result built as a tree, as the gateway did before it copied raw JSON.
    fn by_tree(result: Value) -> Value {
        let text = match &result {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut out = json!({"content": [{"type": "text", "text": text}], "isError": false});
        if result.is_object() {
            out["structuredContent"] = result;
        }
        out
    }

    #[test]
    fn results_copied_from_raw_json_equal_those_built_as_a_tree() {
        let values = [
            json!("hello"),
            json!("quote \" backslash \\ newline \n unicode \u{e9} \u{1F600} control \u{1}"),
            json!({"text": "a\"b", "length": 3, "nested": {"z": [1, 2.5, null], "a": true}}),
            json!({}),
            json!([1, "two", {"three": 3}]),
            json!(42),
            json!(-1.5),
            json!(true),
            Value::Null,
        ];
        for v in values {
            let raw = RawValue::from_string(serde_json::to_string(&v).unwrap()).unwrap();
            let Ok(Answer::Open(mut bytes)) = shape_result(Some(&raw)) else {
                panic!("an open result for {v}");
            };
            bytes.push(b'}');
            let got: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(got, by_tree(v.clone()), "for {v}");
            if v.is_object() {
                // Same text, byte for byte, as serializing the object again.
                assert_eq!(got["content"][0]["text"], v.to_string());
            }
        }
        let Ok(Answer::Open(mut bytes)) = shape_result(None) else {
            panic!("an open result without a result");
        };
        bytes.push(b'}');
        let got: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(got, by_tree(Value::Null));
    }

    #[test]
    fn values_are_counted_on_the_bytes_without_counting_inside_strings() {
        assert_eq!(count_values(b"{}"), 2);
        assert_eq!(count_values(br#"{"a":[1,2,3]}"#), 6);
        assert_eq!(count_values(br#"{"a":"[,,,{:}]\"[,"}"#), 3);
        let zeros = format!("[{}0]", "0,".repeat(1000));
        assert!(count_values(zeros.as_bytes()) > 1000);
    }
}
