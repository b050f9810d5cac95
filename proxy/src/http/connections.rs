//! Client connections: a cap on those open at once (gateway-wide and per client IP) and a
//! total deadline for each request's headers (slowloris), the operations guide's
//! `MAX_CONNECTIONS` and `CONNECTION_TIMEOUT` (`server.connections` in the config).
//!
//! pingora 0.9 offers neither, nor a hook when a connection closes, so [`Limited`] wraps the
//! HTTP application: pingora hands it each accepted connection ([`ServerApp::process_new`]),
//! and it keeps the connection's whole life, serving its keep-alive requests one after
//! another itself (pingora's own loop would call it again per request). A slot taken on
//! entry is given back when the connection ends, whichever way. A connection past a cap is
//! answered `503` with `Retry-After` and closed before anything is read (a client that had
//! already sent its request may see the close as a reset instead: reading it first would let
//! refused connections hold descriptors outside the caps).
//!
//! The header deadline runs from the start of each request (for a reused connection, after
//! the keep-alive idle time) until [`request_started`] is called from `request_filter`,
//! which pingora reaches once the headers are parsed; a connection still without a complete
//! request then is closed. HTTP/2 connections (TLS with ALPN `h2`) multiplex streams in
//! tasks of their own and are only counted.
//!
//! Not covered: the TLS handshake, which pingora runs before handing the connection over
//! (with its own 60 s timeout).
//!
//! Metrics: `mcp_client_connections` (open now), `mcp_connections_refused_total{reason}`
//! (`total`, `per_ip`), and `mcp_request_timeouts_total{phase="headers"}`.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use dashmap::DashMap;
use pingora::apps::ServerApp;
use pingora::protocols::{ALPN, Stream};
use pingora::server::ShutdownWatch;
use tokio::io::AsyncWriteExt;

pub use crate::config::ConnectionLimits;

/// Connections open now, in all and per client IP.
pub struct Connections {
    limits: ConnectionLimits,
    open: AtomicUsize,
    per_ip: DashMap<IpAddr, usize>,
}

/// Which cap refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Total,
    PerIp,
}

/// A connection's place under the caps, given back when dropped.
pub struct Slot<'a> {
    conns: &'a Connections,
    ip: Option<IpAddr>,
}

impl Connections {
    pub fn new(limits: ConnectionLimits) -> Self {
        Self {
            limits,
            open: AtomicUsize::new(0),
            per_ip: DashMap::new(),
        }
    }

    /// Takes a place for a connection from `ip` (`None`: not an IP connection, counted in the
    /// total only), or says which cap is reached. The per-address cap counts an IPv6 client's
    /// whole /64 as one address (one host usually holds all of it), and an IPv4-mapped IPv6
    /// address as its IPv4 address.
    pub fn enter(&self, ip: Option<IpAddr>) -> Result<Slot<'_>, Refused> {
        let ip = ip.map(client_key);
        let max = self.limits.max;
        if self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_err()
        {
            return Err(Refused::Total);
        }
        if let Some(ip) = ip {
            let mut mine = self.per_ip.entry(ip).or_insert(0);
            if *mine >= self.limits.max_per_ip {
                drop(mine);
                self.open.fetch_sub(1, Ordering::AcqRel);
                return Err(Refused::PerIp);
            }
            *mine += 1;
        }
        metrics::gauge!("mcp_client_connections").increment(1.0);
        Ok(Slot { conns: self, ip })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(ip) = self.ip {
            self.conns.per_ip.remove_if_mut(&ip, |_, n| {
                *n -= 1;
                *n == 0
            });
        }
        self.conns.open.fetch_sub(1, Ordering::AcqRel);
        metrics::gauge!("mcp_client_connections").decrement(1.0);
    }
}

/// The address a connection is counted under for the per-address cap.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

tokio::task_local! {
    /// Set while a request of this connection waits for its headers to be complete.
    static REQUEST: Arc<AtomicBool>;
}

/// Called once a request's headers are in (from `request_filter`): the header deadline no
/// longer applies to this request.
pub fn request_started() {
    let _ = REQUEST.try_with(|started| started.store(true, Ordering::Release));
}

/// An HTTP application under the connection caps and the header deadline.
pub struct Limited<A> {
    inner: Arc<A>,
    conns: Connections,
    /// The keep-alive idle time a reused connection may wait before its next request.
    keepalive: Duration,
}

impl<A> Limited<A> {
    pub fn new(inner: A, limits: ConnectionLimits, keepalive: Duration) -> Self {
        metrics::describe_gauge!("mcp_client_connections", "Client connections open now");
        metrics::describe_counter!(
            "mcp_connections_refused_total",
            "Client connections refused at a cap (server.connections), by reason: total, per_ip"
        );
        Self {
            inner: Arc::new(inner),
            conns: Connections::new(limits),
            keepalive,
        }
    }

