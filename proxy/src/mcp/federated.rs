//! `resources/list`, `resources/templates/list`, `resources/read`, `prompts/list` and
//! `prompts/get`: the resources and prompts of upstream MCP servers ([`crate::federation`]),
//! served to the callers whose roles grant the server's tool set, as for its tools.
//!
//! Lists come from the catalog refresh (each server's lists as last read), filtered by role
//! and paginated with an opaque cursor (the last key served). Resource URIs are passed on as
//! the upstream wrote them, and a read is routed by them: to the server that listed the URI,
//! else to the one whose URI template it matches. When two servers a caller may use list the
//! same URI (or template), that caller's listing shows each of them wrapped as
//! `mcp-gateway://<server>/<upstream uri>`, which always reaches that server; a bare URI that
//! more than one server claims is refused with the wrapped forms to use, never guessed.
//! Prompts are named `<server>__<prompt>` like tools. An unknown URI or prompt and one the
//! caller may not use get the same answer.
//!
//! Reads and gets run in the caller's session with the server, through its circuit breaker,
//! limits and bounds, with the trace context and never the caller's credentials; the
//! upstream's result is passed on as raw JSON.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use mcp_contract::policy::AccessPolicy;
use mcp_gateway_auth::Principal;
use serde::Deserialize;
use serde_json::value::RawValue;
use tracing::Instrument as _;

use super::envelope::{Answer, Cache};
use crate::error::GatewayError;
use crate::federation::resources::template_matches;
use crate::federation::wire::ResultFlags;
use crate::federation::{Entry, Extras, FederationError, Kind, Listed, Server};
use crate::gateway::Gateway;
use crate::observe::{RequestRecord, Status};

/// The gateway's own form of a resource URI: `mcp-gateway://<server>/<upstream uri>`.
pub const WRAPPED: &str = "mcp-gateway://";

/// Lists depend on the caller's roles; no TTL (2026-07-28).
pub const CACHE_HINT: Cache = Cache::PRIVATE_NO_TTL;

/// Longest URI or prompt name recorded or repeated in an error.
const MAX_RECORDED: usize = 256;

/// The servers whose tool set the caller's roles grant, with their lists.
fn granted(
    gw: &Gateway,
    policy: &AccessPolicy,
    principal: &Principal,
    listing: bool,
) -> Vec<(Arc<Entry>, Arc<Extras>)> {
    gw.federation
        .entries()
        .iter()
        .filter(|e| {
            let ts = &e.server.toolset;
            (!listing || policy.is_listed("", ts))
                && policy.check(&principal.roles, "", ts).is_allowed()
        })
        .filter_map(|e| e.extras().map(|x| (e.clone(), x)))
        .collect()
}

/// Whether the caller may get (and, with `listing`, see) the prompt `name` of `server`.
fn prompt_allowed(
    policy: &AccessPolicy,
    principal: &Principal,
    server: &Server,
    name: &str,
    listing: bool,
) -> bool {
    (!listing || policy.is_listed(name, &server.toolset))
        && policy
            .check(&principal.roles, name, &server.toolset)
            .is_allowed()
}

#[derive(Deserialize, Default)]
struct ListParams {
    #[serde(default)]
    cursor: Option<String>,
}

/// One page of `kind` for the caller, as an open result object.
pub fn list(
    gw: &Gateway,
    principal: &Principal,
    kind: Kind,
    params: Option<&RawValue>,
) -> Result<Answer, GatewayError> {
    let after = cursor_of(kind, params)?;
    let policy = gw.policy.current();
    let servers = granted(gw, &policy, principal, true);
    // How many of the caller's servers list each URI (template): those listed twice are
    // shown wrapped, so each still reaches its own server.
    let mut claims: HashMap<&str, usize> = HashMap::new();
    if kind != Kind::Prompts {
        for (_, extras) in &servers {
            for item in kind.of(extras) {
                *claims.entry(item.key.as_str()).or_default() += 1;
            }
        }
    }
    let mut items: Vec<(Cow<'_, str>, &Server, &Listed)> = Vec::new();
    for (entry, extras) in &servers {
        for item in kind.of(extras) {
            if kind == Kind::Prompts {
                if prompt_allowed(&policy, principal, &entry.server, &item.key, true) {
                    items.push((Cow::Borrowed(&item.key), &entry.server, item));
                }
            } else if claims.get(item.key.as_str()).copied().unwrap_or(0) > 1 {
                let wrapped = format!("{WRAPPED}{}/{}", entry.server.name, item.key);
                items.push((Cow::Owned(wrapped), &entry.server, item));
            } else {
                items.push((Cow::Borrowed(&item.key), &entry.server, item));
            }
        }
    }
    items.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
    items.dedup_by(|a, b| a.0 == b.0);
    let start = match &after {
        Some(a) => items.partition_point(|(k, _, _)| k.as_ref() <= a.as_str()),
        None => 0,
    };
    let page_size = gw.config.catalog.page_size.max(1);
    let end = (start + page_size).min(items.len());
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(kind.field().as_bytes());
    out.extend_from_slice(b"\":[");
    for (i, (exposed, _, item)) in items[start..end].iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if exposed.as_ref() == item.key {
            out.extend_from_slice(item.raw.get().as_bytes());
        } else {
            let field = if kind == Kind::Resources {
                "uri"
            } else {
                "uriTemplate"
            };
            out.extend_from_slice(rewrite(&item.raw, field, exposed).get().as_bytes());
        }
    }
    out.push(b']');
    if end < items.len() {
        out.extend_from_slice(b",\"nextCursor\":");
        let cursor = encode_cursor(&items[end - 1].0);
        out.extend_from_slice(
            serde_json::to_string(&cursor)
                .unwrap_or_default()
                .as_bytes(),
        );
    }
    Ok(Answer::Open(out))
}

