//! Token buckets shared by every gateway replica, in Redis.
//!
//! The same GCRA as [`super::LocalLimiter`], run atomically in a Lua script on Redis's own clock,
//! so replicas with skewed clocks still agree. One key per bucket, expiring when the bucket is
//! full again. When Redis cannot be reached (or answers too slowly), the configured policy
//! decides: fall back to this process's own buckets (`fail_open`: limits still hold, per
//! replica) or refuse with 503 (`fail_closed`).

use std::hash::{Hash, Hasher};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use mcp_contract::units::{Rate, Span};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Limited, LocalLimiter, Scope};

/// Where shared buckets live.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// e.g. `redis://redis.mcp.svc:6379/0` (`rediss://` for TLS).
    pub url: String,
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// Longest a rate-limit check may wait for Redis.
    #[serde(default = "default_redis_timeout")]
    pub timeout: Span,
    /// What to do when Redis cannot answer in time.
    #[serde(default)]
    pub on_unavailable: FailPolicy,
}

impl RedisConfig {
    /// A store at `url` with the defaults (the gateway's key prefix, 100 ms, fail open).
    pub fn new(url: String) -> Self {
        Self {
            url,
            key_prefix: default_key_prefix(),
            timeout: default_redis_timeout(),
            on_unavailable: FailPolicy::default(),
        }
    }
}

fn default_key_prefix() -> String {
    "mcp-gateway".into()
}

fn default_redis_timeout() -> Span {
    Span::from_millis(100)
}

/// Behaviour when the shared rate-limit store is unreachable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailPolicy {
    /// Keep enforcing limits from this process's own buckets (per replica) until Redis
    /// answers again; counted in a metric. Never lets a caller past every limit.
    #[default]
    FailOpen,
    /// Refuse the request with 503 until Redis answers again.
    FailClosed,
}

/// GCRA on the server's clock. KEYS[1]: bucket; ARGV[1]: emission interval (µs); ARGV[2]:
/// period (µs). Returns 0 when allowed, else the microseconds until a token is free.
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local emission = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + emission
if next_tat - now > period then
  return next_tat - now - period
end
redis.call('SET', KEYS[1], next_tat, 'PX', math.floor((next_tat - now) / 1000) + 1000)
return 0
"#;

/// Why a [`RedisLimiter`] cannot be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum RedisSetupError {
    /// `rate_limit_store.redis.url` is not a Redis URL.
    #[error("rate_limit_store.redis.url: {source}")]
    Url {
        /// What the Redis client says is wrong with the URL.
        source: redis::RedisError,
    },
}

pub struct RedisLimiter {
    client: redis::Client,
    conn: ArcSwapOption<ConnectionManager>,
    connecting: tokio::sync::Mutex<()>,
    script: redis::Script,
    prefix: String,
    timeout: Duration,
    on_unavailable: FailPolicy,
    /// Buckets of this process, used while Redis is unavailable (`fail_open`).
    fallback: LocalLimiter,
}

impl RedisLimiter {
    pub fn new(cfg: &RedisConfig) -> Result<Self, RedisSetupError> {
        let client = redis::Client::open(cfg.url.as_str())
            .map_err(|source| RedisSetupError::Url { source })?;
        Ok(Self {
            client,
            conn: ArcSwapOption::empty(),
            connecting: tokio::sync::Mutex::new(()),
            script: redis::Script::new(GCRA),
            prefix: cfg.key_prefix.clone(),
            timeout: cfg.timeout.get(),
            on_unavailable: cfg.on_unavailable,
            fallback: LocalLimiter::new(),
        })
    }

    /// The shared connection, connecting on first use (the gateway starts even when Redis is
    /// down; the manager reconnects by itself afterwards).
    async fn connection(&self) -> Result<ConnectionManager, redis::RedisError> {
        if let Some(c) = self.conn.load_full() {
            return Ok((*c).clone());
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(c) = self.conn.load_full() {
            return Ok((*c).clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout.max(Duration::from_millis(200)))
            .set_response_timeout(self.timeout)
            .set_number_of_retries(1);
        let conn = self
            .client
            .get_connection_manager_with_config(config)
            .await?;
        self.conn.store(Some(std::sync::Arc::new(conn.clone())));
        Ok(conn)
    }

    fn key(&self, scope: Scope, user: &str, tool: &str) -> String {
        // Hash the identity: bounded key length, no user-controlled bytes in key names.
        let mut h = Sha256::new();
        h.update(user.as_bytes());
        h.update([0]);
        h.update(tool.as_bytes());
        let d = h.finalize();
        let hex: String = d.iter().take(12).map(|b| format!("{b:02x}")).collect();
        format!("{}:rl:{}:{hex}", self.prefix, scope.as_str())
    }

    pub async fn check(
        &self,
        scope: Scope,
        user: &str,
        tool: &str,
        rate: Rate,
    ) -> Result<(), Limited> {
        let key = self.key(scope, user, tool);
        let emission = rate.interval().as_micros().max(1) as u64;
        let period = rate.period.as_micros() as u64;
        let attempt = async {
            let mut conn = self.connection().await?;
            self.script
                .key(&key)
                .arg(emission)
                .arg(period)
                .invoke_async::<u64>(&mut conn)
                .await
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok(0)) => Ok(()),
            Ok(Ok(wait_us)) => Err(Limited {
                scope,
                retry_after: Duration::from_micros(wait_us),
                store_unavailable: false,
            }),
            Ok(Err(e)) => self.unavailable(scope, user, tool, rate, &e),
            Err(_) => self.unavailable(
                scope,
                user,
                tool,
                rate,
                &format!("no answer within {:?}", self.timeout),
            ),
        }
    }

    /// Forgets idle fallback buckets.
    pub fn sweep(&self) {
        self.fallback.sweep(std::time::Instant::now());
    }

    fn unavailable(
        &self,
        scope: Scope,
        user: &str,
        tool: &str,
        rate: Rate,
        why: &dyn std::fmt::Display,
    ) -> Result<(), Limited> {
        let policy = match self.on_unavailable {
            FailPolicy::FailOpen => "fail_open",
            FailPolicy::FailClosed => "fail_closed",
        };
        metrics::counter!("mcp_rate_limit_store_errors_total", "policy" => policy).increment(1);
        warn_rarely(&why.to_string(), policy);
        match self.on_unavailable {
            FailPolicy::FailOpen => {
                self.fallback
                    .check(scope, user, tool, rate, std::time::Instant::now())
            }
            FailPolicy::FailClosed => Err(Limited {
                scope,
                retry_after: Duration::from_secs(1),
                store_unavailable: true,
            }),
        }
    }
}

/// Logs a Redis failure at most once a second per message, so an outage does not flood logs.
fn warn_rarely(why: &str, policy: &str) {
    use std::sync::Mutex;
    static LAST: Mutex<Option<(u64, std::time::Instant)>> = Mutex::new(None);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    why.hash(&mut h);
    let sig = h.finish();
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let quiet = matches!(*last, Some((s, at)) if s == sig && at.elapsed() < Duration::from_secs(1));
    if !quiet {
        tracing::warn!(error = why, policy, "rate limit store (Redis) unavailable");
        *last = Some((sig, std::time::Instant::now()));
    }
}
