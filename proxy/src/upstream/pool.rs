//! The kept-alive connections to one sandbox, and the check that one is still open before it
//! is reused. Owns only the idle list: connecting, and deciding whether a request pools at
//! all, belong to [`super::exchange`].
//!
//! The list is a small last-in-first-out stack per sandbox: taking a connection is a pop and a
//! non-blocking check that the sandbox has not closed it. (pingora's own pool watches every
//! idle connection with a task of its own, spawned on each release and woken on each reuse: a
//! task hand-off, a peer-address lookup and a wake-up of another thread per call, which cost
//! more than the rest of the upstream hop.) A connection idle longer than `idle_timeout` is
//! closed when next seen.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use pingora::protocols::Stream;

/// Kept-alive connections to one sandbox, the most recently used last.
#[derive(Default)]
pub(super) struct IdlePool(Mutex<Vec<Idle>>);

/// A kept-alive connection: the peer it goes to (its reuse hash) and since when it is idle.
struct Idle {
    stream: Stream,
    peer: u64,
    since: Instant,
}

impl IdlePool {
    /// The most recently used idle connection to `peer` that is still open, if any.
    pub(super) fn take(&self, peer: u64, max_idle: Duration) -> Option<Stream> {
        loop {
            let mut idle = self.0.lock().unwrap_or_else(|e| e.into_inner()).pop()?;
            if idle.peer == peer && idle.since.elapsed() < max_idle && still_open(&mut idle.stream)
            {
                return Some(idle.stream);
            }
        }
    }

    /// Keeps a connection for reuse (at most `max` per sandbox; expired ones are dropped).
    pub(super) fn put(&self, stream: Stream, peer: u64, max: usize, max_idle: Duration) {
        let mut idle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|i| i.since.elapsed() < max_idle);
        if idle.len() < max {
            idle.push(Idle {
                stream,
                peer,
                since: Instant::now(),
            });
        }
    }
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
