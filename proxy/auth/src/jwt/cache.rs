//! Remembers tokens that verified, so the signature check (about 100 µs for RS256) is paid
//! once per token rather than once per request.
//!
//! Keyed by the SHA-256 of the token (the token itself is never stored); an entry is valid
//! until the token's `exp` and only for the key epoch it was verified under. Failures are never
//! cached. Bounded: when full, expired entries are dropped first, then an arbitrary tenth.

use std::time::SystemTime;

use dashmap::DashMap;
use sha2::{Digest, Sha256};

use crate::principal::Principal;

pub(crate) type TokenDigest = [u8; 32];

pub(crate) fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

struct Entry {
    principal: Principal,
    expires: SystemTime,
    epoch: u64,
}

pub(crate) struct VerifiedCache {
    map: DashMap<TokenDigest, Entry>,
    capacity: usize,
}

impl VerifiedCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            map: DashMap::new(),
            capacity,
        }
    }

    /// The principal of a token verified under `epoch` that has not expired at `now`.
    pub fn get(&self, digest: &TokenDigest, now: SystemTime, epoch: u64) -> Option<Principal> {
        let entry = self.map.get(digest)?;
        if entry.expires > now && entry.epoch == epoch {
            return Some(entry.principal.clone());
        }
        drop(entry);
        self.map.remove(digest);
        None
    }

    pub fn insert(
        &self,
        digest: TokenDigest,
        principal: Principal,
        expires: SystemTime,
        epoch: u64,
    ) {
        if self.map.len() >= self.capacity {
            self.make_room(epoch);
        }
        self.map.insert(
            digest,
            Entry {
                principal,
                expires,
                epoch,
            },
        );
    }

    fn make_room(&self, epoch: u64) {
        let now = SystemTime::now();
        self.map.retain(|_, e| e.expires > now && e.epoch == epoch);
        if self.map.len() >= self.capacity {
            let mut n = 0usize;
            let drop_count = (self.capacity / 10).max(1);
            self.map.retain(|_, _| {
                n += 1;
                n > drop_count
            });
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::principal::AuthMethod;

    fn principal(user: &str) -> Principal {
        Principal {
            id: Principal::oidc_id("https://idp", user),
            user: Arc::from(user),
            roles: Arc::from(Vec::<String>::new()),
            method: AuthMethod::Jwt,
            key_id: None,
            expires_at: None,
        }
    }

    #[test]
    fn entries_expire_at_exp_and_with_the_key_epoch() {
        let cache = VerifiedCache::new(10);
        let now = SystemTime::now();
        let d = digest("token-a");
        cache.insert(d, principal("a"), now + Duration::from_secs(60), 0);
        assert_eq!(&*cache.get(&d, now, 0).unwrap().user, "a");
        assert!(
            cache.get(&d, now, 1).is_none(),
            "a new key epoch invalidates"
        );
        cache.insert(d, principal("a"), now + Duration::from_secs(60), 0);
        assert!(cache.get(&d, now + Duration::from_secs(61), 0).is_none());
        assert_eq!(cache.len(), 0, "stale entries are removed on lookup");
    }

    #[test]
    fn the_cache_stays_within_capacity() {
        let cache = VerifiedCache::new(100);
        let later = SystemTime::now() + Duration::from_secs(60);
        for i in 0..1000 {
            cache.insert(digest(&format!("t{i}")), principal("u"), later, 0);
            assert!(cache.len() <= 100);
        }
        assert!(cache.get(&digest("t999"), SystemTime::now(), 0).is_some());
    }
}
