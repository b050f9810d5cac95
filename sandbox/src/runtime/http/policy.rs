//! A component's outbound HTTP grant, validated: the origins it may reach, the credential the
//! host adds for each, and the limits of its requests. Built once when the tool set loads.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use crate::toolset::manifest::{HttpGrant, VarError, expand_vars};

/// Requests one call may make when the grant does not say.
pub const DEFAULT_MAX_REQUESTS: u32 = 16;
/// Cap on a response body when the grant does not say.
pub const DEFAULT_MAX_RESPONSE: u64 = 1 << 20;
/// Cap on one request when the grant does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a component may do over HTTP.
#[derive(Debug)]
pub struct HttpPolicy {
    /// The component's name (the metric's `component` label).
    pub component: Arc<str>,
    pub rules: Vec<OriginRule>,
    pub max_requests: u32,
    pub max_response: u64,
    pub timeout: Duration,
}

/// One allowed origin.
#[derive(Debug, Clone)]
pub struct OriginRule {
    /// The origin as written (the metric's `host` label: bounded by the manifest).
    pub label: Arc<str>,
    pub https: bool,
    pub host: HostPattern,
    pub port: u16,
    pub inject: Option<Injection>,
}

/// The host part of an origin, lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// This host only (a name, an IPv4 address or a bracketed IPv6 address).
    Exact(String),
    /// Any subdomain of this domain (stored with its leading dot), not the domain itself.
    Subdomains(String),
}

/// A header the host sets from a secret file.
#[derive(Debug, Clone)]
pub struct Injection {
    pub header: HeaderName,
    pub secret_file: PathBuf,
}

/// Why a grant is not valid; each names the origin or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum HttpGrantError {
    #[error(
        "capabilities.http: origin {origin:?} {reason}; write it as scheme://host[:port], e.g. https://api.example.com or http://127.0.0.1:8080 or https://*.example.com"
    )]
    Origin {
        origin: String,
        reason: &'static str,
    },
    #[error("capabilities.http: {header:?} (origin {origin:?}) is not a valid header name")]
    Header { origin: String, header: String },
    #[error("capabilities.http: secret file for {origin:?}: {source}")]
    Var { origin: String, source: VarError },
    #[error(
        "capabilities.http: secret file {path} (origin {origin:?}) cannot be read: {source}; create it or fix the path"
    )]
    Secret {
        origin: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl HttpPolicy {
    /// Validates `grant`; relative secret files are relative to `base` (the manifest's
    /// directory), and must be readable now (they are read again at each request).
    pub fn from_grant(
        component: &str,
        grant: &HttpGrant,
        base: &Path,
    ) -> Result<Self, HttpGrantError> {
        let mut rules = Vec::with_capacity(grant.allow.len());
        for entry in &grant.allow {
            let origin = entry.origin.clone();
            let (https, host, port) =
                parse_origin(&origin).map_err(|reason| HttpGrantError::Origin {
                    origin: origin.clone(),
                    reason,
                })?;
            let inject = match &entry.inject {
                None => None,
                Some(secret) => {
                    let header =
                        HeaderName::from_bytes(secret.header.as_bytes()).map_err(|_| {
                            HttpGrantError::Header {
                                origin: origin.clone(),
                                header: secret.header.clone(),
                            }
                        })?;
                    let expanded = expand_vars(&secret.secret_file, |v| std::env::var(v).ok())
                        .map_err(|source| HttpGrantError::Var {
                            origin: origin.clone(),
                            source,
                        })?;
                    let path = base.join(expanded);
                    std::fs::metadata(&path).map_err(|source| HttpGrantError::Secret {
                        origin: origin.clone(),
                        path: path.clone(),
                        source,
                    })?;
                    Some(Injection {
                        header,
                        secret_file: path,
                    })
                }
            };
            rules.push(OriginRule {
                label: Arc::from(origin.as_str()),
                https,
                host,
                port,
                inject,
            });
        }
        Ok(Self {
            component: Arc::from(component),
            rules,
            max_requests: grant.max_requests.unwrap_or(DEFAULT_MAX_REQUESTS),
            max_response: grant.max_response.map_or(DEFAULT_MAX_RESPONSE, |b| b.0),
            timeout: grant.timeout.map_or(DEFAULT_TIMEOUT, |s| s.get()),
        })
    }

    /// The rule allowing a request to `host:port` over `https` (or plain HTTP), if any.
    /// `host` as `http::Uri::host` gives it (IPv6 bracketed).
    pub fn rule_for(&self, https: bool, host: &str, port: u16) -> Option<&OriginRule> {
        let host = host.to_ascii_lowercase();
        self.rules.iter().find(|r| {
            r.https == https
                && r.port == port
                && match &r.host {
                    HostPattern::Exact(h) => *h == host,
                    HostPattern::Subdomains(suffix) => {
                        host.len() > suffix.len() && host.ends_with(suffix.as_str())
                    }
                }
        })
    }
}

impl OriginRule {
    /// The address this rule names as an IP literal: the only internal address it lets a
    /// request reach. A rule naming a host name never reaches an internal address.
    pub fn literal_ip(&self) -> Option<IpAddr> {
        match &self.host {
            HostPattern::Exact(h) => parse_ip(h),
            HostPattern::Subdomains(_) => None,
        }
    }
}

/// An IP literal as a URI writes it (IPv6 in brackets).
pub fn parse_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

fn parse_origin(origin: &str) -> Result<(bool, HostPattern, u16), &'static str> {
    let (scheme, rest) = origin
        .split_once("://")
        .ok_or("has no scheme (http:// or https://)")?;
    let https = match scheme.to_ascii_lowercase().as_str() {
        "http" => false,
        "https" => true,
        _ => return Err("has a scheme other than http or https"),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        return Err("must not have a path, query or user name");
    }
    let (wildcard, rest) = match rest.strip_prefix("*.") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let authority: http::uri::Authority = rest.parse().map_err(|_| "has an invalid host")?;
    let host = authority.host().to_ascii_lowercase();
    if host.is_empty() || host.contains('*') {
        return Err("has an invalid host (a `*.` may only start it)");
    }
    if wildcard && parse_ip(&host).is_some() {
        return Err("puts a wildcard before an IP address");
    }
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let pattern = if wildcard {
        HostPattern::Subdomains(format!(".{host}"))
    } else {
        HostPattern::Exact(host)
    };
    Ok((https, pattern, port))
}

