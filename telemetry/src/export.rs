//! The span export pipeline: a [`SpanProcessor`] that puts finished spans in a bounded queue
//! and a worker thread, with its own small Tokio runtime, that drains the queue in batches to
//! the exporter.
//!
//! Request threads never wait on the exporter: `on_end` is a non-blocking `try_send`, and a
//! full queue (the exporter is down, slow or stuck) drops the span and counts it in
//! `otel_spans_dropped_total{reason="queue_full"}`. A failed or timed-out export drops its
//! batch (`reason="export_failed"`) and counts `otel_export_failures_total`; exported spans
//! count in `otel_spans_exported_total`. The SDK's own `BatchSpanProcessor` does not expose
//! its drops, hence this one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use tokio::sync::mpsc;

use crate::config::BatchSettings;

/// Metric names.
pub const SPANS_DROPPED: &str = "otel_spans_dropped_total";
pub const SPANS_EXPORTED: &str = "otel_spans_exported_total";
pub const EXPORT_FAILURES: &str = "otel_export_failures_total";

/// How often at most a failing export is logged.
const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(30);

/// Counts of what happened to finished spans; mirrored in the Prometheus counters.
#[derive(Debug, Default)]
pub struct ExportStats {
    exported: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_export_failed: AtomicU64,
    failed_batches: AtomicU64,
}

/// A snapshot of [`ExportStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    pub exported: u64,
    pub dropped_queue_full: u64,
    pub dropped_export_failed: u64,
    pub failed_batches: u64,
}

impl ExportStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            exported: self.exported.load(Ordering::Relaxed),
            dropped_queue_full: self.dropped_queue_full.load(Ordering::Relaxed),
            dropped_export_failed: self.dropped_export_failed.load(Ordering::Relaxed),
            failed_batches: self.failed_batches.load(Ordering::Relaxed),
        }
    }

    fn queue_full(&self) {
        self.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(SPANS_DROPPED, "reason" => "queue_full").increment(1);
    }

    fn exported(&self, n: u64) {
        self.exported.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(SPANS_EXPORTED).increment(n);
    }

    fn failed(&self, n: u64) {
        self.failed_batches.fetch_add(1, Ordering::Relaxed);
        self.dropped_export_failed.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(EXPORT_FAILURES).increment(1);
        metrics::counter!(SPANS_DROPPED, "reason" => "export_failed").increment(n);
    }
}

/// Registers the counters at zero (so dashboards see them before the first drop) and
/// describes them. Call after the metrics recorder is installed.
pub fn describe_metrics() {
    metrics::describe_counter!(
        SPANS_DROPPED,
        "Finished trace spans dropped before export, by reason (queue_full, export_failed)"
    );
    metrics::describe_counter!(SPANS_EXPORTED, "Trace spans exported to the OTLP endpoint");
    metrics::describe_counter!(
        EXPORT_FAILURES,
        "Span batches the OTLP endpoint did not accept in time"
    );
    metrics::counter!(SPANS_DROPPED, "reason" => "queue_full").absolute(0);
    metrics::counter!(SPANS_DROPPED, "reason" => "export_failed").absolute(0);
    metrics::counter!(SPANS_EXPORTED).absolute(0);
    metrics::counter!(EXPORT_FAILURES).absolute(0);
}

enum Control {
    /// Export everything queued so far, then answer.
    Flush(std::sync::mpsc::SyncSender<()>),
    /// As `Flush`, then shut the exporter down and stop.
    Shutdown(std::sync::mpsc::SyncSender<()>),
}

/// The caller's side of the worker: flush and shut down, with a bound on the wait.
#[derive(Clone, Debug)]
pub struct ExportHandle {
    control: mpsc::UnboundedSender<Control>,
    stats: Arc<ExportStats>,
}

impl ExportHandle {
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Exports what is queued; waits at most `bound` (blocking the calling thread).
    pub fn flush(&self, bound: Duration) -> OTelSdkResult {
        self.request(Control::Flush, bound)
    }

    /// Exports what is queued and stops the worker; waits at most `bound`.
    pub fn shutdown(&self, bound: Duration) -> OTelSdkResult {
        self.request(Control::Shutdown, bound)
    }

