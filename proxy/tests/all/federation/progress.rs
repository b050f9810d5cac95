//! Federation, progress: a long upstream call's `notifications/progress` reach a client that
//! sent a `progressToken` and accepts `text/event-stream`, streamed by the gateway with the
//! client's own token, the result last; other clients get the one JSON answer as before.
//! Upstreams on the official Python SDK (`fed_server.py`) and TypeScript SDK
//! (`fed_server_ts.mjs`); the official Python and TypeScript SDK clients
//! (`fed_client_progress.py`, `.mjs`) and raw HTTP for what is on the wire.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Upstream, dir, wait_listed};
use crate::common::{Options, Resp, Stack};

const POLICY: &str = "\
toolsets:
  examples: { roles: [mcp-user] }
  up: { roles: [mcp-user] }
  ts: { roles: [mcp-user] }
  short: { roles: [mcp-user] }
";

/// An official SDK client (Python, or TypeScript with `typescript`) calls `tool` with
/// `{"steps": steps}` and a progress callback: the events it received
/// (`[progress, total, message]`) and the result's text.
fn sdk_call_with_progress(
    s: &Stack,
    key: &str,
    tool: &str,
    steps: u32,
    typescript: bool,
) -> (Vec<Value>, String) {
    let root = mcp_testkit::repo_root();
    let mut cmd = if typescript {
        let mut c = Command::new("node");
        c.arg(root.join("proxy/tests/peers/fed_client_progress.mjs"))
            .env("NODE_PATH", root.join(".peers/node/node_modules"));
        c
    } else {
        let mut c = Command::new(root.join(".peers/venv/bin/python"));
        c.arg(root.join("proxy/tests/peers/fed_client_progress.py"));
        c
    };
    let out = cmd
        .args([&s.mcp_url(), key, tool, &steps.to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let events = v["events"].as_array().unwrap().clone();
    (events, v["text"].as_str().unwrap().to_owned())
}

/// A `tools/call` (id 1) with `_meta.progressToken` = `token` when given.
fn call_body(tool: &str, arguments: Value, token: Option<Value>) -> String {
    let mut params = json!({"name": tool, "arguments": arguments});
    if let Some(t) = token {
        params["_meta"] = json!({"progressToken": t});
    }
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}).to_string()
}

fn content_type(r: &Resp) -> &str {
    r.header("content-type").unwrap_or("")
}

/// The JSON messages of an event stream, in order.
fn events(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|block| {
            let data: Vec<&str> = block
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            (!data.is_empty()).then(|| serde_json::from_str(&data.join("\n")).unwrap())
        })
        .collect()
}

