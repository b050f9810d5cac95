//! `mcp-gateway`: the front door of the MCP code gateway, on pingora.
//!
//! It terminates HTTP(S), speaks MCP Streamable HTTP, authenticates callers (OIDC access tokens
//! checked against the issuer's JWKS, or API keys stored only as hashes), authorizes each tool
//! from the caller's roles, rate-limits per user and per tool, and routes `tools/call` to the
//! sandbox hosts that run the tools, over pooled keep-alive connections. It never forwards the
//! caller's credentials: sandboxes receive the user name and roles only.
//!
//! A request flows down the modules: [`http`] (routing, origin, size, auth, rate limit) ->
//! [`mcp`] (JSON-RPC, sessions, methods) -> [`policy`] / [`ratelimit`] -> [`catalog`] (which
//! sandbox serves the tool) -> [`upstream`] (the pooled connection). [`observe`] writes the
//! metrics and the audit line when the request ends; [`gateway`] holds the shared state.

pub mod catalog;
pub mod config;
pub mod error;
pub mod federation;
pub mod gateway;
pub mod http;
pub mod mcp;
pub mod observe;
pub mod ops;
pub mod policy;
pub use mcp_ratelimit as ratelimit;
pub mod reply;
pub mod tls;
pub mod upstream;
