//! Tools written with the Python and TypeScript SDKs (sdk/python, sdk/typescript), through the
//! gateway as a client sees them: the examples the `examples` tool set serves (`py_examples.wasm`,
//! `ts_examples.wasm`) listed by role and called by the official MCP SDK clients, schema
//! violations refused, the hostile SDK tools (`py_tests.wasm`, `ts_tests.wasm`, added as a tool
//! set of their own once the stack runs) stopped by their limits, outbound HTTP allowed only to
//! the granted origin, and a changed component served without a restart.
//!
//! What the sandbox alone proves is in sandbox/tests/all/{python_tools,typescript_tools,sdk_http}.rs
//! (schemas, answers equal to the Rust examples, nested calls, credentials injected by the host,
//! `tool check` failing a broken tool).
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{Options, Resp, Stack};
use mcp_testkit::http_stub::StubServer;
use serde_json::{Value, json};

/// The examples for `mcp-user` and `mcp-admin` except the `*text_stats` tools (admin only, as
/// in the common test policy); the hostile tools for `mcp-admin` only.
const POLICY: &str = "\
toolsets:
  examples: { roles: [mcp-user, mcp-admin] }
  hostile: { roles: [mcp-admin] }
  sdk: { roles: [mcp-admin] }
tools:
  text_stats: { roles: [mcp-admin] }
  py_text_stats: { roles: [mcp-admin] }
  ts_text_stats: { roles: [mcp-admin] }
";

fn stack() -> Stack {
    Stack::start(Options {
        policy: POLICY.into(),
        ..Options::default()
    })
}

/// Writes a tool set manifest into the sandbox's watched directory (whole, by rename) and waits
/// until the gateway lists `tool` to `token`.
fn add_toolset(s: &Stack, name: &str, yaml: &str, token: &str, tool: &str) {
    let dir = s.dir.path().join("toolsets");
    let tmp = dir.join(format!("{name}.yaml.tmp"));
    std::fs::write(&tmp, yaml).unwrap();
    std::fs::rename(&tmp, dir.join(format!("{name}.yaml"))).unwrap();
    wait_listed(s, token, tool, true);
}

fn wait_listed(s: &Stack, token: &str, tool: &str, listed: bool) {
    // A reload compiles nothing new when scripts/test.sh has filled the cache; a cold cache
    // compiles each interpreter component once, in a minute or more on a debug build.
    mcp_testkit::wait_for(
        &format!("{tool} to be listed: {listed}"),
        Duration::from_secs(300),
        || (s.tool_names(token).iter().any(|n| n == tool) == listed).then_some(()),
    );
}

/// Runs an official SDK client script (`proxy/tests/clients/sdk_tools_client.{py,mjs}`) with
/// `calls`, returning its JSON report.
fn sdk_client(lang: &str, s: &Stack, token: &str, calls: &Value) -> Value {
    let root = mcp_testkit::repo_root();
    let (program, script, env) = match lang {
        "python" => (
            root.join(".peers/venv/bin/python").display().to_string(),
            root.join("proxy/tests/clients/sdk_tools_client.py"),
            None,
        ),
        _ => (
            "node".to_owned(),
            root.join("proxy/tests/clients/sdk_tools_client.mjs"),
            Some(root.join(".peers/node/node_modules")),
        ),
    };
    let mut cmd = Command::new(&program);
    cmd.arg(&script)
        .arg(s.mcp_url())
        .arg(token)
        .arg(calls.to_string());
    if let Some(path) = env {
        cmd.env("NODE_PATH", path);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e} (run scripts/setup-peers.sh)"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{lang} client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("client output is not JSON ({e}): {stdout}"))
}

/// A tool failure's result: `isError` and its text (which names the tool and the kind).
fn failure(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.text);
    let result = r.result();
    assert_eq!(result["isError"], true, "{result}");
    result["content"][0]["text"].as_str().unwrap().to_owned()
}

