//! Outbound HTTP for tools written with the TypeScript and Python SDKs: `ts_fetch` (WHATWG
//! `fetch`) and `py_fetch` (`mcp_tool.http`) in the SDK test components, granted one origin of a
//! real HTTP server on loopback with a credential the host injects. An allowed request works and
//! the server sees the credential while the tool cannot; any other origin is refused with a clear
//! `tool_error`. (A component without a grant is refused too: the hostile tests of
//! typescript_tools.rs and python_tools.rs, whose tool set grants no HTTP.)

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::Sandbox;
use crate::python_tools::with_sdk_tools_granting;
use serde_json::json;

const SECRET: &str = "Bearer sdk-s3cret-from-the-host";

/// The headers of one request, by lower-case name.
type Headers = BTreeMap<String, String>;

/// A tiny HTTP/1.1 server answering every request with `hello from <path>`, recording the
/// headers of each.
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
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let mut headers = Headers::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.trim_end().split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    }
                }
                let length = headers
                    .get("content-length")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                let mut got = vec![0; length];
                if reader.read_exact(&mut got).is_err() {
                    continue;
                }
                record.lock().unwrap().push(headers);
                if path == "/hang" {
                    // Never answered: the connection stays open until the server stops.
                    held.push(stream);
                    continue;
                }
                let mut body = format!("hello from {path}");
                if !got.is_empty() {
                    body.push_str(&format!(
                        ", got {length} bytes: {}",
                        String::from_utf8_lossy(&got)
                    ));
                }
                let _ = stream.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-origin: test\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            }
        });
        Self { port, seen }
    }

    fn requests(&self) -> Vec<Headers> {
        self.seen.lock().unwrap().clone()
    }
}

/// The SDK test component of `prefix` (`ts`, `py`), granted `http://127.0.0.1:<port>` with the
/// credential injected as `Authorization`.
fn granted(prefix: &str, origin: &Origin) -> Sandbox {
    let grant = format!(
        "    capabilities:\n\
         \x20     http:\n\
         \x20       allow:\n\
         \x20         - origin: http://127.0.0.1:{}\n\
         \x20           inject: {{ header: Authorization, secret_file: secret.txt }}\n\
         \x20       max_response: 64KiB\n\
         \x20       max_requests: 4\n\
         \x20       timeout: 2s\n",
        origin.port
    );
    with_sdk_tools_granting(prefix, &grant, &[("secret.txt", &format!("{SECRET}\n"))])
}

/// An allowed fetch works with the host's credential the tool never sees; an origin outside the
/// allow-list is refused before anything leaves, as a `tool_error` naming the reason.
/// `refusal` is what the tool's error says about a refused request.
fn fetch_is_allowed_only_as_granted(prefix: &str, refusal: &str) -> (Origin, Sandbox) {
    let origin = Origin::start();
    let sb = granted(prefix, &origin);
    let tool = format!("{prefix}_fetch");
    let url = format!("http://127.0.0.1:{}/data", origin.port);
    let a = sb.call(
        &tool,
        json!({"url": url, "headers": {"authorization": "Bearer guest-chosen", "x-probe": "1"}}),
    );
    let r = a.result();
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["body"], "hello from /data", "{r}");
    assert_eq!(r["sent_headers"]["authorization"], "Bearer guest-chosen");
    assert!(!a.body.to_string().contains("s3cret"), "{}", a.body);
    let seen = origin.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["authorization"], SECRET, "replaced by the host's");
    assert_eq!(seen[0]["x-probe"], "1");

    let other = format!(
        "http://127.0.0.1:{}/data",
        origin.port.wrapping_add(1).max(1)
    );
    let a = sb.call(&tool, json!({"url": other}));
    assert_eq!(a.kind(), "tool_error", "{}", a.body);
    assert!(a.message().contains(refusal), "{}", a.message());
    assert_eq!(origin.requests().len(), 1, "nothing reached the server");
    // The host's audit line says why, whatever the tool's language tells it.
    mcp_testkit::wait_for("the refusal's audit line", Duration::from_secs(10), || {
        sb.proc
            .stderr()
            .lines()
            .any(|l| {
                l.contains("outbound_http") && l.contains("host_not_allowed") && l.contains(&tool)
            })
            .then_some(())
    });
    assert!(
        !sb.proc.stderr().contains("s3cret"),
        "the credential is never logged"
    );
    (origin, sb)
}

#[test]
fn a_typescript_tool_fetches_only_granted_origins_with_a_credential_it_cannot_see() {
    // StarlingMonkey's fetch rejects with a TypeError that does not carry wasi:http's code.
    let _ = fetch_is_allowed_only_as_granted(
        "ts",
        "refused: TypeError: NetworkError when attempting to fetch resource",
    );
}

#[test]
fn a_python_tool_fetches_only_granted_origins_with_a_credential_it_cannot_see() {
    let (origin, sb) = fetch_is_allowed_only_as_granted("py", "was refused: HttpRequestDenied");
    // A request with a body (written to wasi:http in 4 KiB chunks), and the response's headers.
    let text = "é".repeat(5000);
    let a = sb.call(
        "py_fetch",
        json!({"url": format!("http://127.0.0.1:{}/post", origin.port), "method": "POST", "body": text}),
    );
    let r = a.result();
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(
        r["body"],
        format!("hello from /post, got 10000 bytes: {text}")
    );
    assert_eq!(r["content_type"], "text/plain");
    assert_eq!(origin.requests().last().unwrap()["authorization"], SECRET);
    // The request's own timeout, shorter than the grant's 2 s: a server that never answers
    // fails the request after it, with wasi:http's code.
    let a = sb.call(
        "py_fetch",
        json!({"url": format!("http://127.0.0.1:{}/hang", origin.port), "timeout": 0.3}),
    );
    assert_eq!(a.kind(), "tool_error", "{}", a.body);
    assert!(
        a.message().contains("/hang failed: ConnectionReadTimeout"),
        "{}",
        a.message()
    );
    let took = a.body["stats"]["duration_us"].as_u64().unwrap();
    assert!(
        (300_000..1_500_000).contains(&took),
        "{took} us: the 0.3 s timeout, not the grant's 2 s"
    );
}