/// `raw` with `field` set to `value` (a listing entry: small, parsed once here).
fn rewrite(raw: &RawValue, field: &str, value: &str) -> Box<RawValue> {
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(raw.get()).unwrap_or_default();
    object.insert(field.into(), value.into());
    serde_json::value::to_raw_value(&object).unwrap_or_else(|_| raw.to_owned())
}

fn encode_cursor(after: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("after:{after}"))
}

fn cursor_of(kind: Kind, params: Option<&RawValue>) -> Result<Option<String>, GatewayError> {
    use base64::Engine as _;
    let invalid = || GatewayError::InvalidParams {
        detail: format!(
            "invalid cursor: pass back the nextCursor of a previous {}",
            kind.method()
        ),
    };
    let params: ListParams = match params {
        Some(p) => serde_json::from_str(p.get()).map_err(|e| GatewayError::InvalidParams {
            detail: format!("invalid {} params: {e}", kind.method()),
        })?,
        None => ListParams::default(),
    };
    params
        .cursor
        .map(|c| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.strip_prefix("after:").map(str::to_owned))
                .ok_or_else(invalid)
        })
        .transpose()
}

#[derive(Deserialize)]
struct ReadParams<'a> {
    #[serde(borrow)]
    uri: Cow<'a, str>,
}

#[derive(Deserialize)]
struct GetParams<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
}

fn unknown_resource(uri: &str) -> GatewayError {
    GatewayError::InvalidParams {
        detail: format!("Unknown resource: {:?}", super::bounded(uri, MAX_RECORDED)),
    }
}

/// The server a caller's URI goes to, and the URI to send it.
fn route(
    servers: &[(Arc<Entry>, Arc<Extras>)],
    uri: &str,
) -> Result<(Arc<Server>, String), GatewayError> {
    if let Some(rest) = uri.strip_prefix(WRAPPED) {
        let (name, inner) = rest.split_once('/').ok_or_else(|| unknown_resource(uri))?;
        return servers
            .iter()
            .find(|(e, _)| e.server.name == name)
            .map(|(e, _)| (e.server.clone(), inner.to_owned()))
            .ok_or_else(|| unknown_resource(uri));
    }
    let listed: Vec<&Arc<Server>> = servers
        .iter()
        .filter(|(_, x)| x.resources.iter().any(|r| r.key == uri))
        .map(|(e, _)| &e.server)
        .collect();
    let candidates = if listed.is_empty() {
        servers
            .iter()
            .filter(|(_, x)| x.templates.iter().any(|t| template_matches(&t.key, uri)))
            .map(|(e, _)| &e.server)
            .collect()
    } else {
        listed
    };
    match candidates.as_slice() {
        [] => Err(unknown_resource(uri)),
        [one] => Ok(((*one).clone(), uri.to_owned())),
        many => {
            let uri = super::bounded(uri, MAX_RECORDED);
            let forms: Vec<String> = many
                .iter()
                .map(|s| format!("{WRAPPED}{}/{uri}", s.name))
                .collect();
            Err(GatewayError::InvalidParams {
                detail: format!(
                    "resource {uri:?} is served by more than one MCP server: read one of {}",
                    forms.join(", ")
                ),
            })
        }
    }
}

