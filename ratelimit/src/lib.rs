//! Rate limits per principal and per principal and tool, as token buckets (GCRA: one timestamp
//! per bucket, no timers). `60/min` allows a burst of 60 and refills one token a second.
//!
//! Buckets live in this process ([`LocalLimiter`]) or, when several replicas must share limits,
//! in Redis ([`RedisLimiter`]), behind the same [`Limiter`] interface. The gateway checks the
//! calls clients make; the sandbox checks the calls programs make from code and skills with the
//! same buckets, so a limit holds for the whole call tree. This crate owns the buckets only:
//! which rate applies comes from the access policy.

mod redis;

pub use self::redis::{FailPolicy, RedisConfig, RedisLimiter, RedisSetupError};

use std::hash::{BuildHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use mcp_contract::units::Rate;

/// Which limit a request ran into (the `scope` label of `mcp_rate_limited_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// All of one user's requests.
    User,
    /// One user's calls of one tool.
    UserTool,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::UserTool => "user_tool",
        }
    }
}

/// A request over its limit: when to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub scope: Scope,
    pub retry_after: Duration,
    /// Refused because the shared store could not be asked (fail-closed), not because the
    /// caller is over its rate.
    pub store_unavailable: bool,
}

/// Token buckets in this process.
pub struct LocalLimiter {
    buckets: DashMap<u64, u64>,
    base: Instant,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for LocalLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalLimiter {
    pub fn new() -> Self {
        Self {
            buckets: DashMap::new(),
            base: Instant::now(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    fn key(&self, scope: Scope, user: &str, tool: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        scope.hash(&mut h);
        user.hash(&mut h);
        tool.hash(&mut h);
        h.finish()
    }

    /// Takes one token from the bucket of (`scope`, `user`, `tool`), or says when to retry.
    pub fn check(
        &self,
        scope: Scope,
        user: &str,
        tool: &str,
        rate: Rate,
        now: Instant,
    ) -> Result<(), Limited> {
        let key = self.key(scope, user, tool);
        let now = now.saturating_duration_since(self.base).as_nanos() as u64;
        let emission = rate.interval().as_nanos().max(1) as u64;
        let period = rate.period.as_nanos() as u64;
        let mut tat = self.buckets.entry(key).or_insert(now);
        let next = (*tat).max(now) + emission;
        if next - now > period {
            return Err(Limited {
                scope,
                retry_after: Duration::from_nanos(next - now - period),
                store_unavailable: false,
            });
        }
        *tat = next;
        Ok(())
    }

    /// Drops buckets that are full again (their theoretical arrival time has passed), so memory
    /// follows the number of recently active users, not all users ever seen.
    pub fn sweep(&self, now: Instant) -> usize {
        let now = now.saturating_duration_since(self.base).as_nanos() as u64;
        let before = self.buckets.len();
        self.buckets.retain(|_, tat| *tat > now);
        before - self.buckets.len()
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

/// The limiter the gateway uses.
pub enum Limiter {
    Local(LocalLimiter),
    Redis(Box<RedisLimiter>),
}

impl Limiter {
    pub async fn check(
        &self,
        scope: Scope,
        user: &str,
        tool: &str,
        rate: Rate,
    ) -> Result<(), Limited> {
        match self {
            Limiter::Local(l) => l.check(scope, user, tool, rate, Instant::now()),
            Limiter::Redis(r) => r.check(scope, user, tool, rate).await,
        }
    }

    /// Forgets idle local buckets (Redis keys expire by themselves).
    pub fn sweep(&self) {
        match self {
            Limiter::Local(l) => {
                l.sweep(Instant::now());
            }
            Limiter::Redis(r) => r.sweep(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(s: &str) -> Rate {
        s.parse().unwrap()
    }

    #[test]
    fn a_full_bucket_allows_the_burst_then_refuses_with_retry_after() {
        let l = LocalLimiter::new();
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(
                l.check(Scope::User, "alice", "", rate("5/10s"), t0).is_ok(),
                "request {i}"
            );
        }
        let limited = l
            .check(Scope::User, "alice", "", rate("5/10s"), t0)
            .unwrap_err();
        assert_eq!(limited.scope, Scope::User);
        assert_eq!(limited.retry_after, Duration::from_secs(2));
        // One token is back after one emission interval.
        assert!(
            l.check(
                Scope::User,
                "alice",
                "",
                rate("5/10s"),
                t0 + Duration::from_secs(2)
            )
            .is_ok()
        );
        assert!(
            l.check(
                Scope::User,
                "alice",
                "",
                rate("5/10s"),
                t0 + Duration::from_secs(2)
            )
            .is_err()
        );
    }

    #[test]
    fn buckets_are_per_user_scope_and_tool() {
        let l = LocalLimiter::new();
        let t0 = Instant::now();
        let r = rate("1/min");
        assert!(l.check(Scope::User, "alice", "", r, t0).is_ok());
        assert!(l.check(Scope::User, "alice", "", r, t0).is_err());
        assert!(l.check(Scope::User, "bob", "", r, t0).is_ok());
        assert!(l.check(Scope::UserTool, "alice", "echo", r, t0).is_ok());
        assert!(l.check(Scope::UserTool, "alice", "spin", r, t0).is_ok());
        assert!(l.check(Scope::UserTool, "alice", "echo", r, t0).is_err());
    }

    #[test]
    fn sweeping_forgets_refilled_buckets_only() {
        let l = LocalLimiter::new();
        let t0 = Instant::now();
        l.check(Scope::User, "idle", "", rate("10/s"), t0).unwrap();
        for _ in 0..10 {
            let _ = l.check(Scope::User, "busy", "", rate("10/min"), t0);
        }
        assert_eq!(l.sweep(t0 + Duration::from_secs(1)), 1);
        assert_eq!(l.len(), 1);
        assert!(
            l.check(
                Scope::User,
                "busy",
                "",
                rate("10/min"),
                t0 + Duration::from_secs(1)
            )
            .is_err()
        );
    }
}
