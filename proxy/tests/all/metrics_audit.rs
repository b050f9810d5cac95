//! What operators see after a scripted mix of requests — a success, a denial, both kinds of
//! rate limit, failed authentication, a tool timeout, a JWT caller: the exact counters and
//! label values on both `/metrics` endpoints (which `promtool check metrics` accepts), and
//! one audit line per request with the documented fields, queryable with jq as the operations
//! guide writes it. No credential ever reaches the audit log or the gateway's logs.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{Options, Resp, Stack};
use mcp_testkit::forge::Forge;
use serde_json::{Value, json};

/// Prometheus samples by series: `name{k="v",...}` with labels sorted.
type Samples = BTreeMap<String, f64>;

fn parse(text: &str) -> Samples {
    let mut out = Samples::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let key = match series.split_once('{') {
            None => series.to_owned(),
            Some((name, labels)) => {
                let mut labels: Vec<&str> = split_labels(labels.trim_end_matches('}'));
                labels.sort_unstable();
                format!("{name}{{{}}}", labels.join(","))
            }
        };
        out.insert(key, value);
    }
    out
}

/// Splits `a="x",b="y,z"` at the commas between labels.
fn split_labels(s: &str) -> Vec<&str> {
    let (mut parts, mut start, mut quoted) = (Vec::new(), 0, false);
    let bytes = s.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'"' if i == 0 || bytes[i - 1] != b'\\' => quoted = !quoted,
            b',' if !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < s.len() {
        parts.push(&s[start..]);
    }
    parts
}

/// `name{labels}` with the labels given in any order.
fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let mut l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    l.sort_unstable();
    format!("{name}{{{}}}", l.join(","))
}

/// How much a series grew between two scrapes.
fn delta(before: &Samples, after: &Samples, key: &str) -> f64 {
    after.get(key).copied().unwrap_or(0.0) - before.get(key).copied().unwrap_or(0.0)
}

fn assert_delta(before: &Samples, after: &Samples, key: &str, want: f64) {
    assert!(
        after.contains_key(key),
        "no series {key}; the scrape has:\n{}",
        after.keys().cloned().collect::<Vec<_>>().join("\n")
    );
    let got = delta(before, after, key);
    assert_eq!(got, want, "{key}: grew by {got}, expected {want}");
}

