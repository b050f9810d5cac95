//! Tool sets: loading the manifests under the tool set directory, compiling their components,
//! asking each component which tools it provides, and building the [`Catalog`] the sandbox
//! serves from.
//!
//! A catalog is built whole or not at all: any bad manifest, missing component, invalid schema
//! or duplicate tool name fails the load with an error naming the file, so a reload never
//! leaves a half-updated catalog in force.

pub mod manifest;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_contract::sandbox_api::{ToolEntry, ToolList};
use sha2::{Digest, Sha256};

use crate::runtime::{
    CallContext, CallScope, CallSetup, Caller, Dispatcher, Mount, Prepared, Runtime, ToolDescriptor,
};
use manifest::{Access, ComponentManifest, Limits, ToolsetManifest};

/// Where tool sets come from.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Directory of tool set manifests (`*.yaml`).
    pub toolsets: PathBuf,
    /// Directory the manifests' `file:` entries are relative to.
    pub modules: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    /// A component failed when asked which tools it provides (its call error, with its kind).
    #[error("{path}: component '{component}' could not describe its tools: {error}")]
    Describe {
        path: PathBuf,
        component: String,
        error: mcp_contract::sandbox_api::CallError,
    },
    /// A tool the component describes cannot be served.
    #[error("{path}: {source}")]
    Tool { path: PathBuf, source: ToolDefError },
    /// A component's name cannot become a module name.
    #[error("{path}: {source}")]
    ComponentName {
        path: PathBuf,
        source: ComponentNameError,
    },
    /// A directory grant's host path names a variable that cannot be expanded.
    #[error("{path}: {source}")]
    Var {
        path: PathBuf,
        source: manifest::VarError,
    },
}

