//! Soak test: the real gateway and sandbox under a fixed rate of mixed traffic for a bounded
//! time — tools/list, a trivial tools/call, execute_code, bad tokens, and a caller over its rate
//! limit — reporting latency (p50/p99) and outcomes per kind, and the resident memory and open
//! file descriptors of both processes over time (they must stay flat).
//!
//! Run: `cargo run --release -p mcp-benches --bin soak` (after `cargo build --release`).
//! Env: SOAK_SECONDS (default 120), SOAK_RATE (requests/s, default 200), SOAK_WORKERS (16).
//! Exits non-zero when a request ends in an unexpected way, or (for runs of 60 s or more) when
//! either process's memory grows by more than 25% between the first and last quarter.

use std::process::{Command, ExitCode};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcp_benches::Samples;
use mcp_testkit::{Proc, ProcBuilder, TempDir};
use serde_json::{Value, json};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    List,
    Echo,
    Code,
    BadToken,
    Limited,
}

impl Kind {
    /// The mix: out of 20 requests.
    fn for_slot(i: u64) -> Kind {
        match i % 20 {
            0..=3 => Kind::List,
            4..=11 => Kind::Echo,
            12..=13 => Kind::Code,
            14..=16 => Kind::BadToken,
            _ => Kind::Limited,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Kind::List => "tools/list",
            Kind::Echo => "tools/call echo",
            Kind::Code => "execute_code",
            Kind::BadToken => "bad token (401)",
            Kind::Limited => "rate-limited user (429)",
        }
    }
}

struct Outcome {
    kind: Kind,
    latency: Duration,
    expected: bool,
    detail: String,
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> ExitCode {
    let seconds = env_num("SOAK_SECONDS", 120);
    let rate = env_num("SOAK_RATE", 200);
    let workers = env_num("SOAK_WORKERS", 16);
    let stack = Stack::start();
    println!(
        "soak: {seconds} s at {rate} req/s with {workers} workers (gateway pid {}, sandbox pid {})",
        stack.gateway.pid(),
        stack.sandbox.pid()
    );
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let interval = Duration::from_secs_f64(workers as f64 / rate as f64);
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let (url, user, limited) = (
                stack.url(),
                stack.user_key.clone(),
                stack.limited_key.clone(),
            );
            let outcomes = outcomes.clone();
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .expect("the HTTP client builds (rustls, no system configuration read)");
                // Open loop: each worker keeps its own schedule, so a slow answer does not lower the rate.
                let mut next = started + interval.mul_f64(w as f64 / workers as f64);
                let mut slot = w;
                while next < end {
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                    let kind = Kind::for_slot(slot);
                    let o = send(&http, &url, kind, &user, &limited);
                    outcomes
                        .lock()
                        .expect("no worker panics holding the lock")
                        .push(o);
                    slot += workers;
                    next += interval;
                }
            })
        })
        .collect();
    let mut samples = Vec::new();
    while Instant::now() < end {
        samples.push((started.elapsed().as_secs(), stack.resources()));
        std::thread::sleep(
            Duration::from_secs(5).min(end.saturating_duration_since(Instant::now())),
        );
    }
    for h in handles {
        h.join().expect("a soak worker panicked");
    }
    samples.push((started.elapsed().as_secs(), stack.resources()));
    report(
        &outcomes.lock().expect("no worker panics holding the lock"),
        &samples,
        seconds,
    )
}

