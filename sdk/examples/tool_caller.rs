//! A tool that calls another tool through the host: `call_echo_twice {text}` calls `echo` twice
//! (the second time on the first result, repeated) and combines the answers.
//!
//! It needs the `echo` tool in the same sandbox and a caller allowed to use it; the nested calls
//! run as the same caller, under `echo`'s own limits and within this call's deadline.
//!
//! Build: `cargo build --release --target wasm32-wasip2 -p mcp-tool-sdk --example tool_caller`

use mcp_tool_sdk::prelude::*;

/// Arguments of `call_echo_twice`.
#[derive(Deserialize, JsonSchema)]
struct TwiceArgs {
    /// Text to send to `echo`.
    text: String,
}

/// What `echo` takes.
#[derive(Serialize)]
struct EchoArgs<'a> {
    text: &'a str,
}

/// What `echo` returns.
#[derive(Deserialize)]
struct Echoed {
    text: String,
    length: usize,
}

/// Both answers of `echo`, combined.
#[derive(Serialize, JsonSchema)]
struct Twice {
    /// The text of the first answer followed by that of the second.
    combined: String,
    /// The lengths `echo` reported, in call order.
    lengths: Vec<usize>,
    /// The user the nested calls ran as.
    caller: String,
}

fn call_echo_twice(args: TwiceArgs, cx: &Context) -> Result<Twice, ToolError> {
    let caller = cx.caller();
    cx.log(
        LogLevel::Info,
        "calling echo twice",
        serde_json::json!({ "chars": args.text.chars().count() }),
    );
    // `?` turns a CallError (not found, forbidden, limits, ...) into this tool's failure.
    let first: Echoed = cx.call_tool("echo", &EchoArgs { text: &args.text })?;
    let doubled = format!("{0} {0}", first.text);
    let second: Echoed = cx.call_tool("echo", &EchoArgs { text: &doubled })?;
    Ok(Twice {
        combined: format!("{} | {}", first.text, second.text),
        lengths: vec![first.length, second.length],
        caller: caller.user,
    })
}

fn tools() -> Toolbox {
    Toolbox::new().tool(
        Tool::new(
            "call_echo_twice",
            "Call the echo tool twice through the host and combine its answers",
            call_echo_twice,
        )
        .read_only()
        .open_world(false),
    )
}

mcp_tool_sdk::export_tools!(tools);
