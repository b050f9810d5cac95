//! The OIDC part of the configuration: [`OidcConfig`] as the gateway's YAML spells it, and
//! [`OidcSettings`], the validated form the verifier uses (URLs checked, claim paths split,
//! durations resolved). Validation happens once, in [`OidcSettings::from_config`].

mod claims;

use std::time::Duration;

use jsonwebtoken::{Algorithm, AlgorithmFamily};
use mcp_contract::units::Span;
use serde::{Deserialize, Serialize};

pub use claims::InvalidClaimPath;
pub(crate) use claims::{ClaimPath, extract_roles, extract_user};

use crate::error::ConfigError;

/// How the gateway trusts one OIDC identity provider. Embedded in the gateway's YAML config;
/// unknown fields are errors and durations are strings (`30s`, `10m`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer URL, compared exactly with the token's `iss` and the discovery document's
    /// `issuer`. Discovery is fetched from `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The audience this gateway is: a token's `aud` (string or array) must contain it.
    pub audience: String,
    /// The JWKS URL; when absent it is taken from the discovery document.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Accepted signature algorithms; asymmetric only (RS*, PS*, ES256, ES384, EdDSA).
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<Algorithm>,
    /// Clock skew tolerated on `exp` and `nbf`.
    #[serde(default = "default_leeway")]
    pub leeway: Span,
    /// Claims holding the user name, tried in order: dotted paths into nested objects; a claim
    /// whose name itself contains dots (`https://example.com/user`) is matched whole first.
    #[serde(default = "default_user_claims")]
    pub user_claims: Vec<String>,
    /// Claims holding role names; roles from all of them are combined. `{audience}` stands for
    /// the configured audience as one path segment (Keycloak's client roles live under
    /// `resource_access.<client id>.roles`). A claim may be an array of strings or a
    /// space-separated string (like `scope`).
    #[serde(default = "default_role_claims")]
    pub role_claims: Vec<String>,
    /// Accepted values of the token header's `typ` (case-insensitive, `application/` optional).
    #[serde(default = "default_accepted_types")]
    pub accepted_types: Vec<String>,
    /// Whether a token without `typ` is accepted.
    #[serde(default = "yes")]
    pub allow_untyped: bool,
    /// A token with an unknown `kid` triggers a JWKS refetch at most this often.
    #[serde(default = "default_refresh_min_interval")]
    pub refresh_min_interval: Span,
    /// The JWKS is refetched in the background this often.
    #[serde(default = "default_refresh_interval")]
    pub refresh_interval: Span,
    /// Timeout of each request to the identity provider.
    #[serde(default = "default_http_timeout")]
    pub http_timeout: Span,
    /// Verified tokens remembered (until their `exp`) so a token's signature is checked once.
    #[serde(default = "default_cache_entries")]
    pub cache_entries: usize,
    /// Allow `http://` issuer and JWKS URLs on hosts other than loopback. Off by default: keys
    /// fetched over plain HTTP can be replaced by anyone on the path.
    #[serde(default)]
    pub allow_insecure_http: bool,
}

fn default_algorithms() -> Vec<Algorithm> {
    vec![Algorithm::RS256]
}
fn default_leeway() -> Span {
    Span::from_secs(30)
}
fn default_user_claims() -> Vec<String> {
    vec!["preferred_username".into(), "sub".into()]
}
fn default_role_claims() -> Vec<String> {
    vec![
        "realm_access.roles".into(),
        "resource_access.{audience}.roles".into(),
    ]
}
fn default_accepted_types() -> Vec<String> {
    vec!["at+jwt".into(), "JWT".into()]
}
fn yes() -> bool {
    true
}
fn default_refresh_min_interval() -> Span {
    Span::from_secs(30)
}
fn default_refresh_interval() -> Span {
    Span::from_secs(600)
}
fn default_http_timeout() -> Span {
    Span::from_secs(5)
}
fn default_cache_entries() -> usize {
    10_000
}

impl OidcConfig {
    /// A configuration with every default: RS256, 30s leeway, Keycloak-style claims.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks_uri: None,
            algorithms: default_algorithms(),
            leeway: default_leeway(),
            user_claims: default_user_claims(),
            role_claims: default_role_claims(),
            accepted_types: default_accepted_types(),
            allow_untyped: true,
            refresh_min_interval: default_refresh_min_interval(),
            refresh_interval: default_refresh_interval(),
            http_timeout: default_http_timeout(),
            cache_entries: default_cache_entries(),
            allow_insecure_http: false,
        }
    }
}

