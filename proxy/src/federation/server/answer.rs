//! Reading an upstream's answers: plain JSON or a `text/event-stream`, from which the
//! response to the gateway's request is read. Every answer is bounded in size
//! (`max_response`, counted across a whole stream); the result is kept as the raw JSON the
//! upstream sent.
//!
//! On a stream, log notifications are skipped; requests of the upstream's own (elicitation,
//! sampling, roots) are refused at once with a JSON-RPC error ([`wire::refusal`]); and when the
//! call's client asked for progress, each `notifications/progress` carrying the gateway's token
//! for the call is handed to the client's sink with the client's own token. After the response
//! the rest of the stream is drained in the background, so the connection goes back to the
//! pool.

use std::time::Duration;

use serde_json::value::RawValue;

use super::{Forward, Pending, Server, Session};
use crate::federation::CallContext;
use crate::federation::error::FederationError;
use crate::federation::wire::{self, Message, SseReader};

impl Server {
    pub(super) fn send_error(&self, e: &reqwest::Error) -> FederationError {
        let detail = mcp_telemetry::error_chain(e);
        if e.is_connect() {
            FederationError::Connect {
                url: self.url.to_string(),
                detail,
            }
        } else if e.is_timeout() {
            FederationError::Timeout(self.request_timeout)
        } else {
            FederationError::Broken(detail)
        }
    }

    pub(super) async fn status_error(&self, pending: Pending) -> FederationError {
        let status = pending.resp.status().as_u16();
        let body = self.read_body(pending).await.unwrap_or_default();
        let text: String = String::from_utf8_lossy(&body[..body.len().min(200)])
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        FederationError::Status {
            status,
            body: text.trim().to_owned(),
        }
    }

    async fn read_body(&self, mut pending: Pending) -> Result<Vec<u8>, FederationError> {
        let mut body = Vec::new();
        while let Some(chunk) = pending
            .resp
            .chunk()
            .await
            .map_err(|e| FederationError::Broken(mcp_telemetry::error_chain(&e)))?
        {
            if body.len() + chunk.len() > self.max_response {
                return Err(FederationError::TooLarge {
                    max: self.max_response,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The result of request `id` from a JSON or an event-stream answer; the progress of the
    /// call on the way, if its client wants it.
    pub(super) async fn read_response(
        &self,
        mut pending: Pending,
        id: u64,
        session: &Session,
        ctx: &CallContext<'_>,
        progress: Option<&Forward>,
    ) -> Result<Box<RawValue>, FederationError> {
        let sse = pending
            .resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/event-stream"));
        if !sse {
            let body = self.read_body(pending).await?;
            return self.final_message(&body, id).and_then(|r| {
                r.ok_or_else(|| FederationError::Protocol("no response to the request".into()))
            });
        }
        let mut reader = SseReader::default();
        let mut read = 0usize;
        while let Some(chunk) = pending
            .resp
            .chunk()
            .await
            .map_err(|e| FederationError::Broken(mcp_telemetry::error_chain(&e)))?
        {
            read += chunk.len();
            if read > self.max_response {
                return Err(FederationError::TooLarge {
                    max: self.max_response,
                });
            }
            for event in reader.push(&chunk) {
                let message = wire::peek(&event);
                if message.is_none() {
                    // Not JSON-RPC: e.g. a resumability priming event with empty data.
                    continue;
                }
                if let Some(Message::Request { id: rid, method }) = message {
                    tracing::info!(mcp_server = %self.name, method = %method,
                        "refusing a request from an upstream MCP server (not forwarded to clients)");
                    let refusal = wire::refusal(rid, &method);
                    // Its answer (202) carries nothing the call needs.
                    let _ = self.post(refusal, Some(session), ctx).await;
                    continue;
                }
                if let (
                    Some(fwd),
                    Some(Message::Notification {
                        method,
                        params: Some(params),
                    }),
                ) = (progress, &message)
                    && method == "notifications/progress"
                {
                    let client = &fwd.sink.client_token;
                    if let Some(note) = wire::progress_for_client(params, fwd.token, client) {
                        (fwd.sink.push)(note);
                    }
                    continue;
                }
                if let Some(result) = self.final_message(&event, id)? {
                    // The server ends the stream right after the response: read that end in
                    // the background, so the connection goes back to the pool (dropping the
                    // stream unread would close it) and the caller does not wait for it.
                    tokio::spawn(drain(pending.resp, self.max_response, self.request_timeout));
                    return Ok(result);
                }
            }
        }
        Err(FederationError::Protocol(
            "the event stream ended without a response".into(),
        ))
    }

    /// The result in `msg` if it is the response to `id`; `None` for other messages.
    fn final_message(&self, msg: &[u8], id: u64) -> Result<Option<Box<RawValue>>, FederationError> {
        let want = id.to_string();
        match wire::peek(msg) {
            Some(Message::Result { id: got, result }) if got == want => Ok(Some(result.to_owned())),
            Some(Message::Error {
                id: got,
                code,
                message,
            }) if got == want => Err(FederationError::Rpc {
                code,
                message: message.chars().take(500).collect(),
            }),
            Some(_) => Ok(None),
            None => Err(FederationError::Protocol("not a JSON-RPC message".into())),
        }
    }
}

/// Reads the rest of a response (at most `max` bytes, within `timeout`) and drops it.
async fn drain(mut resp: reqwest::Response, max: usize, timeout: Duration) {
    let rest = async {
        let mut read = 0usize;
        while let Ok(Some(chunk)) = resp.chunk().await {
            read += chunk.len();
            if read > max {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(timeout, rest).await;
}
