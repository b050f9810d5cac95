//! Admission control: at most `max_concurrent` calls run at once, at most `max_queue` wait for
//! a slot, and none waits longer than `queue_timeout`. Past that the caller gets `busy` at once
//! instead of piling up.
//!
//! Each caller (keyed on their principal, else their user name) may hold only their [`Share`]
//! of the slots and of the queue: a caller's calls first take a place in the caller's own gate,
//! then a slot. So one caller spinning many programs saturates only their share, and another
//! caller's call finds a free slot (or a short queue) as if the first were not there. Nested
//! calls run in their top-level call's slot and are not admitted again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcp_contract::policy::Percent;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};

/// The share of slots and queue a caller may hold when the policy says nothing.
pub const DEFAULT_SHARE: u8 = 50;

pub struct Admission {
    slots: Semaphore,
    max_concurrent: usize,
    max_queue: usize,
    waiting: AtomicUsize,
    queue_timeout: Duration,
    callers: Mutex<HashMap<String, Arc<Gate>>>,
}

/// How much of the sandbox one caller may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub percent: u8,
    /// Calls of the caller that may run at once.
    pub slots: usize,
    /// Calls of the caller that may wait (for their share or for a slot).
    pub queue: usize,
}

/// One caller's calls in flight.
struct Gate {
    share: Share,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// Why a call was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    QueueFull,
    QueueTimeout,
    /// The caller already holds their whole share of slots and queue.
    ShareFull(Share),
}

/// A running call's slot (and its place in its caller's share).
pub struct Permit<'a> {
    _slot: SemaphorePermit<'a>,
    _share: OwnedSemaphorePermit,
    _gate: GateRef<'a>,
}

impl Admission {
    pub fn new(max_concurrent: usize, max_queue: usize, queue_timeout: Duration) -> Self {
        Self {
            slots: Semaphore::new(max_concurrent),
            max_concurrent,
            max_queue,
            waiting: AtomicUsize::new(0),
            queue_timeout,
            callers: Mutex::new(HashMap::new()),
        }
    }

    /// The share `percent` is of this sandbox's slots and queue (at least one of each, when
    /// the sandbox has a queue).
    pub fn share(&self, percent: Option<Percent>) -> Share {
        let p = percent.unwrap_or_else(|| Percent::new(DEFAULT_SHARE).expect("in range"));
        Share {
            percent: p.get(),
            slots: p.of(self.max_concurrent),
            // No queue at all stays none.
            queue: if self.max_queue == 0 {
                0
            } else {
                p.of(self.max_queue)
            },
        }
    }

    /// Waits for a slot within `caller`'s share, or says why not.
    pub async fn enter(&self, caller: &str, share: Share) -> Result<Permit<'_>, Rejected> {
        let until = Instant::now() + self.queue_timeout;
        let gate_ref = GateRef {
            admission: self,
            key: caller.to_owned(),
            gate: Some(self.gate(caller, share)),
        };
        let gate = gate_ref.gate.as_ref().expect("set above");
        let own = match gate.slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let _place = Place::take(&gate.waiting, gate.share.queue)
                    .ok_or(Rejected::ShareFull(gate.share))?;
                match tokio::time::timeout_at(until.into(), gate.slots.clone().acquire_owned())
                    .await
                {
                    Ok(Ok(p)) => p,
                    _ => return Err(Rejected::QueueTimeout),
                }
            }
        };
        let slot = match self.slots.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                let _place =
                    Place::take(&self.waiting, self.max_queue).ok_or(Rejected::QueueFull)?;
                match tokio::time::timeout_at(until.into(), self.slots.acquire()).await {
                    Ok(Ok(p)) => p,
                    // The semaphore is never closed; a timeout is the only way to get here.
                    _ => return Err(Rejected::QueueTimeout),
                }
            }
        };
        Ok(Permit {
            _slot: slot,
            _share: own,
            _gate: gate_ref,
        })
    }

    /// The caller's gate, made on first use. A gate lives while the caller has calls in
    /// flight; a changed share applies from the caller's next idle moment.
    fn gate(&self, caller: &str, share: Share) -> Arc<Gate> {
        let mut callers = self.callers.lock().unwrap_or_else(|e| e.into_inner());
        let gate = callers.entry(caller.to_owned()).or_insert_with(|| {
            Arc::new(Gate {
                share,
                slots: Arc::new(Semaphore::new(share.slots)),
                waiting: AtomicUsize::new(0),
            })
        });
        gate.clone()
    }

    /// Forgets an idle caller's gate (so the map holds only callers with calls in flight).
    fn release_gate(&self, caller: &str) {
        let mut callers = self.callers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(gate) = callers.get(caller) {
            // Only the map holds it: no call of this caller runs or waits.
            if Arc::strong_count(gate) == 1 {
                callers.remove(caller);
            }
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

    /// Callers with calls running or waiting.
    pub fn active_callers(&self) -> usize {
        self.callers.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// A call's hold on its caller's gate; when the last one goes, the gate is forgotten.
struct GateRef<'a> {
    admission: &'a Admission,
    key: String,
    gate: Option<Arc<Gate>>,
}

impl Drop for GateRef<'_> {
    fn drop(&mut self) {
        // Let go first, so that the last call's release sees only the map's reference.
        self.gate.take();
        self.admission.release_gate(&self.key);
    }
}

/// A place in a bounded queue, given back when dropped.
struct Place<'a>(&'a AtomicUsize);