/// The validated form of [`OidcConfig`].
#[derive(Debug)]
pub(crate) struct OidcSettings {
    pub issuer: String,
    pub audience: String,
    pub discovery_url: String,
    pub jwks_uri: Option<String>,
    pub algorithms: Vec<Algorithm>,
    pub leeway: Duration,
    pub user_claims: Vec<ClaimPath>,
    pub role_claims: Vec<ClaimPath>,
    /// Normalised (lowercase, without `application/`).
    pub accepted_types: Vec<String>,
    pub allow_untyped: bool,
    pub refresh_min_interval: Duration,
    pub refresh_interval: Duration,
    pub http_timeout: Duration,
    pub cache_entries: usize,
    pub allow_insecure_http: bool,
}

impl OidcSettings {
    pub fn from_config(c: OidcConfig) -> Result<Self, ConfigError> {
        let allow_http = c.allow_insecure_http;
        check_url("oidc.issuer", &c.issuer, allow_http)?;
        if let Some(uri) = &c.jwks_uri {
            check_url("oidc.jwks_uri", uri, allow_http)?;
        }
        if c.audience.trim().is_empty() {
            return Err(ConfigError::invalid("oidc.audience", "must not be empty"));
        }
        if c.algorithms.is_empty() {
            return Err(ConfigError::invalid(
                "oidc.algorithms",
                "list at least one algorithm (e.g. RS256)",
            ));
        }
        if let Some(alg) = c
            .algorithms
            .iter()
            .find(|a| a.family() == AlgorithmFamily::Hmac)
        {
            return Err(ConfigError::invalid(
                "oidc.algorithms",
                format!(
                    "{alg:?} is a shared-secret algorithm; an identity provider's tokens must \
                     be verified with its public keys (use RS256, PS256, ES256 or EdDSA)"
                ),
            ));
        }
        let user_claims = paths("oidc.user_claims", &c.user_claims, &c.audience)?;
        if user_claims.is_empty() {
            return Err(ConfigError::invalid(
                "oidc.user_claims",
                "list at least one claim (e.g. preferred_username)",
            ));
        }
        let role_claims = paths("oidc.role_claims", &c.role_claims, &c.audience)?;
        let accepted_types = c.accepted_types.iter().map(|t| normalise_typ(t)).collect();
        for (field, span) in [
            ("oidc.refresh_interval", c.refresh_interval),
            ("oidc.http_timeout", c.http_timeout),
            // Zero would let every request naming an unknown `kid` fetch the JWKS again.
            ("oidc.refresh_min_interval", c.refresh_min_interval),
        ] {
            if span.get().is_zero() {
                return Err(ConfigError::invalid(field, "must be above 0"));
            }
        }
        if c.cache_entries == 0 {
            return Err(ConfigError::invalid(
                "oidc.cache_entries",
                "must be above 0 (each token's signature would be checked on every request)",
            ));
        }
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            c.issuer.trim_end_matches('/')
        );
        Ok(Self {
            issuer: c.issuer,
            audience: c.audience,
            discovery_url,
            jwks_uri: c.jwks_uri,
            algorithms: c.algorithms,
            leeway: c.leeway.get(),
            user_claims,
            role_claims,
            accepted_types,
            allow_untyped: c.allow_untyped,
            refresh_min_interval: c.refresh_min_interval.get(),
            refresh_interval: c.refresh_interval.get(),
            http_timeout: c.http_timeout.get(),
            cache_entries: c.cache_entries,
            allow_insecure_http: allow_http,
        })
    }
}

/// `application/at+JWT` and `at+jwt` are the same media type (RFC 7515 section 4.1.9).
pub(crate) fn normalise_typ(typ: &str) -> String {
    let lower = typ.trim().to_ascii_lowercase();
    lower
        .strip_prefix("application/")
        .map(str::to_owned)
        .unwrap_or(lower)
}

fn paths(field: &str, raw: &[String], audience: &str) -> Result<Vec<ClaimPath>, ConfigError> {
    raw.iter()
        .map(|p| {
            ClaimPath::parse(p, audience).map_err(|source| ConfigError::ClaimPath {
                field: field.to_owned(),
                source,
            })
        })
        .collect()
}