fn invalid(path: &Path, message: impl Into<String>) -> LoadError {
    LoadError::Invalid {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// A component loaded and ready to run.
pub struct ComponentHandle {
    pub name: String,
    pub toolset: String,
    pub prepared: Prepared,
    pub limits: Limits,
    /// Mount the caller's workspace at `/workspace` with this access.
    pub workspace: Option<Access>,
    pub mounts: Vec<Mount>,
    pub env: Vec<(String, String)>,
    /// Outbound HTTP (`capabilities.http`); `None`: every request is refused.
    pub http: Option<Arc<crate::runtime::HttpPolicy>>,
}

/// One tool: its public entry, its component and its compiled schemas.
pub struct ToolHandle {
    pub entry: ToolEntry,
    pub component: Arc<ComponentHandle>,
    pub input: jsonschema::Validator,
    pub output: Option<jsonschema::Validator>,
}

/// Every tool this sandbox serves, with the listing pre-rendered.
pub struct Catalog {
    tools: HashMap<String, Arc<ToolHandle>>,
    listing: bytes::Bytes,
    pub revision: String,
}

impl Catalog {
    pub fn empty(sandbox: &str) -> Self {
        Self::assemble(sandbox, HashMap::new())
    }

    pub fn get(&self, name: &str) -> Option<&Arc<ToolHandle>> {
        self.tools.get(name)
    }

    pub fn len(&self) -> usize {
        self.tools.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// Tools in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<ToolHandle>> {
        let mut v: Vec<_> = self.tools.values().collect();
        v.sort_by(|a, b| a.entry.name.cmp(&b.entry.name));
        v.into_iter()
    }

    /// The `GET /v1/tools` body.
    pub fn listing(&self) -> bytes::Bytes {
        self.listing.clone()
    }

    fn assemble(sandbox: &str, tools: HashMap<String, Arc<ToolHandle>>) -> Self {
        let mut entries: Vec<ToolEntry> = tools.values().map(|t| t.entry.clone()).collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let canonical = serde_json::to_vec(&entries).unwrap_or_default();
        let revision = hex_prefix(&Sha256::digest(&canonical));
        let list = ToolList {
            sandbox: sandbox.to_owned(),
            revision: revision.clone(),
            tools: entries,
        };
        let listing = serde_json::to_vec(&list).unwrap_or_default().into();
        Self {
            tools,
            listing,
            revision,
        }
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// Loads every tool set under `sources`. `dispatcher` serves any host call a component makes
/// while describing itself (normally none).
pub async fn load(
    runtime: &Runtime,
    sources: &Sources,
    sandbox_name: &str,
    dispatcher: Arc<dyn Dispatcher>,
) -> Result<Catalog, LoadError> {
    let mut tools: HashMap<String, Arc<ToolHandle>> = HashMap::new();
    let mut toolset_names: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in manifest_files(&sources.toolsets)? {
        let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Read {
            path: path.clone(),
            source,
        })?;
        let manifest: ToolsetManifest =
            serde_yaml::from_str(&text).map_err(|e| invalid(&path, e.to_string()))?;
        mcp_contract::names::ToolsetName::parse(&manifest.name)
            .map_err(|e| invalid(&path, e.to_string()))?;
        if let Some(other) = toolset_names.insert(manifest.name.clone(), path.clone()) {
            return Err(invalid(
                &path,
                format!(
                    "tool set '{}' is also defined in {}",
                    manifest.name,
                    other.display()
                ),
            ));
        }
        // Relative paths in a manifest are relative to where the file really is (a linked
        // manifest keeps resolving against its own directory).
        let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        let base = real.parent().unwrap_or(Path::new("."));
        for spec in &manifest.components {
            let component = load_component(runtime, sources, &manifest, spec, base, &path)?;
            let component = Arc::new(component);
            let descriptors = describe(runtime, &component, dispatcher.clone())
                .await
                .map_err(|error| LoadError::Describe {
                    path: path.clone(),
                    component: component.name.clone(),
                    error,
                })?;
            for d in descriptors {
                let tool = build_tool(d, &component).map_err(|source| LoadError::Tool {
                    path: path.clone(),
                    source,
                })?;
                if let Some(prev) = tools.get(&tool.entry.name) {
                    return Err(invalid(
                        &path,
                        format!(
                            "tool '{}' of component '{}' is also provided by component '{}' (tool set '{}'); tool names must be unique",
                            tool.entry.name,
                            component.name,
                            prev.component.name,
                            prev.component.toolset
                        ),
                    ));
                }
                tools.insert(tool.entry.name.clone(), Arc::new(tool));
            }
        }
    }
    Ok(Catalog::assemble(sandbox_name, tools))
}

/// The `*.yaml`/`*.yml` files of a directory, sorted.
fn manifest_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let read = std::fs::read_dir(dir).map_err(|source| LoadError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut files: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    Ok(files)
}

fn load_component(
    runtime: &Runtime,
    sources: &Sources,
    toolset: &ToolsetManifest,
    spec: &ComponentManifest,
    base: &Path,
    manifest_path: &Path,
) -> Result<ComponentHandle, LoadError> {
    let file = sources.modules.join(&spec.file);
    let name = match &spec.name {
        Some(n) => n.clone(),
        None => spec
            .file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned(),
    };
    check_component_name(&name).map_err(|source| LoadError::ComponentName {
        path: manifest_path.to_owned(),
        source,
    })?;
    if !file.is_file() {
        return Err(invalid(
            manifest_path,
            format!(
                "component file {} does not exist (build the tools with scripts/build-tools.sh, or point --modules at the directory that holds them)",
                file.display()
            ),
        ));
    }
    // Compiling can take seconds (and wait for another process compiling the same component):
    // on a multi-threaded runtime, tell it this worker is busy, so a hot reload does not stall
    // the calls queued behind it.
    let started = Instant::now();
    let prepare = || runtime.prepare(&file);
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let prepared = if multi_thread {
        tokio::task::block_in_place(prepare)
    } else {
        prepare()
    }
    .map_err(|e| invalid(manifest_path, e.to_string()))?;
    tracing::info!(toolset = %toolset.name, component = %name, origin = ?prepared.origin,
        digest = %&prepared.digest[..12], elapsed_ms = started.elapsed().as_millis() as u64,
        "component ready");
    let limits = spec
        .limits
        .apply(toolset.defaults.limits.apply(Limits::default()));
    let caps = spec
        .capabilities
        .clone()
        .unwrap_or_else(|| toolset.defaults.capabilities.clone());
    let mut mounts = Vec::with_capacity(caps.dirs.len());
    for grant in &caps.dirs {
        let host = manifest::resolve_host_path(grant, base).map_err(|source| LoadError::Var {
            path: manifest_path.to_owned(),
            source,
        })?;
        if !host.is_dir() {
            return Err(invalid(
                manifest_path,
                format!(
                    "component '{name}': directory {} (mounted at {}) does not exist",
                    host.display(),
                    grant.guest
                ),
            ));
        }
        if !grant.guest.starts_with('/') || grant.guest == "/workspace" {
            return Err(invalid(
                manifest_path,
                format!(
                    "component '{name}': guest path {:?} must be absolute and not /workspace",
                    grant.guest
                ),
            ));
        }
        mounts.push(Mount {
            host,
            guest: grant.guest.clone(),
            access: grant.mode,
            write_roles: grant.write_roles.clone(),
        });
    }
    let http = match &caps.http {
        None => None,
        Some(grant) => Some(Arc::new(
            crate::runtime::HttpPolicy::from_grant(&name, grant, base)
                .map_err(|e| invalid(manifest_path, format!("component '{name}': {e}")))?,
        )),
    };
    Ok(ComponentHandle {
        http,
        name,
        toolset: toolset.name.clone(),
        prepared,
        limits,
        workspace: caps.workspace,
        mounts,
        env: caps.env.into_iter().collect(),
    })
}

/// How long a component may take to describe itself.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

async fn describe(
    runtime: &Runtime,
    component: &ComponentHandle,
    dispatcher: Arc<dyn Dispatcher>,
) -> Result<Vec<ToolDescriptor>, mcp_contract::sandbox_api::CallError> {
    let caller = Caller {
        user: "mcp-sandbox".into(),
        roles: vec![],
        request_id: "describe".into(),
        principal: None,
    };
    let now = Instant::now();
    let timeout = DESCRIBE_TIMEOUT.max(component.limits.timeout.get());
    let setup = CallSetup {
        limits: component.limits,
        // Describing needs no files: mounts are for calls.
        mounts: vec![],
        env: component.env.clone(),
        context: CallContext {
            tool: Arc::from(component.name.as_str()),
            scope: Arc::new(CallScope::new(caller, 0, 0)),
            depth: 0,
            started: now,
            deadline: crate::runtime::Deadline::new(now + timeout),
            host_call_timeout: component.limits.host_call_timeout.get(),
            dispatcher,
            parent_span: tracing::Span::current(),
            span: tracing::Span::none(),
        },
        // Describing makes no requests.
        http: None,
    };
    runtime.describe(&component.prepared, setup).await
}

/// A tool a component describes that cannot be served: its name, or one of its JSON fields.
#[derive(Debug, thiserror::Error)]
pub enum ToolDefError {
    /// The tool's name breaks the contract's name rule.
    #[error(transparent)]
    Name(#[from] mcp_contract::names::NameError),
    /// `inputSchema`, `outputSchema` or `annotations` does not parse.
    #[error("tool '{tool}' ({field}) is not valid JSON: {source}")]
    Json {
        tool: String,
        field: &'static str,
        source: serde_json::Error,
    },
    /// The input schema does not describe an object.
    #[error("tool '{tool}' (inputSchema) must be a schema of type \"object\"")]
    NotObject { tool: String },
    /// A schema is JSON but not a JSON Schema.
    #[error("tool '{tool}' ({field}) is not a valid JSON Schema: {message}")]
    Schema {
        tool: String,
        field: &'static str,
        message: String,
    },
}

/// A component name that cannot become a module name in code mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "component name {0:?} is not valid: use lower-case letters, digits and '_' (it becomes a module name in code)"
)]
pub struct ComponentNameError(pub String);

fn build_tool(
    d: ToolDescriptor,
    component: &Arc<ComponentHandle>,
) -> Result<ToolHandle, ToolDefError> {
    mcp_contract::names::ToolName::parse(&d.name)?;
    let parse = |text: &str, field: &'static str| -> Result<serde_json::Value, ToolDefError> {
        serde_json::from_str(text).map_err(|source| ToolDefError::Json {
            tool: d.name.clone(),
            field,
            source,
        })
    };
    let schema_error =
        |field: &'static str, e: jsonschema::ValidationError<'_>| ToolDefError::Schema {
            tool: d.name.clone(),
            field,
            message: e.to_string(),
        };
    let input_schema = parse(&d.input_schema, "inputSchema")?;
    if input_schema.get("type").and_then(|t| t.as_str()) != Some("object") {
        return Err(ToolDefError::NotObject {
            tool: d.name.clone(),
        });
    }
    let input =
        jsonschema::validator_for(&input_schema).map_err(|e| schema_error("inputSchema", e))?;
    let output_schema = d
        .output_schema
        .as_deref()
        .map(|s| parse(s, "outputSchema"))
        .transpose()?;
    let output = output_schema
        .as_ref()
        .map(|s| jsonschema::validator_for(s).map_err(|e| schema_error("outputSchema", e)))
        .transpose()?;
    let annotations = d
        .annotations
        .as_deref()
        .map(|s| parse(s, "annotations"))
        .transpose()?;
    Ok(ToolHandle {
        entry: ToolEntry {
            name: d.name,
            title: d.title,
            description: d.description,
            input_schema,
            output_schema,
            annotations,
            toolset: component.toolset.clone(),
            component: component.name.clone(),
        },
        component: component.clone(),
        input,
        output,
    })
}

/// Component names become module names in code mode (`from tools import log_store`).
fn check_component_name(name: &str) -> Result<(), ComponentNameError> {
    let mut bytes = name.bytes();
    let ok = name.len() <= 64
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ComponentNameError(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        use mcp_contract::names::ToolName;
        assert!(ToolName::parse("search_logs").is_ok());
        assert!(ToolName::parse("a-b").is_ok());
        assert!(ToolName::parse("").is_err());
        assert!(ToolName::parse("a.b").is_err());
        assert!(ToolName::parse(&"x".repeat(65)).is_err());
        assert!(check_component_name("log_store").is_ok());
        assert!(check_component_name("Log").is_err());
        assert!(check_component_name("9x").is_err());
        assert!(check_component_name("text-transform").is_err());
    }
}