    fn request(
        &self,
        make: fn(std::sync::mpsc::SyncSender<()>) -> Control,
        bound: Duration,
    ) -> OTelSdkResult {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.control
            .send(make(tx))
            .map_err(|_| OTelSdkError::AlreadyShutdown)?;
        rx.recv_timeout(bound).map_err(|e| match e {
            std::sync::mpsc::RecvTimeoutError::Timeout => OTelSdkError::Timeout(bound),
            std::sync::mpsc::RecvTimeoutError::Disconnected => OTelSdkError::AlreadyShutdown,
        })
    }
}

/// The [`SpanProcessor`] given to the tracer provider.
#[derive(Debug)]
pub struct QueueProcessor {
    queue: mpsc::Sender<SpanData>,
    handle: ExportHandle,
    flush_bound: Duration,
}

impl SpanProcessor for QueueProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = self.queue.try_send(span) {
            self.handle.stats.queue_full();
        }
        // Closed: the worker has shut down; spans ending during process exit are let go.
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.handle.flush(self.flush_bound)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.handle.shutdown(timeout)
    }
}

/// Why the pipeline could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot start the span export thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("cannot start its runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Exporter(#[from] crate::otlp::BuildError),
    #[error("the export thread ended while building the exporter")]
    ThreadEnded,
}

/// Starts the worker thread, builds the exporter there with `build` (inside the worker's
/// runtime, which gRPC channels need), and returns the processor for the tracer provider.
pub fn start<E, F>(
    batch: BatchSettings,
    target: String,
    build: F,
) -> Result<(QueueProcessor, ExportHandle), StartError>
where
    E: SpanExporter + 'static,
    F: FnOnce() -> Result<E, crate::otlp::BuildError> + Send + 'static,
{
    let (queue, spans) = mpsc::channel(batch.max_queue_size);
    let (control, control_rx) = mpsc::unbounded_channel();
    let stats = Arc::new(ExportStats::default());
    let handle = ExportHandle {
        control,
        stats: stats.clone(),
    };
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<Result<(), StartError>>(1);
    std::thread::Builder::new()
        .name("otel-export".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(StartError::Runtime(e)));
                    return;
                }
            };
            let exporter = {
                let _in_runtime = rt.enter();
                build()
            };
            let exporter = match exporter {
                Ok(e) => {
                    let _ = ready_tx.send(Ok(()));
                    e
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(StartError::Exporter(e)));
                    return;
                }
            };
            let worker = Worker {
                exporter,
                spans,
                control: control_rx,
                batch,
                stats,
                target,
                last_failure_log: None,
                failures_since_log: 0,
            };
            rt.block_on(worker.run());
        })
        .map_err(StartError::Thread)?;
    match ready_rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(StartError::ThreadEnded),
    }
    let processor = QueueProcessor {
        queue,
        handle: handle.clone(),
        flush_bound: batch.export_timeout,
    };
    Ok((processor, handle))
}

struct Worker<E> {
    exporter: E,
    spans: mpsc::Receiver<SpanData>,
    control: mpsc::UnboundedReceiver<Control>,
    batch: BatchSettings,
    stats: Arc<ExportStats>,
    /// Where spans go, for log lines.
    target: String,
    last_failure_log: Option<Instant>,
    failures_since_log: u64,
}

