//! TLS toward a sandbox (`sandboxes[].tls`), optional and off by default: the CA the sandbox's
//! certificate must chain to, the name it must carry, and for mutual TLS the gateway's client
//! certificate and key. A sandbox is reached over TLS exactly when its url is `https://`, and
//! then `tls:` with a `ca_file` is required; the files are read when the upstreams are set up
//! ([`crate::upstream`]), with errors naming the sandbox and file.

use std::path::PathBuf;

use serde::Deserialize;

use super::{SandboxConfig, SandboxUrl};

/// TLS settings of one sandbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxTls {
    /// PEM CA certificate(s) the sandbox's certificate must chain to (only these are trusted).
    pub ca_file: PathBuf,
    /// PEM client certificate (chain) presented to the sandbox (its `--tls-client-ca`
    /// verifies it); needs `client_key_file`.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of `client_cert_file`.
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
    /// The name the sandbox's certificate must be valid for (default: the url's host or IP
    /// address).
    #[serde(default)]
    pub server_name: Option<String>,
}

/// A `sandboxes[]` entry as written, before the url's scheme and `tls:` are checked together.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSandbox {
    name: String,
    url: SchemeUrl,
    #[serde(default)]
    token_file: Option<PathBuf>,
    #[serde(default)]
    tls: Option<SandboxTls>,
}

/// A sandbox url with its scheme kept (`https://` or not), so that a bad address is reported
/// at `sandboxes[N].url`.
struct SchemeUrl {
    text: String,
    https: bool,
    url: SandboxUrl,
}

impl<'de> Deserialize<'de> for SchemeUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let (https, rest) = match text.strip_prefix("https://") {
            Some(rest) => (true, rest),
            None => (false, text.as_str()),
        };
        let url = rest.parse().map_err(serde::de::Error::custom)?;
        Ok(Self { text, https, url })
    }
}

/// A `sandboxes[]` entry whose url and `tls:` do not go together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxTlsRule {
    #[error("url {url:?} is https://: add tls: {{ca_file: <PEM CA of the sandbox's certificate>}}")]
    HttpsWithoutTls { url: String },
    #[error("tls: is set, so the url must be https://HOST:PORT (it is {url:?})")]
    TlsWithoutHttps { url: String },
    #[error("tls: client_cert_file and client_key_file go together (set both or neither)")]
    ClientCertWithoutKey,
    #[error("tls.server_name: {0:?} is not a DNS name or IP address")]
    ServerName(String),
}

impl TryFrom<RawSandbox> for SandboxConfig {
    type Error = SandboxTlsRule;

    fn try_from(raw: RawSandbox) -> Result<Self, SandboxTlsRule> {
        let SchemeUrl { text, https, url } = raw.url;
        match (&raw.tls, https) {
            (None, true) => return Err(SandboxTlsRule::HttpsWithoutTls { url: text }),
            (Some(_), false) => return Err(SandboxTlsRule::TlsWithoutHttps { url: text }),
            (Some(_), true) if matches!(url, SandboxUrl::Unix(_)) => {
                return Err(SandboxTlsRule::TlsWithoutHttps { url: text });
            }
            _ => {}
        }
        if let Some(tls) = &raw.tls {
            if tls.client_cert_file.is_some() != tls.client_key_file.is_some() {
                return Err(SandboxTlsRule::ClientCertWithoutKey);
            }
            if let Some(name) = &tls.server_name {
                let valid = !name.is_empty()
                    && name.len() <= 253
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.:_".contains(&b));
                if !valid {
                    return Err(SandboxTlsRule::ServerName(name.clone()));
                }
            }
        }
        Ok(SandboxConfig {
            name: raw.name,
            url,
            token_file: raw.token_file,
            tls: raw.tls,
        })
    }
}

impl SandboxTls {
    /// The name the sandbox's certificate is checked against (and sent as SNI).
    pub fn server_name_for(&self, url: &SandboxUrl) -> String {
        match (&self.server_name, url) {
            (Some(name), _) => name.clone(),
            (None, SandboxUrl::Tcp(addr)) => addr.ip().to_string(),
            (None, SandboxUrl::Host { host, .. }) => host.clone(),
            (None, SandboxUrl::Unix(_)) => String::new(),
        }
    }

    pub(super) fn resolve_paths(&mut self, fix: &impl Fn(&mut PathBuf)) {
        fix(&mut self.ca_file);
        if let Some(p) = &mut self.client_cert_file {
            fix(p);
        }
        if let Some(p) = &mut self.client_key_file {
            fix(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox(yaml: &str) -> Result<SandboxConfig, String> {
        serde_yaml::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn https_url_needs_tls_and_tls_needs_https() {
        let ok = sandbox("{name: a, url: 'https://127.0.0.1:7070', tls: {ca_file: ca.pem}}")
            .expect("valid");
        assert_eq!(
            ok.url,
            SandboxUrl::Tcp("127.0.0.1:7070".parse().expect("addr"))
        );
        let tls = ok.tls.expect("tls");
        assert_eq!(tls.server_name_for(&ok.url), "127.0.0.1");
        let err = sandbox("{name: a, url: 'https://127.0.0.1:7070'}").expect_err("no tls");
        assert!(err.contains("add tls:"), "{err}");
        let err = sandbox("{name: a, url: 'http://127.0.0.1:7070', tls: {ca_file: ca.pem}}")
            .expect_err("http");
        assert!(err.contains("must be https://"), "{err}");
        let plain = sandbox("{name: a, url: 'http://s.ns.svc:7070'}").expect("plain");
        assert!(plain.tls.is_none());
    }

    #[test]
    fn client_cert_and_key_go_together_and_names_are_checked() {
        let err = sandbox("{name: a, url: 'https://s:1', tls: {ca_file: c, client_cert_file: x}}")
            .expect_err("cert alone");
        assert!(err.contains("go together"), "{err}");
        let err = sandbox("{name: a, url: 'https://s:1', tls: {ca_file: c, server_name: 'a b'}}")
            .expect_err("bad name");
        assert!(err.contains("server_name"), "{err}");
        let ok = sandbox(
            "{name: a, url: 'https://s.ns.svc:1', tls: {ca_file: c, server_name: sandbox.internal}}",
        )
        .expect("valid");
        let tls = ok.tls.expect("tls");
        assert_eq!(tls.server_name_for(&ok.url), "sandbox.internal");
    }
}
