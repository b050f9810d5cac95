//! Mutual TLS between the gateway and the sandbox (`sandboxes[].tls`, `mcp-sandbox serve
//! --tls-cert --tls-key --tls-client-ca`): with the client certificate the sandbox's CA signed,
//! a tool call goes through; a client without a certificate is refused at the handshake; a
//! gateway with a certificate from another CA never reaches the sandbox and says so (503 on
//! `/ready`, the TLS failure in its log); a renewed server certificate written over the same
//! files is served without a restart. Certificates are made here with the openssl CLI.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use mcp_testkit::{Proc, ProcBuilder, TempDir};
use serde_json::{Value, json};

use crate::common::{SANDBOX_TOKEN, sandbox_token};

const POLICY: &str = "toolsets:\n  examples: { roles: [mcp-user] }\n";

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA `NAME.crt`/`NAME.key` (P-256).
fn make_ca(dir: &Path, name: &str) {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ],
        dir,
    );
}

/// A leaf `NAME.crt`/`NAME.key` signed by the CA `ca`, for `usage` (serverAuth or clientAuth).
fn make_leaf(dir: &Path, name: &str, ca: &str, usage: &str) {
    openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
        dir,
    );
    let ext = format!(
        "basicConstraints=critical,CA:FALSE\nextendedKeyUsage={usage}\nsubjectAltName=IP:127.0.0.1\n"
    );
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.crt"),
        ],
        dir,
    );
}

fn start_sandbox(dir: &Path) -> Proc {
    let root = mcp_testkit::repo_root();
    let toolsets = dir.join("toolsets");
    std::fs::create_dir_all(&toolsets).unwrap();
    std::os::unix::fs::symlink(
        root.join("policies/toolsets/examples.yaml"),
        toolsets.join("examples.yaml"),
    )
    .unwrap();
    let policy = dir.join("sandbox-access.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    ProcBuilder::new(&mcp_testkit::bin("mcp-sandbox"), &dir.join("logs/sandbox"))
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .arg("--toolsets")
        .arg(&toolsets)
        .arg("--modules")
        .arg(mcp_testkit::tools_dir())
        .arg("--policy")
        .arg(&policy)
        .arg("--workspaces")
        .arg(dir.join("workspaces"))
        .arg("--cache")
        .arg(root.join("target/wasm-cache"))
        .arg("--auth-token-file")
        .arg(sandbox_token(dir))
        .env("MCP_SANDBOX_TLS_CERT", dir.join("server.crt"))
        .env("MCP_SANDBOX_TLS_KEY", dir.join("server.key"))
        .env("MCP_SANDBOX_TLS_CLIENT_CA", dir.join("ca.crt"))
        .start(Duration::from_secs(180))
}

/// A gateway named `name` reaching the sandbox at `url` with the client certificate `client`.
fn start_gateway(dir: &Path, name: &str, url: &str, client: &str) -> Proc {
    let config = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:{}\n\
             sandboxes:\n\
             - name: sb\n  url: '{url}'\n  token_file: sandbox.token\n  \
               tls: {{ca_file: ca.crt, client_cert_file: {client}.crt, client_key_file: {client}.key}}\n\
             policy: access.yaml\n\
             keys: {{dir: keys}}\n\
             session: {{secret_file: session.key}}\n\
             audit: {{output: {name}-audit.log}}\n\
             catalog: {{refresh: 1s}}\n\
             server: {{threads: 1, grace_period: 1s, shutdown_timeout: 2s}}\n",
            mcp_testkit::free_port()
        ),
    )
    .unwrap();
    ProcBuilder::new(
        &mcp_testkit::bin("mcp-gateway"),
        &dir.join("logs").join(name),
    )
    .arg("serve")
    .arg("--config")
    .arg(&config)
    .start(Duration::from_secs(30))
}

fn api_key(dir: &Path) -> String {
    let out = Command::new(mcp_testkit::bin("mcp-gateway"))
        .arg("keys")
        .arg("--dir")
        .arg(dir.join("keys"))
        .args(["create", "--user", "alice", "--role", "mcp-user"])
        .args(["--expires", "1d", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["key"].as_str().unwrap().to_owned()
}

/// A client of the sandbox that trusts its CA, with `identity` (PEM cert + key) if given.
fn sandbox_client(dir: &Path, identity: Option<&str>) -> reqwest::blocking::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.join("ca.crt")).unwrap()).unwrap();
    let mut b = reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(10));
    if let Some(name) = identity {
        let mut pem = std::fs::read(dir.join(format!("{name}.crt"))).unwrap();
        pem.extend(std::fs::read(dir.join(format!("{name}.key"))).unwrap());
        b = b.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    b.build().unwrap()
}

