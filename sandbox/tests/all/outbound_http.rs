//! Outbound HTTP for tools (`wasi:http`): a real sandbox serving a Rust guest that fetches from
//! a real HTTP server on loopback. The allow-list lets requests through, the host injects the
//! credential the guest never sees, and everything else is refused with its own error code and
//! audited.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_testkit::otlp::OtlpRelay;
use mcp_testkit::{Proc, ProcBuilder, TempDir};
use serde_json::{Value, json};

const SECRET: &str = "Bearer s3cret-from-the-host";
/// The response cap the test tool set grants.
const CAP: usize = 64 * 1024;

/// The headers of one request the server saw, by lower-case name.
type Headers = BTreeMap<String, Vec<String>>;

/// A tiny HTTP/1.1 server: records each request's headers and answers by path. `/data` is a
/// small body, `/big` a body over the cap with its `Content-Length`, `/stream` one over the cap
/// without it (read to the end of the connection), `/slow` never answers.
struct Origin {
    port: u16,
    seen: Arc<Mutex<Vec<Headers>>>,
}

impl Origin {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let record = record.clone();
                std::thread::spawn(move || serve(stream, &record));
            }
        });
        Self { port, seen }
    }

    fn requests(&self) -> Vec<Headers> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, record: &Mutex<Vec<Headers>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut headers = Headers::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers
                .entry(k.trim().to_ascii_lowercase())
                .or_default()
                .push(v.trim().to_owned());
        }
    }
    record.lock().unwrap().push(headers);
    let mut out = stream;
    let _ = match path.as_str() {
        "/data" => {
            out.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello")
        }
        "/big" => {
            let body = vec![b'x'; CAP * 2];
            let _ = out.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            out.write_all(&body)
        }
        "/stream" => {
            let _ = out.write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n");
            let chunk = vec![b'y'; 8 * 1024];
            (0..(CAP * 4 / chunk.len())).try_for_each(|_| out.write_all(&chunk))
        }
        // Never answers: waits until the sandbox gives up and closes the connection.
        "/slow" => std::io::copy(&mut reader, &mut std::io::sink()).map(|_| ()),
        _ => out
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"),
    };
}

/// A sandbox serving `http_fetch` (granted `http://127.0.0.1:<port>` with the credential,
/// and `http://localhost:<port>` without it) and `http_fetch_ungranted` (no grant).
struct Setup {
    proc: Proc,
    _dir: TempDir,
    http: reqwest::blocking::Client,
}

impl Setup {
    fn start(port: u16, env: &[(&str, String)]) -> Self {
        let dir = TempDir::new().unwrap();
        let toolsets = dir.path().join("toolsets");
        std::fs::create_dir_all(&toolsets).unwrap();
        std::fs::write(toolsets.join("secret.txt"), format!("{SECRET}\n")).unwrap();
        std::fs::write(
            toolsets.join("outbound.yaml"),
            format!(
                "name: outbound\n\
                 defaults:\n  limits: {{ timeout: 10s }}\n\
                 components:\n\
                 \x20 - file: http_fetch.wasm\n\
                 \x20   capabilities:\n\
                 \x20     http:\n\
                 \x20       allow:\n\
                 \x20         - origin: http://127.0.0.1:{port}\n\
                 \x20           inject: {{ header: Authorization, secret_file: secret.txt }}\n\
                 \x20         - origin: http://localhost:{port}\n\
                 \x20       max_response: 64KiB\n\
                 \x20       max_requests: 4\n\
                 \x20       timeout: 2s\n\
                 \x20 - file: http_fetch.wasm\n\
                 \x20   name: ungranted\n\
                 \x20   capabilities: {{ env: {{ HTTP_FETCH_TOOL: http_fetch_ungranted }} }}\n"
            ),
        )
        .unwrap();
        let policy = dir.path().join("access.yaml");
        std::fs::write(&policy, "toolsets:\n  outbound: { roles: [tester] }\n").unwrap();
        let mut builder =
            ProcBuilder::new(&mcp_testkit::bin("mcp-sandbox"), &dir.path().join("logs"));
        for (k, v) in env {
            builder = builder.env(k, v);
        }
        let proc = builder
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--toolsets")
            .arg(&toolsets)
            .arg("--modules")
            .arg(mcp_testkit::tools_dir())
            .arg("--policy")
            .arg(&policy)
            .arg("--cache")
            .arg(mcp_testkit::repo_root().join("target/wasm-cache"))
            .args(["--log-format", "json"])
            .start(Duration::from_secs(300));
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        Self {
            proc,
            _dir: dir,
            http,
        }
    }