impl<'a> Place<'a> {
    fn take(counter: &'a AtomicUsize, max: usize) -> Option<Self> {
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(counter))
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(a: &Admission) -> Share {
        a.share(Percent::new(100))
    }

    #[tokio::test]
    async fn full_slots_and_full_queue_reject_at_once() {
        let a = Admission::new(1, 0, Duration::from_secs(5));
        let _held = a.enter("alice", whole(&a)).await.unwrap();
        let t = std::time::Instant::now();
        assert_eq!(
            a.enter("bob", whole(&a)).await.err().unwrap(),
            Rejected::QueueFull
        );
        assert!(t.elapsed() < Duration::from_millis(100));
    }

    #[tokio::test]
    async fn queued_calls_get_a_slot_when_one_frees() {
        let a = Arc::new(Admission::new(1, 1, Duration::from_secs(5)));
        let held = a.enter("alice", whole(&a)).await.unwrap();
        let a2 = a.clone();
        let waiter = tokio::spawn(async move {
            let share = whole(&a2);
            a2.enter("bob", share).await.map(|_| ())
        });
        while a.queued() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            a.enter("carol", whole(&a)).await.err().unwrap(),
            Rejected::QueueFull
        );
        drop(held);
        waiter.await.unwrap().unwrap();
        assert_eq!(a.active_callers(), 0, "idle callers are forgotten");
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_too_long_is_a_timeout() {
        let a = Admission::new(1, 4, Duration::from_millis(50));
        let _held = a.enter("alice", whole(&a)).await.unwrap();
        assert_eq!(
            a.enter("bob", whole(&a)).await.err().unwrap(),
            Rejected::QueueTimeout
        );
        assert_eq!(a.queued(), 0);
    }

    #[tokio::test]
    async fn one_caller_holds_only_their_share_and_others_still_get_slots() {
        let a = Arc::new(Admission::new(4, 4, Duration::from_secs(5)));
        let half = a.share(None);
        assert_eq!((half.slots, half.queue), (2, 2));
        let mine = [
            a.enter("mallory", half).await.unwrap(),
            a.enter("mallory", half).await.unwrap(),
        ];
        // Mallory's next calls wait in her own share's queue, not for the sandbox's slots...
        let mut waiters = Vec::new();
        for _ in 0..2 {
            let a = a.clone();
            waiters.push(tokio::spawn(async move {
                a.enter("mallory", half).await.map(|_| ())
            }));
        }
        while a.callers.lock().unwrap()["mallory"]
            .waiting
            .load(Ordering::Acquire)
            < 2
        {
            tokio::task::yield_now().await;
        }
        // ...and past that she is refused at once, naming her share.
        assert_eq!(
            a.enter("mallory", half).await.err().unwrap(),
            Rejected::ShareFull(half)
        );
        // Alice gets a slot at once: Mallory holds only 2 of the 4.
        let t = Instant::now();
        let alice = a.enter("alice", half).await.unwrap();
        assert!(t.elapsed() < Duration::from_millis(100));
        assert_eq!(a.in_use(), 3);
        drop(alice);
        drop(mine);
        for w in waiters {
            w.await.unwrap().unwrap();
        }
    }
}
