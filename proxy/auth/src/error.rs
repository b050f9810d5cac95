//! The errors of this crate that callers match on: [`AuthError`] (a request's credentials were
//! rejected) and [`ConfigError`] (the authentication configuration is unusable).
//!
//! `AuthError`'s Display text is written to be sent to the client as is: it says what is wrong
//! and what to do, and never contains the presented credential. [`AuthError::reason`] maps every
//! variant onto a closed set of metric labels.

/// Which kind of credential an error is about, so the message can say what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Credential {
    /// An OIDC access token.
    Token,
    /// An API key.
    ApiKey,
}

/// Why a request's credentials were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error(
        "no credentials: send `Authorization: Bearer <credential>` with an access token from \
         the identity provider or an API key"
    )]
    Missing,
    /// The header or credential has the wrong shape. The detail is written by this crate and
    /// never quotes the credential.
    #[error("malformed credentials: {0}")]
    Malformed(String),
    /// The token or key is past its expiry; which kind of credential it was.
    #[error("{}", expired_message(*.0))]
    Expired(Credential),
    /// `nbf` is in the future (beyond the leeway).
    #[error(
        "the access token is not valid yet (its `nbf` is in the future): check the clocks of \
         the identity provider and the gateway, or retry shortly"
    )]
    NotYetValid,
    /// The token's signature does not verify, or the API key's secret does not match.
    #[error("{}", bad_signature_message(*.0))]
    BadSignature(Credential),
    /// The token's `aud` does not name this gateway.
    #[error(
        "the access token was not issued for this gateway (wrong `aud`): request a token whose \
         audience is this gateway"
    )]
    WrongAudience,
    /// The token's `iss` is not the configured identity provider.
    #[error(
        "the access token was issued by an identity provider this gateway does not trust \
         (wrong `iss`): get a token from the configured identity provider"
    )]
    WrongIssuer,
    /// The token's `alg` is `none` or not in the allow-list (the value is sanitised).
    #[error(
        "the access token uses signature algorithm {0}, which this gateway does not accept: get \
         a token from the configured identity provider"
    )]
    DisallowedAlgorithm(String),
    /// No signing key with the token's `kid`, or no API key with that id.
    #[error("{}", unknown_key_message(*.0))]
    UnknownKey(Credential),
    /// The API key was revoked.
    #[error("the API key has been revoked: ask the gateway's administrator for a new key")]
    Revoked,
    /// The caller is on the policy's deny list (offboarded): valid credentials no longer
    /// honoured, on every replica, as soon as the policy reloads.
    #[error("access for this user has been withdrawn: ask the gateway's administrator")]
    Denied,
    /// The identity provider's keys could not be fetched and the token's key is not cached.
    /// The detail (URL and cause) is for logs; it is not part of the Display text.
    #[error(
        "the gateway cannot verify this access token right now because the identity provider's \
         signing keys are unavailable: retry later"
    )]
    KeysUnavailable(String),
}

fn expired_message(c: Credential) -> &'static str {
    match c {
        Credential::Token => {
            "the access token has expired: get a new one from the identity provider"
        }
        Credential::ApiKey => {
            "the API key has expired: ask the gateway's administrator to rotate it"
        }
    }
}

fn bad_signature_message(c: Credential) -> &'static str {
    match c {
        Credential::Token => {
            "the access token's signature does not verify (it was altered or not signed by the \
             identity provider): get a new token"
        }
        Credential::ApiKey => {
            "the API key is not valid: check that it was copied completely, or ask for a new key"
        }
    }
}

fn unknown_key_message(c: Credential) -> &'static str {
    match c {
        Credential::Token => {
            "the access token is signed with a key the identity provider does not publish \
             (unknown `kid`): get a new token"
        }
        Credential::ApiKey => {
            "unknown API key (it may have been deleted): ask the gateway's administrator for a \
             new key"
        }
    }
}

impl AuthError {
    /// Every value [`reason`](Self::reason) can return, for registering metric labels up front.
    pub const REASONS: [&'static str; 8] = [
        "missing",
        "malformed",
        "expired",
        "bad_signature",
        "wrong_audience",
        "wrong_issuer",
        "revoked",
        "unknown_key",
    ];

