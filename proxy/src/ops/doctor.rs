//! `mcp-gateway doctor`: the daily health check. Each check prints one PASS/WARN/FAIL line that
//! says what was checked and, when something is wrong, what to do; the command exits non-zero
//! when any check fails.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mcp_contract::policy::AccessPolicy;
use mcp_contract::sandbox_api::{TOOLS_PATH, ToolList};
use mcp_gateway_auth::{Authenticator, KeyStore};

use crate::config::Config;
use crate::upstream::Upstreams;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Pass,
    Warn,
    Fail,
}

impl Level {
    fn tag(self) -> &'static str {
        match self {
            Level::Pass => "PASS",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        }
    }
}

/// The result of one check.
pub struct Finding {
    pub level: Level,
    pub check: &'static str,
    pub message: String,
}

fn found(level: Level, check: &'static str, message: impl Into<String>) -> Finding {
    Finding {
        level,
        check,
        message: message.into(),
    }
}

/// Options of a run.
pub struct DoctorOptions {
    /// Keys expiring within this window are reported.
    pub expiry_warning: Duration,
    /// A certificate expiring within this window is a warning.
    pub cert_warning: Duration,
}

impl Default for DoctorOptions {
    fn default() -> Self {
        Self {
            expiry_warning: Duration::from_secs(7 * 86_400),
            cert_warning: Duration::from_secs(14 * 86_400),
        }
    }
}

/// Runs every check against the configuration at `path` and writes the report to `out`.
/// Returns whether no check failed.
pub async fn run(path: &Path, opts: &DoctorOptions, out: &mut impl Write) -> std::io::Result<bool> {
    let findings = checks(path, opts).await;
    for f in &findings {
        writeln!(out, "{}  {:<10} {}", f.level.tag(), f.check, f.message)?;
    }
    let worst = findings
        .iter()
        .map(|f| f.level)
        .max()
        .unwrap_or(Level::Pass);
    let (fails, warns) = (
        findings.iter().filter(|f| f.level == Level::Fail).count(),
        findings.iter().filter(|f| f.level == Level::Warn).count(),
    );
    writeln!(
        out,
        "\n{} checks: {} failed, {} warnings",
        findings.len(),
        fails,
        warns
    )?;
    Ok(worst != Level::Fail)
}

async fn checks(path: &Path, opts: &DoctorOptions) -> Vec<Finding> {
    let mut f = Vec::new();
    let config = match Config::load(path, std::env::vars()) {
        Ok(c) => {
            f.push(found(
                Level::Pass,
                "config",
                format!("{} is valid", path.display()),
            ));
            c
        }
        Err(e) => {
            f.push(found(Level::Fail, "config", e.to_string()));
            return f;
        }
    };
    let policy = match AccessPolicy::load(&config.policy) {
        Ok(p) => {
            f.push(found(
                Level::Pass,
                "policy",
                format!("{} is valid", config.policy.display()),
            ));
            Some(p)
        }
        Err(e) => {
            f.push(found(Level::Fail, "policy", e.to_string()));
            None
        }
    };
    let keys = check_keys(&config, opts, &mut f);
    let toolsets = check_sandboxes(&config, &mut f).await;
    if let (Some(p), Some(sets)) = (&policy, &toolsets) {
        let (mentioned, _) = p.mentioned();
        let missing: Vec<&str> = mentioned
            .into_iter()
            .filter(|s| !sets.iter().any(|t| t == s))
            .collect();
        if !missing.is_empty() {
            f.push(found(
                Level::Warn,
                "policy",
                format!(
                    "tool sets named in the policy but served by no sandbox: {}",
                    missing.join(", ")
                ),
            ));
        }
    }
    check_oidc(&config, keys, &mut f).await;
    check_session(&config, &mut f);
    check_redis(&config, &mut f).await;
    check_otlp(&mut f).await;
    check_tls(&config, opts, &mut f);
    f
}

