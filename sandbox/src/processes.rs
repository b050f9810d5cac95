//! `serve --processes N`: the sandbox as N single-threaded worker processes on one port.
//!
//! Why: every call instantiates its component in a fresh store, and CPython's copy-on-write
//! interpreter snapshot then faults on hundreds of pages per call. Each such fault on a page
//! mapped read-only must flush that page from the TLB of every other CPU running the same
//! process, by inter-processor interrupt, so two calls in two threads of one process interrupt
//! each other on every fault and the second core buys little; in two processes they do not
//! (benches/PROFILE.md: 16/1 connection throughput 1.5x with one process per core against
//! 0.8-1.0x with one process).
//!
//! The supervisor (the process started with `--processes N`) binds the address once, which
//! resolves port 0, then starts N copies of its own command line as workers. Each binds the same
//! address with `SO_REUSEPORT` (the kernel spreads new connections over them) and runs one tokio
//! worker thread; the supervisor serves nothing itself. Isolation is unchanged: every call
//! still gets a fresh instance. What becomes per process: the admission limits
//! (`--max-concurrent`, `--max-queue` apply to each worker), `/metrics` (a scrape reaches one
//! worker), the in-process rate-limit buckets of calls from code (`--rate-limit-redis` shares
//! them).
//!
//! Lifecycle: SIGHUP reaches each worker only when sent to it (the supervisor logs and ignores
//! its own); a worker's stdin is a pipe from the supervisor. When it closes (the supervisor got
//! SIGTERM or SIGINT, or died) the worker drains and stops as on SIGTERM. When a worker exits on
//! its own, the supervisor stops the others and exits with failure, for whatever runs it to
//! restart the whole.

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};

use anyhow::Context as _;
use tokio::io::AsyncReadExt as _;
use tokio::process::{Child, ChildStdin, Command};
use tokio::task::JoinSet;

/// Set in a worker's environment by its supervisor: the address to bind with `SO_REUSEPORT`.
const WORKER_LISTEN_ENV: &str = "MCP_SANDBOX_WORKER_LISTEN";

/// The address this process serves as a worker of a supervisor, if it is one.
pub fn worker_listen() -> Option<SocketAddr> {
    std::env::var(WORKER_LISTEN_ENV).ok()?.parse().ok()
}

/// Resolves when the supervisor is gone: its pipe on stdin closed. Never in a process that is
/// not a worker.
pub async fn supervisor_gone() {
    if worker_listen().is_none() {
        return std::future::pending().await;
    }
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            return;
        }
    }
}

/// Runs `processes` workers on `addr` until SIGTERM or SIGINT, or until one exits; `Ok(true)`
/// when every worker stopped cleanly after a signal.
pub async fn supervise(addr: SocketAddr, processes: usize) -> anyhow::Result<bool> {
    // Bound but never listening: it only keeps the port (resolved when `addr` has port 0)
    // while the workers bind it; a socket that does not listen receives no connections.
    let reserved = mcp_sandbox::server::shared_port_socket(addr)?;
    reserved
        .bind(addr)
        .with_context(|| format!("cannot bind {addr}"))?;
    let bound = reserved.local_addr()?;
    let exe = std::env::current_exe().context("finding this program to start its workers")?;
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let mut pipes: Vec<ChildStdin> = Vec::with_capacity(processes);
    let mut running = JoinSet::new();
    for worker in 0..processes {
        let mut child: Child = Command::new(&exe)
            .args(&args)
            .env(WORKER_LISTEN_ENV, bound.to_string())
            .env("TOKIO_WORKER_THREADS", "1")
            .stdin(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting worker process {worker}"))?;
        pipes.extend(child.stdin.take());
        let pid = child.id();
        running.spawn(async move { (worker, pid, child.wait().await) });
    }
    tracing::info!(addr = %bound, processes, "sandbox worker processes started");
    let exited_first = tokio::select! {
        () = stop_requested() => None,
        first = running.join_next() => first,
    };
    let mut clean = true;
    if let Some(Ok((worker, pid, status))) = &exited_first {
        clean = status.as_ref().is_ok_and(ExitStatus::success);
        tracing::warn!(worker, pid, status = %shown(status), "a worker process exited; stopping the others");
    }
    // Closing the pipes tells every worker to drain and stop.
    drop(pipes);
    while let Some(done) = running.join_next().await {
        if let Ok((worker, pid, status)) = done {
            let ok = status.as_ref().is_ok_and(ExitStatus::success);
            clean &= ok;
            tracing::info!(worker, pid, status = %shown(&status), "worker process stopped");
        }
    }
    Ok(clean)
}

fn shown(status: &std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("unknown ({e})"),
    }
}

/// SIGTERM or SIGINT. SIGHUP (which would otherwise end the supervisor, and so its workers) is
/// only logged: each worker watches its files and reloads on its own.
async fn stop_requested() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            _ = term.recv() => return,
            _ = hup.recv() => tracing::warn!(
                "SIGHUP: the worker processes reload on their own at --watch-interval; to reload \
                 at once, send SIGHUP to each worker (the children of this process)"
            ),
        }
    }
}
