//! `serve --processes N`: single-threaded worker processes sharing one port under a supervisor
//! that serves nothing itself; they stop with it, and it stops when one of them dies.

use std::time::Duration;

use crate::common::{Sandbox, Setup};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

fn start(processes: &'static str) -> Sandbox {
    Sandbox::start(Setup {
        extra_args: vec!["--processes", processes],
        ..Setup::default()
    })
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": the command may hold spaces, the fields after it do not.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        if after.split_whitespace().nth(1) == Some(&pid.to_string()) {
            found.push(child);
        }
    }
    found
}

/// The environment `pid` was started with, as `NAME=value` entries.
fn environment(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap()
        .split(|&b| b == 0)
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect()
}

fn gone(pid: u32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
        || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
}

#[test]
fn workers_serve_on_one_port_and_stop_with_the_supervisor() {
    let mut sb = start("2");
    let supervisor = sb.proc.pid();
    let workers = mcp_testkit::wait_for("two worker processes", WAIT, || {
        let c = children(supervisor);
        (c.len() == 2).then_some(c)
    });
    // Both bound the shared port (a worker that could not would have exited, and the
    // supervisor with it), and calls are served, over fresh connections too.
    for i in 0..8 {
        let fresh = reqwest::blocking::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let body = json!({"tool": "echo", "arguments": {"text": format!("call {i}")},
                          "user": "alice", "roles": ["tester"], "request_id": "t"});
        let answer: serde_json::Value = fresh
            .post(sb.url("/v1/call"))
            .json(&body)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(answer["result"]["text"], format!("call {i}"), "{answer}");
    }
    // One tokio worker thread each (tokio reads the variable; its blocking pool is apart).
    for &w in &workers {
        assert!(
            environment(w).iter().any(|e| e == "TOKIO_WORKER_THREADS=1"),
            "worker {w}"
        );
    }
    // SIGHUP does not end the supervisor (nor so its workers): it is logged and ignored.
    sb.proc.signal(libc::SIGHUP);
    mcp_testkit::wait_for("the supervisor to log the SIGHUP", WAIT, || {
        sb.proc
            .stderr()
            .contains("SIGHUP: the worker processes")
            .then_some(())
    });
    assert!(sb.proc.is_running());
    sb.assert_still_serving();
    sb.proc.signal(libc::SIGTERM);
    mcp_testkit::wait_for("the supervisor and its workers to exit", WAIT, || {
        (!sb.proc.is_running() && workers.iter().all(|&w| gone(w))).then_some(())
    });
}

#[test]
fn a_dead_worker_stops_the_supervisor_and_the_others() {
    let mut sb = start("2");
    let supervisor = sb.proc.pid();
    let workers = mcp_testkit::wait_for("two worker processes", WAIT, || {
        let c = children(supervisor);
        (c.len() == 2).then_some(c)
    });
    sb.assert_still_serving();
    // SAFETY: killing a worker process this test started (through the supervisor).
    unsafe { libc::kill(workers[0] as i32, libc::SIGKILL) };
    mcp_testkit::wait_for("the supervisor to exit", WAIT, || {
        (!sb.proc.is_running()).then_some(())
    });
    mcp_testkit::wait_for("the other worker to exit", WAIT, || {
        gone(workers[1]).then_some(())
    });
    assert!(
        sb.proc.stderr().contains("a worker process exited"),
        "{}",
        sb.proc.stderr()
    );
}

#[test]
fn processes_need_a_tcp_address() {
    let dir = mcp_testkit::TempDir::new().unwrap();
    let out = std::process::Command::new(mcp_testkit::bin("mcp-sandbox"))
        .args(["serve", "--processes", "2", "--listen"])
        .arg(format!("unix:{}", dir.path().join("s.sock").display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--processes needs a TCP --listen address"),
        "{stderr}"
    );
}
