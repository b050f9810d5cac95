//! One outbound request as operators see it: the audit line, the metric and the span, written
//! once when the exchange ends (refused, failed, or its response body read or dropped), and
//! the response body wrapper that enforces the size cap and the request's time limit.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use wasmtime_wasi_http::{Error, WasiBody};

use crate::runtime::host::untrusted;
use crate::runtime::state::CallScope;

/// How an exchange ended: the audit line's `outcome` and the metric's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The response body was read to its end.
    Ok,
    /// The tool set grants this component no outbound HTTP.
    NotGranted,
    /// No allowed origin matches the request.
    HostNotAllowed,
    /// The call already made its `max_requests`.
    RequestLimit,
    /// The host resolves to an internal address the allow-list does not name.
    BlockedAddress,
    /// The response (or its `Content-Length`) passed `max_response`.
    TooLarge,
    /// The request's time limit (or the call's deadline) passed.
    Timeout,
    /// The credential's secret file could not be read.
    Credential,
    /// The guest dropped the response before reading all of its body.
    Incomplete,
    /// Connecting, DNS, TLS or HTTP failed.
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::NotGranted => "not_granted",
            Outcome::HostNotAllowed => "host_not_allowed",
            Outcome::RequestLimit => "request_limit",
            Outcome::BlockedAddress => "blocked_address",
            Outcome::TooLarge => "too_large",
            Outcome::Timeout => "timeout",
            Outcome::Credential => "credential_error",
            Outcome::Incomplete => "incomplete",
            Outcome::Error => "error",
        }
    }
}

/// The record of one request, written when dropped.
pub struct Exchange {
    pub scope: Arc<CallScope>,
    pub tool: Arc<str>,
    /// The component's name, or empty when it has no grant.
    pub component: Arc<str>,
    pub method: String,
    /// `host:port` as the guest asked for it.
    pub authority: String,
    /// The allowed origin that matched, or `-`.
    pub rule: Arc<str>,
    pub started: Instant,
    pub span: tracing::Span,
    pub status: Option<u16>,
    pub bytes: u64,
    pub outcome: Outcome,
    /// What went wrong, for the audit line.
    pub detail: Option<String>,
}

impl Exchange {
    /// Ends the exchange with `outcome` (and the error the guest is given).
    pub fn fail(mut self, outcome: Outcome, error: Error) -> Error {
        self.outcome = outcome;
        self.detail = Some(format!("{error:?}"));
        error
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let caller = &self.scope.caller;
        let outcome = self.outcome.as_str();
        metrics::counter!("mcp_sandbox_http_requests_total",
            "component" => self.component.to_string(),
            "host" => self.rule.to_string(),
            "outcome" => outcome)
        .increment(1);
        if let Some(status) = self.status {
            self.span.record("http.response.status_code", status);
        }
        if self.outcome != Outcome::Ok {
            mcp_telemetry::record_error(&self.span, outcome);
        }
        tracing::info!(
            target: "audit",
            event = "outbound_http",
            user = %untrusted(&caller.user, 256),
            principal = %untrusted(caller.principal.as_deref().unwrap_or(""), 512),
            tool = %self.tool,
            component = %self.component,
            method = %untrusted(&self.method, 32),
            host = %untrusted(&self.authority, 256),
            rule = %self.rule,
            status = self.status.unwrap_or(0),
            bytes = self.bytes,
            outcome,
            detail = %self.detail.as_deref().unwrap_or(""),
            duration_us = self.started.elapsed().as_micros() as u64,
            parent_request_id = %untrusted(&caller.request_id, 256),
            "outbound HTTP request"
        );
    }
}

/// A response body cut at `cap` bytes and at `until`, recording what was read.
pub struct CappedBody {
    pub inner: WasiBody,
    pub cap: u64,
    pub until: Pin<Box<tokio::time::Sleep>>,
    pub exchange: Exchange,
    pub done: bool,
}

impl CappedBody {
    fn end(
        &mut self,
        outcome: Outcome,
        error: Option<Error>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.done = true;
        self.exchange.outcome = outcome;
        match error {
            Some(e) => {
                self.exchange.detail = Some(format!("{e:?}"));
                Poll::Ready(Some(Err(e)))
            }
            None => Poll::Ready(None),
        }
    }
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.exchange.bytes += data.len() as u64;
                    if this.exchange.bytes > this.cap {
                        let cap = this.cap;
                        return this.end(
                            Outcome::TooLarge,
                            Some(Error::HttpResponseBodySize(Some(cap))),
                        );
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                let outcome = match e {
                    Error::ConnectionReadTimeout | Error::HttpResponseTimeout => Outcome::Timeout,
                    _ => Outcome::Error,
                };
                this.end(outcome, Some(e))
            }
            Poll::Ready(None) => this.end(Outcome::Ok, None),
            Poll::Pending => match this.until.as_mut().poll(cx) {
                Poll::Ready(()) => this.end(Outcome::Timeout, Some(Error::HttpResponseTimeout)),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for CappedBody {
    fn drop(&mut self) {
        if !self.done {
            self.exchange.outcome = if self.inner.is_end_stream() {
                Outcome::Ok
            } else {
                Outcome::Incomplete
            };
        }
    }
}
