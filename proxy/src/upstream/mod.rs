//! Requests to the sandbox hosts over pooled keep-alive connections (pingora's connector), with
//! connect and request timeouts, a cap on response size, and health bookkeeping per sandbox.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use bytes::{Bytes, BytesMut};
use pingora::connectors::ConnectorOptions;
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use pingora::upstreams::peer::HttpPeer;

use crate::config::{SandboxConfig, SandboxUrl, UpstreamConfig};

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
    healthy: AtomicBool,
    failures: AtomicU32,
}

impl Target {
    /// The key to sign this sandbox's call grants with, when it requires its token.
    pub fn grant_key(&self) -> Option<&[u8]> {
        self.grant_key.as_deref()
    }

    fn peer(&self) -> Option<Arc<HttpPeer>> {
        self.peer.load_full()
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
    connector: Connector,
    targets: Vec<Target>,
    request_timeout: Duration,
    idle_timeout: Duration,
    connect_timeout: Duration,
}

impl Upstreams {
    pub fn new(sandboxes: &[SandboxConfig], cfg: &UpstreamConfig) -> Result<Self, SetupError> {
        let mut options = ConnectorOptions::new(cfg.pool_size);
        options.keepalive_pool_size = cfg.pool_size * sandboxes.len().max(1);
        let connector = Connector::new(Some(options));
        let mut upstreams = Self {
            connector,
            targets: Vec::with_capacity(sandboxes.len()),
            request_timeout: cfg.request_timeout.get(),
            idle_timeout: cfg.idle_timeout.get(),
            connect_timeout: cfg.connect_timeout.get(),
        };
        for s in sandboxes {
            let peer = match &s.url {
                SandboxUrl::Tcp(addr) => {
                    Some(upstreams.peer_for(HttpPeer::new(*addr, false, String::new())))
                }
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
                peer: ArcSwapOption::from(peer.map(Arc::new)),
                // Unknown until the first catalog fetch says otherwise.
                healthy: AtomicBool::new(false),
                failures: AtomicU32::new(0),
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
                            let peer = self.peer_for(HttpPeer::new(addr, false, String::new()));
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

    /// Sends one request to sandbox `i` and reads the whole answer, within `timeout`.
    pub async fn send(
        &self,
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
                    .exchange(target, method, path, body.clone(), headers)
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
        target: &Target,
        method: &str,
        path: &str,
        body: Option<Bytes>,
        headers: &[(&'static str, &str)],
    ) -> Result<Answer, Exchange> {
        let broken = |reused: bool, before_answer: bool, e: Box<pingora::Error>| {
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
        let (mut session, reused) = self.connector.get_http_session(&*peer).await.map_err(|e| {
            Exchange::Fatal(UpstreamError::Connect {
                sandbox: target.name.clone(),
                detail: e.to_string(),
            })
        })?;
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
        session
            .write_request_header(Box::new(req))
            .await
            .map_err(|e| broken(reused, true, e))?;
        if let Some(b) = body {
            session
                .write_request_body(b, true)
                .await
                .map_err(|e| broken(reused, true, e))?;
        }
        session
            .finish_request_body()
            .await
            .map_err(|e| broken(reused, true, e))?;
        session
            .read_response_header()
            .await
            .map_err(|e| broken(reused, true, e))?;
        let status = session.response_header().map_or(0, |h| h.status.as_u16());
        let mut buf = BytesMut::new();
        while let Some(chunk) = session
            .read_response_body()
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
        self.connector
            .release_http_session(session, &*peer, Some(self.idle_timeout))
            .await;
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

enum Exchange {
    Retryable(UpstreamError),
    Fatal(UpstreamError),
}
