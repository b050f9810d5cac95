//! Logs, metrics and trace spans of the sandbox process.
//!
//! Logging and OTLP trace export are set up by [`mcp_telemetry`] from the standard `OTEL_*`
//! variables. Spans exist only while traces are exported ([`mcp_telemetry::exporting`]); with
//! export off every span here is [`tracing::Span::none`], which costs nothing.
//!
//! The trace of one call: `sandbox.call` (server, parented to the gateway's `traceparent`) ->
//! `queue_wait`, `instantiate`, `guest_run` -> for each tool the guest calls, `host_call` ->
//! that tool's `instantiate` and `guest_run`, and so on down. Arguments and results are never
//! recorded.

use axum::http::HeaderMap;
use mcp_contract::sandbox_api::{CallRequest, CallResponse};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::field::Empty;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl From<LogFormat> for mcp_telemetry::LogFormat {
    fn from(f: LogFormat) -> Self {
        match f {
            LogFormat::Text => mcp_telemetry::LogFormat::Text,
            LogFormat::Json => mcp_telemetry::LogFormat::Json,
        }
    }
}

/// Log filter when `RUST_LOG` is unset.
const DEFAULT_LOG_FILTER: &str = "info,wasmtime=warn,cranelift=warn";

/// Installs the log subscriber (to stderr; `RUST_LOG` overrides the default level) and, when
/// an OTLP endpoint is configured, trace export.
pub fn init(format: LogFormat) -> Result<mcp_telemetry::Telemetry, mcp_telemetry::InitError> {
    mcp_telemetry::init(&mcp_telemetry::Options {
        service_name: "mcp-sandbox",
        service_version: env!("CARGO_PKG_VERSION"),
        log_format: format.into(),
        default_log_filter: DEFAULT_LOG_FILTER,
        span_targets: &["mcp_sandbox"],
    })
}

/// Installs the log subscriber only (for commands that export nothing).
pub fn init_logging(format: LogFormat) {
    mcp_telemetry::init_logs(format.into(), DEFAULT_LOG_FILTER);
}

/// Latency buckets (seconds) for the duration histograms: 100 µs to 60 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// Installs the Prometheus recorder and returns the handle that renders `/metrics`.
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    let fuel_buckets: Vec<f64> = (3..=11).map(|e| 10f64.powi(e)).collect();
    let memory_buckets: Vec<f64> = (16..=30).step_by(2).map(|e| 2f64.powi(e)).collect();
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full("mcp_sandbox_fuel_consumed".into()),
            &fuel_buckets,
        )?
        .set_buckets_for_metric(
            Matcher::Full("mcp_sandbox_memory_peak_bytes".into()),
            &memory_buckets,
        )?
        .install_recorder()?;
    mcp_telemetry::describe_metrics();
    mcp_telemetry::spawn_metrics_upkeep(handle.clone());
    Ok(handle)
}

/// The server span of one call, child of the caller's span when the request carries a
/// `traceparent`. Records the tool and the user, never the arguments.
pub fn call_span(headers: &HeaderMap, req: &CallRequest<'_>) -> tracing::Span {
    mcp_telemetry::server_span!(
        headers,
        "sandbox.call",
        otel.kind = "server",
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = %req.tool,
        enduser.id = %req.user,
        mcp.request.id = req.request_id.as_deref().unwrap_or(""),
        sandbox.depth = 0,
        sandbox.fuel_consumed = Empty,
        sandbox.memory_peak = Empty,
        sandbox.nested_calls = Empty,
        sandbox.outcome = Empty,
        error.type = Empty,
        otel.status_code = Empty,
    )
}

/// Records how a call ended on its server span.
pub fn record_call(span: &tracing::Span, resp: &CallResponse) {
    if span.is_disabled() {
        return;
    }
    span.record("sandbox.fuel_consumed", resp.stats.fuel_consumed);
    span.record("sandbox.memory_peak", resp.stats.memory_peak);
    span.record("sandbox.nested_calls", resp.stats.nested_calls);
    match &resp.error {
        None => {
            span.record("sandbox.outcome", "success");
        }
        Some(e) => {
            span.record("sandbox.outcome", e.kind.as_str());
            mcp_telemetry::record_error(span, e.kind.as_str());
        }
    }
}

/// An INFO span under a parent span, or none while traces are off (one definition for both
/// binaries, in [`mcp_telemetry`]).
pub(crate) use mcp_telemetry::child_span;
