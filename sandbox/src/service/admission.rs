//! Admission control: at most `max_concurrent` calls run at once, at most `max_queue` wait for
//! a slot, and none waits longer than `queue_timeout`. Past that the caller gets `busy` at once
//! instead of piling up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

pub struct Admission {
    slots: Semaphore,
    max_concurrent: usize,
    max_queue: usize,
    waiting: AtomicUsize,
    queue_timeout: Duration,
}

/// Why a call was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    QueueFull,
    QueueTimeout,
}

impl Admission {
    pub fn new(max_concurrent: usize, max_queue: usize, queue_timeout: Duration) -> Self {
        Self {
            slots: Semaphore::new(max_concurrent),
            max_concurrent,
            max_queue,
            waiting: AtomicUsize::new(0),
            queue_timeout,
        }
    }

    /// Waits for a slot, or says why not.
    pub async fn enter(&self) -> Result<SemaphorePermit<'_>, Rejected> {
        if let Ok(p) = self.slots.try_acquire() {
            return Ok(p);
        }
        let queued = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_queue).then_some(n + 1)
            });
        if queued.is_err() {
            return Err(Rejected::QueueFull);
        }
        let result = tokio::time::timeout(self.queue_timeout, self.slots.acquire()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match result {
            Ok(Ok(p)) => Ok(p),
            // The semaphore is never closed; a timeout is the only way to get here.
            _ => Err(Rejected::QueueTimeout),
        }
    }

    pub fn in_use(&self) -> usize {
        self.max_concurrent - self.slots.available_permits()
    }

    pub fn queued(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    pub fn max_queue(&self) -> usize {
        self.max_queue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn full_slots_and_full_queue_reject_at_once() {
        let a = Admission::new(1, 0, Duration::from_secs(5));
        let _held = a.enter().await.unwrap();
        let t = std::time::Instant::now();
        assert_eq!(a.enter().await.unwrap_err(), Rejected::QueueFull);
        assert!(t.elapsed() < Duration::from_millis(100));
    }

    #[tokio::test]
    async fn queued_calls_get_a_slot_when_one_frees() {
        let a = std::sync::Arc::new(Admission::new(1, 1, Duration::from_secs(5)));
        let held = a.enter().await.unwrap();
        let a2 = a.clone();
        let waiter = tokio::spawn(async move { a2.enter().await.map(|_| ()) });
        while a.queued() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(a.enter().await.unwrap_err(), Rejected::QueueFull);
        drop(held);
        waiter.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_too_long_is_a_timeout() {
        let a = Admission::new(1, 4, Duration::from_millis(50));
        let _held = a.enter().await.unwrap();
        assert_eq!(a.enter().await.unwrap_err(), Rejected::QueueTimeout);
        assert_eq!(a.queued(), 0);
    }
}
