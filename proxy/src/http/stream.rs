//! Streaming a `tools/call` answer as Server-Sent Events, so a long upstream call's progress
//! reaches the client while it runs.
//!
//! When a client's `tools/call` carries `params._meta.progressToken` and its `Accept` lists
//! `text/event-stream` ([`wanted`]), the call runs with a [`ProgressSink`] in scope
//! ([`wire::PROGRESS`]): the federation client hands it each `notifications/progress` of the
//! upstream for this call, already carrying the client's own token. The first one opens the
//! answer (`200`, `Content-Type: text/event-stream`, chunked) and is sent as an event; the
//! ones after it follow; the JSON-RPC response is the last event, and the stream ends. A call
//! that sends no progress before its result (every wasm tool, an upstream answering plain
//! JSON, an error found before the call leaves) is answered exactly as without streaming.
//!
//! Bounds: events wait in a queue of [`QUEUE`] per call; when a slow client lets it fill, the
//! newest queued progress is replaced by the newer one (progress supersedes progress), so
//! memory stays bounded and the client sees the latest; the final response is never queued or
//! dropped. Each write to the client has `limits.body_read_timeout`; a client that takes
//! longer, or leaves, ends the call (its upstream request is dropped). The call's own deadline
//! is the federation's `request_timeout`, as without streaming, and the request keeps its
//! admission place and connection until the stream ends.
//!
//! This module must not read the call's result or change it: it frames what the MCP layer
//! answered.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::Notify;

use crate::federation::wire::{self, ProgressSink};
use crate::gateway::Gateway;
use crate::mcp::Incoming;
use crate::observe::{RequestRecord, Status};
use crate::reply::Reply;

/// Progress events queued per call at most.
pub const QUEUE: usize = 16;
/// Longest client `progressToken` streamed for (it is repeated in every event); a longer one
/// gets the plain JSON answer.
const MAX_TOKEN: usize = 256;
/// HTTP status recorded for a stream the client stopped reading (the answer had begun).
const CLIENT_GONE: u16 = 499;

#[derive(Deserialize)]
struct Call<'a> {
    #[serde(borrow)]
    method: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    params: Option<Params<'a>>,
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(rename = "_meta", borrow, default)]
    meta: Option<Meta<'a>>,
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(rename = "progressToken", borrow, default)]
    token: Option<&'a RawValue>,
}

/// The client's progress token, if this request may be answered with a stream: a
/// `tools/call` request (not a notification) whose `params._meta.progressToken` is a string
/// or an integer, from a client whose `Accept` (lower-cased) lists `text/event-stream`.
pub fn wanted(accept: &str, body: &[u8]) -> Option<Box<RawValue>> {
    const KEY: &[u8] = b"progressToken";
    if !accept.contains("text/event-stream") || memchr::memmem::find(body, KEY).is_none() {
        return None;
    }
    let call: Call<'_> = serde_json::from_slice(body).ok()?;
    call.id?;
    if call.method != "tools/call" {
        return None;
    }
    let token = call.params?.meta?.token?;
    let raw = token.get();
    let integer = raw
        .bytes()
        .enumerate()
        .all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'-'));
    let usable = raw.len() <= MAX_TOKEN && (raw.starts_with('"') || (integer && raw != "-"));
    usable.then(|| token.to_owned())
}

/// The header values of an [`Incoming`], copied, so the session is free to write the answer
/// while the call runs.
pub struct CopiedHeaders {
    protocol_version: Option<String>,
    session_id: Option<String>,
    mcp_method: Option<String>,
    mcp_name: Option<String>,
    duplicated_header: Option<&'static str>,
    traceparent: Option<String>,
    sse: bool,
}

impl CopiedHeaders {
    pub fn of(inc: &Incoming<'_>) -> Self {
        let own = |v: Option<&str>| v.map(str::to_owned);
        Self {
            protocol_version: own(inc.protocol_version),
            session_id: own(inc.session_id),
            mcp_method: own(inc.mcp_method),
            mcp_name: own(inc.mcp_name),
            duplicated_header: inc.duplicated_header,
            traceparent: own(inc.traceparent),
            sse: inc.sse,
        }
    }

    pub fn incoming<'a>(&'a self, body: &'a [u8]) -> Incoming<'a> {
        Incoming {
            body,
            protocol_version: self.protocol_version.as_deref(),
            session_id: self.session_id.as_deref(),
            mcp_method: self.mcp_method.as_deref(),
            mcp_name: self.mcp_name.as_deref(),
            duplicated_header: self.duplicated_header,
            traceparent: self.traceparent.as_deref(),
            sse: self.sse,
        }
    }
}