fn send(
    http: &reqwest::blocking::Client,
    url: &str,
    kind: Kind,
    user: &str,
    limited: &str,
) -> Outcome {
    let (token, body, want) = match kind {
        Kind::List => (
            user,
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
            200,
        ),
        Kind::Echo => (user, call("echo", json!({"text": "soak"})), 200),
        Kind::Code => (
            user,
            call(
                "execute_code",
                json!({"language": "python", "code": "sum(i * i for i in range(100))"}),
            ),
            200,
        ),
        Kind::BadToken => (
            "mcpk_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            call("echo", json!({"text": "x"})),
            401,
        ),
        Kind::Limited => (limited, call("echo", json!({"text": "x"})), 429),
    };
    let t = Instant::now();
    let r = http
        .post(url)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send();
    let latency = t.elapsed();
    let (expected, detail) = match r {
        Ok(r) => {
            let status = r.status().as_u16();
            let text = r.text().unwrap_or_default();
            let ok = match kind {
                // The limited user gets its first few through, then 429s.
                Kind::Limited => status == 429 || status == 200,
                _ => {
                    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    let rpc_ok = v.get("error").is_none() && v["result"]["isError"] != true;
                    status == want && (want != 200 || rpc_ok)
                }
            };
            (
                ok,
                format!("{status} {}", text.chars().take(200).collect::<String>()),
            )
        }
        Err(e) => (false, e.to_string()),
    };
    Outcome {
        kind,
        latency,
        expected,
        detail,
    }
}

fn call(tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}})
}

#[derive(Clone, Copy, Debug)]
struct Resources {
    gateway_rss: u64,
    sandbox_rss: u64,
    gateway_fds: usize,
    sandbox_fds: usize,
}