#[test]
fn progress_of_a_federated_call_is_streamed_to_clients_that_accept_event_streams() {
    let tmp = dir();
    let up = Upstream::start(tmp.path(), &[]);
    let ts = Upstream::start_ts(tmp.path(), &[]);
    let s = Stack::start(Options {
        policy: POLICY.into(),
        config: format!(
            "mcp_servers:\n- {{name: up, url: '{}', request_timeout: 10s}}\n\
             - {{name: ts, url: '{}', request_timeout: 10s}}\n\
             - {{name: short, url: '{}', request_timeout: 1s}}\n",
            up.url(),
            ts.url(),
            up.url()
        ),
        ..Options::default()
    });
    let (_, user) = s.create_key("alice", &["mcp-user"], "1d");
    wait_listed(&s, &user, "up__progress_token");
    wait_listed(&s, &user, "ts__slow");
    wait_listed(&s, &user, "short__slow");

    // The official Python and TypeScript SDK clients, against a Python SDK and a TypeScript
    // SDK server: every step's progress, in order, then the result.
    for (tool, with_message, typescript) in [
        ("up__slow", true, false),
        ("ts__slow", false, false),
        ("up__slow", true, true),
    ] {
        let (got, text) = sdk_call_with_progress(&s, &user, tool, 6, typescript);
        let who = format!("{tool}, typescript client: {typescript}");
        assert_eq!(text, "done after 6 steps", "{who}");
        assert_eq!(got.len(), 6, "{who}: {got:?}");
        for (i, e) in got.iter().enumerate() {
            let step = (i + 1) as f64;
            assert_eq!(e[0].as_f64(), Some(step), "{who}: {got:?}");
            assert_eq!(e[1].as_f64(), Some(6.0), "{who}: {got:?}");
            if with_message {
                assert_eq!(e[2], format!("step {}", i + 1), "{who}: {got:?}");
            }
        }
    }

    // On the wire: an event stream, the client's own token on each progress event (the
    // upstream saw a token of the gateway's, not the client's), the response last.
    let secret = "client-token-7f3a";
    let r = s.post_raw(
        Some(&user),
        &call_body("up__progress_token", json!({}), Some(json!(secret))),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        content_type(&r).starts_with("text/event-stream"),
        "{:?}",
        r.headers
    );
    assert_eq!(
        r.headers.get("cache-control").unwrap(),
        "no-store",
        "{:?}",
        r.headers
    );
    assert!(r.headers.get("x-request-id").is_some());
    let messages = events(&r.text);
    let (last, progress) = messages.split_last().unwrap();
    assert_eq!(progress.len(), 1, "{}", r.text);
    assert_eq!(progress[0]["method"], "notifications/progress");
    assert_eq!(
        progress[0]["params"],
        json!({"progressToken": secret, "progress": 1, "total": 1, "message": "only step"})
    );
    assert_eq!(last["id"], 1, "{}", r.text);
    let seen: Value =
        serde_json::from_str(last["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert!(
        seen.is_u64(),
        "the upstream saw {seen}, not a token of the gateway's"
    );
    assert!(!r.text.contains(&format!("\"progressToken\":{seen}")));

    // A 2026-07-28 client (no handshake; version and routing headers): the same stream, the
    // last event with that revision's envelope.
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
        "name": "up__slow", "arguments": {"steps": 2}, "_meta": {
            "progressToken": "new-era",
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}}});
    let r = s.post_raw(
        Some(&user),
        &body.to_string(),
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "up__slow"),
        ],
    );
    let messages = events(&r.text);
    let (last, progress) = messages.split_last().unwrap();
    assert_eq!(progress.len(), 2, "{}", r.text);
    assert!(
        progress
            .iter()
            .all(|p| p["params"]["progressToken"] == "new-era"),
        "{}",
        r.text
    );
    assert_eq!(last["id"], 5, "{}", r.text);
    assert_eq!(last["result"]["resultType"], "complete", "{}", r.text);

    // Without event streams in Accept, or without a progress token: the one JSON answer, the
    // same bytes either way.
    let body_token = call_body("up__slow", json!({"steps": 3}), Some(json!(42)));
    let json_only = s.post_raw(Some(&user), &body_token, &[("accept", "application/json")]);
    let no_token = s.post_raw(
        Some(&user),
        &call_body("up__slow", json!({"steps": 3}), None),
        &[],
    );
    for r in [&json_only, &no_token] {
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(content_type(r), "application/json", "{:?}", r.headers);
        assert_eq!(r.result()["content"][0]["text"], "done after 3 steps");
    }
    assert_eq!(json_only.text, no_token.text);
    // A wasm tool sends no progress: JSON, even when progress was asked for.
    let wasm = s.post_raw(
        Some(&user),
        &call_body("echo", json!({"text": "hi"}), Some(json!(1))),
        &[],
    );
    assert_eq!(content_type(&wasm), "application/json", "{}", wasm.text);
    assert_eq!(wasm.result()["isError"], false, "{}", wasm.text);

    // The call's deadline still holds while it streams: past it, the error is the last event.
    let started = std::time::Instant::now();
    let r = s.post_raw(
        Some(&user),
        &call_body("short__slow", json!({"steps": 1000}), Some(json!(9))),
        &[],
    );
    let took = started.elapsed();
    let messages = events(&r.text);
    let (last, progress) = messages.split_last().unwrap();
    assert!(!progress.is_empty(), "{}", r.text);
    assert!(
        progress
            .windows(2)
            .all(|w| w[0]["params"]["progress"].as_f64() < w[1]["params"]["progress"].as_f64()),
        "in order: {}",
        r.text
    );
    assert_eq!(last["error"]["data"]["kind"], "timeout", "{}", r.text);
    assert!(took < Duration::from_secs(5), "{took:?}");

    // A client that leaves mid-stream ends the call (it would take 10 s and time out).
    let left = std::time::Instant::now();
    let head = leave_after_first_progress(&s, &user, "up__slow", json!({"steps": 2000}));
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );

    // One audit line per call, streamed or not, with the call's own status.
    let of = |tool: &str| -> Vec<Value> {
        s.audit()
            .into_iter()
            .filter(|l| l["tool"] == tool)
            .collect()
    };
    mcp_testkit::wait_for("the audit lines", Duration::from_secs(10), || {
        (!of("up__progress_token").is_empty() && !of("short__slow").is_empty()).then_some(())
    });
    for (tool, status) in [("up__progress_token", "success"), ("short__slow", "error")] {
        let lines = of(tool);
        assert_eq!(lines.len(), 1, "{tool}: {lines:?}");
        assert_eq!(lines[0]["status"], status, "{tool}: {lines:?}");
    }
    let gone = mcp_testkit::wait_for("the left call's audit line", Duration::from_secs(8), || {
        of("up__slow")
            .into_iter()
            .find(|l| l["error"] == "client_disconnected")
    });
    assert_eq!(gone["status"], "error", "{gone}");
    assert!(
        left.elapsed() < Duration::from_secs(9),
        "{:?}",
        left.elapsed()
    );
}

