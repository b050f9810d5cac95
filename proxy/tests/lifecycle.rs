//! Faults and restarts: a sandbox killed mid-call, graceful shutdown with calls in flight, and
//! zero-downtime upgrades of the gateway under load. Nothing hangs and no request is lost.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Options, Stack};
use serde_json::json;

/// The sandbox (of `stack`) whose metrics show a call in progress.
fn busy_sandbox(stack: &Stack) -> Option<usize> {
    stack.sandbox_addrs.iter().position(|a| {
        reqwest::blocking::get(format!("http://{a}/metrics"))
            .and_then(|r| r.text())
            .map(|m| m.contains("mcp_sandbox_instances_in_use 1"))
            .unwrap_or(false)
    })
}

/// Starts `sleep_ms` for `ms` on its own thread; joins to (status, body, elapsed).
fn sleep_call(
    url: String,
    token: String,
    ms: u64,
) -> std::thread::JoinHandle<(u16, String, Duration)> {
    std::thread::spawn(move || {
        let started = Instant::now();
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": "sleep_ms", "arguments": {"ms": ms}}});
        let r = reqwest::blocking::Client::new()
            .post(url)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap(), started.elapsed())
    })
}

#[test]
fn a_sandbox_killed_mid_call_fails_that_call_cleanly_and_traffic_moves_to_its_replica() {
    let mut s = Stack::start(Options {
        sandboxes: 2,
        hostile_limits: "{ timeout: 20s }",
        ..Options::default()
    });
    let (_, admin) = s.create_key("root", &["mcp-admin"], "1d");
    let slow = sleep_call(s.mcp_url(), admin.clone(), 15_000);
    let victim = mcp_testkit::wait_for(
        "the slow call to reach a sandbox",
        Duration::from_secs(10),
        || busy_sandbox(&s),
    );
    s.kill_sandbox(victim);
    let (status, text, elapsed) = slow.join().unwrap();
    assert_eq!(status, 503, "{text}");
    assert!(
        text.contains("-32000") && text.contains("could not be completed"),
        "{text}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "the failed call must not hang: {elapsed:?}"
    );
    // The gateway marks it unready and serves every call from the other replica.
    mcp_testkit::wait_for(
        "the killed sandbox to be marked down",
        Duration::from_secs(5),
        || {
            let ready = s.get("/ready").json();
            let down = ready["sandboxes"]
                .as_array()?
                .iter()
                .filter(|x| x["up"] == false)
                .count();
            (down == 1).then_some(())
        },
    );
    for i in 0..10 {
        let r = s.call_tool(&admin, "echo", json!({"text": "still"}));
        assert_eq!(r.status, 200, "call {i} after the crash: {}", r.text);
    }
    // And recovers when the sandbox comes back.
    s.restart_sandbox(victim);
    mcp_testkit::wait_for("both sandboxes up again", Duration::from_secs(15), || {
        let ready = s.get("/ready").json();
        ready["sandboxes"]
            .as_array()?
            .iter()
            .all(|x| x["up"] == true)
            .then_some(())
    });
}

#[test]
fn with_its_only_sandbox_down_the_gateway_is_unready_and_answers_clearly() {
    let mut s = Stack::start(Options::default());
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    s.kill_sandbox(0);
    mcp_testkit::wait_for("/ready to turn 503", Duration::from_secs(10), || {
        (s.get("/ready").status == 503).then_some(())
    });
    let r = s.call_tool(&key, "echo", json!({"text": "x"}));
    assert!(matches!(r.status, 200 | 503), "{}", r.text);
    assert!(
        r.rpc_code().is_some(),
        "a JSON-RPC error, not a hang or a crash: {}",
        r.text
    );
    assert_eq!(s.get("/health").status, 200, "still alive");
    s.restart_sandbox(0);
    mcp_testkit::wait_for("recovery", Duration::from_secs(15), || {
        (s.call_tool(&key, "echo", json!({"text": "x"})).status == 200).then_some(())
    });
}

#[test]
fn sigterm_lets_calls_in_flight_finish() {
    let mut s = Stack::start(Options {
        hostile_limits: "{ timeout: 10s }",
        ..Options::default()
    });
    let (_, admin) = s.create_key("root", &["mcp-admin"], "1d");
    let call = sleep_call(s.mcp_url(), admin.clone(), 1500);
    mcp_testkit::wait_for("the call to be in flight", Duration::from_secs(10), || {
        busy_sandbox(&s)
    });
    let started = Instant::now();
    s.gateway.signal(libc::SIGTERM);
    let (status, text, _) = call.join().unwrap();
    assert_eq!(status, 200, "the in-flight call completes: {text}");
    assert!(text.contains("slept"), "{text}");
    mcp_testkit::wait_for("the gateway to exit", Duration::from_secs(15), || {
        (!s.gateway.is_running()).then_some(())
    });
    // The drain window is server.grace_period (3 s here), then the process exits.
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "bounded drain: {:?}",
        started.elapsed()
    );
}

