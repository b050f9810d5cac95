//! OTLP trace receivers for observability tests.
//!
//! - [`Phoenix`]: Arize Phoenix, a real OTLP receiver (HTTP and gRPC) with a query API,
//!   started on free loopback ports in its own working directory and stopped on drop. Needs
//!   `scripts/setup-peers.sh --with-phoenix` (it installs `.peers/phoenix`); without it the
//!   start fails saying so.
//! - [`OtlpRelay`]: forwards OTLP/HTTP exports to a real receiver and keeps a decoded copy,
//!   for what the receiver does not let one query (Phoenix keeps no resource attributes, so
//!   `service.name` is checked on the way in).
//! - [`BlackHole`]: a TCP listener that accepts and reads but never answers, like a hung
//!   collector.
//!
//! Blocking API: call from plain `#[test]` functions.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message as _;
use serde_json::Value;

use crate::{Proc, ProcBuilder, TempDir, free_port, repo_root, wait_for};

/// Whether Phoenix's log says it could not bind one of its ports.
fn lost_a_port(log: &str) -> bool {
    log.contains("Failed to bind") || log.contains("address already in use")
}

/// A running Phoenix; stopped when dropped.
pub struct Phoenix {
    _proc: Proc,
    http_port: u16,
    grpc_port: u16,
    http: reqwest::blocking::Client,
    _dir: TempDir,
}

impl Phoenix {
    /// Starts Phoenix on free ports and waits until it answers (it takes several seconds). A
    /// free port can be taken by another test between being picked and Phoenix binding it:
    /// then Phoenix exits at start, and it is started again on other ports (three tries).
    pub fn start() -> Self {
        let bin = repo_root().join(".peers/phoenix/bin/phoenix");
        assert!(
            bin.is_file(),
            "{} is missing: run scripts/setup-peers.sh --with-phoenix (it installs Arize Phoenix, \
             the real OTLP receiver these tests export to)",
            bin.display()
        );
        let mut tries = 0;
        loop {
            tries += 1;
            match Self::try_start(&bin) {
                Ok(phoenix) => return phoenix,
                Err(log) if tries < 3 && lost_a_port(&log) => continue,
                Err(log) => panic!("Phoenix exited:\n{log}"),
            }
        }
    }

    /// One start; its log if it exited before answering.
    fn try_start(bin: &std::path::Path) -> Result<Self, String> {
        let dir = TempDir::new().expect("temp dir for Phoenix");
        let (http_port, grpc_port) = (free_port(), free_port());
        let mut proc = ProcBuilder::new(bin, dir.path())
            .arg("serve")
            .env("PHOENIX_HOST", "127.0.0.1")
            .env("PHOENIX_PORT", http_port.to_string())
            .env("PHOENIX_GRPC_PORT", grpc_port.to_string())
            .env("PHOENIX_WORKING_DIR", dir.path())
            .env("PHOENIX_TELEMETRY_ENABLED", "false")
            .spawn(format!("http://127.0.0.1:{http_port}"));
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .expect("HTTP client");
        let health = format!("http://127.0.0.1:{http_port}/healthz");
        wait_for(
            "Phoenix to answer /healthz",
            Duration::from_secs(120),
            || {
                // Give up at once, with its log, if it died (e.g. a port was taken meanwhile).
                if !proc.is_running() {
                    return Some(Err(proc.stderr()));
                }
                let ok = http
                    .get(&health)
                    .send()
                    .is_ok_and(|r| r.status().is_success());
                ok.then_some(Ok(()))
            },
        )?;
        wait_for("Phoenix's gRPC port", Duration::from_secs(30), || {
            TcpStream::connect(("127.0.0.1", grpc_port)).ok()
        });
        Ok(Self {
            _proc: proc,
            http_port,
            grpc_port,
            http,
            _dir: dir,
        })
    }

    /// The UI and query API, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The value for `OTEL_EXPORTER_OTLP_ENDPOINT` with OTLP/HTTP (`/v1/traces` is appended).
    pub fn http_endpoint(&self) -> String {
        self.url()
    }