/// Whether `ip` is an address a tool must not reach unless a rule names it: loopback,
/// private, link-local, shared (CGNAT), unspecified, broadcast, multicast, documentation and
/// IPv6 unique-local, including IPv4 addresses mapped into IPv6.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_internal_v4(v4),
            None => is_internal_v6(v6),
        },
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || a >= 240
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || ip
            .to_ipv4()
            .is_some_and(|v4| ip.segments()[..6] == [0; 6] && is_internal_v4(v4))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolset::manifest::HttpOrigin;

    fn policy(origins: &[&str]) -> HttpPolicy {
        let grant = HttpGrant {
            allow: origins
                .iter()
                .map(|o| HttpOrigin {
                    origin: (*o).to_owned(),
                    inject: None,
                })
                .collect(),
            max_requests: None,
            max_response: None,
            timeout: None,
        };
        HttpPolicy::from_grant("c", &grant, Path::new("/")).unwrap()
    }

    #[test]
    fn origins_match_on_scheme_host_and_port() {
        let p = policy(&["https://api.example.com", "http://127.0.0.1:8080"]);
        assert!(p.rule_for(true, "api.example.com", 443).is_some());
        assert!(p.rule_for(true, "API.example.com", 443).is_some());
        assert!(p.rule_for(false, "api.example.com", 443).is_none());
        assert!(p.rule_for(true, "api.example.com", 8443).is_none());
        assert!(p.rule_for(true, "example.com", 443).is_none());
        assert!(p.rule_for(false, "127.0.0.1", 8080).is_some());
        assert!(p.rule_for(false, "127.0.0.1", 80).is_none());
    }

    #[test]
    fn a_wildcard_allows_subdomains_but_not_the_domain() {
        let p = policy(&["https://*.example.com"]);
        assert!(p.rule_for(true, "a.example.com", 443).is_some());
        assert!(p.rule_for(true, "a.b.example.com", 443).is_some());
        assert!(p.rule_for(true, "example.com", 443).is_none());
        assert!(p.rule_for(true, "badexample.com", 443).is_none());
        assert!(p.rules[0].literal_ip().is_none());
    }

    #[test]
    fn bad_origins_are_refused_with_the_reason() {
        for (origin, reason) in [
            ("api.example.com", "no scheme"),
            ("ftp://x.example", "other than http"),
            ("https://x.example/path", "path"),
            ("https://user@x.example", "user name"),
            ("https://*.10.0.0.1", "wildcard before an IP"),
            ("https://a.*.example.com", "invalid host"),
        ] {
            let grant = HttpGrant {
                allow: vec![HttpOrigin {
                    origin: origin.into(),
                    inject: None,
                }],
                max_requests: None,
                max_response: None,
                timeout: None,
            };
            let e = HttpPolicy::from_grant("c", &grant, Path::new("/")).unwrap_err();
            assert!(e.to_string().contains(reason), "{origin}: {e}");
        }
    }

    #[test]
    fn a_credential_needs_a_valid_header_and_a_secret_file_that_exists() {
        use crate::toolset::manifest::HeaderSecret;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "Bearer x\n").unwrap();
        let grant = |header: &str, file: &str| HttpGrant {
            allow: vec![HttpOrigin {
                origin: "https://api.example.com".into(),
                inject: Some(HeaderSecret {
                    header: header.into(),
                    secret_file: file.into(),
                }),
            }],
            max_requests: Some(2),
            max_response: None,
            timeout: None,
        };
        let p = HttpPolicy::from_grant("c", &grant("Authorization", "token"), dir.path()).unwrap();
        let inject = p.rules[0].inject.as_ref().unwrap();
        assert_eq!(inject.header, http::header::AUTHORIZATION);
        assert_eq!(inject.secret_file, dir.path().join("token"));
        assert_eq!(p.max_requests, 2);
        assert_eq!(p.max_response, DEFAULT_MAX_RESPONSE);
        let missing = HttpPolicy::from_grant("c", &grant("Authorization", "nope"), dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("nope") && missing.contains("cannot be read"),
            "{missing}"
        );
        let bad = HttpPolicy::from_grant("c", &grant("Bad Header", "token"), dir.path())
            .unwrap_err()
            .to_string();
        assert!(bad.contains("not a valid header name"), "{bad}");
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }
}
