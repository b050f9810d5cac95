//! Traces end to end, against the real OTLP receiver (Arize Phoenix): one client request
//! becomes one trace across the gateway and the sandbox, with correct parent links, the
//! semantic-convention attributes, and no credentials or tool arguments in any span; and an
//! exporter that is down or hung never slows or fails a request.
//!
//! Needs `scripts/setup-peers.sh --with-phoenix`.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::common::{Options, Stack};
use mcp_testkit::otlp::{BlackHole, OtlpRelay, Phoenix};
use serde_json::{Value, json};

/// Environment that makes both binaries export to `endpoint`, in small, quick batches.
fn exporting_to(endpoint: &str, extra: &[(&str, &str)]) -> Options {
    let mut env: Vec<(String, String)> = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), endpoint.into()),
        ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| ((*k).into(), (*v).into())));
    Options {
        env,
        ..Options::default()
    }
}

/// Phoenix's view of one span.
struct SpanView<'a>(&'a Value);

impl<'a> SpanView<'a> {
    fn name(&self) -> &'a str {
        self.0["name"].as_str().unwrap_or("")
    }
    fn id(&self) -> &'a str {
        self.0["context"]["span_id"].as_str().unwrap_or("")
    }
    fn trace_id(&self) -> &'a str {
        self.0["context"]["trace_id"].as_str().unwrap_or("")
    }
    fn parent(&self) -> Option<&'a str> {
        self.0["parent_id"].as_str()
    }
    fn attr(&self, key: &str) -> Option<&'a Value> {
        self.0["attributes"].get(key)
    }
    fn attr_str(&self, key: &str) -> String {
        match self.attr(key) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => panic!("span {} has no attribute {key}: {}", self.name(), self.0),
        }
    }
}

fn named<'a>(spans: &'a [Value], name: &str) -> Vec<SpanView<'a>> {
    spans
        .iter()
        .map(SpanView)
        .filter(|s| s.name() == name)
        .collect()
}

fn one<'a>(spans: &'a [Value], name: &str) -> SpanView<'a> {
    let mut found = named(spans, name);
    assert_eq!(
        found.len(),
        1,
        "expected one span named {name:?} in {spans:#?}"
    );
    found.remove(0)
}

/// The spans one `call_echo_twice` call should produce, by name and count.
const EXPECTED: &[(&str, usize)] = &[
    ("tools/call call_echo_twice", 1),
    ("authenticate", 1),
    ("authorize", 1),
    ("POST /v1/call", 1),
    ("sandbox.call", 1),
    ("queue_wait", 1),
    ("instantiate", 3),
    ("guest_run", 3),
    ("host_call", 2),
];

fn complete(spans: &[Value]) -> bool {
    EXPECTED
        .iter()
        .all(|(name, n)| named(spans, name).len() == *n)
}

