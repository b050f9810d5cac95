//! Tools that break the contract with the host, or use the host against itself.

use mcp_tool_sdk::prelude::*;
use mcp_tool_sdk::serde_json::{self, Value, json};

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

/// A nested call with huge arguments, built in the guest.
#[derive(Deserialize, JsonSchema)]
pub struct ZerosArgs {
    /// Tool to call through the host.
    tool: String,
    /// Argument field to fill.
    field: String,
    /// Elements of the `[0,0,...]` array (2 bytes each).
    count: u64,
}

/// Calls `tool` with `{"<field>": [0,0,...]}` of `count` elements: the arguments that cost a
/// JSON tree tens of bytes per byte. Returns the result or the call error, as `call` does.
pub fn call_with_zeros(args: ZerosArgs, cx: &Context) -> Result<Value, ToolError> {
    let count = usize::try_from(args.count)
        .map_err(|_| ToolError::invalid_arguments("`count` is too large"))?;
    let field = serde_json::to_string(&args.field)
        .map_err(|e| ToolError::failed(format!("field name: {e}")))?;
    let mut text = String::with_capacity(count * 2 + field.len() + 8);
    text.push('{');
    text.push_str(&field);
    text.push_str(":[");
    for i in 0..count {
        if i > 0 {
            text.push(',');
        }
        text.push('0');
    }
    text.push_str("]}");
    match cx.call_tool_raw(&args.tool, &text) {
        Ok(result) => Ok(json!({ "result_bytes": result.len() })),
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