#[test]
fn python_and_typescript_tools_are_listed_by_role_and_called_by_the_official_sdk_clients() {
    let s = stack();
    let (_, user) = s.create_key("alice", &["mcp-user"], "1d");
    let (_, admin) = s.create_key("root", &["mcp-admin"], "1d");
    let (_, viewer) = s.create_key("carol", &["mcp-viewer"], "1d");
    let sdk_tools = |names: Vec<String>| -> Vec<String> {
        names
            .into_iter()
            .filter(|n| n.starts_with("py_") || n.starts_with("ts_"))
            .collect()
    };
    let for_user = [
        "py_echo",
        "py_text_transform",
        "ts_echo",
        "ts_text_transform",
    ];
    assert_eq!(sdk_tools(s.tool_names(&user)), for_user);
    assert_eq!(
        sdk_tools(s.tool_names(&admin)),
        [
            "py_echo",
            "py_text_stats",
            "py_text_transform",
            "ts_echo",
            "ts_text_stats",
            "ts_text_transform"
        ]
    );
    assert!(s.tool_names(&viewer).is_empty());

    let rust_echo = s
        .call_tool(&user, "echo", json!({"text": "héllo"}))
        .result();
    for client in ["python", "typescript"] {
        let text = format!("from the {client} sdk, héllo");
        let calls = json!({
            "py_echo": {"name": "py_echo", "arguments": {"text": text}},
            "ts_echo": {"name": "ts_echo", "arguments": {"text": text}},
            "py_slug": {"name": "py_text_transform", "arguments": {"text": "Hello, World! 2026", "operation": "slug"}},
            "ts_slug": {"name": "ts_text_transform", "arguments": {"text": "Hello, World! 2026", "operation": "slug"}},
            "py_bad": {"name": "py_echo", "arguments": {"text": 5}},
            "ts_bad": {"name": "ts_echo", "arguments": {"text": 5}},
            "ts_bad_op": {"name": "ts_text_transform", "arguments": {"text": "x", "operation": "explode"}},
            "py_admin_only": {"name": "py_text_stats", "arguments": {"text": "x"}},
        });
        let v = sdk_client(client, &s, &user, &calls);
        let listed: Vec<String> = serde_json::from_value(v["tools"].clone()).unwrap();
        assert_eq!(sdk_tools(listed), for_user, "{client}: {v}");
        let c = &v["calls"];
        for tool in ["py_echo", "ts_echo"] {
            assert_eq!(c[tool]["is_error"], false, "{client} {tool}: {v}");
            assert_eq!(
                c[tool]["structured"],
                json!({"text": text, "length": text.chars().count()}),
                "{client} {tool}: {v}"
            );
        }
        for tool in ["py_slug", "ts_slug"] {
            assert_eq!(
                c[tool]["structured"],
                json!({"result": "hello-world-2026"}),
                "{client} {tool}: {v}"
            );
        }
        // Arguments that break the schema never reach the tool: a failed result naming the field.
        for call in ["py_bad", "ts_bad", "ts_bad_op"] {
            assert_eq!(c[call]["is_error"], true, "{client} {call}: {v}");
            let text = c[call]["text"].to_string();
            assert!(
                text.contains("/text") || text.contains("/operation"),
                "{client} {call}: {v}"
            );
        }
        // A tool the caller may not use is answered like one that does not exist.
        assert!(
            c["py_admin_only"]["raised"].is_string() || c["py_admin_only"]["is_error"] == true,
            "{client}: {v}"
        );
    }
    // The Rust echo and the SDK ones answer alike through the gateway.
    let py = s
        .call_tool(&user, "py_echo", json!({"text": "héllo"}))
        .result();
    let ts = s
        .call_tool(&user, "ts_echo", json!({"text": "héllo"}))
        .result();
    assert_eq!(py["structuredContent"], rust_echo["structuredContent"]);
    assert_eq!(ts["structuredContent"], rust_echo["structuredContent"]);
    let audit = s.audit();
    for tool in ["py_echo", "ts_echo"] {
        assert!(
            audit
                .iter()
                .any(|l| l["tool"] == tool && l["user"] == "alice" && l["status"] == "success"),
            "no audit line of alice's {tool} call"
        );
    }
}

#[test]
fn hostile_python_and_typescript_tools_are_stopped_by_their_limits_through_the_gateway() {
    let s = stack();
    let (_, admin) = s.create_key("root", &["mcp-admin"], "1d");
    // Python stopped by fuel, TypeScript (unlimited fuel here) by the deadline.
    add_toolset(
        &s,
        "sdk",
        "name: sdk\n\
         defaults:\n  limits: { memory: 64MiB, output: 1MiB }\n\
         components:\n\
         \x20 - file: py_tests.wasm\n    limits: { fuel: 2000000000, timeout: 20s }\n\
         \x20 - file: ts_tests.wasm\n    limits: { fuel: 1000000000000, timeout: 2s }\n",
        &admin,
        "ts_spin",
    );
    for (tool, kind) in [
        ("py_spin", "fuel_exhausted"),
        ("ts_spin", "timeout"),
        ("py_memory_bomb", "memory_limit"),
        ("ts_memory_bomb", "memory_limit"),
        ("py_stdout_flood", "output_too_large"),
        ("py_huge_output", "output_too_large"),
        ("ts_huge_output", "output_too_large"),
    ] {
        let text = failure(&s.call_tool(&admin, tool, json!({})));
        assert!(text.contains(kind) && text.contains(tool), "{tool}: {text}");
    }
    // What the tool set does not grant is not there: files, environment, sockets, HTTP.
    for tool in ["py_escape", "ts_escape"] {
        let r = s.call_tool(&admin, tool, json!({})).result();
        assert_eq!(r["isError"], false, "{tool}: {r}");
        let report = r["structuredContent"].as_object().unwrap();
        assert!(report.len() >= 2, "{tool}: {r}");
        for (what, outcome) in report {
            assert!(
                outcome.as_str().unwrap().starts_with("denied"),
                "{tool} {what}: {outcome}"
            );
        }
    }
    let text = failure(&s.call_tool(
        &admin,
        "py_fetch",
        json!({"url": format!("{}/health", s.url())}),
    ));
    assert!(text.contains("HttpRequestDenied"), "{text}");
    // The audit says which limit stopped each call; the sandbox kept serving.
    let audit = s.audit();
    for (tool, kind) in [("py_spin", "fuel_exhausted"), ("ts_spin", "timeout")] {
        assert!(
            audit
                .iter()
                .any(|l| l["tool"] == tool && l["error"] == kind),
            "no audit line with {tool} {kind}"
        );
    }
    for tool in ["py_echo", "ts_echo"] {
        let r = s.call_tool(&admin, tool, json!({"text": "still here"}));
        assert_eq!(r.result()["structuredContent"]["text"], "still here");
    }
}

