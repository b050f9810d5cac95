//! Calls made from code back to the gateway: how a sandbox runs, on behalf of a program in
//! `execute_code` (or any tool calling another), a tool it does not serve itself, one of the
//! upstream MCP servers the gateway federates.
//!
//! The sandbox never holds a credential for an upstream server, nor the caller's. It sends the
//! call to the gateway replica named in the call grant ([`crate::grant::Grant::callback`]),
//! authenticated twice: `Authorization: Bearer <the sandbox's token>` (the sandbox is one of
//! the gateway's) and [`GRANT_HEADER`] with the grant of the running call, unchanged (whom the
//! call is for: the gateway takes the caller's identity and roles only from it). The gateway
//! then admits and runs the call as it does a client's `tools/call` of that tool.
//!
//! Bodies: a call is the MCP `tools/call` params ([`CodeCall`]); the answer is a
//! [`CodeCallAnswer`] already shaped for code (what a wasm tool's call returns). A listing is
//! [`CodeToolList`], filtered by the grant's roles.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// `POST`: run one tool call made from code ([`CodeCall`] in, [`CodeCallAnswer`] out).
pub const CALL_PATH: &str = "/internal/v1/code/call";
/// `POST` (empty body): the federated tools the grant's caller may call ([`CodeToolList`]).
pub const LIST_PATH: &str = "/internal/v1/code/tools";
/// The header carrying the running call's grant token.
pub const GRANT_HEADER: &str = "x-mcp-call-grant";

/// One tool call made from code: the tool's exposed name and its arguments (the MCP
/// `tools/call` params).
#[derive(Debug, Serialize, Deserialize)]
pub struct CodeCall<'a> {
    /// The tool's exposed name, e.g. `tickets__search`.
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    /// The arguments object, as the program wrote it.
    #[serde(borrow, default)]
    pub arguments: Option<&'a RawValue>,
}

/// How a call made from code ended, in the terms the `call-tool` host import answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeCallAnswer {
    /// The result as JSON text for the program, as a wasm tool's: the tool's
    /// `structuredContent` when it has one, else the text of a lone text item as a JSON string,
    /// else the whole MCP result.
    Result(String),
    /// The call did not produce a result.
    Error {
        /// `not_found` (unknown *or* not granted: the same answer for both),
        /// `invalid_arguments`, `tool_error` (the tool answered `isError`), `rate_limited`, or
        /// the gateway's or upstream's failure kind (`unavailable`, `saturated`, ...).
        kind: String,
        /// What happened, for the program's author.
        message: String,
    },
}

/// The federated tools a caller may call from code.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CodeToolList {
    /// In the gateway's catalog order.
    pub tools: Vec<CodeTool>,
}

/// One tool in a [`CodeToolList`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeTool {
    /// The exposed name (`<server>__<tool>`).
    pub name: String,
    /// What code groups it under: the server's name.
    pub component: String,
    /// The upstream's description (empty when it has none).
    #[serde(default)]
    pub description: String,
    /// The input schema as JSON text.
    pub input_schema: String,
    /// The output schema as JSON text, when the upstream declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_have_one_documented_shape() {
        let ok = serde_json::to_string(&CodeCallAnswer::Result("{\"n\":1}".into())).unwrap();
        assert_eq!(ok, r#"{"result":"{\"n\":1}"}"#);
        let err = CodeCallAnswer::Error {
            kind: "not_found".into(),
            message: "m".into(),
        };
        let text = serde_json::to_string(&err).unwrap();
        assert_eq!(text, r#"{"error":{"kind":"not_found","message":"m"}}"#);
        assert_eq!(serde_json::from_str::<CodeCallAnswer>(&text).unwrap(), err);
    }

    #[test]
    fn a_call_is_the_mcp_tools_call_params() {
        let args = RawValue::from_string(r#"{"text":"hi"}"#.into()).unwrap();
        let call = CodeCall {
            name: "up__echo".into(),
            arguments: Some(&args),
        };
        assert_eq!(
            serde_json::to_string(&call).unwrap(),
            r#"{"name":"up__echo","arguments":{"text":"hi"}}"#
        );
    }
}
