//! `mcp-sandbox`: runs MCP tools as WebAssembly components under wasmtime, with hard limits,
//! and serves them to the gateway over HTTP.
//!
//! The request flows down the modules:
//! - [`server`]: the HTTP API (`/v1/tools`, `/v1/call`, probes, metrics);
//! - [`service`]: checks a call (tool exists, caller allowed, arguments valid), admits it under
//!   the concurrency limit, runs it, and serves tool calls made from inside guests;
//! - [`toolset`]: tool set manifests, their components and the catalog of tools;
//! - [`runtime`]: the wasmtime engine, one fresh store per call, fuel, deadline, memory and
//!   output caps, capabilities, and the host imports.
//!
//! [`codelang`] routes `execute_code` by `language` and readies JavaScript and TypeScript
//! programs (parse, module check, type stripping) before the JavaScript engine runs them.
//! [`check`] is the `tool check` command for tool authors. Nothing here holds the caller's
//! credentials: the gateway authenticates and forwards only the user name and roles.

pub mod check;
pub mod codelang;
pub mod runtime;
pub mod server;
pub mod service;
pub mod telemetry;
pub mod tls;
pub mod token;
pub mod toolset;
