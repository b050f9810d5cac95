//! The tool catalog: what every sandbox serves, merged into one routing table.
//!
//! A background task asks each sandbox for its tools (`GET /v1/tools`) every refresh interval.
//! A sandbox that does not answer is marked unready and its tools drop out unless another
//! replica serves them. The same refresh reads each upstream MCP server's `tools/list`
//! ([`crate::federation`]); their tools join as `<server>__<tool>` ([`ToolName::federated`]),
//! in the server's tool set, and keep the last list read while the server is down. Each tool keeps its MCP listing pre-rendered and its input schema
//! compiled, so `tools/list` and argument validation cost no parsing per request.
//!
//! Tool-poisoning defence: the first definition seen of each tool (description and schemas) is
//! pinned; a sandbox that later serves a different one is flagged (log, metric) and, when
//! `block_changed` is set, the changed tool is withheld until the gateway restarts.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use mcp_contract::sandbox_api::{TOOLS_PATH, ToolEntry, ToolList};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use mcp_contract::names::{BackendToolName, ToolName};

use crate::federation::{Federation, Server, ServerTools};
use crate::upstream::Upstreams;

/// A tool and where it can be called.
pub struct ToolRoute {
    pub name: String,
    pub toolset: String,
    /// The MCP `Tool` object, rendered once.
    pub listing: Box<RawValue>,
    pub validator: jsonschema::Validator,
    /// Sandboxes (indices into [`Upstreams::targets`]) that serve this tool.
    pub targets: Vec<usize>,
    next: AtomicUsize,
    definition: [u8; 32],
    /// Set for a tool of an upstream MCP server (then `targets` is empty).
    pub federated: Option<FederatedTool>,
}

/// Where a federated tool is called: the server, and the tool's name there.
pub struct FederatedTool {
    pub server: Arc<Server>,
    pub backend: String,
}

impl ToolRoute {
    /// The next healthy sandbox serving this tool, round robin; `None` when none is healthy.
    pub fn pick(&self, upstreams: &Upstreams, exclude: Option<usize>) -> Option<usize> {
        let n = self.targets.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|k| self.targets[(start + k) % n])
            .find(|&t| Some(t) != exclude && upstreams.target(t).is_healthy())
    }
}

/// All tools, by name and in name order.
#[derive(Default)]
pub struct Catalog {
    by_name: HashMap<String, Arc<ToolRoute>>,
    ordered: Vec<Arc<ToolRoute>>,
}

impl Catalog {
    pub fn get(&self, name: &str) -> Option<&Arc<ToolRoute>> {
        self.by_name.get(name)
    }

    /// Tools in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<ToolRoute>> {
        self.ordered.iter()
    }

    pub fn len(&self) -> usize {
        self.ordered.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ordered.is_empty()
    }
}

/// A tool whose definition differs from the one first seen (possible tool poisoning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionChange {
    pub tool: String,
    pub sandbox: String,
    /// Withheld from the catalog (`block_changed_definitions`).
    pub blocked: bool,
}

/// Keeps the catalog fresh.
pub struct CatalogService {
    current: ArcSwap<Catalog>,
    upstreams: Arc<Upstreams>,
    federation: Arc<Federation>,
    pins: std::sync::Mutex<HashMap<String, [u8; 32]>>,
    block_changed: bool,
    fetch_timeout: Duration,
}

impl CatalogService {
    pub fn new(upstreams: Arc<Upstreams>, block_changed: bool, fetch_timeout: Duration) -> Self {
        Self::with_federation(
            upstreams,
            Arc::new(Federation::default()),
            block_changed,
            fetch_timeout,
        )
    }

    /// A catalog of the sandboxes' tools and the upstream MCP servers'.
    pub fn with_federation(
        upstreams: Arc<Upstreams>,
        federation: Arc<Federation>,
        block_changed: bool,
        fetch_timeout: Duration,
    ) -> Self {
        Self {
            current: ArcSwap::from_pointee(Catalog::default()),
            upstreams,
            federation,
            pins: Default::default(),
            block_changed,
            fetch_timeout,
        }
    }

    pub fn snapshot(&self) -> Arc<Catalog> {
        self.current.load_full()
    }

