//! Requests to the sandbox hosts over pooled keep-alive connections, with connect and request
//! timeouts, a cap on response size, and health bookkeeping per sandbox.
//!
//! This module owns the sandboxes' set-up (addresses, tokens, TLS), their health and the
//! replica loop ([`Upstreams::with_failover`]); one request's HTTP/1.1 exchange is in
//! `exchange.rs`, the kept-alive connections per sandbox in `pool.rs`. Connections are made by
//! pingora's transport connector and kept in our own pool, not pingora's (`pool.rs` says why).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use pingora::connectors::{ConnectorOptions, TransportConnector};
use pingora::upstreams::peer::HttpPeer;

use crate::config::{SandboxConfig, SandboxUrl, UpstreamConfig};

mod exchange;
mod pool;
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
    /// Kept-alive connections.
    idle: pool::IdlePool,
}

impl Target {
    /// The key to sign this sandbox's call grants with, when it requires its token.
    pub fn grant_key(&self) -> Option<&[u8]> {
        self.grant_key.as_deref()
    }

    fn peer(&self) -> Option<Arc<HttpPeer>> {
        self.peer.load_full()
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
                idle: pool::IdlePool::default(),
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
