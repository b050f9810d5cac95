//! Authentication for the MCP gateway: turns the `Authorization: Bearer <credential>` header of
//! a request into a verified [`Principal`] (who is calling, with which roles), or an
//! [`AuthError`] that says what is wrong.
//!
//! Two kinds of credentials are accepted:
//! - OIDC access tokens (JWTs) from one identity provider, verified against its published keys
//!   ([`OidcConfig`]; discovery and the JWKS cache live in `jwks`, verification in `jwt`);
//! - API keys (`mcpk_<id>_<secret>`) from a directory of key files ([`KeyStore`]), managed with
//!   the `mcp-gateway keys ...` commands in `keys_cli`, compiled only with the `cli` feature
//!   (which the gateway binary turns on): verification needs no command line.
//!
//! This crate knows nothing about HTTP servers, MCP or pingora: the gateway hands it the header
//! value and gets a `Principal` back. It never logs or prints a presented credential, nor a hash
//! of one; Debug impls of secret-bearing types redact.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mcp_gateway_auth::{Authenticator, KeyStore, OidcConfig};
//! let keys = KeyStore::open("/etc/mcp-gateway/keys".as_ref())?;
//! let _watcher = keys.spawn_watcher();
//! let oidc = OidcConfig::new("https://idp.example.com/realms/mcp", "mcp-gateway");
//! let auth = Authenticator::new(Some(oidc), Some(keys))?;
//! auth.refresh_keys().await?;
//! let principal = auth.authenticate(Some("Bearer mcpk_...")).await?;
//! println!("{} {:?}", principal.user, principal.roles);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod apikey;
mod authenticator;
mod error;
mod jwks;
mod jwt;
#[cfg(feature = "cli")]
pub mod keys_cli;
pub mod keystore;
mod oidc;
mod principal;
mod untrusted;

pub use apikey::{InvalidKeyHash, InvalidKeyId, KeyHash, KeyId, NewKey};
pub use authenticator::Authenticator;
pub use error::{AuthError, ConfigError, Credential};
pub use jsonwebtoken::Algorithm;
pub use jwks::{JwksState, KeyFetchError, KeySetError};
pub use keystore::{
    InvalidFile, KeyRecord, KeyStatus, KeyStore, KeyStoreError, KeyStoreStats, KeyWatcher,
    ReloadReport,
};
pub use oidc::{InvalidClaimPath, OidcConfig};
pub use principal::{AuthMethod, Principal};
