//! MCP Streamable HTTP through the real gateway and sandbox: sessions, versions, JSON-RPC errors,
//! pagination, tool results and tool failures, transport header checks.

use std::io::{Read as _, Write as _};

use crate::common::{Options, Stack};
use serde_json::json;

fn stack_with_user() -> (Stack, String) {
    let stack = Stack::start(Options::default());
    let (_, key) = stack.create_key("alice", &["mcp-user"], "1d");
    (stack, key)
}

#[test]
fn initialize_negotiates_the_version_and_issues_a_session_that_works_on_later_requests() {
    let (s, key) = stack_with_user();
    let init = json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}});
    let r = s.rpc(&key, "initialize", init.clone());
    assert_eq!(r.status, 200);
    let result = r.result();
    assert_eq!(result["protocolVersion"], "2025-06-18");
    assert_eq!(result["serverInfo"]["name"], "mcp-gateway");
    assert!(result["capabilities"]["tools"].is_object());
    let sid = r
        .header("mcp-session-id")
        .expect("session id issued")
        .to_owned();

    let newest = s.rpc(&key, "initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}));
    assert_eq!(newest.result()["protocolVersion"], "2025-11-25");
    let unknown = s.rpc(&key, "initialize", json!({"protocolVersion": "1999-01-01", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}));
    assert_eq!(unknown.result()["protocolVersion"], "2025-11-25");

    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}).to_string();
    let ok = s.post_raw(
        Some(&key),
        &body,
        &[
            ("mcp-session-id", &sid),
            ("mcp-protocol-version", "2025-06-18"),
        ],
    );
    assert_eq!((ok.status, ok.json()["result"].clone()), (200, json!({})));

    // The session is bound to its principal: another user presenting it must re-initialize.
    let (_, other) = s.create_key("bob", &["mcp-user"], "1d");
    let stolen = s.post_raw(Some(&other), &body, &[("mcp-session-id", &sid)]);
    assert_eq!(stolen.status, 404, "{}", stolen.text);
    let forged = s.post_raw(Some(&key), &body, &[("mcp-session-id", "mcps1.AAAA")]);
    assert_eq!(forged.status, 404);
}

#[test]
fn notifications_get_202_and_no_body() {
    let (s, key) = stack_with_user();
    let r = s.post_raw(
        Some(&key),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        &[],
    );
    assert_eq!(r.status, 202);
    assert!(r.text.is_empty());
}

#[test]
fn json_rpc_errors_use_the_right_codes() {
    let (s, key) = stack_with_user();
    let parse = s.post_raw(Some(&key), "{not json", &[]);
    assert_eq!((parse.status, parse.rpc_code()), (400, Some(-32700)));
    assert!(parse.json()["id"].is_null());
    let invalid = s.post_raw(
        Some(&key),
        r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
        &[],
    );
    assert_eq!((invalid.status, invalid.rpc_code()), (400, Some(-32600)));
    let batch = s.post_raw(
        Some(&key),
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
        &[],
    );
    assert_eq!(batch.rpc_code(), Some(-32600));
    let unknown = s.rpc(&key, "resources/list", json!({}));
    assert_eq!((unknown.status, unknown.rpc_code()), (200, Some(-32601)));
    assert_eq!(unknown.json()["id"], 1);
    let no_tool = s.call_tool(&key, "no_such_tool", json!({}));
    assert_eq!(no_tool.rpc_code(), Some(-32602));
    // Arguments that do not fit the schema are a tool error the model can read (2025-11-25).
    let bad_args = s.call_tool(&key, "echo", json!({"text": 5}));
    assert_eq!(bad_args.status, 200);
    assert_eq!(bad_args.result()["isError"], true, "{}", bad_args.text);
    assert!(bad_args.text.contains("/text"), "{}", bad_args.text);
    let missing = s.rpc(&key, "tools/call", json!({}));
    assert_eq!(missing.rpc_code(), Some(-32602));
}

