//! Call grants: who a sandbox call is for, signed by the gateway.
//!
//! A sandbox that requires its gateway's token takes the caller's identity (user, roles,
//! principal) only from a [`Grant`] the gateway signed with that token, never from the request
//! body. A grant is bound to one request id and expires soon after it was issued, so a grant
//! seen on the wire cannot be reused for another call or much later.
//!
//! The wire form is compact and has no algorithm field to confuse:
//! `base64url(JSON) "." base64url(HMAC-SHA256(key, base64url(JSON)))`, both without padding.
//! The key is the sandbox's auth token (the contents of its `--auth-token-file`, trimmed), which
//! the gateway holds as `sandboxes[].token_file`.
//!
//! This module does no I/O and reads no clock: callers pass `now_ms`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The longest token [`Grant::verify`] looks at. A grant names one caller and a handful of
/// roles; anything longer is refused before it is decoded.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// How long a grant should stay valid after the gateway issued it, for callers that have no
/// better figure (the call's own deadline plus a little clock skew is a good one).
pub const DEFAULT_TTL_MS: u64 = 5 * 60 * 1000;

type HmacSha256 = Hmac<Sha256>;

/// Who a call is for, as the gateway authenticated them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The caller's immutable, issuer-scoped id (e.g. `oidc:<issuer>#<sub>`, `key:<key id>`).
    pub principal: String,
    /// The caller's display name (audit lines and humans).
    pub user: String,
    /// The caller's roles, as the gateway's policy sees them.
    pub roles: Vec<String>,
    /// The request this grant is for; the sandbox refuses it for any other request id.
    pub request_id: String,
    /// Unix time in milliseconds after which the grant is refused.
    pub expires_at_ms: u64,
    /// When set, the only tool the grant may call (nested calls from that tool are the
    /// sandbox's own and are not checked against it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Where the sandbox sends calls, made from code under this grant, of tools it does not
    /// serve itself (an upstream MCP server's, federated by the gateway): the issuing gateway
    /// replica's base URL (see [`crate::callback`]). Absent when the gateway federates no
    /// server; such calls are then unknown tools. Signed like the rest, so a sandbox sends its
    /// token only to a URL its gateway chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<String>,
}

/// Why a grant token was refused. Messages never echo the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// The token is longer than any grant may be.
    #[error("the call grant is {len} bytes, more than the {max} a grant may have")]
    TooLong {
        /// The token's length in bytes.
        len: usize,
        /// The longest a grant may be, in bytes.
        max: usize,
    },
    /// The token is not two base64url parts joined by a dot.
    #[error("the call grant is not of the form <payload>.<signature> in base64url")]
    Malformed,
    /// The signature was not made with this sandbox's token.
    #[error(
        "the call grant's signature does not match: it was not signed with this sandbox's token"
    )]
    BadSignature,
    /// The signature holds but the payload does not decode to a grant; the decoder's message.
    #[error("the call grant's payload is not a grant: {0}")]
    BadPayload(String),
    /// The grant's expiry has passed.
    #[error("the call grant expired at {expires_at_ms} ms (now {now_ms} ms)")]
    Expired {
        /// When the grant expired, in ms since the Unix epoch.
        expires_at_ms: u64,
        /// The time it was checked, in ms since the Unix epoch.
        now_ms: u64,
    },
}

impl Grant {
    /// The signed, compact form of this grant.
    pub fn sign(&self, key: &[u8]) -> String {
        let json = serde_json::to_vec(self).expect("a grant always serializes");
        let payload = URL_SAFE_NO_PAD.encode(json);
        let tag = mac(key, payload.as_bytes()).finalize().into_bytes();
        let mut token = payload;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut token);
        token
    }

    /// The grant in `token`, if `key` signed it and it has not expired at `now_ms`.
    ///
    /// The signature is checked (in constant time) before the payload is decoded, so an
    /// attacker without the key cannot make the verifier parse anything.
    pub fn verify(token: &str, key: &[u8], now_ms: u64) -> Result<Grant, GrantError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(GrantError::TooLong {
                len: token.len(),
                max: MAX_TOKEN_LEN,
            });
        }
        let (payload, tag) = token.split_once('.').ok_or(GrantError::Malformed)?;
        if payload.is_empty() || tag.contains('.') {
            return Err(GrantError::Malformed);
        }
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| GrantError::Malformed)?;
        mac(key, payload.as_bytes())
            .verify_slice(&tag)
            .map_err(|_| GrantError::BadSignature)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| GrantError::Malformed)?;
        let grant: Grant =
            serde_json::from_slice(&json).map_err(|e| GrantError::BadPayload(e.to_string()))?;
        if now_ms >= grant.expires_at_ms {
            return Err(GrantError::Expired {
                expires_at_ms: grant.expires_at_ms,
                now_ms,
            });
        }
        Ok(grant)
    }
}

