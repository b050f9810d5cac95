//! A fake host for testing tools natively (`cargo test`), without a sandbox: it answers nested
//! tool calls with functions you register, reports a caller of your choice and records what the
//! tool logged and which deadlines it asked for.
//!
//! ```
//! use std::rc::Rc;
//! use mcp_tool_sdk::prelude::*;
//! use mcp_tool_sdk::testing::FakeHost;
//!
//! let host = Rc::new(FakeHost::new().with_tool("echo", |arguments| Ok(arguments.to_owned())));
//! let cx = Context::new(host.clone());
//! let echoed: serde_json::Value = cx.call_tool("echo", &serde_json::json!({"text": "hi"})).unwrap();
//! assert_eq!(echoed["text"], "hi");
//! assert_eq!(host.calls(), vec![("echo".to_owned(), r#"{"text":"hi"}"#.to_owned())]);
//! ```

use std::cell::RefCell;

use crate::context::{Caller, Host, LogLevel, ToolSummary, Usage};
use crate::error::CallError;
use crate::schema;
use crate::tool::NoArgs;

type Responder = Box<dyn Fn(&str) -> Result<String, CallError>>;

/// One line the tool logged through the fake host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The line's severity.
    pub level: LogLevel,
    /// The logged text.
    pub message: String,
    /// JSON object text, or empty.
    pub fields: String,
}

/// A [`Host`] for tests. Tools not registered with [`FakeHost::with_tool`] are `not-found`.
pub struct FakeHost {
    caller: Caller,
    usage: Usage,
    tools: Vec<(ToolSummary, Responder)>,
    calls: RefCell<Vec<(String, String)>>,
    logs: RefCell<Vec<LogRecord>>,
    deadlines: RefCell<Vec<u64>>,
}

impl Default for FakeHost {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeHost {
    /// A host with caller `test-user` (no roles, request id `test-request`) and no tools.
    pub fn new() -> Self {
        Self {
            caller: Caller {
                user: "test-user".to_owned(),
                roles: Vec::new(),
                request_id: "test-request".to_owned(),
            },
            usage: Usage::default(),
            tools: Vec::new(),
            calls: RefCell::default(),
            logs: RefCell::default(),
            deadlines: RefCell::default(),
        }
    }

    /// Reports `caller` as the caller.
    pub fn with_caller(mut self, caller: Caller) -> Self {
        self.caller = caller;
        self
    }

    /// Reports `usage` as the resources used so far.
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = usage;
        self
    }

    /// Answers calls to `name` with `respond(arguments_json)`.
    pub fn with_tool(
        mut self,
        name: &str,
        respond: impl Fn(&str) -> Result<String, CallError> + 'static,
    ) -> Self {
        let summary = ToolSummary {
            name: name.to_owned(),
            component: "fake".to_owned(),
            description: format!("A fake `{name}`"),
            input_schema: schema::arguments_schema::<NoArgs>().to_value().to_string(),
            output_schema: None,
        };
        self.tools.push((summary, Box::new(respond)));
        self
    }

    /// The nested calls made so far, as `(tool, arguments JSON)`.
    pub fn calls(&self) -> Vec<(String, String)> {
        self.calls.borrow().clone()
    }

    /// The lines logged so far.
    pub fn logs(&self) -> Vec<LogRecord> {
        self.logs.borrow().clone()
    }

    /// The deadlines (ms from then) the tool asked for so far.
    pub fn deadlines(&self) -> Vec<u64> {
        self.deadlines.borrow().clone()
    }
}

impl Host for FakeHost {
    fn call_tool(&self, name: &str, arguments: &str) -> Result<String, CallError> {
        self.calls
            .borrow_mut()
            .push((name.to_owned(), arguments.to_owned()));
        match self.tools.iter().find(|(summary, _)| summary.name == name) {
            Some((_, respond)) => respond(arguments),
            None => Err(CallError::NotFound(format!("no tool named `{name}`"))),
        }
    }

    fn list_tools(&self) -> Vec<ToolSummary> {
        self.tools
            .iter()
            .map(|(summary, _)| summary.clone())
            .collect()
    }

    fn log(&self, level: LogLevel, message: &str, fields: &str) {
        self.logs.borrow_mut().push(LogRecord {
            level,
            message: message.to_owned(),
            fields: fields.to_owned(),
        });
    }

    fn caller(&self) -> Caller {
        self.caller.clone()
    }

    fn usage(&self) -> Usage {
        self.usage
    }

    fn limit_deadline(&self, ms: u64) {
        self.deadlines.borrow_mut().push(ms);
    }
}
