//! Shared pieces of the fuzz targets in `fuzz_targets/`.
//!
//! The gateway's and the sandbox's input parsers live in leaf modules that depend only on serde,
//! the contract and the auth crate. They are compiled here from their source files (`#[path]`),
//! so the fuzz build does not need pingora, wasmtime or OpenTelemetry, which no target executes
//! and which would triple the build time in CI. The code fuzzed is the gateway's own, with the
//! same dependency versions and features (`Cargo.lock`, `Cargo.toml`). If one of these modules
//! starts to use something else of its crate, the fuzz build fails and says so: move that
//! dependency out of the module, or depend on the crate here.
//!
//! Everything else comes from the real crates: `mcp-contract` (policy, units) and
//! `mcp-gateway-auth` (the `Authorization` header, API keys, JWTs).

use std::path::Path;
use std::sync::OnceLock;

/// `mcp_gateway::mcp::jsonrpc`: the JSON-RPC envelope parser.
#[path = "../../proxy/src/mcp/jsonrpc.rs"]
pub mod jsonrpc;

/// `mcp_gateway::mcp::session`: the encrypted `Mcp-Session-Id`.
#[path = "../../proxy/src/mcp/session.rs"]
pub mod session;

/// `mcp_gateway::mcp::version` (used by `session`).
#[path = "../../proxy/src/mcp/version.rs"]
pub mod version;

/// `mcp_gateway::config`: the gateway's YAML configuration and its environment overrides.
#[path = "../../proxy/src/config/mod.rs"]
pub mod config;

/// `mcp_sandbox::toolset::manifest`: tool set manifests and `${VAR}` expansion.
#[path = "../../sandbox/src/toolset/manifest.rs"]
pub mod manifest;

/// Splits `data` at the first `n - 1` zero bytes: one input, several fields, so that the
/// fuzzer can mutate each field on its own. Missing fields are empty.
pub fn fields<const N: usize>(data: &[u8]) -> [&[u8]; N] {
    let mut out = [&data[..0]; N];
    for (slot, part) in out.iter_mut().zip(data.splitn(N, |b| *b == 0)) {
        *slot = part;
    }
    out
}

/// One tool's schemas as `mcp-sandbox tool check` prints them for the tools built from this
/// repository (sdk/examples and tools/), in `schemas/tools.json`.
#[derive(Debug, serde::Deserialize)]
pub struct ToolSchemas {
    pub name: String,
    #[serde(rename = "inputSchema")]
    pub input: serde_json::Value,
    #[serde(rename = "outputSchema")]
    pub output: Option<serde_json::Value>,
}

/// The real tools' schemas, parsed once.
pub fn tool_schemas() -> &'static [ToolSchemas] {
    static SCHEMAS: OnceLock<Vec<ToolSchemas>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        serde_json::from_str(include_str!("../schemas/tools.json"))
            .expect("fuzz/schemas/tools.json is a list of tool schemas")
    })
}

/// A compiled validator per real tool, compiled as the sandbox and the gateway compile them
/// (`jsonschema::validator_for`, default options).
pub fn tool_validators() -> &'static [(String, jsonschema::Validator)] {
    static VALIDATORS: OnceLock<Vec<(String, jsonschema::Validator)>> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        tool_schemas()
            .iter()
            .map(|t| {
                let v = jsonschema::validator_for(&t.input)
                    .unwrap_or_else(|e| panic!("schema of {} does not compile: {e}", t.name));
                (t.name.clone(), v)
            })
            .collect()
    })
}

/// A directory for the life of the fuzzing process (key files, config files): under
/// `$MCP_FUZZ_SCRATCH`, else in memory (`/dev/shm`) where there is one, as a file written per
/// input on a disk costs milliseconds.
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        // scripts/fuzz.sh passes a directory it removes afterwards (statics are never dropped).
        let base = std::env::var_os("MCP_FUZZ_SCRATCH")
            .map(std::path::PathBuf::from)
            .or_else(|| Some(Path::new("/dev/shm").to_owned()).filter(|p| p.is_dir()))
            .unwrap_or_else(std::env::temp_dir);
        tempfile::Builder::new()
            .prefix("mcp-fuzz-")
            .tempdir_in(base)
            .expect("a temporary directory")
    })
    .path()
}

/// A single-threaded tokio runtime, as cheap as possible per call.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

pub mod keys;
