//! The first look at a token, before any key is touched: its shape (three base64url parts,
//! bounded size) and its header (`alg` in the allow-list, `typ` accepted, no `crit`).
//!
//! `alg: none` and algorithms outside the allow-list are rejected here, so they never reach key
//! selection. Header fields that point at keys (`jku`, `x5u`, `jwk`, `x5c`) are ignored: keys
//! only ever come from the configured provider's JWKS.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use crate::error::AuthError;
use crate::oidc::{OidcSettings, normalise_typ};
use crate::untrusted::quote;

/// Real access tokens are a few KiB; this bounds the work an attacker can ask for.
pub(crate) const MAX_TOKEN_BYTES: usize = 16 * 1024;
const MAX_HEADER_BYTES: usize = 2048;

/// What verification needs from the header.
#[derive(Debug)]
pub(crate) struct TokenHeader {
    pub alg: Algorithm,
    pub kid: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

fn malformed(what: &str) -> AuthError {
    AuthError::Malformed(format!(
        "the access token {what}: send the JWT exactly as the identity provider issued it"
    ))
}

/// Checks the token's shape and header.
pub(crate) fn inspect(token: &str, settings: &OidcSettings) -> Result<TokenHeader, AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(malformed(&format!(
            "is larger than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("is not a JWT (three dot-separated parts)"));
    };
    let base64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if header.is_empty()
        || payload.is_empty()
        || ![header, payload, signature].iter().all(|p| base64url(p))
    {
        return Err(malformed("is not a JWT (parts must be base64url)"));
    }
    if header.len() > MAX_HEADER_BYTES {
        return Err(malformed("has an oversized header"));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| malformed("has a header that is not base64url"))?;
    let raw: RawHeader = serde_json::from_slice(&bytes)
        .map_err(|_| malformed("has a header that is not a JSON object with `alg`"))?;
    let alg = match Algorithm::from_str(&raw.alg) {
        Ok(alg) if settings.algorithms.contains(&alg) => alg,
        _ => return Err(AuthError::DisallowedAlgorithm(quote(&raw.alg))),
    };
    if raw.crit.is_some() {
        return Err(malformed(
            "marks header extensions as critical (`crit`), which this gateway does not support",
        ));
    }
    match raw.typ.as_deref() {
        None if settings.allow_untyped => {}
        None => {
            return Err(malformed(
                "has no `typ` header; an access token (at+jwt) is expected",
            ));
        }
        Some(typ) if settings.accepted_types.contains(&normalise_typ(typ)) => {}
        Some(typ) => {
            return Err(malformed(&format!(
                "has type {} (header `typ`), which is not accepted as an access token",
                quote(typ)
            )));
        }
    }
    Ok(TokenHeader { alg, kid: raw.kid })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::oidc::OidcConfig;

    fn settings() -> OidcSettings {
        OidcSettings::from_config(OidcConfig::new("https://idp", "aud")).unwrap()
    }

    fn token(header: serde_json::Value) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode("{}")
        )
    }

    #[test]
    fn allowed_headers_pass() {
        let h = inspect(
            &token(json!({"alg": "RS256", "kid": "k", "typ": "at+jwt"})),
            &settings(),
        )
        .unwrap();
        assert_eq!((h.alg, h.kid.as_deref()), (Algorithm::RS256, Some("k")));
        assert!(
            inspect(
                &token(json!({"alg": "RS256", "typ": "application/JWT"})),
                &settings()
            )
            .is_ok()
        );
        assert!(inspect(&token(json!({"alg": "RS256"})), &settings()).is_ok());
    }

    #[test]
    fn none_and_unlisted_algorithms_are_refused_before_keys() {
        for alg in ["none", "None", "HS256", "RS384", "", "RS256\n"] {
            let e = inspect(&token(json!({"alg": alg})), &settings()).unwrap_err();
            assert!(matches!(e, AuthError::DisallowedAlgorithm(_)), "{alg}: {e}");
            assert_eq!(e.reason(), "bad_signature");
        }
        let e = inspect(&token(json!({"alg": "x\u{1b}[31m"})), &settings()).unwrap_err();
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
    }

    #[test]
    fn refused_types_crit_and_bad_shapes_are_malformed() {
        let cases = [
            token(json!({"alg": "RS256", "typ": "id_token+jwt"})),
            token(json!({"alg": "RS256", "crit": ["exp"]})),
            token(json!({"typ": "JWT"})),
            "a.b".to_owned(),
            "a.b.c.d".to_owned(),
            ".e30.sig".to_owned(),
            "eyJ!.e30.sig".to_owned(),
            "x".repeat(MAX_TOKEN_BYTES + 1),
        ];
        for t in cases {
            let e = inspect(&t, &settings()).unwrap_err();
            assert_eq!(e.reason(), "malformed", "{t:.60}: {e}");
        }
        let mut strict = settings();
        strict.allow_untyped = false;
        assert!(inspect(&token(json!({"alg": "RS256"})), &strict).is_err());
    }
}
