//! Write MCP tools as plain Rust functions and build them into WebAssembly components that the
//! gateway's sandbox runs (`cargo build --release --target wasm32-wasip2`).
//!
//! This crate owns the tool side of the contract in `wit/mcp-tool.wit`:
//! - [`Tool`] and [`Toolbox`]: a tool is a function `fn(Args, &Context) -> Result<Out, ToolError>`
//!   over serde types, with its name, description and annotations declared in code and its JSON
//!   schemas derived from `Args` and `Out` with `schemars` (doc comments become descriptions);
//! - [`Context`]: the host's services (nested tool calls, logging, the caller, usage, deadline)
//!   in typed Rust, over the [`Host`] trait so tools test natively with [`testing::FakeHost`];
//! - [`export_tools!`]: implements the component's `tool` export by dispatching to a toolbox.
//!
//! It must not grow policy: which tools a caller may use, limits and capabilities are the host's.
//!
//! ```
//! use mcp_tool_sdk::prelude::*;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct EchoArgs {
//!     /// Text to send back.
//!     text: String,
//! }
//!
//! #[derive(Serialize, JsonSchema)]
//! struct Echoed {
//!     text: String,
//!     length: usize,
//! }
//!
//! fn echo(args: EchoArgs, _cx: &Context) -> Result<Echoed, ToolError> {
//!     let length = args.text.chars().count();
//!     Ok(Echoed { text: args.text, length })
//! }
//!
//! fn tools() -> Toolbox {
//!     Toolbox::new().tool(Tool::new("echo", "Echo text back", echo).read_only())
//! }
//!
//! mcp_tool_sdk::export_tools!(tools);
//! # fn main() {
//! #     let cx = Context::new(mcp_tool_sdk::testing::FakeHost::new());
//! #     assert_eq!(tools().call("echo", r#"{"text":"hé"}"#, &cx).unwrap(), r#"{"text":"hé","length":2}"#);
//! # }
//! ```
#![warn(missing_docs)]

#[doc(hidden)]
pub mod bindings;
mod component;
mod context;
mod error;
mod schema;
pub mod testing;
mod tool;
mod toolbox;

pub use context::{Caller, Context, Host, LogLevel, ToolSummary, Usage};
pub use error::{CallError, DescribeError, ToolError};
pub use tool::{Annotations, NoArgs, Tool};
pub use toolbox::{MAX_TOOL_NAME_LEN, ToolDescription, Toolbox, validate_tool_name};

/// Re-exported for `serde_json::Value` and `json!` in tools. The derives in the prelude still
/// need `serde` and `schemars` as dependencies of the tool crate.
pub use serde_json;

/// Everything a tool crate usually needs: `use mcp_tool_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{
        CallError, Caller, Context, LogLevel, NoArgs, Tool, ToolError, Toolbox, Usage,
    };
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
}

/// Exports a toolbox as this crate's component: `export_tools!(tools)` where `tools` is a
/// `fn() -> Toolbox`. Use it once, in the crate root of a `cdylib` crate.
///
/// The function runs when the host loads the component (to describe the tools) and at the start
/// of every call (the host gives each call a fresh instance), so keep it to building the toolbox.
///
/// The component exports exist only when building for `wasm32`; on a native target the macro
/// compiles to nothing callable, so a tool crate still builds and tests natively (test its tools
/// through the toolbox function: `tools().call(name, arguments, &cx)`).
#[macro_export]
macro_rules! export_tools {
    ($tools:path) => {
        const _: () = {
            struct McpToolComponent;

            impl $crate::bindings::exports::mcp::gateway::tool::Guest for McpToolComponent {
                fn describe()
                -> ::std::vec::Vec<$crate::bindings::exports::mcp::gateway::tool::ToolDescriptor>
                {
                    $crate::__private::describe(&$tools())
                }

                fn call(
                    name: ::std::string::String,
                    arguments: ::std::string::String,
                ) -> ::std::result::Result<
                    ::std::string::String,
                    $crate::bindings::exports::mcp::gateway::tool::ToolError,
                > {
                    $crate::__private::call(&$tools(), &name, &arguments)
                }
            }

            // The export symbols (`mcp:gateway/tool@0.1.0#call`) are not valid native linker
            // symbols, and a native build has no host to call them anyway.
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::__export_tool_component!(
                McpToolComponent with_types_in $crate::bindings
            );

            // Natively, mark the export and the tool functions behind it as used.
            #[cfg(not(target_arch = "wasm32"))]
            {
                let _ = <McpToolComponent as $crate::bindings::exports::mcp::gateway::tool::Guest>::call;
            }
        };
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::component::{call, describe};
}
