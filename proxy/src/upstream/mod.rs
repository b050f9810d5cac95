//! Requests to the sandbox hosts over pooled keep-alive connections, with connect and request
//! timeouts, a cap on response size, and health bookkeeping per sandbox.
//!
//! Connections are made by pingora's transport connector and kept here, per sandbox, in a
//! small last-in-first-out list: taking one is a pop and a non-blocking check that the sandbox
//! has not closed it. (pingora's own pool watches every idle connection with a task of its
//! own, spawned on each release and woken on each reuse: a task hand-off, a peer-address
//! lookup and a wake-up of another thread per call, which cost more than the rest of the
//! upstream hop.) A connection idle longer than `idle_timeout` is closed when next seen.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use bytes::{Bytes, BytesMut};
use pingora::connectors::{ConnectorOptions, TransportConnector};
use pingora::http::RequestHeader;
use pingora::protocols::Stream;
use pingora::protocols::http::v1::client::HttpSession;
use pingora::upstreams::peer::{HttpPeer, Peer as _};

use tokio::io::AsyncWriteExt as _;

use crate::config::{SandboxConfig, SandboxUrl, UpstreamConfig};

mod tls;
pub use tls::TlsFileError;

/// Largest sandbox response read (results are capped in the sandbox well below this).
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// Why a request to a sandbox got no answer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot connect to sandbox '{sandbox}': {detail}")]
    Connect { sandbox: String, detail: String },
    #[error("sandbox '{sandbox}' did not answer within {timeout:?}")]
    Timeout { sandbox: String, timeout: Duration },
    #[error("sandbox '{sandbox}' broke the connection mid-request: {detail}")]
    Broken { sandbox: String, detail: String },
    #[error("sandbox '{sandbox}' sent a response larger than {MAX_RESPONSE} bytes")]
    TooLarge { sandbox: String },
}

impl UpstreamError {
    /// Whether the request may be sent to another replica: only when nothing was sent, so a
    /// tool never runs twice.
    pub fn retry(&self) -> Retry {
        match self {
            Self::Connect { .. } => Retry::OtherReplica,
            _ => Retry::No,
        }
    }

    /// Whether the failure says the sandbox is unwell (a slow answer does not).
    pub fn marks_unhealthy(&self) -> bool {
        !matches!(self, Self::Timeout { .. })
    }
}

/// Whether a failed request may be tried again elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Nothing reached the sandbox: another replica may run it.
    OtherReplica,
    /// The request may have run: trying again could run it twice.
    No,
}

/// Whether a request takes and gives back a pooled connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pool {
    Use,
    Bypass,
}

/// Why [`Upstreams::with_failover`] got no answer.
#[derive(Debug)]
pub enum Failover {
    /// No healthy replica serves the tool.
    NoReplica,
    Failed(UpstreamError),
}

/// One sandbox host.
pub struct Target {
    pub name: String,
    pub url: SandboxUrl,
    /// The address connections go to; `None` while a host name does not resolve.
    peer: ArcSwapOption<HttpPeer>,
    /// `Bearer <token>` when the sandbox requires its token.
    authorization: Option<String>,
    /// The token itself: the key call grants for this sandbox are signed with.
    grant_key: Option<Vec<u8>>,
    /// TLS toward this sandbox (an `https://` url).
    tls: Option<tls::PeerTls>,
    healthy: AtomicBool,
    failures: AtomicU32,
    /// Kept-alive connections, the most recently used last.
    idle: Mutex<Vec<Idle>>,
}

/// A kept-alive connection: the peer it goes to (its reuse hash) and since when it is idle.
struct Idle {
    stream: Stream,
    peer: u64,
    since: Instant,
}

impl Target {
    /// The key to sign this sandbox's call grants with, when it requires its token.
    pub fn grant_key(&self) -> Option<&[u8]> {
        self.grant_key.as_deref()
    }

    fn peer(&self) -> Option<Arc<HttpPeer>> {
        self.peer.load_full()
    }

    /// The most recently used idle connection to `peer` that is still open, if any.
    fn take_idle(&self, peer: u64, max_idle: Duration) -> Option<Stream> {
        loop {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()?;
            if idle.peer == peer && idle.since.elapsed() < max_idle && still_open(&mut idle.stream)
            {
                return Some(idle.stream);
            }
        }
    }

