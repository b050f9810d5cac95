//! `mcp_servers:` (alias `upstream_servers:`): existing MCP servers, reached over Streamable
//! HTTP, whose tools the gateway serves beside the sandboxes' (see [`crate::federation`]).
//!
//! Parsed once into these types and checked by [`check`]; nothing here touches the network.
//! The caller's own credentials are never sent to an upstream: each server gets either
//! nothing, a static bearer token from a file, or an OAuth 2.0 client-credentials token of
//! its own.

use std::path::{Path, PathBuf};

use mcp_contract::units::{ByteSize, Span};
use serde::Deserialize;

/// One upstream MCP server.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// Prefix of its tools' names (`<name>__<tool>`), and its name in logs, metrics and
    /// `/ready`: 1-32 characters of a-z, A-Z, 0-9, '-'.
    pub name: String,
    /// Its Streamable HTTP endpoint, e.g. `http://127.0.0.1:8001/mcp`.
    pub url: String,
    /// The policy tool set its tools belong to (roles, rate limits); defaults to `name`.
    #[serde(default)]
    pub toolset: Option<String>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: Span,
    /// Longest one request to it (a tool call, a page of its tool list) may take.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: Span,
    /// Largest answer read from it; a larger one fails the call.
    #[serde(default = "default_max_response")]
    pub max_response: ByteSize,
    /// Requests in flight to it at once; past it calls fail at once (503), so one slow server
    /// cannot hold all of the gateway's requests in flight.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: usize,
    #[serde(default)]
    pub auth: UpstreamAuth,
    /// Send the caller's user name in this header (e.g. `X-MCP-User`); off by default.
    #[serde(default)]
    pub forward_identity_header: Option<String>,
    #[serde(default)]
    pub circuit_breaker: BreakerConfig,
    /// TLS toward an `https://` server beyond the bundled web roots: a private CA, a client
    /// certificate.
    #[serde(default)]
    pub tls: Option<UpstreamTls>,
}

/// TLS settings of one upstream server.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTls {
    /// PEM certificates trusted for this server (in addition to the web roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) presented to the server; needs `client_key`.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
}

fn default_connect_timeout() -> Span {
    Span::from_secs(5)
}

fn default_request_timeout() -> Span {
    Span::from_secs(30)
}

fn default_max_response() -> ByteSize {
    ByteSize::mib(4)
}

fn default_max_concurrent() -> usize {
    64
}

impl McpServerConfig {
    /// The policy tool set of its tools.
    pub fn toolset(&self) -> &str {
        self.toolset.as_deref().unwrap_or(&self.name)
    }
}

/// The credentials the gateway presents to an upstream (never the caller's).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum UpstreamAuth {
    #[default]
    None,
    /// `Authorization: Bearer <the file's one line>`.
    BearerFile { path: PathBuf },
    /// OAuth 2.0 client credentials (RFC 6749 4.4) against the upstream's authorization
    /// server; the token is cached until shortly before it expires.
    ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret_file: PathBuf,
        #[serde(default)]
        scope: Option<String>,
        /// RFC 8707 `resource` parameter, when the authorization server needs one.
        #[serde(default)]
        resource: Option<String>,
    },
}

/// When calls to a server stop being tried: after `failures` calls in a row failed to reach
/// it, calls fail at once for `open_for`; then one call is let through to test it.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    pub failures: u32,
    pub open_for: Span,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures: 5,
            open_for: Span::from_secs(30),
        }
    }
}

/// A `mcp_servers` entry that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McpServerRule {
    #[error("mcp_servers[{index}].name: {name:?} must be 1-32 characters of a-z, A-Z, 0-9, '-'")]
    Name { index: usize, name: String },
    #[error("mcp_servers[{index}].name: {name:?} is used twice")]
    NameTwice { index: usize, name: String },
    #[error(
        "mcp_servers[{index}].url: {url:?} must be an http:// or https:// URL, e.g. http://127.0.0.1:8001/mcp"
    )]
    Url { index: usize, url: String },
    #[error("mcp_servers[{index}].auth.token_url: {url:?} must be an http:// or https:// URL")]
    TokenUrl { index: usize, url: String },
    #[error(
        "mcp_servers[{index}].forward_identity_header: {header:?} must be a header name other than authorization, cookie, host and mcp-* headers"
    )]
    IdentityHeader { index: usize, header: String },
    #[error(
        "mcp_servers[{index}].toolset: {toolset:?} must be 1-64 characters of a-z, A-Z, 0-9, '_', '-'"
    )]
    Toolset { index: usize, toolset: String },
    #[error("mcp_servers[{index}].circuit_breaker.failures must be at least 1")]
    BreakerFailures { index: usize },
    #[error("mcp_servers[{index}].{field} must be more than 0")]
    Zero { index: usize, field: &'static str },
    #[error(
        "mcp_servers[{index}].tls: needs an https:// url, and client_cert and client_key together"
    )]
    Tls { index: usize },
}

