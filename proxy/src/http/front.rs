//! The `ProxyHttp` implementation: the spine of the request, a few lines per phase.

use std::sync::Arc;

use async_trait::async_trait;
use pingora::http::ResponseHeader;
use pingora::proxy::{ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType};

use crate::gateway::Gateway;
use crate::observe::RequestRecord;
use crate::reply::Reply;

pub struct HttpFront {
    gw: Arc<Gateway>,
}

impl HttpFront {
    pub fn new(gw: Arc<Gateway>) -> Self {
        Self { gw }
    }
}

pub struct Ctx {
    rec: RequestRecord,
    status: u16,
}

#[async_trait]
impl ProxyHttp for HttpFront {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            rec: RequestRecord::new(String::new()),
            status: 0,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> pingora::Result<bool> {
        // The headers are in: the connection's header deadline is met.
        super::connections::request_started();
        if session.is_process_shutting_down() || self.gw.is_draining() {
            // Draining (SIGTERM, or handing over to an upgraded process): answer this request,
            // then close the connection so the client's next request opens a new one (to the
            // new process) instead of racing the close of an idle keep-alive connection.
            session.set_keepalive(None);
        } else {
            let idle = self
                .gw
                .config
                .server
                .keepalive_timeout
                .get()
                .as_secs()
                .max(1);
            session.set_keepalive(Some(idle));
        }
        ctx.rec.request_id = new_request_id();
        ctx.rec.client_request_id = client_request_id(session);
        // Boxed: the routing future is large, and pingora sizes every connection's task (idle
        // ones included) for the largest future it may hold.
        let reply = Box::pin(super::route(&self.gw, session, &mut ctx.rec)).await;
        ctx.status = reply.status;
        // A streamed answer (`super::stream`) is written already.
        if session.response_written().is_none() {
            write_reply(session, reply, &ctx.rec.request_id).await?;
        }
        Ok(true)
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut Ctx,
    ) -> pingora::Result<Box<HttpPeer>> {
        Err(Error::explain(
            ErrorType::InternalError,
            "the gateway answers every request itself; nothing is proxied verbatim",
        ))
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        let status = match (ctx.status, e) {
            (0, Some(_)) => session
                .response_written()
                .map_or(499, |h| h.status.as_u16()),
            (s, _) => s,
        };
        ctx.rec.finish(status, &self.gw.audit);
    }
}

/// A fresh random request id: request ids are always the gateway's own, so a client cannot
/// make two audit lines share one or forge the id a parent call is known by.
fn new_request_id() -> String {
    let n: u128 = rand::random();
    format!("{n:032x}")
}

/// The client's own `x-request-id`, kept in a separate audit field when it is a short token.
fn client_request_id(session: &Session) -> Option<String> {
    session
        .req_header()
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
}

async fn write_reply(session: &mut Session, reply: Reply, request_id: &str) -> pingora::Result<()> {
    let h = response_header(&reply, request_id, Some(reply.body.len()))?;
    let empty = reply.body.is_empty();
    session.write_response_header(Box::new(h), empty).await?;
    if !empty {
        session.write_response_body(Some(reply.body), true).await?;
    }
    Ok(())
}

/// The header of `reply`, with the headers every answer carries; `content_length` when the
/// body is known whole (a streamed answer has none).
pub(super) fn response_header(
    reply: &Reply,
    request_id: &str,
    content_length: Option<usize>,
) -> pingora::Result<ResponseHeader> {
    let mut h = ResponseHeader::build(reply.status, Some(5 + reply.headers.len()))?;
    if let Some(ct) = reply.content_type {
        h.insert_header("content-type", ct)?;
    }
    if let Some(n) = content_length {
        h.insert_header("content-length", n.to_string())?;
    }
    h.insert_header("x-request-id", request_id)?;
    h.insert_header("cache-control", "no-store")?;
    for (k, v) in &reply.headers {
        h.append_header(*k, v.as_str())?;
    }
    Ok(h)
}
