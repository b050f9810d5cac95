//! The operator's commands against a running stack: `doctor` reports each check and fails when
//! a sandbox is down; `audit` summarises the audit log the gateway wrote.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::process::Command;

use crate::common::{Options, Stack};
use serde_json::json;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(mcp_testkit::bin("mcp-gateway"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn doctor_passes_on_a_healthy_stack_and_fails_when_the_sandbox_is_down() {
    let mut s = Stack::start(Options::default());
    s.create_key("alice", &["mcp-user"], "3d");
    let config = s.dir.path().join("gateway.yaml");
    let config = config.to_str().unwrap();
    let (ok, text) = run(&["doctor", "--config", config]);
    assert!(ok, "{text}");
    for line in [
        "PASS  config",
        "PASS  policy",
        "PASS  sandbox",
        "PASS  session",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    // The key made above expires in 3 days: inside the 7-day warning window.
    assert!(
        text.contains("WARN  keys") && text.contains("alice"),
        "{text}"
    );
    s.kill_sandbox(0);
    let (ok, text) = run(&["doctor", "--config", config]);
    assert!(!ok, "doctor must fail when the sandbox is down:\n{text}");
    assert!(
        text.contains("FAIL  sandbox") && text.contains("is mcp-sandbox running"),
        "{text}"
    );
}

#[test]
fn audit_summarises_users_tools_errors_and_unused_keys() {
    let s = Stack::start(Options::default());
    let (_, alice) = s.create_key("alice", &["mcp-user"], "1d");
    let (_, idle) = s.create_key("idle", &["mcp-user"], "1d");
    let _ = idle;
    for _ in 0..3 {
        s.call_tool(&alice, "echo", json!({"text": "x"}));
    }
    s.call_tool(&alice, "text_stats", json!({"text": "x"})); // denied: admin-only
    let unknown = format!("mcpk_0123456789ab_{}", "A".repeat(43));
    s.post_raw(
        Some(&unknown),
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        &[],
    );
    let log = s.dir.path().join("gateway-audit.log");
    let keys = s.keys_dir.to_str().unwrap();
    let (ok, text) = run(&[
        "audit",
        log.to_str().unwrap(),
        "--json",
        "--keys-dir",
        keys,
        "--unused-days",
        "0",
    ]);
    assert!(ok, "{text}");
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    let echo = r["by_tool"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tool"] == "echo")
        .unwrap();
    assert_eq!(echo["calls"], 3);
    assert_eq!(r["by_status"]["denied"], 2);
    assert!(
        r["auth_failures_by_reason"]
            .to_string()
            .contains("unknown_key"),
        "{r}"
    );
    assert!(r["errors_by_kind"].to_string().contains("forbidden"), "{r}");
    let unused: Vec<&str> = r["unused_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["user"].as_str().unwrap())
        .collect();
    assert!(unused.contains(&"idle"), "{r}");
    let (ok, text) = run(&["audit", log.to_str().unwrap()]);
    assert!(
        ok && text.contains("requests by user") && text.contains("alice"),
        "{text}"
    );
}
