//! The smallest useful tool: `echo {text}` returns the text and its length in characters.
//!
//! Build: `cargo build --release --target wasm32-wasip2 -p mcp-tool-sdk --example echo`

use mcp_tool_sdk::prelude::*;

/// Arguments of `echo`.
#[derive(Deserialize, JsonSchema)]
struct EchoArgs {
    /// Text to send back.
    text: String,
}

/// The text, unchanged, and its length.
#[derive(Serialize, JsonSchema)]
struct Echoed {
    /// The text that was sent.
    text: String,
    /// Its length in Unicode scalar values.
    length: usize,
}

fn echo(args: EchoArgs, _cx: &Context) -> Result<Echoed, ToolError> {
    let length = args.text.chars().count();
    Ok(Echoed {
        text: args.text,
        length,
    })
}

fn tools() -> Toolbox {
    Toolbox::new().tool(
        Tool::new(
            "echo",
            "Echo text back, with its length in characters",
            echo,
        )
        .read_only()
        .idempotent()
        .open_world(false),
    )
}

mcp_tool_sdk::export_tools!(tools);
