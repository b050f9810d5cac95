//! Logs, metrics and trace spans of the sandbox process.

use axum::http::HeaderMap;
use mcp_contract::sandbox_api::CallRequest;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global log subscriber (to stderr). `RUST_LOG` overrides the default level.
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,wasmtime=warn,cranelift=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
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
    Ok(handle)
}

/// The server span of one call. Arguments are never recorded.
pub fn call_span(headers: &HeaderMap, req: &CallRequest<'_>) -> tracing::Span {
    let traceparent = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "sandbox.call",
        gen_ai.tool.name = %req.tool,
        enduser.id = %req.user,
        mcp.request.id = req.request_id.as_deref().unwrap_or(""),
        traceparent,
        sandbox.fuel_consumed = tracing::field::Empty,
        sandbox.memory_peak = tracing::field::Empty,
    )
}
