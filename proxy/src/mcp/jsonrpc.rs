//! JSON-RPC 2.0 as MCP uses it: one message per HTTP request (no batches), parsed once with the
//! id, method and params borrowed from the body, and responses written straight to bytes.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// JSON-RPC error codes the gateway answers with.
pub mod code {
    pub const PARSE_ERROR: i32 = -32700;
    pub const INVALID_REQUEST: i32 = -32600;
    pub const METHOD_NOT_FOUND: i32 = -32601;
    pub const INVALID_PARAMS: i32 = -32602;
    pub const INTERNAL_ERROR: i32 = -32603;
    /// A tool backend is unavailable or overloaded.
    pub const UNAVAILABLE: i32 = -32000;
    /// Authenticated, but not allowed.
    pub const FORBIDDEN: i32 = -32003;
    /// Over a rate limit.
    pub const RATE_LIMITED: i32 = -32029;
    /// Not authenticated.
    pub const UNAUTHORIZED: i32 = -32001;
}

/// One parsed message.
#[derive(Debug)]
pub enum Message<'a> {
    Request(Request<'a>),
    /// A notification (no id): answered with 202 and no body.
    Notification {
        method: Cow<'a, str>,
    },
    /// A response to a server-initiated request: also 202.
    Response,
}

/// A request: an id and a method, params kept raw until the method's handler reads them.
#[derive(Debug)]
pub struct Request<'a> {
    pub id: &'a RawValue,
    pub method: Cow<'a, str>,
    pub params: Option<&'a RawValue>,
}

/// Why a body is not a usable message, with the id when it could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvelopeError {
    pub code: i32,
    pub message: String,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<Cow<'a, str>>,
    /// Present-but-null must stay distinguishable from absent (a null id is invalid, an
    /// absent one makes a notification), so the raw value is kept whenever the key exists.
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Deepest nesting of arrays and objects a message may have. Raw params are not parsed here,
/// so the depth is checked on the bytes before anything else reads them.
pub const MAX_DEPTH: usize = 64;

/// Parses one message. Parse errors are -32700; well-formed JSON that is not a JSON-RPC 2.0
/// message (including batches) is -32600.
pub fn parse(body: &[u8]) -> Result<Message<'_>, EnvelopeError> {
    if nesting_depth(body) > MAX_DEPTH {
        return Err(invalid(&format!(
            "the message is nested more than {MAX_DEPTH} levels deep"
        )));
    }
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    if first == Some(b'[') {
        // Still tell a malformed array from a batch.
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                Ok(_) => invalid(
                    "batch requests are not supported: send one JSON-RPC message per request (MCP 2025-06-18 and later)",
                ),
                Err(e) => parse_error(&e),
            },
        );
    }
    let env: Envelope<'_> = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            invalid("the body is JSON but not a JSON-RPC 2.0 object")
        }
        _ => parse_error(&e),
    })?;
    if env.jsonrpc.as_deref() != Some("2.0") {
        return Err(invalid("\"jsonrpc\" must be \"2.0\""));
    }
    match (env.id, env.method) {
        (Some(id), Some(method)) => {
            check_id(id)?;
            Ok(Message::Request(Request {
                id,
                method,
                params: env.params,
            }))
        }
        (None, Some(method)) => Ok(Message::Notification { method }),
        (Some(_), None) if env.result.is_some() || env.error.is_some() => Ok(Message::Response),
        _ => Err(invalid(
            "a JSON-RPC message needs a \"method\" (or, for a response, \"result\" or \"error\")",
        )),
    }
}

/// The deepest bracket nesting in `body`, ignoring brackets inside strings. Linear, no
/// recursion: safe on hostile input.
fn nesting_depth(body: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for_each_structural(body, |b| match b {
        b'[' | b'{' => {
            depth += 1;
            max = max.max(depth);
        }
        b']' | b'}' => depth = depth.saturating_sub(1),
        _ => {}
    });
    max
}

/// Calls `f` with every byte of `body` outside JSON strings (the structure and the scalars),
/// in one linear pass: how the gateway measures hostile JSON before parsing it. Strings are
/// skipped with `memchr` (to the next quote or backslash), so a large string argument costs
/// little.
pub fn for_each_structural(body: &[u8], mut f: impl FnMut(u8)) {
    let mut i = 0;
    while let Some(&b) = body.get(i) {
        i += 1;
        if b != b'"' {
            f(b);
            continue;
        }
        // Inside a string: to its closing quote, stepping over each escaped byte.
        loop {
            let Some(k) = body
                .get(i..)
                .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
            else {
                return;
            };
            let at = i + k;
            i = at + 1;
            if body[at] == b'"' {
                break;
            }
            i += 1;
        }
    }
}

/// Ids must be strings or numbers (MCP forbids null ids).
fn check_id(id: &RawValue) -> Result<(), EnvelopeError> {
    match id.get().as_bytes().first() {
        Some(b'"' | b'-' | b'0'..=b'9') => Ok(()),
        _ => Err(invalid("\"id\" must be a string or a number")),
    }
}

fn invalid(message: &str) -> EnvelopeError {
    EnvelopeError {
        code: code::INVALID_REQUEST,
        message: message.to_owned(),
    }
}

fn parse_error(e: &serde_json::Error) -> EnvelopeError {
    EnvelopeError {
        code: code::PARSE_ERROR,
        message: format!("the body is not valid JSON: {e}"),
    }
}

