//! Hostile HTTP at the gateway: huge bodies (declared and chunked), slow bodies, deep nesting,
//! and 10,000 idle connections. Each gets a precise answer within its bound, memory stays
//! bounded, and the gateway keeps serving.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::{Options, Stack};
use serde_json::json;

/// Resident memory of a process, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

fn connect(s: &Stack) -> TcpStream {
    let c = TcpStream::connect(s.gateway.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

/// Reads whatever the server sends until it stops (or the read times out).
fn read_answer(c: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = c.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if out.windows(4).any(|w| w == b"\r\n\r\n") && out.len() > 64 {
            // Headers and (small) body are in; give the rest a moment.
            c.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn head(path: &str, key: &str, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n{extra}\r\n"
    )
}

#[test]
fn a_50_mb_declared_body_gets_413_without_being_read() {
    let s = Stack::start(Options::default());
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    let before = rss(s.gateway.pid());
    let mut c = connect(&s);
    let started = Instant::now();
    c.write_all(head("/mcp", &key, "Content-Length: 52428800\r\n").as_bytes())
        .unwrap();
    c.write_all(b"{\"jsonrpc\":\"2.0\",").unwrap(); // and nothing more
    let answer = read_answer(&mut c);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("-32600") && answer.contains("larger than"),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let grown = rss(s.gateway.pid()).saturating_sub(before);
    assert!(grown < 8 << 20, "gateway memory grew by {grown} bytes");
    assert_eq!(s.rpc(&key, "ping", json!({})).status, 200);
}

#[test]
fn a_50_mb_chunked_body_is_cut_off_at_the_limit() {
    let s = Stack::start(Options::default());
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    let before = rss(s.gateway.pid());
    let mut c = connect(&s);
    c.write_all(head("/mcp", &key, "Transfer-Encoding: chunked\r\n").as_bytes())
        .unwrap();
    let chunk = vec![b' '; 1 << 20];
    let mut sent = 0usize;
    for _ in 0..50 {
        let frame = format!("{:x}\r\n", chunk.len());
        if c.write_all(frame.as_bytes())
            .and_then(|()| c.write_all(&chunk))
            .and_then(|()| c.write_all(b"\r\n"))
            .is_err()
        {
            break; // the gateway stopped reading and closed: expected
        }
        sent += chunk.len();
    }
    let answer = read_answer(&mut c);
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "after {sent} bytes: {answer}"
    );
    assert!(sent < 50 << 20, "the gateway read the whole 50 MB");
    let grown = rss(s.gateway.pid()).saturating_sub(before);
    assert!(
        grown < 48 << 20,
        "gateway memory grew by {grown} bytes (limit is 16 MiB per body)"
    );
    assert_eq!(s.rpc(&key, "ping", json!({})).status, 200);
}

#[test]
fn a_body_that_stalls_gets_408() {
    let s = Stack::start(Options {
        config: "limits: {body_timeout: 2s, body_read_timeout: 1s}".into(),
        ..Options::default()
    });
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    let mut c = connect(&s);
    let started = Instant::now();
    c.write_all(head("/mcp", &key, "Content-Length: 100\r\n").as_bytes())
        .unwrap();
    c.write_all(b"{\"jsonrpc\"").unwrap();
    let answer = read_answer(&mut c);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(
        s.metrics()
            .contains(r#"mcp_request_timeouts_total{phase="body"}"#)
    );
    // A body dribbled a byte at a time, just inside the per-read timeout, still hits the total.
    let mut c = connect(&s);
    let started = Instant::now();
    c.write_all(head("/mcp", &key, "Content-Length: 100\r\n").as_bytes())
        .unwrap();
    for _ in 0..10 {
        if c.write_all(b" ").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let answer = read_answer(&mut c);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(s.rpc(&key, "ping", json!({})).status, 200);
}

#[test]
fn deeply_nested_json_is_refused_before_it_is_parsed() {
    let s = Stack::start(Options::default());
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    let depth = 200_000;
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":{}0{}}}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let r = s.post_raw(Some(&key), &body, &[]);
    assert_eq!((r.status, r.rpc_code()), (400, Some(-32600)), "{}", r.text);
    assert!(r.text.contains("nested more than"), "{}", r.text);
    assert_eq!(s.rpc(&key, "ping", json!({})).status, 200);
}

/// Raises this process's open-file limit (the gateway it starts inherits it) towards `want`,
/// lifting the hard limit too when allowed (root). Returns the limit now in force.
fn raise_fd_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on this process.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_max < want {
            let raised = libc::rlimit {
                rlim_cur: want,
                rlim_max: want,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return want;
            }
        }
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    lim.rlim_max
}

#[test]
fn ten_thousand_idle_connections_do_not_exhaust_memory() {
    // This process holds the client ends, the gateway the server ends: each needs one fd per
    // connection, plus headroom for everything else.
    let limit = raise_fd_limit(11_000);
    let idle = usize::try_from(limit.saturating_sub(1_000))
        .unwrap_or(0)
        .min(10_000);
    assert!(idle >= 1_000, "the open-file limit ({limit}) is too low");
    if idle < 10_000 {
        eprintln!("WARNING: open-file hard limit {limit}: testing {idle} idle connections");
    }
    // What one connection costs: the connection caps (server.connections, 512 per address
    // by default; hostile_tenants.rs tests them) are raised above the count, and the header
    // deadline past the test's length.
    let s = Stack::start(Options {
        env: [
            ("MAX", "12000"),
            ("MAX_PER_IP", "12000"),
            ("HEADER_TIMEOUT", "120s"),
        ]
        .into_iter()
        .map(|(k, v)| {
            (
                format!("MCP_GATEWAY__SERVER__CONNECTIONS__{k}"),
                v.to_owned(),
            )
        })
        .collect(),
        ..Options::default()
    });
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    let before = rss(s.gateway.pid());
    let conns: Vec<TcpStream> = (0..idle)
        .map(|i| {
            TcpStream::connect(s.gateway.addr()).unwrap_or_else(|e| panic!("connection {i}: {e}"))
        })
        .collect();
    // Each connection holds its task and a read buffer of at most server.read_buffer (16 KiB);
    // measured: ~41 KiB resident per idle connection, almost all of it pingora's task.
    mcp_testkit::wait_for(
        "the gateway to accept all connections",
        Duration::from_secs(30),
        || {
            let fds = std::fs::read_dir(format!("/proc/{}/fd", s.gateway.pid()))
                .ok()?
                .count();
            (fds >= idle).then_some(())
        },
    );
    let grown = rss(s.gateway.pid()).saturating_sub(before);
    eprintln!(
        "{idle} idle connections: gateway RSS grew by {} MiB",
        grown >> 20
    );
    let per_conn = grown / idle as u64;
    assert!(
        per_conn < 64 << 10,
        "{per_conn} bytes per idle connection ({} MiB in all)",
        grown >> 20
    );
    let started = Instant::now();
    assert_eq!(s.call_tool(&key, "echo", json!({"text": "x"})).status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a real request waited {:?}",
        started.elapsed()
    );
    drop(conns);
}
