//! The API key format and its hash; no storage, no I/O.
//!
//! A key reads `mcpk_<id>_<secret>`: `id` is 12 lowercase hex characters (48 random bits; it
//! names the key file and appears in logs, so it is not secret), `secret` is 32 random bytes in
//! base64url without padding (43 characters). Only `sha256:<hex>` of the secret's bytes is
//! stored.
//!
//! Why a fast hash is enough: slow password hashes (argon2, bcrypt) exist to make guessing
//! low-entropy passwords expensive. A 256-bit uniformly random secret cannot be guessed or
//! brute-forced from its SHA-256 at any hash speed, so a slow hash would only add milliseconds
//! of CPU to every request. Comparison is constant-time ([`subtle`]).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::AuthError;

/// Every API key starts with this; the authenticator routes on it.
pub const PREFIX: &str = "mcpk_";
const ID_LEN: usize = 12;
const SECRET_BYTES: usize = 32;
const SECRET_CHARS: usize = 43;
const HASH_PREFIX: &str = "sha256:";

/// A key's id: 12 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

/// Text that is not a key id; carries it as given (shown quoted and cut, as untrusted input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "key id {} is not valid: expected {ID_LEN} lowercase hex characters (e.g. 3f9a0c1b7d2e)",
    crate::untrusted::quote(.0)
)]
pub struct InvalidKeyId(pub String);

/// Text that is not a stored key hash (its value is never shown: it derives from a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected \"sha256:\" followed by 64 lowercase hex characters (the hash of the key's secret)"
)]
pub struct InvalidKeyHash;

impl KeyId {
    /// Checks the form of an id.
    pub fn parse(s: &str) -> Result<Self, InvalidKeyId> {
        if s.len() == ID_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidKeyId(s.to_owned()))
        }
    }

    /// A new random id.
    pub fn generate() -> Self {
        let mut bytes = [0u8; ID_LEN / 2];
        rand::rng().fill_bytes(&mut bytes);
        Self(hex(&bytes))
    }

    /// The id as its hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key's secret bytes. Debug redacts.
#[derive(Clone)]
pub(crate) struct Secret([u8; SECRET_BYTES]);

impl Secret {
    fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub(crate) fn hash(&self) -> KeyHash {
        KeyHash(Sha256::digest(self.0).into())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The stored form of a secret: `sha256:<64 hex>`. Debug redacts (it is derived from a secret).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    /// Parses `sha256:<64 lowercase hex>`.
    pub fn parse(s: &str) -> Result<Self, InvalidKeyHash> {
        let hex_part = s.strip_prefix(HASH_PREFIX).ok_or(InvalidKeyHash)?;
        let bytes = unhex(hex_part).ok_or(InvalidKeyHash)?;
        Ok(Self(bytes.try_into().map_err(|_| InvalidKeyHash)?))
    }

    /// Whether `secret` hashes to this value, compared in constant time.
    pub(crate) fn matches(&self, secret: &Secret) -> bool {
        let presented: [u8; 32] = Sha256::digest(secret.0).into();
        presented.ct_eq(&self.0).into()
    }
}

impl fmt::Display for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{HASH_PREFIX}{}", hex(&self.0))
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHash(<redacted>)")
    }
}

/// A freshly generated key: its id, its hash to store, and the full key string to show once.
pub struct NewKey {
    /// The key's public id, also its file name.
    pub id: KeyId,
    /// The hash of the secret, the only form of it that is stored.
    pub hash: KeyHash,
    secret: Secret,
}

impl NewKey {
    /// A new key with a random id and secret.
    pub fn generate() -> Self {
        let secret = Secret::generate();
        Self {
            id: KeyId::generate(),
            hash: secret.hash(),
            secret,
        }
    }

