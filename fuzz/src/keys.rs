//! A key store with three real API keys (live, revoked, expired) in a scratch directory, and the
//! authenticator the gateway would build over it, for the authentication targets.

use std::sync::{Arc, OnceLock};

use mcp_gateway_auth::{Authenticator, KeyStore, NewKey, OidcConfig};

/// User name of the live key; no other credential may authenticate as anyone.
pub const LIVE_USER: &str = "fuzz-live";

/// The keys in the store, revealed (as a client would present them).
pub struct Keys {
    pub live: String,
    pub revoked: String,
    pub expired: String,
    pub store: Arc<KeyStore>,
}

fn record(key: &NewKey, user: &str, expires: Option<&str>, revoked: Option<&str>) -> String {
    let opt = |v: Option<&str>| v.map_or("null".to_owned(), |s| format!("{s:?}"));
    format!(
        r#"{{"id":"{}","user":"{user}","roles":["mcp-user"],"created":"2026-01-01T00:00:00Z","expires":{},"revoked":{},"hash":"{}"}}"#,
        key.id,
        opt(expires),
        opt(revoked),
        key.hash
    )
}

/// The key store, created once per process.
pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = crate::scratch_dir().join("keys");
        std::fs::create_dir_all(&dir).expect("key directory");
        let live = NewKey::generate();
        let revoked = NewKey::generate();
        let expired = NewKey::generate();
        for (key, text) in [
            (&live, record(&live, LIVE_USER, None, None)),
            (
                &revoked,
                record(&revoked, "fuzz-revoked", None, Some("2026-01-02T00:00:00Z")),
            ),
            (
                &expired,
                record(&expired, "fuzz-expired", Some("2026-01-02T00:00:00Z"), None),
            ),
        ] {
            std::fs::write(dir.join(format!("{}.json", key.id)), text).expect("key file");
        }
        let store = KeyStore::open(&dir).expect("the key store opens");
        assert_eq!(store.stats().keys, 3, "all three key files load");
        Keys {
            live: live.reveal(),
            revoked: revoked.reveal(),
            expired: expired.reveal(),
            store,
        }
    })
}

/// An authenticator with the key store and an OIDC issuer that refuses connections (port 1 on
/// loopback): tokens get as far as key lookup, which fails without a network round trip after
/// the first attempt (`refresh_min_interval`).
pub fn authenticator() -> &'static Authenticator {
    static AUTH: OnceLock<Authenticator> = OnceLock::new();
    AUTH.get_or_init(|| {
        let mut oidc = OidcConfig::new("http://127.0.0.1:1/realms/fuzz", "mcp-gateway");
        oidc.jwks_uri = Some("http://127.0.0.1:1/realms/fuzz/certs".into());
        oidc.refresh_min_interval = mcp_contract::units::Span::from_secs(86_400);
        oidc.http_timeout = mcp_contract::units::Span::from_secs(1);
        Authenticator::new(Some(oidc), Some(Arc::clone(&keys().store)))
            .expect("the authenticator accepts this configuration")
    })
}

/// Checks what every rejection must satisfy: a reason from the closed metric label set, and a
/// message fit to send back and log: printable, bounded, never quoting the credential.
pub fn check_rejection(error: &mcp_gateway_auth::AuthError, credential: &str) {
    let reason = error.reason();
    assert!(
        mcp_gateway_auth::AuthError::REASONS.contains(&reason),
        "reason {reason:?} is not in AuthError::REASONS"
    );
    let text = error.to_string();
    assert!(
        !text.chars().any(char::is_control),
        "the error message has control characters: {text:?}"
    );
    assert!(
        text.len() < 1024,
        "the error message is {} bytes",
        text.len()
    );
    // A credential is one word (with whitespace it is refused as such), and words of 16+
    // characters do not occur in the messages by chance.
    if credential.len() >= 16 && !credential.contains(char::is_whitespace) {
        assert!(
            !text.contains(credential),
            "the error message quotes the credential: {text:?}"
        );
    }
}
