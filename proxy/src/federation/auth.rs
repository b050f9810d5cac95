//! The credentials the gateway presents to an upstream MCP server: none, a static bearer
//! token read from a file at start, or an OAuth 2.0 client-credentials token fetched from the
//! upstream's authorization server, cached until shortly before it expires and fetched again
//! after the upstream refuses it (401). Never the caller's own token (confused-deputy safe).
//! Also the TLS material of a server: a private CA, a client certificate.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::SetupError;
use super::error::FederationError;
use crate::config::{UpstreamAuth, UpstreamTls};

/// Longest token response read.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

/// How a server's `Authorization` header is obtained.
pub enum Credentials {
    None,
    /// The whole header value, `Bearer <token>`.
    Static(String),
    ClientCredentials(Box<ClientCredentials>),
}

pub struct ClientCredentials {
    token_url: String,
    client_id: String,
    secret: String,
    scope: Option<String>,
    resource: Option<String>,
    /// The header value and when to stop using it; the lock also makes concurrent callers
    /// wait for one fetch instead of each fetching.
    cached: tokio::sync::Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl Credentials {
    /// Reads the files the configuration names (once, at start).
    pub fn load(server: &str, auth: &UpstreamAuth) -> Result<Self, SetupError> {
        Ok(match auth {
            UpstreamAuth::None => Self::None,
            UpstreamAuth::BearerFile { path } => {
                Self::Static(format!("Bearer {}", read_secret(server, path)?))
            }
            UpstreamAuth::ClientCredentials {
                token_url,
                client_id,
                client_secret_file,
                scope,
                resource,
            } => Self::ClientCredentials(Box::new(ClientCredentials {
                token_url: token_url.clone(),
                client_id: client_id.clone(),
                secret: read_secret(server, client_secret_file)?,
                scope: scope.clone(),
                resource: resource.clone(),
                cached: tokio::sync::Mutex::new(None),
            })),
        })
    }

    /// The `Authorization` header value to send, if any.
    pub async fn header(
        &self,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> Result<Option<String>, FederationError> {
        match self {
            Self::None => Ok(None),
            Self::Static(h) => Ok(Some(h.clone())),
            Self::ClientCredentials(c) => c.header(http, timeout).await.map(Some),
        }
    }

    /// Forgets a cached token the upstream refused; returns whether a new one can be fetched
    /// (so the request is worth sending again).
    pub async fn invalidate(&self) -> bool {
        match self {
            Self::ClientCredentials(c) => {
                *c.cached.lock().await = None;
                true
            }
            _ => false,
        }
    }
}

impl ClientCredentials {
    async fn header(
        &self,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> Result<String, FederationError> {
        let mut cached = self.cached.lock().await;
        if let Some((h, until)) = &*cached
            && Instant::now() < *until
        {
            return Ok(h.clone());
        }
        let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        if let Some(s) = &self.scope {
            form.push(("scope", s));
        }
        if let Some(r) = &self.resource {
            form.push(("resource", r));
        }
        let fetch = async {
            let mut resp = http
                .post(&self.token_url)
                .basic_auth(&self.client_id, Some(&self.secret))
                .header("accept", "application/json")
                .form(&form)
                .send()
                .await
                .map_err(|e| FederationError::Credentials(format!("{}: {e}", self.token_url)))?;
            let status = resp.status().as_u16();
            let mut body = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| FederationError::Credentials(e.to_string()))?
            {
                if body.len() + chunk.len() > MAX_TOKEN_RESPONSE {
                    return Err(FederationError::Credentials(
                        "the token response is too large".into(),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            if status != 200 {
                return Err(FederationError::Credentials(format!(
                    "{} answered HTTP {status}: {}",
                    self.token_url,
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                )));
            }
            serde_json::from_slice::<TokenResponse>(&body)
                .map_err(|e| FederationError::Credentials(format!("not a token response: {e}")))
        };
        let token = tokio::time::timeout(timeout, fetch)
            .await
            .map_err(|_| FederationError::Credentials(format!("{} timed out", self.token_url)))??;
        if token.access_token.is_empty()
            || !token.access_token.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(FederationError::Credentials(
                "the access token is empty or has characters a header cannot carry".into(),
            ));
        }
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(300));
        // Renew a little early (a tenth of the lifetime, at most 30 s), so a token does not
        // expire on its way to the upstream.
        let margin = (lifetime / 10).min(Duration::from_secs(30));
        let header = format!("Bearer {}", token.access_token);
        *cached = Some((header.clone(), Instant::now() + lifetime - margin));
        Ok(header)
    }
}

/// Adds a server's TLS settings to its client: extra trusted certificates, a client identity.
pub fn tls(
    mut builder: reqwest::ClientBuilder,
    server: &str,
    tls: &UpstreamTls,
) -> Result<reqwest::ClientBuilder, SetupError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| SetupError::SecretRead {
            server: server.to_owned(),
            path: path.to_owned(),
            source,
        })
    };
    let bad = |path: &Path, e: reqwest::Error| SetupError::Tls {
        server: server.to_owned(),
        path: path.to_owned(),
        detail: e.to_string(),
    };
    if let Some(path) = &tls.ca_file {
        for cert in reqwest::Certificate::from_pem_bundle(&read(path)?).map_err(|e| bad(path, e))? {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
        let mut pem = read(cert)?;
        pem.push(b'\n');
        pem.extend_from_slice(&read(key)?);
        builder = builder.identity(reqwest::Identity::from_pem(&pem).map_err(|e| bad(cert, e))?);
    }
    Ok(builder)
}

fn read_secret(server: &str, path: &Path) -> Result<String, SetupError> {
    let text = std::fs::read_to_string(path).map_err(|source| SetupError::SecretRead {
        server: server.to_owned(),
        path: path.to_owned(),
        source,
    })?;
    let secret = text.trim();
    if secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(SetupError::SecretInvalid {
            server: server.to_owned(),
            path: path.to_owned(),
        });
    }
    Ok(secret.to_owned())
}
