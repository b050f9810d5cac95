//! `mcp-telemetry`: logs and traces for `mcp-gateway` and `mcp-sandbox`.
//!
//! [`init`] installs the process's `tracing` subscriber: the log layer on stderr (text or
//! JSON, filtered by `RUST_LOG`) and, when an OTLP endpoint is configured in the standard
//! `OTEL_*` variables ([`config`]), a tracing-opentelemetry layer that turns the binaries'
//! spans into OpenTelemetry spans. Finished spans go through a bounded queue to a dedicated
//! export thread ([`export`]), so an exporter that is down or slow never slows or fails a
//! request: spans are dropped and counted instead. [`propagation`] carries W3C trace context
//! across the gateway -> sandbox hop. The span steps both binaries share (a server span
//! continuing the caller's trace, child spans, marking a failure) are [`server_span!`],
//! [`child_span!`] and [`record_error`].
//!
//! With no endpoint there is no exporter, no OpenTelemetry layer and no export thread;
//! [`exporting`] is `false`, and the binaries then create no trace-only spans at all.
//!
//! This crate owns no span names or attributes: each binary decides what it traces.

pub mod config;
pub mod export;
mod otlp;
pub mod propagation;
mod spans;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter as _};
use tracing::{Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

pub use config::{ConfigError, TraceSettings};
pub use export::{StatsSnapshot, describe_metrics};
pub use otlp::{BuildCause, BuildError, HeaderError};
pub use spans::record_error;

/// What the exported macros name; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use tracing;
}

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported. Callers skip creating trace-only spans when it is `false`.
#[inline]
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Renames `span` in the exported trace (its `tracing` name is static; an `otel.name` field
/// recorded after the span has started is not applied, this is).
pub fn rename(span: &tracing::Span, name: impl Into<std::borrow::Cow<'static, str>>) {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    if span.is_disabled() {
        return;
    }
    span.context().span().update_name(name.into());
}

/// Log output format on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// What a binary tells [`init`] about itself.
#[derive(Debug, Clone)]
pub struct Options {
    /// `service.name` unless `OTEL_SERVICE_NAME` says otherwise; also the tracer's name.
    pub service_name: &'static str,
    pub service_version: &'static str,
    pub log_format: LogFormat,
    /// Log filter when `RUST_LOG` is unset.
    pub default_log_filter: &'static str,
    /// Targets (crate paths) whose INFO-and-above spans are exported. Other crates' spans
    /// (HTTP clients, runtimes, the exporter's own) never are.
    pub span_targets: &'static [&'static str],
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("OpenTelemetry configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("OpenTelemetry export: {0}")]
    Export(#[from] export::StartError),
}

/// The running telemetry; [`Telemetry::shutdown`] flushes queued spans when the process ends.
pub struct Telemetry {
    export: Option<Exporting>,
}

struct Exporting {
    handle: export::ExportHandle,
    provider: SdkTracerProvider,
    settings: TraceSettings,
}

impl Telemetry {
    /// Where and how spans are exported, if they are.
    pub fn settings(&self) -> Option<&TraceSettings> {
        self.export.as_ref().map(|e| &e.settings)
    }

    pub fn stats(&self) -> Option<StatsSnapshot> {
        self.export.as_ref().map(|e| e.handle.stats())
    }

    /// Exports what is queued and stops the export thread, waiting at most `bound` (blocking
    /// the calling thread). Spans ending afterwards are not exported.
    pub fn shutdown(&self, bound: Duration) {
        let Some(e) = &self.export else { return };
        EXPORTING.store(false, Ordering::Relaxed);
        match e.handle.shutdown(bound) {
            Ok(()) => tracing::debug!(stats = ?e.handle.stats(), "trace export flushed"),
            Err(err) => tracing::warn!(error = %err, "trace export not flushed at shutdown"),
        }
        // The worker has stopped; the provider's own shutdown only marks it shut.
        let _ = e.provider.shutdown_with_timeout(Duration::from_millis(1));
    }
}

/// Installs logging and, if configured in the process environment, trace export.
pub fn init(opts: &Options) -> Result<Telemetry, InitError> {
    init_with_env(opts, std::env::vars())
}

/// As [`init`], with the `OTEL_*` variables taken from `env` (`RUST_LOG` is still read from
/// the process environment).
pub fn init_with_env<I, K, V>(opts: &Options, env: I) -> Result<Telemetry, InitError>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    let Some(settings) = TraceSettings::from_env(env, opts.service_name)? else {
        init_logs(opts.log_format, opts.default_log_filter);
        return Ok(Telemetry { export: None });
    };
    let resource = resource(opts, &settings);
    let build = {
        let settings = settings.clone();
        let resource = resource.clone();
        move || {
            let mut exporter = otlp::build(&settings)?;
            exporter.set_resource(&resource);
            Ok(exporter)
        }
    };
    let (processor, handle) = export::start(settings.batch, settings.endpoint.clone(), build)?;
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(settings.sampler.to_sampler())
        .with_resource(resource)
        .build();
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(opts.service_name))
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_context_activation(false)
        .with_target(false)
        .with_filter(span_filter(opts.span_targets));
    let installed = tracing_subscriber::registry()
        .with(log_layer(
            opts.log_format,
            opts.default_log_filter,
            opts.span_targets,
        ))
        .with(otel)
        .try_init()
        .is_ok();
    if !installed {
        // Another subscriber is already global (tests): nothing would reach this exporter.
        let _ = handle.shutdown(Duration::from_millis(100));
        return Ok(Telemetry { export: None });
    }
    EXPORTING.store(true, Ordering::Relaxed);
    tracing::info!(
        endpoint = %settings.endpoint,
        protocol = settings.protocol.as_str(),
        sampler = %settings.sampler,
        service = %settings.service_name,
        queue = settings.batch.max_queue_size,
        "exporting OpenTelemetry traces"
    );
    Ok(Telemetry {
        export: Some(Exporting {
            handle,
            provider,
            settings,
        }),
    })
}

