//! Federation: existing MCP servers (Streamable HTTP) behind the gateway, their tools served
//! beside the sandboxes' under `<server>__<tool>` names and governed by the same policy (a
//! server is a tool set).
//!
//! This module owns the conversation with the upstreams ([`server`]): sessions, credentials
//! ([`auth`]), the circuit breaker ([`breaker`]), bounded raw answers ([`wire`]). It knows
//! nothing of callers' requests: the catalog asks it for tool lists, the `tools/call` path asks
//! it to run a call and gets the upstream's result as raw JSON. It must never send the caller's
//! credentials upstream.

pub mod auth;
pub mod breaker;
pub mod error;
pub mod internal;
pub mod server;
pub mod share;
pub mod wire;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use error::FederationError;
pub use server::{CallContext, Server};

use crate::config::McpServerConfig;

/// Why the upstream servers cannot be set up; names the server and file.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("mcp_servers '{server}': url: {detail}")]
    Url { server: String, detail: String },
    #[error("mcp_servers '{server}': cannot build its HTTP client: {detail}")]
    Client { server: String, detail: String },
    #[error("mcp_servers '{server}': cannot read {path}: {source}")]
    SecretRead {
        server: String,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("mcp_servers '{server}': tls: {path}: {detail}")]
    Tls {
        server: String,
        path: std::path::PathBuf,
        detail: String,
    },
    #[error("mcp_servers '{server}': {path} must hold one token of printable characters")]
    SecretInvalid {
        server: String,
        path: std::path::PathBuf,
    },
}

/// The configured upstream MCP servers.
#[derive(Default)]
pub struct Federation {
    servers: Vec<Arc<Server>>,
    /// Tool lists are read again at most this often (the catalog also refreshes every second
    /// while a sandbox is down; the upstreams need not be asked that often).
    min_interval: Duration,
    last: Mutex<Option<(Instant, Vec<ServerTools>)>>,
}

/// A server's tools as last read, for the catalog.
#[derive(Clone)]
pub struct ServerTools {
    pub server: Arc<Server>,
    /// The `Tool` objects as the upstream listed them.
    pub tools: Arc<Vec<serde_json::Value>>,
}

impl Federation {
    pub fn new(configs: &[McpServerConfig]) -> Result<Self, SetupError> {
        let servers = configs
            .iter()
            .map(|c| Server::new(c).map(Arc::new))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            servers,
            min_interval: Duration::ZERO,
            last: Mutex::new(None),
        })
    }

    /// Reads the servers' tool lists at most once per `interval` (the catalog refresh).
    pub fn every(mut self, interval: Duration) -> Self {
        // A little less, so a refresh on its own tick is never skipped for being early.
        self.min_interval = interval.mul_f64(0.9);
        self
    }

    pub fn servers(&self) -> &[Arc<Server>] {
        &self.servers
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Reads every server's tool list, all at once. A server that fails keeps the tools it
    /// listed last (its calls then fail with a clear "unavailable"); one never listed has none.
    pub async fn list_tools(&self) -> Vec<ServerTools> {
        if let Some((at, lists)) = &*self.last.lock().unwrap_or_else(|e| e.into_inner())
            && at.elapsed() < self.min_interval
        {
            return lists.clone();
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (i, s) in self.servers.iter().enumerate() {
            let s = s.clone();
            tasks.spawn(async move { (i, s.list_tools().await) });
        }
        let mut lists = Vec::with_capacity(self.servers.len());
        while let Some(done) = tasks.join_next().await {
            let Ok((i, (tools, error))) = done else {
                continue;
            };
            let server = self.servers[i].clone();
            if let Some(e) = error {
                tracing::warn!(mcp_server = %server.name, error = %e, "cannot list the upstream MCP server's tools");
            }
            if let Some(tools) = tools {
                lists.push((i, ServerTools { server, tools }));
            }
        }
        lists.sort_by_key(|(i, _)| *i);
        let lists: Vec<ServerTools> = lists.into_iter().map(|(_, l)| l).collect();
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), lists.clone()));
        lists
    }
}
