//! The shared secret the gateway presents to the sandbox (`Authorization: Bearer ...`), for
//! deployments where the sandbox is reachable over the network: without it, anyone who can
//! reach the sandbox could call tools with any user and roles. Presented tokens are compared
//! with the token's SHA-256 digest in constant time.
//!
//! The same token is the key the gateway signs call grants with ([`mcp_contract::grant`]), so
//! the token (trimmed) is also kept, as [`AccessToken::grant_key`].

use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

/// Shortest token accepted: 128 bits of hex or base64 and then some.
const MIN_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read the sandbox token file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the sandbox token in {path} is {len} characters; use at least {MIN_LEN} random ones \
         (e.g. `openssl rand -hex 32`)"
    )]
    TooShort { path: String, len: usize },
}

/// The expected token, as its digest.
#[derive(Clone)]
pub struct AccessToken {
    digest: [u8; 32],
    key: std::sync::Arc<[u8]>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(..)")
    }
}

impl AccessToken {
    /// Reads the token from `path` (surrounding whitespace, e.g. a final newline, is ignored).
    pub fn from_file(path: &Path) -> Result<Self, TokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let token = text.trim();
        if token.len() < MIN_LEN {
            return Err(TokenError::TooShort {
                path: path.display().to_string(),
                len: token.len(),
            });
        }
        Ok(Self {
            digest: Sha256::digest(token.as_bytes()).into(),
            key: std::sync::Arc::from(token.as_bytes()),
        })
    }

    /// The key call grants are signed with: the token itself, trimmed.
    pub fn grant_key(&self) -> std::sync::Arc<[u8]> {
        self.key.clone()
    }

    /// Whether an `Authorization` header value carries this token.
    pub fn admits(&self, authorization: Option<&[u8]>) -> bool {
        let Some(presented) = authorization.and_then(|h| h.strip_prefix(b"Bearer ")) else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(presented).into();
        digest.ct_eq(&self.digest).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_admitted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let secret = "0123456789abcdef0123456789abcdef";
        std::fs::write(&path, format!("{secret}\n")).unwrap();
        let token = AccessToken::from_file(&path).unwrap();
        assert!(token.admits(Some(format!("Bearer {secret}").as_bytes())));
        assert!(!token.admits(None));
        assert!(!token.admits(Some(secret.as_bytes())));
        assert!(!token.admits(Some(format!("Bearer {secret}x").as_bytes())));
        assert!(!token.admits(Some(format!("bearer {secret}").as_bytes())));
        assert!(!token.admits(Some(b"Bearer ")));
        assert_eq!(&*token.grant_key(), secret.as_bytes());
        assert_eq!(format!("{token:?}"), "AccessToken(..)");
    }

    #[test]
    fn short_or_missing_tokens_are_refused_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "short").unwrap();
        let e = AccessToken::from_file(&path).err().unwrap().to_string();
        assert!(e.contains("openssl rand"), "{e}");
        let e = AccessToken::from_file(&dir.path().join("none"))
            .err()
            .unwrap();
        assert!(matches!(e, TokenError::Read { .. }));
    }
}
