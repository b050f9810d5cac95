//! Hostile guests, built from source as real components: each misbehaviour ends with its own
//! error kind, within its limit plus a small margin, and the next ordinary call succeeds.

use std::time::Duration;

use crate::common::{Sandbox, Setup};
use serde_json::json;

/// Slack for process scheduling and HTTP on a loaded 2-core CI machine.
const MARGIN: Duration = Duration::from_millis(1500);

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    let sb = Sandbox::start(Setup::default());
    let a = sb.call("spin", json!({}));
    assert_eq!(a.kind(), "fuel_exhausted", "{}", a.body);
    assert!(a.message().contains("tool 'spin'"), "{}", a.message());
    assert_eq!(a.body["stats"]["fuel_consumed"], 100_000_000);
    assert!(
        a.elapsed < Duration::from_secs(2) + MARGIN,
        "{:?}",
        a.elapsed
    );
    sb.assert_still_serving();
}

#[test]
fn an_infinite_loop_with_ample_fuel_stops_at_the_deadline() {
    let sb = Sandbox::start(Setup {
        hostile_limits: "{ fuel: 1000000000000, timeout: 1s }",
        ..Setup::default()
    });
    let a = sb.call("spin", json!({}));
    assert_eq!(a.kind(), "timeout", "{}", a.body);
    assert!(a.message().contains("1s"), "{}", a.message());
    assert!(a.elapsed >= Duration::from_secs(1), "{:?}", a.elapsed);
    assert!(
        a.elapsed < Duration::from_secs(1) + MARGIN,
        "{:?}",
        a.elapsed
    );
    sb.assert_still_serving();
}

#[test]
fn a_guest_blocked_in_a_host_call_is_stopped_at_the_deadline() {
    let sb = Sandbox::start(Setup {
        hostile_limits: "{ timeout: 1s }",
        ..Setup::default()
    });
    let a = sb.call("sleep_ms", json!({"ms": 30_000}));
    assert_eq!(a.kind(), "timeout", "{}", a.body);
    assert!(
        a.elapsed < Duration::from_secs(1) + MARGIN,
        "{:?}",
        a.elapsed
    );
    sb.assert_still_serving();
}

#[test]
fn a_memory_bomb_hits_the_memory_cap() {
    let sb = Sandbox::start(Setup::default());
    let a = sb.call("memory_bomb", json!({}));
    assert_eq!(a.kind(), "memory_limit", "{}", a.body);
    assert!(a.message().contains("32MiB"), "{}", a.message());
    let peak = a.body["stats"]["memory_peak"].as_u64().unwrap();
    assert!(peak <= 32 << 20, "peak {peak} above the cap");
    sb.assert_still_serving();
}

#[test]
fn a_100_mb_result_is_refused_at_the_output_cap() {
    // Enough memory to build the result, so the output cap (not the memory cap) stops it.
    let sb = Sandbox::start(Setup {
        hostile_limits: "{ memory: 512MiB, output: 1MiB, fuel: 20000000000, timeout: 20s }",
        ..Setup::default()
    });
    let a = sb.call("huge_output", json!({}));
    assert_eq!(a.kind(), "output_too_large", "{}", a.body);
    assert!(a.message().contains("1MiB"), "{}", a.message());
    sb.assert_still_serving();
}

#[test]
fn flooding_stdout_stops_at_the_output_cap() {
    let sb = Sandbox::start(Setup::default());
    let a = sb.call("stdout_flood", json!({}));
    assert_eq!(a.kind(), "output_too_large", "{}", a.body);
    assert!(a.message().contains("stdout"), "{}", a.message());
    sb.assert_still_serving();
}

#[test]
fn unbounded_recursion_is_a_stack_overflow() {
    let sb = Sandbox::start(Setup::default());
    let a = sb.call("stack_overflow", json!({}));
    assert_eq!(a.kind(), "stack_overflow", "{}", a.body);
    sb.assert_still_serving();
}

#[test]
fn a_panic_is_a_trap_that_carries_the_panic_message() {
    let sb = Sandbox::start(Setup::default());
    let a = sb.call("panic", json!({}));
    assert_eq!(a.kind(), "tool_trap", "{}", a.body);
    assert!(
        a.message().contains("hostile guest panics on purpose"),
        "{}",
        a.message()
    );
    sb.assert_still_serving();
}

#[test]
fn a_result_that_breaks_the_output_schema_is_bad_output() {
    let sb = Sandbox::start(Setup::default());
    let a = sb.call("wrong_output", json!({}));
    assert_eq!(a.kind(), "bad_output", "{}", a.body);
    sb.assert_still_serving();
}

#[test]
fn nested_calls_are_bounded_in_number_and_depth() {
    let sb = Sandbox::start(Setup::default());
    // depth 2 allowed: call -> call -> echo works.
    let inner = json!({"tool": "echo", "arguments": {"text": "deep"}});
    let a = sb.call("call", json!({"tool": "call", "arguments": inner}));
    assert_eq!(a.result()["text"], "deep", "{}", a.body);
    // depth 3 is refused inside the guest with limit-exceeded.
    let a = sb.call(
        "call",
        json!({"tool": "call", "arguments": {"tool": "call", "arguments": inner}}),
    );
    let text = a.body.to_string();
    assert!(
        text.contains("limit_exceeded") && text.contains("nest at most 2"),
        "{text}"
    );
    // A nested call that misbehaves is stopped on its own limits and reported to the caller.
    let a = sb.call("call", json!({"tool": "spin", "arguments": {}}));
    assert_eq!(a.result()["abort_kind"], "fuel_exhausted", "{}", a.body);
    sb.assert_still_serving();
}

#[test]
fn when_every_slot_and_queue_place_is_taken_calls_get_busy_at_once() {
    let sb = std::sync::Arc::new(Sandbox::start(Setup {
        hostile_limits: "{ fuel: 1000000000000, timeout: 3s }",
        max_concurrent: 1,
        max_queue: 0,
        ..Setup::default()
    }));
    let slow = {
        let sb = sb.clone();
        std::thread::spawn(move || sb.call("spin", json!({})))
    };
    mcp_testkit::wait_for(
        "the slow call to take the slot",
        Duration::from_secs(10),
        || {
            let m = reqwest::blocking::get(sb.url("/metrics"))
                .ok()?
                .text()
                .ok()?;
            m.contains("mcp_sandbox_instances_in_use 1").then_some(())
        },
    );
    let a = sb.call("echo", json!({"text": "x"}));
    assert_eq!((a.status, a.kind()), (503, "busy"), "{}", a.body);
    assert!(
        a.elapsed < Duration::from_millis(500),
        "busy must be immediate: {:?}",
        a.elapsed
    );
    assert_eq!(slow.join().unwrap().kind(), "timeout");
    sb.assert_still_serving();
}
