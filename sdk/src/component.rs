//! The component side of the SDK: the real host imports behind [`Host`], and the glue that
//! [`export_tools!`](crate::export_tools) uses to implement the contract's `tool` export over a
//! [`Toolbox`]. Converting between the generated WIT types and the SDK's own types happens here
//! and nowhere else.
//!
//! On a native target the imports do not exist (calling one panics), so only code running inside
//! a component may build a [`ComponentHost`]; the macro does that and nothing else does.

use crate::bindings::exports::mcp::gateway::tool as wit_tool;
use crate::bindings::mcp::gateway::{host as wit_host, types as wit};
use crate::context::{Caller, Context, Host, LogLevel, ToolSummary, Usage};
use crate::error::{CallError, ToolError};
use crate::toolbox::Toolbox;

/// The host imports of the contract.
struct ComponentHost;

impl Host for ComponentHost {
    fn call_tool(&self, name: &str, arguments: &str) -> Result<String, CallError> {
        wit_host::call_tool(name, arguments).map_err(call_error)
    }

    fn list_tools(&self) -> Vec<ToolSummary> {
        wit_host::list_tools()
            .into_iter()
            .map(|tool| ToolSummary {
                name: tool.name,
                component: tool.component,
                description: tool.description,
                input_schema: tool.input_schema,
                output_schema: tool.output_schema,
            })
            .collect()
    }

    fn log(&self, level: LogLevel, message: &str, fields: &str) {
        let level = match level {
            LogLevel::Trace => wit::LogLevel::Trace,
            LogLevel::Debug => wit::LogLevel::Debug,
            LogLevel::Info => wit::LogLevel::Info,
            LogLevel::Warn => wit::LogLevel::Warn,
            LogLevel::Error => wit::LogLevel::Error,
        };
        wit_host::log(level, message, fields);
    }

    fn caller(&self) -> Caller {
        let caller = wit_host::caller();
        Caller {
            user: caller.user,
            roles: caller.roles,
            request_id: caller.request_id,
        }
    }

    fn usage(&self) -> Usage {
        let usage = wit_host::usage();
        Usage {
            fuel_consumed: usage.fuel_consumed,
            elapsed_ms: usage.elapsed_ms,
            nested_calls: usage.nested_calls,
        }
    }

    fn limit_deadline(&self, ms: u64) {
        wit_host::limit_deadline(ms);
    }
}

fn call_error(error: wit::CallError) -> CallError {
    match error {
        wit::CallError::NotFound(message) => CallError::NotFound(message),
        wit::CallError::Forbidden(message) => CallError::Forbidden(message),
        wit::CallError::InvalidArguments(message) => CallError::InvalidArguments(message),
        wit::CallError::Failed(message) => CallError::Failed(message),
        wit::CallError::Aborted(reason) => CallError::Aborted {
            kind: reason.kind,
            message: reason.message,
        },
        wit::CallError::LimitExceeded(message) => CallError::LimitExceeded(message),
    }
}

/// `describe` of the `tool` export. A toolbox that cannot be described is a bug in the tool
/// crate: the component panics with the reason, and the host refuses to load it.
pub fn describe(toolbox: &Toolbox) -> Vec<wit_tool::ToolDescriptor> {
    let descriptions = toolbox
        .describe()
        .unwrap_or_else(|error| panic!("this tool component is invalid: {error}"));
    descriptions
        .into_iter()
        .map(|description| wit_tool::ToolDescriptor {
            name: description.name,
            title: description.title,
            description: description.description,
            input_schema: description.input_schema.to_string(),
            output_schema: description.output_schema.map(|schema| schema.to_string()),
            annotations: description.annotations.map(|annotations| {
                serde_json::to_string(&annotations).expect("annotations are plain booleans")
            }),
        })
        .collect()
}

/// `call` of the `tool` export.
pub fn call(toolbox: &Toolbox, name: &str, arguments: &str) -> Result<String, wit_tool::ToolError> {
    let cx = Context::new(ComponentHost);
    toolbox
        .call(name, arguments, &cx)
        .map_err(|error| match error {
            ToolError::InvalidArguments(message) => wit_tool::ToolError::InvalidArguments(message),
            ToolError::Failed(message) => wit_tool::ToolError::Failed(message),
        })
}