/// The header of a streamed answer: what every answer carries ([`super::decorate`],
/// [`super::front`]), `text/event-stream`, chunked on HTTP/1.1. Built before the call starts,
/// while the request record can still be read.
pub fn response_head(
    gw: &Gateway,
    session: &Session,
    rec: &RequestRecord,
) -> pingora::Result<Box<ResponseHeader>> {
    let origin = super::header(session, "origin")
        .filter(|o| gw.config.allowed_origins.iter().any(|a| a == o));
    let reply = super::decorate(
        Reply::new(200, Some("text/event-stream"), Bytes::new()),
        rec,
        origin,
    );
    let mut head = super::front::response_header(&reply, &rec.request_id, None)?;
    if session.req_header().version == http::Version::HTTP_11 {
        head.insert_header("transfer-encoding", "chunked")?;
    }
    Ok(Box::new(head))
}

/// Runs `call` (the MCP layer's handling of the request) with progress forwarded to the
/// client as described in the module doc. Returns the call's reply when nothing was streamed
/// (to be written as usual); otherwise the answer has been written, and the reply only
/// records the status.
pub async fn serve<F>(
    gw: &Gateway,
    session: &mut Session,
    client_token: Box<RawValue>,
    head: Box<ResponseHeader>,
    call: F,
) -> Reply
where
    F: Future<Output = Reply>,
{
    let queue = Arc::new(Queue::default());
    let sink = {
        let queue = queue.clone();
        Arc::new(ProgressSink {
            client_token,
            push: Box::new(move |event| queue.push(event.into())),
        })
    };
    let call = wire::PROGRESS.scope(sink, async {
        let reply = call.await;
        queue.close();
        Ok::<_, Box<pingora::Error>>(reply)
    });
    let write_timeout = gw.config.limits.body_read_timeout.get();
    let mut head = Some(head);
    let pump = pump(session, &queue, &mut head, write_timeout);
    let reply = match tokio::try_join!(call, pump) {
        Ok((reply, ())) => reply,
        Err(e) => {
            tracing::debug!(error = %e, "the client stopped reading a progress stream; call dropped");
            session.set_keepalive(None);
            return Reply::empty(CLIENT_GONE);
        }
    };
    if head.is_some() {
        // No progress came before the result: the plain answer, as without streaming.
        return reply;
    }
    let last = if reply.content_type == Some("text/event-stream") {
        reply.body
    } else {
        event(&reply.body)
    };
    let wrote = timed(write_timeout, session.write_response_body(Some(last), true)).await;
    if wrote.is_err() {
        session.set_keepalive(None);
        return Reply::empty(CLIENT_GONE);
    }
    Reply::empty(200)
}

/// Records on the request a stream the client left before its end (the call was dropped, or
/// its result could not be delivered), which the audit line must not show as a success; a
/// call that failed keeps its own error.
pub fn recorded(reply: Reply, rec: &mut RequestRecord) -> Reply {
    if reply.status == CLIENT_GONE && rec.error.is_none() {
        rec.fail(Status::Error, "client_disconnected");
    }
    reply
}

/// Writes queued progress events until the call is done: the header before the first.
async fn pump(
    session: &mut Session,
    queue: &Queue,
    head: &mut Option<Box<ResponseHeader>>,
    write_timeout: Duration,
) -> pingora::Result<()> {
    while let Some(data) = queue.next().await {
        if let Some(h) = head.take() {
            if session.req_header().version < http::Version::HTTP_11 {
                // No chunked encoding: the stream ends with the connection.
                session.set_keepalive(None);
            }
            timed(write_timeout, session.write_response_header(h, false)).await?;
        }
        timed(
            write_timeout,
            session.write_response_body(Some(event(&data)), false),
        )
        .await?;
    }
    Ok(())
}

async fn timed(
    limit: Duration,
    write: impl Future<Output = pingora::Result<()>>,
) -> pingora::Result<()> {
    tokio::time::timeout(limit, write)
        .await
        .unwrap_or_else(|_| {
            pingora::Error::e_explain(
                pingora::ErrorType::WriteTimedout,
                "writing a progress stream to the client",
            )
        })
}

/// One SSE `message` event carrying `json` (a line break in it starts another `data:` line,
/// which the client joins back with a line break).
fn event(json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + 24);
    out.extend_from_slice(b"event: message\n");
    for line in json.split(|&b| b == b'\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.push(b'\n');
    }
    out.push(b'\n');
    out.into()
}

