//! `mcp-gateway smoke URL`, the live check the upgrade, maintenance and DR procedures run,
//! against the real gateway and sandbox: it passes on a healthy gateway with a valid key, and
//! each failure it exists to catch (a dead key, a gateway that is not ready, a tool that fails)
//! turns into a FAIL line and exit status 1.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::process::{Command, Output};

use crate::common::{Options, Stack};
use serde_json::Value;

fn smoke(args: &[&str]) -> (i32, String) {
    let out: Output = Command::new(mcp_testkit::bin("mcp-gateway"))
        .arg("smoke")
        .args(args)
        .env_remove("MCP_SMOKE_TOKEN")
        .env_remove("MCP_SMOKE_API_KEY")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn smoke_passes_on_a_healthy_gateway_and_fails_on_a_revoked_key() {
    let stack = Stack::start(Options::default());
    stack.wait_ready();
    let (id, key) = stack.create_key("smoke", &["mcp-admin"], "1d");
    let url = stack.url();

    let (code, out) = smoke(&[
        &url,
        "--api-key",
        &key,
        "--tool",
        "echo",
        "--arguments",
        r#"{"text":"hi"}"#,
    ]);
    assert_eq!(code, 0, "{out}");
    for line in [
        "PASS  health",
        "PASS  ready",
        "PASS  api key: initialize",
        "PASS  api key: tools/list",
        "PASS  api key: tools/call",
        "echo ran",
        "PASS  refuses no credentials",
        "PASS  refuses a forged API key",
        "PASS  refuses a forged token",
        "OK: 8 checks passed",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
    // The URL may be given with /mcp, as clients are configured.
    let (code, out) = smoke(&[
        &format!("{url}/mcp"),
        "--api-key",
        &key,
        "--json",
        "--tool",
        "echo",
        "--arguments",
        r#"{"text":"hi"}"#,
    ]);
    assert_eq!(code, 0, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(report["checks"].as_array().unwrap().len(), 8);
    assert!(report["version"].is_string());

    // A tool failure is a FAIL: echo without its required argument.
    let (code, out) = smoke(&[&url, "--api-key", &key, "--tool", "echo"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL  api key: tools/call"), "{out}");

    // No credentials at all: the MCP checks cannot run, which is a failure, not a pass.
    let (code, out) = smoke(&[&url]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL  credentials"), "{out}");

    // A revoked key: initialize is refused, the rest of its checks are skipped.
    stack.keys_cli(&["revoke", &id]);
    mcp_testkit::wait_for("the revocation", std::time::Duration::from_secs(10), || {
        (stack.rpc(&key, "ping", serde_json::json!({})).status == 401).then_some(())
    });
    let (code, out) = smoke(&[&url, "--api-key", &key]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL  api key: initialize"), "{out}");
    assert!(out.contains("HTTP 401"), "{out}");
    assert!(!out.contains("api key: tools/list"), "{out}");
    assert!(out.contains("FAILED: 1 of 6 checks"), "{out}");

    // Bad arguments are a usage error (2), before any request.
    let (code, out) = smoke(&[&url, "--api-key", &key, "--arguments", "[1]"]);
    assert_eq!(code, 2, "{out}");
}

#[test]
fn smoke_fails_when_the_gateway_is_not_ready_or_not_there() {
    let stack = Stack::start_without_sandbox(Options::default());
    let (_, key) = {
        // The key works without a sandbox (authentication needs none).
        let out = stack.keys_cli(&["create", "--user", "smoke", "--role", "mcp-user", "--json"]);
        let v: Value = serde_json::from_str(&out).unwrap();
        (
            v["id"].as_str().unwrap().to_owned(),
            v["key"].as_str().unwrap().to_owned(),
        )
    };
    let (code, out) = smoke(&[&stack.url(), "--api-key", &key]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("PASS  health"), "{out}");
    assert!(out.contains("FAIL  ready"), "{out}");
    assert!(out.contains("HTTP 503"), "{out}");

    // Nothing listening: every check fails with the connection error, quickly.
    let port = mcp_testkit::free_port();
    let (code, out) = smoke(&[
        &format!("http://127.0.0.1:{port}"),
        "--api-key",
        &key,
        "--timeout",
        "5s",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL  health") && out.contains("GET /health"),
        "{out}"
    );
}

#[test]
fn smoke_checks_an_oidc_token_and_an_api_key_together() {
    // A real OIDC provider (the stand-in for Keycloak): the token path is checked end to end,
    // and a forged token is refused by a gateway that does verify tokens.
    let idp = mcp_testkit::oidc::OidcProvider::start();
    let stack = Stack::start(Options {
        config: format!(
            "oidc: {{issuer: '{}', audience: mcp-gateway, refresh_min_interval: 1s}}",
            idp.issuer()
        ),
        ..Options::default()
    });
    stack.wait_ready();
    let token = idp.token(mcp_testkit::oidc::TestClient::McpAdmin);
    let (_, key) = stack.create_key("smoke", &["mcp-admin"], "1d");
    let (code, out) = smoke(&[
        &stack.url(),
        "--token",
        &token,
        "--api-key",
        &key,
        "--tool",
        "echo",
        "--arguments",
        r#"{"text":"hi"}"#,
    ]);
    assert_eq!(code, 0, "{out}");
    for line in [
        "PASS  token: initialize",
        "PASS  token: tools/list",
        "PASS  token: tools/call",
        "PASS  api key: tools/call",
        "PASS  refuses a forged token",
        "OK: 11 checks passed",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
}
