//! A circuit breaker per upstream MCP server that no single caller can trip for the others.
//!
//! After `failures` failed requests in a row, calls fail at once for `open_for` (so a dead
//! server costs callers nothing and is not hammered); then trial requests are let through, and
//! the first success closes the circuit.
//!
//! What a failure says about the server depends on who saw it. A server that cannot be reached
//! ([`Outcome::Unreachable`]) is down for everyone, whoever noticed. A timeout, a broken
//! connection or a 5xx ([`Outcome::Failed`]) may be the caller's own doing: their tool is slow
//! on their arguments, or their input crashes it. So a run of such failures opens the circuit
//! only when at least two callers are in it (the gateway's own list refreshes count as a
//! caller); one caller's timeouts stay that caller's problem, bounded by their share of the
//! server's `max_concurrent`. While half open, each caller may run one trial at a time (at most
//! [`MAX_TRIALS`] together), and a trial that merely fails opens the circuit again only once a
//! second caller's trial has failed too, so one caller cannot hold it open by grabbing every
//! trial with calls that time out.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::BreakerConfig;

use super::error::FederationError;

/// Trial requests running at once while half open (each from a different caller).
pub const MAX_TRIALS: usize = 2;

/// How an admitted request ended, as the breaker sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered (an error it chose to send is an answer).
    Answered,
    /// It could not be reached at all: down for every caller.
    Unreachable,
    /// It was reached but timed out, broke the connection or answered 5xx.
    Failed,
}

impl Outcome {
    /// The outcome of a request that ended with `result`.
    pub fn of<T>(result: &Result<T, FederationError>) -> Self {
        match result {
            Err(FederationError::Connect { .. }) => Self::Unreachable,
            Err(e) if e.counts_as_failure() => Self::Failed,
            _ => Self::Answered,
        }
    }
}

/// The failures in a row since the last answer.
#[derive(Debug, Default)]
struct Streak {
    failures: u32,
    unreachable: bool,
    /// Up to two distinct callers seen failing (two are enough to open).
    callers: Vec<String>,
}

impl Streak {
    fn add(&mut self, caller: &str, outcome: Outcome) {
        self.failures = self.failures.saturating_add(1);
        self.unreachable |= outcome == Outcome::Unreachable;
        if self.callers.len() < 2 && !self.callers.iter().any(|c| c == caller) {
            self.callers.push(caller.to_owned());
        }
    }

    /// Enough failures, and not one caller's alone.
    fn opens(&self, threshold: u32) -> bool {
        self.failures >= threshold && (self.unreachable || self.callers.len() >= 2)
    }
}

#[derive(Debug)]
struct Trial {
    caller: String,
    since: Instant,
}

#[derive(Debug)]
enum State {
    Closed(Streak),
    Open {
        until: Instant,
    },
    HalfOpen {
        trials: Vec<Trial>,
        /// The caller whose trial failed (not unreachable) since the circuit half-opened.
        failed: Option<String>,
    },
}

/// The breaker of one server.
#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    state: Mutex<State>,
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State::Closed(Streak::default())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open_error(&self, retry_in: Duration) -> FederationError {
        FederationError::CircuitOpen {
            failures: self.config.failures,
            retry_in,
        }
    }

    /// May `caller` send a request now? Refused while open; while half open, refused when the
    /// caller already runs a trial or [`MAX_TRIALS`] run. A trial that never reports (its client
    /// went away) stops counting after `open_for`.
    pub fn admit(&self, caller: &str, now: Instant) -> Result<(), FederationError> {
        let open_for = self.config.open_for.get();
        let mut state = self.lock();
        if let State::Open { until } = *state {
            if now < until {
                return Err(self.open_error(until.saturating_duration_since(now)));
            }
            *state = State::HalfOpen {
                trials: Vec::new(),
                failed: None,
            };
        }
        if let State::HalfOpen { trials, .. } = &mut *state {
            trials.retain(|t| now < t.since + open_for);
            if trials.len() >= MAX_TRIALS || trials.iter().any(|t| t.caller == caller) {
                return Err(self.open_error(Duration::ZERO));
            }
            trials.push(Trial {
                caller: caller.to_owned(),
                since: now,
            });
        }
        Ok(())
    }

    /// Records how a request `caller` was admitted for ended.
    pub fn record(&self, caller: &str, outcome: Outcome, now: Instant) {
        let open = State::Open {
            until: now + self.config.open_for.get(),
        };
        let mut state = self.lock();
        if outcome == Outcome::Answered {
            *state = State::Closed(Streak::default());
            return;
        }
        match &mut *state {
            State::Closed(streak) => {
                streak.add(caller, outcome);
                if streak.opens(self.config.failures) {
                    *state = open;
                }
            }
            State::Open { .. } => {}
            State::HalfOpen { trials, failed } => {
                trials.retain(|t| t.caller != caller);
                let second = failed.as_deref().is_some_and(|f| f != caller);
                if outcome == Outcome::Unreachable || second {
                    *state = open;
                } else {
                    *failed = Some(caller.to_owned());
                }
            }
        }
    }

    /// `closed`, `open` or `half_open`, for `/ready` and the metrics.
    pub fn state(&self) -> &'static str {
        match *self.lock() {
            State::Closed(_) => "closed",
            State::Open { .. } => "open",
            State::HalfOpen { .. } => "half_open",
        }
    }
}

