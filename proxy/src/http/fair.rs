//! A fair share of the gateway's CPU between callers for CPU-heavy requests.
//!
//! A large request costs CPU in proportion to its size at every step (parsing and checking
//! its arguments here, copying them into and out of the sandbox, shaping a result as large).
//! The byte and in-flight budgets of [`super::Admission`] bound what a caller may *hold*, not
//! how much of the two cores their requests keep busy: one caller with eight 1 MiB calls in
//! flight used to keep every worker thread parsing megabytes, and another caller's small call
//! waited behind all of them in the run queues (p99 0.3-1.2 s).
//!
//! So a request whose body is at least `limits.heavy_request` bytes runs only with a *turn*:
//! at most `limits.heavy_in_flight` such requests are processed at once, gateway-wide. A lone
//! caller gets every turn (their throughput is unchanged as long as the turns keep the cores
//! busy); when turns are short, a freed turn goes to the waiting caller who holds the fewest,
//! the longest-waiting among equals, so a caller with many large requests queues behind
//! their own work and never ahead of another's. Small requests need no turn: they are cheap,
//! and with the large ones bounded they find a worker thread quickly.
//!
//! A request waits for its turn at most `wait`; then it gets 429 (it was queued behind its
//! own caller's work, or 503 if the caller held no turn) with `Retry-After`.
//!
//! A turn is for CPU, not for waiting: a request keeps it for at most [`SLICE`] ([`run`]),
//! and gives it back as soon as it leaves for its sandbox or upstream server ([`Release`],
//! fired by the call path). The CPU-heavy steps come first (parsing and checking the
//! arguments); a call sent on is waiting for its tool, and neither the tool's run time nor a
//! long-running tool (a program that sleeps, say) may hold other callers' large requests
//! back. A large *answer* takes a turn of its own, for shaping it ([`FairShare::turn`] again,
//! by the call path).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::GatewayError;

/// Longest a request keeps its turn.
pub const SLICE: Duration = Duration::from_millis(250);