fn check_keys(
    config: &Config,
    opts: &DoctorOptions,
    f: &mut Vec<Finding>,
) -> Option<Arc<KeyStore>> {
    let dir = &config.keys.as_ref()?.dir;
    let store = match KeyStore::open(dir) {
        Ok(s) => s,
        Err(e) => {
            f.push(found(
                Level::Fail,
                "keys",
                format!("{e}: check the directory exists and is readable"),
            ));
            return None;
        }
    };
    let stats = store.stats();
    let level = if stats.invalid_files > 0 {
        Level::Warn
    } else {
        Level::Pass
    };
    let mut msg = format!("{} keys in force in {}", stats.keys, dir.display());
    if stats.invalid_files > 0 {
        msg.push_str(&format!(
            "; {} invalid key file(s) ignored (see `mcp-gateway keys list`)",
            stats.invalid_files
        ));
    }
    f.push(found(level, "keys", msg));
    let now = SystemTime::now();
    let mut expiring: Vec<String> = store
        .records()
        .into_iter()
        .filter(|r| r.revoked.is_none() && r.replaced_by.is_none())
        .filter_map(|r| {
            let at = r.expires_at()?;
            let left = at.duration_since(now).ok()?;
            (left <= opts.expiry_warning)
                .then(|| format!("{} ({}, {} days)", r.id, r.user, left.as_secs() / 86_400))
        })
        .collect();
    expiring.sort();
    if expiring.is_empty() {
        f.push(found(
            Level::Pass,
            "keys",
            "no active key expires within the warning window",
        ));
    } else {
        f.push(found(
            Level::Warn,
            "keys",
            format!(
                "{} key(s) expire soon: {}; rotate with `mcp-gateway keys rotate --all-expiring-within 7d --grace 24h`",
                expiring.len(),
                expiring.join(", ")
            ),
        ));
    }
    Some(store)
}

/// Checks each sandbox answers and lists its tools; returns the tool sets seen.
async fn check_sandboxes(config: &Config, f: &mut Vec<Finding>) -> Option<Vec<String>> {
    let upstreams = match Upstreams::new(&config.sandboxes, &config.upstream) {
        Ok(u) => u,
        Err(e) => {
            f.push(found(Level::Fail, "sandbox", e.to_string()));
            return None;
        }
    };
    upstreams.resolve().await;
    let mut toolsets = Vec::new();
    let mut all_answered = true;
    for (i, t) in upstreams.targets().iter().enumerate() {
        let answer = upstreams
            .send(i, "GET", TOOLS_PATH, None, &[], Duration::from_secs(5))
            .await;
        match answer.map(|a| (a.status, serde_json::from_slice::<ToolList>(&a.body))) {
            Ok((200, Ok(list))) => {
                toolsets.extend(list.tools.iter().map(|t| t.toolset.clone()));
                f.push(found(
                    Level::Pass,
                    "sandbox",
                    format!("{} ({}) serves {} tools", t.name, t.url, list.tools.len()),
                ));
            }
            Ok((status, _)) => {
                all_answered = false;
                f.push(found(
                    Level::Fail,
                    "sandbox",
                    format!("{} ({}) answered {status} to {TOOLS_PATH}", t.name, t.url),
                ));
            }
            Err(e) => {
                all_answered = false;
                f.push(found(
                    Level::Fail,
                    "sandbox",
                    format!("{e}; is mcp-sandbox running at {}?", t.url),
                ));
            }
        }
    }
    toolsets.sort();
    toolsets.dedup();
    // Only a complete view says which tool sets are missing.
    all_answered.then_some(toolsets)
}

async fn check_oidc(config: &Config, keys: Option<Arc<KeyStore>>, f: &mut Vec<Finding>) {
    let Some(oidc) = &config.oidc else {
        f.push(found(Level::Pass, "oidc", "not configured (API keys only)"));
        return;
    };
    let auth = match Authenticator::new(Some(oidc.clone()), keys) {
        Ok(a) => a,
        Err(e) => {
            f.push(found(Level::Fail, "oidc", e.to_string()));
            return;
        }
    };
    match auth.refresh_keys().await {
        Ok(n) => f.push(found(
            Level::Pass,
            "oidc",
            format!(
                "discovery and JWKS of {} reachable; {n} signing key(s)",
                oidc.issuer
            ),
        )),
        Err(e) => f.push(found(
            Level::Fail,
            "oidc",
            format!("{e}; tokens with new signing keys cannot be verified"),
        )),
    }
}

fn check_session(config: &Config, f: &mut Vec<Finding>) {
    match &config.session.secret_file {
        Some(p) => match crate::mcp::session::SessionKeys::read_key(p) {
            Ok(_) => f.push(found(
                Level::Pass,
                "session",
                format!("session key {} is usable", p.display()),
            )),
            Err(e) => f.push(found(Level::Fail, "session", e.to_string())),
        },
        None => f.push(found(
            Level::Warn,
            "session",
            "no session.secret_file: sessions end at restart and do not work across replicas",
        )),
    }
}

