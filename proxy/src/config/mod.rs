//! The gateway's configuration: one YAML file, overridable by environment variables, parsed once
//! into validated types. Errors name the file, the field and what is expected.
//!
//! Environment overrides use the field path, upper-cased, with `__` between levels:
//! `MCP_GATEWAY__LISTEN=0.0.0.0:8443`, `MCP_GATEWAY__OIDC__ISSUER=https://sso/realms/mcp`,
//! `MCP_GATEWAY__SANDBOXES__0__URL=unix:/run/mcp/sandbox.sock`. Values are read as YAML scalars.
//! Relative paths in the file are relative to the file's directory.

mod connections;
mod env;
mod federation;
mod sandbox_tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mcp_contract::units::{ByteSize, Span};
use serde::Deserialize;

pub use connections::{ConnectionLimits, ConnectionLimitsError};
pub use env::{EnvOverrideError, PathProblem, apply_env_overrides};
pub use federation::{
    BreakerConfig, CallbackUrl, McpServerConfig, McpServerRule, UpstreamAuth, UpstreamTls,
};
pub use sandbox_tls::{SandboxTls, SandboxTlsRule};

/// A configuration that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A field has the wrong type or value (`field` is its path, e.g. `limits.max_body`, when
    /// not the whole document).
    #[error(
        "config file {path}: {}{source}",
        field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default()
    )]
    Field {
        path: PathBuf,
        field: Option<String>,
        source: serde_yaml::Error,
    },
    #[error("config file {path}: {source}")]
    Yaml {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error("config file {path}: {source}")]
    Rule { path: PathBuf, source: ConfigRule },
    #[error("config file {path}: {source}")]
    Env {
        path: PathBuf,
        source: EnvOverrideError,
    },
}

/// The whole gateway configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address of the MCP listener (`HOST:PORT`).
    pub listen: SocketAddr,
    /// A second, plain-HTTP listener for operators: `/metrics` (which names users and key ids)
    /// moves here from `listen`, and `/health` and `/ready` are served on both. Its port must
    /// differ from `listen`'s.
    #[serde(default)]
    pub admin_listen: Option<SocketAddr>,
    /// Serve HTTPS with these files (reloaded when they change). Plain HTTP without it.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// The URL clients use to reach the gateway, e.g. `https://mcp.example.com`; used in the
    /// protected resource metadata. Derived from the request's Host header when absent.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Browser origins allowed to call the gateway (exact match, e.g. `https://app.example.com`).
    /// Requests without an `Origin` header (non-browser clients) are always allowed.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// The sandbox hosts that serve tools.
    pub sandboxes: Vec<SandboxConfig>,
    /// Existing MCP servers (Streamable HTTP) whose tools are served beside the sandboxes'.
    #[serde(default, alias = "upstream_servers")]
    pub mcp_servers: Vec<McpServerConfig>,
    /// Where sandboxes send calls of `mcp_servers` tools made from code back to this replica
    /// (signed into each call grant). Default: `admin_listen` (plain HTTP) if set, else
    /// `listen` (`https://` with `tls`); `127.0.0.1` for an unspecified address.
    #[serde(default)]
    pub code_callback_url: Option<CallbackUrl>,
    #[serde(default)]
    pub upstream: UpstreamConfig,
    #[serde(default)]
    pub catalog: CatalogConfig,
    /// The access policy file (roles, tool sets, rate limits).
    pub policy: PathBuf,
    /// API keys: a directory of key files, watched for changes.
    #[serde(default)]
    pub keys: Option<KeysConfig>,
    /// OpenID Connect (e.g. Keycloak) access tokens.
    #[serde(default)]
    pub oidc: Option<mcp_gateway_auth::OidcConfig>,
    #[serde(default)]
    pub session: SessionConfig,
    #[serde(default)]
    pub limits: RequestLimits,
    /// Where rate-limit buckets live: in this process (default) or in Redis, shared by replicas.
    #[serde(default)]
    pub rate_limit_store: Option<RateLimitStore>,
    #[serde(default)]
    pub audit: AuditConfig,
    #[serde(default)]
    pub server: ServerConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "sandbox_tls::RawSandbox")]
