//! Budgets of MCP requests in flight and of request bytes buffered, per caller and for the
//! whole gateway, taken after authentication and before the body is read. A caller past their
//! own share gets 429; when the gateway's budget is used up, callers get 503; both with
//! `Retry-After`. The per-caller share is smaller than the global budget, so one caller,
//! however hostile, runs into their own limit long before they can take the gateway's.
//!
//! Memory arithmetic (the chart gives the gateway 512 MiB): with the defaults, buffered bodies
//! hold at most `max_buffered` = 96 MiB; argument trees are built one per worker thread at a
//! time and bounded by `max_argument_values` (65,536 values, about 4 MiB each); answers from
//! sandboxes are capped by their output caps. That keeps the worst case under half the limit.
//!
//! Budgets bound what a caller holds, not how much CPU their requests keep busy: large
//! requests also wait for a turn of [`FairShare`] once their body is in.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;

use super::fair::{FairShare, Turn};
use crate::config::RequestLimits as AdmissionLimits;
use crate::error::GatewayError;

/// What is in use, globally and per caller.
pub struct Admission {
    limits: AdmissionLimits,
    in_flight: AtomicUsize,
    buffered: AtomicUsize,
    callers: DashMap<Arc<str>, (usize, usize)>,
    fair: FairShare,
}

/// Held while a request is served; gives its share back when dropped.
pub struct Admitted<'a> {
    admission: &'a Admission,
    caller: Arc<str>,
    bytes: usize,
}

impl Admission {
    pub fn new(limits: AdmissionLimits) -> Self {
        let fair = FairShare::new(limits.heavy_in_flight, limits.heavy_request.as_usize());
        Self {
            fair,
            limits,
            in_flight: AtomicUsize::new(0),
            buffered: AtomicUsize::new(0),
            callers: DashMap::new(),
        }
    }

    /// Admits one request of `caller` that will buffer up to `bytes`, or says which budget
    /// it would exceed.
    pub fn admit(&self, caller: &Arc<str>, bytes: usize) -> Result<Admitted<'_>, GatewayError> {
        let taken = self.take(caller, bytes);
        if taken.is_err() {
            // A caller refused on their first request leaves no entry behind.
            self.callers.remove_if(caller, |_, v| *v == (0, 0));
        }
        taken.map(|()| Admitted {
            admission: self,
            caller: caller.clone(),
            bytes,
        })
    }

    fn take(&self, caller: &Arc<str>, bytes: usize) -> Result<(), GatewayError> {
        let l = &self.limits;
        let mut mine = self.callers.entry(caller.clone()).or_insert((0, 0));
        let (requests, held) = *mine;
        if requests + 1 > l.max_in_flight_per_caller {
            return Err(own("too many of your requests are in flight"));
        }
        if held + bytes > l.max_buffered_per_caller.as_usize() {
            return Err(own("your requests in flight hold too many bytes"));
        }
        if !reserve(&self.in_flight, 1, l.max_in_flight) {
            return Err(global("the gateway has too many requests in flight"));
        }
        if !reserve(&self.buffered, bytes, l.max_buffered.as_usize()) {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(global("the gateway is buffering too many request bytes"));
        }
        *mine = (requests + 1, held + bytes);
        Ok(())
    }

    /// A turn for a request of `caller` whose body of `bytes` is in, if it is large enough to
    /// need one (waiting at most `wait`): see [`FairShare`].
    pub async fn turn(
        &self,
        caller: &Arc<str>,
        bytes: usize,
        wait: std::time::Duration,
    ) -> Result<Option<Turn<'_>>, GatewayError> {
        self.fair.turn(caller, bytes, wait).await
    }

    /// Requests in flight now (for metrics and tests).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }
}