    /// Fetches every sandbox's tools and swaps in the merged catalog. Returns the tools whose
    /// definition changed since it was pinned.
    pub async fn refresh(&self) -> Vec<DefinitionChange> {
        self.upstreams.resolve().await;
        let mut lists: Vec<(usize, ToolList)> = Vec::new();
        for (i, target) in self.upstreams.targets().iter().enumerate() {
            let answer = self
                .upstreams
                .send_unpooled(i, "GET", TOOLS_PATH, None, &[], self.fetch_timeout)
                .await;
            let list = match answer {
                Ok(a) if a.status == 200 => serde_json::from_slice::<ToolList>(&a.body)
                    .map_err(|e| format!("its tool list is not valid: {e}")),
                Ok(a) => Err(format!("it answered {} to {TOOLS_PATH}", a.status)),
                Err(e) => Err(e.to_string()),
            };
            match list {
                Ok(l) => {
                    target.mark(true);
                    lists.push((i, l));
                }
                Err(e) => {
                    // Logged when a sandbox goes down, and for the first failure of one that
                    // never answered (a wrong TLS client certificate, a wrong address).
                    if target.is_healthy() || target.failures() == 0 {
                        tracing::warn!(sandbox = %target.name, error = %e, "tool list refresh failed");
                    }
                    target.mark(false);
                }
            }
        }
        let federated = if self.federation.is_empty() {
            Vec::new()
        } else {
            self.federation.list_tools().await
        };
        let (catalog, changes) = self.merge(lists, federated);
        metrics::gauge!("mcp_catalog_tools").set(catalog.len() as f64);
        self.current.store(Arc::new(catalog));
        changes
    }

    fn merge(
        &self,
        lists: Vec<(usize, ToolList)>,
        federated: Vec<ServerTools>,
    ) -> (Catalog, Vec<DefinitionChange>) {
        let mut changes = Vec::new();
        let mut routes: HashMap<String, ToolRoute> = HashMap::new();
        let mut pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
        for (target, list) in lists {
            for entry in list.tools {
                let definition = definition_hash(&entry);
                if let Some(route) = routes.get_mut(&entry.name) {
                    if route.definition == definition && route.toolset == entry.toolset {
                        route.targets.push(target);
                    } else {
                        tracing::error!(tool = %entry.name, sandbox = %list.sandbox,
                            "sandboxes serve different definitions of the same tool; keeping the first");
                    }
                    continue;
                }
                if !self.pin(
                    &mut pins,
                    &entry.name,
                    &list.sandbox,
                    definition,
                    &mut changes,
                ) {
                    continue;
                }
                match build_route(entry, target, definition) {
                    Ok(r) => {
                        routes.insert(r.name.clone(), r);
                    }
                    Err(e) => {
                        tracing::error!(sandbox = %list.sandbox, error = %e, "skipping a tool")
                    }
                }
            }
        }
        for list in federated {
            for tool in list.tools.iter() {
                let route = match federated_route(&list.server, tool) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(mcp_server = %list.server.name, error = %e, "skipping a tool");
                        continue;
                    }
                };
                if routes.contains_key(&route.name) {
                    tracing::error!(tool = %route.name, mcp_server = %list.server.name,
                        "another tool already has this name; skipping the upstream's");
                    continue;
                }
                if self.pin(
                    &mut pins,
                    &route.name,
                    &list.server.name,
                    route.definition,
                    &mut changes,
                ) {
                    routes.insert(route.name.clone(), route);
                }
            }
        }
        let mut ordered: Vec<Arc<ToolRoute>> = routes.into_values().map(Arc::new).collect();
        ordered.sort_by(|a, b| a.name.cmp(&b.name));
        let by_name = ordered
            .iter()
            .map(|r| (r.name.clone(), r.clone()))
            .collect();
        (Catalog { by_name, ordered }, changes)
    }
}

impl CatalogService {
    /// Pins a tool's first definition; flags a changed one. Returns whether to serve it.
    fn pin(
        &self,
        pins: &mut HashMap<String, [u8; 32]>,
        tool: &str,
        source: &str,
        definition: [u8; 32],
        changes: &mut Vec<DefinitionChange>,
    ) -> bool {
        match pins.get(tool) {
            Some(pinned) if *pinned != definition => {
                metrics::counter!("mcp_tool_definition_changes_total", "tool" => tool.to_owned())
                    .increment(1);
                tracing::warn!(tool = %tool, sandbox = %source, blocked = self.block_changed,
                    "a backend now serves a changed definition of this tool (description or schema)");
                changes.push(DefinitionChange {
                    tool: tool.to_owned(),
                    sandbox: source.to_owned(),
                    blocked: self.block_changed,
                });
                if self.block_changed {
                    return false;
                }
                pins.insert(tool.to_owned(), definition);
            }
            Some(_) => {}
            None => {
                pins.insert(tool.to_owned(), definition);
            }
        }
        true
    }
}