#[test]
fn outbound_http_through_the_gateway_reaches_only_the_granted_origin() {
    let s = stack();
    let (_, admin) = s.create_key("root", &["mcp-admin"], "1d");
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let origin = StubServer::start(Arc::new(move |path: &str| {
        counted.fetch_add(1, Ordering::SeqCst);
        (200, format!("{{\"path\": \"{path}\"}}"))
    }));
    let port = origin.addr().port();
    add_toolset(
        &s,
        "sdk",
        &format!(
            "name: sdk\n\
             defaults:\n  limits: {{ fuel: 5000000000, timeout: 5s, memory: 64MiB }}\n  \
             capabilities:\n    http:\n      allow: [{{ origin: 'http://127.0.0.1:{port}' }}]\n      \
             max_requests: 2\n      timeout: 2s\n\
             components:\n  - file: py_tests.wasm\n  - file: ts_tests.wasm\n"
        ),
        &admin,
        "ts_fetch",
    );
    for tool in ["py_fetch", "ts_fetch"] {
        let url = format!("http://127.0.0.1:{port}/from/{tool}");
        let r = s.call_tool(&admin, tool, json!({"url": url})).result();
        assert_eq!(r["isError"], false, "{tool}: {r}");
        assert_eq!(r["structuredContent"]["status"], 200, "{tool}: {r}");
        assert_eq!(
            r["structuredContent"]["body"],
            format!("{{\"path\": \"/from/{tool}\"}}"),
            "{tool}: {r}"
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    // Another port of the same host, and the gateway itself: refused before anything is sent.
    let other = format!("http://127.0.0.1:{}/x", port.wrapping_add(1).max(1));
    for url in [other, format!("{}/health", s.url())] {
        for (tool, reason) in [("py_fetch", "HttpRequestDenied"), ("ts_fetch", "refused")] {
            let text = failure(&s.call_tool(&admin, tool, json!({"url": url})));
            assert!(text.contains(reason), "{tool} {url}: {text}");
        }
    }
    assert_eq!(hits.load(Ordering::SeqCst), 2, "nothing reached the origin");
}

#[test]
fn a_python_tool_changed_on_disk_is_served_by_the_gateway_without_a_restart() {
    let s = Stack::start(Options {
        policy: "toolsets:\n  mine: { roles: [mcp-user] }\n".into(),
        toolsets: &[],
        ..Options::default()
    });
    let (_, user) = s.create_key("alice", &["mcp-user"], "1d");
    // Beside the manifest, in the directory the sandbox watches.
    let dir = s.dir.path().join("toolsets");
    let file = dir.join("mine.wasm");
    let replace = |from: &str| {
        let tmp = dir.join("mine.wasm.tmp");
        std::fs::copy(mcp_testkit::tools_dir().join(from), &tmp).unwrap();
        std::fs::rename(&tmp, &file).unwrap();
    };
    replace("py_examples.wasm");
    add_toolset(
        &s,
        "mine",
        &format!(
            "name: mine\ndefaults:\n  limits: {{ fuel: 2000000000 }}\ncomponents:\n  - file: {}\n    name: mine\n",
            file.display()
        ),
        &user,
        "py_echo",
    );
    let r = s
        .call_tool(&user, "py_echo", json!({"text": "v1"}))
        .result();
    assert_eq!(r["structuredContent"], json!({"text": "v1", "length": 2}));
    // The component is rebuilt with other tools (here: the TypeScript examples): the gateway
    // lists and routes the new ones, and the old ones are gone, with no process restarted.
    replace("ts_examples.wasm");
    wait_listed(&s, &user, "ts_echo", true);
    wait_listed(&s, &user, "py_echo", false);
    let r = s
        .call_tool(&user, "ts_echo", json!({"text": "v2"}))
        .result();
    assert_eq!(r["structuredContent"], json!({"text": "v2", "length": 2}));
    let gone = s.call_tool(&user, "py_echo", json!({"text": "v1"}));
    assert_eq!(gone.rpc_code(), Some(-32602), "{}", gone.text);
}
