//! The set of tools one component provides: described to the host once at load, dispatched by
//! name on every call. Pure logic over JSON text, so it runs and is tested natively.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::Value;

use crate::context::Context;
use crate::error::{DescribeError, ToolError};
use crate::schema;
use crate::tool::{Annotations, Tool};

/// The longest tool name the contract allows.
pub const MAX_TOOL_NAME_LEN: usize = 64;

/// One tool as the host sees it; the SDK turns it into the contract's `tool-descriptor`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolDescription {
    /// The tool's name, unique within the component.
    pub name: String,
    /// A short human-readable name for display.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the tool does, for the agent choosing it.
    pub description: String,
    /// JSON Schema of the arguments, derived from the argument type.
    pub input_schema: Value,
    /// JSON Schema of the structured result, derived from the result type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// The hints declared on the tool, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
}

/// The tools of one component. Build it in a function and hand that function to
/// [`export_tools!`](crate::export_tools).
#[derive(Default)]
pub struct Toolbox {
    tools: Vec<Tool>,
}

impl Toolbox {
    /// An empty toolbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tool. Names are checked by [`Toolbox::describe`].
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.push(tool);
        self
    }

    /// The names of the tools, in the order they were added.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tools.iter().map(Tool::name)
    }

    /// Describes every tool: checks names, derives schemas and annotations.
    pub fn describe(&self) -> Result<Vec<ToolDescription>, DescribeError> {
        let mut seen = HashSet::new();
        self.tools
            .iter()
            .map(|tool| {
                validate_tool_name(&tool.name)?;
                if !seen.insert(tool.name.as_str()) {
                    return Err(DescribeError::DuplicateName(tool.name.clone()));
                }
                describe_tool(tool)
            })
            .collect()
    }

    /// Runs the tool `name` on `arguments` (JSON object text) and returns its result as JSON
    /// text. Arguments that do not decode are [`ToolError::InvalidArguments`].
    pub fn call(&self, name: &str, arguments: &str, cx: &Context) -> Result<String, ToolError> {
        let Some(tool) = self.tools.iter().find(|tool| tool.name == name) else {
            let known = self.names().collect::<Vec<_>>().join(", ");
            return Err(ToolError::Failed(format!(
                "this component has no tool named `{name}`; it provides: {known}"
            )));
        };
        (tool.handler)(arguments, cx)
    }
}

fn describe_tool(tool: &Tool) -> Result<ToolDescription, DescribeError> {
    let input_schema = (tool.arguments_schema)();
    if !schema::is_object(&input_schema) {
        return Err(DescribeError::ArgumentsNotObject {
            tool: tool.name.clone(),
            type_name: tool.arguments_type,
        });
    }
    let output_schema = tool
        .result_schema
        .map(|derive| derive())
        .filter(schema::is_object)
        .map(|schema| schema.to_value());
    Ok(ToolDescription {
        name: tool.name.clone(),
        title: tool.title.clone(),
        description: tool.description.clone(),
        input_schema: input_schema.to_value(),
        output_schema,
        annotations: (!tool.annotations.is_empty()).then_some(tool.annotations),
    })
}

