//! What travels between the gateway and an upstream MCP server, without building JSON trees of
//! the upstream's results: the requests the gateway writes, a Server-Sent Events reader for
//! upstreams that answer a POST with `text/event-stream`, a look at each JSON-RPC message
//! that borrows its parts from the bytes, and the rewriting of an upstream's
//! `notifications/progress` for the client that asked for it ([`PROGRESS`]).

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

/// `tools/call` params for `name` with the caller's arguments, as they came (raw JSON), and
/// the gateway's own progress token for the call when its client asked for progress.
pub fn call_params(name: &str, arguments: Option<&RawValue>, progress: Option<u64>) -> String {
    let name = serde_json::to_string(name).unwrap_or_else(|_| "\"\"".into());
    let arguments = arguments.map_or("{}", RawValue::get);
    match progress {
        Some(token) => format!(
            r#"{{"name":{name},"arguments":{arguments},"_meta":{{"progressToken":{token}}}}}"#
        ),
        None => format!(r#"{{"name":{name},"arguments":{arguments}}}"#),
    }
}

/// Where the progress of the `tools/call` being served goes: set by the HTTP layer around a
/// call whose client sent a `progressToken` and accepts an event stream
/// ([`crate::http`]'s `stream`), read by [`super::server::Server::call_tool`]. A task-local
/// value rather than a parameter so the MCP layer between the two needs no change: it runs
/// the call in the request's own task, where the value is visible.
pub struct ProgressSink {
    /// The client's own `progressToken`, as it sent it (a JSON string or integer).
    pub client_token: Box<RawValue>,
    /// Takes one `notifications/progress` message for the client, ready to send. Must not
    /// block: the HTTP layer queues it (bounded) for a client that may read slowly.
    pub push: Box<dyn Fn(Vec<u8>) + Send + Sync>,
}

tokio::task_local! {
    /// The progress sink of the call being served in this task, if its client wants progress.
    pub static PROGRESS: std::sync::Arc<ProgressSink>;
}

#[derive(Deserialize)]
struct ProgressParams<'a> {
    #[serde(rename = "progressToken", borrow)]
    token: &'a RawValue,
    progress: serde_json::Number,
    #[serde(default)]
    total: Option<serde_json::Number>,
    #[serde(default)]
    message: Option<String>,
}

/// The client's `notifications/progress` for an upstream's, if the upstream's carries `ours`
/// (the token the gateway sent it for this call): the token becomes the client's own, and
/// only `progress`, `total` and `message` (MCP 2025-03-26 and later) are passed on, so nothing
/// else of the upstream's message (its `_meta`, another request's token) reaches the client.
pub fn progress_for_client(
    params: &RawValue,
    ours: u64,
    client_token: &RawValue,
) -> Option<Vec<u8>> {
    let p: ProgressParams<'_> = serde_json::from_str(params.get()).ok()?;
    if p.token.get().trim() != ours.to_string() {
        return None;
    }
    let mut out = format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progressToken":{},"progress":{}"#,
        client_token.get(),
        p.progress
    );
    if let Some(total) = p.total {
        out.push_str(&format!(r#","total":{total}"#));
    }
    if let Some(message) = p.message {
        let message: String = message.chars().take(1000).collect();
        let message = serde_json::to_string(&message).ok()?;
        out.push_str(&format!(r#","message":{message}"#));
    }
    out.push_str("}}");
    Some(out.into_bytes())
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
    params: Option<&'a RawValue>,
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
    /// A notification (e.g. `notifications/progress`), with its params as they came.
    Notification {
        method: Cow<'a, str>,
        params: Option<&'a RawValue>,
    },
}

/// Reads one message; `None` when it is not JSON-RPC.
pub fn peek(bytes: &[u8]) -> Option<Message<'_>> {
    let p: Peek<'_> = serde_json::from_slice(bytes).ok()?;
    match (p.id, p.method, p.result, p.error) {
        (Some(id), Some(method), _, _) => Some(Message::Request { id, method }),
        (None, Some(method), _, _) => Some(Message::Notification {
            method,
            params: p.params,
        }),
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
        Self::of_str(result.get())
    }

    pub fn of_str(result: &str) -> Self {
        serde_json::from_str(result).unwrap_or_default()
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
        assert!(matches!(
            peek(note),
            Some(Message::Notification { method, params: Some(_) }) if method == "notifications/progress"
        ));
        assert!(peek(b"[1]").is_none());
    }

    #[test]
    fn progress_is_passed_on_with_the_clients_token_only_for_our_token() {
        let raw = |s: &str| serde_json::value::RawValue::from_string(s.into()).unwrap();
        let client = raw(r#""client-token-1""#);
        let params = raw(
            r#"{"progressToken":41,"progress":2,"total":5.0,"message":"step \"2\"","_meta":{"x":1}}"#,
        );
        let out = progress_for_client(&params, 41, &client).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["method"], "notifications/progress");
        assert_eq!(v["params"]["progressToken"], "client-token-1");
        assert_eq!(v["params"]["progress"], 2);
        assert_eq!(v["params"]["total"], 5.0);
        assert_eq!(v["params"]["message"], "step \"2\"");
        assert!(v["params"].get("_meta").is_none(), "{v}");
        assert!(v.get("id").is_none());
        // Another request's token, or no progress number: nothing for this client.
        assert!(progress_for_client(&params, 42, &client).is_none());
        assert!(progress_for_client(&raw(r#"{"progressToken":41}"#), 41, &client).is_none());
        let bare = progress_for_client(&raw(r#"{"progressToken":41,"progress":1}"#), 41, &raw("7"))
            .unwrap();
        assert_eq!(
            bare,
            br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":7,"progress":1}}"#
        );
    }

    #[test]
    fn requests_and_refusals_are_valid_json() {
        let args = serde_json::value::RawValue::from_string(r#"{"x":[1,2]}"#.into()).unwrap();
        let body = request(3, "tools/call", &call_params("a.b\"c", Some(&args), None));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["params"]["name"], "a.b\"c");
        assert_eq!(v["params"]["arguments"]["x"][1], 2);
        assert!(v["params"].get("_meta").is_none());
        let body = request(4, "tools/call", &call_params("t", None, Some(77)));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["params"]["_meta"]["progressToken"], 77);
        assert_eq!(v["params"]["arguments"], serde_json::json!({}));
        let id = serde_json::value::RawValue::from_string("\"e1\"".into()).unwrap();
        let r: serde_json::Value =
            serde_json::from_slice(&refusal(&id, "sampling/createMessage")).unwrap();
        assert_eq!(r["id"], "e1");
        assert_eq!(r["error"]["code"], -32601);
    }
}
