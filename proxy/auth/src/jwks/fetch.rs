//! HTTP requests to the identity provider: the discovery document and the JWKS, with the
//! client's timeouts and a cap on the response size.

use serde::Deserialize;

use crate::oidc::{OidcSettings, check_url};

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
pub(crate) async fn get(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("GET {url}: {}", error_chain(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("GET {url}: HTTP {status}"));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(format!(
            "GET {url}: response larger than {MAX_RESPONSE_BYTES} bytes"
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("GET {url}: {}", error_chain(&e)))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!(
                "GET {url}: response larger than {MAX_RESPONSE_BYTES} bytes"
            ));
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
) -> Result<String, String> {
    let url = &settings.discovery_url;
    let body = get(client, url).await?;
    let doc: Discovery = serde_json::from_slice(&body)
        .map_err(|e| format!("{url}: not an OpenID discovery document: {e}"))?;
    if doc.issuer != settings.issuer {
        return Err(format!(
            "{url}: the discovery document names issuer {:?}, not the configured {:?}; set \
             oidc.issuer to exactly the provider's issuer",
            doc.issuer, settings.issuer
        ));
    }
    check_url("jwks_uri", &doc.jwks_uri, settings.allow_insecure_http)
        .map_err(|e| format!("{url}: {e}"))?;
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
