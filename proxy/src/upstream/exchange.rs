//! One request to a sandbox over HTTP/1.1: [`Upstreams::send`] (pooled, for the request path)
//! and [`Upstreams::send_unpooled`] (a connection of its own), the whole exchange within the
//! caller's timeout — take or open a connection, write head and body in one write, read the
//! answer up to the size cap, give the connection back — and the retry on another connection
//! when a kept one turns out closed before any byte of the answer. Owns neither the replica
//! choice (see [`Upstreams::with_failover`]) nor the idle list ([`super::pool`]).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pingora::http::RequestHeader;
use pingora::protocols::http::v1::client::HttpSession;
use pingora::upstreams::peer::Peer as _;
use tokio::io::AsyncWriteExt as _;

use super::{Answer, MAX_RESPONSE, Target, UpstreamError, Upstreams, tls};
use crate::config::SandboxUrl;

/// Whether a request takes and gives back a pooled connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pool {
    Use,
    Bypass,
}

/// How one exchange failed: whether another connection may be tried.
enum Exchange {
    Retryable(UpstreamError),
    Fatal(UpstreamError),
}

impl Upstreams {
    /// Sends one request to sandbox `i` over a pooled connection and reads the whole answer,
    /// within `timeout`: for the request path, on the server's runtime.
    pub async fn send(
        &self,
        i: usize,
        method: &str,
        path: &str,
        body: Option<Bytes>,
        headers: &[(&'static str, &str)],
        timeout: Duration,
    ) -> Result<Answer, UpstreamError> {
        self.send_with(Pool::Use, i, method, path, body, headers, timeout)
            .await
    }

    /// [`Self::send`] on a connection of its own, closed after the answer: for work on
    /// another runtime than the server's (the catalog refresh of the background service). A
    /// connection stays registered with the reactor of the runtime that opened it: pooled, a
    /// background connection would make every later call's reads wake a thread of the
    /// background runtime first, which then wakes the server's (two thread hand-offs per call).
    pub async fn send_unpooled(
        &self,
        i: usize,
        method: &str,
        path: &str,
        body: Option<Bytes>,
        headers: &[(&'static str, &str)],
        timeout: Duration,
    ) -> Result<Answer, UpstreamError> {
        self.send_with(Pool::Bypass, i, method, path, body, headers, timeout)
            .await
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "the arguments of send, and whether to pool"
    )]
    async fn send_with(
        &self,
        pool: Pool,
        i: usize,
        method: &str,
        path: &str,
        body: Option<Bytes>,
        headers: &[(&'static str, &str)],
        timeout: Duration,
    ) -> Result<Answer, UpstreamError> {
        let target = &self.targets[i];
        let attempt = async {
            // A pooled connection the sandbox has closed (e.g. it restarted) fails before any
            // byte of the answer arrives; such a failure is retried on another connection.
            // If the sandbox then refuses connections, it died with the request possibly
            // running: the first error stands, and it is not a connect error, so the caller
            // does not run the call again on another replica.
            let mut last = None;
            for _ in 0..3 {
                match self
                    .exchange(pool, target, method, path, body.clone(), headers)
                    .await
                {
                    Ok(a) => return Ok(a),
                    Err(Exchange::Retryable(e)) => last = Some(e),
                    Err(Exchange::Fatal(e @ UpstreamError::Connect { .. })) => {
                        return Err(last.unwrap_or(e));
                    }
                    Err(Exchange::Fatal(e)) => return Err(e),
                }
            }
            Err(last.unwrap_or_else(|| UpstreamError::Broken {
                sandbox: target.name.clone(),
                detail: "no attempt made".into(),
            }))
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(UpstreamError::Timeout {
                sandbox: target.name.clone(),
                timeout,
            }),
        }
    }

    async fn exchange(
        &self,
        pool: Pool,
        target: &Target,
        method: &str,
        path: &str,
        body: Option<Bytes>,
        headers: &[(&'static str, &str)],
    ) -> Result<Answer, Exchange> {
        let broken = |reused: bool, before_answer: bool, e: Box<pingora::Error>| {
            // TLS 1.3: the sandbox refuses a client certificate after the client's side of
            // the handshake is done, so the refusal arrives as the first read. Nothing was
            // run: a connect error (another replica may serve the call).
            if !reused && let Some(alert) = tls::refused_handshake(&e) {
                return Exchange::Fatal(UpstreamError::Connect {
                    sandbox: target.name.clone(),
                    detail: alert,
                });
            }
            let err = UpstreamError::Broken {
                sandbox: target.name.clone(),
                detail: e.to_string(),
            };
            if reused && before_answer {
                Exchange::Retryable(err)
            } else {
                Exchange::Fatal(err)
            }
        };
        let peer = target.peer().ok_or_else(|| {
            Exchange::Fatal(UpstreamError::Connect {
                sandbox: target.name.clone(),
                detail: format!("{} does not resolve to an address", target.url),
            })
        })?;
        let peer_key = peer.reuse_hash();
        let idle = match pool {
            Pool::Use => target.idle.take(peer_key, self.idle_timeout),
            Pool::Bypass => None,
        };
        let (stream, reused) = match idle {
            Some(s) => (s, true),
            None => {
                // Boxed: connecting (TCP, TLS) is a large future, and taken rarely; inline, it
                // would grow every request's future, allocated and copied once per request.
                let s = Box::pin(self.connector.new_stream(&*peer))
                    .await
                    .map_err(|e| {
                        Exchange::Fatal(UpstreamError::Connect {
                            sandbox: target.name.clone(),
                            detail: e.to_string(),
                        })
                    })?;
                (s, false)
            }
        };
        let mut stream = stream;
        let mut req = RequestHeader::build(method, path.as_bytes(), Some(4 + headers.len()))
            .map_err(|e| broken(false, false, e))?;
        let host = match &target.url {
            SandboxUrl::Tcp(a) => a.to_string(),
            SandboxUrl::Host { host, port } => format!("{host}:{port}"),
            SandboxUrl::Unix(_) => "sandbox".to_owned(),
        };
        let len = body.as_ref().map_or(0, Bytes::len).to_string();
        let fixed: [(&'static str, &str); 3] = [
            ("host", &host),
            ("content-type", "application/json"),
            ("content-length", &len),
        ];
        if let Some(value) = &target.authorization {
            req.insert_header("authorization", value.as_str())
                .map_err(|e| broken(false, false, e))?;
        }
        for (k, v) in fixed.iter().chain(headers) {
            req.insert_header(*k, *v)
                .map_err(|e| broken(false, false, e))?;
        }
        // Head and body in one write (one packet for a small call; pingora's session writes
        // and flushes the head on its own), from headers the `http` types have validated.
        let wire = request_bytes(&req, body.as_deref().unwrap_or_default());
        let written = async {
            stream.write_all(&wire).await?;
            stream.flush().await
        };
        written.await.map_err(|e| {
            broken(
                reused,
                true,
                pingora::Error::because(
                    pingora::ErrorType::WriteError,
                    "while writing the request",
                    e,
                ),
            )
        })?;
        let mut session = HttpSession::new_with_options(stream, &*peer);
        session
            .read_response()
            .await
            .map_err(|e| broken(reused, true, e))?;
        let status = session.resp_header().map_or(0, |h| h.status.as_u16());
        let mut buf = BytesMut::new();
        while let Some(chunk) = session
            .read_body_bytes()
            .await
            .map_err(|e| broken(reused, false, e))?
        {
            if buf.len() + chunk.len() > MAX_RESPONSE {
                return Err(Exchange::Fatal(UpstreamError::TooLarge {
                    sandbox: target.name.clone(),
                }));
            }
            buf.extend_from_slice(&chunk);
        }
        if pool == Pool::Use {
            session.respect_keepalive();
            if let Some(stream) = session.reuse().await {
                target
                    .idle
                    .put(stream, peer_key, self.pool_size, self.idle_timeout);
            }
        }
        Ok(Answer {
            status,
            body: buf.freeze(),
        })
    }
}

/// The request as HTTP/1.1 bytes: request line, headers, body.
fn request_bytes(req: &RequestHeader, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(
        req.uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .as_bytes(),
    );
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in req.headers.iter() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::atomic::AtomicUsize;

    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Instant;

    use super::*;
    use crate::config::{SandboxConfig, UpstreamConfig};

    /// A keep-alive HTTP/1.1 server answering `{}`; with `close_after_one`, it closes each
    /// connection after its first answer (as a restarted sandbox's connections end). Counts
    /// the connections it accepted and the ones it closed.
    async fn server(close_after_one: bool) -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (accepted, closed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (a, c) = (accepted.clone(), closed.clone());
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                let c = c.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut seen = Vec::new();
                    while let Ok(n) = conn.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        // Requests here are a head and a 2-byte body.
                        let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else {
                            continue;
                        };
                        if seen.len() < end + 4 + 2 {
                            continue;
                        }
                        seen.drain(..end + 4 + 2);
                        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
                        if conn.write_all(answer).await.is_err() || close_after_one {
                            break;
                        }
                    }
                    drop(conn);
                    c.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        (addr, accepted, closed)
    }

    fn upstreams(addr: SocketAddr) -> Upstreams {
        let sandbox = SandboxConfig {
            name: "sb".into(),
            url: SandboxUrl::Tcp(addr),
            token_file: None,
            tls: None,
        };
        Upstreams::new(&[sandbox], &UpstreamConfig::default()).expect("upstreams")
    }

    async fn call(u: &Upstreams) -> Result<Answer, UpstreamError> {
        let body = Some(Bytes::from_static(b"{}"));
        u.send(0, "POST", "/v1/call", body, &[], Duration::from_secs(5))
            .await
    }

    async fn wait_for(what: &str, check: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn kept_alive_connections_are_reused() {
        let (addr, accepted, _) = server(false).await;
        let u = upstreams(addr);
        for _ in 0..5 {
            let answer = call(&u).await.expect("an answer");
            assert_eq!((answer.status, &answer.body[..]), (200, &b"{}"[..]));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn unpooled_requests_neither_take_nor_leave_a_kept_connection() {
        let (addr, accepted, closed) = server(false).await;
        let u = upstreams(addr);
        call(&u).await.expect("an answer");
        for round in 1..=2 {
            let body = Some(Bytes::from_static(b"{}"));
            let answer = u
                .send_unpooled(0, "POST", "/v1/call", body, &[], Duration::from_secs(5))
                .await
                .expect("an answer");
            assert_eq!(answer.status, 200);
            // Its own connection, closed after the answer; the pooled one stays for calls.
            assert_eq!(accepted.load(Ordering::SeqCst), 1 + round);
            wait_for("the unpooled connection to close", || {
                closed.load(Ordering::SeqCst) == round
            })
            .await;
        }
        call(&u).await.expect("an answer");
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            3,
            "the call reused its connection"
        );
    }

    #[tokio::test]
    async fn a_kept_connection_the_sandbox_closed_is_not_used_again() {
        let (addr, accepted, closed) = server(true).await;
        let u = upstreams(addr);
        for round in 1..=3 {
            let answer = call(&u).await.expect("an answer");
            assert_eq!(answer.status, 200);
            // The sandbox closed the connection the gateway keeps: the next call must notice
            // before sending (or retry), never fail.
            wait_for("the sandbox to close", || {
                closed.load(Ordering::SeqCst) == round
            })
            .await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }
}
