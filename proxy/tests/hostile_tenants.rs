//! Hostile tenants against the real binaries: an attacker (from 127.0.0.1) and a victim (from
//! 127.0.0.2) use one gateway and one sandbox at the same time. For each attack the victim's
//! `echo` latency (p50/p99) and errors are measured against a no-attack baseline, with the peak
//! resident memory (`VmHWM`) of both processes. The table is printed (`--nocapture`) and kept in
//! docs/hostile-tenants.md.
//!
//! The attacks share one stack and run one after another; the measurements are collected first
//! and asserted at the end, so a failing run still prints the whole table.

#![allow(
    clippy::unwrap_used,
    reason = "the helpers panic on set-up failures on purpose: each is a failed test"
)]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Options, Stack};
use mcp_testkit::forge::Forge;
use serde_json::json;

const MIB: u64 = 1 << 20;
/// The chart's memory limits (deploy/helm/mcp-gateway/values.yaml): every process must stay
/// under half of its own.
const GATEWAY_LIMIT: u64 = 512 * MIB;
const SANDBOX_LIMIT: u64 = 3 * 1024 * MIB;
/// The gateway's default `limits.max_buffered_per_caller`: the most request bytes it holds for
/// one caller at a time.
const PER_CALLER_BUFFERED: u64 = 24 * MIB;
/// The victim's own loopback address (Linux routes all of 127/8 to `lo`).
const VICTIM_ADDR: &str = "127.0.0.2";
/// The gateway's connection caps and header deadline in this suite (`server.connections`).
const MAX_CONNECTIONS: usize = 1024;
const MAX_CONNECTIONS_PER_IP: usize = 256;
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// Peak resident memory of a process, in bytes.
fn vm_hwm(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// Resets a process's peak resident memory to its current resident memory (Linux
/// `clear_refs` 5), so each attack's peak is its own; returns that starting point.
fn reset_hwm(pid: u32) -> u64 {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    vm_hwm(pid)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// Waits (at most `within`) until the process has at most `most` open descriptors; how long
/// that took, or `None` if it did not happen.
fn fds_fall_to(pid: u32, most: usize, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if open_fds(pid) <= most {
            return Some(started.elapsed());
        }
        std::thread::yield_now();
    }
    None
}

/// Raises this process's open-file limit to its hard limit; the soft limit after that.
fn raise_fd_limit() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// The victim: an API-key user calling `echo` from its own address, checking every answer.
struct Victim {
    http: reqwest::blocking::Client,
    url: String,
    key: String,
}

#[derive(Default)]
struct VictimRun {
    times: Vec<Duration>,
    errors: Vec<String>,
}

impl VictimRun {
    fn p(&self, p: f64) -> Duration {
        let mut t = self.times.clone();
        t.sort();
        percentile(&t, p)
    }
}

impl Victim {
    fn new(s: &Stack, key: String) -> Self {
        Self::with_pool(s, key, true)
    }

    /// A victim that opens a new connection for every call (to show it can still connect).
    fn connecting(s: &Stack, key: String) -> Self {
        Self::with_pool(s, key, false)
    }

    fn with_pool(s: &Stack, key: String, keep_alive: bool) -> Self {
        let mut http = reqwest::blocking::Client::builder()
            .local_address(VICTIM_ADDR.parse::<IpAddr>().unwrap())
            .timeout(Duration::from_secs(30));
        if !keep_alive {
            http = http.pool_max_idle_per_host(0);
        }
        let http = http.build().unwrap();
        Self {
            http,
            url: s.mcp_url(),
            key,
        }
    }

    /// One `echo` call; `Err` says what was wrong with the answer.
    fn call(&self, i: usize) -> Result<Duration, String> {
        let text = format!("victim-{i}");
        let body = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": text}}});
        let started = Instant::now();
        let r = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("authorization", format!("Bearer {}", self.key))
            .body(body.to_string())
            .send()
            .map_err(|e| format!("call {i}: {e}"))?;
        let status = r.status().as_u16();
        let answer = r.text().map_err(|e| format!("call {i}: {e}"))?;
        let elapsed = started.elapsed();
        let v: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
        let ok = status == 200
            && v["result"]["isError"] != json!(true)
            && v["result"]["content"][0]["text"]
                .as_str()
                .is_some_and(|t| t.contains(&text));
        if ok {
            Ok(elapsed)
        } else {
            Err(format!(
                "call {i}: {status} {}",
                answer.chars().take(300).collect::<String>()
            ))
        }
    }

    fn run(&self, n: usize) -> VictimRun {
        let mut run = VictimRun::default();
        for i in 0..n {
            match self.call(i) {
                Ok(t) => run.times.push(t),
                Err(e) => run.errors.push(e),
            }
        }
        run
    }

    /// Calls until `stop` is set, and at least `min` times.
    fn run_until(&self, stop: &AtomicBool, min: usize) -> VictimRun {
        let mut run = VictimRun::default();
        let mut i = 0;
        while !stop.load(Ordering::Acquire) || i < min {
            match self.call(i) {
                Ok(t) => run.times.push(t),
                Err(e) => run.errors.push(e),
            }
            i += 1;
        }
        run
    }
}

/// What one attack did and what the victim saw meanwhile.
struct Row {
    attack: &'static str,
    victim: VictimRun,
    /// Attacker answers by status (0: connection closed or reset without an answer).
    answers: BTreeMap<u16, usize>,
    /// Most bytes the gateway may hold for the attacker at once (the VmHWM bound is 4x this).
    held: u64,
    gw_growth: u64,
    sb_growth: u64,
    gw_hwm: u64,
    sb_hwm: u64,
    elapsed: Duration,
    /// Bound on the victim's p99 for this attack.
    p99_bound: Duration,
    /// Attack-specific checks that failed.
    failures: Vec<String>,
}

/// Counts attacker answers by status from several threads.
#[derive(Default)]
struct Tally(Mutex<BTreeMap<u16, usize>>);

impl Tally {
    fn add(&self, status: u16) {
        *self.0.lock().unwrap().entry(status).or_default() += 1;
    }
    fn take(&self) -> BTreeMap<u16, usize> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

/// What an attack reports back.
struct Outcome {
    answers: BTreeMap<u16, usize>,
    held: u64,
    failures: Vec<String>,
}

struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs `attack` while the victim calls `echo`, measuring both processes' peak memory.
fn measure(
    s: &Stack,
    victim: &Victim,
    attack: &'static str,
    p99_bound: Duration,
    run: impl FnOnce() -> Outcome,
) -> Row {
    let gw = s.gateway.pid();
    let sb = s.sandboxes[0].as_ref().unwrap().pid();
    let (gw0, sb0) = (reset_hwm(gw), reset_hwm(sb));
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let (outcome, victim_run) = std::thread::scope(|scope| {
        let v = scope.spawn(|| victim.run_until(&stop, 10));
        // Stops the victim even when the attack panics (the scope waits for it).
        let _stop = StopOnDrop(&stop);
        let outcome = run();
        stop.store(true, Ordering::Release);
        (outcome, v.join().unwrap())
    });
    let elapsed = started.elapsed();
    let (gw1, sb1) = (vm_hwm(gw), vm_hwm(sb));
    Row {
        attack,
        victim: victim_run,
        answers: outcome.answers,
        held: outcome.held,
        gw_growth: gw1.saturating_sub(gw0),
        sb_growth: sb1.saturating_sub(sb0),
        gw_hwm: gw1,
        sb_hwm: sb1,
        elapsed,
        p99_bound,
        failures: outcome.failures,
    }
}

/// Runs `f` on `threads` threads until `for_how_long` has passed (each finishes its request).
fn for_a_while(threads: usize, for_how_long: Duration, f: impl Fn(usize) + Sync) {
    let until = Instant::now() + for_how_long;
    std::thread::scope(|scope| {
        for t in 0..threads {
            let f = &f;
            scope.spawn(move || {
                let mut i = 0;
                while Instant::now() < until {
                    f(t * 1_000_000 + i);
                    i += 1;
                }
            });
        }
    });
}

fn rpc_body(tool: &str, arguments: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments}}}}}"#
    )
}