    /// Calls `tool` as alice; the body of the answer.
    fn call(&self, tool: &str, arguments: Value) -> Value {
        let body = json!({"tool": tool, "arguments": arguments, "user": "alice",
                          "roles": ["tester"], "request_id": "req-http"});
        self.http
            .post(format!("{}/v1/call", self.proc.url()))
            .json(&body)
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    /// The `outbound_http` audit lines, once there are `n` (or all there are after 10 s).
    fn audit(&self, n: usize) -> Vec<Value> {
        let lines = || -> Vec<Value> {
            self.proc
                .stderr()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .filter(|v: &Value| v["event"] == "outbound_http")
                .collect()
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        mcp_testkit::wait_for("outbound HTTP audit lines", Duration::from_secs(11), || {
            let found = lines();
            (found.len() >= n || std::time::Instant::now() > deadline).then_some(found)
        })
    }
}

fn failure(answer: &Value) -> &str {
    assert_eq!(answer["ok"], false, "expected a failure, got {answer}");
    answer["error"]["message"].as_str().unwrap_or_default()
}

#[test]
fn outbound_http_is_allowed_only_as_granted_and_the_credential_stays_on_the_host() {
    let origin = Origin::start();
    let port = origin.port;
    let sb = Setup::start(port, &[]);
    let authority = format!("127.0.0.1:{port}");

    // Allowed: the server sees the host's credential in place of the guest's, and nothing the
    // guest can read (its own request, its environment) holds it.
    let ok = sb.call(
        "http_fetch",
        json!({"scheme": "http", "authority": authority, "path": "/data",
               "headers": {"Authorization": "Bearer guest-chosen", "X-Probe": "1"}}),
    );
    assert_eq!(ok["ok"], true, "{ok}");
    let result = &ok["result"];
    assert_eq!(result["status"], 200, "{result}");
    assert_eq!(result["body"], "hello");
    assert!(!result.to_string().contains("s3cret"), "{result}");
    assert_eq!(
        result["sent_headers"]["authorization"],
        "Bearer guest-chosen"
    );
    let seen = origin.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0]["authorization"],
        vec![SECRET.to_owned()],
        "replaced, not merged"
    );
    assert_eq!(seen[0]["x-probe"], vec!["1".to_owned()]);

    // Outside the allow-list: another port on the same address.
    let other = sb.call(
        "http_fetch",
        json!({"scheme": "http", "authority": format!("127.0.0.1:{}", port.wrapping_add(1).max(1))}),
    );
    assert!(failure(&other).contains("HttpRequestDenied"), "{other}");

    // Allowed by name, but the name resolves to loopback, which only a literal IP rule grants.
    let ssrf = sb.call(
        "http_fetch",
        json!({"scheme": "http", "authority": format!("localhost:{port}"), "path": "/data"}),
    );
    assert!(failure(&ssrf).contains("DestinationIpProhibited"), "{ssrf}");

    // A component whose tool set grants nothing: refused before anything leaves.
    let ungranted = sb.call(
        "http_fetch_ungranted",
        json!({"scheme": "http", "authority": authority, "path": "/data"}),
    );
    assert!(
        failure(&ungranted).contains("HttpRequestDenied"),
        "{ungranted}"
    );
    assert_eq!(
        origin.requests().len(),
        1,
        "no refused request reached the server"
    );