fn report(outcomes: &[Outcome], samples: &[(u64, Resources)], seconds: u64) -> ExitCode {
    let mut failed = false;
    println!(
        "\n{:<26} {:>7} {:>11} {:>10} {:>10}",
        "kind", "sent", "unexpected", "p50 ms", "p99 ms"
    );
    for kind in [
        Kind::List,
        Kind::Echo,
        Kind::Code,
        Kind::BadToken,
        Kind::Limited,
    ] {
        let of_kind: Vec<&Outcome> = outcomes.iter().filter(|o| o.kind == kind).collect();
        let mut s = Samples::new(kind.name(), of_kind.len());
        for o in &of_kind {
            s.push(o.latency);
        }
        let bad: Vec<&&Outcome> = of_kind.iter().filter(|o| !o.expected).collect();
        println!(
            "{:<26} {:>7} {:>11} {:>10.2} {:>10.2}",
            kind.name(),
            of_kind.len(),
            bad.len(),
            s.quantile(0.5).as_secs_f64() * 1e3,
            s.quantile(0.99).as_secs_f64() * 1e3
        );
        for o in bad.iter().take(3) {
            println!("    unexpected: {}", o.detail);
        }
        failed |= !bad.is_empty();
    }
    println!(
        "\n{:>6} {:>14} {:>14} {:>12} {:>12}",
        "t (s)", "gateway MiB", "sandbox MiB", "gateway fds", "sandbox fds"
    );
    for (t, r) in samples {
        println!(
            "{t:>6} {:>14.1} {:>14.1} {:>12} {:>12}",
            r.gateway_rss as f64 / 1048576.0,
            r.sandbox_rss as f64 / 1048576.0,
            r.gateway_fds,
            r.sandbox_fds
        );
    }
    let quarter = (samples.len() / 4).max(1);
    let avg = |xs: &[(u64, Resources)], f: fn(&Resources) -> u64| {
        xs.iter().map(|(_, r)| f(r)).sum::<u64>() as f64 / xs.len() as f64
    };
    let (first, last) = (&samples[..quarter], &samples[samples.len() - quarter..]);
    for (name, f) in [
        (
            "gateway",
            (|r: &Resources| r.gateway_rss) as fn(&Resources) -> u64,
        ),
        ("sandbox", |r: &Resources| r.sandbox_rss),
    ] {
        let growth = avg(last, f) / avg(first, f) - 1.0;
        println!(
            "{name} RSS growth, first to last quarter: {:+.1}%",
            growth * 100.0
        );
        if seconds >= 60 && growth > 0.25 {
            println!("  FAIL: {name} memory is not flat");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        println!("\nsoak: passed");
        ExitCode::SUCCESS
    }
}

/// The processes under test.
struct Stack {
    gateway: Proc,
    sandbox: Proc,
    user_key: String,
    limited_key: String,
    _dir: TempDir,
}

impl Stack {
    fn start() -> Self {
        let root = mcp_testkit::repo_root();
        let tools = mcp_testkit::tools_dir();
        let dir = TempDir::new().expect("create the soak directory");
        let d = dir.path();
        std::fs::create_dir_all(d.join("toolsets")).expect("create toolsets/");
        std::fs::create_dir_all(d.join("keys")).expect("create keys/");
        for set in ["examples", "code"] {
            std::os::unix::fs::symlink(
                root.join(format!("policies/toolsets/{set}.yaml")),
                d.join(format!("toolsets/{set}.yaml")),
            )
            .expect("link a tool set into toolsets/");
        }
        std::fs::write(
            d.join("access.yaml"),
            "toolsets:\n  examples: { roles: [soak] }\n  code: { roles: [soak] }\nrate_limits:\n  users: { limited: 5/min }\n",
        )
        .expect("write access.yaml");
        std::fs::write(
            d.join("session.key"),
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n",
        )
        .expect("write session.key");
        let sb_port = mcp_testkit::free_port();
        let sandbox = ProcBuilder::new(&mcp_testkit::bin("mcp-sandbox"), &d.join("logs"))
            .args(["serve", "--listen", &format!("127.0.0.1:{sb_port}")])
            .arg("--toolsets")
            .arg(d.join("toolsets"))
            .arg("--modules")
            .arg(&tools)
            .arg("--policy")
            .arg(d.join("access.yaml"))
            .arg("--workspaces")
            .arg(d.join("ws"))
            .arg("--cache")
            .arg(root.join("target/wasm-cache"))
            .start(Duration::from_secs(180));
        let port = mcp_testkit::free_port();
        std::fs::write(
            d.join("gateway.yaml"),
            format!(
                "listen: 127.0.0.1:{port}\nsandboxes: [{{name: sb, url: 'http://127.0.0.1:{sb_port}'}}]\npolicy: access.yaml\n\
                 keys: {{dir: keys}}\nsession: {{secret_file: session.key}}\naudit: {{output: audit.log}}\n\
                 server: {{grace_period: 0s, shutdown_timeout: 1s}}\n"
            ),
        )
        .expect("write gateway.yaml");
        let gateway = ProcBuilder::new(&mcp_testkit::bin("mcp-gateway"), &d.join("logs"))
            .args(["serve", "--config"])
            .arg(d.join("gateway.yaml"))
            .start(Duration::from_secs(30));
        let key = |user: &str| {
            let out = Command::new(mcp_testkit::bin("mcp-gateway"))
                .args(["keys", "--dir"])
                .arg(d.join("keys"))
                .args([
                    "create",
                    "--user",
                    user,
                    "--role",
                    "soak",
                    "--expires",
                    "1d",
                    "--json",
                ])
                .output()
                .expect("run mcp-gateway keys create");
            let v: Value = serde_json::from_slice(&out.stdout).expect("keys create --json");
            v["key"]
                .as_str()
                .expect("keys create --json prints the key")
                .to_owned()
        };
        let (user_key, limited_key) = (key("soak"), key("limited"));
        let url = format!("{}/mcp", gateway.url());
        mcp_testkit::wait_for(
            "the gateway to serve tools",
            Duration::from_secs(60),
            || {
                let r = reqwest::blocking::Client::new()
                    .post(&url)
                    .header("authorization", format!("Bearer {user_key}"))
                    .header("content-type", "application/json")
                    .body(call("echo", json!({"text": "ready"})).to_string())
                    .send()
                    .ok()?;
                (r.status() == 200 && !r.text().ok()?.contains("\"error\"")).then_some(())
            },
        );
        Self {
            gateway,
            sandbox,
            user_key,
            limited_key,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("{}/mcp", self.gateway.url())
    }

    fn resources(&self) -> Resources {
        Resources {
            gateway_rss: rss(self.gateway.pid()),
            sandbox_rss: rss(self.sandbox.pid()),
            gateway_fds: fds(self.gateway.pid()),
            sandbox_fds: fds(self.sandbox.pid()),
        }
    }
}

fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}