impl Admitted<'_> {
    /// Grows the bytes this request holds to `total` (no-op when it already holds as much),
    /// within the caller's and the gateway's budgets: for bodies whose length was not declared.
    pub fn hold(&mut self, total: usize) -> Result<(), GatewayError> {
        let Some(extra) = total.checked_sub(self.bytes).filter(|n| *n > 0) else {
            return Ok(());
        };
        let a = self.admission;
        let mut mine = a.callers.entry(self.caller.clone()).or_insert((0, 0));
        if mine.1 + extra > a.limits.max_buffered_per_caller.as_usize() {
            return Err(own("your requests in flight hold too many bytes"));
        }
        if !reserve(&a.buffered, extra, a.limits.max_buffered.as_usize()) {
            return Err(global("the gateway is buffering too many request bytes"));
        }
        mine.1 += extra;
        self.bytes = total;
        Ok(())
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        let a = self.admission;
        a.in_flight.fetch_sub(1, Ordering::AcqRel);
        a.buffered.fetch_sub(self.bytes, Ordering::AcqRel);
        a.callers
            .remove_if_mut(&self.caller, |_, (requests, held)| {
                *requests -= 1;
                *held -= self.bytes;
                *requests == 0
            });
    }
}

/// Adds `n` to `counter` unless that passes `max`.
fn reserve(counter: &AtomicUsize, n: usize, max: usize) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
            (v + n <= max).then_some(v + n)
        })
        .is_ok()
}

fn own(what: &'static str) -> GatewayError {
    GatewayError::Overloaded {
        what,
        retry_after_secs: 1,
        own_share: true,
    }
}

fn global(what: &'static str) -> GatewayError {
    GatewayError::Overloaded {
        what,
        retry_after_secs: 1,
        own_share: false,
    }
}

#[cfg(test)]
mod tests {
    use mcp_contract::units::ByteSize;

    use super::*;

    fn limits() -> AdmissionLimits {
        AdmissionLimits {
            max_in_flight: 3,
            max_in_flight_per_caller: 2,
            max_buffered: ByteSize::kib(10),
            max_buffered_per_caller: ByteSize::kib(6),
            ..AdmissionLimits::default()
        }
    }

    fn is_own(r: Result<Admitted<'_>, GatewayError>) -> bool {
        matches!(
            r,
            Err(GatewayError::Overloaded {
                own_share: true,
                ..
            })
        )
    }

    #[test]
    fn a_caller_hits_their_own_share_before_the_gateways() {
        let a = Admission::new(limits());
        let (alice, bob, carol): (Arc<str>, Arc<str>, Arc<str>) =
            ("alice".into(), "bob".into(), "carol".into());
        let a1 = a.admit(&alice, 1024).ok();
        let a2 = a.admit(&alice, 1024).ok();
        assert!(a1.is_some() && a2.is_some());
        assert!(
            is_own(a.admit(&alice, 1)),
            "alice's third request is hers to wait for"
        );
        let b1 = a.admit(&bob, 1024);
        assert!(b1.is_ok(), "bob still gets in");
        assert!(
            matches!(
                a.admit(&carol, 1),
                Err(GatewayError::Overloaded {
                    own_share: false,
                    ..
                })
            ),
            "the global cap of 3 is reached"
        );
        drop(a1);
        assert!(a.admit(&carol, 1).is_ok(), "freed shares are reused");
    }

    #[test]
    fn a_body_of_unknown_length_grows_its_share_as_it_arrives() {
        let a = Admission::new(limits());
        let alice: Arc<str> = "alice".into();
        let mut streaming = a.admit(&alice, 0).ok().unwrap_or_else(|| unreachable!());
        assert!(streaming.hold(4 * 1024).is_ok());
        assert!(streaming.hold(3 * 1024).is_ok(), "holding less is a no-op");
        assert!(
            is_own(a.admit(&alice, 3 * 1024)),
            "4 KiB of 6 KiB are taken"
        );
        assert!(
            matches!(
                streaming.hold(7 * 1024),
                Err(GatewayError::Overloaded {
                    own_share: true,
                    ..
                })
            ),
            "past the caller's 6 KiB"
        );
        drop(streaming);
        assert!(a.callers.is_empty());
    }

    #[test]
    fn buffered_bytes_are_bounded_per_caller_and_returned_on_drop() {
        let a = Admission::new(limits());
        let alice: Arc<str> = "alice".into();
        let big = a.admit(&alice, 5 * 1024).ok();
        assert!(is_own(a.admit(&alice, 2 * 1024)));
        drop(big);
        assert!(a.admit(&alice, 6 * 1024).is_ok());
        assert_eq!(a.in_flight(), 0);
        assert!(a.callers.is_empty(), "idle callers leave no entry behind");
    }
}
