//! The identity provider's signing keys, cached: discovery (unless `jwks_uri` is configured),
//! JWKS fetches, and the rules for refetching.
//!
//! - A token whose key is not cached triggers one refetch, rate-limited to one per
//!   `refresh_min_interval` and coalesced: concurrent misses wait for the same fetch.
//! - A failed fetch keeps the cached keys; tokens signed by them keep working.
//! - A fetch that removes or replaces a key bumps the [`epoch`](Jwks::epoch), which
//!   invalidates tokens verified with the old keys in the verification cache.
//!
//! Reads on the request path are lock-free (`ArcSwap`); only refetches take a lock.

mod fetch;
mod keyset;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;
use jsonwebtoken::Algorithm;

pub use fetch::KeyFetchError;
pub(crate) use fetch::client;
pub use keyset::KeySetError;
pub(crate) use keyset::SigningKey;
use keyset::{KeySet, Lookup};

use crate::error::{AuthError, Credential};
use crate::oidc::OidcSettings;

/// The key cache's health, for `/ready` and `doctor`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwksState {
    /// Whether OIDC is configured at all.
    pub enabled: bool,
    /// Signing keys cached.
    pub keys: usize,
    /// The JWKS URL in use (configured or discovered).
    pub jwks_uri: Option<String>,
    /// When keys were last fetched successfully.
    pub last_success: Option<SystemTime>,
    /// When a fetch last failed.
    pub last_failure: Option<SystemTime>,
    /// Why the last fetch failed (cleared by a success).
    pub last_error: Option<String>,
    /// Fetches attempted since start.
    pub fetches_total: u64,
    /// Fetches that failed since start.
    pub failures_total: u64,
}

impl JwksState {
    /// Whether tokens can be verified: keys are cached.
    pub fn is_ready(&self) -> bool {
        self.keys > 0
    }

    /// Whether the most recent fetch failed.
    pub fn is_failing(&self) -> bool {
        self.last_error.is_some()
    }
}

/// Bookkeeping of fetches; holding its lock is what serialises them.
struct FetchSlot {
    last_attempt: Option<Instant>,
    last_result: Result<usize, KeyFetchError>,
    /// Discovered JWKS URL (a configured one is in the settings).
    discovered: Option<String>,
}

pub(crate) struct Jwks {
    settings: Arc<OidcSettings>,
    http: reqwest::Client,
    keys: ArcSwap<KeySet>,
    epoch: AtomicU64,
    fetch: tokio::sync::Mutex<FetchSlot>,
    state: Mutex<JwksState>,
}

impl Jwks {
    pub fn new(settings: Arc<OidcSettings>, http: reqwest::Client) -> Self {
        let state = JwksState {
            enabled: true,
            jwks_uri: settings.jwks_uri.clone(),
            ..JwksState::default()
        };
        Self {
            settings,
            http,
            keys: ArcSwap::from_pointee(KeySet::default()),
            epoch: AtomicU64::new(0),
            fetch: tokio::sync::Mutex::new(FetchSlot {
                last_attempt: None,
                last_result: Ok(0),
                discovered: None,
            }),
            state: Mutex::new(state),
        }
    }

    /// Changes whenever a fetch removes or replaces a key.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn state(&self) -> JwksState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The key to verify a token with `kid` and `alg`; refetches once (rate-limited) on a miss.
    pub async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<SigningKey>, AuthError> {
        match self.keys.load().find(kid, alg) {
            Lookup::Found(key) => return Ok(key),
            Lookup::WrongType => return Err(AuthError::BadSignature(Credential::Token)),
            Lookup::Missing | Lookup::Ambiguous => {}
        }
        self.refetch_on_miss().await;
        match self.keys.load().find(kid, alg) {
            Lookup::Found(key) => Ok(key),
            Lookup::WrongType => Err(AuthError::BadSignature(Credential::Token)),
            Lookup::Missing | Lookup::Ambiguous => match self.state().last_error {
                // The provider may have rotated to a key we cannot see: not the client's fault.
                Some(error) => Err(AuthError::KeysUnavailable(error)),
                None => Err(AuthError::UnknownKey(Credential::Token)),
            },
        }
    }

    /// Fetches now unless a fetch happened within `refresh_min_interval`; waits for a fetch
    /// already under way instead of starting another.
    async fn refetch_on_miss(&self) {
        let mut slot = self.fetch.lock().await;
        let recent = slot
            .last_attempt
            .is_some_and(|t| t.elapsed() < self.settings.refresh_min_interval);
        if !recent {
            // The outcome is recorded in the state, which `key_for` consults.
            let _ = self.fetch_locked(&mut slot, false).await;
        }
    }

    /// Discovery (unless configured) and a JWKS fetch now. A call that arrives while another
    /// fetch is under way shares that fetch's result.
    pub async fn refresh(&self) -> Result<usize, KeyFetchError> {
        let requested = Instant::now();
        let mut slot = self.fetch.lock().await;
        if slot.last_attempt.is_some_and(|t| t >= requested) {
            return slot.last_result.clone();
        }
        self.fetch_locked(&mut slot, true).await
    }

    async fn fetch_locked(
        &self,
        slot: &mut FetchSlot,
        rediscover: bool,
    ) -> Result<usize, KeyFetchError> {
        slot.last_attempt = Some(Instant::now());
        let result = self.fetch_keys(slot, rediscover).await;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.fetches_total += 1;
        let result = match result {
            Ok((uri, set, skipped)) => {
                let old = self.keys.load();
                let changed = old.lost_keys_in(&set) || set.lost_keys_in(&old);
                if old.lost_keys_in(&set) {
                    self.epoch.fetch_add(1, Ordering::AcqRel);
                }
                if changed {
                    tracing::info!(jwks_uri = %uri, kids = ?set.kids(), ?skipped,
                        "identity provider signing keys loaded");
                }
                let n = set.len();
                self.keys.store(Arc::new(set));
                state.keys = n;
                state.jwks_uri = Some(uri);
                state.last_success = Some(SystemTime::now());
                state.last_error = None;
                Ok(n)
            }
            Err(error) => {
                tracing::warn!(%error, cached_keys = state.keys,
                    "cannot fetch the identity provider's signing keys; cached keys stay in use");
                state.failures_total += 1;
                state.last_failure = Some(SystemTime::now());
                state.last_error = Some(error.to_string());
                Err(error)
            }
        };
        slot.last_result = result.clone();
        result
    }

    async fn fetch_keys(
        &self,
        slot: &mut FetchSlot,
        rediscover: bool,
    ) -> Result<(String, KeySet, Vec<String>), KeyFetchError> {
        let uri = match (&self.settings.jwks_uri, &slot.discovered) {
            (Some(configured), _) => configured.clone(),
            (None, Some(known)) if !rediscover => known.clone(),
            (None, _) => {
                let uri = fetch::discover(&self.http, &self.settings).await?;
                slot.discovered = Some(uri.clone());
                uri
            }
        };
        let body = fetch::get(&self.http, &uri).await?;
        let (set, skipped) =
            KeySet::parse(&body, &self.settings.algorithms).map_err(|e| KeyFetchError::Keys {
                uri: uri.clone(),
                source: Arc::new(e),
            })?;
        Ok((uri, set, skipped))
    }
}
