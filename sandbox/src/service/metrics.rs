//! The sandbox's Prometheus metrics. Label values come only from the catalog (tool names) and
//! closed sets (error kinds), never from raw request input, so cardinality stays bounded.

use mcp_contract::sandbox_api::{CallStats, ErrorKind};
use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

use super::Admission;

pub fn describe() {
    metrics::describe_counter!(
        "mcp_sandbox_nested_rate_limited_total",
        "Tool calls made from code or skills refused by the caller's rate limits"
    );
    describe_histogram!(
        "mcp_sandbox_duration_seconds",
        Unit::Seconds,
        "Time to serve a tool call in the sandbox, queueing included"
    );
    describe_histogram!(
        "mcp_sandbox_fuel_consumed",
        "Fuel (wasm instructions, roughly) used per tool call"
    );
    describe_histogram!(
        "mcp_sandbox_memory_peak_bytes",
        Unit::Bytes,
        "Peak linear memory per tool call"
    );
    describe_histogram!(
        "mcp_sandbox_queue_wait_seconds",
        Unit::Seconds,
        "Time calls waited for an execution slot"
    );
    describe_counter!(
        "mcp_sandbox_calls_total",
        "Tool calls served by the sandbox, by outcome"
    );
    describe_counter!(
        "mcp_sandbox_limit_hits_total",
        "Tool calls stopped by a sandbox limit, by kind"
    );
    describe_counter!(
        "mcp_sandbox_nested_calls_total",
        "Tool calls made from inside the sandbox, by outcome"
    );
    describe_gauge!("mcp_sandbox_instances_in_use", "Execution slots in use");
    describe_counter!(
        "mcp_sandbox_http_requests_total",
        "Outbound HTTP requests of tools, by component, allowed origin (- when none matched) and outcome"
    );
    describe_counter!(
        "mcp_sandbox_reloads_total",
        "Reloads of the tool sets and policy, by result (ok; rejected: the previous state stays)"
    );
    describe_gauge!(
        "mcp_sandbox_last_reload_success_timestamp_seconds",
        Unit::Seconds,
        "When the tool sets and policy were last reloaded successfully"
    );
    describe_gauge!(
        "mcp_sandbox_queue_depth",
        "Calls waiting for an execution slot"
    );
}

/// `status` label for an outcome.
fn status(kind: Option<ErrorKind>) -> &'static str {
    kind.map_or("success", ErrorKind::as_str)
}

/// The tool label: unknown names are folded into one value.
fn tool_label(tool: &str, kind: Option<ErrorKind>) -> String {
    if kind == Some(ErrorKind::UnknownTool) {
        "unknown".to_owned()
    } else {
        tool.to_owned()
    }
}

pub fn call_finished(sandbox: &str, tool: &str, kind: Option<ErrorKind>, stats: &CallStats) {
    let tool = tool_label(tool, kind);
    histogram!("mcp_sandbox_duration_seconds", "sandbox" => sandbox.to_owned(), "tool" => tool.clone())
        .record(stats.duration_us as f64 / 1e6);
    histogram!("mcp_sandbox_queue_wait_seconds").record(stats.queue_us as f64 / 1e6);
    counter!("mcp_sandbox_calls_total", "tool" => tool.clone(), "status" => status(kind))
        .increment(1);
    if stats.fuel_consumed > 0 {
        histogram!("mcp_sandbox_fuel_consumed", "tool" => tool.clone())
            .record(stats.fuel_consumed as f64);
        histogram!("mcp_sandbox_memory_peak_bytes", "tool" => tool.clone())
            .record(stats.memory_peak as f64);
    }
    if let Some(k) = kind.filter(|k| k.is_limit()) {
        counter!("mcp_sandbox_limit_hits_total", "tool" => tool, "kind" => k.as_str()).increment(1);
    }
}

/// A call made from code refused by a rate limit (`scope`: `user` or `user_tool`).
pub fn nested_rate_limited(scope: &'static str) {
    counter!("mcp_sandbox_nested_rate_limited_total", "scope" => scope).increment(1);
}

pub fn nested_call(tool: &str, kind: Option<ErrorKind>) {
    counter!("mcp_sandbox_nested_calls_total", "tool" => tool.to_owned(), "status" => status(kind))
        .increment(1);
    if let Some(k) = kind.filter(|k| k.is_limit()) {
        counter!("mcp_sandbox_limit_hits_total", "tool" => tool.to_owned(), "kind" => k.as_str())
            .increment(1);
    }
}

pub fn in_use(admission: &Admission) {
    gauge!("mcp_sandbox_instances_in_use").set(admission.in_use() as f64);
    gauge!("mcp_sandbox_queue_depth").set(admission.queued() as f64);
}
