//! What travels between the gateway and an upstream MCP server, without building JSON trees of
//! the upstream's results: the requests the gateway writes, a Server-Sent Events reader for
//! upstreams that answer a POST with `text/event-stream`, and a look at each JSON-RPC message
//! that borrows its parts from the bytes.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// A JSON-RPC request as bytes: `params` is already JSON.
pub fn request(id: u64, method: &str, params: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + method.len() + params.len());
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(id.to_string().as_bytes());
    out.extend_from_slice(br#","method":"#);
    out.extend_from_slice(
        serde_json::to_string(method)
            .unwrap_or_else(|_| "\"\"".into())
            .as_bytes(),
    );
    out.extend_from_slice(br#","params":"#);
    out.extend_from_slice(params.as_bytes());
    out.push(b'}');
    out
}

/// `tools/call` params for `name` with the caller's arguments, as they came (raw JSON).
pub fn call_params(name: &str, arguments: Option<&RawValue>) -> String {
    let name = serde_json::to_string(name).unwrap_or_else(|_| "\"\"".into());
    format!(
        r#"{{"name":{name},"arguments":{}}}"#,
        arguments.map_or("{}", RawValue::get)
    )
}

/// A JSON-RPC error response to a request the upstream sent us (elicitation, sampling, roots):
/// the gateway does not forward them to its clients.
pub fn refusal(id: &RawValue, method: &str) -> Vec<u8> {
    let message = format!(
        "the MCP gateway does not forward {} requests from upstream servers to its clients",
        method.chars().take(64).collect::<String>()
    );
    let message = serde_json::to_string(&message).unwrap_or_else(|_| "\"\"".into());
    format!(
        r#"{{"jsonrpc":"2.0","id":{},"error":{{"code":-32601,"message":{message}}}}}"#,
        id.get()
    )
    .into_bytes()
}

#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<RpcError>,
}

#[derive(Deserialize)]
struct RpcError {
    code: i64,
    #[serde(default)]
    message: String,
}

/// One JSON-RPC message from an upstream.
#[derive(Debug)]
pub enum Message<'a> {
    /// The response to request `id`, with its result as it came.
    Result { id: &'a str, result: &'a RawValue },
    Error {
        id: &'a str,
        code: i64,
        message: String,
    },
    /// A request of the server's own (e.g. `elicitation/create`).
    Request {
        id: &'a RawValue,
        method: Cow<'a, str>,
    },
    /// A notification (e.g. `notifications/progress`).
    Notification,
}

/// Reads one message; `None` when it is not JSON-RPC.
pub fn peek(bytes: &[u8]) -> Option<Message<'_>> {
    let p: Peek<'_> = serde_json::from_slice(bytes).ok()?;
    match (p.id, p.method, p.result, p.error) {
        (Some(id), Some(method), _, _) => Some(Message::Request { id, method }),
        (None, Some(_), _, _) => Some(Message::Notification),
        (Some(id), None, Some(result), None) => Some(Message::Result {
            id: id.get(),
            result,
        }),
        (Some(id), None, _, Some(e)) => Some(Message::Error {
            id: id.get(),
            code: e.code,
            message: e.message,
        }),
        _ => None,
    }
}

/// The fields of a tool result the gateway reads (everything else is skipped unparsed).
#[derive(Deserialize, Default)]
pub struct ResultFlags {
    #[serde(rename = "isError", default)]
    pub is_error: bool,
    #[serde(rename = "_meta", default)]
    pub has_meta: Option<serde::de::IgnoredAny>,
}

impl ResultFlags {
    pub fn of(result: &RawValue) -> Self {
        serde_json::from_str(result.get()).unwrap_or_default()
    }
}

/// An incremental Server-Sent Events reader: feed it bytes, get each event's data.
#[derive(Default)]
pub struct SseReader {
    buf: Vec<u8>,
}

impl SseReader {
    /// Adds `chunk`; returns the data of every event it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Vec<u8>> {
        self.buf.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some((end, sep)) = find_event_end(&self.buf) {
            let block: Vec<u8> = self.buf.drain(..end + sep).take(end).collect();
            let mut data: Vec<u8> = Vec::new();
            let mut has_data = false;
            for line in block.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if let Some(rest) = line.strip_prefix(b"data:") {
                    if has_data {
                        data.push(b'\n');
                    }
                    data.extend_from_slice(rest.strip_prefix(b" ").unwrap_or(rest));
                    has_data = true;
                }
            }
            if has_data {
                events.push(data);
            }
        }
        events
    }

    /// Bytes held for an event not yet complete.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// Where the first event of `buf` ends (a blank line), and the separator's length.
fn find_event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' {
            if buf[i + 1] == b'\n' {
                return Some((i, 2));
            }
            if buf[i + 1] == b'\r' && buf.get(i + 2) == Some(&b'\n') {
                return Some((i, 3));
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_are_read_across_chunks_and_line_endings() {
        let mut r = SseReader::default();
        assert!(
            r.push(b"event: message\r\nid: 1\r\ndata: {\"a\":")
                .is_empty()
        );
        let ev = r.push(b"1}\r\n\r\n: comment\n\ndata: x\ndata: y\n\n");
        assert_eq!(ev, vec![b"{\"a\":1}".to_vec(), b"x\ny".to_vec()]);
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn messages_are_told_apart_without_parsing_results() {
        let ok = br#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hi"}],"isError":true}}"#;
        match peek(ok) {
            Some(Message::Result { id, result }) => {
                assert_eq!(id, "7");
                assert!(result.get().starts_with(r#"{"content""#));
                assert!(ResultFlags::of(result).is_error);
            }
            other => panic!("{other:?}"),
        }
        let err = br#"{"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"Unknown tool"}}"#;
        assert!(matches!(
            peek(err),
            Some(Message::Error { code: -32602, .. })
        ));
        let req = br#"{"jsonrpc":"2.0","id":"e1","method":"elicitation/create","params":{}}"#;
        assert!(
            matches!(peek(req), Some(Message::Request { method, .. }) if method == "elicitation/create")
        );
        let note = br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#;
        assert!(matches!(peek(note), Some(Message::Notification)));
        assert!(peek(b"[1]").is_none());
    }

    #[test]
    fn requests_and_refusals_are_valid_json() {
        let args = serde_json::value::RawValue::from_string(r#"{"x":[1,2]}"#.into()).unwrap();
        let body = request(3, "tools/call", &call_params("a.b\"c", Some(&args)));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["params"]["name"], "a.b\"c");
        assert_eq!(v["params"]["arguments"]["x"][1], 2);
        let id = serde_json::value::RawValue::from_string("\"e1\"".into()).unwrap();
        let r: serde_json::Value =
            serde_json::from_slice(&refusal(&id, "sampling/createMessage")).unwrap();
        assert_eq!(r["id"], "e1");
        assert_eq!(r["error"]["code"], -32601);
    }
}