async fn check_redis(config: &Config, f: &mut Vec<Finding>) {
    let Some(store) = &config.rate_limit_store else {
        return;
    };
    let url = &store.redis.url;
    let ping = async {
        let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(Duration::from_secs(3), ping).await {
        Ok(Ok(_)) => f.push(found(
            Level::Pass,
            "redis",
            format!("rate-limit store {} answers", redact_url(url)),
        )),
        Ok(Err(e)) => f.push(found(
            Level::Fail,
            "redis",
            format!("{}: {e}", redact_url(url)),
        )),
        Err(_) => f.push(found(
            Level::Fail,
            "redis",
            format!("{} did not answer within 3 s", redact_url(url)),
        )),
    }
}

/// Drops a password from `redis://user:pass@host`.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

async fn check_otlp(f: &mut Vec<Finding>) {
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT"))
        .ok()
        .filter(|e| !e.is_empty());
    let Some(endpoint) = endpoint else {
        f.push(found(
            Level::Pass,
            "otlp",
            "no OTLP endpoint set: tracing export is off",
        ));
        return;
    };
    let hostport = endpoint
        .split("://")
        .nth(1)
        .unwrap_or(&endpoint)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let hostport = if hostport.contains(':') {
        hostport
    } else {
        format!("{hostport}:4318")
    };
    match tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(&hostport),
    )
    .await
    {
        Ok(Ok(_)) => f.push(found(
            Level::Pass,
            "otlp",
            format!("{endpoint} accepts connections"),
        )),
        _ => f.push(found(
            Level::Warn,
            "otlp",
            format!("{endpoint} is not reachable: spans are dropped (requests are not affected)"),
        )),
    }
}

fn check_tls(config: &Config, opts: &DoctorOptions, f: &mut Vec<Finding>) {
    let Some(tls) = &config.tls else {
        f.push(found(
            Level::Warn,
            "tls",
            "plain HTTP: put TLS in front or set `tls` (cert, key)",
        ));
        return;
    };
    match cert_expiry(&tls.cert) {
        Ok(not_after) => {
            let now = SystemTime::now();
            match not_after.duration_since(now) {
                Err(_) => f.push(found(Level::Fail, "tls", format!("certificate {} has expired", tls.cert.display()))),
                Ok(left) if left <= opts.cert_warning => f.push(found(
                    Level::Warn,
                    "tls",
                    format!("certificate {} expires in {} days: renew it (the gateway reloads it without restart)",
                        tls.cert.display(), left.as_secs() / 86_400),
                )),
                Ok(left) => f.push(found(
                    Level::Pass,
                    "tls",
                    format!("certificate {} valid for {} more days", tls.cert.display(), left.as_secs() / 86_400),
                )),
            }
        }
        Err(e) => f.push(found(Level::Fail, "tls", e.to_string())),
    }
}

/// Why a certificate's expiry cannot be read; names the file.
#[derive(Debug, thiserror::Error)]
enum CertError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a PEM certificate: {source}")]
    NotPem {
        path: std::path::PathBuf,
        source: x509_parser::nom::Err<x509_parser::error::PEMError>,
    },
    #[error("{path} is not a valid certificate: {source}")]
    NotX509 {
        path: std::path::PathBuf,
        source: x509_parser::nom::Err<x509_parser::error::X509Error>,
    },
}

/// The `notAfter` of the first certificate in a PEM file.
fn cert_expiry(path: &Path) -> Result<SystemTime, CertError> {
    let pem = std::fs::read(path).map_err(|source| CertError::Read {
        path: path.to_owned(),
        source,
    })?;
    let (_, parsed) =
        x509_parser::pem::parse_x509_pem(&pem).map_err(|source| CertError::NotPem {
            path: path.to_owned(),
            source,
        })?;
    let cert = parsed.parse_x509().map_err(|source| CertError::NotX509 {
        path: path.to_owned(),
        source,
    })?;
    let ts = cert.validity().not_after.timestamp();
    Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(ts.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redis_passwords_are_not_printed() {
        assert_eq!(
            redact_url("redis://:s3cret@redis:6379/0"),
            "redis://***@redis:6379/0"
        );
        assert_eq!(redact_url("redis://redis:6379"), "redis://redis:6379");
    }
}
