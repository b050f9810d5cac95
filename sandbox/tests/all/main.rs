//! The sandbox's integration tests, one binary with a module per area, against the real
//! `mcp-sandbox` and real wasm tools built from source:
//! `cargo test -p mcp-sandbox --test all [<module>::]`. The log-analysis suite
//! (`tests/log_analysis.rs`, its own module tree) and the latency measurements of
//! `tenant_isolation` keep their own binaries.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

#[path = "../common/mod.rs"]
mod common;

mod access_token;
mod containment;
mod example_tools;
mod execute_code;
mod execute_javascript;
mod isolation;
mod outbound_http;
mod processes;
mod python_tools;
mod reload;
mod schema_portability;
mod sdk_http;
mod tenant_storage;
mod typescript_tools;
