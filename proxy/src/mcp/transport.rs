//! The transport rules a request must pass before its method runs: the protocol version, the
//! routing headers (`Mcp-Method`, `Mcp-Name`) against the body, the session of the handshake
//! era, and the 2026-07-28 per-request envelope (`params._meta` with the protocol version and
//! the client's capabilities).

use std::borrow::Cow;

use mcp_gateway_auth::Principal;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::jsonrpc::Request;
use super::version::{self, Era};
use super::{Incoming, session_principal, unix_now};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::observe::RequestRecord;

/// `params._meta` key of the request's protocol version (2026-07-28).
const PROTOCOL_VERSION_META: &str = "io.modelcontextprotocol/protocolVersion";
/// `params._meta` key of the client's capabilities for this request (2026-07-28).
const CLIENT_CAPABILITIES_META: &str = "io.modelcontextprotocol/clientCapabilities";

/// The parts of `params` the transport rules read; everything else is skipped unparsed.
#[derive(Deserialize, Default)]
struct RoutingParams<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(rename = "_meta", borrow, default)]
    meta: Option<EnvelopeMeta<'a>>,
}

#[derive(Deserialize)]
struct EnvelopeMeta<'a> {
    #[serde(rename = "io.modelcontextprotocol/protocolVersion", borrow, default)]
    protocol_version: Option<&'a RawValue>,
    #[serde(rename = "io.modelcontextprotocol/clientCapabilities", default)]
    client_capabilities: Option<IgnoredAny>,
}

/// Methods whose `Mcp-Name` header mirrors a params field (2026-07-28).
fn name_param(method: &str) -> bool {
    matches!(method, "tools/call" | "prompts/get" | "resources/read")
}

/// Checks the request against its era's transport rules.
pub fn check(
    gw: &Gateway,
    principal: &Principal,
    inc: &Incoming<'_>,
    req: &Request<'_>,
    era: Era,
    rec: &mut RequestRecord,
) -> Result<(), GatewayError> {
    let mismatch = |detail: String| GatewayError::HeaderMismatch { detail };
    if let Some(h) = inc.duplicated_header {
        return Err(mismatch(format!("the {h} header appears more than once")));
    }
    // Only read the params when a rule needs them: a handshake-era request without an
    // `Mcp-Name` header is not scanned here (its arguments are read once, by the method).
    // Other shapes are the method's own business (it answers invalid params).
    let params: RoutingParams<'_> = match req.params {
        Some(p) if era == Era::Stateless || inc.mcp_name.is_some() => {
            serde_json::from_str(p.get()).unwrap_or_default()
        }
        _ => RoutingParams::default(),
    };
    if let Some(header) = inc.mcp_method
        && header != req.method
    {
        return Err(mismatch(format!(
            "the Mcp-Method header {header:?} does not match the body's method {:?}",
            req.method
        )));
    }
    let name_header = inc.mcp_name.map(decode_header_value);
    if let Some(header) = &name_header
        && header.as_deref() != params.name.as_deref()
    {
        return Err(mismatch(
            "the Mcp-Name header does not match the body's params.name".into(),
        ));
    }
    match era {
        Era::Stateless => check_stateless(inc, req, &params, name_header.is_some()),
        Era::Handshake => check_handshake(gw, principal, inc, req, rec),
    }
}

/// The 2026-07-28 ladder: envelope present, headers agree with it, version supported.
fn check_stateless(
    inc: &Incoming<'_>,
    req: &Request<'_>,
    params: &RoutingParams<'_>,
    has_name_header: bool,
) -> Result<(), GatewayError> {
    let meta = params.meta.as_ref();
    let version = meta.and_then(|m| m.protocol_version);
    let has_caps = meta.is_some_and(|m| m.client_capabilities.is_some());
    let (Some(version), true) = (version, has_caps) else {
        return Err(GatewayError::InvalidParams {
            detail: format!(
                "params._meta must carry {PROTOCOL_VERSION_META:?} and {CLIENT_CAPABILITIES_META:?} \
                 on every request at protocol version {}",
                version::STATELESS
            ),
        });
    };
    let version: Option<Cow<'_, str>> = serde_json::from_str(version.get()).ok();
    if version.as_deref() != inc.protocol_version {
        return Err(GatewayError::HeaderMismatch {
            detail:
                "the MCP-Protocol-Version header does not match params._meta's protocol version"
                    .into(),
        });
    }
    if inc.mcp_method.is_none() {
        return Err(GatewayError::HeaderMismatch {
            detail: format!(
                "the Mcp-Method header is required (it must be {:?})",
                req.method
            ),
        });
    }
    if name_param(&req.method) && params.name.is_some() && !has_name_header {
        return Err(GatewayError::HeaderMismatch {
            detail: "the Mcp-Name header is required and must equal params.name".into(),
        });
    }
    let version = version.unwrap_or_default();
    if version != version::STATELESS {
        return Err(GatewayError::UnsupportedVersion {
            requested: version.into_owned(),
        });
    }
    Ok(())
}

/// The handshake era: a known version header, and a valid session when one is presented.
fn check_handshake(
    gw: &Gateway,
    principal: &Principal,
    inc: &Incoming<'_>,
    req: &Request<'_>,
    rec: &mut RequestRecord,
) -> Result<(), GatewayError> {
    if let Some(v) = inc.protocol_version
        && !version::is_accepted(v)
    {
        return Err(GatewayError::UnsupportedVersion {
            requested: v.to_owned(),
        });
    }
    if req.method == "initialize" {
        return Ok(());
    }
    if let Some(sid) = inc.session_id {
        rec.session_id = Some(sid.to_owned());
        gw.sessions
            .open(sid, &session_principal(principal), unix_now())
            .map_err(GatewayError::SessionNotFound)?;
    }
    Ok(())
}

/// Header values that are not plain printable ASCII arrive as `=?base64?<payload>?=`.
fn decode_header_value(v: &str) -> Option<String> {
    use base64::Engine as _;
    let Some(payload) = v
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    else {
        return Some(v.to_owned());
    };
    let engine = base64::engine::general_purpose::STANDARD;
    let bytes = engine.decode(payload).ok()?;
    // Only the canonical encoding matches (as the reference SDKs require).
    if engine.encode(&bytes) != payload {
        return None;
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::decode_header_value;

    #[test]
    fn header_values_decode_from_the_base64_sentinel() {
        assert_eq!(decode_header_value("echo").as_deref(), Some("echo"));
        assert_eq!(
            decode_header_value("=?base64?w6ljaG8=?=").as_deref(),
            Some("écho")
        );
        assert_eq!(decode_header_value("=?base64?!!?="), None);
    }
}
