//! What a running tool can ask of its host: [`Context`] wraps the contract's `host` imports in
//! typed Rust. The host itself sits behind the [`Host`] trait so tools and the SDK can be tested
//! natively with a fake ([`crate::testing::FakeHost`]); inside a component the SDK plugs in the
//! real imports.

use std::rc::Rc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::CallError;

/// The host services a tool can use, one method per import of the contract's `host` interface.
/// Strings are JSON text where the contract says so.
pub trait Host {
    /// Calls another tool by name as the same caller; `arguments` and the result are JSON text.
    fn call_tool(&self, name: &str, arguments: &str) -> Result<String, CallError>;
    /// The tools the caller may call through [`Host::call_tool`].
    fn list_tools(&self) -> Vec<ToolSummary>;
    /// A structured log line; `fields` is a JSON object text, or empty.
    fn log(&self, level: LogLevel, message: &str, fields: &str);
    /// Who this call runs for.
    fn caller(&self) -> Caller;
    /// Resources used so far by this call.
    fn usage(&self) -> Usage;
    /// Brings this call's deadline forward to at most `ms` milliseconds from now.
    fn limit_deadline(&self, ms: u64);
}

/// Lets a test keep a handle on its fake host (to read what the tool logged) while a
/// [`Context`] owns another.
impl<H: Host + ?Sized> Host for Rc<H> {
    fn call_tool(&self, name: &str, arguments: &str) -> Result<String, CallError> {
        (**self).call_tool(name, arguments)
    }
    fn list_tools(&self) -> Vec<ToolSummary> {
        (**self).list_tools()
    }
    fn log(&self, level: LogLevel, message: &str, fields: &str) {
        (**self).log(level, message, fields)
    }
    fn caller(&self) -> Caller {
        (**self).caller()
    }
    fn usage(&self) -> Usage {
        (**self).usage()
    }
    fn limit_deadline(&self, ms: u64) {
        (**self).limit_deadline(ms)
    }
}

/// Severity of a [`Context::log`] line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Step-by-step detail, normally filtered out.
    Trace,
    /// Detail for whoever debugs the tool.
    Debug,
    /// A normal event worth recording.
    Info,
    /// Something unexpected that the tool recovered from.
    Warn,
    /// A failure.
    Error,
}

/// A tool the caller may call, as listed by [`Context::list_tools`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolSummary {
    /// The tool's name, as passed to [`Context::call_tool`].
    pub name: String,
    /// The component (module) that provides it, e.g. `text_transform`.
    pub component: String,
    /// What the tool does.
    pub description: String,
    /// JSON Schema of the arguments, as JSON text.
    pub input_schema: String,
    /// JSON Schema of the structured result, as JSON text.
    pub output_schema: Option<String>,
}

/// Who the current call runs for, as authenticated by the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The caller's user name.
    pub user: String,
    /// The caller's roles.
    pub roles: Vec<String>,
    /// The gateway's id for the request, which its audit line and the sandbox's logs carry.
    pub request_id: String,
}

impl Caller {
    /// Whether the caller holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|held| held == role)
    }
}

/// Resources the current call has used so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Fuel (instruction budget) burned so far.
    pub fuel_consumed: u64,
    /// Wall-clock time since the call started, in milliseconds.
    pub elapsed_ms: u64,
    /// Nested tool calls made so far.
    pub nested_calls: u32,
}

/// The handle a tool function gets to its host: nested tool calls, logging, the caller's
/// identity, resource usage and deadline control.
pub struct Context {
    host: Box<dyn Host>,
}

impl Context {
    /// A context over any host; inside a component the SDK builds one over the real imports.
    pub fn new(host: impl Host + 'static) -> Self {
        Self {
            host: Box::new(host),
        }
    }