#[test]
fn tools_list_is_paginated_with_opaque_cursors() {
    let (s, key) = stack_with_user();
    // page_size is 3 in the test config; mcp-user sees the examples in Rust, Python and
    // TypeScript but not text_stats (admin only in the test policy): three pages.
    let first = s.rpc(&key, "tools/list", json!({})).result();
    assert_eq!(first["tools"].as_array().unwrap().len(), 3);
    let names = s.tool_names(&key);
    assert_eq!(
        names,
        vec![
            "call_echo_twice",
            "echo",
            "py_echo",
            "py_text_stats",
            "py_text_transform",
            "text_transform",
            "ts_echo",
            "ts_text_stats",
            "ts_text_transform"
        ]
    );
    let (_, admin) = s.create_key("root", &["mcp-admin"], "1d");
    let all = s.tool_names(&admin);
    assert!(
        all.len() > 3 && all.contains(&"spin".to_owned()) && all.contains(&"text_stats".to_owned()),
        "{all:?}"
    );
    let mut sorted = all.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(all, sorted, "pages must not repeat or reorder tools");
    let bad = s.rpc(&key, "tools/list", json!({"cursor": "not-a-cursor"}));
    assert_eq!(bad.rpc_code(), Some(-32602));
}

#[test]
fn tool_results_carry_text_and_structured_content() {
    let (s, key) = stack_with_user();
    let r = s.call_tool(&key, "echo", json!({"text": "héllo"})).result();
    assert_eq!(r["isError"], false);
    assert_eq!(
        r["structuredContent"],
        json!({"text": "héllo", "length": 5})
    );
    let text: serde_json::Value =
        serde_json::from_str(r["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text["text"], "héllo");
    let nested = s
        .call_tool(&key, "call_echo_twice", json!({"text": "a"}))
        .result();
    assert_eq!(nested["structuredContent"]["combined"], "a | a a");
}

#[test]
fn tool_failures_are_results_with_is_error_not_protocol_errors() {
    let s = Stack::start(Options::default());
    let (_, admin) = s.create_key("root", &["mcp-admin"], "1d");
    for (tool, kind) in [
        ("spin", "fuel_exhausted"),
        ("panic", "tool_trap"),
        ("memory_bomb", "memory_limit"),
    ] {
        let r = s.call_tool(&admin, tool, json!({}));
        assert_eq!(r.status, 200, "{}", r.text);
        let result = r.result();
        assert_eq!(result["isError"], true, "{tool}: {result}");
        let text = result["content"][0]["text"].as_str().unwrap();
        assert!(text.contains(kind) && text.contains(tool), "{tool}: {text}");
    }
    assert_eq!(
        s.call_tool(&admin, "echo", json!({"text": "ok"})).result()["isError"],
        false
    );
}

#[test]
fn transport_headers_are_checked() {
    let (s, key) = stack_with_user();
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    // A version of the handshake era the gateway does not speak.
    let r = s.post_raw(Some(&key), &ping, &[("mcp-protocol-version", "2024-11-05")]);
    assert_eq!((r.status, r.rpc_code()), (400, Some(-32022)), "{}", r.text);
    assert!(
        r.text.contains("unsupported MCP-Protocol-Version"),
        "{}",
        r.text
    );
    // A later revision: validated as a 2026-07-28-era request, and refused with the
    // structured answer that tells the client which versions to use.
    let meta = |v: &str| {
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": v,
            "io.modelcontextprotocol/clientCapabilities": {}}}})
        .to_string()
    };
    let r = s.post_raw(
        Some(&key),
        &meta("2099-01-01"),
        &[
            ("mcp-protocol-version", "2099-01-01"),
            ("mcp-method", "tools/list"),
        ],
    );
    assert_eq!((r.status, r.rpc_code()), (400, Some(-32022)), "{}", r.text);
    assert!(
        r.json()["error"]["data"]["supported"]
            .as_array()
            .is_some_and(|v| v.len() == 4)
    );
    let r = s.post_raw(
        Some(&key),
        &meta("2026-07-28"),
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/list"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.result()["resultType"], "complete");
    // Stateless revision: Mcp-Method / Mcp-Name must match the body.
    let r = s.post_raw(
        Some(&key),
        &ping,
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/list"),
        ],
    );
    assert_eq!(r.status, 400);
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "x"}}}).to_string();
    let r = s.post_raw(
        Some(&key),
        &call,
        &[("mcp-method", "tools/call"), ("mcp-name", "text_transform")],
    );
    assert_eq!(r.status, 400);
    let r = s.post_raw(
        Some(&key),
        &call,
        &[("mcp-method", "tools/call"), ("mcp-name", "echo")],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let discover = s.rpc(&key, "server/discover", json!({})).result();
    assert!(
        discover["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28"))
    );
}

