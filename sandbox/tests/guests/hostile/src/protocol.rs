//! Tools that break the contract with the host, or use the host against itself.

use mcp_tool_sdk::prelude::*;
use mcp_tool_sdk::serde_json::{Value, json};

/// Which tool to call, with what.
#[derive(Deserialize, JsonSchema)]
pub struct CallArgs {
    /// Name of the tool to call through the host (may be `call` itself, to nest).
    tool: String,
    /// Its arguments.
    #[serde(default = "empty_object")]
    arguments: Value,
}

fn empty_object() -> Value {
    json!({})
}

/// The output `wrong_output` declares.
#[derive(Serialize, JsonSchema)]
pub struct Counted {
    /// A whole number.
    count: i64,
}

/// The output `wrong_output` actually returns.
#[derive(Serialize, JsonSchema)]
pub struct Labelled {
    count: String,
}

/// What `chameleon` echoes.
#[derive(Deserialize, JsonSchema)]
pub struct TextArgs {
    /// Text to send back.
    text: String,
}

pub fn chameleon(args: TextArgs, _cx: &Context) -> Result<String, ToolError> {
    Ok(args.text)
}

pub fn panic(_: NoArgs, _cx: &Context) -> Result<String, ToolError> {
    panic!("hostile guest panics on purpose");
}

/// The result of the nested call, or the call error as
/// `{"error_kind": ..., "message": ...}` (with `abort_kind` when the host stopped the tool).
pub fn call(args: CallArgs, cx: &Context) -> Result<Value, ToolError> {
    match cx.call_tool::<Value, Value>(&args.tool, &args.arguments) {
        Ok(result) => Ok(result),
        Err(error) => {
            let mut rendered = json!({
                "error_kind": error.kind(),
                "message": error.message(),
            });
            if let CallError::Aborted { kind, .. } = &error {
                rendered["abort_kind"] = json!(kind);
            }
            Ok(rendered)
        }
    }
}

pub fn wrong_output(_: NoArgs, _cx: &Context) -> Result<Labelled, ToolError> {
    Ok(Labelled {
        count: "not a number".to_owned(),
    })
}
