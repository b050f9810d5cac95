//! What the gateway (`mcp-gateway`) and the sandbox host (`mcp-sandbox`) agree on.
//!
//! This crate owns these things and nothing else:
//! - [`sandbox_api`]: the JSON messages of the sandbox's HTTP API (list tools, call a tool, the
//!   error kinds a call can end with);
//! - [`grant`]: the call grant the gateway signs so the sandbox takes the caller's identity
//!   only from it;
//! - [`callback`]: calls made from code that the sandbox sends back to the gateway (the
//!   gateway's federated tools), and their bodies;
//! - [`names`]: tool, tool set and component names, one rule per kind, enforced by type;
//! - [`policy`]: the access policy (which roles may use which tool sets and tools, and the rate
//!   limits), parsed once from YAML into validated types;
//! - [`schema`]: how arguments that do not match a tool's input schema are described.
//!
//! It does no I/O beyond reading a policy file and has no async code, so both binaries (and the
//! fuzz targets) can use it without pulling in a runtime.
#![warn(missing_docs)]

pub mod callback;
pub mod grant;
pub mod names;
pub mod policy;
pub mod sandbox_api;
pub mod schema;
pub mod units;