#[test]
fn sigterm_serves_calls_longer_than_the_grace_period_and_answers_those_past_the_timeout() {
    // The stack's gateway drains with server.grace_period 3 s and shutdown_timeout 5 s.
    let mut s = Stack::start(Options {
        hostile_limits: "{ timeout: 20s }",
        ..Options::default()
    });
    let (_, admin) = s.create_key("root", &["mcp-admin"], "1d");
    let short = sleep_call(s.mcp_url(), admin.clone(), 2000);
    let long = sleep_call(s.mcp_url(), admin.clone(), 6000);
    let too_long = sleep_call(s.mcp_url(), admin.clone(), 15000);
    let addr = s.sandbox_addrs[0].clone();
    mcp_testkit::wait_for("three calls in flight", Duration::from_secs(10), || {
        reqwest::blocking::get(format!("http://{addr}/metrics"))
            .and_then(|r| r.text())
            .ok()?
            .lines()
            .find(|l| l.starts_with("mcp_sandbox_instances_in_use "))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .filter(|n| *n >= 3.0)
            .map(|_| ())
    });
    let started = Instant::now();
    s.gateway.signal(libc::SIGTERM);
    // Unready at once, so load balancers stop sending; still serving during the grace period.
    mcp_testkit::wait_for("/ready to answer 503", Duration::from_secs(2), || {
        (s.get("/ready").status == 503).then_some(())
    });
    let (status, text, _) = short.join().unwrap();
    assert_eq!(status, 200, "a 2 s call completes: {text}");
    let (status, text, took) = long.join().unwrap();
    assert_eq!(
        status, 200,
        "a 6 s call, longer than the grace period, completes: {text}"
    );
    assert!(text.contains("slept"), "{text}");
    assert!(took >= Duration::from_secs(6));
    let (status, text, took) = too_long.join().unwrap();
    assert_eq!(
        status, 503,
        "past the shutdown timeout the call is answered: {text}"
    );
    assert!(
        text.contains("shut down before tool 'sleep_ms' finished"),
        "{text}"
    );
    assert!(
        took < Duration::from_secs(12),
        "answered at the timeout, not at its end: {took:?}"
    );
    mcp_testkit::wait_for("the gateway to exit", Duration::from_secs(10), || {
        (!s.gateway.is_running()).then_some(())
    });
    assert!(
        started.elapsed() < Duration::from_secs(13),
        "{:?}",
        started.elapsed()
    );
}

/// Drives steady traffic from `threads` keep-alive clients until stopped; counts outcomes.
struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    errors: Arc<std::sync::Mutex<Vec<String>>>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(urls: Vec<String>, key: String, threads: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (sent, ok, failed) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
        );
        let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
        let handles = (0..threads)
            .map(|t| {
                let (stop, sent, ok, failed, errors) = (
                    stop.clone(),
                    sent.clone(),
                    ok.clone(),
                    failed.clone(),
                    errors.clone(),
                );
                let (urls, key) = (urls.clone(), key.clone());
                std::thread::spawn(move || {
                    // Like a well-behaved HTTP/1.1 client: idle pooled connections are dropped
                    // sooner than the server's drain period (server.grace_period, 3 s here), so
                    // none is reused just as the old process closes it.
                    let client = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(20))
                        .pool_idle_timeout(Duration::from_secs(1))
                        .build()
                        .unwrap();
                    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                      "params": {"name": "echo", "arguments": {"text": "load"}}})
                    .to_string();
                    let mut i = t;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        sent.fetch_add(1, Ordering::Relaxed);
                        let r = client
                            .post(&urls[i % urls.len()])
                            .header("authorization", format!("Bearer {key}"))
                            .header("content-type", "application/json")
                            .body(body.clone())
                            .send();
                        match r {
                            Ok(r) if r.status() == 200 => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(r) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                errors
                                    .lock()
                                    .unwrap()
                                    .push(format!("status {}", r.status()));
                            }
                            Err(e) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                errors.lock().unwrap().push(format!("{e:?}"));
                            }
                        }
                    }
                })
            })
            .collect();
        Self {
            stop,
            sent,
            ok,
            failed,
            errors,
            handles,
        }
    }

    fn finish(self) -> (u64, u64, u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.handles {
            h.join().unwrap();
        }
        let errors = self.errors.lock().unwrap().clone();
        (
            self.sent.load(Ordering::Relaxed),
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            errors,
        )
    }
}

#[test]
fn upgrading_the_gateway_under_load_loses_no_request() {
    let mut s = Stack::start(Options::default());
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    let load = Load::start(vec![s.mcp_url()], key.clone(), 4);
    mcp_testkit::wait_for("load to be flowing", Duration::from_secs(10), || {
        (load.ok.load(Ordering::Relaxed) > 50).then_some(())
    });
    // Two upgrades in a row: a rolling restart of the process twice over.
    for round in 0..2 {
        let mut old = s.upgrade_gateway();
        mcp_testkit::wait_for(
            "the old gateway to drain and exit",
            Duration::from_secs(30),
            || (!old.is_running()).then_some(()),
        );

        let before = load.ok.load(Ordering::Relaxed);
        mcp_testkit::wait_for(
            "traffic on the new process",
            Duration::from_secs(10),
            || (load.ok.load(Ordering::Relaxed) > before + 50).then_some(()),
        );
        eprintln!("upgrade {round} done");
    }
    let (sent, ok, failed, errors) = load.finish();
    eprintln!("rolling upgrade under load: sent {sent}, succeeded {ok}, failed {failed}");
    assert_eq!(
        failed,
        0,
        "{failed} of {sent} requests failed: {:?}",
        &errors[..errors.len().min(5)]
    );
    assert!(ok > 200, "too little traffic to mean anything: {ok}");
    assert_eq!(
        s.call_tool(&key, "echo", json!({"text": "after"})).status,
        200
    );
}

