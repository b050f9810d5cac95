//! Verifying an OIDC access token into a [`Principal`].
//!
//! Order of checks: verification cache; shape and header (`alg` allow-list, `typ`) before any
//! key is touched; the key by `kid` from the JWKS cache (with a type/algorithm fit check);
//! signature; then `iss` (exact), `aud` (contains ours), `exp`/`nbf` with leeway; then the user
//! and roles from the configured claims. A token that passes is cached until its `exp`.

mod cache;
mod header;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::Validation;
use jsonwebtoken::errors::ErrorKind;
use serde_json::{Map, Value};

use crate::error::{AuthError, Credential};
use crate::jwks::{Jwks, JwksState};
use crate::oidc::{OidcSettings, extract_roles, extract_user};
use crate::principal::{AuthMethod, Principal};

pub(crate) use header::MAX_TOKEN_BYTES;

pub(crate) struct JwtVerifier {
    settings: Arc<OidcSettings>,
    jwks: Jwks,
    cache: cache::VerifiedCache,
    validation: Validation,
}

impl JwtVerifier {
    pub fn new(settings: Arc<OidcSettings>, http: reqwest::Client) -> Self {
        let mut validation = Validation::new(settings.algorithms[0]);
        validation.algorithms = settings.algorithms.clone();
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        // Required so that a present-but-unparseable `iss`/`aud` fails instead of being skipped.
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = settings.leeway.as_secs();
        Self {
            cache: cache::VerifiedCache::new(settings.cache_entries),
            jwks: Jwks::new(Arc::clone(&settings), http),
            settings,
            validation,
        }
    }

    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let now = SystemTime::now();
        let digest = cache::digest(token);
        // Read before verifying: if keys are removed meanwhile, the entry is born stale.
        let epoch = self.jwks.epoch();
        if let Some(principal) = self.cache.get(&digest, now, epoch) {
            return Ok(principal);
        }
        let header = header::inspect(token, &self.settings)?;
        let key = self.jwks.key_for(header.kid.as_deref(), header.alg).await?;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &self.validation)
            .map_err(|e| map_error(e.into_kind()))?;
        let claims = data.claims;
        let user = extract_user(&claims, &self.settings.user_claims)?;
        let id = subject_id(&claims)?;
        let roles = extract_roles(&claims, &self.settings.role_claims);
        let expires_at = claims
            .get("exp")
            .and_then(Value::as_u64)
            .map(|exp| UNIX_EPOCH + Duration::from_secs(exp));
        let principal = Principal {
            id,
            user,
            roles,
            method: AuthMethod::Jwt,
            key_id: None,
            expires_at,
        };
        // Tokens accepted only thanks to the leeway are not cached.
        if let Some(exp) = expires_at
            && exp > now
        {
            self.cache.insert(digest, principal.clone(), exp, epoch);
        }
        Ok(principal)
    }

    pub async fn refresh(&self) -> Result<usize, crate::jwks::KeyFetchError> {
        self.jwks.refresh().await
    }

    pub fn state(&self) -> JwksState {
        self.jwks.state()
    }

    pub fn refresh_interval(&self) -> Duration {
        self.settings.refresh_interval
    }
}

fn map_error(kind: ErrorKind) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            AuthError::BadSignature(Credential::Token)
        }
        ErrorKind::ExpiredSignature => AuthError::Expired(Credential::Token),
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        // A token without `aud`/`iss` is not for this gateway / not from its issuer.
        ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => AuthError::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) if claim == "iss" => AuthError::WrongIssuer,
        ErrorKind::MissingRequiredClaim(claim) => AuthError::Malformed(format!(
            "the access token has no `{}` claim",
            crate::untrusted::quote(&claim).trim_matches('"')
        )),
        ErrorKind::InvalidClaimFormat(claim) => AuthError::Malformed(format!(
            "the access token's `{}` claim has the wrong type",
            crate::untrusted::quote(&claim).trim_matches('"')
        )),
        ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidKeyFormat
        | ErrorKind::UnsupportedAlgorithm => AuthError::KeysUnavailable(
            "the identity provider published a key that cannot be used for verification".into(),
        ),
        _ => AuthError::Malformed(
            "the access token is not a well-formed JWT: send it exactly as the identity \
             provider issued it"
                .into(),
        ),
    }
}

/// The token's immutable identity: its issuer (already checked against the configured one)
/// and `sub`. A token without a usable `sub` is refused rather than keyed on a mutable name.
fn subject_id(claims: &Map<String, Value>) -> Result<std::sync::Arc<str>, AuthError> {
    let text = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    match (text("iss"), text("sub")) {
        (Some(iss), Some(sub)) if sub.len() <= 256 && !sub.chars().any(char::is_control) => {
            Ok(Principal::oidc_id(iss, sub))
        }
        _ => Err(AuthError::Malformed(
            "the access token has no usable `iss` and `sub` claims: the gateway keys every \
             caller on them"
                .into(),
        )),
    }
}
