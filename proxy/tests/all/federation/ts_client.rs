//! Federation through the official MCP TypeScript SDK client (`fed_client_ts.mjs`): listing
//! filtered by role, a call allowed and one refused, and a resource read, against the official
//! Python SDK server (`fed_server.py` with resources). Then what operators see of it: the
//! `resources/read` audit line names the server, and `mcp_requests_total` counts reads under
//! their own method label.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::process::Command;

use serde_json::{Value, json};

use super::{Upstream, dir, wait_listed};
use crate::common::{Options, Stack};

const POLICY: &str = "\
toolsets:
  examples: { roles: [mcp-user, mcp-admin] }
  up: { roles: [mcp-user, mcp-admin] }
tools:
  up__fail: { roles: [mcp-admin] }
";

/// What the TypeScript SDK client saw: tool names, then each call's and read's outcome.
fn ts_client(s: &Stack, key: &str, calls: Value, reads: Value) -> Value {
    let root = mcp_testkit::repo_root();
    let out = Command::new("node")
        .arg(root.join("proxy/tests/peers/fed_client_ts.mjs"))
        .env("NODE_PATH", root.join(".peers/node/node_modules"))
        .args([
            s.mcp_url(),
            key.to_owned(),
            calls.to_string(),
            reads.to_string(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

#[test]
fn the_typescript_sdk_client_lists_by_role_calls_and_is_refused_through_the_gateway() {
    let tmp = dir();
    let up = Upstream::start(tmp.path(), &[("EXTRAS", "a")]);
    let s = Stack::start(Options {
        policy: POLICY.into(),
        config: format!("mcp_servers:\n- {{name: up, url: '{}'}}\n", up.url()),
        ..Options::default()
    });
    let (_, user) = s.create_key("alice", &["mcp-user"], "1d");
    let (_, admin) = s.create_key("root", &["mcp-admin"], "1d");
    wait_listed(&s, &user, "up__echo");

    let calls = json!([
        ["up__echo", {"text": "from typescript"}],
        ["up__fail", {"message": "no such city"}],
    ]);
    let seen = ts_client(&s, &user, calls.clone(), json!(["a://only"]));
    let names: Vec<&str> = seen["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"up__echo") && names.contains(&"echo"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"up__fail"),
        "an admin-only tool: {names:?}"
    );
    assert_eq!(
        seen["called"][0],
        json!({"texts": ["from typescript"], "isError": false})
    );
    // Refused exactly like an unknown tool: JSON-RPC -32602, thrown by the SDK.
    assert_eq!(seen["called"][1]["error"]["code"], -32602, "{seen}");
    assert!(
        seen["called"][1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("up__fail"),
        "{seen}"
    );
    assert_eq!(seen["read"][0], json!({"texts": ["only a"]}), "{seen}");

    // The admin sees and may call it: the tool answers with its own failure (isError).
    let seen = ts_client(&s, &admin, calls, json!([]));
    assert!(
        seen["names"]
            .as_array()
            .unwrap()
            .contains(&json!("up__fail")),
        "{seen}"
    );
    assert_eq!(seen["called"][1]["isError"], true, "{seen}");
    assert!(
        seen["called"][1]["texts"][0]
            .as_str()
            .unwrap()
            .contains("no such city"),
        "{seen}"
    );

    // Operators: the read's audit line names the server; reads have their own method label.
    let audit = s.audit();
    assert!(
        audit.iter().any(|l| l["method"] == "resources/read"
            && l["server"] == "up"
            && l["user"] == "alice"),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .filter(|l| l["method"] == "tools/call")
            .all(|l| l.get("server").is_none()),
        "{audit:?}"
    );
    let metrics = s.metrics();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("mcp_requests_total{")
                && l.contains(r#"method="resources/read""#)),
        "{metrics}"
    );
    assert!(
        metrics.contains("# HELP mcp_federated_requests_total "),
        "described: {metrics}"
    );
}