/// `resources/read`: the caller's URI on the server that serves it.
pub async fn read(
    gw: &Gateway,
    principal: &Principal,
    params: Option<&RawValue>,
    traceparent: Option<&str>,
    rec: &mut RequestRecord,
) -> Result<Answer, GatewayError> {
    let (raw, p): (_, ReadParams<'_>) =
        super::call::params_of(params, "resources/read", "the resource's uri")?;
    super::call::audit_arguments(gw.config.audit.arguments, Some(raw), rec);
    let policy = gw.policy.current();
    let servers = granted(gw, &policy, principal, false);
    let (server, uri) = route(&servers, &p.uri)?;
    let rate_key = format!("resources/read@{}", server.name);
    // The caller's rate for reads of this server's resources.
    super::call::rate_limit(gw, &policy, principal, &rate_key, rec).await?;
    let forwarded = serde_json::json!({ "uri": uri }).to_string();
    let what = format!("resource:{}", super::bounded(&p.uri, MAX_RECORDED));
    forward(
        gw,
        &server,
        "resources/read",
        &forwarded,
        &what,
        principal,
        traceparent,
        rec,
    )
    .await
}

/// `prompts/get`: the prompt on its server, with the caller's arguments as they came.
pub async fn get_prompt(
    gw: &Gateway,
    principal: &Principal,
    params: Option<&RawValue>,
    traceparent: Option<&str>,
    rec: &mut RequestRecord,
) -> Result<Answer, GatewayError> {
    let (_, p): (_, GetParams<'_>) =
        super::call::params_of(params, "prompts/get", "the prompt's name")?;
    let name: &str = &p.name;
    rec.tool = Some(super::bounded(name, MAX_RECORDED));
    let policy = gw.policy.current();
    let found = granted(gw, &policy, principal, false)
        .into_iter()
        .find_map(|(e, x)| {
            x.prompts
                .iter()
                .find(|l| l.key == name)
                .map(|l| (e.server.clone(), l.backend.clone()))
        })
        .filter(|(s, _)| prompt_allowed(&policy, principal, s, name, false));
    let Some((server, backend)) = found else {
        rec.fail(Status::Error, "unknown_prompt");
        return Err(GatewayError::InvalidParams {
            detail: format!("Unknown prompt: {:?}", super::bounded(name, MAX_RECORDED)),
        });
    };
    rec.tool_known = true;
    super::call::rate_limit(gw, &policy, principal, name, rec).await?;
    if let Some(a) = p.arguments {
        super::call::audit_arguments(gw.config.audit.arguments, Some(a), rec);
    }
    let forwarded = match p.arguments {
        Some(a) => format!(
            r#"{{"name":{},"arguments":{}}}"#,
            serde_json::to_string(&backend).unwrap_or_default(),
            a.get()
        ),
        None => serde_json::json!({ "name": backend }).to_string(),
    };
    let what = format!("prompt:{name}");
    forward(
        gw,
        &server,
        "prompts/get",
        &forwarded,
        &what,
        principal,
        traceparent,
        rec,
    )
    .await
}

/// Sends the request to `server` in the caller's session, traced and timed like a federated
/// tool call; the result as the upstream wrote it. `what` names it in errors
/// (`resource:<uri>`, `prompt:<name>`).
#[allow(
    clippy::too_many_arguments,
    reason = "the request's parts, each used once; a struct would only rename them"
)]
async fn forward(
    gw: &Gateway,
    server: &Server,
    method: &'static str,
    params: &str,
    what: &str,
    principal: &Principal,
    traceparent: Option<&str>,
    rec: &mut RequestRecord,
) -> Result<Answer, GatewayError> {
    let span = rec.trace.federated(&server.name, &server.url);
    let ctx = super::call::upstream_context(principal, &span, traceparent);
    let started = Instant::now();
    let sent = server
        .forward(method, params, &ctx)
        .instrument(span.clone());
    let result = tokio::select! {
        r = sent => r,
        () = gw.cut() => return Err(GatewayError::ShuttingDown { tool: None }),
    };
    super::call::record_upstream(rec, server, &span, started, &result);
    let status = if result.is_ok() { "ok" } else { "error" };
    metrics::counter!("mcp_federated_requests_total", "server" => server.name.clone(),
        "method" => method, "status" => status)
    .increment(1);
    let failed = |error| GatewayError::Federated {
        server: server.name.clone(),
        tool: what.to_owned(),
        error,
    };
    let result = result.map_err(failed)?;
    super::call::require_object(&result, method).map_err(failed)?;
    let raw = result.get();
    if ResultFlags::of(&result).has_meta.is_some() {
        // The 2026-07-28 envelope adds its own `_meta` entry: merged in a tree (the result is
        // bounded by the server's max_response).
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| failed(FederationError::Protocol(e.to_string())))?;
        return Ok(Answer::Value(value));
    }
    let mut open = raw.as_bytes().to_vec();
    open.pop();
    while open.last().is_some_and(u8::is_ascii_whitespace) {
        open.pop();
    }
    Ok(Answer::Open(open))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let c = encode_cursor("notes://a");
        let p = RawValue::from_string(format!(r#"{{"cursor":"{c}"}}"#)).unwrap();
        assert_eq!(
            cursor_of(Kind::Resources, Some(&p)).unwrap().as_deref(),
            Some("notes://a")
        );
        let bad = RawValue::from_string(r#"{"cursor":"zzz"}"#.into()).unwrap();
        assert!(cursor_of(Kind::Prompts, Some(&bad)).is_err());
        assert_eq!(cursor_of(Kind::Prompts, None).unwrap(), None);
    }

    #[test]
    fn a_rewritten_listing_keeps_its_other_fields() {
        let raw = RawValue::from_string(r#"{"uri":"a://x","name":"x","size":3}"#.into()).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(rewrite(&raw, "uri", "mcp-gateway://s/a://x").get()).unwrap();
        assert_eq!(v["uri"], "mcp-gateway://s/a://x");
        assert_eq!(v["size"], 3);
    }
}
