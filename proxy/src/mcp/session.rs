//! Stateless session ids: `Mcp-Session-Id` is an authenticated, encrypted token
//! (XChaCha20-Poly1305) holding the negotiated protocol version, a hash of the principal it was
//! issued to, and its expiry. Any replica with the same key validates it; nothing is stored.
//!
//! A session id presented by a different principal, expired, or forged is rejected, and the
//! client must initialize again (HTTP 404, as the spec asks for unknown sessions).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use super::version;

const PREFIX: &str = "mcps1.";
const AAD: &[u8] = b"mcp-gateway session v1";
const PLAINTEXT_LEN: usize = 1 + 16 + 8 + 8;

/// Why a session id was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("the session id is not one this gateway issued")]
    Invalid,
    #[error("the session has expired")]
    Expired,
    #[error("the session belongs to another principal")]
    OtherPrincipal,
}

/// What a valid session id says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub protocol_version: &'static str,
    pub expires_at: u64,
}

/// The session key (and the previous one during rotation).
pub struct SessionKeys {
    current: XChaCha20Poly1305,
    previous: Option<XChaCha20Poly1305>,
    ttl_secs: u64,
}

/// Why a session key file cannot be used; names the file, never its content.
#[derive(Debug, thiserror::Error)]
pub enum SessionKeyError {
    #[error("cannot read session key {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("session key {path} is not base64")]
    NotBase64 {
        path: std::path::PathBuf,
        #[source]
        source: base64::DecodeError,
    },
    #[error(
        "session key {path} must decode to exactly 32 bytes (make one with: head -c 32 /dev/urandom | base64)"
    )]
    WrongLength { path: std::path::PathBuf },
}

impl SessionKeys {
    pub fn new(current: [u8; 32], previous: Option<[u8; 32]>, ttl_secs: u64) -> Self {
        Self {
            current: XChaCha20Poly1305::new(&current.into()),
            previous: previous.map(|k| XChaCha20Poly1305::new(&k.into())),
            ttl_secs,
        }
    }

    /// A fresh random key, for a single instance without a configured secret.
    pub fn random(ttl_secs: u64) -> Self {
        Self::new(rand::random(), None, ttl_secs)
    }

    /// Reads a key file: 32 bytes, base64 (standard or URL-safe) on one line.
    pub fn read_key(path: &std::path::Path) -> Result<[u8; 32], SessionKeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| SessionKeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        let text = text.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text))
            .map_err(|source| SessionKeyError::NotBase64 {
                path: path.to_owned(),
                source,
            })?;
        bytes.try_into().map_err(|_| SessionKeyError::WrongLength {
            path: path.to_owned(),
        })
    }

    /// Issues a session id for `principal` speaking `protocol_version`.
    pub fn issue(&self, principal: &str, protocol_version: &str, now: u64) -> String {
        let mut plain = [0u8; PLAINTEXT_LEN];
        plain[0] = version::index_of(protocol_version).unwrap_or(0);
        plain[1..17].copy_from_slice(&principal_hash(principal));
        plain[17..25].copy_from_slice(&now.to_be_bytes());
        plain[25..33].copy_from_slice(&(now + self.ttl_secs).to_be_bytes());
        let nonce: [u8; 24] = rand::random();
        let sealed = self
            .current
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &plain,
                    aad: AAD,
                },
            )
            .expect("XChaCha20-Poly1305 encryption of a short buffer cannot fail");
        let mut raw = Vec::with_capacity(24 + sealed.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&sealed);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
    }

    /// Validates a session id presented by `principal`.
    pub fn open(&self, id: &str, principal: &str, now: u64) -> Result<Session, SessionError> {
        let encoded = id.strip_prefix(PREFIX).ok_or(SessionError::Invalid)?;
        if encoded.len() > 256 {
            return Err(SessionError::Invalid);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| SessionError::Invalid)?;
        if raw.len() < 24 + 16 {
            return Err(SessionError::Invalid);
        }
        let (nonce, sealed) = raw.split_at(24);
        let nonce = XNonce::from(<[u8; 24]>::try_from(nonce).map_err(|_| SessionError::Invalid)?);
        let payload = || Payload {
            msg: sealed,
            aad: AAD,
        };
        let plain = self
            .current
            .decrypt(&nonce, payload())
            .or_else(|_| match &self.previous {
                Some(prev) => prev.decrypt(&nonce, payload()),
                None => Err(chacha20poly1305::aead::Error),
            })
            .map_err(|_| SessionError::Invalid)?;
        if plain.len() != PLAINTEXT_LEN {
            return Err(SessionError::Invalid);
        }
        let expires_at = u64::from_be_bytes(
            plain[25..33]
                .try_into()
                .map_err(|_| SessionError::Invalid)?,
        );
        if now >= expires_at {
            return Err(SessionError::Expired);
        }
        if plain[1..17] != principal_hash(principal) {
            return Err(SessionError::OtherPrincipal);
        }
        let protocol_version = version::by_index(plain[0]).ok_or(SessionError::Invalid)?;
        Ok(Session {
            protocol_version,
            expires_at,
        })
    }
}

fn principal_hash(principal: &str) -> [u8; 16] {
    let d = Sha256::digest(principal.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn issued_ids_open_for_the_same_principal_on_any_replica() {
        let key = [7u8; 32];
        let a = SessionKeys::new(key, None, 3600);
        let b = SessionKeys::new(key, None, 3600);
        let id = a.issue("jwt:alice", "2025-06-18", NOW);
        assert!(id.starts_with("mcps1.") && id.bytes().all(|c| (0x21..=0x7e).contains(&c)));
        let s = b.open(&id, "jwt:alice", NOW + 10).unwrap();
        assert_eq!(s.protocol_version, "2025-06-18");
        assert_eq!(s.expires_at, NOW + 3600);
    }

    #[test]
    fn other_principals_expired_and_forged_ids_are_refused() {
        let k = SessionKeys::new([1u8; 32], None, 60);
        let id = k.issue("jwt:alice", "2025-11-25", NOW);
        assert_eq!(
            k.open(&id, "jwt:bob", NOW),
            Err(SessionError::OtherPrincipal)
        );
        assert_eq!(
            k.open(&id, "jwt:alice", NOW + 60),
            Err(SessionError::Expired)
        );
        let other = SessionKeys::new([2u8; 32], None, 60);
        assert_eq!(
            other.open(&id, "jwt:alice", NOW),
            Err(SessionError::Invalid)
        );
        let mut tampered = id.clone().into_bytes();
        let last = tampered.len() - 5;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            k.open(std::str::from_utf8(&tampered).unwrap(), "jwt:alice", NOW),
            Err(SessionError::Invalid)
        );
        for junk in ["", "mcps1.", "mcps1.!!!", "abc", &"mcps1.A".repeat(100)] {
            assert_eq!(
                k.open(junk, "jwt:alice", NOW),
                Err(SessionError::Invalid),
                "{junk}"
            );
        }
    }

    #[test]
    fn ids_from_the_previous_key_still_open_during_rotation() {
        let old = SessionKeys::new([3u8; 32], None, 60);
        let id = old.issue("api_key:bob", "2025-11-25", NOW);
        let rotated = SessionKeys::new([4u8; 32], Some([3u8; 32]), 60);
        assert!(rotated.open(&id, "api_key:bob", NOW).is_ok());
    }
}