    /// Keeps a connection for reuse (at most `max` per sandbox; expired ones are dropped).
    fn put_idle(&self, stream: Stream, peer: u64, max: usize, max_idle: Duration) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|i| i.since.elapsed() < max_idle);
        if idle.len() < max {
            idle.push(Idle {
                stream,
                peer,
                since: Instant::now(),
            });
        }
    }

    /// Failures since the last answer (0 also before the first attempt).
    pub fn failures(&self) -> u32 {
        self.failures.load(Ordering::Acquire)
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    pub fn mark(&self, ok: bool) {
        if ok {
            self.failures.store(0, Ordering::Release);
            if !self.healthy.swap(true, Ordering::AcqRel) {
                tracing::info!(sandbox = %self.name, "sandbox is reachable again");
            }
        } else {
            self.failures.fetch_add(1, Ordering::AcqRel);
            if self.healthy.swap(false, Ordering::AcqRel) {
                tracing::warn!(sandbox = %self.name, url = %self.url, "sandbox marked unready");
            }
        }
        metrics::gauge!("mcp_sandbox_up", "sandbox" => self.name.clone()).set(if ok {
            1.0
        } else {
            0.0
        });
    }
}

/// An answer from a sandbox.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// The sandbox hosts and the connection pool to them.
pub struct Upstreams {
    connector: TransportConnector,
    targets: Vec<Target>,
    request_timeout: Duration,
    idle_timeout: Duration,
    connect_timeout: Duration,
    /// Most idle connections kept per sandbox.
    pool_size: usize,
}

impl Upstreams {
    pub fn new(sandboxes: &[SandboxConfig], cfg: &UpstreamConfig) -> Result<Self, SetupError> {
        // Connections are pooled here, not in the connector.
        let connector = TransportConnector::new(Some(ConnectorOptions::new(1)));
        let mut upstreams = Self {
            connector,
            targets: Vec::with_capacity(sandboxes.len()),
            request_timeout: cfg.request_timeout.get(),
            idle_timeout: cfg.idle_timeout.get(),
            connect_timeout: cfg.connect_timeout.get(),
            pool_size: cfg.pool_size,
        };
        for s in sandboxes {
            let tls = s
                .tls
                .as_ref()
                .map(|t| tls::PeerTls::load(t, &s.url))
                .transpose()
                .map_err(|source| SetupError::Tls {
                    sandbox: s.name.clone(),
                    source,
                })?;
            let peer = match &s.url {
                SandboxUrl::Tcp(addr) => Some(upstreams.peer_for(tcp_peer(*addr, tls.as_ref()))),
                SandboxUrl::Unix(path) => Some(upstreams.peer_for(
                    HttpPeer::new_uds(&path.display().to_string(), false, String::new()).map_err(
                        |source| SetupError::Socket {
                            sandbox: s.name.clone(),
                            source,
                        },
                    )?,
                )),
                // Resolved by `resolve` (at start and on every catalog refresh).
                SandboxUrl::Host { .. } => None,
            };
            let token = s
                .token_file
                .as_deref()
                .map(|path| read_token(&s.name, path))
                .transpose()?;
            let grant_key = token.as_ref().map(|t| t.as_bytes().to_vec());
            let authorization = token.map(|t| format!("Bearer {t}"));
            upstreams.targets.push(Target {
                name: s.name.clone(),
                url: s.url.clone(),
                authorization,
                grant_key,
                tls,
                peer: ArcSwapOption::from(peer.map(Arc::new)),
                // Unknown until the first catalog fetch says otherwise.
                healthy: AtomicBool::new(false),
                failures: AtomicU32::new(0),
                idle: Mutex::new(Vec::new()),
            });
        }
        Ok(upstreams)
    }

    fn peer_for(&self, mut peer: HttpPeer) -> HttpPeer {
        peer.options.connection_timeout = Some(self.connect_timeout);
        peer.options.total_connection_timeout = Some(self.connect_timeout);
        peer.options.idle_timeout = Some(self.idle_timeout);
        peer
    }

