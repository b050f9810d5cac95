//! Capped, in-memory stdout/stderr for guests. Writing past the cap traps the guest with
//! [`OutputOverflow`], so a tool that floods its output stops at once with a precise error
//! instead of filling the host's memory.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// The error a guest traps with when it writes past its output cap.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("wrote more than {cap} bytes to {stream}")]
pub struct OutputOverflow {
    pub stream: &'static str,
    pub cap: usize,
}

/// A shared, capped buffer. Clones write to the same buffer.
#[derive(Clone)]
pub struct CappedPipe {
    name: &'static str,
    cap: usize,
    buf: Arc<Mutex<BytesMut>>,
}

impl CappedPipe {
    pub fn new(name: &'static str, cap: usize) -> Self {
        Self {
            name,
            cap,
            buf: Arc::new(Mutex::new(BytesMut::new())),
        }
    }

    /// Everything written so far.
    pub fn contents(&self) -> Bytes {
        self.lock().clone().freeze()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BytesMut> {
        // A poisoned lock only means a writer panicked mid-append; the bytes are still usable.
        self.buf.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn append(&self, bytes: &[u8]) -> Result<(), OutputOverflow> {
        let mut buf = self.lock();
        if buf.len() + bytes.len() > self.cap {
            return Err(OutputOverflow {
                stream: self.name,
                cap: self.cap,
            });
        }
        buf.extend_from_slice(bytes);
        Ok(())
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.append(&bytes)
            .map_err(|e| StreamError::Trap(wasmtime::Error::new(e)))
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Always ready; `write` enforces the cap, trapping the guest when it is passed.
        Ok(64 * 1024)
    }
}

impl AsyncWrite for CappedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(
            self.append(buf)
                .map(|()| buf.len())
                .map_err(|e| io::Error::new(io::ErrorKind::StorageFull, e)),
        )
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_within_the_cap_are_kept() {
        let mut p = CappedPipe::new("stdout", 10);
        p.write(Bytes::from_static(b"hello")).unwrap();
        p.write(Bytes::from_static(b"world")).unwrap();
        assert_eq!(&p.contents()[..], b"helloworld");
    }

    #[test]
    fn writing_past_the_cap_traps_and_keeps_what_fit() {
        let mut p = CappedPipe::new("stdout", 8);
        p.write(Bytes::from_static(b"12345")).unwrap();
        let err = p.write(Bytes::from_static(b"6789")).unwrap_err();
        let StreamError::Trap(e) = err else {
            panic!("expected a trap, got {err:?}")
        };
        assert_eq!(e.downcast_ref::<OutputOverflow>().unwrap().cap, 8);
        assert_eq!(&p.contents()[..], b"12345");
    }
}