    // Over the cap: refused on its Content-Length, or cut while streaming without one.
    let big = sb.call(
        "http_fetch",
        json!({"scheme": "http", "authority": authority, "path": "/big"}),
    );
    assert!(failure(&big).contains("HttpResponseBodySize"), "{big}");
    let stream = sb.call(
        "http_fetch",
        json!({"scheme": "http", "authority": authority, "path": "/stream"}),
    );
    let message = failure(&stream);
    assert!(
        message.contains(&format!("response body size exceeds limit: {CAP} bytes")),
        "{stream}"
    );
    // The guest got at most the cap before the error (the chunk crossing it is dropped).
    let read: usize = message
        .split("after ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(read <= CAP, "{stream}");

    // The per-call request limit (4): the fifth request of one call is refused.
    let flood = sb.call(
        "http_fetch",
        json!({"scheme": "http", "authority": authority, "path": "/data", "repeat": 5}),
    );
    assert!(
        failure(&flood).contains("ConnectionLimitReached"),
        "{flood}"
    );

    // A server that never answers: cut at the grant's 2 s timeout, well before the call's 10 s.
    let started = std::time::Instant::now();
    let slow = sb.call(
        "http_fetch",
        json!({"scheme": "http", "authority": authority, "path": "/slow"}),
    );
    assert!(failure(&slow).contains("Timeout"), "{slow}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "{took:?}"
    );

    // One audit line per request, with who, where, and how it ended.
    let lines = sb.audit(12);
    let outcomes: Vec<&str> = lines
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "ok",
            "host_not_allowed",
            "blocked_address",
            "not_granted",
            "too_large",
            "too_large",
            "ok",
            "ok",
            "ok",
            "ok",
            "request_limit",
            "timeout"
        ],
        "{lines:?}"
    );
    let first = &lines[0];
    assert_eq!(first["user"], "alice");
    assert_eq!(first["tool"], "http_fetch");
    assert_eq!(first["component"], "http_fetch");
    assert_eq!(first["method"], "GET");
    assert_eq!(first["host"], authority);
    assert_eq!(first["status"], 200);
    assert_eq!(first["bytes"], 5);
    assert_eq!(first["parent_request_id"], "req-http");
    assert!(
        !sb.proc.stderr().contains("s3cret"),
        "the credential is never logged"
    );

    // And counted, by allowed origin (never by a host the guest made up).
    let metrics = sb
        .http
        .get(format!("{}/metrics", sb.proc.url()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let ok_series = format!(
        "mcp_sandbox_http_requests_total{{component=\"http_fetch\",host=\"http://127.0.0.1:{port}\",outcome=\"ok\"}} 5"
    );
    assert!(metrics.contains(&ok_series), "{metrics}");
    assert!(
        metrics.contains("host=\"-\",outcome=\"host_not_allowed\"} 1"),
        "{metrics}"
    );
}

#[test]
fn an_outbound_request_is_traced_under_the_calls_guest_run() {
    let origin = Origin::start();
    // Keeps a decoded copy of every export; the upstream (a closed port) need not exist.
    let relay = OtlpRelay::start("http://127.0.0.1:1");
    let sb = Setup::start(
        origin.port,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", relay.endpoint()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ],
    );
    let ok = sb.call(
        "http_fetch",
        json!({"scheme": "http", "authority": format!("127.0.0.1:{}", origin.port), "path": "/data"}),
    );
    assert_eq!(ok["ok"], true, "{ok}");
    let request = mcp_testkit::wait_for("an http_request span", Duration::from_secs(10), || {
        relay.spans().into_iter().find(|s| s.name == "http_request")
    });
    // The parent may come in a later export batch than its child.
    let parent = mcp_testkit::wait_for("its parent span", Duration::from_secs(10), || {
        relay
            .spans()
            .into_iter()
            .find(|s| s.span_id == request.parent_span_id)
            .map(|s| s.name)
    });
    assert_eq!(parent, "guest_run");
    assert_eq!(request.service, "mcp-sandbox");
}