/// Runs `work` with `turn` (if any), giving the turn back after `slice`, or when `released`
/// fires (or its [`Release`] is dropped), if `work` is not done by then; `work` itself goes
/// on to its end.
///
/// `work` is pinned by the caller (`std::pin::pin!(future)`): a future taken by value would be
/// held here twice or three times over (the argument, its pinned copy, the one awaited
/// without a turn), and a request's whole call path is one future of several KiB, allocated
/// and copied once per request.
pub async fn run<F: Future + Unpin>(
    turn: Option<Turn<'_>>,
    slice: Duration,
    released: Option<Released>,
    mut work: F,
) -> F::Output {
    let Some(turn) = turn else {
        return work.await;
    };
    let released = async {
        match released {
            // Fired or dropped: either way the request no longer needs the turn.
            Some(Released(rx)) => {
                let _ = rx.await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        done = &mut work => done,
        () = tokio::time::sleep(slice) => {
            drop(turn);
            work.await
        }
        () = released => {
            drop(turn);
            work.await
        }
    }
}

/// Gives a request's turn back before [`run`]'s work ends: fired when the request leaves the
/// gateway's CPU (it was sent to a sandbox or upstream server) and only waits.
pub struct Release(oneshot::Sender<()>);

/// The other end of a [`Release`], for [`run`].
pub struct Released(oneshot::Receiver<()>);

impl Release {
    /// A release handle and the end [`run`] watches.
    pub fn pair() -> (Release, Released) {
        let (tx, rx) = oneshot::channel();
        (Release(tx), Released(rx))
    }

    /// Gives the turn back now.
    pub fn fire(self) {
        let _ = self.0.send(());
    }
}

/// The turns of CPU-heavy requests and who waits for one.
pub struct FairShare {
    turns: usize,
    heavy: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    free: usize,
    /// Turns held, per caller (no entry: none).
    held: HashMap<Arc<str>, usize>,
    /// In arrival order.
    waiting: VecDeque<Waiter>,
    next_id: u64,
}

struct Waiter {
    id: u64,
    caller: Arc<str>,
    wake: oneshot::Sender<()>,
}

/// A turn, given back when dropped.
pub struct Turn<'a> {
    share: &'a FairShare,
    caller: Arc<str>,
}

impl FairShare {
    /// `turns` heavy requests at once (at least 1); a request is heavy from `heavy` bytes.
    pub fn new(turns: usize, heavy: usize) -> Self {
        let turns = turns.max(1);
        Self {
            turns,
            heavy,
            state: Mutex::new(State {
                free: turns,
                ..State::default()
            }),
        }
    }

    /// Whether a request of `bytes` needs a turn.
    pub fn is_heavy(&self, bytes: usize) -> bool {
        bytes >= self.heavy
    }

    /// Waits (at most `wait`) for a turn for a request of `caller` with a body of `bytes`;
    /// `None` for a request too small to need one.
    pub async fn turn(
        &self,
        caller: &Arc<str>,
        bytes: usize,
        wait: Duration,
    ) -> Result<Option<Turn<'_>>, GatewayError> {
        if !self.is_heavy(bytes) {
            return Ok(None);
        }
        let (id, mut woken) = {
            let mut s = self.lock();
            if s.free > 0 {
                s.free -= 1;
                *s.held.entry(caller.clone()).or_default() += 1;
                return Ok(Some(self.turn_for(caller)));
            }
            let (tx, rx) = oneshot::channel();
            let id = s.next_id;
            s.next_id += 1;
            s.waiting.push_back(Waiter {
                id,
                caller: caller.clone(),
                wake: tx,
            });
            (id, rx)
        };
        if let Ok(Ok(())) = tokio::time::timeout(wait, &mut woken).await {
            return Ok(Some(self.turn_for(caller)));
        }
        // Timed out: unless a turn was handed over meanwhile, leave the queue.
        let mut s = self.lock();
        if let Some(at) = s.waiting.iter().position(|w| w.id == id) {
            s.waiting.remove(at);
            let own_share = s.held.contains_key(caller);
            return Err(GatewayError::Overloaded {
                what: if own_share {
                    "your large requests are queued behind your own"
                } else {
                    "the gateway is busy with large requests"
                },
                retry_after_secs: 1,
                own_share,
            });
        }
        drop(s);
        // Handed over just as the wait ended: it is ours.
        Ok(Some(self.turn_for(caller)))
    }

    /// Most heavy requests processed at once.
    pub fn turns(&self) -> usize {
        self.turns
    }

    /// Heavy requests waiting for a turn now (for tests).
    pub fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    fn turn_for(&self, caller: &Arc<str>) -> Turn<'_> {
        Turn {
            share: self,
            caller: caller.clone(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent after every statement: a panic elsewhere cannot break it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Gives `caller`'s turn to the waiting caller holding the fewest (the longest-waiting
    /// among equals), or back to the pool.
    fn release(&self, caller: &Arc<str>) {
        let mut s = self.lock();
        if let Some(n) = s.held.get_mut(caller) {
            *n -= 1;
            if *n == 0 {
                s.held.remove(caller);
            }
        }
        loop {
            let best = s
                .waiting
                .iter()
                .enumerate()
                .min_by_key(|(i, w)| (s.held.get(&w.caller).copied().unwrap_or(0), *i))
                .map(|(i, _)| i);
            let Some(waiter) = best.and_then(|i| s.waiting.remove(i)) else {
                s.free += 1;
                return;
            };
            *s.held.entry(waiter.caller.clone()).or_default() += 1;
            if waiter.wake.send(()).is_ok() {
                return;
            }
            // Its request is gone (the client left): undo and try the next.
            if let Some(n) = s.held.get_mut(&waiter.caller) {
                *n -= 1;
                if *n == 0 {
                    s.held.remove(&waiter.caller);
                }
            }
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.share.release(&self.caller);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    fn name(s: &str) -> Arc<str> {
        s.into()
    }

    #[tokio::test]
    async fn small_requests_need_no_turn_and_a_lone_caller_gets_every_turn() {
        let share = FairShare::new(2, 1024);
        let alice = name("alice");
        assert!(share.turn(&alice, 10, WAIT).await.unwrap().is_none());
        let a = share.turn(&alice, 4096, WAIT).await.unwrap();
        let b = share.turn(&alice, 4096, WAIT).await.unwrap();
        assert!(a.is_some() && b.is_some(), "both turns are alice's");
        assert_eq!(share.lock().free, 0);
        drop((a, b));
        assert_eq!(share.lock().free, 2);
        assert!(share.lock().held.is_empty(), "no entry is left behind");
    }

    #[tokio::test]
    async fn a_caller_with_many_queued_waits_behind_another_callers_first() {
        let share = Arc::new(FairShare::new(2, 1024));
        let granted = Arc::new(Mutex::new(Vec::new()));
        let queue = |who: &str| {
            let (share, granted, who) = (share.clone(), granted.clone(), name(who));
            tokio::spawn(async move {
                let turn = share.turn(&who, 4096, WAIT).await.unwrap();
                assert!(turn.is_some());
                granted.lock().unwrap().push(who);
            })
        };
        // Mallory holds both turns and queues a third request; then the victim queues one.
        let mallory = name("mallory");
        let t1 = share.turn(&mallory, 4096, WAIT).await.unwrap();
        let t2 = share.turn(&mallory, 4096, WAIT).await.unwrap();
        let third = queue("mallory");
        while share.waiting() < 1 {
            tokio::task::yield_now().await;
        }
        let victims = queue("victim");
        while share.waiting() < 2 {
            tokio::task::yield_now().await;
        }
        // One turn frees: mallory still holds one, the victim none, so it is the victim's
        // although mallory's third request came first.
        drop(t1);
        victims.await.unwrap();
        drop(t2);
        third.await.unwrap();
        let order: Vec<String> = granted
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(order, ["victim", "mallory"]);
        assert_eq!(share.lock().free, 2);
    }

    #[tokio::test]
    async fn a_long_running_request_gives_its_turn_back_after_its_slice() {
        let share = FairShare::new(1, 1024);
        let (mallory, victim) = (name("mallory"), name("victim"));
        let (release, released) = oneshot::channel::<()>();
        let turn = share.turn(&mallory, 4096, WAIT).await.unwrap();
        // Mallory's request waits for its tool (until `release`) far longer than its slice.
        let work = std::pin::pin!(async {
            released.await.ok();
            "done"
        });
        let long = run(turn, Duration::from_millis(20), None, work);
        let other = async {
            // The victim gets the turn while mallory's request is still running.
            let t = share.turn(&victim, 4096, WAIT).await.unwrap();
            assert!(t.is_some());
            drop(t);
            let _ = release.send(());
        };
        let (done, ()) = tokio::join!(long, other);
        assert_eq!(done, "done");
        assert_eq!(share.lock().free, 1);
        assert!(share.lock().held.is_empty());
    }

    #[tokio::test]
    async fn a_request_that_leaves_for_its_tool_gives_its_turn_back_at_once() {
        let share = FairShare::new(1, 1024);
        let (mallory, victim) = (name("mallory"), name("victim"));
        let (release, released) = Release::pair();
        let (tool_done, tool_finished) = oneshot::channel::<()>();
        let turn = share.turn(&mallory, 4096, WAIT).await.unwrap();
        // A slice far longer than the test: only the release can free the turn.
        let work = std::pin::pin!(async {
            release.fire();
            tool_finished.await.ok();
            "done"
        });
        let long = run(turn, Duration::from_secs(600), Some(released), work);
        let other = async {
            let t = share.turn(&victim, 4096, WAIT).await.unwrap();
            assert!(t.is_some());
            drop(t);
            let _ = tool_done.send(());
        };
        let (done, ()) = tokio::join!(long, other);
        assert_eq!(done, "done");
        assert_eq!(share.lock().free, 1);
        assert!(share.lock().held.is_empty());
    }

    #[tokio::test]
    async fn waiting_too_long_is_refused_as_the_callers_own_share() {
        let share = FairShare::new(1, 1024);
        let mallory = name("mallory");
        let _held = share.turn(&mallory, 4096, WAIT).await.unwrap();
        let r = share.turn(&mallory, 4096, Duration::from_millis(10)).await;
        assert!(matches!(
            r,
            Err(GatewayError::Overloaded {
                own_share: true,
                ..
            })
        ));
        let r = share
            .turn(&name("victim"), 4096, Duration::from_millis(10))
            .await;
        assert!(matches!(
            r,
            Err(GatewayError::Overloaded {
                own_share: false,
                ..
            })
        ));
        assert_eq!(share.waiting(), 0, "timed-out waiters leave the queue");
    }
}