pub struct SandboxConfig {
    /// Name for logs and metrics.
    pub name: String,
    /// `http://HOST:PORT` or `unix:/path/to.sock`.
    pub url: SandboxUrl,
    /// File holding the token this sandbox requires (its `--auth-token-file`); sent as
    /// `Authorization: Bearer` on every request to it. Never the caller's credentials.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// TLS toward the sandbox; set exactly when the url is `https://`.
    pub tls: Option<SandboxTls>,
}

/// Where a sandbox listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxUrl {
    Tcp(SocketAddr),
    /// A host name, resolved at start and again on every catalog refresh (so a Service whose
    /// address changes is followed without a restart).
    Host {
        host: String,
        port: u16,
    },
    Unix(PathBuf),
}

impl std::fmt::Display for SandboxUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SandboxUrl::Tcp(a) => write!(f, "http://{a}"),
            SandboxUrl::Host { host, port } => write!(f, "http://{host}:{port}"),
            SandboxUrl::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// Text that is not a sandbox address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxUrlError {
    #[error("unix: needs a socket path")]
    NoSocketPath,
    #[error(
        "{0:?} is not a sandbox address: use http://HOST:PORT (e.g. http://127.0.0.1:7070 or \
         http://mcp-sandbox.mcp.svc:7070) or unix:/path/to.sock"
    )]
    NotAnAddress(String),
}

impl std::str::FromStr for SandboxUrl {
    type Err = SandboxUrlError;
    fn from_str(s: &str) -> Result<Self, SandboxUrlError> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(SandboxUrlError::NoSocketPath);
            }
            return Ok(SandboxUrl::Unix(path.into()));
        }
        let hostport = s.strip_prefix("http://").unwrap_or(s).trim_end_matches('/');
        if let Ok(addr) = hostport.parse() {
            return Ok(SandboxUrl::Tcp(addr));
        }
        let bad = || SandboxUrlError::NotAnAddress(s.to_owned());
        let (host, port) = hostport.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let valid_host = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !valid_host || port == 0 {
            return Err(bad());
        }
        Ok(SandboxUrl::Host {
            host: host.to_owned(),
            port,
        })
    }
}

impl<'de> Deserialize<'de> for SandboxUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    pub connect_timeout: Span,
    /// Longest the gateway waits for a sandbox's answer.
    pub request_timeout: Span,
    /// Longest a tool may run in the sandbox (passed along as the call's deadline; the tool's own
    /// limit applies when it is shorter).
    pub execute_timeout: Span,
    /// How long an idle pooled connection is kept.
    pub idle_timeout: Span,
    /// Idle connections kept per sandbox.
    pub pool_size: usize,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Span::from_secs(5),
            request_timeout: Span::from_secs(60),
            execute_timeout: Span::from_secs(30),
            idle_timeout: Span::from_secs(60),
            pool_size: 128,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// How often the tool lists are fetched again.
    pub refresh: Span,
    /// Page size of `tools/list`.
    pub page_size: usize,
    /// Withhold a tool whose definition (description, schemas) changed after it was first seen,
    /// until the gateway restarts. Changes are always logged and counted.
    pub block_changed_definitions: bool,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            refresh: Span::from_secs(10),
            page_size: 100,
            block_changed_definitions: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// File holding the session key (32 random bytes, base64). All replicas must share it.
    /// Without it a random key is made at start: sessions then end with the process.
    pub secret_file: Option<PathBuf>,
    /// Previous key, still accepted, for rotation.
    pub previous_secret_file: Option<PathBuf>,
    pub ttl: Span,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            secret_file: None,
            previous_secret_file: None,
            ttl: Span::from_secs(24 * 3600),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitStore {
    pub redis: RedisConfig,
}