#[test]
fn one_tool_call_is_one_trace_across_gateway_and_sandbox_without_secrets() {
    let phoenix = Phoenix::start();
    let relay = OtlpRelay::start(&phoenix.http_endpoint());
    let s = Stack::start(exporting_to(&relay.endpoint(), &[]));
    let (key_id, key) = s.create_key("alice", &["mcp-user"], "30d");

    let init = s.rpc(
        &key,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
    );
    let session = init
        .header("mcp-session-id")
        .expect("a session id")
        .to_owned();

    let trace_id = format!("{:032x}", rand::random::<u128>());
    let client_span = format!("{:016x}", rand::random::<u64>());
    let traceparent = format!("00-{trace_id}-{client_span}-01");
    let secret_argument = "argument-that-must-not-be-exported-7f3a";
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "call_echo_twice", "arguments": {"text": secret_argument}}});
    let r = s.post_raw(
        Some(&key),
        &body.to_string(),
        &[
            ("traceparent", &traceparent),
            ("mcp-session-id", &session),
            ("mcp-protocol-version", "2025-06-18"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.result()["isError"], false, "{}", r.text);
    let traceresponse = r.header("traceresponse").expect("a traceresponse header");
    assert!(
        traceresponse.starts_with(&format!("00-{trace_id}-")),
        "{traceresponse}"
    );

    let spans = phoenix.wait_for_trace(&trace_id, Duration::from_secs(60), complete);
    let by_id: HashMap<&str, SpanView<'_>> = spans
        .iter()
        .map(|v| (SpanView(v).id(), SpanView(v)))
        .collect();
    assert!(
        spans.iter().all(|v| SpanView(v).trace_id() == trace_id),
        "every span is in the client's trace"
    );

    // The gateway: a server span under the client's span, its steps under it.
    let server = one(&spans, "tools/call call_echo_twice");
    assert_eq!(server.parent(), Some(client_span.as_str()));
    for step in ["authenticate", "authorize", "POST /v1/call"] {
        assert_eq!(one(&spans, step).parent(), Some(server.id()), "{step}");
    }
    let expected_attrs = [
        ("mcp.method.name", "tools/call"),
        ("gen_ai.tool.name", "call_echo_twice"),
        ("gen_ai.operation.name", "execute_tool"),
        ("jsonrpc.request.id", "7"),
        ("jsonrpc.protocol.version", "2.0"),
        ("mcp.protocol.version", "2025-06-18"),
        ("mcp.session.id", session.as_str()),
        ("network.protocol.name", "http"),
        ("http.request.method", "POST"),
        ("http.response.status_code", "200"),
        ("enduser.id", "alice"),
        ("mcp.auth.method", "api_key"),
        ("mcp.auth.key_id", key_id.as_str()),
        ("mcp.gateway.outcome", "success"),
    ];
    for (k, v) in expected_attrs {
        assert_eq!(server.attr_str(k), v, "{k}");
    }
    assert!(server.attr("error.type").is_none());
    assert_eq!(
        one(&spans, "authenticate").attr_str("mcp.auth.method"),
        "api_key"
    );
    assert_eq!(
        one(&spans, "authorize").attr_str("mcp.authz.decision"),
        "allowed"
    );
    let upstream = one(&spans, "POST /v1/call");
    assert_eq!(upstream.attr_str("http.response.status_code"), "200");
    assert_eq!(upstream.attr_str("server.address"), "127.0.0.1");

    // The sandbox: its server span is the child of the gateway's upstream client span (not of
    // the client's span), and the guest's nested calls hang under their host calls.
    let call = one(&spans, "sandbox.call");
    assert_eq!(call.parent(), Some(upstream.id()));
    assert_eq!(call.attr_str("gen_ai.tool.name"), "call_echo_twice");
    assert_eq!(call.attr_str("enduser.id"), "alice");
    assert_eq!(call.attr_str("sandbox.outcome"), "success");
    assert_eq!(call.attr_str("sandbox.nested_calls"), "2");
    assert!(
        call.attr_str("sandbox.fuel_consumed")
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert!(call.attr_str("sandbox.memory_peak").parse::<u64>().unwrap() > 0);
    assert_eq!(one(&spans, "queue_wait").parent(), Some(call.id()));
    let runs = named(&spans, "guest_run");
    let outer = runs
        .iter()
        .find(|r| r.attr_str("gen_ai.tool.name") == "call_echo_twice")
        .expect("the outer guest_run");
    assert_eq!(outer.parent(), Some(call.id()));
    assert_eq!(outer.attr_str("sandbox.depth"), "0");
    assert_eq!(outer.attr_str("enduser.id"), "alice");
    let instantiations = named(&spans, "instantiate");
    assert!(instantiations.iter().any(|i| i.parent() == Some(call.id())));
    for host_call in named(&spans, "host_call") {
        assert_eq!(host_call.parent(), Some(outer.id()));
        assert_eq!(host_call.attr_str("gen_ai.tool.name"), "echo");
        let under: Vec<&str> = by_id
            .values()
            .filter(|s| s.parent() == Some(host_call.id()))
            .map(|s| s.name())
            .collect();
        let mut under = under;
        under.sort_unstable();
        assert_eq!(under, ["guest_run", "instantiate"], "under a host_call");
    }
    for nested in runs
        .iter()
        .filter(|r| r.attr_str("gen_ai.tool.name") == "echo")
    {
        assert_eq!(nested.attr_str("sandbox.depth"), "1");
        assert_eq!(by_id[nested.parent().unwrap()].name(), "host_call");
    }

    // Both services, by the service.name of the resource each span was exported under.
    let exported: Vec<_> = relay
        .spans()
        .into_iter()
        .filter(|s| s.trace_id == trace_id)
        .collect();
    let service_of = |name: &str| -> Vec<String> {
        exported
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.service.clone())
            .collect()
    };
    assert_eq!(service_of("tools/call call_echo_twice"), ["mcp-gateway"]);
    assert_eq!(service_of("POST /v1/call"), ["mcp-gateway"]);
    assert_eq!(service_of("sandbox.call"), ["mcp-sandbox"]);
    assert!(service_of("guest_run").iter().all(|s| s == "mcp-sandbox"));
    let kind_of = |name: &str| exported.iter().find(|s| s.name == name).map(|s| s.kind);
    assert_eq!(kind_of("tools/call call_echo_twice"), Some("server"));
    assert_eq!(kind_of("POST /v1/call"), Some("client"));
    assert_eq!(kind_of("sandbox.call"), Some("server"));

    // No credential and no argument anywhere in what was exported.
    let stored = serde_json::to_string(&spans).unwrap();
    // `mcpk_<12 hex id>_<secret>`: the secret part alone must not leak either.
    let secret = &key["mcpk_".len() + 13..];
    for needle in [key.as_str(), secret, secret_argument] {
        assert!(!stored.contains(needle), "{needle:?} reached Phoenix");
        for body in relay.raw_bodies() {
            assert!(
                !body.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle:?} is in an OTLP export"
            );
        }
    }

    // The audit line carries the same trace id.
    let audit = s
        .audit()
        .into_iter()
        .find(|l| l["tool"] == "call_echo_twice")
        .expect("the call's audit line");
    assert_eq!(audit["trace_id"], trace_id.as_str());
}