fn definition_hash(e: &ToolEntry) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [
        e.description.as_bytes(),
        e.input_schema.to_string().as_bytes(),
        e.output_schema
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default()
            .as_bytes(),
        e.annotations
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default()
            .as_bytes(),
        e.title.as_deref().unwrap_or_default().as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// Why a tool a sandbox lists is skipped.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// Its input schema does not compile (the validator's message; its error borrows the schema).
    #[error("tool '{tool}' has an invalid input schema: {message}")]
    InputSchema { tool: String, message: String },
    /// Its listing cannot be serialised.
    #[error("{0}")]
    Listing(#[source] serde_json::Error),
    /// An upstream MCP server listed something that is not a usable tool.
    #[error("{0}")]
    Upstream(String),
}

/// The route of one tool an upstream MCP server lists: its exposed name, its listing with
/// that name (every other field as the upstream wrote it, `outputSchema` included), and a
/// definition hash over everything but the name.
fn federated_route(
    server: &Arc<Server>,
    tool: &serde_json::Value,
) -> Result<ToolRoute, RouteError> {
    let mut object = tool
        .as_object()
        .cloned()
        .ok_or_else(|| RouteError::Upstream("a tools/list entry is not an object".into()))?;
    let backend = object
        .remove("name")
        .and_then(|n| n.as_str().map(str::to_owned))
        .ok_or_else(|| RouteError::Upstream("a tool has no name".into()))?;
    let parsed =
        BackendToolName::parse(&backend).map_err(|e| RouteError::Upstream(e.to_string()))?;
    let name = ToolName::federated(&server.name, &parsed)
        .map_err(|e| RouteError::Upstream(e.to_string()))?;
    let definition: [u8; 32] =
        Sha256::digest(serde_json::to_vec(&object).unwrap_or_default()).into();
    let schema = object
        .get("inputSchema")
        .ok_or_else(|| RouteError::Upstream(format!("tool '{backend}' has no inputSchema")))?;
    let validator = jsonschema::validator_for(schema).map_err(|e| RouteError::InputSchema {
        tool: backend.clone(),
        message: e.to_string(),
    })?;
    let mut listing = serde_json::Map::with_capacity(object.len() + 1);
    listing.insert("name".into(), name.as_str().into());
    listing.extend(object);
    let listing = serde_json::value::to_raw_value(&listing).map_err(RouteError::Listing)?;
    Ok(ToolRoute {
        name: name.into(),
        toolset: server.toolset.clone(),
        listing,
        validator,
        targets: Vec::new(),
        next: AtomicUsize::new(0),
        definition,
        federated: Some(FederatedTool {
            server: server.clone(),
            backend,
        }),
    })
}

fn build_route(
    entry: ToolEntry,
    target: usize,
    definition: [u8; 32],
) -> Result<ToolRoute, RouteError> {
    let validator =
        jsonschema::validator_for(&entry.input_schema).map_err(|e| RouteError::InputSchema {
            tool: entry.name.clone(),
            message: e.to_string(),
        })?;
    let mut tool = serde_json::Map::new();
    tool.insert("name".into(), entry.name.clone().into());
    if let Some(t) = &entry.title {
        tool.insert("title".into(), t.clone().into());
    }
    tool.insert("description".into(), entry.description.into());
    tool.insert("inputSchema".into(), entry.input_schema);
    if let Some(s) = entry.output_schema {
        tool.insert("outputSchema".into(), s);
    }
    if let Some(a) = entry.annotations {
        tool.insert("annotations".into(), a);
    }
    let listing = serde_json::value::to_raw_value(&tool).map_err(RouteError::Listing)?;
    Ok(ToolRoute {
        name: entry.name,
        toolset: entry.toolset,
        listing,
        validator,
        targets: vec![target],
        next: AtomicUsize::new(0),
        definition,
        federated: None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn server() -> Arc<Server> {
        let cfg: crate::config::McpServerConfig =
            serde_yaml::from_str("{name: gh, url: 'http://127.0.0.1:9/mcp', toolset: github}")
                .unwrap();
        Arc::new(Server::new(&cfg).unwrap())
    }

    #[test]
    fn a_federated_listing_keeps_the_upstreams_fields_under_the_exposed_name() {
        let tool = json!({"name": "issues.search", "title": "Search", "description": "Find issues.",
            "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}},
            "outputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true},
            "icons": [{"src": "https://example.com/i.png"}]});
        let route = federated_route(&server(), &tool).unwrap();
        assert!(
            route.name.starts_with("gh__issues_search_"),
            "{}",
            route.name
        );
        assert_eq!(route.toolset, "github");
        assert_eq!(route.federated.as_ref().unwrap().backend, "issues.search");
        let listing: serde_json::Value = serde_json::from_str(route.listing.get()).unwrap();
        let mut expected = tool.clone();
        expected["name"] = route.name.clone().into();
        assert_eq!(listing, expected);
    }

    #[test]
    fn a_federated_definition_changes_with_the_description_not_with_the_name() {
        let s = server();
        let tool = |name: &str, description: &str| json!({"name": name, "description": description, "inputSchema": {"type": "object"}});
        let a = federated_route(&s, &tool("a", "One.")).unwrap().definition;
        assert_eq!(
            a,
            federated_route(&s, &tool("b", "One.")).unwrap().definition
        );
        assert_ne!(
            a,
            federated_route(&s, &tool("a", "Two.")).unwrap().definition
        );
        for bad in [
            json!({"description": "no name", "inputSchema": {}}),
            json!({"name": "no_schema"}),
            json!({"name": "bad name!", "inputSchema": {}}),
            json!("not an object"),
        ] {
            assert!(federated_route(&s, &bad).is_err(), "{bad}");
        }
    }
}