fn attack_head(s: &Stack, key: &str, len: usize) -> String {
    format!(
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {len}\r\n\r\n",
        s.gateway.addr()
    )
}

/// The status of an HTTP answer read so far (0 when there is none).
fn status_of(answer: &[u8]) -> u16 {
    std::str::from_utf8(answer.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Posts `body` to /mcp over a raw connection in `piece`-byte writes, `pace` apart, watching
/// for an answer between writes (the gateway may answer before it reads the body). Returns the
/// answer's status (0 for none by `give_up`) and the answer.
fn raw_post(
    s: &Stack,
    key: &str,
    body: &[u8],
    piece: usize,
    pace: Duration,
    give_up: Instant,
) -> (u16, String) {
    let Ok(mut c) = TcpStream::connect(s.gateway.addr()) else {
        return (0, String::new());
    };
    c.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
    c.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    if c.write_all(attack_head(s, key, body.len()).as_bytes())
        .is_err()
    {
        return (0, String::new());
    }
    let mut sent = 0;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < give_up {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.len() >= 12 {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
        if sent < body.len() {
            let n = piece.min(body.len() - sent);
            if c.write_all(&body[sent..sent + n]).is_err() {
                // Closed on us: the answer, if any, is still in our receive buffer.
                c.set_read_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
                let _ = c.read_to_end(&mut answer);
                break;
            }
            sent += n;
            if !pace.is_zero() {
                // Pacing of a slow sender (not synchronisation).
                std::thread::sleep(pace);
            }
        } else {
            c.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
        }
    }
    // The rest of the answer, up to its Content-Length.
    c.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    while Instant::now() < give_up && !complete(&answer) {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    (
        status_of(&answer),
        String::from_utf8_lossy(&answer).into_owned(),
    )
}

/// Whether an HTTP answer has its headers and the whole body they announce.
fn complete(answer: &[u8]) -> bool {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    answer.len() >= end + 4 + len
}

/// A refused direct call: what it tries, its headers, and the status it must get.
type DirectCall<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16);

fn call_sandbox(addr: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let http = reqwest::blocking::Client::new();
    let mut req = http
        .post(format!("http://{addr}/v1/call"))
        .body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    match req.send() {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.text().unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

#[test]
fn a_hostile_tenant_cannot_take_the_gateway_or_the_sandbox_from_a_victim() {
    let suite_started = Instant::now();
    let idp = Forge::start();
    let s = Stack::start(Options {
        policy: format!(
            "{}rate_limits:\n  tools: {{ text_transform: 3/min }}\n",
            common::DEFAULT_POLICY
        ),
        config: format!(
            "oidc: {{issuer: '{}', audience: mcp-gateway, leeway: 2s, refresh_min_interval: 1s}}\n\
             limits: {{body_timeout: 3s, body_read_timeout: 1s}}",
            idp.issuer()
        ),
        // Spinning programs run out their 2 s wall clock (the fuel is not the limit).
        hostile_limits: "{ fuel: 1000000000000, timeout: 2s, memory: 32MiB }",
        env: [
            ("MAX", MAX_CONNECTIONS.to_string()),
            ("MAX_PER_IP", MAX_CONNECTIONS_PER_IP.to_string()),
            ("HEADER_TIMEOUT", format!("{}s", HEADER_TIMEOUT.as_secs())),
        ]
        .into_iter()
        .map(|(k, v)| (format!("MCP_GATEWAY__SERVER__CONNECTIONS__{k}"), v))
        .collect(),
        ..Options::default()
    });
    let (_, victim_key) = s.create_key("victim", &["mcp-user"], "1d");
    let (_, mallory) = s.create_key("mallory", &["mcp-user", "mcp-admin"], "1d");
    let connecting_victim = Victim::connecting(&s, victim_key.clone());
    let victim = Victim::new(&s, victim_key);
    // Warm up, then the baseline.
    let warm = victim.run(5);
    assert!(warm.errors.is_empty(), "{:?}", warm.errors);
    let baseline = victim.run(100);
    assert!(baseline.errors.is_empty(), "{:?}", baseline.errors);
    let base_p99 = baseline.p(0.99);
    // Bounds on the victim's p99: 3x the baseline where the attack is I/O; where it is CPU on
    // 2 shared cores (debug binaries parsing megabytes, guests spinning), the victim waits for
    // its share of the CPU, so the bound is 3x the baseline or a stated floor, whichever is
    // larger (a victim starved of its slot would wait for whole calls: seconds).
    // Even the attacks that are not CPU-bound run their client threads on the same 2 shared
    // cores (and other builds may run there): 3x a ~1.3 ms baseline is below one scheduler
    // slice, so those get a floor of 25 ms. A victim actually denied service waits whole
    // timeouts (5 s for a slot, 3 s for a body), which either bound still catches.
    let io_bound = (base_p99 * 3).max(Duration::from_millis(25));
    let cpu_bound = (base_p99 * 3).max(Duration::from_millis(750));
    let mut rows = Vec::new();
    let big_text = "a".repeat(1_000_000);
    let body = rpc_body("echo", &json!({ "text": big_text }).to_string());

    // A lone caller's throughput of ~1 MiB calls (8 threads for 2 s, nobody else calling):
    // the fair share of CPU between callers must not cost a caller who is alone.
    let lone = std::sync::atomic::AtomicUsize::new(0);
    let lone_for = Duration::from_secs(2);
    for_a_while(8, lone_for, |_| {
        let give_up = Instant::now() + Duration::from_secs(30);
        if raw_post(
            &s,
            &mallory,
            body.as_bytes(),
            1 << 20,
            Duration::ZERO,
            give_up,
        )
        .0 == 200
        {
            lone.fetch_add(1, Ordering::Relaxed);
        }
    });
    let lone = lone.into_inner();
    eprintln!(
        "lone caller: {lone} ~1 MiB echo calls answered 200 in {lone_for:?} ({:.1}/s)",
        lone as f64 / lone_for.as_secs_f64()
    );
    assert!(lone > 0, "a lone caller's ~1 MiB calls all failed");

    // 1a. Many parallel `echo` calls with arguments just under the 1 MiB limit.
    let tally = Tally::default();
    // Every admitted 1 MiB call costs the debug gateway and sandbox tens of milliseconds of
    // CPU (copying, checking and echoing a megabyte). Large requests run only with one of the
    // gateway's `limits.heavy_in_flight` turns (http::fair, 1 by default), so the attacker
    // keeps one of them busy at a time and the victim's small calls find the other worker:
    // measured p50 1.3-1.5 ms, p99 8-45 ms (without the turns: p50 38-370 ms, p99 0.33-1.15
    // s). The victim still shares the 2 cores with megabyte copies: a floor of 250 ms.
    let bulk_bound = (base_p99 * 3).max(Duration::from_millis(250));
    rows.push(measure(&s, &victim, "1a 8 x parallel ~1 MiB echo args", bulk_bound, || {
        for_a_while(8, Duration::from_secs(3), |_| {
            let give_up = Instant::now() + Duration::from_secs(30);
            tally.add(raw_post(&s, &mallory, body.as_bytes(), 1 << 20, Duration::ZERO, give_up).0)
        });
        let answers = tally.take();
        let failures = answers
            .keys()
            .filter(|s| ![200, 429].contains(*s))
            .map(|s| format!("1 MiB arguments answered {s} (expected 200, or 429 past the caller's share)"))
            .collect();
        Outcome {
            answers,
            held: PER_CALLER_BUFFERED,
            failures,
        }
    }));

    // 1b. 16 MiB `[0,0,...]` arguments (a body just under max_body): refused on the bytes,
    // before any tree is built.
    let zeros = (16 * MIB as usize - 200) / 2;
    let body = rpc_body(
        "echo",
        &format!(r#"{{"text":[{}0]}}"#, "0,".repeat(zeros - 1)),
    );
    assert!(body.len() < 16 << 20);
    let slowest = Mutex::new(Duration::ZERO);
    let wrong = Mutex::new(Vec::new());
    let example = Mutex::new(String::new());
    rows.push(measure(
        &s,
        &victim,
        "1b 4 x parallel 16 MiB [0,0,...] args",
        cpu_bound,
        || {
            for_a_while(4, Duration::from_secs(3), |_| {
                let started = Instant::now();
                let give_up = started + Duration::from_secs(30);
                let (status, answer) = raw_post(
                    &s,
                    &mallory,
                    body.as_bytes(),
                    1 << 20,
                    Duration::ZERO,
                    give_up,
                );
                let mut slow = slowest.lock().unwrap();
                *slow = (*slow).max(started.elapsed());
                tally.add(status);
                // Refusals of the arguments come as a tool error (HTTP 200, `isError`),
                // refusals of the body as 413/429.
                let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
                let refused = match status {
                    200 => body.contains("\"error\"") || body.contains("\"isError\":true"),
                    413 | 429 => true,
                    _ => false,
                };
                if !refused {
                    wrong.lock().unwrap().push(format!(
                        "16 MiB arguments answered {status} {}",
                        answer.chars().take(400).collect::<String>()
                    ));
                } else if status == 200 {
                    let mut e = example.lock().unwrap();
                    if e.is_empty() {
                        *e = body.chars().take(400).collect();
                    }
                }
            });
            let answers = tally.take();
            let mut failures = std::mem::take(&mut *wrong.lock().unwrap());
            failures.truncate(3);
            eprintln!("1b: a refusal: {}", example.lock().unwrap());
            let slow = *slowest.lock().unwrap();
            eprintln!("1b: slowest refusal of a 16 MiB body {slow:?}");
            if slow > Duration::from_secs(5) {
                failures.push(format!("a 16 MiB body took {slow:?} to be refused"));
            }
            Outcome {
                answers,
                held: 16 * MIB,
                failures,
            }
        },
    ));

    // 2. 64 connections of one caller each sending a 16 MiB body slowly.
    rows.push(measure(
        &s,
        &victim,
        "2 64 x slow 16 MiB bodies",
        io_bound,
        || {
            let give_up = Instant::now() + Duration::from_secs(6);
            let body = vec![b' '; 16 * MIB as usize - 1];
            std::thread::scope(|scope| {
                for _ in 0..64 {
                    scope.spawn(|| {
                        let pace = Duration::from_millis(25);
                        tally.add(raw_post(&s, &mallory, &body, 64 << 10, pace, give_up).0)
                    });
                }
            });
            let answers = tally.take();
            let failures = answers
                .keys()
                .filter(|s| ![408, 413, 429].contains(*s))
                .map(|s| format!("a slow 16 MiB body got {s} (expected 408, 413 or 429)"))
                .collect();
            Outcome {
                answers,
                held: 16 * MIB,
                failures,
            }
        },
    ));

    // 3. Slot exhaustion: 24 programs spinning for their whole 2 s (the attacker's share is
    // half of the sandbox's 16 slots).
    rows.push(measure(
        &s,
        &victim,
        "3 24 x parallel spin (2 s each)",
        cpu_bound,
        || {
            let started = Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..24 {
                    scope.spawn(|| {
                        let r = s.call_tool(&mallory, "spin", json!({}));
                        tally.add(r.status);
                    });
                }
            });
            let mut failures = Vec::new();
            if started.elapsed() > Duration::from_secs(20) {
                failures.push(format!("the spin attack took {:?}", started.elapsed()));
            }
            Outcome {
                answers: tally.take(),
                held: 0,
                failures,
            }
        },
    ));

    // 4. Identity collision: an OIDC user and an API-key user both named `alice`.
    let (_, alice_key) = s.create_key("alice", &["mcp-user"], "1d");
    let alice_oidc = idp.token("alice", &["mcp-user"]);
    rows.push(measure(&s, &victim, "4 OIDC alice vs API-key alice", io_bound, || {
        let transform = json!({"text": "x", "operation": "upper"});
        let by_key: Vec<u16> = (0..4)
            .map(|_| s.call_tool(&alice_key, "text_transform", transform.clone()).status)
            .collect();
        let by_oidc = s.call_tool(&alice_oidc, "text_transform", transform).status;
        for st in by_key.iter().chain([&by_oidc]) {
            tally.add(*st);
        }
        let mut failures = Vec::new();
        if by_key != [200, 200, 200, 429] || by_oidc != 200 {
            failures.push(format!(
                "separate rate buckets: API-key alice {by_key:?}, OIDC alice {by_oidc} (expected [200, 200, 200, 429] and 200)"
            ));
        }
        let want_oidc = format!("oidc:{}#sub-alice", idp.issuer());
        let principals = || -> std::collections::BTreeSet<String> {
            s.audit()
                .iter()
                .filter(|l| l["user"] == "alice" && l["tool"] == "text_transform")
                .filter_map(|l| l["principal"].as_str().map(str::to_owned))
                .collect()
        };
        // The audit line is written after the answer: wait for both, with a deadline.
        let deadline = Instant::now() + Duration::from_secs(5);
        let found = loop {
            let found = principals();
            if found.len() >= 2 || Instant::now() > deadline {
                break found;
            }
            std::thread::yield_now();
        };
        let principals = found;
        if !principals.contains("apikey:alice") || !principals.contains(&want_oidc) {
            failures.push(format!(
                "audit principals of the two alices: {principals:?} (expected apikey:alice and {want_oidc})"
            ));
        }
        Outcome {
            answers: tally.take(),
            held: 0,
            failures,
        }
    }));

    // 5. Straight to the sandbox's tool API: no token, a wrong token, no call grant, a
    // browser Origin, not JSON. Each is refused, again and again.
    let sandbox = s.sandbox_addrs[0].clone();
    rows.push(measure(
        &s,
        &victim,
        "5 direct sandbox calls, 4 threads",
        io_bound,
        || {
            let bearer = format!("Bearer {}", common::SANDBOX_TOKEN);
            let claim = json!({"tool": "echo", "arguments": {"text": "pwned"}, "user": "victim",
            "roles": ["mcp-admin"], "request_id": "r1"})
            .to_string();
            let cases: Vec<DirectCall> = vec![
                ("no token", vec![("content-type", "application/json")], 401),
                (
                    "wrong token",
                    vec![
                        ("content-type", "application/json"),
                        ("authorization", "Bearer sbtok-guess"),
                    ],
                    401,
                ),
                (
                    "no grant",
                    vec![
                        ("content-type", "application/json"),
                        ("authorization", &bearer),
                    ],
                    403,
                ),
                (
                    "Origin",
                    vec![
                        ("content-type", "application/json"),
                        ("authorization", &bearer),
                        ("origin", "https://evil.example"),
                    ],
                    403,
                ),
                (
                    "text/plain",
                    vec![("content-type", "text/plain"), ("authorization", &bearer)],
                    415,
                ),
            ];
            let failures = Mutex::new(Vec::new());
            for_a_while(4, Duration::from_secs(2), |i| {
                let (what, headers, want) = &cases[i % cases.len()];
                let (status, text) = call_sandbox(&sandbox, headers, &claim);
                tally.add(status);
                if status != *want || text.contains("pwned") {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("{what}: {status} {text} (expected {want})"));
                }
            });
            let mut failures = failures.into_inner().unwrap();
            failures.dedup();
            failures.truncate(5);
            Outcome {
                answers: tally.take(),
                held: 0,
                failures,
            }
        },
    ));

    // 6. 256 connections dribbling a request line and headers a byte every 100 ms, from the
    // attacker's address (at its per-IP cap). Every one is closed once the header deadline
    // passes; the victim, connecting anew for every call, is not held up.
    let gw_pid = s.gateway.pid();
    let fds_before = open_fds(gw_pid);
    let mut closed_after = None;
    rows.push(measure(
        &s,
        &connecting_victim,
        "6 256 x slow headers",
        io_bound,
        || {
            let started = Instant::now();
            let mut conns: Vec<TcpStream> = (0..MAX_CONNECTIONS_PER_IP)
                .filter_map(|_| TcpStream::connect(s.gateway.addr()).ok())
                .collect();
            let opened = conns.len();
            let line = b"POST /mcp HTTP/1.1\r\nHost: gw\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
            let until = started + HEADER_TIMEOUT + Duration::from_secs(1);
            let mut i = 0;
            while Instant::now() < until && i < line.len() {
                conns.retain_mut(|c| c.write_all(&line[i..=i]).is_ok());
                i += 1;
                // Pacing of a slow sender (not synchronisation).
                std::thread::sleep(Duration::from_millis(100));
            }
            // The gateway closes them all: its descriptors fall back to what it had before.
            let closed = fds_fall_to(gw_pid, fds_before + 8, Duration::from_secs(10));
            closed_after = closed.map(|_| started.elapsed());
            let mut failures = Vec::new();
            match closed_after {
                Some(t) if t <= HEADER_TIMEOUT + Duration::from_secs(3) => {}
                other => failures.push(format!(
                    "slow-header connections still open {other:?} after they started (header \
                     deadline {HEADER_TIMEOUT:?}): {} descriptors over the {fds_before} before",
                    open_fds(gw_pid).saturating_sub(fds_before)
                )),
            }
            if !s.metrics().contains(r#"mcp_request_timeouts_total{phase="headers"}"#) {
                failures.push("no mcp_request_timeouts_total{phase=\"headers\"}".to_owned());
            }
            for _ in 0..opened {
                tally.add(0);
            }
            Outcome {
                answers: tally.take(),
                held: 0,
                failures,
            }
        },
    ));
    eprintln!(
        "6: the gateway had closed all 256 slow-header connections {closed_after:?} after they \
         opened (header deadline {HEADER_TIMEOUT:?})"
    );

    // 7. One address opens 10,000 connections and holds them: past its cap (256) each is
    // answered 503 and closed at once; the victim, connecting anew for every call from its own
    // address, is never refused. Fewer when this process may not open that many files.
    let fd_limit = raise_fd_limit();
    let flood = 10_000.min(fd_limit.saturating_sub(512));
    let mut flood_held = 0;
    rows.push(measure(
        &s,
        &connecting_victim,
        "7 10k connections from one address",
        // 10,000 TCP handshakes, accepts and refusals in a second are CPU work on the same 2
        // cores (the attacker's and the gateway's): a CPU-bound attack's bound.
        cpu_bound,
        || {
            let conns: Vec<TcpStream> = (0..flood)
                .filter_map(|_| TcpStream::connect(s.gateway.addr()).ok())
                .collect();
            // Refused ones are closed by the gateway: wait until it holds at most its cap.
            let settled = fds_fall_to(
                gw_pid,
                fds_before + MAX_CONNECTIONS_PER_IP + 8,
                Duration::from_secs(20),
            );
            flood_held = open_fds(gw_pid).saturating_sub(fds_before);
            // Each connection is answered 503 or, within its cap, closed at the header
            // deadline (0: closed without an answer); none stays open.
            let mut failures = Vec::new();
            let mut still_open = 0;
            let give_up = Instant::now() + HEADER_TIMEOUT + Duration::from_secs(5);
            for mut c in conns {
                let left = give_up.saturating_duration_since(Instant::now());
                c.set_read_timeout(Some(left.max(Duration::from_millis(1))))
                    .unwrap();
                let mut answer = Vec::new();
                match c.read_to_end(&mut answer) {
                    Ok(_) => tally.add(status_of(&answer)),
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => tally.add(0),
                    Err(_) => still_open += 1,
                }
            }
            if still_open > 0 {
                failures.push(format!(
                    "{still_open} flood connections neither refused nor closed by the header deadline"
                ));
            }
            let answers = tally.take();
            if settled.is_none() {
                failures.push(format!(
                    "the gateway held {flood_held} connections (cap per address {MAX_CONNECTIONS_PER_IP})"
                ));
            }
            let refused = answers.get(&503).copied().unwrap_or(0);
            if refused + MAX_CONNECTIONS_PER_IP + 8 < flood {
                failures.push(format!(
                    "{refused} of {flood} connections were refused with 503 (expected all past {MAX_CONNECTIONS_PER_IP})"
                ));
            }
            if let Some(other) = answers.keys().find(|k| ![0, 503].contains(*k)) {
                failures.push(format!("a flood connection got {other}"));
            }
            if !s.metrics().contains(r#"mcp_connections_refused_total{reason="per_ip"}"#) {
                failures.push("no mcp_connections_refused_total{reason=\"per_ip\"}".to_owned());
            }
            Outcome {
                answers,
                held: 0,
                failures,
            }
        },
    ));
    eprintln!(
        "7: {flood} connections opened from one address (open-file limit {fd_limit}); the gateway \
         held {flood_held} of them once the refused ones were closed"
    );

    // The table.
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    let mut table = String::from(
        "| attack | victim calls | victim p50 ms | victim p99 ms | victim errors | attacker answers | gateway VmHWM MiB (+growth) | sandbox VmHWM MiB (+growth) | s |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    table.push_str(&format!(
        "| baseline (no attack) | {} | {} | {} | {} | - | {} | {} | - |\n",
        baseline.times.len(),
        ms(baseline.p(0.5)),
        ms(base_p99),
        baseline.errors.len(),
        vm_hwm(s.gateway.pid()) / MIB,
        vm_hwm(s.sandboxes[0].as_ref().unwrap().pid()) / MIB,
    ));
    for r in &rows {
        let answers: Vec<String> = r
            .answers
            .iter()
            .map(|(k, v)| match k {
                0 => format!("none x{v}"),
                _ => format!("{k} x{v}"),
            })
            .collect();
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} (+{:.1}) | {} (+{:.1}) | {:.1} |\n",
            r.attack,
            r.victim.times.len() + r.victim.errors.len(),
            ms(r.victim.p(0.5)),
            ms(r.victim.p(0.99)),
            r.victim.errors.len(),
            answers.join(" "),
            r.gw_hwm / MIB,
            r.gw_growth as f64 / MIB as f64,
            r.sb_hwm / MIB,
            r.sb_growth as f64 / MIB as f64,
            r.elapsed.as_secs_f64(),
        ));
    }
    eprintln!("\n{table}");
    eprintln!(
        "whole suite (start-up included): {:.1} s",
        suite_started.elapsed().as_secs_f64()
    );

    // The assertions.
    let mut failures = Vec::new();
    for r in &rows {
        let name = r.attack;
        if !r.victim.errors.is_empty() {
            failures.push(format!("{name}: victim errors {:?}", r.victim.errors));
        }
        let p99 = r.victim.p(0.99);
        if p99 > r.p99_bound {
            failures.push(format!(
                "{name}: victim p99 {p99:?} over its bound {:?} (baseline {base_p99:?})",
                r.p99_bound
            ));
        }
        // 4x what the gateway may hold for the attacker at once; at least 16 MiB for the
        // allocator's own slack.
        let growth_bound = (4 * r.held).max(16 * MIB);
        if r.gw_growth > growth_bound {
            failures.push(format!(
                "{name}: gateway VmHWM grew {} MiB (bound {} MiB)",
                r.gw_growth / MIB,
                growth_bound / MIB
            ));
        }
        if r.gw_hwm > GATEWAY_LIMIT / 2 {
            failures.push(format!(
                "{name}: gateway VmHWM {} MiB over half its chart limit",
                r.gw_hwm / MIB
            ));
        }
        if r.sb_hwm > SANDBOX_LIMIT / 2 {
            failures.push(format!(
                "{name}: sandbox VmHWM {} MiB over half its chart limit",
                r.sb_hwm / MIB
            ));
        }
        failures.extend(r.failures.iter().map(|f| format!("{name}: {f}")));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
