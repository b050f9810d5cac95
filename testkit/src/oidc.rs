//! The real OpenID Connect provider (panva/oidc-provider, `../shared/peers/oidc_server.mjs`)
//! as a test peer: started on a free loopback port with its own key file, stopped on drop,
//! and asked for `client_credentials` tokens of its three test clients.
//!
//! Needs `scripts/setup-peers.sh` to have installed `.peers/node/node_modules`; without it the
//! start fails with a message saying so (it does not skip).
//!
//! ```no_run
//! use mcp_testkit::oidc::{OidcProvider, TestClient};
//! let idp = OidcProvider::start();
//! let token = idp.token(TestClient::McpAdmin); // bob, roles mcp-user + mcp-admin
//! ```
//! Blocking API: safe to call from plain and `#[tokio::test]` tests alike.

use std::path::PathBuf;
use std::time::Duration;

use crate::{Proc, ProcBuilder, TempDir, free_port, repo_root, wait_for};

/// The audience the provider puts in access tokens.
pub const AUDIENCE: &str = "mcp-gateway";

/// The provider's test clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestClient {
    /// User `alice`, roles `[mcp-user]`.
    McpUser,
    /// User `bob`, roles `[mcp-user, mcp-admin]`.
    McpAdmin,
    /// User `carol`, no roles.
    NoRoles,
}

impl TestClient {
    pub fn client_id(self) -> &'static str {
        match self {
            Self::McpUser => "mcp-user",
            Self::McpAdmin => "mcp-admin",
            Self::NoRoles => "no-roles",
        }
    }

    pub fn secret(self) -> &'static str {
        match self {
            Self::McpUser => "user-secret",
            Self::McpAdmin => "admin-secret",
            Self::NoRoles => "noroles-secret",
        }
    }

    /// The `preferred_username` in its tokens.
    pub fn user(self) -> &'static str {
        match self {
            Self::McpUser => "alice",
            Self::McpAdmin => "bob",
            Self::NoRoles => "carol",
        }
    }

    pub fn roles(self) -> &'static [&'static str] {
        match self {
            Self::McpUser => &["mcp-user"],
            Self::McpAdmin => &["mcp-user", "mcp-admin"],
            Self::NoRoles => &[],
        }
    }
}

/// A running provider; stopped when dropped.
pub struct OidcProvider {
    proc: Proc,
    issuer: String,
    dir: TempDir,
}

impl OidcProvider {
    /// Starts the provider with default token lifetime (1 h).
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts the provider with extra environment (e.g. `("TOKEN_TTL", "5")`).
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let node_modules = repo_root().join(".peers/node/node_modules");
        assert!(
            node_modules.join("oidc-provider").is_dir(),
            "{} has no oidc-provider: run scripts/setup-peers.sh first (it installs the real \
             OIDC provider these tests need)",
            node_modules.display()
        );
        let script = server_script();
        let dir = TempDir::new().expect("temp dir for the provider");
        // The provider cannot bind port 0 and report it, so it gets a port that was free.
        let port = free_port();
        let mut builder = ProcBuilder::new("node".as_ref(), dir.path())
            .arg(&script)
            .env("NODE_PATH", &node_modules)
            .env("PORT", port.to_string())
            .env("KEY_FILE", dir.path().join("oidc-rsa.jwk.json"));
        for (k, v) in env {
            builder = builder.env(k, v);
        }
        let proc = builder.start(Duration::from_secs(30));
        let issuer = proc.url().to_owned();
        let discovery = format!("{issuer}/.well-known/openid-configuration");
        wait_for(
            "the OIDC discovery document",
            Duration::from_secs(15),
            || {
                off_runtime(|| {
                    reqwest::blocking::get(&discovery)
                        .ok()
                        .filter(|r| r.status().is_success())
                })
            },
        );
        Self { proc, issuer, dir }
    }

    /// `http://127.0.0.1:<port>`: the provider's issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    /// The file holding the provider's private JWK (so a restart keeps its keys).
    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("oidc-rsa.jwk.json")
    }

    /// A `client_credentials` access token for one of the test clients.
    pub fn token(&self, client: TestClient) -> String {
        self.token_for(client.client_id(), client.secret())
            .unwrap_or_else(|e| panic!("token for {}: {e}", client.client_id()))
    }

    /// A `client_credentials` access token for any client id and secret.
    pub fn token_for(&self, client_id: &str, secret: &str) -> Result<String, String> {
        let url = format!("{}/token", self.issuer);
        let resource = format!("urn:{AUDIENCE}");
        off_runtime(|| {
            let response = reqwest::blocking::Client::new()
                .post(&url)
                .basic_auth(client_id, Some(secret))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("resource", resource.as_str()),
                    ("scope", "mcp:tools"),
                ])
                .send()
                .map_err(|e| e.to_string())?;
            let status = response.status();
            let body: serde_json::Value = response.json().map_err(|e| e.to_string())?;
            body.get("access_token")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
                .ok_or_else(|| format!("HTTP {status}: {body}"))
        })
    }

    /// What the provider wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.proc.stderr()
    }
}

fn server_script() -> PathBuf {
    let script = repo_root().join("../shared/peers/oidc_server.mjs");
    assert!(
        script.is_file(),
        "{} is missing: the shared peers must be next to the repository",
        script.display()
    );
    script
}

/// Runs blocking HTTP on a plain thread, so it also works inside a tokio runtime (where
/// `reqwest::blocking` would panic).
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("HTTP thread panicked"))
}
