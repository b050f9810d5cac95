//! A forged identity provider for authentication tests: RSA test keys generated in the test
//! process (never written anywhere), tokens with any header and claims, and a discovery
//! document plus JWKS served on loopback, whose availability and key set a test controls.
//!
//! ```no_run
//! use mcp_testkit::forge::{self, Forge};
//! let idp = Forge::start();
//! let good = idp.token("alice", &["mcp-user"]);
//! let expired = idp.sign(&forge::with(idp.claims("alice", &["mcp-user"]), "exp", forge::now() - 600));
//! let none = forge::unsigned(&idp.claims("alice", &[]));
//! idp.stop_serving(); // JWKS down: connections refused
//! ```
//! Blocking API: safe to call from plain and `#[tokio::test]` tests alike.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use crate::http_stub::StubServer;

/// The audience of forged tokens (the gateway's default audience).
pub const AUDIENCE: &str = "mcp-gateway";

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An RSA-2048 key pair for tests only, with its `kid`.
pub struct TestKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
    public_pem: String,
}

impl TestKey {
    /// Generates a fresh key (a fraction of a second to a few seconds).
    pub fn generate(kid: &str) -> Self {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::{EncodePublicKey, LineEnding};
        let mut rng = rsa::rand_core::OsRng;
        let private = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("RSA key generation");
        let der = private.to_pkcs1_der().expect("PKCS#1 DER");
        let encoding = EncodingKey::from_rsa_der(der.as_bytes());
        let mut jwk = serde_json::to_value(
            jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, Algorithm::RS256).expect("JWK"),
        )
        .expect("JWK JSON");
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        let public_pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("public PEM");
        Self {
            kid: kid.to_owned(),
            encoding,
            jwk,
            public_pem,
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK (`kty: RSA`, `alg: RS256`, `use: sig`, this `kid`).
    pub fn jwk(&self) -> Value {
        self.jwk.clone()
    }

    /// The public key as SPKI PEM, e.g. to use as an HMAC secret in confusion attacks.
    pub fn public_key_pem(&self) -> &str {
        &self.public_pem
    }

    /// Signs `header` (any JSON) and `claims` with this key: with the header's `alg` when it
    /// is an RSA algorithm (RS256/384/512, PS256/384/512), else RS256, so a header may claim
    /// anything.
    pub fn sign_raw(&self, header: &Value, claims: &Value) -> String {
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(|a| a.parse::<Algorithm>().ok())
            .filter(|a| a.family() == jsonwebtoken::AlgorithmFamily::Rsa)
            .unwrap_or(Algorithm::RS256);
        let message = format!("{}.{}", b64_json(header), b64_json(claims));
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding, alg)
            .expect("RSA signing");
        format!("{message}.{signature}")
    }

    /// A standard RS256 token: header `{alg: RS256, typ: at+jwt, kid}`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_raw(
            &json!({"alg": "RS256", "typ": "at+jwt", "kid": self.kid}),
            claims,
        )
    }
}

struct Keys {
    published: Vec<Arc<TestKey>>,
    signing: Arc<TestKey>,
    next: usize,
}

struct State {
    issuer: Mutex<String>,
    keys: Mutex<Keys>,
    jwks_hits: AtomicUsize,
    discovery_hits: AtomicUsize,
}

/// A forged identity provider on loopback.
pub struct Forge {
    state: Arc<State>,
    server: StubServer,
    issuer: String,
}

impl Forge {
    /// Starts serving `/.well-known/openid-configuration` and `/jwks` with one key, `test-key-1`.
    pub fn start() -> Self {
        let first = Arc::new(TestKey::generate("test-key-1"));
        let state = Arc::new(State {
            issuer: Mutex::new(String::new()),
            keys: Mutex::new(Keys {
                published: vec![Arc::clone(&first)],
                signing: first,
                next: 2,
            }),
            jwks_hits: AtomicUsize::new(0),
            discovery_hits: AtomicUsize::new(0),
        });
        let handler_state = Arc::clone(&state);
        let server = StubServer::start(Arc::new(move |path: &str| respond(&handler_state, path)));
        let issuer = server.url();
        *state.issuer.lock().expect("issuer") = issuer.clone();
        Self {
            state,
            server,
            issuer,
        }
    }

    /// `http://127.0.0.1:<port>`; also the `iss` of forged tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    /// Requests served for `/jwks` so far.
    pub fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    /// Requests served for the discovery document so far.
    pub fn discovery_hits(&self) -> usize {
        self.state.discovery_hits.load(Ordering::SeqCst)
    }

