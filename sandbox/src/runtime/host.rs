//! The `mcp:gateway/host` imports every tool gets: call another tool, list tools, log, who is
//! calling, usage so far, and bringing the deadline forward.
//!
//! Defined by hand on the linker (not through `bindgen!`'s host traits) because `usage` reads
//! the store's fuel. Every import is bounded: a nested call ends at the earlier of the host-call
//! timeout and the caller's deadline, log lines are capped in size and number.

use std::time::{Duration, Instant};

use wasmtime::StoreContextMut;
use wasmtime::component::Linker;

use super::bindings::{
    AbortReason, CallError as WitCallError, Caller as WitCaller, LogLevel, Usage,
};
use super::state::CallState;
use crate::telemetry::child_span;

const HOST_INTERFACE: &str = "mcp:gateway/host@0.1.0";
/// Longest log message kept; the rest is cut.
const LOG_MESSAGE_CAP: usize = 4 * 1024;
/// Log lines one call may write; later ones are dropped (and counted in one final line).
const LOG_LINES_CAP: u32 = 256;
/// A caller keeps 1/this of its fuel when it calls a tool, to handle the result with.
const FUEL_RESERVE_DIVISOR: u64 = 8;
/// Longest tool name a guest may ask for; longer ones are unknown without a lookup.
const TOOL_NAME_CAP: usize = 128;

pub fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    let mut host = linker.instance(HOST_INTERFACE)?;

    host.func_wrap_async(
        "call-tool",
        |mut store: StoreContextMut<'_, CallState>, (tool, arguments): (String, String)| {
            Box::new(async move {
                // A name no tool has: answer without logging or looking it up at length.
                if tool.len() > TOOL_NAME_CAP {
                    let shown = format!("{}...", untrusted(&tool, 64));
                    return Ok((Err(unavailable_tool(&shown)),));
                }
                // The tree shares one fuel budget: the callee gets at most what is left here
                // (less a reserve, so this call can still handle the callee running out), and
                // what it burns is taken from this call's fuel when it returns.
                let fuel_left = store.get_fuel().unwrap_or(0);
                let fuel_left = fuel_left - fuel_left / FUEL_RESERVE_DIVISOR;
                let cx = &store.data().context;
                let budget = cx.host_call_timeout.min(cx.remaining());
                let span = child_span!(&cx.span, "host_call", host.function = "call-tool",
                    gen_ai.tool.name = %tool, sandbox.depth = cx.depth + 1,
                    error.type = tracing::field::Empty, otel.status_code = tracing::field::Empty);
                let call = cx.dispatcher.clone().call_nested(cx, span.clone(), &tool, &arguments, fuel_left);
                let outcome = match tokio::time::timeout(budget, tracing::Instrument::instrument(call, span.clone())).await {
                    Ok(r) => r,
                    Err(_) => Err(WitCallError::Aborted(AbortReason {
                        kind: "timeout".into(),
                        message: format!(
                            "the call to tool '{tool}' did not finish within {} ms (host-call timeout or the caller's deadline)",
                            budget.as_millis()
                        ),
                    }))
                    .into(),
                };
                if outcome.fuel_consumed > 0 {
                    let left = store.get_fuel().unwrap_or(0);
                    store.set_fuel(left.saturating_sub(outcome.fuel_consumed))?;
                }
                let result = outcome.result;
                if let Err(e) = &result {
                    mcp_telemetry::record_error(&span, error_type(e));
                }
                Ok((result,))
            })
        },
    )?;

    host.func_wrap_async(
        "list-tools",
        |store: StoreContextMut<'_, CallState>, (): ()| {
            Box::new(async move {
                let cx = &store.data().context;
                let mut tools = cx.dispatcher.list_for(&cx.scope.caller);
                // The gateway's federated tools the caller may call, asked once per call tree
                // and within the host-call budget; the sandbox's own tools win a name clash.
                if let Some(callback) = &cx.scope.callback {
                    let budget = cx.host_call_timeout.min(cx.remaining());
                    let span = child_span!(&cx.span, "host_call", host.function = "list-tools");
                    let listed = callback.list(&span);
                    if let Ok(federated) = tokio::time::timeout(budget, listed).await {
                        let own: std::collections::HashSet<String> =
                            tools.iter().map(|t| t.name.clone()).collect();
                        tools.extend(federated.iter().filter(|t| !own.contains(&t.name)).cloned());
                    }
                }
                Ok((tools,))
            })
        },
    )?;

    host.func_wrap(
        "log",
        |mut store: StoreContextMut<'_, CallState>,
         (level, message, fields): (LogLevel, String, String)|
         -> wasmtime::Result<()> {
            let state = store.data_mut();
            state.log_lines += 1;
            if state.log_lines > LOG_LINES_CAP {
                if state.log_lines == LOG_LINES_CAP + 1 {
                    tracing::warn!(target: "tool", tool = %state.context.tool,
                        "tool exceeded {LOG_LINES_CAP} log lines; dropping the rest of this call's logs");
                }
                return Ok(());
            }
            emit(state, level, &untrusted(&message, LOG_MESSAGE_CAP), &untrusted(&fields, LOG_MESSAGE_CAP));
            Ok(())
        },
    )?;

    host.func_wrap(
        "caller",
        |store: StoreContextMut<'_, CallState>, (): ()| -> wasmtime::Result<(WitCaller,)> {
            let c = &store.data().context.scope.caller;
            Ok((WitCaller {
                user: c.user.clone(),
                roles: c.roles.clone(),
                request_id: c.request_id.clone(),
            },))
        },
    )?;

    host.func_wrap(
        "usage",
        |store: StoreContextMut<'_, CallState>, (): ()| -> wasmtime::Result<(Usage,)> {
            let fuel_left = store.get_fuel().unwrap_or(0);
            let state = store.data();
            Ok((Usage {
                fuel_consumed: state.fuel_limit.saturating_sub(fuel_left),
                elapsed_ms: state.context.started.elapsed().as_millis() as u64,
                nested_calls: state.context.scope.nested_calls(),
            },))
        },
    )?;

    host.func_wrap(
        "limit-deadline",
        |store: StoreContextMut<'_, CallState>, (ms,): (u64,)| -> wasmtime::Result<()> {
            let wanted = Instant::now() + Duration::from_millis(ms);
            store.data().context.deadline.shorten(wanted);
            Ok(())
        },
    )?;

    host.func_wrap(
        "fail-detail",
        |mut store: StoreContextMut<'_, CallState>, (detail,): (String,)| -> wasmtime::Result<()> {
            // Its size is bounded by the guest's memory cap; the output cap applies at the end.
            store.data_mut().fail_detail = Some(detail);
            Ok(())
        },
    )?;
    Ok(())
}