    /// The metric label for this error, one of [`REASONS`](Self::REASONS).
    ///
    /// The set is closed on purpose; variants fold into it as follows: `NotYetValid` counts as
    /// `expired` (the credential is outside its validity window), `DisallowedAlgorithm` as
    /// `bad_signature` (no acceptable signature: `alg: none` and algorithm-confusion attempts
    /// show up there), `KeysUnavailable` as `unknown_key` (the signing key could not be found).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed(_) => "malformed",
            Self::Expired(_) | Self::NotYetValid => "expired",
            Self::BadSignature(_) | Self::DisallowedAlgorithm(_) => "bad_signature",
            Self::WrongAudience => "wrong_audience",
            Self::WrongIssuer => "wrong_issuer",
            Self::Revoked | Self::Denied => "revoked",
            Self::UnknownKey(_) | Self::KeysUnavailable(_) => "unknown_key",
        }
    }

    /// Whether the failure is on the gateway's side (the identity provider's keys could not be
    /// fetched) rather than the client's: the gateway may answer 503 with `Retry-After`.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::KeysUnavailable(_))
    }

    /// The RFC 6750 `error` code for a `WWW-Authenticate: Bearer` challenge: none when no
    /// credentials were sent, `invalid_request` for a malformed header, else `invalid_token`.
    pub fn bearer_error_code(&self) -> Option<&'static str> {
        match self {
            Self::Missing => None,
            Self::Malformed(_) => Some("invalid_request"),
            _ => Some("invalid_token"),
        }
    }

    /// Operator-facing detail for logs: the cause behind [`KeysUnavailable`](Self::KeysUnavailable),
    /// otherwise the Display text. Never contains the credential.
    pub fn log_detail(&self) -> String {
        match self {
            Self::KeysUnavailable(detail) => detail.clone(),
            other => other.to_string(),
        }
    }
}

/// The authentication configuration cannot be used; the message names the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A field has a value that cannot be used.
    #[error("{field}: {problem}")]
    Invalid {
        /// The field's name, e.g. `oidc.issuer`.
        field: String,
        /// What is wrong with its value.
        problem: String,
    },
    /// A configured claim path (`oidc.user_claims`, `oidc.role_claims`) is not valid.
    #[error("{field}: {source}")]
    ClaimPath {
        /// The field's name.
        field: String,
        /// The path and what is wrong with it.
        source: crate::oidc::InvalidClaimPath,
    },
    /// Neither OIDC nor API keys are configured.
    #[error(
        "no authentication method is configured: configure `oidc`, an API key directory, or both"
    )]
    NoMethod,
    /// The HTTP client for discovery and JWKS fetches could not be built; the reason.
    #[error("cannot build the HTTP client for the identity provider: {0}")]
    HttpClient(String),
}

impl ConfigError {
    pub(crate) fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_variants() -> Vec<AuthError> {
        vec![
            AuthError::Missing,
            AuthError::Malformed("x".into()),
            AuthError::Expired(Credential::Token),
            AuthError::Expired(Credential::ApiKey),
            AuthError::NotYetValid,
            AuthError::BadSignature(Credential::Token),
            AuthError::BadSignature(Credential::ApiKey),
            AuthError::WrongAudience,
            AuthError::WrongIssuer,
            AuthError::DisallowedAlgorithm("\"none\"".into()),
            AuthError::UnknownKey(Credential::Token),
            AuthError::UnknownKey(Credential::ApiKey),
            AuthError::Revoked,
            AuthError::Denied,
            AuthError::KeysUnavailable("http://idp/jwks: connection refused".into()),
        ]
    }

    #[test]
    fn every_reason_is_in_the_closed_set_and_every_label_is_used() {
        let used: std::collections::HashSet<_> =
            all_variants().iter().map(AuthError::reason).collect();
        for r in &used {
            assert!(AuthError::REASONS.contains(r), "{r}");
        }
        assert_eq!(used.len(), AuthError::REASONS.len());
    }

    #[test]
    fn messages_say_what_to_do_and_hide_operator_detail() {
        for e in all_variants() {
            let msg = e.to_string();
            assert!(msg.contains(':'), "{msg}");
        }
        let e = AuthError::KeysUnavailable("http://idp/jwks: connection refused".into());
        assert!(!e.to_string().contains("idp"));
        assert!(e.log_detail().contains("connection refused"));
        assert!(e.is_transient());
    }
}
