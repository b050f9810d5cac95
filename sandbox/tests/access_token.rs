//! With `--auth-token-file`, the sandbox's tool API answers only requests that carry the token
//! (compared in constant time); probes and metrics stay open for the orchestrator.

mod common;

use common::{Sandbox, Setup};
use serde_json::json;

const TOKEN: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0-test-token";

#[test]
fn the_tool_api_needs_the_token_and_probes_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("sandbox.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let sb = Sandbox::start(Setup {
        env: vec![("MCP_SANDBOX_AUTH_TOKEN_FILE", token_file)],
        ..Setup::default()
    });
    let http = reqwest::blocking::Client::new();
    let call = json!({"tool": "echo", "arguments": {"text": "hi"}, "user": "alice",
                      "roles": ["tester"], "request_id": "t"});

    for auth in [
        None,
        Some("Bearer wrong"),
        Some(TOKEN),
        Some(&*format!("Basic {TOKEN}")),
    ] {
        let mut list = http.get(sb.url("/v1/tools"));
        let mut post = http.post(sb.url("/v1/call")).json(&call);
        if let Some(a) = auth {
            list = list.header("authorization", a);
            post = post.header("authorization", a);
        }
        assert_eq!(list.send().unwrap().status(), 401, "listing with {auth:?}");
        let r = post.send().unwrap();
        assert_eq!(r.status(), 401, "call with {auth:?}");
        let body: serde_json::Value = r.json().unwrap();
        assert_eq!(body["error"]["kind"], "forbidden", "{body}");
        assert!(!body.to_string().contains(TOKEN));
    }

    let bearer = format!("Bearer {TOKEN}");
    let r = http
        .post(sb.url("/v1/call"))
        .header("authorization", &bearer)
        .json(&call)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["result"]["text"], "hi", "{body}");
    let r = http
        .get(sb.url("/v1/tools"))
        .header("authorization", &bearer)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);

    for open in ["/health", "/ready", "/metrics"] {
        assert_eq!(sb.get(open).0, 200, "{open}");
    }
    let metrics = reqwest::blocking::get(sb.url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("mcp_sandbox_unauthorized_requests_total 8"),
        "every refused request is counted"
    );
}
