//! HTTP requests to the identity provider: the discovery document and the JWKS, with the
//! client's timeouts and a cap on the response size.

use std::sync::Arc;

use serde::Deserialize;

use crate::error::ConfigError;
use crate::jwks::keyset::KeySetError;
use crate::oidc::{OidcSettings, check_url};

/// Why discovery or the JWKS fetch failed; names the URL. Cheap to clone (callers that arrive
/// during a fetch share its result), so the causes are behind `Arc`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KeyFetchError {
    /// The request failed (connection, TLS, timeout, redirect).
    #[error("GET {url}: {}", error_chain(.source.as_ref()))]
    Request {
        /// The URL requested.
        url: String,
        /// The HTTP client's error.
        source: Arc<reqwest::Error>,
    },
    /// The answer was not 2xx.
    #[error("GET {url}: HTTP {status}")]
    Status {
        /// The URL requested.
        url: String,
        /// The status received.
        status: reqwest::StatusCode,
    },
    /// The answer was larger than a discovery document or key set can be.
    #[error("GET {url}: response larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge {
        /// The URL requested.
        url: String,
    },
    /// The discovery URL did not answer with a discovery document.
    #[error("{url}: not an OpenID discovery document: {source}")]
    NotDiscovery {
        /// The discovery URL.
        url: String,
        /// Why it does not parse.
        source: Arc<serde_json::Error>,
    },
    /// The discovery document is another issuer's.
    #[error(
        "{url}: the discovery document names issuer {found:?}, not the configured {configured:?}; \
         set oidc.issuer to exactly the provider's issuer"
    )]
    IssuerMismatch {
        /// The discovery URL.
        url: String,
        /// The issuer the document names.
        found: String,
        /// The configured issuer.
        configured: String,
    },
    /// The discovery document's `jwks_uri` is not acceptable.
    #[error("{url}: {source}")]
    JwksUri {
        /// The discovery URL.
        url: String,
        /// What is wrong with `jwks_uri`.
        source: Arc<ConfigError>,
    },
    /// The JWKS holds no usable key set.
    #[error("{uri}: {source}")]
    Keys {
        /// The JWKS URL.
        uri: String,
        /// What is wrong with the document.
        source: Arc<KeySetError>,
    },
}

/// Discovery documents and key sets are a few KiB; this bounds what a broken or hostile
/// endpoint can make the gateway buffer.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Builds the client used for every request to the identity provider.
pub(crate) fn client(settings: &OidcSettings) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(settings.http_timeout)
        .connect_timeout(settings.http_timeout)
        .redirect(no_downgrade_redirects())
        .user_agent(concat!("mcp-gateway/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Follows at most 3 redirects, and never from `https` to anything else: a redirect must not
/// turn a verified channel to the identity provider into one anybody on the path can answer.
fn no_downgrade_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let downgrade = attempt.previous().iter().any(|u| u.scheme() == "https")
            && attempt.url().scheme() != "https";
        if downgrade {
            attempt.error("refusing a redirect from https to a plain-text URL")
        } else if attempt.previous().len() > 3 {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}

/// GETs `url` and returns the body of a 2xx response, at most [`MAX_RESPONSE_BYTES`].
pub(crate) async fn get(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, KeyFetchError> {
    let request_error = |e: reqwest::Error| KeyFetchError::Request {
        url: url.to_owned(),
        source: Arc::new(e),
    };
    let too_large = || KeyFetchError::TooLarge {
        url: url.to_owned(),
    };
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(request_error)?;
    let status = response.status();
    if !status.is_success() {
        return Err(KeyFetchError::Status {
            url: url.to_owned(),
            status,
        });
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(request_error)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// Fetches the discovery document and returns its `jwks_uri`, after checking that it names the
/// configured issuer (OpenID Connect Discovery 1.0, section 4.3) and that the URL is acceptable.
pub(crate) async fn discover(
    client: &reqwest::Client,
    settings: &OidcSettings,
) -> Result<String, KeyFetchError> {
    let url = &settings.discovery_url;
    let body = get(client, url).await?;
    let doc: Discovery =
        serde_json::from_slice(&body).map_err(|e| KeyFetchError::NotDiscovery {
            url: url.clone(),
            source: Arc::new(e),
        })?;
    if doc.issuer != settings.issuer {
        return Err(KeyFetchError::IssuerMismatch {
            url: url.clone(),
            found: doc.issuer,
            configured: settings.issuer.clone(),
        });
    }
    check_url("jwks_uri", &doc.jwks_uri, settings.allow_insecure_http).map_err(|e| {
        KeyFetchError::JwksUri {
            url: url.clone(),
            source: Arc::new(e),
        }
    })?;
    Ok(doc.jwks_uri)
}

/// An error with its causes, e.g. "error sending request: connection refused".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
