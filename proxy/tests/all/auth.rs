//! Authentication through the real gateway: API keys from its key directory, JWTs from a real
//! OIDC provider and forged attack tokens. Every failure is a 401 with a Bearer challenge that
//! points at the protected resource metadata, is counted by reason, and audited without the
//! credential.

use std::time::Duration;

use crate::common::{Options, Stack};
use mcp_testkit::forge::{self, Forge};
use mcp_testkit::oidc::{OidcProvider, TestClient};
use serde_json::json;

fn oidc_options(issuer: &str) -> Options {
    Options {
        config: format!(
            "oidc: {{issuer: '{issuer}', audience: mcp-gateway, leeway: 2s, refresh_min_interval: 1s}}"
        ),
        ..Options::default()
    }
}

fn ping(s: &Stack, token: Option<&str>) -> crate::common::Resp {
    s.post_raw(
        token,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string(),
        &[],
    )
}

fn assert_rejected(r: &crate::common::Resp, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.text);
    let challenge = r
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("{what}: no challenge"));
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("resource_metadata=\""),
        "{what}: {challenge}"
    );
    assert_eq!(r.rpc_code(), Some(-32001), "{what}");
}

#[test]
fn missing_and_malformed_credentials_get_a_challenge() {
    let s = Stack::start(Options::default());
    let r = ping(&s, None);
    assert_rejected(&r, "no header");
    assert!(
        !r.header("www-authenticate")
            .unwrap()
            .contains("invalid_token"),
        "missing credentials get no error code"
    );
    for (what, token) in [
        ("empty bearer", ""),
        ("garbage", "not-a-token"),
        ("bad key shape", "mcpk_zz_zz"),
    ] {
        let r = ping(&s, Some(token));
        assert_rejected(&r, what);
    }
    let r = s.post_raw(
        None,
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        &[("authorization", "Basic Zm9vOmJhcg==")],
    );
    assert_rejected(&r, "basic auth");
    let metrics = s.metrics();
    assert!(
        metrics.contains(r#"mcp_auth_failures_total{reason="missing"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"mcp_auth_failures_total{reason="malformed"}"#),
        "{metrics}"
    );
}

#[test]
fn revoked_and_expired_api_keys_stop_working() {
    let s = Stack::start(Options::default());
    let (id, key) = s.create_key("alice", &["mcp-user"], "1d");
    assert_eq!(ping(&s, Some(&key)).status, 200);
    s.keys_cli(&["revoke", &id]);
    mcp_testkit::wait_for(
        "the revocation to take effect",
        Duration::from_secs(5),
        || (ping(&s, Some(&key)).status == 401).then_some(()),
    );
    assert!(ping(&s, Some(&key)).text.contains("revoked"));

    // An expired key: rewrite its file with an expiry in the past, as time would.
    let (id2, key2) = s.create_key("bob", &["mcp-user"], "1d");
    let path = s.keys_dir.join(format!("{id2}.json"));
    let mut record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    record["created"] = json!("2019-12-01T00:00:00Z");
    record["expires"] = json!("2020-01-01T00:00:00Z");
    std::fs::write(&path, record.to_string()).unwrap();
    mcp_testkit::wait_for("the expiry to take effect", Duration::from_secs(5), || {
        (ping(&s, Some(&key2)).status == 401).then_some(())
    });
    let metrics = s.metrics();
    assert!(
        metrics.contains(r#"mcp_auth_failures_total{reason="revoked"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"mcp_auth_failures_total{reason="expired"}"#),
        "{metrics}"
    );
    // A wrong secret for a real key id.
    let forged = format!("{}AAAA", &key[..key.len() - 4]);
    assert_rejected(&ping(&s, Some(&forged)), "wrong secret");
    // Nothing secret reaches the audit log.
    let audit = s.audit_text();
    for secret in [&key, &key2, &forged] {
        assert!(
            !audit.contains(&secret[14..]),
            "audit log contains a key secret"
        );
    }
}

#[test]
fn tokens_from_the_real_oidc_provider_authenticate_with_their_roles() {
    let idp = OidcProvider::start();
    let s = Stack::start(oidc_options(idp.issuer()));
    let alice = idp.token(TestClient::McpUser);
    let bob = idp.token(TestClient::McpAdmin);
    let carol = idp.token(TestClient::NoRoles);
    assert_eq!(
        s.tool_names(&alice),
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
    assert!(s.tool_names(&bob).contains(&"text_stats".to_owned()));
    assert!(s.tool_names(&carol).is_empty());
    let r = s
        .call_tool(&alice, "call_echo_twice", json!({"text": "x"}))
        .result();
    assert_eq!(r["structuredContent"]["caller"], "alice");
    let tampered = forge::tamper(&alice, |c| {
        c["realm_access"]["roles"] = json!(["mcp-admin"])
    });
    assert_rejected(&ping(&s, Some(&tampered)), "tampered role claim");
    let audit = s.audit();
    let line = audit
        .iter()
        .find(|l| l["user"] == "alice" && l["tool"] == "call_echo_twice")
        .expect("audited");
    assert_eq!(line["auth"], "jwt");
    // The audit line keys the caller on issuer and subject, and keeps the name for humans.
    let principal = line["principal"].as_str().unwrap_or_default();
    assert!(
        principal.starts_with(&format!("oidc:{}#", idp.issuer())),
        "{line}"
    );
    assert!(
        !s.audit_text().contains(&alice),
        "audit log contains a token"
    );
    // The identity provider's health is exported for the KeycloakDown alert.
    let up = format!("mcp_idp_up{{issuer=\"{}\"}} 1", idp.issuer());
    mcp_testkit::wait_for("mcp_idp_up", std::time::Duration::from_secs(5), || {
        s.metrics().contains(&up).then_some(())
    });
}

#[test]
fn forged_and_misissued_tokens_are_rejected_with_their_reason() {
    let idp = Forge::start();
    let s = Stack::start(oidc_options(idp.issuer()));
    let good = idp.claims("mallory", &["mcp-user"]);
    assert_eq!(ping(&s, Some(&idp.sign(&good))).status, 200);
    let now = forge::now();
    let other = mcp_testkit::forge::TestKey::generate("not-published");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            idp.sign(&forge::with(good.clone(), "exp", now - 120)),
            "expired",
        ),
        (
            "not yet valid",
            idp.sign(&forge::with(good.clone(), "nbf", now + 600)),
            "expired",
        ),
        (
            "wrong issuer",
            idp.sign(&forge::with(good.clone(), "iss", "https://evil.example")),
            "wrong_issuer",
        ),
        (
            "wrong audience",
            idp.sign(&forge::with(good.clone(), "aud", "some-other-api")),
            "wrong_audience",
        ),
        ("alg none", forge::unsigned(&good), "bad_signature"),
        (
            "HS256 with the public key",
            forge::hs256(
                &good,
                idp.signing_key().kid(),
                idp.signing_key().public_key_pem().as_bytes(),
            ),
            "bad_signature",
        ),
        ("unknown kid", other.sign(&good), "unknown_key"),
        (
            "tampered payload",
            forge::tamper(&idp.sign(&good), |c| {
                c["preferred_username"] = json!("admin")
            }),
            "bad_signature",
        ),
    ];
    for (what, token, reason) in &cases {
        let r = ping(&s, Some(token));
        assert_rejected(&r, what);
        assert!(
            r.header("www-authenticate")
                .unwrap()
                .contains("error=\"invalid_token\""),
            "{what}"
        );
        let metrics = s.metrics();
        assert!(
            metrics.contains(&format!("mcp_auth_failures_total{{reason=\"{reason}\"}}")),
            "{what} not counted as {reason}"
        );
    }
    assert_eq!(
        ping(&s, Some(&idp.sign(&good))).status,
        200,
        "the gateway kept serving"
    );
}

#[test]
fn without_the_role_a_tool_is_neither_listed_nor_callable() {
    let s = Stack::start(Options::default());
    let (_, viewer) = s.create_key("carol", &["mcp-viewer"], "1d");
    assert!(s.tool_names(&viewer).is_empty());
    // A tool the caller may not use is answered exactly like one that does not exist, so
    // hidden tool names cannot be probed.
    let r = s.call_tool(&viewer, "echo", json!({"text": "x"}));
    let unknown = s.call_tool(&viewer, "no_such_tool", json!({"text": "x"}));
    assert_eq!((r.status, r.rpc_code()), (200, Some(-32602)), "{}", r.text);
    assert_eq!((unknown.status, unknown.rpc_code()), (200, Some(-32602)));
    assert_eq!(
        r.json()["error"]["message"]
            .as_str()
            .map(|m| m.replace("echo", "no_such_tool")),
        unknown.json()["error"]["message"]
            .as_str()
            .map(str::to_owned),
    );
    let (_, user) = s.create_key("alice", &["mcp-user"], "1d");
    // A per-tool rule narrows a tool set: text_stats is admin-only.
    assert!(!s.tool_names(&user).contains(&"text_stats".to_owned()));
    assert_eq!(
        s.call_tool(&user, "text_stats", json!({"text": "x"}))
            .rpc_code(),
        Some(-32602)
    );
    let denied = s
        .audit()
        .into_iter()
        .filter(|l| l["status"] == "denied" && l["tool"] == "echo")
        .count();
    assert_eq!(denied, 1);
    assert!(
        s.metrics()
            .contains(r#"mcp_auth_failures_total{reason="forbidden"}"#)
    );
}

#[test]
fn policy_changes_apply_without_restart_and_bad_ones_are_refused() {
    let s = Stack::start(Options::default());
    let (_, viewer) = s.create_key("carol", &["mcp-viewer"], "1d");
    assert!(s.tool_names(&viewer).is_empty());
    let widened = format!(
        "{}  # reloaded\n",
        crate::common::DEFAULT_POLICY
            .replace("[mcp-user, mcp-admin]", "[mcp-user, mcp-admin, mcp-viewer]")
    );
    std::fs::write(&s.policy_path, widened).unwrap();
    mcp_testkit::wait_for("the new policy", Duration::from_secs(10), || {
        s.tool_names(&viewer)
            .contains(&"echo".to_owned())
            .then_some(())
    });
    std::fs::write(&s.policy_path, "toolsets: [this is not a map]\n").unwrap();
    mcp_testkit::wait_for(
        "the bad policy to be refused",
        Duration::from_secs(10),
        || {
            s.metrics()
                .contains(r#"mcp_policy_reloads_total{result="rejected"}"#)
                .then_some(())
        },
    );
    assert!(
        s.tool_names(&viewer).contains(&"echo".to_owned()),
        "the last good policy stays in force"
    );
    // Offboarding: a valid credential of a denied user stops working within seconds.
    let (_, mallory) = s.create_key("mallory", &["mcp-user"], "1d");
    assert_eq!(ping(&s, Some(&mallory)).status, 200);
    let offboarded = format!(
        "{}deny:\n  users: [mallory]\n",
        crate::common::DEFAULT_POLICY
    );
    std::fs::write(&s.policy_path, offboarded).unwrap();
    let r = mcp_testkit::wait_for("the deny list", Duration::from_secs(10), || {
        let r = ping(&s, Some(&mallory));
        (r.status == 401).then_some(r)
    });
    assert!(r.text.contains("withdrawn"), "{}", r.text);
    assert_eq!(
        ping(&s, Some(&viewer)).status,
        200,
        "others are not affected"
    );
}

#[test]
fn the_n_plus_first_call_in_the_window_gets_429_with_retry_after() {
    let policy = format!(
        "{}rate_limits:\n  per_user: 1000/min\n  tools: {{ echo: 3/min }}\n",
        crate::common::DEFAULT_POLICY
    );
    let s = Stack::start(Options {
        policy,
        ..Options::default()
    });
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    for i in 0..3 {
        assert_eq!(
            s.call_tool(&key, "echo", json!({"text": "x"})).status,
            200,
            "call {i}"
        );
    }
    let r = s.call_tool(&key, "echo", json!({"text": "x"}));
    assert_eq!((r.status, r.rpc_code()), (429, Some(-32029)), "{}", r.text);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "retry-after {retry}");
    // Another tool, and another user, are not affected.
    assert_eq!(
        s.call_tool(
            &key,
            "text_transform",
            json!({"text": "x", "operation": "upper"})
        )
        .status,
        200
    );
    let (_, other) = s.create_key("bob", &["mcp-user"], "1d");
    assert_eq!(
        s.call_tool(&other, "echo", json!({"text": "x"})).status,
        200
    );
    assert!(
        s.metrics()
            .contains(r#"mcp_rate_limited_total{scope="user_tool"}"#)
    );
    assert_eq!(
        s.audit()
            .iter()
            .filter(|l| l["status"] == "rate_limited")
            .count(),
        1
    );
}

#[test]
fn a_users_overall_rate_is_limited_across_methods() {
    let policy = format!(
        "{}rate_limits:\n  per_user: 5/min\n",
        crate::common::DEFAULT_POLICY
    );
    let s = Stack::start(Options {
        policy,
        ..Options::default()
    });
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d"); // one ping spent waiting for the key
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(ping(&s, Some(&key)).status);
    }
    assert_eq!(
        statuses.iter().filter(|&&c| c == 200).count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(*statuses.last().unwrap(), 429);
    assert!(
        s.metrics()
            .contains(r#"mcp_rate_limited_total{scope="user"}"#)
    );
}