/// `code_callback_url`: the base URL sandboxes use to send calls of federated tools made from
/// code back to this gateway replica (`http://` or `https://`, host and port, no path).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct CallbackUrl(String);

impl CallbackUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CallbackUrl {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let trimmed = s.trim_end_matches('/');
        let authority = trimmed
            .strip_prefix("http://")
            .or_else(|| trimmed.strip_prefix("https://"));
        if is_http_url(trimmed) && authority.is_some_and(|a| !a.contains('/')) {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(format!(
                "{s:?} must be an http:// or https:// URL with a host and no path, e.g. \
                 http://10.0.0.7:8080 (how sandboxes reach this gateway replica)"
            ))
        }
    }
}

fn is_http_url(u: &str) -> bool {
    let rest = u
        .strip_prefix("http://")
        .or_else(|| u.strip_prefix("https://"));
    rest.is_some_and(|r| {
        let host = r.split('/').next().unwrap_or_default();
        !host.is_empty() && !r.contains(char::is_whitespace)
    })
}

/// Checks every entry: names, URLs, headers, thresholds.
pub fn check(servers: &[McpServerConfig]) -> Result<(), McpServerRule> {
    let mut names = std::collections::HashSet::new();
    for (index, s) in servers.iter().enumerate() {
        let name_ok = (1..=32).contains(&s.name.len())
            && s.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !name_ok {
            return Err(McpServerRule::Name {
                index,
                name: s.name.clone(),
            });
        }
        if !names.insert(s.name.as_str()) {
            return Err(McpServerRule::NameTwice {
                index,
                name: s.name.clone(),
            });
        }
        if !is_http_url(&s.url) {
            return Err(McpServerRule::Url {
                index,
                url: s.url.clone(),
            });
        }
        if mcp_contract::names::ToolsetName::parse(s.toolset()).is_err() {
            return Err(McpServerRule::Toolset {
                index,
                toolset: s.toolset().to_owned(),
            });
        }
        if let UpstreamAuth::ClientCredentials { token_url, .. } = &s.auth
            && !is_http_url(token_url)
        {
            return Err(McpServerRule::TokenUrl {
                index,
                url: token_url.clone(),
            });
        }
        if let Some(h) = &s.forward_identity_header {
            let lower = h.to_ascii_lowercase();
            let token = !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            let reserved = matches!(
                lower.as_str(),
                "authorization" | "cookie" | "host" | "content-type" | "content-length" | "accept"
            ) || lower.starts_with("mcp-")
                || lower == "traceparent";
            if !token || reserved {
                return Err(McpServerRule::IdentityHeader {
                    index,
                    header: h.clone(),
                });
            }
        }
        if let Some(t) = &s.tls
            && (!s.url.starts_with("https://") || t.client_cert.is_some() != t.client_key.is_some())
        {
            return Err(McpServerRule::Tls { index });
        }
        if s.circuit_breaker.failures == 0 {
            return Err(McpServerRule::BreakerFailures { index });
        }
        for (field, zero) in [
            ("connect_timeout", s.connect_timeout.get().is_zero()),
            ("request_timeout", s.request_timeout.get().is_zero()),
            (
                "circuit_breaker.open_for",
                s.circuit_breaker.open_for.get().is_zero(),
            ),
            ("max_response", s.max_response.as_usize() == 0),
            ("max_concurrent", s.max_concurrent == 0),
        ] {
            if zero {
                return Err(McpServerRule::Zero { index, field });
            }
        }
    }
    Ok(())
}