/// A call's progress events on their way to the client: at most [`QUEUE`], the newest
/// replaced when full.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    ready: Notify,
}

#[derive(Default)]
struct QueueState {
    events: VecDeque<Bytes>,
    closed: bool,
    coalesced: u64,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, event: Bytes) {
        {
            let mut s = self.lock();
            if s.closed {
                return;
            }
            if s.events.len() >= QUEUE {
                if let Some(newest) = s.events.back_mut() {
                    *newest = event;
                }
                s.coalesced += 1;
            } else {
                s.events.push_back(event);
            }
        }
        self.ready.notify_one();
    }

    /// No more events will come; those queued are still taken.
    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    /// The next event; `None` once closed and empty.
    async fn next(&self) -> Option<Bytes> {
        loop {
            {
                let mut s = self.lock();
                if let Some(e) = s.events.pop_front() {
                    return Some(e);
                }
                if s.closed {
                    if s.coalesced > 0 {
                        tracing::debug!(
                            coalesced = s.coalesced,
                            "progress events replaced by newer ones for a slow client"
                        );
                    }
                    return None;
                }
            }
            // A push or close between the check and here leaves a permit: no wake-up is lost.
            self.ready.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"up__slow","_meta":{"progressToken":TOKEN}}}"#;

    fn call(token: &str) -> Vec<u8> {
        CALL.replace("TOKEN", token).into_bytes()
    }

    #[test]
    fn streams_only_calls_with_a_usable_token_from_clients_accepting_event_streams() {
        let sse = "application/json, text/event-stream";
        assert_eq!(wanted(sse, &call("\"abc\"")).unwrap().get(), "\"abc\"");
        assert_eq!(wanted(sse, &call("-17")).unwrap().get(), "-17");
        assert!(wanted("application/json", &call("1")).is_none());
        assert!(wanted(sse, &call("1.5")).is_none(), "not an integer");
        assert!(wanted(sse, &call("{}")).is_none());
        assert!(wanted(sse, &call("null")).is_none());
        let long = format!("\"{}\"", "x".repeat(MAX_TOKEN));
        assert!(wanted(sse, &call(&long)).is_none());
        let list = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"progressToken":1}}}"#;
        assert!(wanted(sse, list).is_none());
        let note =
            br#"{"jsonrpc":"2.0","method":"tools/call","params":{"_meta":{"progressToken":1}}}"#;
        assert!(wanted(sse, note).is_none(), "a notification has no answer");
        let args = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"progressToken":1}}}"#;
        assert!(wanted(sse, args).is_none(), "only params._meta counts");
    }

    #[test]
    fn events_keep_line_breaks_as_data_lines() {
        assert_eq!(
            &event(b"{\"a\":1}")[..],
            b"event: message\ndata: {\"a\":1}\n\n"
        );
        let mut reader = wire::SseReader::default();
        let json = b"{\n  \"a\": 1\r\n}";
        let got = reader.push(&event(json));
        assert_eq!(got, vec![b"{\n  \"a\": 1\n}".to_vec()]);
    }

    #[tokio::test]
    async fn a_full_queue_keeps_the_newest_progress_and_ends_after_close() {
        let q = Queue::default();
        for i in 0..QUEUE + 10 {
            q.push(Bytes::from(i.to_string()));
        }
        q.close();
        q.push(Bytes::from_static(b"late"));
        let mut got = Vec::new();
        while let Some(e) = q.next().await {
            got.push(String::from_utf8(e.to_vec()).unwrap());
        }
        assert_eq!(got.len(), QUEUE);
        assert_eq!(got[0], "0");
        assert_eq!(got[QUEUE - 2], (QUEUE - 2).to_string());
        assert_eq!(
            got[QUEUE - 1],
            (QUEUE + 9).to_string(),
            "the newest replaced the last"
        );
    }

    #[tokio::test]
    async fn a_waiting_reader_wakes_for_a_push_and_for_close() {
        let q = Arc::new(Queue::default());
        let reader = {
            let q = q.clone();
            tokio::spawn(async move { (q.next().await, q.next().await) })
        };
        tokio::task::yield_now().await;
        q.push(Bytes::from_static(b"one"));
        q.close();
        let (first, second) = reader.await.unwrap();
        assert_eq!(first.as_deref(), Some(&b"one"[..]));
        assert!(second.is_none());
    }
}