/// Installs the log layer only (for short-lived commands that export nothing).
pub fn init_logs(format: LogFormat, default_filter: &str) {
    let _ = tracing_subscriber::registry()
        .with(log_layer(format, default_filter, &[]))
        .try_init();
}

/// The log layer: events filtered by `RUST_LOG`. It does not see the exported spans of
/// `trace_targets` (they exist for traces; formatting their fields for logs nobody reads would
/// cost every request), so log lines carry their own fields rather than span context.
fn log_layer<S>(
    format: LogFormat,
    default_filter: &str,
    trace_targets: &'static [&'static str],
) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    use tracing_subscriber::filter::FilterExt as _;
    // The closure must carry a level hint: a filter without one makes the whole subscriber's
    // hint TRACE, which `try_init` hands to the `log` crate as its max level, and then every
    // `log::trace!` of a dependency (cranelift has them in its compile loops) goes through
    // this filter instead of being skipped by one comparison. Measured (debug build, load ~6):
    // a cold `mcp-sandbox serve` of the examples tool set spent 144 s of CPU compiling, against
    // 35 s for `mcp-sandbox tool compile` of the same files; 34 s with the hint.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_filter))
        .and(
            tracing_subscriber::filter::filter_fn(move |meta| {
                !(meta.is_span() && trace_targets.iter().any(|t| in_target(meta.target(), t)))
            })
            .with_max_level_hint(LevelFilter::TRACE),
        );
    // Colours only for a person at a terminal, never into files or log collectors.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => layer.with_filter(filter).boxed(),
        LogFormat::Json => layer.json().flatten_event(true).with_filter(filter).boxed(),
    }
}

/// Spans (never events: those may carry tool output) at INFO and above from `targets`.
fn span_filter(
    targets: &'static [&'static str],
) -> tracing_subscriber::filter::FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    // The hint keeps `log` records below INFO cheap while traces are exported (see
    // `log_layer`).
    tracing_subscriber::filter::filter_fn(move |meta| {
        meta.is_span()
            && *meta.level() <= Level::INFO
            && targets.iter().any(|t| in_target(meta.target(), t))
    })
    .with_max_level_hint(LevelFilter::INFO)
}

/// Whether `target` is the module path `crate_path` or one below it.
fn in_target(target: &str, crate_path: &str) -> bool {
    target
        .strip_prefix(crate_path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

fn resource(opts: &Options, settings: &TraceSettings) -> Resource {
    let mut attributes = vec![
        KeyValue::new("service.version", opts.service_version),
        KeyValue::new("telemetry.sdk.language", "rust"),
        KeyValue::new("telemetry.sdk.name", "opentelemetry"),
    ];
    attributes.extend(
        settings
            .resource
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
    );
    Resource::builder_empty()
        .with_service_name(settings.service_name.clone())
        .with_attributes(attributes)
        .build()
}

/// Drains the Prometheus recorder's histogram buffers every few seconds. Without it (the
/// recorder installed with `install_recorder`), histogram samples pile up between scrapes, and
/// forever when nothing scrapes: memory grows with every request.
pub fn spawn_metrics_upkeep(handle: metrics_exporter_prometheus::PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(5));
                handle.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the metrics upkeep thread; histogram memory will grow");
    }
}

/// An error and its causes as one log line, each said once: a library error often quotes its
/// source in its own message (`cannot read X: <io error>`) and keeps it as `source()` too.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut next = Some(e);
    while let Some(cause) = next {
        let said = cause.to_string();
        if !text.contains(&said) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&said);
        }
        next = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a hint the `log` crate's max level becomes TRACE at `try_init`, and every
    /// `log::trace!` in cranelift's compile loops is dispatched and filtered.
    #[test]
    fn log_filters_carry_a_level_hint_so_log_trace_records_are_skipped_cheaply() {
        let layer = log_layer::<tracing_subscriber::Registry>(
            LogFormat::Text,
            "info,wasmtime=warn,cranelift=warn",
            &["mcp_gateway"],
        );
        let hint = layer.max_level_hint();
        assert!(hint.is_some(), "the log layer gives no level hint");
        if std::env::var_os("RUST_LOG").is_none() {
            assert_eq!(hint, Some(LevelFilter::INFO));
        }
        let spans = span_filter(&["mcp_gateway"]);
        assert_eq!(
            tracing_subscriber::layer::Filter::<tracing_subscriber::Registry>::max_level_hint(
                &spans
            ),
            Some(LevelFilter::INFO)
        );
    }

    #[test]
    fn span_targets_match_whole_path_segments() {
        assert!(in_target("mcp_gateway", "mcp_gateway"));
        assert!(in_target("mcp_gateway::observe::trace", "mcp_gateway"));
        assert!(!in_target("mcp_gateway_auth::keys", "mcp_gateway"));
        assert!(!in_target("h2::proto", "mcp_gateway"));
    }
}