/// An identity provider URL: absolute http(s) with a host; plain http only on loopback unless
/// allowed. Also used for URLs learnt from discovery.
pub(crate) fn check_url(field: &str, url: &str, allow_http: bool) -> Result<(), ConfigError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| ConfigError::invalid(field, format!("{url:?} is not a URL: {e}")))?;
    let Some(host) = parsed.host_str() else {
        return Err(ConfigError::invalid(field, format!("{url:?} has no host")));
    };
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback || allow_http => Ok(()),
        "http" => Err(ConfigError::invalid(
            field,
            format!(
                "{url:?} uses plain http: use https, or set `allow_insecure_http: true` if the \
                 network path to the identity provider is trusted"
            ),
        )),
        other => Err(ConfigError::invalid(
            field,
            format!("{url:?}: scheme {other:?} is not http or https"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> Result<OidcSettings, String> {
        let c: OidcConfig = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
        OidcSettings::from_config(c).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_fill_everything_but_issuer_and_audience() {
        let s =
            settings("issuer: https://idp.example.com/realms/x\naudience: mcp-gateway\n").unwrap();
        assert_eq!(s.algorithms, [Algorithm::RS256]);
        assert_eq!(s.leeway, Duration::from_secs(30));
        assert_eq!(s.refresh_min_interval, Duration::from_secs(30));
        assert_eq!(s.refresh_interval, Duration::from_secs(600));
        assert_eq!(s.http_timeout, Duration::from_secs(5));
        assert_eq!(s.accepted_types, ["at+jwt", "jwt"]);
        assert_eq!(
            s.discovery_url,
            "https://idp.example.com/realms/x/.well-known/openid-configuration"
        );
        assert_eq!(s.role_claims.len(), 2);
    }

    #[test]
    fn units_are_strings_and_unknown_fields_are_errors() {
        let s =
            settings("issuer: https://i\naudience: a\nleeway: 5s\nhttp_timeout: 500ms\n").unwrap();
        assert_eq!(s.leeway, Duration::from_secs(5));
        assert_eq!(s.http_timeout, Duration::from_millis(500));
        let e = settings("issuer: https://i\naudience: a\nleeway: 5\n").unwrap_err();
        assert!(e.contains("duration"), "{e}");
        let e = settings("issuer: https://i\naudience: a\nissuer_url: x\n").unwrap_err();
        assert!(e.contains("unknown field `issuer_url`"), "{e}");
    }

    #[test]
    fn shared_secret_algorithms_and_none_are_refused() {
        let e =
            settings("issuer: https://i\naudience: a\nalgorithms: [RS256, HS256]\n").unwrap_err();
        assert!(
            e.starts_with("oidc.algorithms: HS256 is a shared-secret"),
            "{e}"
        );
        let e = settings("issuer: https://i\naudience: a\nalgorithms: [none]\n").unwrap_err();
        assert!(e.contains("unknown variant `none`"), "{e}");
        let e = settings("issuer: https://i\naudience: a\nalgorithms: []\n").unwrap_err();
        assert!(e.contains("at least one"), "{e}");
    }

    #[test]
    fn plain_http_is_only_for_loopback_unless_allowed() {
        assert!(settings("issuer: http://127.0.0.1:9000\naudience: a\n").is_ok());
        assert!(settings("issuer: http://localhost:9000\naudience: a\n").is_ok());
        let e = settings("issuer: http://keycloak.svc:8080/realms/x\naudience: a\n").unwrap_err();
        assert!(
            e.starts_with("oidc.issuer:") && e.contains("plain http"),
            "{e}"
        );
        assert!(
            settings(
                "issuer: http://keycloak.svc:8080/realms/x\naudience: a\nallow_insecure_http: true\n"
            )
            .is_ok()
        );
        let e = settings("issuer: ftp://x\naudience: a\n").unwrap_err();
        assert!(e.contains("scheme"), "{e}");
        let e = settings("issuer: not a url\naudience: a\n").unwrap_err();
        assert!(e.contains("not a URL"), "{e}");
    }

    #[test]
    fn typ_values_are_compared_as_media_types() {
        assert_eq!(normalise_typ("application/AT+JWT"), "at+jwt");
        assert_eq!(normalise_typ("JWT"), "jwt");
    }
}
