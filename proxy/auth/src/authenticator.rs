//! The entry point: parses the `Authorization` header and routes the credential to the API key
//! store (`mcpk_...`) or the OIDC token verifier (anything else), and keeps the identity
//! provider's keys fresh in the background.

use std::sync::{Arc, Weak};

use tokio::task::JoinHandle;

use crate::apikey::PREFIX;
use crate::error::{AuthError, ConfigError};
use crate::jwks::{self, JwksState};
use crate::jwt::{JwtVerifier, MAX_TOKEN_BYTES};
use crate::keystore::KeyStore;
use crate::oidc::{OidcConfig, OidcSettings};
use crate::principal::Principal;

/// Verifies request credentials. Cheap to share (`Arc`); all methods take `&self`.
pub struct Authenticator {
    jwt: Option<JwtVerifier>,
    keys: Option<Arc<KeyStore>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("oidc", &self.jwt.is_some())
            .field("keys", &self.keys)
            .finish()
    }
}

impl Authenticator {
    /// Validates the configuration; fetches nothing yet (see [`refresh_keys`](Self::refresh_keys)).
    /// At least one method must be configured.
    pub fn new(oidc: Option<OidcConfig>, keys: Option<Arc<KeyStore>>) -> Result<Self, ConfigError> {
        if oidc.is_none() && keys.is_none() {
            return Err(ConfigError::NoMethod);
        }
        let jwt = match oidc {
            Some(config) => {
                let settings = Arc::new(OidcSettings::from_config(config)?);
                let http =
                    jwks::client(&settings).map_err(|e| ConfigError::HttpClient(e.to_string()))?;
                Some(JwtVerifier::new(settings, http))
            }
            None => None,
        };
        Ok(Self { jwt, keys })
    }

    /// Verifies the value of an `Authorization` header (`None` when the header is absent).
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let credential = bearer(authorization.ok_or(AuthError::Missing)?)?;
        if credential.starts_with(PREFIX) {
            match &self.keys {
                Some(keys) => keys.verify(credential),
                None => Err(AuthError::Malformed(
                    "this gateway does not accept API keys: send an access token from the \
                     identity provider"
                        .into(),
                )),
            }
        } else {
            match &self.jwt {
                Some(jwt) => jwt.verify(credential).await,
                None => Err(AuthError::Malformed(
                    "this gateway accepts only API keys (mcpk_...): ask its administrator for one"
                        .into(),
                )),
            }
        }
    }

    /// Fetches discovery and the JWKS now (at start-up, for `doctor`, and in the background);
    /// returns the number of keys. `Ok(0)` when OIDC is not configured.
    pub async fn refresh_keys(&self) -> Result<usize, crate::jwks::KeyFetchError> {
        match &self.jwt {
            Some(jwt) => jwt.refresh().await,
            None => Ok(0),
        }
    }

    /// The identity provider key cache's state (`enabled: false` without OIDC).
    pub fn jwks_state(&self) -> JwksState {
        self.jwt
            .as_ref()
            .map(JwtVerifier::state)
            .unwrap_or_default()
    }

    /// The API key store, when API keys are configured.
    pub fn key_store(&self) -> Option<&Arc<KeyStore>> {
        self.keys.as_ref()
    }

    /// Refreshes the identity provider's keys every `refresh_interval` on the current tokio
    /// runtime, until the authenticator is dropped or the task aborted. `None` without OIDC.
    pub fn spawn_key_refresh(self: &Arc<Self>) -> Option<JoinHandle<()>> {
        let interval = self.jwt.as_ref()?.refresh_interval();
        let me: Weak<Self> = Arc::downgrade(self);
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(auth) = me.upgrade() else { break };
                // Failures are logged and recorded in `jwks_state()`; cached keys stay in use.
                let _ = auth.refresh_keys().await;
            }
        }))
    }
}

/// The credential of a `Bearer` header value. Never quotes the value in errors.
fn bearer(header: &str) -> Result<&str, AuthError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(AuthError::Missing);
    }
    if header.len() > MAX_TOKEN_BYTES + 16 {
        return Err(AuthError::Malformed(format!(
            "the Authorization header is larger than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    let (scheme, credential) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Malformed(
            "use the Bearer scheme: `Authorization: Bearer <access token or API key>`".into(),
        ));
    }
    let credential = credential.trim_start();
    if credential.is_empty() {
        return Err(AuthError::Malformed(
            "the Bearer credential is empty: `Authorization: Bearer <access token or API key>`"
                .into(),
        ));
    }
    if credential.contains(char::is_whitespace) {
        return Err(AuthError::Malformed(
            "the Bearer credential contains whitespace: send exactly one token or key".into(),
        ));
    }
    Ok(credential)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_values_are_parsed_case_insensitively() {
        assert_eq!(bearer("Bearer abc").unwrap(), "abc");
        assert_eq!(bearer("bearer   abc ").unwrap(), "abc");
        assert_eq!(bearer("BEARER abc").unwrap(), "abc");
    }

    #[test]
    fn other_schemes_and_empty_values_are_rejected_without_echo() {
        assert_eq!(bearer("").unwrap_err(), AuthError::Missing);
        for bad in [
            "Basic dXNlcjpwdw==",
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Token abc",
        ] {
            let e = bearer(bad).unwrap_err();
            assert_eq!(e.reason(), "malformed", "{bad}");
            assert!(!e.to_string().contains("dXNlcjpwdw"), "{e}");
        }
        let huge = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES + 100));
        assert_eq!(bearer(&huge).unwrap_err().reason(), "malformed");
    }

    #[test]
    fn the_authenticator_is_shareable_and_its_futures_are_send() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>(_: &T) {}
        send_sync::<Authenticator>();
        send_sync::<KeyStore>();
        let auth =
            Authenticator::new(Some(OidcConfig::new("https://idp.example", "gw")), None).unwrap();
        send(&auth.authenticate(None));
        send(&auth.refresh_keys());
    }

    #[tokio::test]
    async fn credentials_are_routed_by_prefix_to_configured_methods_only() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyStore::open(dir.path()).unwrap();
        let only_keys = Authenticator::new(None, Some(keys)).unwrap();
        let e = only_keys
            .authenticate(Some("Bearer eyJhbGciOi.x.y"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("only API keys"), "{e}");
        let e = only_keys.authenticate(None).await.unwrap_err();
        assert_eq!(e, AuthError::Missing);
        assert!(!only_keys.jwks_state().enabled);
        assert_eq!(
            only_keys.refresh_keys().await.map_err(|e| e.to_string()),
            Ok(0)
        );

        let only_oidc =
            Authenticator::new(Some(OidcConfig::new("https://idp.example", "gw")), None).unwrap();
        let e = only_oidc
            .authenticate(Some("Bearer mcpk_0123456789ab_x"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("does not accept API keys"), "{e}");
        assert!(matches!(
            Authenticator::new(None, None),
            Err(ConfigError::NoMethod)
        ));
    }
}
