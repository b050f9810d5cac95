//! Outbound HTTP for tool components (`wasi:http/outgoing-handler`), deny by default.
//!
//! Every component is linked with `wasi:http`, but its requests go through
//! [`OutboundHttp::send_request`], which refuses them unless the component's tool set grants
//! `capabilities.http` and the request's scheme, host and port match an allowed origin. Then
//! the host resolves the name and refuses internal addresses (loopback, private, link-local,
//! ...) unless the matching rule names that IP literally; pins plain-HTTP requests to the
//! address it checked (no DNS rebinding between check and connect); replaces any header of the
//! same name with the credential read from the rule's secret file (the guest never sees it);
//! bounds connect, first byte, between bytes and the whole exchange by the grant's `timeout`
//! and the call's deadline; caps the response body at `max_response`; and counts requests
//! against `max_requests` per call. Redirects are not followed: the guest gets the 3xx, and a
//! request it makes to the new location is checked like any other.
//!
//! Each request writes one `audit` line, one `http_request` span and one increment of
//! `mcp_sandbox_http_requests_total{component,host,outcome}` (`host` is the matching allowed
//! origin as written, or `-`, so guests cannot grow the label set).
//!
//! This module must not know tool sets: it gets a validated [`HttpPolicy`].

mod exchange;
mod policy;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderValue, Request, Response};
use http_body_util::BodyExt;
use tracing::Instrument;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::state::{CallContext, CallScope, Deadline};
use crate::telemetry::child_span;
use exchange::{CappedBody, Exchange, Outcome};
pub use policy::{HttpGrantError, HttpPolicy};
use policy::{OriginRule, is_internal, parse_ip};

/// The `wasi:http` hooks of one call's store.
pub struct OutboundHttp {
    policy: Option<Arc<HttpPolicy>>,
    scope: Arc<CallScope>,
    tool: Arc<str>,
    deadline: Deadline,
    /// The call's `guest_run` span (refreshed by the store before each `wasi:http` call).
    pub span: tracing::Span,
    sent: u32,
}

impl OutboundHttp {
    pub fn new(policy: Option<Arc<HttpPolicy>>, context: &CallContext) -> Self {
        Self {
            policy,
            scope: context.scope.clone(),
            tool: context.tool.clone(),
            deadline: context.deadline.clone(),
            span: tracing::Span::none(),
            sent: 0,
        }
    }

    /// Decides whether `request` may go out; the matching rule, or the refusal.
    fn admit(
        &mut self,
        request: &Request<WasiBody>,
        exchange: &mut Exchange,
    ) -> Result<(OriginRule, Arc<HttpPolicy>), (Outcome, Error)> {
        let Some(policy) = self.policy.clone() else {
            return Err((Outcome::NotGranted, Error::HttpRequestDenied));
        };
        exchange.component = policy.component.clone();
        let uri = request.uri();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let host = uri.host().unwrap_or_default();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let Some(rule) = policy.rule_for(https, host, port) else {
            return Err((Outcome::HostNotAllowed, Error::HttpRequestDenied));
        };
        exchange.rule = rule.label.clone();
        if self.sent >= policy.max_requests {
            return Err((Outcome::RequestLimit, Error::ConnectionLimitReached));
        }
        self.sent += 1;
        Ok((rule.clone(), policy))
    }
}

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), Error>> + Send>,
                    ),
                    Error,
                >,
            > + Send,
    > {
        let authority = request
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        let span = child_span!(&self.span, "http_request",
            http.request.method = %request.method(),
            server.address = %super::host::untrusted(&authority, 256),
            http.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty);
        let mut exchange = Exchange {
            scope: self.scope.clone(),
            tool: self.tool.clone(),
            component: Arc::from(""),
            method: request.method().to_string(),
            authority,
            rule: Arc::from("-"),
            started: Instant::now(),
            span: span.clone(),
            status: None,
            bytes: 0,
            outcome: Outcome::Error,
            detail: None,
        };
        let (rule, policy) = match self.admit(&request, &mut exchange) {
            Ok(admitted) => admitted,
            Err((outcome, error)) => {
                let error = exchange.fail(outcome, error);
                return Box::new(async move { Err(error) });
            }
        };
        let until = Instant::now() + policy.timeout;
        let until = until.min(self.deadline.get());
        let send = send(request, options, rule, policy.max_response, until, exchange);
        Box::new(send.instrument(span))
    }
}

type Sent = (
    Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
);

