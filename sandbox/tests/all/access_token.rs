//! With `--auth-token-file`, the sandbox's tool API answers only requests that carry the token
//! (compared in constant time); probes and metrics stay open for the orchestrator.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use crate::common::{Sandbox, Setup};
use mcp_contract::grant::Grant;
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
    let mut granted = call.clone();
    granted["grant"] = json!(grant("t").sign(TOKEN.as_bytes()));
    let r = http
        .post(sb.url("/v1/call"))
        .header("authorization", &bearer)
        .json(&granted)
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

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A grant for `request_id` as the gateway signs it: alice, role `tester`.
fn grant(request_id: &str) -> Grant {
    Grant {
        principal: "key:alice-key".into(),
        user: "alice".into(),
        roles: vec!["tester".into()],
        request_id: request_id.into(),
        expires_at_ms: now_ms() + 60_000,
        tool: None,
        callback: None,
    }
}

/// With a token, identity comes only from the gateway's signed grant: a call without one, with
/// a forged or foreign one, or with one for another request is refused, and the body's `user`
/// and `roles` are ignored.
#[test]
fn with_a_token_identity_comes_only_from_the_signed_grant() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("sandbox.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let sb = Sandbox::start(Setup {
        env: vec![("MCP_SANDBOX_AUTH_TOKEN_FILE", token_file)],
        ..Setup::default()
    });
    let http = reqwest::blocking::Client::new();
    let bearer = format!("Bearer {TOKEN}");
    let post = |body: serde_json::Value| {
        let r = http
            .post(sb.url("/v1/call"))
            .header("authorization", &bearer)
            .json(&body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<serde_json::Value>().unwrap())
    };
    // The body claims a role that grants `read_env`; only the grant counts.
    let call = |grant: Option<String>, request_id: &str| {
        let mut body = json!({"tool": "echo", "arguments": {"text": "hi"}, "user": "root",
                              "roles": ["tester"], "request_id": request_id});
        if let Some(g) = grant {
            body["grant"] = json!(g);
        }
        body
    };
    let refused = |(status, body): (u16, serde_json::Value), why: &str| {
        assert_eq!(status, 403, "{why}: {body}");
        assert_eq!(body["error"]["kind"], "forbidden", "{why}: {body}");
        body["error"]["message"].as_str().unwrap().to_owned()
    };

    let m = refused(post(call(None, "r1")), "no grant");
    assert!(m.contains("no call grant"), "{m}");
    let m = refused(
        post(call(
            Some(grant("r1").sign(b"another-sandbox-token-0123456789ab")),
            "r1",
        )),
        "foreign key",
    );
    assert!(m.contains("signature does not match"), "{m}");
    let m = refused(
        post(call(Some(grant("r1").sign(TOKEN.as_bytes())), "r2")),
        "replayed",
    );
    assert!(m.contains("another request"), "{m}");
    let expired = Grant {
        expires_at_ms: now_ms() - 1,
        ..grant("r1")
    };
    let m = refused(
        post(call(Some(expired.sign(TOKEN.as_bytes())), "r1")),
        "expired",
    );
    assert!(m.contains("expired"), "{m}");
    let powerless = Grant {
        roles: vec![],
        ..grant("r1")
    };
    let m = refused(
        post(call(Some(powerless.sign(TOKEN.as_bytes())), "r1")),
        "no roles",
    );
    assert!(
        m.contains("user 'alice'"),
        "the grant's user, not the body's: {m}"
    );

    let (status, body) = post(call(Some(grant("r1").sign(TOKEN.as_bytes())), "r1"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["text"], "hi", "{body}");
}

/// The tool API is for programs: browser-origin requests and calls that are not JSON are
/// refused before anything else.
#[test]
fn browser_origins_and_non_json_calls_are_refused() {
    let sb = Sandbox::start(Setup::default());
    let http = reqwest::blocking::Client::new();
    let body = r#"{"tool":"echo","arguments":{"text":"hi"},"user":"alice","roles":["tester"]}"#;
    let r = http
        .post(sb.url("/v1/call"))
        .header("content-type", "application/json")
        .header("origin", "https://evil.example")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: serde_json::Value = r.json().unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("Origin"),
        "{v}"
    );
    let r = http
        .get(sb.url("/v1/tools"))
        .header("origin", "https://evil.example")
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut req = http.post(sb.url("/v1/call")).body(body);
        if let Some(t) = content_type {
            req = req.header("content-type", t);
        }
        let r = req.send().unwrap();
        assert_eq!(r.status(), 415, "{content_type:?}");
        let v: serde_json::Value = r.json().unwrap();
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("application/json"),
            "{v}"
        );
    }
    sb.assert_still_serving();
}

/// Closed by default: beyond loopback the sandbox will not serve without a token.
#[test]
fn serving_beyond_loopback_without_a_token_is_refused() {
    let out = std::process::Command::new(mcp_testkit::bin("mcp-sandbox"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env_remove("MCP_SANDBOX_AUTH_TOKEN_FILE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("without a token") && stderr.contains("--auth-token-file"),
        "{stderr}"
    );
}
