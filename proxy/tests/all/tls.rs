//! HTTPS with rustls: the gateway serves the configured certificate and picks up a renewed one
//! from the same files without a restart; a broken replacement is refused and the old one stays.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{Options, Stack};

/// Makes a self-signed certificate for 127.0.0.1 with openssl; returns its serial.
fn make_cert(dir: &Path, name: &str) -> String {
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
        ])
        .args([
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .args([
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    serial_of(&std::fs::read(&cert).unwrap())
}

fn serial_of(pem: &[u8]) -> String {
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(pem).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The serial of the certificate the server presents.
fn served_serial(addr: &str) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", addr, "-servername", "127.0.0.1"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a certificate in the handshake");
    let end = text.find("-----END CERTIFICATE-----").unwrap() + "-----END CERTIFICATE-----".len();
    serial_of(text[start..end].as_bytes())
}

#[test]
fn https_serves_the_certificate_and_reloads_it_when_the_files_change() {
    let dir = mcp_testkit::TempDir::new().unwrap();
    let first = make_cert(dir.path(), "first");
    std::fs::copy(dir.path().join("first.crt"), dir.path().join("tls.crt")).unwrap();
    std::fs::copy(dir.path().join("first.key"), dir.path().join("tls.key")).unwrap();
    let cert = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    let s = Stack::start(Options {
        config: format!(
            "tls: {{cert: '{}', key: '{}'}}",
            cert.display(),
            key.display()
        ),
        ..Options::default()
    });
    assert!(
        s.gateway.url().starts_with("https://"),
        "{}",
        s.gateway.url()
    );
    assert_eq!(served_serial(s.gateway.addr()), first);
    let (_, api_key) = s.create_key("alice", &["mcp-user"], "1d");
    // A client that trusts the certificate completes an MCP call over HTTPS.
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    let r = client
        .post(format!("{}/mcp", s.gateway.url()))
        .header("authorization", format!("Bearer {api_key}"))
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"tls"}}}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);

    // Renewal: new files in place; the next handshakes use them.
    let second = make_cert(dir.path(), "second");
    std::fs::copy(dir.path().join("second.key"), &key).unwrap();
    std::fs::copy(dir.path().join("second.crt"), &cert).unwrap();
    mcp_testkit::wait_for("the renewed certificate", Duration::from_secs(15), || {
        (served_serial(s.gateway.addr()) == second).then_some(())
    });

    // A broken replacement is refused: the renewed certificate stays in use.
    std::fs::write(&cert, "not a certificate").unwrap();
    std::thread::sleep(Duration::from_secs(3)); // two reload checks (every 2 s) pass
    assert_eq!(served_serial(s.gateway.addr()), second);
}