#[cfg(test)]
mod tests {
    use mcp_contract::units::Span;

    use super::*;

    fn breaker(failures: u32) -> Breaker {
        Breaker::new(BreakerConfig {
            failures,
            open_for: Span::from_secs(10),
        })
    }

    #[test]
    fn an_unreachable_server_opens_it_whoever_noticed_then_trials_close_it() {
        let b = breaker(3);
        let t0 = Instant::now();
        for _ in 0..2 {
            assert!(b.admit("alice", t0).is_ok());
            b.record("alice", Outcome::Unreachable, t0);
        }
        assert_eq!(b.state(), "closed");
        b.record("alice", Outcome::Unreachable, t0);
        assert_eq!(b.state(), "open");
        assert!(matches!(
            b.admit("bob", t0 + Duration::from_secs(9)),
            Err(FederationError::CircuitOpen { failures: 3, .. })
        ));
        let later = t0 + Duration::from_secs(10);
        assert!(b.admit("alice", later).is_ok(), "a trial after open_for");
        assert!(b.admit("alice", later).is_err(), "one trial per caller");
        assert!(b.admit("bob", later).is_ok(), "another caller's trial");
        assert!(b.admit("carol", later).is_err(), "at most MAX_TRIALS");
        b.record("alice", Outcome::Unreachable, later);
        assert_eq!(b.state(), "open", "an unreachable trial opens it again");
        let again = later + Duration::from_secs(10);
        assert!(b.admit("carol", again).is_ok());
        b.record("carol", Outcome::Answered, again);
        assert_eq!(b.state(), "closed");
        assert!(b.admit("alice", again).is_ok());
    }

    #[test]
    fn one_callers_timeouts_never_open_it_for_the_others() {
        let b = breaker(2);
        let t = Instant::now();
        for _ in 0..50 {
            assert!(b.admit("mallory", t).is_ok());
            b.record("mallory", Outcome::Failed, t);
        }
        assert_eq!(
            b.state(),
            "closed",
            "mallory's slow calls are mallory's problem"
        );
        assert!(b.admit("alice", t).is_ok());
        // A second caller failing too: the server is slow for more than one.
        b.record("alice", Outcome::Failed, t);
        assert_eq!(b.state(), "open");
        // The gateway's own refresh is a caller of its own.
        let b = breaker(2);
        b.record("mallory", Outcome::Failed, t);
        b.record("gateway", Outcome::Failed, t);
        assert_eq!(b.state(), "open");
    }

    #[test]
    fn one_caller_cannot_hold_it_open_by_failing_every_trial() {
        let b = breaker(2);
        let t0 = Instant::now();
        b.record("alice", Outcome::Failed, t0);
        b.record("bob", Outcome::Failed, t0);
        assert_eq!(b.state(), "open");
        let mut t = t0 + Duration::from_secs(10);
        for _ in 0..5 {
            assert!(b.admit("mallory", t).is_ok());
            b.record("mallory", Outcome::Failed, t);
            assert_eq!(b.state(), "half_open");
            t += Duration::from_millis(1);
        }
        assert!(b.admit("alice", t).is_ok(), "others still get trials");
        b.record("alice", Outcome::Answered, t);
        assert_eq!(b.state(), "closed");
        // A second caller's failed trial does open it again.
        b.record("alice", Outcome::Unreachable, t);
        b.record("bob", Outcome::Unreachable, t);
        let t = t + Duration::from_secs(10);
        assert!(b.admit("mallory", t).is_ok());
        b.record("mallory", Outcome::Failed, t);
        assert!(b.admit("alice", t).is_ok());
        b.record("alice", Outcome::Failed, t);
        assert_eq!(b.state(), "open");
    }

    #[test]
    fn an_answer_resets_the_count_and_a_stale_trial_stops_counting() {
        let b = breaker(2);
        let t = Instant::now();
        b.record("a", Outcome::Unreachable, t);
        b.record("a", Outcome::Answered, t);
        b.record("a", Outcome::Unreachable, t);
        assert_eq!(b.state(), "closed");
        b.record("a", Outcome::Unreachable, t);
        assert_eq!(b.state(), "open");
        let t = t + Duration::from_secs(10);
        assert!(b.admit("a", t).is_ok());
        assert!(b.admit("a", t).is_err());
        let t = t + Duration::from_secs(10);
        assert!(b.admit("a", t).is_ok(), "its trial never reported");
    }

    #[test]
    fn outcomes_are_read_from_the_error() {
        let connect = FederationError::Connect {
            url: "http://x".into(),
            detail: "refused".into(),
        };
        assert_eq!(Outcome::of::<()>(&Err(connect)), Outcome::Unreachable);
        let timeout = FederationError::Timeout(Duration::from_secs(1));
        assert_eq!(Outcome::of::<()>(&Err(timeout)), Outcome::Failed);
        let rpc = FederationError::Rpc {
            code: -32602,
            message: "no".into(),
        };
        assert_eq!(Outcome::of::<()>(&Err(rpc)), Outcome::Answered);
        assert_eq!(Outcome::of::<()>(&Ok(())), Outcome::Answered);
    }
}