    /// Resolves the host names of sandboxes given by name, following address changes.
    pub async fn resolve(&self) {
        for t in &self.targets {
            let SandboxUrl::Host { host, port } = &t.url else {
                continue;
            };
            let lookup = tokio::time::timeout(
                self.connect_timeout,
                tokio::net::lookup_host((host.as_str(), *port)),
            )
            .await;
            match lookup {
                Ok(Ok(mut addrs)) => match addrs.next() {
                    Some(addr) => {
                        let current = t.peer().map(|p| p._address.to_string());
                        if current.as_deref() != Some(addr.to_string().as_str()) {
                            tracing::info!(sandbox = %t.name, host = %host, %addr, "sandbox address resolved");
                            let peer = self.peer_for(tcp_peer(addr, t.tls.as_ref()));
                            t.peer.store(Some(Arc::new(peer)));
                        }
                    }
                    None => {
                        tracing::warn!(sandbox = %t.name, host = %host, "sandbox host name has no address")
                    }
                },
                Ok(Err(e)) => {
                    tracing::warn!(sandbox = %t.name, host = %host, error = %e, "cannot resolve the sandbox's host name")
                }
                Err(_) => {
                    tracing::warn!(sandbox = %t.name, host = %host, "resolving the sandbox's host name timed out")
                }
            }
        }
    }

    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    pub fn target(&self, i: usize) -> &Target {
        &self.targets[i]
    }

    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The replica loop: sends with `attempt` to the replica `pick` chooses (given the one to
    /// avoid), marks replicas that failed unhealthy, and tries one other replica when the
    /// failure says nothing was sent ([`UpstreamError::retry`]). Returns the answer and the
    /// replica that gave it.
    pub async fn with_failover<Fut>(
        &self,
        mut pick: impl FnMut(Option<usize>) -> Option<usize>,
        mut attempt: impl FnMut(usize) -> Fut,
    ) -> Result<(usize, Answer), Failover>
    where
        Fut: std::future::Future<Output = Result<Answer, UpstreamError>>,
    {
        let mut excluded = None;
        loop {
            let target = pick(excluded).ok_or(Failover::NoReplica)?;
            match attempt(target).await {
                Ok(answer) => return Ok((target, answer)),
                Err(e) => {
                    if e.marks_unhealthy() {
                        self.targets[target].mark(false);
                    }
                    if e.retry() == Retry::OtherReplica && excluded.is_none() {
                        excluded = Some(target);
                        continue;
                    }
                    return Err(Failover::Failed(e));
                }
            }
        }
    }

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
            Pool::Use => target.take_idle(peer_key, self.idle_timeout),
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
                target.put_idle(stream, peer_key, self.pool_size, self.idle_timeout);
            }
        }
        Ok(Answer {
            status,
            body: buf.freeze(),
        })
    }
}

/// Why the sandboxes' connections cannot be set up; names the sandbox and file.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A `unix:` socket path pingora refuses.
    #[error("sandbox '{sandbox}': {source}")]
    Socket {
        sandbox: String,
        source: pingora::BError,
    },
    #[error("sandbox '{sandbox}': cannot read token_file {path}: {source}")]
    TokenRead {
        sandbox: String,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("sandbox '{sandbox}': token_file {path} must hold one token of printable characters")]
    TokenInvalid {
        sandbox: String,
        path: std::path::PathBuf,
    },
    #[error("sandbox '{sandbox}': {source}")]
    Tls {
        sandbox: String,
        source: TlsFileError,
    },
}

/// A peer at `addr`: TLS with the sandbox's CA and name when it has `tls`, else plain HTTP.
fn tcp_peer(addr: std::net::SocketAddr, tls: Option<&tls::PeerTls>) -> HttpPeer {
    match tls {
        Some(tls) => tls.peer(addr),
        None => HttpPeer::new(addr, false, String::new()),
    }
}

/// Reads a sandbox token file: one token of printable characters.
fn read_token(sandbox: &str, path: &std::path::Path) -> Result<String, SetupError> {
    let text = std::fs::read_to_string(path).map_err(|source| SetupError::TokenRead {
        sandbox: sandbox.to_owned(),
        path: path.to_owned(),
        source,
    })?;
    let token = text.trim();
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(SetupError::TokenInvalid {
            sandbox: sandbox.to_owned(),
            path: path.to_owned(),
        });
    }
    Ok(token.to_owned())
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

/// Whether an idle connection is still open: the sandbox never sends first, so a readable
/// idle connection was closed (or is out of step) and must not be reused. Never blocks.
fn still_open(stream: &mut Stream) -> bool {
    use tokio::io::AsyncRead;
    let mut byte = [0u8; 1];
    let mut buf = tokio::io::ReadBuf::new(&mut byte);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    std::pin::Pin::new(stream)
        .poll_read(&mut cx, &mut buf)
        .is_pending()
}

enum Exchange {
    Retryable(UpstreamError),
    Fatal(UpstreamError),
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::atomic::AtomicUsize;

    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use super::*;

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
