//! The official MCP SDK clients (Python and TypeScript) against the real gateway, with an API
//! key and with a JWT from the real OIDC provider.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::process::Command;

use crate::common::{Options, Stack};
use mcp_testkit::oidc::{OidcProvider, TestClient};
use serde_json::Value;

fn run_client(program: &str, args: &[&str], env: &[(&str, String)]) -> Value {
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e} (run scripts/setup-peers.sh)"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("client output is not JSON ({e}): {stdout}"))
}

fn python(stack: &Stack, token: &str) -> Value {
    let root = mcp_testkit::repo_root();
    let py = root.join(".peers/venv/bin/python");
    let script = root.join("proxy/tests/clients/py_client.py");
    run_client(
        py.to_str().unwrap(),
        &[script.to_str().unwrap(), &stack.mcp_url(), token],
        &[],
    )
}

fn typescript(stack: &Stack, token: &str) -> Value {
    let root = mcp_testkit::repo_root();
    let script = root.join("proxy/tests/clients/ts_client.mjs");
    let node_path = root.join(".peers/node/node_modules").display().to_string();
    run_client(
        "node",
        &[script.to_str().unwrap(), &stack.mcp_url(), token],
        &[("NODE_PATH", node_path)],
    )
}

fn assert_user_session(v: &Value, client: &str) {
    assert_eq!(v["server"], "mcp-gateway", "{v}");
    assert_eq!(
        v["tools"],
        serde_json::json!([
            "call_echo_twice",
            "echo",
            "py_echo",
            "py_text_stats",
            "py_text_transform",
            "text_transform",
            "ts_echo",
            "ts_text_stats",
            "ts_text_transform"
        ]),
        "{v}"
    );
    assert!(
        v["echo"][0]
            .as_str()
            .unwrap()
            .contains(&format!("from {client}")),
        "{v}"
    );
    assert_eq!(
        v["echo_structured"]["text"],
        format!("from {client}"),
        "{v}"
    );
}

#[test]
fn the_python_sdk_works_with_an_api_key() {
    let s = Stack::start(Options::default());
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    let v = python(&s, &key);
    assert_user_session(&v, "python");
    assert!(v["protocol"].as_str().unwrap().starts_with("2025-"), "{v}");
    let f = &v["forbidden"];
    assert!(
        f["raised"].is_string() || f["is_error"] == true,
        "forbidden call not refused: {v}"
    );
}

#[test]
fn the_python_sdk_works_with_a_jwt_from_the_oidc_provider() {
    let idp = OidcProvider::start();
    let s = Stack::start(Options {
        config: format!(
            "oidc: {{issuer: '{}', audience: mcp-gateway}}",
            idp.issuer()
        ),
        ..Options::default()
    });
    let v = python(&s, &idp.token(TestClient::McpUser));
    assert_user_session(&v, "python");
}

#[test]
fn the_typescript_sdk_works_with_an_api_key() {
    let s = Stack::start(Options::default());
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    let v = typescript(&s, &key);
    assert_user_session(&v, "typescript");
    assert_eq!(v["session"], true, "{v}");
    assert!(v["protocol"].as_str().unwrap().starts_with("2025-"), "{v}");
}