/// Writes `{"jsonrpc":"2.0","id":<id>,"result":<result>}`.
pub fn result_bytes(id: Option<&RawValue>, result: &impl serde::Serialize) -> Vec<u8> {
    // Serialising our own result types cannot fail; keep the response well-formed anyway.
    let result = serde_json::to_vec(result).unwrap_or_else(|_| b"{}".to_vec());
    result_raw_bytes(id, &result)
}

/// Writes `{"jsonrpc":"2.0","id":<id>,"result":<result>}` around an already written result.
pub fn result_raw_bytes(id: Option<&RawValue>, result: &[u8]) -> Vec<u8> {
    let id = id.map_or("null", RawValue::get).as_bytes();
    let mut out = Vec::with_capacity(result.len() + id.len() + 32);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(id);
    out.extend_from_slice(br#","result":"#);
    out.extend_from_slice(result);
    out.push(b'}');
    out
}

/// Writes `{"jsonrpc":"2.0","id":<id>,"error":{"code":..,"message":..,"data":..}}`.
pub fn error_bytes(
    id: Option<&RawValue>,
    code: i32,
    message: &str,
    data: Option<&serde_json::Value>,
) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct ErrorObject<'a> {
        code: i32,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<&'a serde_json::Value>,
    }
    let mut out = Vec::with_capacity(128 + message.len());
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(id.map_or("null", RawValue::get).as_bytes());
    out.extend_from_slice(br#","error":"#);
    let _ = serde_json::to_writer(
        &mut out,
        &ErrorObject {
            code,
            message,
            data,
        },
    );
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(body: &str) -> Request<'_> {
        match parse(body.as_bytes()).unwrap() {
            Message::Request(r) => r,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    #[test]
    fn requests_keep_id_and_params_verbatim() {
        let r = req(
            r#"{"jsonrpc":"2.0","id":"a-1","method":"tools/call","params":{"name":"echo","arguments":{"x":[1, 2]}}}"#,
        );
        assert_eq!(r.id.get(), r#""a-1""#);
        assert_eq!(r.method, "tools/call");
        assert!(r.params.unwrap().get().contains(r#"[1, 2]"#));
        assert_eq!(
            req(r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#).id.get(),
            "7"
        );
    }

    #[test]
    fn notifications_and_client_responses_are_recognised() {
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap(),
            Message::Notification { .. }
        ));
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#).unwrap(),
            Message::Response
        ));
    }

    #[test]
    fn malformed_json_is_a_parse_error() {
        for body in [&b"{"[..], b"", b"{\"jsonrpc\":", b"[1,", b"nul"] {
            assert_eq!(
                parse(body).unwrap_err().code,
                code::PARSE_ERROR,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn well_formed_json_that_is_not_a_message_is_an_invalid_request() {
        for body in [
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            r#"{"id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":7}"#,
            r#""just a string""#,
            "42",
        ] {
            assert_eq!(
                parse(body.as_bytes()).unwrap_err().code,
                code::INVALID_REQUEST,
                "{body}"
            );
        }
    }

    /// The byte-at-a-time reference the memchr version must agree with.
    fn structural_reference(body: &[u8]) -> Vec<u8> {
        let (mut out, mut in_string, mut escaped) = (Vec::new(), false, false);
        for &b in body {
            if in_string {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
            } else if b == b'"' {
                in_string = true;
            } else {
                out.push(b);
            }
        }
        out
    }

    #[test]
    fn structural_bytes_skip_strings_and_their_escapes() {
        let cases: [&[u8]; 9] = [
            br#"{"a":[1,{"b":"x\"y"}],"c":null}"#,
            br#"{"k":"\\","l":2}"#,
            br#"{"k":"\\\"}","l":[3]}"#,
            br#""unterminated"#,
            br#""ends in a backslash\"#,
            br#"{"a":"\"#,
            b"",
            b"[[[]]]",
            br#"{"\u0022":"}{][","n":-1.5e3}"#,
        ];
        for body in cases {
            let mut got = Vec::new();
            for_each_structural(body, |b| got.push(b));
            assert_eq!(
                got,
                structural_reference(body),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn deeply_nested_params_are_rejected_without_overflowing_the_stack() {
        let nest = |depth: usize| {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"x","params":{}{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        let err = parse(nest(100_000).as_bytes()).unwrap_err();
        assert_eq!(err.code, code::INVALID_REQUEST);
        assert!(
            err.message.contains("nested more than 64"),
            "{}",
            err.message
        );
        assert!(parse(nest(MAX_DEPTH - 1).as_bytes()).is_ok());
        // Brackets inside strings do not count.
        let quoted = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"x","params":{{"s":"{}\"]"}}}}"#,
            "[".repeat(1000)
        );
        assert!(parse(quoted.as_bytes()).is_ok());
    }

    #[test]
    fn responses_are_well_formed_json() {
        let id = RawValue::from_string("\"x\"".into()).unwrap();
        let r: serde_json::Value =
            serde_json::from_slice(&result_bytes(Some(&id), &serde_json::json!({"a": 1}))).unwrap();
        assert_eq!(
            r,
            serde_json::json!({"jsonrpc": "2.0", "id": "x", "result": {"a": 1}})
        );
        let e: serde_json::Value =
            serde_json::from_slice(&error_bytes(None, -32700, "bad \"json\"", None)).unwrap();
        assert_eq!(e["id"], serde_json::Value::Null);
        assert_eq!(e["error"]["message"], "bad \"json\"");
    }
}
