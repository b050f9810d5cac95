//! The span steps both binaries repeat, written once: a server span continuing the caller's
//! trace ([`server_span!`](crate::server_span)), a child span that costs nothing while traces
//! are off ([`child_span!`](crate::child_span)), and marking a span as failed
//! ([`record_error`]).
//!
//! The span names and attributes stay with each binary; the macros take them as `tracing`'s
//! `info_span!` does. Spans made with them get the calling module as target, so the
//! `span_targets` filter of [`Options`](crate::Options) applies as to the binary's own spans.

/// The server span of one request: `None` unless spans are exported ([`exporting`]); else an
/// INFO span with no local parent (`tracing::info_span!` arguments after the headers),
/// continuing the trace of the W3C `traceparent` in `headers` when there is a valid one.
///
/// [`exporting`]: crate::exporting
#[macro_export]
macro_rules! server_span {
    ($headers:expr, $($rest:tt)+) => {{
        if !$crate::exporting() {
            $crate::__private::tracing::Span::none()
        } else {
            let span = $crate::__private::tracing::info_span!(parent: None, $($rest)+);
            $crate::propagation::set_remote_parent(&span, $headers);
            span
        }
    }};
}

/// An INFO span under `parent`, or `Span::none()` when `parent` is none (trace export off), so
/// callers need no check of their own and nothing is formatted.
#[macro_export]
macro_rules! child_span {
    ($parent:expr, $($rest:tt)+) => {{
        let parent: &$crate::__private::tracing::Span = $parent;
        if parent.is_disabled() {
            $crate::__private::tracing::Span::none()
        } else {
            $crate::__private::tracing::info_span!(parent: parent, $($rest)+)
        }
    }};
}

/// Marks `span` as failed: `error.type` (declared on the span) is `error_type` and the
/// exported status is error.
pub fn record_error(span: &tracing::Span, error_type: impl tracing::Value) {
    span.record("error.type", error_type)
        .record("otel.status_code", "error");
}

#[cfg(test)]
mod tests {
    use tracing::field::Empty;

    #[test]
    fn spans_are_made_only_while_exporting_and_under_a_live_parent() {
        let subscriber = tracing_subscriber::registry();
        tracing::subscriber::with_default(subscriber, || {
            let headers = http::HeaderMap::new();
            // Nothing is exported in unit tests: no server span even with a subscriber.
            assert!(!crate::exporting());
            let server = crate::server_span!(&headers, "req", error.type = Empty);
            assert!(server.is_disabled());
            let none = crate::child_span!(&server, "step", error.type = Empty);
            assert!(none.is_disabled(), "no child under a disabled parent");

            let live = tracing::info_span!("live");
            assert!(!live.is_disabled());
            let child = crate::child_span!(&live, "step", error.type = Empty);
            assert!(!child.is_disabled(), "a child under a live parent");
            super::record_error(&child, "boom");
        });
    }
}