#[test]
fn without_a_client_traceparent_the_gateway_starts_the_trace_and_reports_it() {
    let phoenix = Phoenix::start();
    let s = Stack::start(exporting_to(
        &phoenix.grpc_endpoint(),
        &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
    ));
    let (_, key) = s.create_key("bob", &["mcp-user"], "1d");
    let r = s.call_tool(&key, "echo", json!({"text": "hi"}));
    assert_eq!(r.status, 200, "{}", r.text);
    let trace_id = r
        .header("traceresponse")
        .and_then(|t| t.split('-').nth(1))
        .expect("a traceresponse header")
        .to_owned();
    // Over OTLP/gRPC this time: the gateway's root span and the sandbox's spans meet in one
    // trace.
    let spans = phoenix.wait_for_trace(&trace_id, Duration::from_secs(60), |spans| {
        [
            "tools/call echo",
            "POST /v1/call",
            "sandbox.call",
            "guest_run",
        ]
        .iter()
        .all(|n| named(spans, n).len() == 1)
    });
    let server = one(&spans, "tools/call echo");
    assert_eq!(server.parent(), None, "a root span");
    let upstream = one(&spans, "POST /v1/call");
    assert_eq!(one(&spans, "sandbox.call").parent(), Some(upstream.id()));
    let audit = s.audit();
    let line = audit.iter().rev().find(|l| l["tool"] == "echo").unwrap();
    assert_eq!(line["trace_id"], trace_id.as_str());
}

/// Calls `echo` `n` times; returns each call's latency. Every call must succeed.
fn call_echo(s: &Stack, key: &str, n: usize) -> Vec<Duration> {
    (0..n)
        .map(|i| {
            let started = Instant::now();
            let r = s.call_tool(key, "echo", json!({"text": format!("call {i}")}));
            let took = started.elapsed();
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(r.result()["isError"], false, "{}", r.text);
            took
        })
        .collect()
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort_unstable();
    d[d.len() / 2]
}

/// A counter's value in Prometheus text (summed over label sets matching `labels`).
fn counter(metrics: &str, name: &str, labels: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter(|l| l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn sandbox_metrics(s: &Stack) -> String {
    reqwest::blocking::get(format!("http://{}/metrics", s.sandbox_addrs[0]))
        .unwrap()
        .text()
        .unwrap()
}

#[test]
fn an_exporter_that_refuses_connections_costs_requests_nothing() {
    // Nothing listens on this port.
    let endpoint = format!("http://127.0.0.1:{}", mcp_testkit::free_port());
    let s = Stack::start(exporting_to(&endpoint, &[]));
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    let latencies = call_echo(&s, &key, 40);
    let (slowest, typical) = (*latencies.iter().max().unwrap(), median(latencies));
    assert!(
        slowest < Duration::from_secs(1),
        "slowest call took {slowest:?}"
    );
    assert!(
        typical < Duration::from_millis(200),
        "median call took {typical:?}"
    );
    mcp_testkit::wait_for(
        "export failures to be counted on both sides",
        Duration::from_secs(30),
        || {
            let gw = counter(&s.metrics(), "otel_export_failures_total", "");
            let sb = counter(&sandbox_metrics(&s), "otel_export_failures_total", "");
            (gw > 0.0 && sb > 0.0).then_some(())
        },
    );
    let m = s.metrics();
    assert!(counter(&m, "otel_spans_dropped_total", "reason=\"export_failed\"") > 0.0);
    assert_eq!(counter(&m, "otel_spans_exported_total", ""), 0.0);
}

#[test]
fn an_exporter_that_never_answers_fills_the_queue_and_spans_are_dropped_not_requests() {
    let hole = BlackHole::start();
    let s = Stack::start(exporting_to(
        &hole.endpoint(),
        &[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "16"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "8"),
        ],
    ));
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    let latencies = call_echo(&s, &key, 60);
    let (slowest, typical) = (*latencies.iter().max().unwrap(), median(latencies));
    assert!(
        slowest < Duration::from_secs(1),
        "slowest call took {slowest:?}"
    );
    assert!(
        typical < Duration::from_millis(200),
        "median call took {typical:?}"
    );
    // Each call makes several spans on each side; 60 calls overflow a queue of 16 behind
    // an export that hangs for the whole (30 s) export timeout.
    let dropped = |m: &str| counter(m, "otel_spans_dropped_total", "reason=\"queue_full\"");
    assert!(dropped(&s.metrics()) > 0.0, "{}", s.metrics());
    assert!(dropped(&sandbox_metrics(&s)) > 0.0);
    assert_eq!(counter(&s.metrics(), "otel_spans_exported_total", ""), 0.0);
}