pub use mcp_ratelimit::{FailPolicy, RedisConfig};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequestLimits {
    /// Largest request body; larger ones get 413 without being read.
    pub max_body: ByteSize,
    /// Longest a client may take to send a whole request body (slow senders get 408).
    pub body_timeout: Span,
    /// Longest the gateway waits for each read of a body.
    pub body_read_timeout: Span,
    /// Largest `arguments` of a `tools/call`, checked on the bytes before they are parsed.
    pub max_arguments: ByteSize,
    /// Most JSON values (array items, object members, scalars) the arguments may hold, checked
    /// on the bytes before they are parsed, so parsing costs a bounded multiple of the size.
    pub max_argument_values: usize,
    /// Tools allowed larger arguments than `max_arguments` (e.g. `write_file: 10MiB`); still at
    /// most `max_body`.
    pub tool_max_arguments: std::collections::BTreeMap<String, ByteSize>,
    /// MCP requests served at once by this gateway (see `http::admission`).
    pub max_in_flight: usize,
    /// MCP requests of one caller served at once.
    pub max_in_flight_per_caller: usize,
    /// Request bytes buffered at once by this gateway.
    pub max_buffered: ByteSize,
    /// Request bytes of one caller buffered at once.
    pub max_buffered_per_caller: ByteSize,
    /// Requests with a body at least this large are CPU-heavy: they run only with one of the
    /// `heavy_in_flight` turns, shared fairly between callers (see `http::fair`).
    pub heavy_request: ByteSize,
    /// CPU-heavy requests processed at once by this gateway (at least 1). One leaves the
    /// other worker thread of the default two free for small requests; with more
    /// `server.threads`, raise it to `threads - 1`.
    pub heavy_in_flight: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_body: ByteSize::mib(16),
            body_timeout: Span::from_secs(30),
            body_read_timeout: Span::from_secs(10),
            max_arguments: ByteSize::mib(1),
            max_argument_values: 65_536,
            tool_max_arguments: std::collections::BTreeMap::new(),
            max_in_flight: 1024,
            max_in_flight_per_caller: 64,
            max_buffered: ByteSize::mib(96),
            max_buffered_per_caller: ByteSize::mib(24),
            heavy_request: ByteSize::kib(64),
            heavy_in_flight: 1,
        }
    }
}

impl RequestLimits {
    /// The largest arguments `tool` accepts, in bytes.
    pub fn max_arguments_for(&self, tool: &str) -> usize {
        self.tool_max_arguments
            .get(tool)
            .unwrap_or(&self.max_arguments)
            .as_usize()
    }
}

/// Whether audit lines carry tool arguments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgumentAudit {
    /// Never.
    #[default]
    None,
    /// A SHA-256 of the arguments, to correlate without disclosing.
    Hash,
    /// The arguments themselves (may contain personal data).
    Full,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// `stdout`, `off`, or a file path (appended to).
    pub output: String,
    pub arguments: ArgumentAudit,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            output: "stdout".into(),
            arguments: ArgumentAudit::None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Worker threads of the listener.
    pub threads: usize,
    /// Read buffer per client connection (idle connections hold it too).
    pub read_buffer: ByteSize,
    /// Unix socket through which a new process takes over the listening sockets during a
    /// zero-downtime upgrade (`serve --upgrade`, then SIGQUIT to the old process). Defaults to
    /// `/tmp/mcp-gateway-<port>.upgrade.sock`.
    pub upgrade_sock: Option<PathBuf>,
    /// On SIGTERM, keep accepting for this long (so load balancers notice), then drain.
    pub grace_period: Span,
    /// Then wait at most this long for in-flight requests.
    pub shutdown_timeout: Span,
    /// How long an idle keep-alive client connection is kept open between requests (the
    /// operations guide's `KEEPALIVE_TIMEOUT`); it also bounds each read of the next request's
    /// headers.
    pub keepalive_timeout: Span,
    /// Caps on client connections and the deadline for request headers (`http::connections`).
    pub connections: ConnectionLimits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            threads: 2,
            read_buffer: ByteSize::kib(16),
            upgrade_sock: None,
            grace_period: Span::from_secs(1),
            shutdown_timeout: Span::from_secs(10),
            keepalive_timeout: Span::from_secs(60),
            connections: ConnectionLimits::default(),
        }
    }
}