#[test]
fn origins_methods_sizes_and_media_types_are_enforced() {
    let (s, key) = stack_with_user();
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    let r = s.post_raw(Some(&key), &ping, &[("origin", "https://evil.example")]);
    assert_eq!(r.status, 403);
    assert_eq!(s.get("/mcp").status, 405);
    // A body over the limit is refused from its Content-Length, before it is sent (an HTTP
    // client writing the whole body would race the gateway closing the connection).
    let mut c = std::net::TcpStream::connect(s.gateway.addr()).unwrap();
    write!(
        c,
        "POST /mcp HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {key}\r\n\
         content-type: application/json\r\naccept: application/json\r\n\
         content-length: {}\r\n\r\n{{\"jsonrpc\":\"2.0\"",
        17 << 20
    )
    .unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut head = [0u8; 12];
    c.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413", "{}", String::from_utf8_lossy(&head));
    let r = s.post_raw(Some(&key), &ping, &[("content-type", "text/plain")]);
    assert_eq!(r.status, 415);
    // A client that only accepts SSE gets the response as one event.
    let r = s.post_raw(Some(&key), &ping, &[("accept", "text/event-stream")]);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert!(r.text.starts_with("event: message\ndata: {"), "{}", r.text);
    // The gateway kept serving.
    assert_eq!(s.rpc(&key, "ping", json!({})).status, 200);
}

#[test]
fn health_ready_and_resource_metadata_are_served() {
    let (s, _) = stack_with_user();
    let h = s.get("/health").json();
    assert_eq!(h["status"], "healthy");
    assert!(h["version"].is_string());
    let r = s.get("/ready").json();
    assert_eq!(r["status"], "ready");
    let m = s.get("/.well-known/oauth-protected-resource").json();
    assert!(m["resource"].as_str().unwrap().ends_with("/mcp"));
    assert_eq!(m["bearer_methods_supported"], json!(["header"]));
}

#[test]
fn with_an_admin_listener_metrics_leave_the_public_port() {
    let admin = format!("127.0.0.1:{}", mcp_testkit::free_port());
    let s = Stack::start(Options {
        config: format!("admin_listen: {admin}"),
        ..Options::default()
    });
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    assert_eq!(s.rpc(&key, "ping", json!({})).status, 200);
    // The public port no longer tells anyone which users and keys exist.
    let public = s.get("/metrics");
    assert_eq!(public.status, 404, "{}", public.text);
    assert!(!public.text.contains("alice"));
    assert_eq!(s.get("/health").status, 200);
    let http = reqwest::blocking::Client::new();
    let metrics = http.get(format!("http://{admin}/metrics")).send().unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().unwrap();
    assert!(
        text.contains("mcp_requests_total{method=\"ping\",user=\"alice\"}"),
        "{text}"
    );
    for probe in ["/health", "/ready"] {
        let r = http.get(format!("http://{admin}{probe}")).send().unwrap();
        assert_eq!(r.status(), 200, "{probe} on the admin listener");
    }
    // Readiness details (sandbox addresses) are for operators: the public port only says
    // whether the replica is ready.
    let public_ready = s.get("/ready").json();
    assert_eq!(public_ready, serde_json::json!({"status": "ready"}));
    let admin_ready: serde_json::Value = http
        .get(format!("http://{admin}/ready"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(admin_ready["sandboxes"].is_array(), "{admin_ready}");
    // MCP is not served there.
    let r = http
        .post(format!("http://{admin}/mcp"))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn sandboxes_can_be_named_by_host_name() {
    let s = Stack::start(Options {
        sandbox_host_names: true,
        ..Options::default()
    });
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    let ready = s.get("/ready").json();
    assert!(
        ready["sandboxes"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("http://localhost:"),
        "{ready}"
    );
    assert_eq!(
        s.call_tool(&key, "echo", json!({"text": "by name"}))
            .result()["isError"],
        false
    );
}
