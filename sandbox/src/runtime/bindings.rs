//! Rust types generated from `sdk/wit/mcp-tool.wit`. Only the types and the `describe` export
//! are used from here: host imports are defined by hand in [`super::host`] (they need the
//! store itself, e.g. to read fuel), and `call` is invoked through a typed function that
//! borrows the result from guest memory instead of copying it.

wasmtime::component::bindgen!({
    path: "../sdk/wit",
    world: "tool-component",
    exports: { default: async },
});

pub use exports::mcp::gateway::tool::ToolError;
pub use mcp::gateway::types::{
    AbortReason, CallError, Caller, LogLevel, ToolDescriptor, ToolSummary, Usage,
};