/// The answer to a call of a tool that does not exist *or* that the caller's roles do not
/// grant: the same kind and the same words for both, so code cannot probe which tools exist
/// beyond those it may use (the audit line keeps the real reason for operators).
pub fn unavailable_tool(tool: &str) -> WitCallError {
    WitCallError::NotFound(format!(
        "no tool named '{tool}' among the tools you may call; see tools.list()"
    ))
}

/// The `error.type` of a failed nested call: the sandbox error kind when the host stopped
/// the callee, else the WIT variant.
fn error_type(e: &WitCallError) -> &str {
    match e {
        WitCallError::NotFound(_) => "not_found",
        WitCallError::Forbidden(_) => "forbidden",
        WitCallError::InvalidArguments(_) => "invalid_arguments",
        WitCallError::Failed(_) => "tool_error",
        WitCallError::Aborted(reason) => &reason.kind,
        WitCallError::LimitExceeded(_) => "nested_call_limit",
    }
}

/// A string a guest (or any caller) chose, made safe for a log line: at most `cap` bytes, with
/// control characters (newlines included) escaped so it cannot forge lines or fields.
pub fn untrusted(s: &str, cap: usize) -> std::borrow::Cow<'_, str> {
    let s = truncate(s, cap);
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn truncate(s: &str, cap: usize) -> &str {
    if s.len() <= cap {
        return s;
    }
    let mut end = cap;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn emit(state: &CallState, level: LogLevel, message: &str, fields: &str) {
    let cx = &state.context;
    let (tool, user, request_id) = (
        &*cx.tool,
        &cx.scope.caller.user,
        &cx.scope.caller.request_id,
    );
    let _enter = cx.span.enter();
    macro_rules! log_at {
        ($lvl:expr) => {
            tracing::event!(target: "tool", $lvl, tool, user, request_id, fields, "{message}")
        };
    }
    match level {
        LogLevel::Trace => log_at!(tracing::Level::TRACE),
        LogLevel::Debug => log_at!(tracing::Level::DEBUG),
        LogLevel::Info => log_at!(tracing::Level::INFO),
        LogLevel::Warn => log_at!(tracing::Level::WARN),
        LogLevel::Error => log_at!(tracing::Level::ERROR),
    }
}

#[cfg(test)]
mod tests {
    use super::{truncate, untrusted};

    #[test]
    fn untrusted_strings_are_bounded_and_cannot_forge_lines() {
        assert_eq!(untrusted("plain", 64), "plain");
        assert_eq!(
            untrusted("ok\n{\"level\":\"ERROR\"}\r\u{1b}[31m", 64),
            "ok\\n{\"level\":\"ERROR\"}\\r\\u{1b}[31m"
        );
        assert_eq!(untrusted(&"x".repeat(100), 10).len(), 10);
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("hello", 10), "hello");
    }
}
