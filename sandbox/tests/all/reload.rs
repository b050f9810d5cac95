//! Hot reload of tool sets and policy in a running `mcp-sandbox`: changes on disk are picked up
//! (polling) or on SIGHUP; a broken change is refused, counted, and the last good state keeps
//! serving.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::time::Duration;

use crate::common::{Sandbox, Setup};
use serde_json::json;

fn tool_names(sb: &Sandbox) -> Vec<String> {
    let (status, listing) = sb.get("/v1/tools");
    assert_eq!(status, 200, "{listing}");
    let mut names: Vec<String> = listing["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn reloads(sb: &Sandbox, result: &str) -> u64 {
    let text = reqwest::blocking::get(sb.url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    let series = format!("mcp_sandbox_reloads_total{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0)
}

fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    mcp_testkit::wait_for(what, Duration::from_secs(15), || done().then_some(()));
}

fn write_atomically(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn changed_tool_sets_and_policy_are_reloaded_and_a_broken_change_keeps_the_last_good_state() {
    let sb = Sandbox::start(Setup {
        extra_args: vec!["--watch-interval", "200ms"],
        ..Setup::default()
    });
    let toolsets = sb.dir.path().join("toolsets");
    let examples = mcp_testkit::repo_root().join("policies/toolsets/examples.yaml");
    let full = tool_names(&sb);
    assert!(full.iter().any(|n| n == "echo"), "{full:?}");

    // A tool set removed: its tools leave the listing, without a restart.
    std::fs::remove_file(toolsets.join("examples.yaml")).unwrap();
    eventually("the examples tool set to be unloaded", || {
        !tool_names(&sb).iter().any(|n| n == "echo")
    });
    assert!(reloads(&sb, "ok") >= 1);
    assert_eq!(sb.call("echo", json!({"text": "x"})).kind(), "unknown_tool");
    let without_examples = tool_names(&sb);
    assert!(!without_examples.is_empty(), "the hostile tool set stays");

    // A broken manifest (a component that does not exist): refused, counted, and the last
    // good catalog keeps serving.
    let hostile = toolsets.join("hostile.yaml");
    let good_hostile = std::fs::read_to_string(&hostile).unwrap();
    write_atomically(
        &hostile,
        "name: hostile\ncomponents:\n  - file: missing_component.wasm\n",
    );
    eventually("the broken reload to be counted", || {
        reloads(&sb, "rejected") >= 1
    });
    assert_eq!(tool_names(&sb), without_examples);
    assert!(
        sb.proc.stderr().contains("missing_component.wasm"),
        "the error log names the missing file: {}",
        sb.proc.stderr()
    );

    // Fixed again and the tool set back: everything serves as before.
    write_atomically(&hostile, &good_hostile);
    std::os::unix::fs::symlink(&examples, toolsets.join("examples.yaml")).unwrap();
    eventually("the examples tool set to come back", || {
        tool_names(&sb) == full
    });
    sb.assert_still_serving();

    // The policy: take the examples tool set away from `tester`.
    let policy = sb.dir.path().join("access.yaml");
    let text = std::fs::read_to_string(&policy).unwrap();
    let restricted: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("examples:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(restricted, text);
    write_atomically(&policy, &restricted);
    eventually("the narrower policy to apply", || {
        sb.call("echo", json!({"text": "x"})).kind() == "forbidden"
    });
    // A policy that does not parse leaves the narrower one in force.
    let errors = reloads(&sb, "rejected");
    write_atomically(&policy, "toolsets: [this is not a mapping\n");
    eventually("the broken policy to be refused", || {
        reloads(&sb, "rejected") > errors
    });
    assert_eq!(sb.call("echo", json!({"text": "x"})).kind(), "forbidden");
}

#[test]
fn sighup_reloads_when_polling_is_off() {
    let mut sb = Sandbox::start(Setup {
        extra_args: vec!["--watch-interval", "0s"],
        ..Setup::default()
    });
    std::fs::remove_file(sb.dir.path().join("toolsets/examples.yaml")).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        tool_names(&sb).iter().any(|n| n == "echo"),
        "no polling: nothing changes until the signal"
    );
    assert_eq!(reloads(&sb, "ok"), 0);
    sb.proc.signal(1); // SIGHUP
    eventually("SIGHUP to reload", || {
        !tool_names(&sb).iter().any(|n| n == "echo")
    });
    assert_eq!(reloads(&sb, "ok"), 1);
    assert!(sb.proc.is_running());
}

#[test]
fn sigterm_turns_ready_off_keeps_serving_through_the_drain_delay_then_exits() {
    let mut s = Sandbox::start(Setup {
        extra_args: vec!["--drain-delay", "2s"],
        ..Setup::default()
    });
    assert_eq!(s.get("/ready").0, 200);
    let started = std::time::Instant::now();
    s.proc.signal(libc::SIGTERM);
    mcp_testkit::wait_for("/ready to answer 503", Duration::from_secs(2), || {
        (s.get("/ready").0 == 503).then_some(())
    });
    // Still serving: a gateway in the same pod keeps sending during its own grace period.
    assert_eq!(
        s.call("echo", json!({"text": "draining"})).result()["text"],
        "draining"
    );
    mcp_testkit::wait_for("the sandbox to exit", Duration::from_secs(10), || {
        (!s.proc.is_running()).then_some(())
    });
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