fn mac(key: &[u8], data: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"the-sandbox-token";
    const NOW: u64 = 1_700_000_000_000;

    fn grant() -> Grant {
        Grant {
            principal: "oidc:https://idp.example#1234".into(),
            user: "alice".into(),
            roles: vec!["mcp-user".into()],
            request_id: "req-1".into(),
            expires_at_ms: NOW + 60_000,
            tool: None,
            callback: None,
        }
    }

    #[test]
    fn a_signed_grant_verifies_with_the_same_key() {
        let token = grant().sign(KEY);
        assert_eq!(token.matches('.').count(), 1, "{token}");
        assert!(!token.contains('='), "no padding: {token}");
        assert_eq!(Grant::verify(&token, KEY, NOW).unwrap(), grant());
    }

    #[test]
    fn the_tool_binding_round_trips_and_is_optional_on_the_wire() {
        let bound = Grant {
            tool: Some("echo".into()),
            ..grant()
        };
        let back = Grant::verify(&bound.sign(KEY), KEY, NOW).unwrap();
        assert_eq!(back.tool.as_deref(), Some("echo"));
        let called_back = Grant {
            callback: Some("http://10.0.0.7:8080".into()),
            ..grant()
        };
        let back = Grant::verify(&called_back.sign(KEY), KEY, NOW).unwrap();
        assert_eq!(back.callback.as_deref(), Some("http://10.0.0.7:8080"));
        // A payload without the field (an older gateway) still parses.
        let json = r#"{"principal":"p","user":"u","roles":[],"request_id":"r","expires_at_ms":1}"#;
        let parsed: Grant = serde_json::from_str(json).unwrap();
        assert_eq!(parsed.tool, None);
        assert_eq!(parsed.callback, None);
    }

    #[test]
    fn another_key_is_refused() {
        let token = grant().sign(b"another-token");
        assert_eq!(
            Grant::verify(&token, KEY, NOW),
            Err(GrantError::BadSignature)
        );
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let token = grant().sign(KEY);
        let (_, tag) = token.split_once('.').unwrap();
        let forged = Grant {
            roles: vec!["mcp-admin".into()],
            ..grant()
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let tampered = format!("{payload}.{tag}");
        assert_eq!(
            Grant::verify(&tampered, KEY, NOW),
            Err(GrantError::BadSignature)
        );
    }

    #[test]
    fn a_truncated_or_flipped_signature_is_refused() {
        let token = grant().sign(KEY);
        let truncated = &token[..token.len() - 2];
        assert!(Grant::verify(truncated, KEY, NOW).is_err());
        let mut flipped = token.into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert!(Grant::verify(&flipped, KEY, NOW).is_err());
    }

    #[test]
    fn an_expired_grant_is_refused() {
        let token = grant().sign(KEY);
        let at = NOW + 60_000;
        assert_eq!(
            Grant::verify(&token, KEY, at),
            Err(GrantError::Expired {
                expires_at_ms: at,
                now_ms: at
            })
        );
        assert!(Grant::verify(&token, KEY, at - 1).is_ok());
    }

    #[test]
    fn malformed_tokens_are_refused_without_panicking() {
        for token in [
            "", ".", "abc", "abc.", ".abc", "a.b.c", "!!!.???", "e30.e30",
        ] {
            assert!(Grant::verify(token, KEY, NOW).is_err(), "{token:?}");
        }
        // A correctly signed payload that is not a grant.
        let payload = URL_SAFE_NO_PAD.encode(br#"{"user":"alice"}"#);
        let tag = URL_SAFE_NO_PAD.encode(mac(KEY, payload.as_bytes()).finalize().into_bytes());
        assert!(matches!(
            Grant::verify(&format!("{payload}.{tag}"), KEY, NOW),
            Err(GrantError::BadPayload(_))
        ));
    }

    #[test]
    fn an_oversized_token_is_refused_before_decoding() {
        let token = "A".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(
            Grant::verify(&token, KEY, NOW),
            Err(GrantError::TooLong {
                len: MAX_TOKEN_LEN + 1,
                max: MAX_TOKEN_LEN
            })
        );
    }

    #[test]
    fn errors_do_not_echo_the_token() {
        let token = grant().sign(b"other");
        let message = Grant::verify(&token, KEY, NOW).unwrap_err().to_string();
        assert!(!message.contains(&token[..10]), "{message}");
    }
}
