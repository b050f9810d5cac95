//! Federation, the upstream's credentials and transport: OAuth client-credentials tokens (from
//! the real OIDC provider, with the official Python SDK client driving the gateway; cached and
//! replaced once when refused) and TLS to an https upstream through its configured CA.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mcp_testkit::http_stub::StubServer;
use mcp_testkit::oidc::{OidcProvider, TestClient};
use serde_json::{Value, json};

use super::{POLICY, Upstream, dir, wait_listed};
use crate::common::{Options, Stack};

#[test]
fn the_python_sdk_client_uses_federated_tools_whose_server_wants_oauth_tokens() {
    let tmp = dir();
    let idp = OidcProvider::start();
    let up = Upstream::start(tmp.path(), &[("JWKS_URL", &idp.jwks_uri())]);
    let secret = tmp.path().join("client.secret");
    std::fs::write(&secret, format!("{}\n", TestClient::NoRoles.secret())).unwrap();
    let config = format!(
        "mcp_servers:\n\
         - name: up\n  url: '{}'\n  \
           auth: {{type: client_credentials, token_url: '{}/token', client_id: {}, \
           client_secret_file: '{}', resource: 'urn:mcp-gateway', scope: 'mcp:tools'}}\n",
        up.url(),
        idp.issuer(),
        TestClient::NoRoles.client_id(),
        secret.display()
    );
    let s = Stack::start(Options {
        policy: POLICY.into(),
        config,
        ..Options::default()
    });
    let (_, user) = s.create_key("alice", &["mcp-user"], "1d");
    wait_listed(&s, &user, "up__echo");

    let root = mcp_testkit::repo_root();
    let out = Command::new(root.join(".peers/venv/bin/python"))
        .arg(root.join("proxy/tests/peers/fed_client.py"))
        .args([&s.mcp_url(), &user])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let tools: Vec<&str> = v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tools.contains(&"up__weather") && tools.contains(&"echo"),
        "{v}"
    );
    assert!(!tools.contains(&"up__fail"), "not granted to mcp-user: {v}");
    assert_eq!(
        v["weather"],
        json!({"city": "Oslo", "celsius": 21.5}),
        "{v}"
    );
    assert_eq!(
        v["pixel"],
        json!({"type": "image", "mime": "image/png"}),
        "{v}"
    );
    // The upstream accepted a token of the identity provider's (it checks the signature),
    // which is the gateway's own client token, not the caller's API key.
    let auth = v["whoami"]["authorization"].as_str().unwrap();
    assert!(
        auth.starts_with("Bearer ey") && !auth.contains(&user),
        "{v}"
    );
    assert!(
        v["whoami"]["x-mcp-user"].is_null(),
        "identity header not configured: {v}"
    );
    assert!(v["forbidden"]["raised"].is_string(), "{v}");
}

#[test]
fn an_oauth_token_is_cached_and_fetched_again_once_when_the_upstream_refuses_it() {
    let tmp = dir();
    // The token endpoint hands out tok1, tok2, ...; the upstream accepts only tok2.
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let idp = StubServer::start_with_body(Arc::new(move |path: &str, body: &[u8]| {
        let body = String::from_utf8_lossy(body);
        if path != "/token" || !body.contains("grant_type=client_credentials") {
            return (400, r#"{"error":"invalid_request"}"#.to_owned());
        }
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        (
            200,
            format!(r#"{{"access_token":"tok{n}","token_type":"Bearer","expires_in":3600}}"#),
        )
    }));
    let up = Upstream::start(tmp.path(), &[("REQUIRE_TOKEN", "tok2")]);
    let secret = tmp.path().join("client.secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let s = Stack::start(Options {
        policy: POLICY.into(),
        config: format!(
            "mcp_servers:\n- name: up\n  url: '{}'\n  auth: {{type: client_credentials, \
             token_url: '{}/token', client_id: gw, client_secret_file: '{}'}}\n",
            up.url(),
            idp.url(),
            secret.display()
        ),
        ..Options::default()
    });
    let (_, user) = s.create_key("alice", &["mcp-user"], "1d");
    wait_listed(&s, &user, "up__echo");
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "tok1 refused (401), tok2 fetched once"
    );
    for i in 0..3 {
        let r = s.call_tool(&user, "up__echo", json!({"text": format!("call {i}")}));
        assert_eq!(r.result()["content"][0]["text"], format!("call {i}"));
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 2, "the token is cached");
}

/// A self-signed certificate for 127.0.0.1 (openssl), as (cert, key) paths.
fn self_signed(dir: &Path) -> (String, String) {
    let (cert, key) = (dir.join("up.crt"), dir.join("up.key"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=upstream"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    (cert.display().to_string(), key.display().to_string())
}

#[test]
fn an_https_upstream_is_trusted_through_its_configured_ca_only() {
    let tmp = dir();
    let (cert, key) = self_signed(tmp.path());
    let up = Upstream::start(tmp.path(), &[("SSL_CERT", &cert), ("SSL_KEY", &key)]);
    assert!(up.url().starts_with("https://"));
    let s = Stack::start(Options {
        policy: "toolsets:\n  examples: { roles: [mcp-user] }\n  sec: { roles: [mcp-user] }\n  \
                 untrusted: { roles: [mcp-user] }\n"
            .into(),
        config: format!(
            "mcp_servers:\n- {{name: sec, url: '{url}', tls: {{ca_file: '{cert}'}}}}\n\
             - {{name: untrusted, url: '{url}'}}\n",
            url = up.url()
        ),
        ..Options::default()
    });
    let (_, user) = s.create_key("alice", &["mcp-user"], "1d");
    let names = wait_listed(&s, &user, "sec__echo");
    let r = s
        .call_tool(&user, "sec__echo", json!({"text": "over tls"}))
        .result();
    assert_eq!(r["content"][0]["text"], "over tls");
    // The same server without its CA: the certificate is refused, nothing is listed.
    assert!(
        !names.iter().any(|n| n.starts_with("untrusted__")),
        "{names:?}"
    );
    let metrics = s.metrics();
    assert!(
        metrics.contains(r#"mcp_upstream_server_up{server="untrusted"} 0"#)
            && metrics.contains(r#"mcp_upstream_server_up{server="sec"} 1"#),
        "{metrics}"
    );
}
