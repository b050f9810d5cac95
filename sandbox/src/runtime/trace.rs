//! The spans of one run of a guest: `instantiate`, then `guest_run` (created once the
//! instance is up, so the two do not overlap), both under the call's parent span. With trace
//! export off the parent is none and so are these.

use mcp_contract::sandbox_api::CallError;
use tracing::Span;
use tracing::field::Empty;

use super::state::CallContext;
use crate::telemetry::child_span;

pub fn instantiate(cx: &CallContext) -> Span {
    child_span!(&cx.parent_span, "instantiate", gen_ai.tool.name = %cx.tool, sandbox.depth = cx.depth)
}

pub fn guest_run(cx: &CallContext) -> Span {
    child_span!(
        &cx.parent_span,
        "guest_run",
        gen_ai.tool.name = %cx.tool,
        enduser.id = %cx.scope.caller.user,
        sandbox.depth = cx.depth,
        sandbox.fuel_consumed = Empty,
        sandbox.memory_peak = Empty,
        sandbox.outcome = Empty,
        error.type = Empty,
        otel.status_code = Empty,
    )
}

/// Records how the run ended on its `guest_run` span (or, if the guest never started, on
/// nothing: the parent span records the failure).
pub fn record_run(
    span: &Span,
    outcome: &Result<serde_json::Value, CallError>,
    fuel: u64,
    memory: u64,
) {
    if span.is_disabled() {
        return;
    }
    span.record("sandbox.fuel_consumed", fuel);
    span.record("sandbox.memory_peak", memory);
    match outcome {
        Ok(_) => {
            span.record("sandbox.outcome", "success");
        }
        Err(e) => {
            span.record("sandbox.outcome", e.kind.as_str());
            mcp_telemetry::record_error(span, e.kind.as_str());
        }
    }
}
