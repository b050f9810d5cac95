//! A circuit breaker per upstream MCP server: after `failures` failed calls in a row, calls
//! fail at once for `open_for` (so a dead server costs callers nothing and is not hammered);
//! then one call at a time is let through, and the first success closes the circuit.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::BreakerConfig;

use super::error::FederationError;

#[derive(Debug)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One trial call is running (since then; another is let through if it never reports,
    /// e.g. because its client went away).
    HalfOpen {
        since: Instant,
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
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// May a call be sent now? Refused while open, and while a trial call runs.
    pub fn admit(&self, now: Instant) -> Result<(), FederationError> {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } if now >= until => {
                *state = State::HalfOpen { since: now };
                Ok(())
            }
            State::HalfOpen { since } if now >= since + self.config.open_for.get() => {
                *state = State::HalfOpen { since: now };
                Ok(())
            }
            State::Open { until } => Err(FederationError::CircuitOpen {
                failures: self.config.failures,
                retry_in: until.saturating_duration_since(now),
            }),
            State::HalfOpen { .. } => Err(FederationError::CircuitOpen {
                failures: self.config.failures,
                retry_in: Duration::ZERO,
            }),
        }
    }

    /// Records how an admitted call ended (`true`: the server answered).
    pub fn record(&self, ok: bool, now: Instant) {
        let mut state = self.lock();
        *state = match (&*state, ok) {
            (_, true) => State::Closed { failures: 0 },
            (State::Closed { failures }, false) if failures + 1 < self.config.failures => {
                State::Closed {
                    failures: failures + 1,
                }
            }
            (_, false) => State::Open {
                until: now + self.config.open_for.get(),
            },
        };
    }

    /// `closed`, `open` or `half_open`, for `/ready` and the metrics.
    pub fn state(&self) -> &'static str {
        match *self.lock() {
            State::Closed { .. } => "closed",
            State::Open { .. } => "open",
            State::HalfOpen { .. } => "half_open",
        }
    }
}

#[cfg(test)]
mod tests {
    use mcp_contract::units::Span;

    use super::*;

    #[test]
    fn opens_after_the_configured_failures_and_lets_one_trial_through() {
        let b = Breaker::new(BreakerConfig {
            failures: 3,
            open_for: Span::from_secs(10),
        });
        let t0 = Instant::now();
        for _ in 0..2 {
            assert!(b.admit(t0).is_ok());
            b.record(false, t0);
        }
        assert_eq!(b.state(), "closed");
        b.record(false, t0);
        assert_eq!(b.state(), "open");
        assert!(matches!(
            b.admit(t0 + Duration::from_secs(9)),
            Err(FederationError::CircuitOpen { failures: 3, .. })
        ));
        let later = t0 + Duration::from_secs(10);
        assert!(b.admit(later).is_ok(), "one trial after open_for");
        assert!(b.admit(later).is_err(), "only one trial at a time");
        b.record(false, later);
        assert_eq!(b.state(), "open", "a failed trial opens it again");
        let again = later + Duration::from_secs(10);
        assert!(b.admit(again).is_ok());
        b.record(true, again);
        assert_eq!(b.state(), "closed");
        assert!(b.admit(again).is_ok());
    }

    #[test]
    fn a_success_resets_the_count() {
        let b = Breaker::new(BreakerConfig {
            failures: 2,
            open_for: Span::from_secs(1),
        });
        let t = Instant::now();
        b.record(false, t);
        b.record(true, t);
        b.record(false, t);
        assert_eq!(b.state(), "closed");
    }
}