/// Resolves and checks the address, adds the credential, sends, and wraps the response body.
async fn send(
    mut request: Request<WasiBody>,
    options: Option<RequestOptions>,
    rule: OriginRule,
    max_response: u64,
    until: Instant,
    mut exchange: Exchange,
) -> Result<Sent, Error> {
    let left = || until.saturating_duration_since(Instant::now());
    let uri = request.uri().clone();
    let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
    let host = uri.host().unwrap_or_default().to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let addr = match resolve(&host, port, left()).await {
        Ok(addr) => addr,
        Err(e) => return Err(exchange.fail(Outcome::Error, e)),
    };
    if is_internal(addr.ip()) && rule.literal_ip() != Some(addr.ip()) {
        return Err(exchange.fail(Outcome::BlockedAddress, Error::DestinationIpProhibited));
    }
    // Plain HTTP connects to the address just checked; the Host header keeps the name. (HTTPS
    // connects by name, for the certificate check: see docs/security.md.)
    if !https && parse_ip(&host).is_none() {
        let mut parts = uri.into_parts();
        parts.authority = addr.to_string().parse().ok();
        if let Ok(pinned) = http::Uri::from_parts(parts) {
            *request.uri_mut() = pinned;
        }
    }
    if let Some(inject) = &rule.inject {
        let value = match tokio::fs::read_to_string(&inject.secret_file).await {
            Ok(text) => {
                let text = text.strip_suffix('\n').unwrap_or(&text);
                let text = text.strip_suffix('\r').unwrap_or(text);
                HeaderValue::from_str(text).ok()
            }
            Err(_) => None,
        };
        let Some(mut value) = value else {
            return Err(exchange.fail(
                Outcome::Credential,
                Error::InternalError(Some(
                    "the host could not read the credential for this origin".into(),
                )),
            ));
        };
        value.set_sensitive(true);
        // `insert` replaces every value the guest set under this name.
        request.headers_mut().insert(inject.header.clone(), value);
    }
    let bound = |asked: Option<Duration>| Some(asked.unwrap_or(Duration::MAX).min(left()));
    let options = options.unwrap_or_default();
    let options = RequestOptions {
        connect_timeout: bound(options.connect_timeout),
        first_byte_timeout: bound(options.first_byte_timeout),
        between_bytes_timeout: bound(options.between_bytes_timeout),
    };
    let sent = tokio::time::timeout(
        left(),
        wasmtime_wasi_http::default_send_request(request, Some(options)),
    )
    .await;
    let (response, io) = match sent {
        Ok(Ok(sent)) => sent,
        Ok(Err(e)) => {
            let outcome = match e {
                Error::ConnectionTimeout | Error::ConnectionReadTimeout => Outcome::Timeout,
                _ => Outcome::Error,
            };
            return Err(exchange.fail(outcome, e));
        }
        Err(_) => return Err(exchange.fail(Outcome::Timeout, Error::HttpResponseTimeout)),
    };
    exchange.status = Some(response.status().as_u16());
    if let Some(length) = content_length(response.headers())
        && length > max_response
    {
        return Err(exchange.fail(Outcome::TooLarge, Error::HttpResponseBodySize(Some(length))));
    }
    exchange.outcome = Outcome::Incomplete;
    let response = response.map(|body| {
        CappedBody {
            inner: body.boxed_unsync(),
            cap: max_response,
            until: Box::pin(tokio::time::sleep_until(until.into())),
            exchange,
            done: false,
        }
        .boxed_unsync()
    });
    Ok((response, Box::new(io)))
}

/// The first address of `host`, within `limit`.
async fn resolve(host: &str, port: u16, limit: Duration) -> Result<SocketAddr, Error> {
    if let Some(ip) = parse_ip(host) {
        return Ok(SocketAddr::new(ip, port));
    }
    let lookup = tokio::net::lookup_host((host, port));
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(limit, lookup).await {
        Err(_) => return Err(Error::DnsTimeout),
        Ok(Err(_)) => {
            return Err(Error::DnsError {
                rcode: None,
                info_code: None,
            });
        }
        Ok(Ok(addrs)) => addrs.collect(),
    };
    // A name that resolves to any internal address is judged by that one: it cannot slip an
    // internal address past the check by listing a public one first.
    addrs
        .iter()
        .find(|a| is_internal(a.ip()))
        .or(addrs.first())
        .copied()
        .ok_or(Error::DestinationNotFound)
}

fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