    /// Calls another tool with typed arguments and decodes its result into `R`. Use
    /// `serde_json::Value` as `R` to take the result as it comes.
    pub fn call_tool<A, R>(&self, name: &str, arguments: &A) -> Result<R, CallError>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let arguments = serde_json::to_string(arguments).map_err(|error| {
            CallError::InvalidArguments(format!(
                "the arguments for `{name}` cannot be encoded as JSON: {error}"
            ))
        })?;
        let result = self.host.call_tool(name, &arguments)?;
        serde_json::from_str(&result).map_err(|error| CallError::UnexpectedResult {
            tool: name.to_owned(),
            message: error.to_string(),
        })
    }

    /// Calls another tool with arguments given as JSON text; returns its result as JSON text.
    pub fn call_tool_raw(&self, name: &str, arguments_json: &str) -> Result<String, CallError> {
        self.host.call_tool(name, arguments_json)
    }

    /// The tools the caller may call through [`Context::call_tool`].
    pub fn list_tools(&self) -> Vec<ToolSummary> {
        self.host.list_tools()
    }

    /// Writes a structured log line, attributed by the host to this tool and the caller's
    /// request. `fields` is anything that serialises to a JSON object (`serde_json::json!({..})`
    /// or a struct); pass `()` for none. Other values are logged under the key `value`.
    pub fn log(&self, level: LogLevel, message: &str, fields: impl Serialize) {
        let fields = match serde_json::to_value(fields) {
            Ok(serde_json::Value::Null) => String::new(),
            Ok(object @ serde_json::Value::Object(_)) => object.to_string(),
            Ok(other) => serde_json::json!({ "value": other }).to_string(),
            Err(error) => serde_json::json!({ "fields_error": error.to_string() }).to_string(),
        };
        self.host.log(level, message, &fields);
    }

    /// Who this call runs for.
    pub fn caller(&self) -> Caller {
        self.host.caller()
    }

    /// Resources used so far by this call.
    pub fn usage(&self) -> Usage {
        self.host.usage()
    }

    /// Brings this call's wall-clock deadline forward to at most `within` from now. It can only
    /// shorten the deadline the host set, never extend it.
    pub fn limit_deadline(&self, within: Duration) {
        let ms = u64::try_from(within.as_millis()).unwrap_or(u64::MAX);
        self.host.limit_deadline(ms);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::error::ToolError;
    use crate::testing::FakeHost;

    #[derive(Serialize)]
    struct EchoArgs<'a> {
        text: &'a str,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Echoed {
        text: String,
        length: usize,
    }

    fn echo_host() -> Rc<FakeHost> {
        Rc::new(FakeHost::new().with_tool("echo", |arguments| {
            let arguments: Value = serde_json::from_str(arguments).unwrap();
            let text = arguments["text"].as_str().unwrap_or_default();
            Ok(json!({"text": text, "length": text.len()}).to_string())
        }))
    }

    #[test]
    fn call_tool_encodes_arguments_and_decodes_the_result() {
        let host = echo_host();
        let cx = Context::new(host.clone());
        let echoed: Echoed = cx.call_tool("echo", &EchoArgs { text: "hi" }).unwrap();
        assert_eq!(
            echoed,
            Echoed {
                text: "hi".to_owned(),
                length: 2
            }
        );
        assert_eq!(
            host.calls(),
            vec![("echo".to_owned(), r#"{"text":"hi"}"#.to_owned())]
        );
        let raw = cx.call_tool_raw("echo", r#"{"text":"x"}"#).unwrap();
        // Key order depends on serde_json's `preserve_order` feature, which
        // workspace feature unification may switch on: compare values.
        let raw: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(raw, json!({"length": 1, "text": "x"}));
    }

    #[test]
    fn a_result_of_the_wrong_shape_is_unexpected_result() {
        let cx = Context::new(echo_host());
        let error = cx
            .call_tool::<_, Vec<u8>>("echo", &EchoArgs { text: "hi" })
            .unwrap_err();
        assert!(
            matches!(&error, CallError::UnexpectedResult { tool, .. } if tool == "echo"),
            "{error:?}"
        );
        assert_eq!(error.kind(), "unexpected_result");
    }

    #[test]
    fn host_call_errors_reach_the_tool_and_convert_to_a_failure() {
        let cx = Context::new(FakeHost::new());
        let error = cx.call_tool::<_, Value>("missing", &json!({})).unwrap_err();
        assert_eq!(
            error,
            CallError::NotFound("no tool named `missing`".to_owned())
        );
        assert_eq!(error.kind(), "not_found");
        assert_eq!(error.message(), "no tool named `missing`");
        assert_eq!(
            ToolError::from(error),
            ToolError::Failed(
                "a nested tool call failed: tool not found: no tool named `missing`".to_owned()
            )
        );
    }

    #[test]
    fn log_sends_fields_as_a_json_object_or_nothing() {
        let host = Rc::new(FakeHost::new());
        let cx = Context::new(host.clone());
        cx.log(LogLevel::Info, "with fields", json!({"n": 1}));
        cx.log(LogLevel::Warn, "without", ());
        cx.log(LogLevel::Debug, "scalar", 7);
        let fields: Vec<_> = host.logs().into_iter().map(|l| l.fields).collect();
        assert_eq!(fields, vec![r#"{"n":1}"#, "", r#"{"value":7}"#]);
        assert_eq!(host.logs()[1].level, LogLevel::Warn);
    }

    #[test]
    fn caller_usage_and_deadline_go_through_the_host() {
        let caller = Caller {
            user: "alice".to_owned(),
            roles: vec!["mcp-user".to_owned()],
            request_id: "r-1".to_owned(),
        };
        let usage = Usage {
            fuel_consumed: 10,
            elapsed_ms: 2,
            nested_calls: 1,
        };
        let host = Rc::new(
            FakeHost::new()
                .with_caller(caller.clone())
                .with_usage(usage),
        );
        let cx = Context::new(host.clone());
        assert_eq!(cx.caller(), caller);
        assert!(cx.caller().has_role("mcp-user"));
        assert!(!cx.caller().has_role("mcp-admin"));
        assert_eq!(cx.usage(), usage);
        cx.limit_deadline(Duration::from_millis(1500));
        cx.limit_deadline(Duration::MAX);
        assert_eq!(host.deadlines(), vec![1500, u64::MAX]);
    }

    #[test]
    fn list_tools_reports_what_the_host_offers() {
        let cx = Context::new(echo_host());
        let tools = cx.list_tools();
        assert_eq!(tools.len(), 1);
        assert_eq!(tools[0].name, "echo");
        let schema: Value = serde_json::from_str(&tools[0].input_schema).unwrap();
        assert_eq!(schema["type"], "object");
    }
}