/// Calls `tool` over a raw HTTP/1.1 connection with a progress token, reads until the first
/// progress event, then closes the connection. The response header as read.
fn leave_after_first_progress(s: &Stack, key: &str, tool: &str, arguments: Value) -> String {
    let (conn, got) = open_progress_stream(s, key, tool, arguments);
    drop(conn);
    let text = String::from_utf8_lossy(&got).into_owned();
    text.split("\r\n\r\n").next().unwrap().to_owned()
}

/// Sends `tool` over a raw HTTP/1.1 connection with a progress token and reads until the
/// first progress event: the connection and what was read.
fn open_progress_stream(
    s: &Stack,
    key: &str,
    tool: &str,
    arguments: Value,
) -> (std::net::TcpStream, Vec<u8>) {
    use std::io::{Read, Write};
    let url = s.mcp_url();
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let body = call_body(tool, arguments, Some(json!("raw-client")));
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "POST /mcp HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {key}\r\n\
         content-type: application/json\r\naccept: application/json, text/event-stream\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("notifications/progress") {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    (conn, got)
}

/// The gateway's peak resident memory (`VmHWM`), in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A client that stops reading while an upstream floods it with progress: the gateway keeps
/// at most its queue of events (the newest replacing the newest waiting one), the client gets
/// the latest progress and the result when it reads again. A client that reads all along
/// goes first, for comparison. Prints the figures for the docs.
#[test]
#[ignore = "measurement: run alone, prints the gateway's peak memory"]
fn measure_a_slow_client_of_a_progress_flood() {
    const COUNT: u64 = 20_000;
    const SIZE: u64 = 1000;
    let tmp = dir();
    let up = Upstream::start(tmp.path(), &[]);
    let s = Stack::start(Options {
        policy: POLICY.into(),
        config: format!(
            "mcp_servers:\n- {{name: up, url: '{}', request_timeout: 120s, max_response: 256MiB}}\n",
            up.url()
        ),
        ..Options::default()
    });
    let (_, user) = s.create_key("alice", &["mcp-user"], "1d");
    wait_listed(&s, &user, "up__flood");
    let pid = s.gateway.pid();
    let before = peak_kib(pid);
    let mut figures = Vec::new();
    for (run, pause) in [("reading", false), ("paused", true)] {
        let done = tmp.path().join(format!("{run}.done"));
        let started = std::time::Instant::now();
        let args = json!({"count": COUNT, "size": SIZE, "done_file": done.display().to_string()});
        let (mut conn, mut got) = open_progress_stream(&s, &user, "up__flood", args);
        if pause {
            // The client reads nothing more until the upstream has sent everything.
            mcp_testkit::wait_for("the upstream's flood", Duration::from_secs(120), || {
                done.exists().then_some(())
            });
        }
        read_to_end_of_chunks(&mut conn, &mut got);
        let took = started.elapsed();
        let text = String::from_utf8_lossy(&got);
        let received = text.matches("notifications/progress").count() as u64;
        let last = text
            .rmatch_indices("\"progress\":")
            .next()
            .map(|(i, m)| {
                text[i + m.len()..]
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .unwrap();
        assert!(
            text.contains(&format!("flooded {COUNT}")),
            "{run}: no result"
        );
        assert_eq!(
            last,
            COUNT.to_string(),
            "{run}: the newest progress is kept"
        );
        if pause {
            assert!(
                received < COUNT,
                "{received} of {COUNT}: nothing was coalesced"
            );
        }
        figures.push(format!(
            "{run}: {received} events ({} bytes) read in {:.1} s, gateway VmHWM after {} KiB",
            got.len(),
            took.as_secs_f64(),
            peak_kib(pid)
        ));
    }
    eprintln!(
        "MEASURE flood of {COUNT} progress events of {SIZE} characters; gateway VmHWM before \
         {before} KiB; {}",
        figures.join("; ")
    );
}

/// Reads an HTTP/1.1 chunked answer to its last chunk.
fn read_to_end_of_chunks(conn: &mut std::net::TcpStream, got: &mut Vec<u8>) {
    use std::io::Read;
    let mut buf = vec![0u8; 1 << 16];
    while !got.ends_with(b"0\r\n\r\n") {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the end");
        got.extend_from_slice(&buf[..n]);
    }
}