/// Makes the entries' relative file paths relative to the config file's directory.
pub fn resolve_paths(servers: &mut [McpServerConfig], base: &Path) {
    for s in servers {
        if let Some(t) = &mut s.tls {
            for file in [&mut t.ca_file, &mut t.client_cert, &mut t.client_key]
                .into_iter()
                .flatten()
            {
                if file.is_relative() {
                    *file = base.join(&*file);
                }
            }
        }
        let file = match &mut s.auth {
            UpstreamAuth::None => continue,
            UpstreamAuth::BearerFile { path } => path,
            UpstreamAuth::ClientCredentials {
                client_secret_file, ..
            } => client_secret_file,
        };
        if file.is_relative() {
            *file = base.join(&*file);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Vec<McpServerConfig> {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn a_minimal_entry_gets_the_defaults() {
        let s = parse("- {name: github, url: 'http://127.0.0.1:8001/mcp'}");
        assert_eq!(check(&s), Ok(()));
        assert_eq!(s[0].toolset(), "github");
        assert!(matches!(s[0].auth, UpstreamAuth::None));
        assert_eq!(s[0].circuit_breaker.failures, 5);
        assert_eq!(s[0].max_response.as_usize(), 4 * 1024 * 1024);
    }

    #[test]
    fn upstream_servers_is_another_name_for_the_list() {
        let dir = mcp_testkit::TempDir::new().unwrap();
        let path = dir.path().join("gateway.yaml");
        std::fs::write(
            &path,
            "listen: 127.0.0.1:8080\nsandboxes: [{name: l, url: 'http://127.0.0.1:7070'}]\n\
             policy: access.yaml\nkeys: {dir: keys}\n\
             upstream_servers: [{name: gh, url: 'http://127.0.0.1:8001/mcp', \
             auth: {type: bearer_file, path: gh.token}}]\n",
        )
        .unwrap();
        let c = crate::config::Config::load(&path, []).unwrap();
        assert_eq!(c.mcp_servers[0].name, "gh");
        assert!(
            matches!(&c.mcp_servers[0].auth, UpstreamAuth::BearerFile { path } if *path == dir.path().join("gh.token"))
        );
    }

    #[test]
    fn auth_kinds_and_breaker_parse() {
        let s = parse(
            "- name: a\n  url: https://a.example/mcp\n  auth: {type: bearer_file, path: a.token}\n\
             - name: b\n  url: http://b:80/mcp\n  circuit_breaker: {failures: 2, open_for: 500ms}\n  \
               auth: {type: client_credentials, token_url: 'http://idp/token', client_id: gw, \
               client_secret_file: /run/secret, scope: 'tools:read'}\n",
        );
        assert_eq!(check(&s), Ok(()));
        assert!(matches!(s[0].auth, UpstreamAuth::BearerFile { .. }));
        assert_eq!(s[1].circuit_breaker.failures, 2);
        let mut s = s;
        resolve_paths(&mut s, Path::new("/etc/gw"));
        assert!(
            matches!(&s[0].auth, UpstreamAuth::BearerFile { path } if path == Path::new("/etc/gw/a.token"))
        );
    }

    #[test]
    fn bad_entries_name_the_field() {
        for (yaml, want) in [
            (
                "- {name: 'a_b', url: 'http://x/mcp'}",
                "mcp_servers[0].name",
            ),
            ("- {name: a, url: 'ftp://x'}", "mcp_servers[0].url"),
            (
                "- {name: a, url: 'http://x/mcp'}\n- {name: a, url: 'http://y/mcp'}",
                "used twice",
            ),
            (
                "- {name: a, url: 'http://x/mcp', forward_identity_header: Authorization}",
                "forward_identity_header",
            ),
            (
                "- {name: a, url: 'http://x/mcp', circuit_breaker: {failures: 0}}",
                "failures must be at least 1",
            ),
            (
                "- {name: a, url: 'http://x/mcp', tls: {ca_file: ca.pem}}",
                "needs an https:// url",
            ),
            (
                "- {name: a, url: 'https://x/mcp', tls: {client_cert: c.pem}}",
                "client_cert and client_key together",
            ),
        ] {
            let e = check(&parse(yaml)).unwrap_err().to_string();
            assert!(e.contains(want), "{yaml}: {e}");
        }
        assert!(
            serde_yaml::from_str::<Vec<McpServerConfig>>(
                "- {name: a, url: 'http://x', auth: {type: password}}"
            )
            .is_err()
        );
    }
}