    /// The value for `OTEL_EXPORTER_OTLP_ENDPOINT` with `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// Every span Phoenix holds for `trace_id` (32 hex digits), in the shape of its REST API
    /// (`name`, `context.span_id`, `parent_id`, `attributes`, ...). Spans without an
    /// `openinference.project.name` resource attribute land in project `default`.
    pub fn trace(&self, trace_id: &str) -> Vec<Value> {
        let mut spans = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut req = self
                .http
                .get(format!("{}/v1/projects/default/spans", self.url()))
                .query(&[("trace_id", trace_id), ("limit", "1000")]);
            if let Some(c) = &cursor {
                req = req.query(&[("cursor", c.as_str())]);
            }
            let Ok(resp) = req.send() else { return spans };
            // 404 until the project exists (no span has arrived yet).
            if !resp.status().is_success() {
                return spans;
            }
            let page: Value = resp.json().unwrap_or_default();
            if let Some(data) = page["data"].as_array() {
                spans.extend(data.iter().cloned());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return spans,
            }
        }
    }

    /// Polls until the trace holds spans that satisfy `complete`, and returns them.
    pub fn wait_for_trace(
        &self,
        trace_id: &str,
        timeout: Duration,
        complete: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.trace(trace_id);
            if complete(&spans) {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "trace {trace_id} was not complete in Phoenix within {timeout:?}; it holds {} \
                 span(s): {}",
                spans.len(),
                serde_json::to_string_pretty(&spans).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// One span as exported, with the `service.name` of the resource it came under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedSpan {
    pub service: String,
    pub name: String,
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// `server`, `client`, `internal`, `producer`, `consumer` or `unspecified`.
    pub kind: &'static str,
}

/// An OTLP/HTTP relay in front of a real receiver: each export is forwarded as is and the
/// receiver's answer returned; a decoded copy of the spans is kept, and the raw bodies too.
pub struct OtlpRelay {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
}

#[derive(Default)]
struct Seen {
    spans: Vec<ExportedSpan>,
    raw: Vec<Vec<u8>>,
}

impl OtlpRelay {
    /// Relays to `upstream` (a base URL such as [`Phoenix::http_endpoint`]).
    pub fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let upstream = upstream.trim_end_matches('/').to_owned();
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()
            .expect("HTTP client");
        let store = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (client, upstream, store) = (client.clone(), upstream.clone(), store.clone());
                std::thread::spawn(move || relay(conn, &client, &upstream, &store));
            }
        });
        Self { addr, seen }
    }

    /// The value for `OTEL_EXPORTER_OTLP_ENDPOINT` (OTLP/HTTP).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span relayed so far.
    pub fn spans(&self) -> Vec<ExportedSpan> {
        self.seen.lock().expect("relay lock").spans.clone()
    }

    /// The export request bodies relayed so far (protobuf), to search for what must not leak.
    pub fn raw_bodies(&self) -> Vec<Vec<u8>> {
        self.seen.lock().expect("relay lock").raw.clone()
    }
}

fn relay(
    mut conn: TcpStream,
    client: &reqwest::blocking::Client,
    upstream: &str,
    seen: &Mutex<Seen>,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    // One request per connection (the answer says `Connection: close`).
    let Some((path, headers, body)) = read_request(&mut conn) else {
        return;
    };
    if let Ok(req) = ExportTraceServiceRequest::decode(body.as_slice()) {
        let mut seen = seen.lock().expect("relay lock");
        seen.spans.extend(decode(&req));
        seen.raw.push(body.clone());
    }
    let mut forward = client.post(format!("{upstream}{path}")).body(body);
    for (k, v) in &headers {
        if !matches!(k.as_str(), "host" | "content-length" | "connection") {
            forward = forward.header(k, v);
        }
    }
    let (status, answer) = match forward.send() {
        Ok(r) => (
            r.status().as_u16(),
            r.bytes().map(|b| b.to_vec()).unwrap_or_default(),
        ),
        Err(_) => (502, Vec::new()),
    };
    let head = format!(
        "HTTP/1.1 {status} Relayed\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        answer.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&answer);
    let _ = conn.flush();
}

/// One HTTP/1.1 request: path, headers (lowercased names) and body.
type Request = (String, Vec<(String, String)>, Vec<u8>);

/// Reads one HTTP/1.1 request with a `Content-Length` body.
fn read_request(conn: &mut TcpStream) -> Option<Request> {
    let mut data = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let header_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split_whitespace().nth(1)?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = data[header_end..].to_vec();
    while body.len() < len {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    Some((path, headers, body))
}

fn decode(req: &ExportTraceServiceRequest) -> Vec<ExportedSpan> {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut out = Vec::new();
    for rs in &req.resource_spans {
        let service = rs
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                AnyValue::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
            out.push(ExportedSpan {
                service: service.clone(),
                name: span.name.clone(),
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: hex(&span.parent_span_id),
                kind: match span.kind {
                    1 => "internal",
                    2 => "server",
                    3 => "client",
                    4 => "producer",
                    5 => "consumer",
                    _ => "unspecified",
                },
            });
        }
    }
    out
}

/// A collector that accepts connections and reads requests but never answers.
pub struct BlackHole {
    addr: SocketAddr,
}

impl BlackHole {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    // Read (and discard) until the client gives up; never write.
                    while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
                });
            }
        });
        Self { addr }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}