    pub fn connections(&self) -> &Connections {
        &self.conns
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for Limited<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let ip = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        let _slot = match self.conns.enter(ip) {
            Ok(slot) => slot,
            Err(why) => {
                let reason = match why {
                    Refused::Total => "total",
                    Refused::PerIp => "per_ip",
                };
                metrics::counter!("mcp_connections_refused_total", "reason" => reason).increment(1);
                refuse(stream, why).await;
                return None;
            }
        };
        let h2 = stream.selected_alpn_proto() == Some(ALPN::H2);
        let header_timeout = self.conns.limits.header_timeout.get();
        let mut next = Some(stream);
        let mut first = true;
        while let Some(stream) = next.take() {
            let started = Arc::new(AtomicBool::new(false));
            let serve = REQUEST.scope(started.clone(), self.inner.process_new(stream, shutdown));
            if h2 {
                next = serve.await;
                continue;
            }
            let wait = if first {
                header_timeout
            } else {
                self.keepalive + header_timeout
            };
            first = false;
            tokio::pin!(serve);
            next = tokio::select! {
                reused = &mut serve => reused,
                () = tokio::time::sleep(wait) => {
                    if started.load(Ordering::Acquire) {
                        serve.await
                    } else {
                        // No complete request in time: dropping it closes the connection.
                        metrics::counter!("mcp_request_timeouts_total", "phase" => "headers")
                            .increment(1);
                        tracing::debug!(?ip, "request headers not complete in time; connection closed");
                        None
                    }
                }
            };
        }
        None
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}

/// Answers a connection past a cap and closes it.
async fn refuse(mut stream: Stream, why: Refused) {
    let what = match why {
        Refused::Total => "the gateway has too many connections open",
        Refused::PerIp => "too many connections are open from your address",
    };
    let body = format!("{{\"error\":\"{what}; retry shortly\"}}");
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    // Bounded: a client that does not read cannot hold the task.
    let write = async {
        stream.write_all(answer.as_bytes()).await?;
        AsyncWriteExt::shutdown(&mut stream).await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

#[cfg(test)]
mod tests {
    use mcp_contract::units::Span;

    use super::*;

    fn limits(max: usize, max_per_ip: usize) -> ConnectionLimits {
        ConnectionLimits {
            max,
            max_per_ip,
            header_timeout: Span::from_secs(1),
        }
    }

    #[test]
    fn one_address_reaches_its_own_cap_before_the_total() {
        let c = Connections::new(limits(5, 2));
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        let a1 = c.enter(Some(a)).unwrap();
        let _a2 = c.enter(Some(a)).unwrap();
        assert_eq!(c.enter(Some(a)).err(), Some(Refused::PerIp));
        let _b1 = c.enter(Some(b)).unwrap();
        let _b2 = c.enter(Some(b)).unwrap();
        let _u = c.enter(None).unwrap();
        assert_eq!(
            c.enter(Some("10.0.0.1".parse().unwrap())).err(),
            Some(Refused::Total)
        );
        drop(a1);
        assert!(
            c.enter(Some(a)).is_ok(),
            "a closed connection frees its place"
        );
    }

    #[test]
    fn an_ipv6_64_counts_as_one_address_and_mapped_ipv4_as_itself() {
        let c = Connections::new(limits(10, 2));
        let a = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let _v6a = c.enter(a("2001:db8:1:2::1")).unwrap();
        let _v6b = c.enter(a("2001:db8:1:2:ffff::9")).unwrap();
        assert_eq!(c.enter(a("2001:db8:1:2::77")).err(), Some(Refused::PerIp));
        assert!(c.enter(a("2001:db8:1:3::1")).is_ok(), "another /64");
        let _v4 = c.enter(a("10.0.0.1")).unwrap();
        let _mapped = c.enter(a("::ffff:10.0.0.1")).unwrap();
        assert_eq!(c.enter(a("10.0.0.1")).err(), Some(Refused::PerIp));
    }

    #[test]
    fn places_are_given_back_and_leave_no_entry() {
        let c = Connections::new(limits(3, 3));
        let ip: IpAddr = "::1".parse().unwrap();
        let slots: Vec<_> = (0..3).map(|_| c.enter(Some(ip)).unwrap()).collect();
        assert_eq!(c.open(), 3);
        drop(slots);
        assert_eq!(c.open(), 0);
        assert!(c.per_ip.is_empty());
    }
}
