//! Federation, protocol translation: a client and an upstream speaking different revisions.
//! The official TypeScript SDK server (`fed_server_ts.mjs`, which negotiates 2025-11-25) has
//! tools returning a `resource_link` and `structuredContent` without text; a 2025-03-26 client
//! (raw HTTP, after an `initialize` at that revision, and one that sends no version header)
//! gets them translated, a 2025-11-25 client gets the upstream's result bytes. A server of the
//! old HTTP+SSE transport (the official Python SDK's `sse_app`, `fed_server_sse.py`) is refused
//! at initialize with a message that says so.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::Path;
use std::time::Duration;

use mcp_testkit::ProcBuilder;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::{Upstream, dir, direct_call_raw, wait_listed};
use crate::common::{Options, Resp, Stack};

const POLICY: &str = "\
toolsets:
  examples: { roles: [mcp-user] }
  ts: { roles: [mcp-user] }
  old: { roles: [mcp-user] }
";

#[derive(Deserialize)]
struct Response<'a> {
    #[serde(borrow)]
    result: &'a RawValue,
}

/// The `result` of a JSON-RPC answer (plain JSON or the last event of a stream) as the bytes
/// it was written with.
fn raw_result(text: &str) -> String {
    let body = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .next_back()
        .unwrap_or(text);
    let r: Response<'_> = serde_json::from_str(body).unwrap();
    r.result.get().to_owned()
}

fn call(s: &Stack, key: &str, tool: &str, args: Value, version: Option<&str>) -> Resp {
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                      "params": {"name": tool, "arguments": args}});
    let headers: Vec<(&str, &str)> = version
        .map(|v| ("mcp-protocol-version", v))
        .into_iter()
        .collect();
    let r = s.post_raw(Some(key), &body.to_string(), &headers);
    assert_eq!(r.status, 200, "{}", r.text);
    r
}

fn start_sse_server(dir: &Path) -> (mcp_testkit::Proc, String) {
    let root = mcp_testkit::repo_root();
    let port = mcp_testkit::free_port();
    let url = format!("http://127.0.0.1:{port}/sse");
    let proc = ProcBuilder::new(&root.join(".peers/venv/bin/python"), &dir.join("logs/sse"))
        .arg(root.join("proxy/tests/peers/fed_server_sse.py"))
        .env("PORT", port.to_string())
        .spawn(url.clone());
    let addr = format!("127.0.0.1:{port}");
    mcp_testkit::wait_for(
        "the HTTP+SSE MCP server to listen",
        Duration::from_secs(30),
        || std::net::TcpStream::connect(&addr).ok().map(|_| ()),
    );
    (proc, url)
}

#[test]
fn older_clients_get_results_translated_newer_ones_the_upstreams_bytes() {
    let tmp = dir();
    let ts = Upstream::start_ts(tmp.path(), &[]);
    let (mut sse, sse_url) = start_sse_server(tmp.path());
    let s = Stack::start(Options {
        policy: POLICY.into(),
        config: format!(
            "mcp_servers:\n- {{name: ts, url: '{}'}}\n- {{name: old, url: '{sse_url}'}}\n",
            ts.url()
        ),
        ..Options::default()
    });
    let (_, user) = s.create_key("alice", &["mcp-user"], "1d");
    wait_listed(&s, &user, "ts__report");

    // A 2025-11-25 client: the upstream's result, byte for byte.
    let args = json!({"quarter": "q3"});
    for (tool, upstream_tool, args) in [
        ("ts__report", "report", args.clone()),
        ("ts__totals", "totals", json!({})),
    ] {
        let (_, direct) = direct_call_raw(&ts.url(), upstream_tool, args.clone());
        let via = call(&s, &user, tool, args, Some("2025-11-25"));
        assert_eq!(raw_result(&via.text), raw_result(&direct), "{tool}");
    }
    let newer = call(
        &s,
        &user,
        "ts__report",
        json!({"quarter": "q3"}),
        Some("2025-06-18"),
    );
    assert_eq!(newer.result()["content"][0]["type"], "resource_link");

    // A 2025-03-26 client, after initializing at that revision.
    let init = s.rpc(
        &user,
        "initialize",
        json!({"protocolVersion": "2025-03-26", "capabilities": {},
               "clientInfo": {"name": "old-client", "version": "1"}}),
    );
    assert_eq!(
        init.result()["protocolVersion"],
        "2025-03-26",
        "{}",
        init.text
    );
    for version in [Some("2025-03-26"), None] {
        let r = call(&s, &user, "ts__report", json!({"quarter": "q3"}), version).result();
        assert_eq!(
            r["content"],
            json!([
                {"type": "text", "text":
                    "Resource link: q3.csv <file:///reports/q3.csv> [text/csv]: The report's rows."},
                {"type": "text", "text": r#"{"quarter":"q3","rows":3}"#},
            ]),
            "{version:?}: {r}"
        );
        // Extra fields stay, as in the wasm tools' results.
        assert_eq!(r["structuredContent"], json!({"quarter": "q3", "rows": 3}));
        let r = call(&s, &user, "ts__totals", json!({}), version).result();
        assert_eq!(
            r["content"],
            json!([{"type": "text", "text": r#"{"total":42}"#}]),
            "{version:?}: {r}"
        );
    }
    // Results without newer features are not touched for an older client either.
    let (_, direct) = direct_call_raw(&ts.url(), "weather", json!({"city": "Oslo"}));
    let via = call(
        &s,
        &user,
        "ts__weather",
        json!({"city": "Oslo"}),
        Some("2025-03-26"),
    );
    assert_eq!(raw_result(&via.text), raw_result(&direct));
    // Listings are the same for every handshake revision (extra fields, as for wasm tools).
    let list = |v: &str| {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}});
        raw_result(
            &s.post_raw(
                Some(&user),
                &body.to_string(),
                &[("mcp-protocol-version", v)],
            )
            .text,
        )
    };
    assert_eq!(list("2025-03-26"), list("2025-11-25"));

    // The old HTTP+SSE transport: refused at initialize, saying so; its tools never listed.
    let log = mcp_testkit::wait_for(
        "the gateway to refuse the HTTP+SSE server",
        Duration::from_secs(20),
        || {
            let log = s.gateway.stderr();
            log.contains("HTTP+SSE").then_some(log)
        },
    );
    assert!(log.contains("405") && log.contains("2024-11-05"), "{log}");
    assert!(!s.tool_names(&user).iter().any(|n| n.starts_with("old__")));
    sse.stop(Duration::from_secs(5));
}
