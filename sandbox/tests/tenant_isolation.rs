//! One caller, however hostile, cannot take the sandbox away from the others: arguments are
//! capped before they are parsed (from the gateway and from code), each caller holds only
//! their share of the execution slots, a call tree shares one memory budget, and every tool
//! call made from code is audited with escaped, bounded strings.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::time::{Duration, Instant};

use common::{Sandbox, Setup};
use serde_json::json;

/// Peak resident memory of a process, in bytes (`VmHWM`).
fn vm_hwm(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

const MIB: u64 = 1 << 20;
/// Elements of the attack array: 8 Mi elements, 16 MiB of `[0,0,...]`.
const ZEROS: u64 = 8 << 20;

#[test]
fn oversized_arguments_from_the_gateway_are_refused_before_parsing() {
    let sb = Sandbox::start(Setup::default());
    sb.assert_still_serving();
    let before = vm_hwm(sb.proc.pid());
    // 16 MiB of `[0,0,...]` in the arguments of one call (the body limit is 24 MiB).
    let zeros = vec!["0"; ZEROS as usize].join(",");
    let body = format!(
        r#"{{"tool":"echo","arguments":{{"text":[{zeros}]}},"user":"alice","roles":["tester"],"request_id":"big"}}"#
    );
    let a = sb.post_raw(body.as_bytes());
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.kind(), "invalid_arguments", "{}", a.body);
    assert!(
        a.message().contains("past its limit of 1MiB"),
        "{}",
        a.message()
    );
    let growth = vm_hwm(sb.proc.pid()).saturating_sub(before);
    eprintln!(
        "VmHWM growth for a 16 MiB argument body: {} MiB",
        growth / MIB
    );
    // The body is buffered once (16 MiB) and borrowed; no JSON tree (~600 MB) is built.
    assert!(growth < 4 * 16 * MIB, "grew {} MiB", growth / MIB);
    sb.assert_still_serving();
}

fn zeros_attack(hostile_limits: &'static str) -> (serde_json::Value, u64) {
    let sb = Sandbox::start(Setup {
        hostile_limits,
        ..Setup::default()
    });
    sb.assert_still_serving();
    let before = vm_hwm(sb.proc.pid());
    let a = sb.call(
        "call_with_zeros",
        json!({"tool": "chameleon", "field": "text", "count": ZEROS}),
    );
    let growth = vm_hwm(sb.proc.pid()).saturating_sub(before);
    eprintln!(
        "VmHWM growth for a 16 MiB nested argument ({hostile_limits}): {} MiB",
        growth / MIB
    );
    sb.assert_still_serving();
    (a.result().clone(), growth)
}