impl Config {
    /// Reads `path`, applies environment overrides from `env`, validates.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut tree: serde_yaml::Value =
            serde_yaml::from_str(&text).map_err(|source| ConfigError::Yaml {
                path: path.to_owned(),
                source,
            })?;
        apply_env_overrides(&mut tree, env).map_err(|source| ConfigError::Env {
            path: path.to_owned(),
            source,
        })?;
        // serde_yaml reports no location for errors out of a `Value`; track the path instead.
        let mut config: Config = serde_path_to_error::deserialize(tree).map_err(|e| {
            let field = e.path().to_string();
            ConfigError::Field {
                path: path.to_owned(),
                field: (field != ".").then_some(field),
                source: e.into_inner(),
            }
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        config.validate().map_err(|source| ConfigError::Rule {
            path: path.to_owned(),
            source,
        })?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.policy);
        if let Some(k) = &mut self.keys {
            fix(&mut k.dir);
        }
        if let Some(t) = &mut self.tls {
            fix(&mut t.cert);
            fix(&mut t.key);
        }
        if let Some(s) = &mut self.session.secret_file {
            fix(s);
        }
        if let Some(s) = &mut self.session.previous_secret_file {
            fix(s);
        }
        if let Some(s) = &mut self.server.upgrade_sock {
            fix(s);
        }
        for s in &mut self.sandboxes {
            if let SandboxUrl::Unix(p) = &mut s.url {
                fix(p);
            }
            if let Some(p) = &mut s.token_file {
                fix(p);
            }
            if let Some(t) = &mut s.tls {
                t.resolve_paths(&fix);
            }
        }
        federation::resolve_paths(&mut self.mcp_servers, base);
        if !matches!(self.audit.output.as_str(), "stdout" | "off") {
            let mut p = PathBuf::from(&self.audit.output);
            fix(&mut p);
            self.audit.output = p.display().to_string();
        }
    }