    /// Valid claims for `user` with `roles` (Keycloak-style), expiring in 5 minutes.
    pub fn claims(&self, user: &str, roles: &[&str]) -> Value {
        let now = now();
        json!({
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": format!("sub-{user}"),
            "preferred_username": user,
            "realm_access": {"roles": roles},
            "resource_access": {AUDIENCE: {"roles": roles}},
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        })
    }

    /// A valid token for `user` with `roles`, signed by the current signing key.
    pub fn token(&self, user: &str, roles: &[&str]) -> String {
        self.sign(&self.claims(user, roles))
    }

    /// `claims` signed by the current signing key with the standard header.
    pub fn sign(&self, claims: &Value) -> String {
        self.signing_key().sign(claims)
    }

    pub fn signing_key(&self) -> Arc<TestKey> {
        Arc::clone(&self.state.keys.lock().expect("keys").signing)
    }

    /// The IdP rotates: a new key is published and signs from now on; the old one stays
    /// published. Returns the new key.
    pub fn rotate_key(&self) -> Arc<TestKey> {
        let key = self.new_key();
        self.publish(Arc::clone(&key));
        self.state.keys.lock().expect("keys").signing = Arc::clone(&key);
        key
    }

    /// A new key that is not published (yet): tokens it signs have an unknown `kid`.
    pub fn new_key(&self) -> Arc<TestKey> {
        let n = {
            let mut keys = self.state.keys.lock().expect("keys");
            keys.next += 1;
            keys.next - 1
        };
        Arc::new(TestKey::generate(&format!("test-key-{n}")))
    }

    /// Adds a key to the JWKS.
    pub fn publish(&self, key: Arc<TestKey>) {
        self.state.keys.lock().expect("keys").published.push(key);
    }

    /// Removes a key from the JWKS.
    pub fn unpublish(&self, kid: &str) {
        self.state
            .keys
            .lock()
            .expect("keys")
            .published
            .retain(|k| k.kid != kid);
    }

    /// The IdP goes down: its port refuses connections.
    pub fn stop_serving(&self) {
        self.server.stop();
    }

    /// The IdP comes back on the same port.
    pub fn resume_serving(&self) {
        self.server.resume();
    }
}

fn respond(state: &State, path: &str) -> (u16, String) {
    let issuer = state.issuer.lock().expect("issuer").clone();
    match path {
        "/.well-known/openid-configuration" => {
            state.discovery_hits.fetch_add(1, Ordering::SeqCst);
            let doc = json!({
                "issuer": issuer,
                "jwks_uri": format!("{issuer}/jwks"),
                "token_endpoint": format!("{issuer}/token"),
                "id_token_signing_alg_values_supported": ["RS256"],
            });
            (200, doc.to_string())
        }
        "/jwks" => {
            state.jwks_hits.fetch_add(1, Ordering::SeqCst);
            let keys = state.keys.lock().expect("keys");
            let jwks: Vec<Value> = keys.published.iter().map(|k| k.jwk()).collect();
            (200, json!({ "keys": jwks }).to_string())
        }
        _ => (404, json!({"error": "not found"}).to_string()),
    }
}

/// `value` with `claims[name]` set (`Value::Null` removes it).
pub fn with(mut claims: Value, name: &str, value: impl Into<Value>) -> Value {
    let value = value.into();
    if let Some(map) = claims.as_object_mut() {
        if value.is_null() {
            map.remove(name);
        } else {
            map.insert(name.to_owned(), value);
        }
    }
    claims
}

/// An unsigned token: header `{"alg": "none", "typ": "JWT"}`, empty signature.
pub fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64_json(&json!({"alg": "none", "typ": "JWT"})),
        b64_json(claims)
    )
}

/// An HS256 token with `kid`, signed with `secret` (e.g. an RSA public key's PEM: the
/// classic algorithm-confusion attack).
pub fn hs256(claims: &Value, kid: &str, secret: &[u8]) -> String {
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": kid});
    let message = format!("{}.{}", b64_json(&header), b64_json(claims));
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
    .expect("HS256 signing");
    format!("{message}.{signature}")
}

/// `token` with its payload changed by `edit`, keeping the original header and signature.
pub fn tamper(token: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut parts = token.splitn(3, '.');
    let (header, payload, signature) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let mut claims: Value = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .expect("token payload is base64url JSON");
    edit(&mut claims);
    format!("{header}.{}.{signature}", b64_json(&claims))
}

fn b64_json(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}
