//! W3C Trace Context (`traceparent` / `tracestate`) between processes: extract the caller's
//! context from request headers and make it a span's remote parent; inject a span's context
//! into the headers of an outgoing request.
//!
//! Everything here is a no-op returning `None` when the OpenTelemetry layer is not installed
//! (export off) or the span is disabled.

use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Makes the context in `headers` (if any, and valid) the remote parent of `span`. Call right
/// after creating the span, before it has children.
pub fn set_remote_parent(span: &tracing::Span, headers: &http::HeaderMap) {
    if span.is_disabled() || !headers.contains_key("traceparent") {
        return;
    }
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    if cx.span().span_context().is_valid() {
        // Fails only if the span was already started or the layer is absent: then it simply
        // stays a root, which is all that could be done anyway.
        let _ = span.set_parent(cx);
    }
}

/// The trace context headers of an outgoing request made under `span`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeaders {
    pub traceparent: String,
    pub tracestate: Option<String>,
}

impl TraceHeaders {
    /// As `(name, value)` pairs, ready to add to a request.
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        std::iter::once(("traceparent", self.traceparent.as_str()))
            .chain(self.tracestate.as_deref().map(|s| ("tracestate", s)))
    }
}

#[derive(Default)]
struct Collect {
    traceparent: Option<String>,
    tracestate: Option<String>,
}

impl Injector for Collect {
    fn set(&mut self, key: &str, value: String) {
        match key {
            "traceparent" => self.traceparent = Some(value),
            "tracestate" if !value.is_empty() => self.tracestate = Some(value),
            _ => {}
        }
    }
}

/// `span`'s context as W3C headers, so the callee's spans become its children.
pub fn inject(span: &tracing::Span) -> Option<TraceHeaders> {
    if span.is_disabled() {
        return None;
    }
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut out = Collect::default();
    TraceContextPropagator::new().inject_context(&cx, &mut out);
    Some(TraceHeaders {
        traceparent: out.traceparent?,
        tracestate: out.tracestate,
    })
}

/// The trace id of `span` as 32 lowercase hex digits.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    if span.is_disabled() {
        return None;
    }
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

/// A `traceresponse` header value (`00-<trace id>-<span id>-<flags>`) for `span`, telling
/// the client which trace served its request.
pub fn traceresponse(span: &tracing::Span) -> Option<String> {
    if span.is_disabled() {
        return None;
    }
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        )
    })
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn with_otel(f: impl FnOnce()) {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, f);
    }

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_callers_context_becomes_the_parent_and_is_passed_on() {
        with_otel(|| {
            let span = tracing::info_span!("server");
            set_remote_parent(
                &span,
                &headers(&[("traceparent", PARENT), ("tracestate", "vendor=1")]),
            );
            assert_eq!(
                trace_id(&span).as_deref(),
                Some("4bf92f3577b34da6a3ce929d0e0e4736")
            );
            let child = tracing::info_span!(parent: &span, "client");
            let out = inject(&child).expect("a context to pass on");
            let parts: Vec<&str> = out.traceparent.split('-').collect();
            assert_eq!(parts[1], "4bf92f3577b34da6a3ce929d0e0e4736");
            assert_ne!(
                parts[2], "00f067aa0ba902b7",
                "the child's own span id is sent"
            );
            assert_eq!(parts[3], "01");
            assert_eq!(out.tracestate.as_deref(), Some("vendor=1"));
            assert!(
                traceresponse(&span)
                    .unwrap()
                    .starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-")
            );
        });
    }

    #[test]
    fn without_a_valid_caller_context_the_span_starts_a_new_trace() {
        with_otel(|| {
            let span = tracing::info_span!("server");
            set_remote_parent(
                &span,
                &headers(&[("traceparent", "00-zz-00f067aa0ba902b7-01")]),
            );
            let id = trace_id(&span).expect("a new trace id");
            assert_eq!(id.len(), 32);
            assert_ne!(id, "4bf92f3577b34da6a3ce929d0e0e4736");
        });
    }

    #[test]
    fn without_the_layer_nothing_is_injected() {
        let span = tracing::Span::none();
        set_remote_parent(&span, &headers(&[("traceparent", PARENT)]));
        assert_eq!(inject(&span), None);
        assert_eq!(trace_id(&span), None);
        let subscriber = tracing_subscriber::registry();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("plain");
            assert_eq!(inject(&span), None);
        });
    }
}