    /// The key as the client presents it: `mcpk_<id>_<secret>`. Show it once; never store it.
    pub fn reveal(&self) -> String {
        format!(
            "{PREFIX}{}_{}",
            self.id,
            URL_SAFE_NO_PAD.encode(self.secret.0)
        )
    }
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Splits a presented key into id and secret. Errors never quote the key.
pub(crate) fn parse_presented(key: &str) -> Result<(KeyId, Secret), AuthError> {
    let malformed = |what: &str| {
        AuthError::Malformed(format!(
            "the API key {what}: expected mcpk_<12 hex characters>_<43 base64url characters>"
        ))
    };
    let rest = key
        .strip_prefix(PREFIX)
        .ok_or_else(|| malformed("does not start with mcpk_"))?;
    // The id is hex, so the first `_` ends it; the secret's alphabet may contain `_` itself.
    let (id, secret) = rest
        .split_once('_')
        .ok_or_else(|| malformed("has no secret part"))?;
    let id = KeyId::parse(id).map_err(|_| malformed("has an id of the wrong form"))?;
    if secret.len() != SECRET_CHARS {
        return Err(malformed("has a secret of the wrong length"));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(secret)
        .map_err(|_| malformed("has a secret that is not base64url"))?;
    let bytes: [u8; SECRET_BYTES] = bytes
        .try_into()
        .map_err(|_| malformed("has a secret of the wrong length"))?;
    Ok((id, Secret(bytes)))
}

/// A hash that no secret is known to match, compared against when the id is unknown so that
/// unknown ids and wrong secrets take the same time.
pub(crate) fn decoy_hash() -> &'static KeyHash {
    static DECOY: KeyHash = KeyHash([0x5a; 32]);
    &DECOY
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape_and_parse_back() {
        let key = NewKey::generate();
        let text = key.reveal();
        assert!(text.starts_with("mcpk_"));
        assert_eq!(text.len(), 5 + 12 + 1 + 43);
        let (id, secret) = parse_presented(&text).unwrap();
        assert_eq!(id, key.id);
        assert!(key.hash.matches(&secret));
        assert_ne!(NewKey::generate().reveal(), text, "keys are random");
    }

    #[test]
    fn a_secret_with_underscores_still_splits_at_the_id() {
        // Force a secret that contains '_' (0xff bytes encode as "__8" runs in base64url).
        let secret = Secret([0xff; 32]);
        let text = format!("mcpk_0123456789ab_{}", URL_SAFE_NO_PAD.encode(secret.0));
        assert!(text[18..].contains('_'));
        let (id, parsed) = parse_presented(&text).unwrap();
        assert_eq!(id.as_str(), "0123456789ab");
        assert!(secret.hash().matches(&parsed));
    }

    #[test]
    fn malformed_keys_are_rejected_without_echoing_them() {
        let good = NewKey::generate().reveal();
        let cases = [
            "mcpk_".to_owned(),
            "mcpk_0123456789ab".to_owned(),
            "mcpk_0123456789AB_".to_owned() + &good[18..],
            "mcpk_0123456789a_".to_owned() + &good[18..],
            good[..good.len() - 1].to_owned(),
            good.clone() + "A",
            format!("{}!", &good[..good.len() - 1]),
            "sk_live_0123".to_owned(),
        ];
        for bad in cases {
            let e = parse_presented(&bad).unwrap_err();
            assert_eq!(e.reason(), "malformed", "{bad}");
            if bad.len() > 20 {
                assert!(!e.to_string().contains(&bad[18..]), "{e}");
            }
        }
    }

    #[test]
    fn hash_round_trips_and_compares_only_equal_secrets() {
        let a = Secret::generate();
        let b = Secret::generate();
        let h = a.hash();
        let parsed = KeyHash::parse(&h.to_string()).unwrap();
        assert!(parsed == h);
        assert!(h.matches(&a));
        assert!(!h.matches(&b));
        assert!(!decoy_hash().matches(&a));
        assert_eq!(format!("{h:?}"), "KeyHash(<redacted>)");
        for bad in ["sha256:abc", "md5:00", &h.to_string().to_uppercase()] {
            assert!(KeyHash::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_output_never_contains_the_secret() {
        let key = NewKey::generate();
        let text = key.reveal();
        let dbg = format!("{key:?}");
        assert!(!dbg.contains(&text[18..]), "{dbg}");
        assert!(dbg.contains("<redacted>"));
    }

    #[test]
    fn ids_are_validated() {
        assert!(KeyId::parse("3f9a0c1b7d2e").is_ok());
        for bad in [
            "3f9a0c1b7d2",
            "3f9a0c1b7d2e0",
            "3F9A0C1B7D2E",
            "../etc/pass",
        ] {
            assert!(KeyId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(KeyId::generate().as_str().len(), 12);
    }
}