/// A body past the sandbox's limit is refused as a JSON `bad_request` naming the limit, from
/// its declared length, before it is read (a raw connection: an HTTP client still writing the
/// body would race the server's answer).
#[test]
fn an_oversized_call_body_is_refused_with_its_limit() {
    use std::io::{Read, Write};
    let sb = Sandbox::start(Setup {
        extra_args: vec!["--max-body", "1MiB"],
        ..Setup::default()
    });
    let mut conn = std::net::TcpStream::connect(sb.proc.addr()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST /v1/call HTTP/1.1\r\nhost: sandbox\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{{\"tool\":\"echo\",",
        2 << 20
    );
    conn.write_all(head.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    assert!(body.contains(r#""kind":"bad_request""#), "{answer}");
    assert!(body.contains("at most 1048576 bytes"), "{answer}");
    sb.assert_still_serving();
}

/// A schema mismatch quotes the offending value: the error stays short however large it is.
#[test]
fn schema_errors_do_not_echo_large_arguments() {
    let sb = Sandbox::start(Setup::default());
    let zeros = vec!["0"; 200_000].join(",");
    let body = format!(
        r#"{{"tool":"echo","arguments":{{"text":[{zeros}]}},"user":"alice","roles":["tester"],"request_id":"r"}}"#
    );
    let a = sb.post_raw(body.as_bytes());
    assert_eq!(a.kind(), "invalid_arguments", "{}", a.body);
    assert!(a.message().len() < 4096, "{} bytes", a.message().len());
    assert!(a.message().ends_with("(cut)"), "{}", a.message());
}

/// The guest builds 16 MiB of arguments in its own (capped) memory; the host copies them once
/// and refuses them by size, never building a tree of them.
#[test]
fn oversized_arguments_of_a_call_from_code_are_refused_before_parsing() {
    let (result, growth) = zeros_attack(
        "{ fuel: 2000000000, timeout: 20s, memory: 64MiB, max_nested_calls: 4, max_nesting_depth: 2 }",
    );
    assert_eq!(result["error_kind"], "invalid_arguments", "{result}");
    let message = result["message"].as_str().unwrap();
    assert!(message.contains("past its limit of 1MiB"), "{message}");
    // The guest's own memory (up to its 64 MiB cap) plus one copy of the 16 MiB text.
    assert!(
        growth < 64 * MIB + 4 * 16 * MIB,
        "grew {} MiB",
        growth / MIB
    );
}

/// What the same attack cost before arguments had a cap: a manifest that raises the cap to
/// 64 MiB lets the host parse the 16 MiB into a JSON tree. Slow and ~600 MB, so not in CI.
#[test]
#[ignore = "measurement: parses 16 MiB of arguments into a JSON tree (~600 MB peak)"]
fn measure_a_nested_argument_attack_without_the_cap() {
    let (result, growth) = zeros_attack(
        "{ fuel: 2000000000, timeout: 60s, memory: 64MiB, arguments: 64MiB, max_nested_calls: 4, max_nesting_depth: 2 }",
    );
    assert_eq!(result["error_kind"], "invalid_arguments", "{result}");
    assert!(
        result["message"]
            .as_str()
            .unwrap()
            .contains("do not match its input schema"),
        "{result}"
    );
    assert!(growth > 200 * MIB, "grew only {} MiB", growth / MIB);
}

/// Percentiles of a sample of durations.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn echo_latencies(sb: &Sandbox, user: &str, n: usize) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..n)
        .map(|i| {
            let a = sb.call_as("echo", json!({"text": format!("v{i}")}), user, &["tester"]);
            assert_eq!(
                a.result()["text"],
                format!("v{i}"),
                "victim call failed: {}",
                a.body
            );
            a.elapsed
        })
        .collect();
    times.sort();
    times
}

/// One caller spinning 32 programs holds only half the slots; another caller's `echo` keeps
/// its latency and never sees `busy`.
#[test]
fn a_caller_spinning_many_programs_saturates_only_their_share() {
    let sb = Sandbox::start(Setup {
        hostile_limits: "{ fuel: 1000000000000, timeout: 3s }",
        max_concurrent: 4,
        max_queue: 8,
        ..Setup::default()
    });
    let baseline = echo_latencies(&sb, "victim", 20);
    let base_p99 = percentile(&baseline, 0.99);

    let attack_started = Instant::now();
    let attack = std::thread::scope(|s| {
        let attackers: Vec<_> = (0..32)
            .map(|_| s.spawn(|| sb.call_as("spin", json!({}), "mallory", &["tester"])))
            .collect();
        // Wait until the attacker holds its share of the slots.
        mcp_testkit::wait_for(
            "the attacker to fill its share",
            Duration::from_secs(10),
            || {
                let m = reqwest::blocking::get(sb.url("/metrics"))
                    .ok()?
                    .text()
                    .ok()?;
                m.lines()
                    .any(|l| l.starts_with("mcp_sandbox_instances_in_use ") && l.ends_with(" 2"))
                    .then_some(())
            },
        );
        let during = echo_latencies(&sb, "victim", 20);
        let answers: Vec<_> = attackers.into_iter().map(|h| h.join().unwrap()).collect();
        (during, answers)
    });
    let (during, answers) = attack;
    assert!(
        attack_started.elapsed() < Duration::from_secs(30),
        "attack took {:?}",
        attack_started.elapsed()
    );
    let p50 = percentile(&during, 0.5);
    let p99 = percentile(&during, 0.99);
    eprintln!(
        "victim echo: baseline p50 {:?} p99 {:?}; under a 32-program spin attack p50 {p50:?} p99 {p99:?}",
        percentile(&baseline, 0.5),
        base_p99
    );
    // The spinning programs hold 2 of the 4 slots and share the 2 cores with the victim,
    // yielding every epoch tick (5 ms); the victim never waits for a slot, so its wait is
    // bounded by its share of the CPU: a few ticks, far under one spin (3 s). (Measured alone:
    // p99 ~1.5 ms before the attack, 12-65 ms under it; ~470 ms before the server polled its
    // I/O on every tick.)
    assert!(
        p99 < Duration::from_millis(300).max(base_p99 * 3),
        "victim p99 {p99:?} under attack (baseline {base_p99:?})"
    );
    let busy: Vec<_> = answers.iter().filter(|a| a.kind() == "busy").collect();
    let spun = answers.iter().filter(|a| a.kind() == "timeout").count();
    assert!(!busy.is_empty(), "the attacker was never refused");
    assert_eq!(busy.len() + spun, 32);
    assert!(
        busy.iter().any(|a| a.message().contains(
            "user 'mallory' already has 2 calls running and 4 waiting, their share (50%)"
        )),
        "{}",
        busy[0].body
    );
    sb.assert_still_serving();
}

/// The policy sets a caller's share: with 100% for the attacker's role, the victim is refused.
#[test]
fn the_policy_sets_the_share_per_role() {
    let sb = Sandbox::start(Setup {
        hostile_limits: "{ fuel: 1000000000000, timeout: 1s }",
        max_concurrent: 2,
        max_queue: 2,
        extra_policy: "capacity:\n  share: 50%\n  roles: { tester: 100% }\n",
        ..Setup::default()
    });
    let answers = std::thread::scope(|s| {
        let hs: Vec<_> = (0..6)
            .map(|_| s.spawn(|| sb.call("spin", json!({}))))
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    // With the whole sandbox as their share (the default would be 1 slot and 1 place in the
    // queue), 2 run, 2 wait (and run when the first stop at 1 s, before the 2 s queue
    // timeout), 2 are refused.
    let busy: Vec<_> = answers.iter().filter(|a| a.kind() == "busy").collect();
    assert_eq!(
        busy.len(),
        2,
        "{:?}",
        answers.iter().map(|a| a.kind()).collect::<Vec<_>>()
    );
    for a in busy {
        assert!(
            a.message()
                .contains("2 calls running and 2 waiting, their share (100%)"),
            "{}",
            a.message()
        );
    }
}

/// `call` nesting `memory_bomb`: the bomb's own cap is 32 MiB, but its call tree (whose top
/// holds memory of its own) may hold only 32 MiB in all.
#[test]
fn nested_calls_share_the_top_level_memory_budget() {
    let sb = Sandbox::start(Setup::default());
    let a = sb.call(
        "call",
        json!({"tool": "call", "arguments": {"tool": "memory_bomb", "arguments": {}}}),
    );
    let outer = a.result();
    let inner = &outer;
    assert_eq!(inner["abort_kind"], "memory_limit", "{}", a.body);
    let message = inner["message"].as_str().unwrap();
    assert!(
        message.contains("call tree") && message.contains("of the 32MiB"),
        "{message}"
    );
    sb.assert_still_serving();
}

/// A spinning callee gets only what its caller has left of the tree's fuel (less a reserve for
/// the caller to handle the failure), so the whole tree burns at most the top-level budget.
#[test]
fn nested_calls_share_the_top_level_fuel_budget() {
    let sb = Sandbox::start(Setup::default());
    let a = sb.call("call", json!({"tool": "spin", "arguments": {}}));
    assert_eq!(a.result()["abort_kind"], "fuel_exhausted", "{}", a.body);
    let used = a.body["stats"]["fuel_consumed"].as_u64().unwrap();
    // The hostile tool set's fuel is 100M a call; before, the callee had 100M of its own.
    assert!(used <= 100_000_000, "the tree used {used}");
    assert!(
        used > 80_000_000,
        "the callee ran on the caller's fuel: {used}"
    );
}

/// Calls made from code write an audit line each, with their caller, tool, outcome, depth and
/// the request they belong to; a hostile tool name cannot forge a log line. A tool the caller
/// may not use is answered like one that does not exist, and only the audit line tells them
/// apart.
#[test]
fn calls_from_code_are_audited_with_escaped_names() {
    let sb = Sandbox::start(Setup {
        extra_args: vec!["--log-format", "json"],
        // `outsider` may run the hostile guest's `call`, not the examples' `echo`.
        extra_policy: "tools:\n  call: { roles: [tester, outsider] }\n",
        ..Setup::default()
    });
    let a = sb.call("call", json!({"tool": "echo", "arguments": {"text": "hi"}}));
    assert_eq!(a.result()["text"], "hi", "{}", a.body);
    let forged = "nope\n{\"target\":\"audit\",\"user\":\"root\"}";
    let a = sb.call("call", json!({"tool": forged, "arguments": {}}));
    assert_eq!(a.result()["error_kind"], "not_found", "{}", a.body);
    let unknown = sb.call("call", json!({"tool": "no_such_tool", "arguments": {}}));
    let forbidden = sb.call_as(
        "call",
        json!({"tool": "echo", "arguments": {"text": "hi"}}),
        "bob",
        &["outsider"],
    );
    let (unknown, forbidden) = (unknown.result(), forbidden.result());
    assert_eq!(forbidden["error_kind"], "not_found", "{forbidden}");
    let shown = |r: &serde_json::Value, name: &str| {
        r["message"]
            .as_str()
            .unwrap_or_default()
            .replace(name, "NAME")
    };
    assert_eq!(
        shown(forbidden, "echo"),
        shown(unknown, "no_such_tool"),
        "a forbidden tool is told apart from an unknown one: {forbidden} vs {unknown}"
    );

    let lines = mcp_testkit::wait_for("four audit lines", Duration::from_secs(10), || {
        let lines: Vec<serde_json::Value> = sb
            .proc
            .stderr()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|v: &serde_json::Value| v["target"] == "audit")
            .collect();
        (lines.len() >= 4).then_some(lines)
    });
    assert_eq!(lines.len(), 4, "{lines:?}");
    // The JSON log format flattens an event's fields into the line.
    let fields = &lines[0];
    assert_eq!(fields["event"], "nested_tool_call", "{fields}");
    assert_eq!(fields["tool"], "echo");
    assert_eq!(fields["user"], "alice");
    assert_eq!(fields["parent_tool"], "call");
    assert_eq!(fields["depth"], 1);
    assert_eq!(fields["outcome"], "ok");
    assert_eq!(fields["parent_request_id"], "test");
    assert!(fields["duration_us"].as_u64().is_some(), "{fields}");
    let forged_line = &lines[1];
    assert_eq!(forged_line["outcome"], "unknown_tool");
    assert_eq!(
        forged_line["tool"],
        "nope\\n{\"target\":\"audit\",\"user\":\"root\"}"
    );
    assert_eq!(lines[2]["outcome"], "unknown_tool", "{}", lines[2]);
    assert_eq!(lines[3]["outcome"], "forbidden", "{}", lines[3]);
    assert_eq!(lines[3]["user"], "bob", "{}", lines[3]);
}