/// `promtool check metrics` must accept the exposition.
fn promtool_accepts(what: &str, text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool ({e}): install it with `apt-get install prometheus`")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool rejects the {what} metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The official Python client's parser must read every family too.
fn prometheus_client_parses(what: &str, text: &str) -> usize {
    let python = mcp_testkit::repo_root().join(".peers/venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup-peers.sh (it installs prometheus_client)",
        python.display()
    );
    let script = "import sys\nfrom prometheus_client.parser import text_string_to_metric_families as f\n\
                  print(sum(1 for _ in f(sys.stdin.read())))";
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client cannot parse the {what} metrics: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// Runs `jq ARGS` over `input`; `None` when jq is not installed.
fn jq(args: &[&str], input: &str) -> Option<String> {
    let mut child = Command::new("jq")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "jq {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

/// `jq -r .FIELD`, or the same computed here when jq is absent.
fn jq_field(field: &str, lines: &[Value], text: &str) -> Vec<String> {
    let rust = lines
        .iter()
        .map(|l| match &l[field] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>();
    match jq(&["-r", &format!(".{field}")], text) {
        Some(out) => {
            let jq: Vec<String> = out.lines().map(str::to_owned).collect();
            assert_eq!(jq, rust, "jq -r .{field} disagrees with the parsed lines");
            jq
        }
        None => rust,
    }
}

const POLICY: &str = "\
toolsets:
  examples: { roles: [mcp-user, mcp-admin] }
  hostile: { roles: [mcp-admin] }
tools:
  text_stats: { roles: [mcp-admin] }
rate_limits:
  tools: { call_echo_twice: 1/min }
  users: { dave: 1/min }
";

fn call(
    s: &Stack,
    token: &str,
    request_id: &str,
    tool: &str,
    args: Value,
    extra: &[(&str, &str)],
) -> Resp {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": tool, "arguments": args}});
    let mut headers = vec![("x-request-id", request_id)];
    headers.extend_from_slice(extra);
    s.post_raw(Some(token), &body.to_string(), &headers)
}

#[test]
fn a_scripted_mix_shows_in_metrics_and_audit_exactly_and_no_secret_leaks() {
    let idp = Forge::start();
    let s = Stack::start(Options {
        policy: POLICY.into(),
        config: format!(
            "oidc: {{issuer: '{}', audience: mcp-gateway, leeway: 2s, refresh_min_interval: 1s}}",
            idp.issuer()
        ),
        // Long enough that the timed-out call is the one slow request (> 2000 ms).
        hostile_limits: "{ fuel: 100000000000, timeout: 2300ms, memory: 32MiB }",
        ..Options::default()
    });
    let (alice_id, alice) = s.create_key("alice", &["mcp-user"], "30d");
    let (bob_id, bob) = s.create_key("bob", &["mcp-user", "mcp-admin"], "90d");
    let (_, dave) = s.create_key("dave", &["mcp-user"], "30d");
    let erin = idp.token("erin", &["mcp-user"]);

    // The key metrics appear right after the key store reloads, not a minute later.
    let expiry = mcp_testkit::wait_for("the key expiry gauges", Duration::from_secs(5), || {
        let m = parse(&s.metrics());
        let a = *m.get(&series(
            "mcp_api_key_expiry_timestamp",
            &[("key_id", &alice_id), ("user", "alice")],
        ))?;
        let b = *m.get(&series(
            "mcp_api_key_expiry_timestamp",
            &[("key_id", &bob_id), ("user", "bob")],
        ))?;
        Some((a, b))
    });
    let now = mcp_gateway::mcp::unix_now() as f64;
    let day = 86_400.0;
    assert!(
        (expiry.0 - (now + 30.0 * day)).abs() < 120.0,
        "alice's key: {}",
        expiry.0
    );
    assert!(
        (expiry.1 - (now + 90.0 * day)).abs() < 120.0,
        "bob's key: {}",
        expiry.1
    );

    let sandbox_url = format!("http://{}/metrics", s.sandbox_addrs[0]);
    let sandbox_metrics = || {
        reqwest::blocking::get(&sandbox_url)
            .unwrap()
            .text()
            .unwrap()
    };
    let (gw_before, sb_before) = (parse(&s.metrics()), parse(&sandbox_metrics()));
    let audit_before = s.audit().len();

    // The mix.
    let init = s.rpc(
        &alice,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
    );
    let session = init.header("mcp-session-id").unwrap().to_owned();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let ok = call(
        &s,
        &alice,
        "mix-success",
        "echo",
        json!({"text": "hi"}),
        &[("mcp-session-id", &session), ("traceparent", &traceparent)],
    );
    assert_eq!(ok.status, 200, "{}", ok.text);
    let denied = call(
        &s,
        &alice,
        "mix-denied",
        "text_stats",
        json!({"text": "hi"}),
        &[],
    );
    assert_eq!(denied.rpc_code(), Some(-32602), "{}", denied.text);
    let first = call(
        &s,
        &alice,
        "mix-twice",
        "call_echo_twice",
        json!({"text": "a"}),
        &[],
    );
    assert_eq!(first.status, 200, "{}", first.text);
    let limited_tool = call(
        &s,
        &alice,
        "mix-limited-tool",
        "call_echo_twice",
        json!({"text": "a"}),
        &[],
    );
    assert_eq!(limited_tool.status, 429, "{}", limited_tool.text);
    // dave's one request a minute went to the key check in create_key.
    let limited_user = call(
        &s,
        &dave,
        "mix-limited-user",
        "echo",
        json!({"text": "hi"}),
        &[],
    );
    assert_eq!(limited_user.status, 429, "{}", limited_user.text);
    let unknown_key = format!("mcpk_000000000000_{}", "A".repeat(43));
    let bad_key = call(
        &s,
        &unknown_key,
        "mix-bad-key",
        "echo",
        json!({"text": "hi"}),
        &[],
    );
    assert_eq!(bad_key.status, 401, "{}", bad_key.text);
    let garbage = "garbage-token-5e1d";
    let bad_token = call(
        &s,
        garbage,
        "mix-garbage",
        "echo",
        json!({"text": "hi"}),
        &[],
    );
    assert_eq!(bad_token.status, 401, "{}", bad_token.text);
    let spin = call(&s, &bob, "mix-timeout", "spin", json!({}), &[]);
    assert_eq!(spin.status, 200, "{}", spin.text);
    assert_eq!(spin.result()["isError"], true);
    let jwt = call(&s, &erin, "mix-jwt", "echo", json!({"text": "hi"}), &[]);
    assert_eq!(jwt.status, 200, "{}", jwt.text);

    // Gateway metrics: exactly what the mix did, with exact label values.
    let gw_text = s.metrics();
    let gw = parse(&gw_text);
    let (b, a) = (&gw_before, &gw);
    let http = |status: &str| {
        series(
            "http_requests_total",
            &[("method", "POST"), ("status", status)],
        )
    };
    // initialize, echo, a forbidden call (answered like an unknown tool), call_echo_twice,
    // spin, jwt echo
    assert_delta(b, a, &http("200"), 6.0);
    assert_delta(b, a, &http("429"), 2.0);
    assert_delta(b, a, &http("401"), 2.0);
    let requests = |method: &str, user: &str| {
        series("mcp_requests_total", &[("method", method), ("user", user)])
    };
    assert_delta(b, a, &requests("tools/call", "alice"), 4.0);
    assert_delta(b, a, &requests("initialize", "alice"), 1.0);
    assert_delta(b, a, &requests("tools/call", "bob"), 1.0);
    assert_delta(b, a, &requests("tools/call", "erin"), 1.0);
    let tool_calls = |tool: &str, status: &str| {
        series(
            "mcp_tool_calls_total",
            &[("tool_name", tool), ("status", status)],
        )
    };
    assert_delta(b, a, &tool_calls("echo", "success"), 2.0);
    assert_delta(b, a, &tool_calls("text_stats", "denied"), 1.0);
    assert_delta(b, a, &tool_calls("call_echo_twice", "success"), 1.0);
    assert_delta(b, a, &tool_calls("call_echo_twice", "rate_limited"), 1.0);
    assert_delta(b, a, &tool_calls("spin", "error"), 1.0);
    let auth = |reason: &str| series("mcp_auth_failures_total", &[("reason", reason)]);
    assert_delta(b, a, &auth("unknown_key"), 1.0);
    assert_delta(b, a, &auth("malformed"), 1.0);
    assert_delta(b, a, &auth("forbidden"), 1.0);
    let limited = |scope: &str| series("mcp_rate_limited_total", &[("scope", scope)]);
    assert_delta(b, a, &limited("user"), 1.0);
    assert_delta(b, a, &limited("user_tool"), 1.0);
    let spin_hist = |part: &str| {
        series(
            &format!("mcp_sandbox_duration_seconds_{part}"),
            &[("sandbox", "sb0"), ("tool", "spin")],
        )
    };
    assert_delta(b, a, &spin_hist("count"), 1.0);
    assert!(
        delta(b, a, &spin_hist("sum")) > 2.0,
        "the spin call took its 2.3 s"
    );
    let bucket = |le: &str| {
        series(
            "mcp_sandbox_duration_seconds_bucket",
            &[("sandbox", "sb0"), ("tool", "spin"), ("le", le)],
        )
    };
    assert_delta(b, a, &bucket("2"), 0.0);
    assert_delta(b, a, &bucket("5"), 1.0);
    promtool_accepts("gateway", &gw_text);
    assert!(prometheus_client_parses("gateway", &gw_text) >= 10);

    // Sandbox metrics: the timeout is counted as a limit hit.
    let sb_text = sandbox_metrics();
    let sb = parse(&sb_text);
    let hits = series(
        "mcp_sandbox_limit_hits_total",
        &[("tool", "spin"), ("kind", "timeout")],
    );
    assert_delta(&sb_before, &sb, &hits, 1.0);
    let calls = |tool: &str, status: &str| {
        series(
            "mcp_sandbox_calls_total",
            &[("tool", tool), ("status", status)],
        )
    };
    assert_delta(&sb_before, &sb, &calls("spin", "timeout"), 1.0);
    assert_delta(&sb_before, &sb, &calls("echo", "success"), 2.0);
    assert_delta(&sb_before, &sb, &calls("call_echo_twice", "success"), 1.0);
    let nested = series(
        "mcp_sandbox_nested_calls_total",
        &[("tool", "echo"), ("status", "success")],
    );
    assert_delta(&sb_before, &sb, &nested, 2.0);
    promtool_accepts("sandbox", &sb_text);
    assert!(prometheus_client_parses("sandbox", &sb_text) >= 5);

    // The audit: one line per request of the mix, with the documented fields.
    let lines: Vec<Value> = s.audit().split_off(audit_before);
    let line = |rid: &str| -> &Value {
        lines
            .iter()
            .find(|l| l["client_request_id"] == rid)
            .unwrap_or_else(|| panic!("no audit line for {rid}: {lines:#?}"))
    };
    for l in &lines {
        assert_eq!(l["type"], "mcp_request");
        let ts = l["timestamp"].as_str().unwrap();
        assert!(
            ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
            "RFC 3339 UTC timestamp: {ts}"
        );
        assert!(l["duration_ms"].as_f64().unwrap() >= 0.0);
        assert_eq!(l["client_ip"], "127.0.0.1");
        for field in [
            "user",
            "auth",
            "key_id",
            "method",
            "tool",
            "status",
            "error",
            "session_id",
            "trace_id",
        ] {
            assert!(l.get(field).is_some(), "{field} missing in {l}");
        }
    }
    let expect = |rid: &str,
                  user: Value,
                  auth: Value,
                  key: Value,
                  tool: Value,
                  status: &str,
                  error: Value| {
        let l = line(rid);
        assert_eq!(
            (
                &l["user"],
                &l["auth"],
                &l["key_id"],
                &l["tool"],
                &l["status"],
                &l["error"]
            ),
            (&user, &auth, &key, &tool, &json!(status), &error),
            "{rid}: {l}"
        );
    };
    let (api_key, null) = (json!("api_key"), Value::Null);
    expect(
        "mix-success",
        json!("alice"),
        api_key.clone(),
        json!(alice_id),
        json!("echo"),
        "success",
        null.clone(),
    );
    expect(
        "mix-denied",
        json!("alice"),
        api_key.clone(),
        json!(alice_id),
        json!("text_stats"),
        "denied",
        json!("forbidden"),
    );
    expect(
        "mix-twice",
        json!("alice"),
        api_key.clone(),
        json!(alice_id),
        json!("call_echo_twice"),
        "success",
        null.clone(),
    );
    expect(
        "mix-limited-tool",
        json!("alice"),
        api_key.clone(),
        json!(alice_id),
        json!("call_echo_twice"),
        "rate_limited",
        json!("rate_limited"),
    );
    expect(
        "mix-limited-user",
        json!("dave"),
        api_key.clone(),
        line("mix-limited-user")["key_id"].clone(),
        null.clone(),
        "rate_limited",
        json!("rate_limited"),
    );
    expect(
        "mix-bad-key",
        null.clone(),
        null.clone(),
        null.clone(),
        null.clone(),
        "denied",
        json!("unknown_key"),
    );
    expect(
        "mix-garbage",
        null.clone(),
        null.clone(),
        null.clone(),
        null.clone(),
        "denied",
        json!("malformed"),
    );
    expect(
        "mix-timeout",
        json!("bob"),
        api_key.clone(),
        json!(bob_id),
        json!("spin"),
        "error",
        json!("timeout"),
    );
    expect(
        "mix-jwt",
        json!("erin"),
        json!("jwt"),
        null.clone(),
        json!("echo"),
        "success",
        null.clone(),
    );
    let success = line("mix-success");
    assert_eq!(success["method"], "tools/call");
    assert_eq!(success["session_id"], session.as_str());
    assert_eq!(success["trace_id"], trace_id);
    assert!(line("mix-timeout")["duration_ms"].as_f64().unwrap() > 2000.0);

    // The operator's queries, as the guide writes them, over the mix's lines.
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let users = jq_field("user", &lines, &text);
    assert_eq!(
        users.iter().filter(|u| *u == "alice").count(),
        5,
        "{users:?}"
    );
    assert!(users.contains(&"erin".to_owned()) && users.contains(&"null".to_owned()));
    let tools = jq_field("tool", &lines, &text);
    assert_eq!(
        tools.iter().filter(|t| *t == "call_echo_twice").count(),
        2,
        "{tools:?}"
    );
    let mut errors = jq_field("error", &lines, &text);
    errors.retain(|e| e != "null");
    errors.sort_unstable();
    assert_eq!(
        errors,
        [
            "forbidden",
            "malformed",
            "rate_limited",
            "rate_limited",
            "timeout",
            "unknown_key"
        ]
    );
    let slow: Vec<Value> = match jq(&["-c", "select(.duration_ms > 2000)"], &text) {
        Some(out) => out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        None => lines
            .iter()
            .filter(|l| l["duration_ms"].as_f64().unwrap() > 2000.0)
            .cloned()
            .collect(),
    };
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert_eq!(slow[0]["client_request_id"], "mix-timeout");

    // No credential in the audit log or the gateway's logs.
    let audit_text = s.audit_text();
    let stderr = s.gateway.stderr();
    for (what, secret) in [
        ("alice's key", alice.as_str()),
        ("bob's key", bob.as_str()),
        ("dave's key", dave.as_str()),
        ("the unknown key", unknown_key.as_str()),
        ("the garbage token", garbage),
        ("erin's JWT", erin.as_str()),
        ("alice's key secret", &alice["mcpk_".len() + 13..]),
        ("the sandbox token", crate::common::SANDBOX_TOKEN),
    ] {
        assert!(!audit_text.contains(secret), "{what} is in the audit log");
        assert!(
            !stderr.contains(secret),
            "{what} is in the gateway's stderr"
        );
    }
}