    fn validate(&self) -> Result<(), ConfigRule> {
        if let Some(admin) = self.admin_listen
            && admin.port() == self.listen.port()
        {
            return Err(ConfigRule::AdminPort {
                admin,
                listen: self.listen,
            });
        }
        if self.sandboxes.is_empty() {
            return Err(ConfigRule::NoSandboxes);
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.sandboxes.iter().enumerate() {
            if s.name.is_empty()
                || !s
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(ConfigRule::SandboxName {
                    index: i,
                    name: s.name.clone(),
                });
            }
            if !names.insert(&s.name) {
                return Err(ConfigRule::SandboxNameTwice {
                    index: i,
                    name: s.name.clone(),
                });
            }
        }
        federation::check(&self.mcp_servers)?;
        if self.keys.is_none() && self.oidc.is_none() {
            return Err(ConfigRule::NoAuthentication);
        }
        for (i, o) in self.allowed_origins.iter().enumerate() {
            let ok = (o.starts_with("https://") || o.starts_with("http://")) && !o.ends_with('/');
            if !ok {
                return Err(ConfigRule::Origin {
                    index: i,
                    origin: o.clone(),
                });
            }
        }
        if let Some(u) = &self.public_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            return Err(ConfigRule::PublicUrl(u.clone()));
        }
        if self.upstream.execute_timeout >= self.upstream.request_timeout {
            return Err(ConfigRule::ExecuteTimeout {
                execute: self.upstream.execute_timeout,
                request: self.upstream.request_timeout,
            });
        }
        for (tool, max) in &self.limits.tool_max_arguments {
            if max.as_usize() > self.limits.max_body.as_usize() {
                return Err(ConfigRule::ToolMaxArguments {
                    tool: tool.clone(),
                    max: *max,
                    max_body: self.limits.max_body,
                });
            }
        }
        let a = &self.limits;
        if a.max_in_flight_per_caller == 0 || a.max_in_flight_per_caller > a.max_in_flight {
            return Err(ConfigRule::InFlightPerCaller {
                per_caller: a.max_in_flight_per_caller,
                total: a.max_in_flight,
            });
        }
        if a.max_buffered_per_caller.as_usize() > a.max_buffered.as_usize()
            || a.max_buffered_per_caller.as_usize() < a.max_body.as_usize()
        {
            return Err(ConfigRule::BufferedPerCaller {
                per_caller: a.max_buffered_per_caller,
                max_body: a.max_body,
                total: a.max_buffered,
            });
        }
        if self.limits.max_argument_values == 0 {
            return Err(ConfigRule::AtLeastOne("limits.max_argument_values"));
        }
        if self.catalog.page_size == 0 {
            return Err(ConfigRule::AtLeastOne("catalog.page_size"));
        }
        if self.server.threads == 0 {
            return Err(ConfigRule::AtLeastOne("server.threads"));
        }
        if self.limits.heavy_in_flight == 0 {
            return Err(ConfigRule::AtLeastOne("limits.heavy_in_flight"));
        }
        Ok(())
    }
}

/// A configuration that parses but breaks a rule across fields; names the fields and values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigRule {
    #[error("admin_listen: {admin} must use another port than listen ({listen})")]
    AdminPort {
        admin: SocketAddr,
        listen: SocketAddr,
    },
    #[error("sandboxes: list at least one sandbox (name and url)")]
    NoSandboxes,
    #[error("sandboxes[{index}].name: {name:?} must be 1+ characters of a-z, A-Z, 0-9, '-', '_'")]
    SandboxName { index: usize, name: String },
    #[error("sandboxes[{index}].name: {name:?} is used twice")]
    SandboxNameTwice { index: usize, name: String },
    #[error(
        "no authentication configured: set `keys` (API keys) and/or `oidc` (OpenID Connect); the gateway never runs open"
    )]
    NoAuthentication,
    #[error(
        "allowed_origins[{index}]: {origin:?} must be scheme://host[:port] with no trailing slash"
    )]
    Origin { index: usize, origin: String },
    #[error("public_url: {0:?} must start with https:// (or http:// for local use)")]
    PublicUrl(String),
    #[error(
        "upstream.execute_timeout ({execute}) must be shorter than upstream.request_timeout ({request}) so a tool's timeout is reported, not masked"
    )]
    ExecuteTimeout { execute: Span, request: Span },
    #[error(
        "limits.tool_max_arguments.{tool}: {max} is more than limits.max_body ({max_body}); raise max_body or lower this"
    )]
    ToolMaxArguments {
        tool: String,
        max: ByteSize,
        max_body: ByteSize,
    },
    #[error(
        "limits.max_in_flight_per_caller ({per_caller}) must be at least 1 and at most limits.max_in_flight ({total})"
    )]
    InFlightPerCaller { per_caller: usize, total: usize },
    #[error(
        "limits.max_buffered_per_caller ({per_caller}) must be at least limits.max_body ({max_body}) and at most limits.max_buffered ({total})"
    )]
    BufferedPerCaller {
        per_caller: ByteSize,
        max_body: ByteSize,
        total: ByteSize,
    },
    #[error("{0} must be at least 1")]
    AtLeastOne(&'static str),
    #[error(transparent)]
    McpServer(#[from] McpServerRule),
}

#[cfg(test)]
mod tests;