/// Like a load balancer: keeps the list of replicas whose `/ready` answers 200, polled every
/// 50 ms, and sends each request to the next ready one.
struct Balancer {
    candidates: Arc<std::sync::Mutex<Vec<String>>>,
    ready: Arc<std::sync::Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Balancer {
    fn start(candidates: Vec<String>) -> Self {
        let candidates = Arc::new(std::sync::Mutex::new(candidates));
        let ready = Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, r, s) = (candidates.clone(), ready.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            let http = reqwest::blocking::Client::builder()
                .timeout(Duration::from_millis(500))
                .build()
                .unwrap();
            while !s.load(Ordering::Relaxed) {
                let urls = c.lock().unwrap().clone();
                let up: Vec<String> = urls
                    .into_iter()
                    .filter(|u| {
                        http.get(format!("{u}/ready"))
                            .send()
                            .is_ok_and(|r| r.status() == 200)
                    })
                    .collect();
                *r.lock().unwrap() = up;
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Self {
            candidates,
            ready,
            stop,
            handle: Some(handle),
        }
    }

    fn add(&self, url: &str) {
        self.candidates.lock().unwrap().push(url.to_owned());
    }

    fn remove(&self, url: &str) {
        self.candidates.lock().unwrap().retain(|u| u != url);
    }

    fn pick(&self, i: usize) -> Option<String> {
        let ready = self.ready.lock().unwrap();
        (!ready.is_empty()).then(|| ready[i % ready.len()].clone())
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[test]
fn a_rolling_restart_of_two_replicas_under_execute_code_load_fails_no_request() {
    let mut s = Stack::start(Options {
        policy: "toolsets:\n  examples: { roles: [mcp-user] }\n  code: { roles: [mcp-user] }\n"
            .into(),
        toolsets: &["examples", "code"],
        ..Options::default()
    });
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    let second = s.start_replica("second", "");
    let lb = Arc::new(Balancer::start(vec![s.url(), second.url().to_owned()]));
    mcp_testkit::wait_for("both replicas ready", Duration::from_secs(10), || {
        (lb.ready.lock().unwrap().len() == 2).then_some(())
    });
    let (stop, ok) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let workers: Vec<_> = (0..3)
        .map(|t| {
            let (lb, key, stop, ok, failures) =
                (lb.clone(), key.clone(), stop.clone(), ok.clone(), failures.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .pool_idle_timeout(Duration::from_secs(1))
                    .build()
                    .unwrap();
                let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": {"name": "execute_code",
                               "arguments": {"language": "python", "code": "import time\ntime.sleep(0.3)\nprint('ok')"}}})
                .to_string();
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let Some(url) = lb.pick(i) else {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    };
                    let r = client
                        .post(format!("{url}/mcp"))
                        .header("authorization", format!("Bearer {key}"))
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .and_then(|r| Ok((r.status().as_u16(), r.text()?)));
                    match r {
                        Ok((200, text)) if text.contains("\"isError\":false") => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        other => failures.lock().unwrap().push(format!("{url}: {other:?}")),
                    }
                }
            })
        })
        .collect();
    mcp_testkit::wait_for("load to be flowing", Duration::from_secs(20), || {
        (ok.load(Ordering::Relaxed) > 10).then_some(())
    });
    // Replica one: SIGTERM (as Kubernetes does), wait for its drain, start its replacement.
    let first_url = s.url();
    s.gateway.signal(libc::SIGTERM);
    mcp_testkit::wait_for(
        "the first replica to drain and exit",
        Duration::from_secs(30),
        || (!s.gateway.is_running()).then_some(()),
    );
    lb.remove(&first_url);
    let mut third = s.start_replica("third", "");
    lb.add(third.url());
    let before = ok.load(Ordering::Relaxed);
    mcp_testkit::wait_for(
        "traffic on the replacement",
        Duration::from_secs(20),
        || (ok.load(Ordering::Relaxed) > before + 10).then_some(()),
    );
    // Replica two, the same way.
    let mut second = second;
    second.signal(libc::SIGTERM);
    mcp_testkit::wait_for(
        "the second replica to drain and exit",
        Duration::from_secs(30),
        || (!second.is_running()).then_some(()),
    );
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    let done = ok.load(Ordering::Relaxed);
    eprintln!(
        "rolling restart under execute_code load: {done} succeeded, {} failed",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(done > 20, "too little traffic to mean anything: {done}");
    assert!(third.is_running());
}