impl<E: SpanExporter> Worker<E> {
    async fn run(mut self) {
        let max = self.batch.max_export_batch_size;
        let mut batch: Vec<SpanData> = Vec::with_capacity(max);
        let mut tick = tokio::time::interval(self.batch.scheduled_delay);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let room = max - batch.len();
            tokio::select! {
                biased;
                control = self.control.recv() => {
                    self.drain(&mut batch).await;
                    match control {
                        Some(Control::Flush(done)) => {
                            let _ = done.send(());
                        }
                        Some(Control::Shutdown(done)) => {
                            let _ = self.exporter.shutdown();
                            let _ = done.send(());
                            return;
                        }
                        None => return,
                    }
                }
                received = self.spans.recv_many(&mut batch, room) => {
                    if received == 0 {
                        // Every sender is gone: the provider was dropped.
                        self.export(&mut batch).await;
                        return;
                    }
                    if batch.len() >= max {
                        self.export(&mut batch).await;
                    }
                }
                _ = tick.tick() => self.export(&mut batch).await,
            }
        }
    }

    /// Exports everything queued right now.
    async fn drain(&mut self, batch: &mut Vec<SpanData>) {
        while let Ok(span) = self.spans.try_recv() {
            batch.push(span);
            if batch.len() >= self.batch.max_export_batch_size {
                self.export(batch).await;
            }
        }
        self.export(batch).await;
    }

    async fn export(&mut self, batch: &mut Vec<SpanData>) {
        if batch.is_empty() {
            return;
        }
        let spans = std::mem::replace(batch, Vec::with_capacity(self.batch.max_export_batch_size));
        let n = spans.len() as u64;
        let result =
            tokio::time::timeout(self.batch.export_timeout, self.exporter.export(spans)).await;
        let error = match result {
            Ok(Ok(())) => {
                self.stats.exported(n);
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!(
                "no answer within {} ms (OTEL_BSP_EXPORT_TIMEOUT)",
                self.batch.export_timeout.as_millis()
            ),
        };
        self.stats.failed(n);
        self.failures_since_log += 1;
        let due = self
            .last_failure_log
            .is_none_or(|at| at.elapsed() >= FAILURE_LOG_INTERVAL);
        if due {
            let s = self.stats.snapshot();
            tracing::warn!(
                target: "mcp_telemetry",
                endpoint = %self.target,
                failed_batches = self.failures_since_log,
                dropped_total = s.dropped_queue_full + s.dropped_export_failed,
                "cannot export trace spans: {error}; requests are not affected, spans are dropped"
            );
            self.last_failure_log = Some(Instant::now());
            self.failures_since_log = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use opentelemetry::trace::{Span as _, Tracer, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;

    use super::*;

    /// An exporter whose export never finishes.
    #[derive(Debug)]
    struct Stuck;

    impl SpanExporter for Stuck {
        async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
            std::future::pending().await
        }
    }

    /// An exporter that refuses every batch at once.
    #[derive(Debug)]
    struct Refusing;

    impl SpanExporter for Refusing {
        async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
            Err(OTelSdkError::InternalFailure("connection refused".into()))
        }
    }

    /// An exporter that keeps what it gets.
    #[derive(Debug, Clone, Default)]
    struct Collecting(Arc<Mutex<Vec<String>>>);

    impl SpanExporter for Collecting {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            let mut names = self.0.lock().unwrap();
            names.extend(batch.into_iter().map(|s| s.name.into_owned()));
            Ok(())
        }
    }

    fn batch(queue: usize, size: usize, export_timeout: Duration) -> BatchSettings {
        BatchSettings {
            max_queue_size: queue,
            scheduled_delay: Duration::from_millis(10),
            max_export_batch_size: size,
            export_timeout,
        }
    }

    fn provider(processor: QueueProcessor) -> SdkTracerProvider {
        SdkTracerProvider::builder()
            .with_span_processor(processor)
            .build()
    }

    fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_stuck_exporter_fills_the_queue_and_further_spans_are_dropped_without_blocking() {
        let (processor, handle) =
            start(batch(8, 4, Duration::from_secs(60)), "test".into(), || {
                Ok(Stuck)
            })
            .unwrap();
        let provider = provider(processor);
        let tracer = provider.tracer("test");
        // The first batch is taken by the worker and stuck in export.
        for _ in 0..4 {
            tracer.start("first").end();
        }
        wait_until("the worker to take the first batch", || {
            tracer.start("probe").end();
            handle.stats().dropped_queue_full > 0
        });
        let before = handle.stats().dropped_queue_full;
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let prometheus = recorder.handle();
        let started = Instant::now();
        metrics::with_local_recorder(&recorder, || {
            for _ in 0..10_000 {
                tracer.start("request").end();
            }
        });
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_secs(1),
            "ending 10k spans took {elapsed:?} with a stuck exporter"
        );
        let s = handle.stats();
        assert_eq!(s.dropped_queue_full - before, 10_000, "{s:?}");
        assert_eq!(s.exported, 0);
        let rendered = prometheus.render();
        assert!(
            rendered.contains("otel_spans_dropped_total{reason=\"queue_full\"} 10000"),
            "{rendered}"
        );
        // Flushing waits behind the stuck export, but only as long as the caller allows.
        let started = Instant::now();
        assert!(matches!(
            handle.flush(Duration::from_millis(50)),
            Err(OTelSdkError::Timeout(_))
        ));
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(
            provider
                .shutdown_with_timeout(Duration::from_millis(10))
                .is_err()
        );
    }

    #[test]
    fn a_failing_exporter_counts_failed_batches_and_their_spans() {
        let (processor, handle) =
            start(batch(64, 5, Duration::from_secs(5)), "test".into(), || {
                Ok(Refusing)
            })
            .unwrap();
        let provider = provider(processor);
        let tracer = provider.tracer("test");
        for _ in 0..10 {
            tracer.start("s").end();
        }
        handle.flush(Duration::from_secs(5)).unwrap();
        let s = handle.stats();
        assert_eq!(s.dropped_export_failed, 10, "{s:?}");
        assert_eq!(s.failed_batches, 2, "{s:?}");
        assert_eq!((s.exported, s.dropped_queue_full), (0, 0));
    }

    #[test]
    fn a_slow_exporter_times_out_and_the_worker_carries_on() {
        #[derive(Debug)]
        struct SlowThenFine(std::sync::atomic::AtomicBool);
        impl SpanExporter for SlowThenFine {
            async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
                if !self.0.swap(true, Ordering::SeqCst) {
                    std::future::pending::<()>().await;
                }
                Ok(())
            }
        }
        let (processor, handle) = start(
            batch(64, 1, Duration::from_millis(100)),
            "test".into(),
            || Ok(SlowThenFine(false.into())),
        )
        .unwrap();
        let provider = provider(processor);
        let tracer = provider.tracer("test");
        tracer.start("times-out").end();
        wait_until("the first export to time out", || {
            handle.stats().failed_batches == 1
        });
        tracer.start("goes-through").end();
        handle.flush(Duration::from_secs(5)).unwrap();
        assert_eq!(handle.stats().exported, 1);
    }

    #[test]
    fn spans_are_exported_in_batches_and_flushed_on_shutdown() {
        let sink = Collecting::default();
        let exporter = sink.clone();
        let (processor, handle) = start(
            BatchSettings {
                scheduled_delay: Duration::from_secs(3600),
                ..batch(64, 3, Duration::from_secs(5))
            },
            "test".into(),
            move || Ok(exporter),
        )
        .unwrap();
        let provider = provider(processor);
        let tracer = provider.tracer("test");
        for name in ["a", "b", "c"] {
            tracer.start(name).end();
        }
        // A full batch goes out without waiting for the (hour-long) delay.
        wait_until("a full batch to be exported", || {
            handle.stats().exported == 3
        });
        tracer.start("d").end();
        handle.shutdown(Duration::from_secs(5)).unwrap();
        assert_eq!(*sink.0.lock().unwrap(), ["a", "b", "c", "d"]);
        assert_eq!(handle.stats().exported, 4);
        // After shutdown, ending spans is harmless.
        tracer.start("late").end();
    }

    #[test]
    fn an_exporter_that_cannot_be_built_fails_the_start() {
        let err = start::<Stuck, _>(BatchSettings::default(), "test".into(), || {
            Err(crate::otlp::BuildError {
                protocol: "grpc",
                endpoint: "http://collector:4317".into(),
                cause: crate::otlp::BuildCause::Header(crate::otlp::HeaderError::Name {
                    name: "bad name".into(),
                    source: http::HeaderName::from_bytes(b"bad name").unwrap_err(),
                }),
            })
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot build the OTLP grpc exporter for http://collector:4317: \
             header name \"bad name\" is not a valid HTTP header name"
        );
        // The cause chain survives: build error -> header error -> http's own error.
        let header = std::error::Error::source(&err).and_then(|e| e.source());
        assert!(header.is_some_and(|h| h.to_string().starts_with("header name \"bad name\"")));
        assert!(header.and_then(|h| h.source()).is_some());
    }
}