/// Checks a tool name against the contract: 1-64 characters of `a-z A-Z 0-9 _ -`.
pub fn validate_tool_name(name: &str) -> Result<(), DescribeError> {
    let invalid = |reason: String| DescribeError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("it is empty".to_owned()));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(invalid(format!("it contains {bad:?}")));
    }
    // Only ASCII is left, so bytes are characters.
    if name.len() > MAX_TOOL_NAME_LEN {
        return Err(invalid(format!("it is {} characters long", name.len())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::*;
    use crate::testing::FakeHost;
    use crate::tool::NoArgs;

    /// Arguments of `echo`.
    #[derive(Deserialize, JsonSchema)]
    struct EchoArgs {
        /// Text to send back.
        text: String,
        /// How many times to repeat it.
        #[serde(default)]
        times: Option<u32>,
    }

    #[derive(Serialize, JsonSchema)]
    struct Echoed {
        text: String,
        length: usize,
    }

    fn echo(args: EchoArgs, _cx: &Context) -> Result<Echoed, ToolError> {
        let text = args.text.repeat(args.times.unwrap_or(1) as usize);
        let length = text.chars().count();
        Ok(Echoed { text, length })
    }

    fn shout(args: EchoArgs, _cx: &Context) -> Result<String, ToolError> {
        if args.text.is_empty() {
            return Err(ToolError::invalid_arguments("`text` is empty"));
        }
        Ok(args.text.to_uppercase())
    }

    fn toolbox() -> Toolbox {
        Toolbox::new()
            .tool(Tool::new("echo", "Echo text back", echo).read_only())
            .tool(Tool::new("shout", "Upper-case text", shout).title("Shout"))
    }

    fn cx() -> Context {
        Context::new(FakeHost::new())
    }

    fn described(toolbox: &Toolbox, name: &str) -> ToolDescription {
        let descriptions = toolbox.describe().expect("the toolbox is valid");
        descriptions
            .into_iter()
            .find(|description| description.name == name)
            .expect("the tool is described")
    }

    #[test]
    fn input_schema_carries_field_doc_comments_as_descriptions() {
        let echo = described(&toolbox(), "echo");
        let schema = &echo.input_schema;
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["description"], "Arguments of `echo`.");
        assert_eq!(
            schema["properties"]["text"]["description"],
            "Text to send back."
        );
        assert_eq!(
            schema["properties"]["times"]["description"],
            "How many times to repeat it."
        );
        assert_eq!(schema["required"], json!(["text"]));
    }

    #[test]
    fn object_results_get_an_output_schema_and_others_do_not() {
        let echo = described(&toolbox(), "echo");
        let output = echo.output_schema.expect("Echoed is an object");
        assert_eq!(output["type"], "object");
        assert_eq!(output["properties"]["length"]["type"], "integer");
        assert_eq!(described(&toolbox(), "shout").output_schema, None);
    }

    #[test]
    fn output_schema_can_be_declared_from_another_type_or_dropped() {
        let declared = Toolbox::new().tool(
            Tool::new("value", "Returns a value", |_: NoArgs, _: &Context| {
                Ok(json!({"text": "x", "length": 1}))
            })
            .output_schema::<Echoed>(),
        );
        let output = described(&declared, "value").output_schema.unwrap();
        assert_eq!(output["required"], json!(["text", "length"]));

        let dropped = Toolbox::new().tool(Tool::new("echo", "Echo", echo).without_output_schema());
        assert_eq!(described(&dropped, "echo").output_schema, None);
    }

    #[test]
    fn no_args_is_an_empty_object_schema_and_accepts_empty_arguments() {
        let toolbox = Toolbox::new().tool(Tool::new("ping", "Ping", |_: NoArgs, _: &Context| {
            Ok("pong".to_owned())
        }));
        assert_eq!(described(&toolbox, "ping").input_schema["type"], "object");
        assert_eq!(toolbox.call("ping", "{}", &cx()).unwrap(), r#""pong""#);
        assert_eq!(toolbox.call("ping", "", &cx()).unwrap(), r#""pong""#);
    }

    #[test]
    fn annotations_are_absent_unless_set_and_use_mcp_hint_names() {
        assert_eq!(described(&toolbox(), "shout").annotations, None);
        let annotated = Toolbox::new().tool(
            Tool::new("echo", "Echo", echo)
                .read_only()
                .idempotent()
                .destructive(false)
                .open_world(false),
        );
        let annotations = described(&annotated, "echo").annotations.unwrap();
        assert_eq!(
            serde_json::to_value(annotations).unwrap(),
            json!({
                "readOnlyHint": true,
                "destructiveHint": false,
                "idempotentHint": true,
                "openWorldHint": false,
            })
        );
        let read_only = described(&toolbox(), "echo").annotations.unwrap();
        assert_eq!(
            serde_json::to_value(read_only).unwrap(),
            json!({"readOnlyHint": true})
        );
    }

    #[test]
    fn title_is_described() {
        assert_eq!(
            described(&toolbox(), "shout").title.as_deref(),
            Some("Shout")
        );
        assert_eq!(described(&toolbox(), "echo").title, None);
    }

    #[test]
    fn call_dispatches_by_name_and_serialises_the_result() {
        let toolbox = toolbox();
        let result = toolbox
            .call("echo", r#"{"text":"hé","times":2}"#, &cx())
            .unwrap();
        assert_eq!(result, r#"{"text":"héhé","length":4}"#);
        let shouted = toolbox.call("shout", r#"{"text":"hi"}"#, &cx()).unwrap();
        assert_eq!(shouted, r#""HI""#);
    }

    #[test]
    fn unknown_tool_is_a_failure_naming_the_tools_provided() {
        let error = toolbox().call("nope", "{}", &cx()).unwrap_err();
        assert_eq!(
            error,
            ToolError::Failed(
                "this component has no tool named `nope`; it provides: echo, shout".to_owned()
            )
        );
    }

    #[test]
    fn arguments_that_do_not_decode_are_invalid_arguments() {
        let error = toolbox()
            .call("echo", r#"{"txt":"hi"}"#, &cx())
            .unwrap_err();
        let ToolError::InvalidArguments(message) = error else {
            panic!("expected invalid arguments, got {error:?}");
        };
        assert!(message.contains("`echo`"), "{message}");
        assert!(message.contains("missing field `text`"), "{message}");

        let error = toolbox().call("echo", "not json", &cx()).unwrap_err();
        assert!(matches!(error, ToolError::InvalidArguments(_)), "{error:?}");
    }

    #[test]
    fn tool_errors_pass_through_unchanged() {
        let error = toolbox()
            .call("shout", r#"{"text":""}"#, &cx())
            .unwrap_err();
        assert_eq!(
            error,
            ToolError::InvalidArguments("`text` is empty".to_owned())
        );
    }

    #[test]
    fn tool_names_follow_the_contract() {
        for good in [
            "echo",
            "a",
            "text_transform",
            "Kebab-Case-9",
            &"x".repeat(64),
        ] {
            assert_eq!(validate_tool_name(good), Ok(()), "{good}");
        }
        for bad in ["", "has space", "dot.ted", "ünï", &"x".repeat(65)] {
            let error = validate_tool_name(bad).unwrap_err();
            assert!(
                matches!(&error, DescribeError::InvalidName { name, .. } if name == bad),
                "{bad}: {error:?}"
            );
        }
        let message = validate_tool_name("dot.ted").unwrap_err().to_string();
        assert_eq!(
            message,
            "tool name `dot.ted` is invalid: it contains '.'; \
             a tool name is 1-64 characters of a-z A-Z 0-9 _ -"
        );
    }

    #[test]
    fn describe_rejects_bad_and_duplicate_names() {
        let bad = Toolbox::new().tool(Tool::new("bad name", "Bad", echo));
        assert!(matches!(
            bad.describe(),
            Err(DescribeError::InvalidName { .. })
        ));
        let twice = toolbox().tool(Tool::new("echo", "Again", echo));
        assert_eq!(
            twice.describe(),
            Err(DescribeError::DuplicateName("echo".to_owned()))
        );
    }

    #[test]
    fn describe_rejects_arguments_that_are_not_an_object() {
        let toolbox =
            Toolbox::new().tool(Tool::new("s", "S", |text: String, _: &Context| Ok(text)));
        let error = toolbox.describe().unwrap_err();
        assert!(
            matches!(&error, DescribeError::ArgumentsNotObject { tool, type_name }
                if tool == "s" && type_name.ends_with("String")),
            "{error:?}"
        );
    }
}
