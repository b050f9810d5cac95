//! The result of a successful authentication: who is calling, with which roles, and how they
//! proved it. Cheap to clone (reference-counted fields), so caches hand out copies.

use std::sync::Arc;
use std::time::SystemTime;

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The immutable, issuer-scoped identity: `oidc:<issuer>#<sub>` for access tokens,
    /// `apikey:<user>` for API keys, so an OIDC user and an API-key user with the same display
    /// name never share a workspace, a skill set or a rate bucket.
    pub id: Arc<str>,
    /// The user name for humans (from the token's user claim, or the API key's `user`).
    pub user: Arc<str>,
    /// Role names, deduplicated, in the order they were found.
    pub roles: Arc<[String]>,
    /// Which kind of credential authenticated the caller.
    pub method: AuthMethod,
    /// The API key's id (for audit logs and per-key metrics); `None` for tokens.
    pub key_id: Option<Arc<str>>,
    /// When the credential stops being valid (`exp` of a token, `expires` of a key).
    pub expires_at: Option<SystemTime>,
}

impl Principal {
    /// The id of an OIDC subject of `issuer`.
    pub fn oidc_id(issuer: &str, sub: &str) -> Arc<str> {
        Arc::from(format!("oidc:{issuer}#{sub}"))
    }

    /// The id of the API-key user `user`.
    pub fn api_key_id(user: &str) -> Arc<str> {
        Arc::from(format!("apikey:{user}"))
    }

    /// Whether the caller holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// How a [`Principal`] authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// An OIDC access token (JWT) verified against the identity provider's keys.
    Jwt,
    /// An API key from the key store.
    ApiKey,
}

impl AuthMethod {
    /// The label used in logs and metrics: `jwt` or `api_key`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::ApiKey => "api_key",
        }
    }
}

impl std::fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