/// `/ready`'s status and body; `None` while the gateway does not accept connections yet.
fn ready(gateway: &Proc) -> Option<(u16, Value)> {
    let r = reqwest::blocking::get(format!("{}/ready", gateway.url())).ok()?;
    let status = r.status().as_u16();
    Some((status, r.json().unwrap_or(Value::Null)))
}

#[test]
fn gateway_reaches_an_mtls_sandbox_and_others_are_refused_at_the_handshake() {
    let tmp = TempDir::new().unwrap();
    let dir: PathBuf = tmp.path().to_owned();
    make_ca(&dir, "ca");
    make_leaf(&dir, "server", "ca", "serverAuth");
    make_leaf(&dir, "gateway", "ca", "clientAuth");
    make_ca(&dir, "rogue-ca");
    make_leaf(&dir, "rogue", "rogue-ca", "clientAuth");
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    std::fs::write(dir.join("access.yaml"), POLICY).unwrap();
    std::fs::write(
        dir.join("session.key"),
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n",
    )
    .unwrap();

    let sandbox = start_sandbox(&dir);
    let url = sandbox.url().to_owned();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    // With the CA-signed client certificate the handshake succeeds and the token still counts.
    let with_cert = sandbox_client(&dir, Some("gateway"));
    let r = with_cert.get(format!("{url}/v1/tools")).send().unwrap();
    assert_eq!(r.status(), 401, "no token: refused by the token check");
    let r = with_cert
        .get(format!("{url}/v1/tools"))
        .bearer_auth(SANDBOX_TOKEN)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // Without a certificate, or with one of another CA: no HTTP at all, not even /health.
    for (what, client) in [
        ("no client certificate", sandbox_client(&dir, None)),
        (
            "another CA's certificate",
            sandbox_client(&dir, Some("rogue")),
        ),
    ] {
        let r = client.get(format!("{url}/health")).send();
        assert!(
            r.is_err(),
            "{what}: expected a refused handshake, got {r:?}"
        );
    }

    // The gateway with the right certificate: a tool call goes through.
    let key = api_key(&dir);
    let good = start_gateway(&dir, "gateway", &url, "gateway");
    mcp_testkit::wait_for("the gateway to be ready", Duration::from_secs(30), || {
        let (status, body) = ready(&good)?;
        (status == 200 && body["tools"].as_u64().unwrap_or(0) > 0).then_some(())
    });
    let http = reqwest::blocking::Client::new();
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "echo", "arguments": {"text": "over mTLS"}}});
    let r = http
        .post(format!("{}/mcp", good.url()))
        .header("content-type", "application/json")
        .bearer_auth(&key)
        .body(call.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["result"]["isError"], json!(false), "{v}");
    assert!(v["result"].to_string().contains("over mTLS"), "{v}");

    // A gateway whose certificate another CA signed is refused: not ready, and it says why.
    let bad = start_gateway(&dir, "rogue-gateway", &url, "rogue");
    let log = mcp_testkit::wait_for(
        "the gateway to log the refused handshake",
        Duration::from_secs(20),
        || {
            let log = bad.stderr();
            log.contains("tool list refresh failed").then_some(log)
        },
    );
    let (status, body) = ready(&bad).unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["sandboxes"][0]["up"], json!(false), "{body}");
    assert!(
        log.contains("cannot connect to sandbox 'sb': the sandbox refused the TLS handshake")
            && log.contains("UnknownCA"),
        "the log names the sandbox, the refused handshake and the TLS alert: {log}"
    );
    assert!(
        sandbox.stderr().contains("TLS handshake refused"),
        "the sandbox logs the refused handshakes"
    );

    // A renewed server certificate in the same files is served to new connections.
    let before = served_serial(&dir, sandbox.addr());
    assert_eq!(before, serial_of(&dir.join("server.crt")));
    make_leaf(&dir, "server-new", "ca", "serverAuth");
    std::fs::copy(dir.join("server-new.key"), dir.join("server.key")).unwrap();
    std::fs::copy(dir.join("server-new.crt"), dir.join("server.crt")).unwrap();
    let renewed = serial_of(&dir.join("server.crt"));
    assert_ne!(before, renewed);
    mcp_testkit::wait_for(
        "the sandbox to serve the renewed certificate",
        Duration::from_secs(20),
        || (served_serial(&dir, sandbox.addr()) == renewed).then_some(()),
    );
}

fn serial_of(cert: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(cert)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The serial of the certificate the sandbox presents to a client with the gateway's pair.
fn served_serial(dir: &Path, addr: &str) -> String {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            addr,
            "-cert",
            "gateway.crt",
            "-key",
            "gateway.key",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a certificate in the handshake");
    let end = text.find("-----END CERTIFICATE-----").unwrap() + "-----END CERTIFICATE-----".len();
    let pem = dir.join("served.pem");
    std::fs::write(&pem, &text[start..end]).unwrap();
    serial_of(&pem)
}
