//! Federation: existing MCP servers (Streamable HTTP) behind the gateway, their tools served
//! beside the sandboxes' under `<server>__<tool>` names and governed by the same policy (a
//! server is a tool set).
//!
//! This module owns the conversation with the upstreams ([`server`]): sessions, credentials
//! ([`auth`]), the circuit breaker ([`breaker`]), bounded raw answers ([`wire`]), their
//! resources and prompts ([`resources`]), and the list of servers, replaced without a restart
//! when the `mcp_servers:` section changes ([`reload`]). It knows
//! nothing of callers' requests: the catalog asks it for tool lists, the `tools/call` path asks
//! it to run a call and gets the upstream's result as raw JSON. It must never send the caller's
//! credentials upstream.

pub mod auth;
pub mod breaker;
pub mod error;
pub mod internal;
pub mod reload;
pub mod resources;
pub mod server;
pub mod share;
pub mod translate;
pub mod wire;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use error::FederationError;
pub use reload::ReloadSummary;
pub use resources::{Extras, Kind, Listed};
pub use server::{CallContext, Offers, Server};

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

/// The configured upstream MCP servers: a list swapped whole on a reload, so a request uses
/// one version of it throughout.
#[derive(Default)]
pub struct Federation {
    entries: arc_swap::ArcSwap<Vec<Arc<Entry>>>,
    /// Tool lists are read again at most this often (the catalog also refreshes every second
    /// while a sandbox is down; the upstreams need not be asked that often).
    min_interval: Duration,
    /// The last lists read, with the generation of the server list they were read from.
    last: Mutex<Option<(Instant, u64, Vec<ServerTools>)>>,
    /// Bumped by every reload: lists read from an older server list are not cached.
    generation: std::sync::atomic::AtomicU64,
}

/// One configured server: its configuration (to tell a changed entry on reload), the server,
/// and its resources and prompts as last read.
pub struct Entry {
    pub config: McpServerConfig,
    pub server: Arc<Server>,
    extras: Mutex<Option<Arc<Extras>>>,
}

impl Entry {
    fn new(config: &McpServerConfig) -> Result<Self, SetupError> {
        Ok(Self {
            server: Arc::new(Server::new(config)?),
            config: config.clone(),
            extras: Mutex::new(None),
        })
    }

    /// Its resources, templates and prompts as last read (none before the first refresh).
    pub fn extras(&self) -> Option<Arc<Extras>> {
        self.extras
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
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
        let entries = configs
            .iter()
            .map(|c| Entry::new(c).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            entries: arc_swap::ArcSwap::from_pointee(entries),
            ..Self::default()
        })
    }

    /// Reads the servers' tool lists at most once per `interval` (the catalog refresh).
    pub fn every(mut self, interval: Duration) -> Self {
        // A little less, so a refresh on its own tick is never skipped for being early.
        self.min_interval = interval.mul_f64(0.9);
        self
    }

    /// The servers, in configuration order.
    pub fn servers(&self) -> Vec<Arc<Server>> {
        self.entries
            .load()
            .iter()
            .map(|e| e.server.clone())
            .collect()
    }

    /// The configured entries, in configuration order.
    pub fn entries(&self) -> Arc<Vec<Arc<Entry>>> {
        self.entries.load_full()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.load().is_empty()
    }

    /// Whether any server advertised resources (or prompts) in its `initialize` answer.
    pub fn offers(&self) -> Offers {
        self.entries
            .load()
            .iter()
            .fold(Offers::default(), |acc, e| {
                let o = e.server.offers();
                Offers {
                    resources: acc.resources || o.resources,
                    prompts: acc.prompts || o.prompts,
                }
            })
    }

    /// Reads every server's tool list, and its resources and prompts where it offers them,
    /// all servers at once. A server that fails keeps the lists it gave last (its calls then
    /// fail with a clear "unavailable"); one never listed has none.
    pub async fn list_tools(&self) -> Vec<ServerTools> {
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        if let Some((at, g, lists)) = &*self.last.lock().unwrap_or_else(|e| e.into_inner())
            && *g == generation
            && at.elapsed() < self.min_interval
        {
            return lists.clone();
        }
        let entries = self.entries.load_full();
        let mut tasks = tokio::task::JoinSet::new();
        for (i, e) in entries.iter().enumerate() {
            let e = e.clone();
            tasks.spawn(async move {
                let tools = e.server.list_tools().await;
                // A server that did not answer keeps its last lists (and is not asked three
                // more times).
                if tools.1.is_none() {
                    let previous = e.extras();
                    let extras = e.server.list_extras(previous.as_deref()).await;
                    *e.extras.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(extras));
                }
                (i, tools)
            });
        }
        let mut lists = Vec::with_capacity(entries.len());
        while let Some(done) = tasks.join_next().await {
            let Ok((i, (tools, error))) = done else {
                continue;
            };
            let server = entries[i].server.clone();
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
            Some((Instant::now(), generation, lists.clone()));
        lists
    }
}
