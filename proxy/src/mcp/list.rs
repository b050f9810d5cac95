//! `tools/list`: the tools the caller may call and that are listed, in name order, paginated
//! with an opaque cursor (the last name served), which stays valid across catalog changes.
//!
//! The answer is written straight from each tool's listing, rendered once when the catalog was
//! built: no JSON tree is built or serialized per request.

use mcp_gateway_auth::Principal;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::envelope::Answer;
use crate::catalog::Catalog;
use crate::error::GatewayError;
use mcp_contract::policy::AccessPolicy as Policy;

#[derive(Deserialize, Default)]
struct ListParams {
    #[serde(default)]
    cursor: Option<String>,
}

/// The page of tools after the request's cursor, as an open result object.
pub fn list_tools(
    catalog: &Catalog,
    policy: &Policy,
    principal: &Principal,
    page_size: usize,
    params: Option<&RawValue>,
) -> Result<Answer, GatewayError> {
    let params: ListParams = match params {
        Some(p) => serde_json::from_str(p.get()).map_err(|e| GatewayError::InvalidParams {
            detail: format!("invalid tools/list params: {e}"),
        })?,
        None => ListParams::default(),
    };
    let after = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut out = Vec::with_capacity(16 * 1024);
    out.extend_from_slice(br#"{"tools":["#);
    let mut served = 0usize;
    let mut last: Option<&str> = None;
    let mut more = false;
    for route in catalog.iter() {
        if after.as_deref().is_some_and(|a| route.name.as_str() <= a) {
            continue;
        }
        if !policy.is_listed(&route.name, &route.toolset)
            || !policy
                .check(&principal.roles, &route.name, &route.toolset)
                .is_allowed()
        {
            continue;
        }
        if served == page_size {
            more = true;
            break;
        }
        if served > 0 {
            out.push(b',');
        }
        out.extend_from_slice(route.listing.get().as_bytes());
        served += 1;
        last = Some(&route.name);
    }
    out.push(b']');
    if let (true, Some(last)) = (more, last) {
        out.extend_from_slice(br#","nextCursor":"#);
        out.extend_from_slice(
            serde_json::to_string(&encode_cursor(last))
                .unwrap_or_default()
                .as_bytes(),
        );
    }
    Ok(Answer::Open(out))
}

fn encode_cursor(after: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("after:{after}"))
}

fn decode_cursor(cursor: &str) -> Result<String, GatewayError> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("after:").map(str::to_owned))
        .ok_or_else(|| GatewayError::InvalidParams {
            detail: "invalid cursor: pass back the nextCursor of a previous tools/list".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_junk_is_refused() {
        assert_eq!(
            decode_cursor(&encode_cursor("echo")).ok().as_deref(),
            Some("echo")
        );
        assert!(decode_cursor("!!").is_err());
    }
}
