//! The gateway's integration tests, one binary with a module per area, against the real
//! binaries: `cargo test -p mcp-gateway --test all [<module>::]`. Suites that measure latency
//! under load (`hostile_tenants`, `lifecycle`) or drive many external clients (`client_matrix`)
//! keep their own binaries, so nothing else runs beside them.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod code_mode;
mod code_mode_js;
mod federation;
mod hostile_http;
mod key_rotation_k8s;
mod mcp_protocol;
mod metrics_audit;
mod observability;
mod operator_tools;
mod sandbox_mtls;
mod sdk_clients;
mod sdk_tools;
mod shared_limits;
mod smoke_cmd;
mod tls;
mod tool_poisoning;
