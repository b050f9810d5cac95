//! The gateway's request path for an MCP POST body, as `mcp::dispatch` and `mcp::call` read it:
//! `jsonrpc::parse`, then the params of `initialize`, `tools/list` (with its cursor) and
//! `tools/call` (name, then arguments validated against the real tool's input schema), then the
//! response written around the request's id.
//!
//! Invariants beyond "no panic":
//! - a rejected body gets -32700 (not JSON) or -32600 (not a JSON-RPC 2.0 message), never
//!   anything else;
//! - an accepted body is one JSON object with `"jsonrpc": "2.0"`, nested at most `MAX_DEPTH`
//!   levels (counted independently on the parsed value);
//! - a request's id is a string or a number, and the response bytes written around it are JSON
//!   that carry the same id back.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use mcp_fuzz::jsonrpc::{self, MAX_DEPTH, Message, code};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// `mcp::call::CallParams`.
#[derive(Deserialize)]
struct CallParams<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
}

/// `mcp::ListParams`.
#[derive(Deserialize)]
struct ListParams {
    #[serde(default)]
    cursor: Option<String>,
}

/// `mcp::InitializeParams`.
#[derive(Deserialize)]
struct InitializeParams {
    #[serde(rename = "protocolVersion")]
    protocol_version: String,
}

/// `mcp::NameOnly` (the `Mcp-Name` header check).
#[derive(Deserialize)]
struct NameOnly<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// `mcp::decode_cursor`: base64url, UTF-8, `after:` prefix.
fn decode_cursor(cursor: &str) -> Option<String> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("after:").map(str::to_owned))
}

fn params(method: &str, params: Option<&RawValue>) {
    let Some(p) = params else { return };
    // The `Mcp-Name` header check reads only the name.
    let _ = serde_json::from_str::<NameOnly<'_>>(p.get()).map(|n| n.name);
    match method {
        "initialize" => {
            if let Ok(init) = serde_json::from_str::<InitializeParams>(p.get()) {
                let v = mcp_fuzz::version::negotiate(&init.protocol_version);
                assert!(mcp_fuzz::version::SUPPORTED.contains(&v));
            }
        }
        "tools/list" => {
            if let Ok(ListParams {
                cursor: Some(cursor),
            }) = serde_json::from_str(p.get())
            {
                let _ = decode_cursor(&cursor);
            }
        }
        "tools/call" => {
            let Ok(call) = serde_json::from_str::<CallParams<'_>>(p.get()) else {
                return;
            };
            let arguments: Value = match call.arguments {
                Some(a) => match serde_json::from_str(a.get()) {
                    Ok(v) => v,
                    // The gateway answers -32602 with serde's message.
                    Err(_) => return,
                },
                None => Value::Object(Default::default()),
            };
            // Real tools by name; any other name is validated against the first tool's schema,
            // so that every arguments value the fuzzer writes meets a validator.
            let validators = mcp_fuzz::tool_validators();
            let (_, validator) = validators
                .iter()
                .find(|(n, _)| *n == call.name)
                .unwrap_or(&validators[0]);
            let _ = mcp_contract::schema::problems(validator, &arguments);
        }
        _ => {}
    }
}

/// serde_json checks less in what it skips or keeps raw (unknown members, the raw id and
/// params) than in what it parses: invalid UTF-8, lone surrogate escapes (`"\ud800"`) and
/// numbers beyond f64 pass. The gateway never reads such values: arguments are parsed again
/// before use. Only these value-level errors are allowed in an accepted body.
fn lax_value_error(e: &serde_json::Error) -> bool {
    let m = e.to_string();
    [
        "number out of range",
        "invalid unicode code point",
        "lone leading surrogate in hex escape",
        "unexpected end of hex escape",
    ]
    .iter()
    .any(|lax| m.starts_with(lax))
}

fn check_response_carries(id: &RawValue) {
    assert!(
        matches!(id.get().as_bytes().first(), Some(b'"' | b'-' | b'0'..=b'9')),
        "accepted id {} is neither a string nor a number",
        id.get()
    );
    let want: Value = match serde_json::from_str(id.get()) {
        Ok(v) => v,
        // A number like 1e400 or a string with a lone surrogate: echoed verbatim, as the
        // client wrote it, though serde_json would not read it back.
        Err(e) if lax_value_error(&e) => return,
        Err(e) => panic!("accepted id {} is not JSON: {e}", id.get()),
    };
    assert!(want.is_string() || want.is_number());
    for bytes in [
        jsonrpc::result_bytes(Some(id), &serde_json::json!({})),
        jsonrpc::error_bytes(Some(id), code::INVALID_PARAMS, "x", None),
    ] {
        let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "response {:?} is not JSON: {e}",
                String::from_utf8_lossy(&bytes)
            )
        });
        assert_eq!(v["id"], want, "the response carries another id");
    }
}

fuzz_target!(|data: &[u8]| {
    match jsonrpc::parse(data) {
        Err(e) => {
            assert!(
                e.code == code::PARSE_ERROR || e.code == code::INVALID_REQUEST,
                "envelope error with code {}: {}",
                e.code,
                e.message
            );
            assert!(!e.message.is_empty());
        }
        Ok(message) => {
            let whole: Value = match serde_json::from_slice(data) {
                Ok(v) => v,
                Err(e) if lax_value_error(&e) => return,
                Err(e) => panic!("accepted a body that is not JSON: {e}"),
            };
            assert!(
                depth(&whole) <= MAX_DEPTH,
                "accepted a body nested {} levels deep",
                depth(&whole)
            );
            assert_eq!(whole.get("jsonrpc"), Some(&Value::from("2.0")));
            match message {
                Message::Request(req) => {
                    assert_eq!(whole["method"], Value::from(req.method.as_ref()));
                    check_response_carries(req.id);
                    params(&req.method, req.params);
                }
                Message::Notification { method } => {
                    assert_eq!(whole["method"], Value::from(method.as_ref()));
                    assert!(whole.get("id").is_none(), "a notification with an id");
                }
                Message::Response => {}
            }
        }
    }
});
