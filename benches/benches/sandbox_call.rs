//! Per-call latency of a trivial tool (`echo`) through the sandbox host, in process: argument
//! validation, admission, a fresh instance, the guest call, result checks. Run with and without
//! the pooling allocator, sequentially and from concurrent tasks, in the same run.
//!
//! Run: `cargo bench -p mcp-benches --bench sandbox_call` (builds the tools first).
//! Env: BENCH_CALLS (default 5000) calls per scenario.
//! Target (issue 2): p50 under 100 µs for instantiate + call of a trivial tool on 2 cores.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_benches::Samples;
use mcp_contract::sandbox_api::CallRequest;
use mcp_sandbox::runtime::{EngineSettings, Runtime};
use mcp_sandbox::service::{Sandbox, ServiceSettings};
use mcp_sandbox::toolset::Sources;

fn main() {
    let calls: usize = std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let tools = mcp_testkit::tools_dir();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "sandbox_call: echo through the sandbox service, {calls} calls per scenario, 2 worker threads\n"
    );
    for pooling in [true, false] {
        let sandbox = rt.block_on(start(&tools, pooling));
        let label = if pooling { "pooling" } else { "on-demand" };
        // Warm up: compile caches, page in the pool.
        rt.block_on(run_sequential(&sandbox, 200, "warmup"));
        let seq = rt.block_on(run_sequential(
            &sandbox,
            calls,
            &format!("{label}, sequential"),
        ));
        println!("{}", seq.line());
        let (conc, rate) = rt.block_on(run_concurrent(
            &sandbox,
            calls,
            4,
            &format!("{label}, 4 concurrent tasks"),
        ));
        println!("{}  ({rate:.0} calls/s)", conc.line());
        if pooling {
            let p50 = seq.quantile(0.5);
            let verdict = if p50 < Duration::from_micros(100) {
                "meets"
            } else {
                "MISSES"
            };
            println!(
                "  -> sequential p50 {:.1} µs {verdict} the 100 µs target\n",
                p50.as_secs_f64() * 1e6
            );
        }
    }
}

async fn start(tools: &std::path::Path, pooling: bool) -> Arc<Sandbox> {
    let root = mcp_testkit::repo_root();
    let scratch = std::env::temp_dir().join(format!("mcp-bench-{}", std::process::id()));
    let settings = ServiceSettings {
        name: "bench".into(),
        sources: Sources {
            toolsets: scratch.join("toolsets"),
            modules: tools.to_owned(),
        },
        policy: None,
        workspaces: None,
        max_concurrent: 16,
        max_queue: 1024,
        queue_timeout: Duration::from_secs(30),
        grant_key: None,
        rate_limit_store: None,
    };
    std::fs::create_dir_all(&settings.sources.toolsets).unwrap();
    std::fs::copy(
        root.join("policies/toolsets/examples.yaml"),
        settings.sources.toolsets.join("examples.yaml"),
    )
    .unwrap();
    let mut engine = EngineSettings {
        pooling,
        max_instances: 64,
        ..EngineSettings::default()
    };
    if let Some(kib) = std::env::var("BENCH_KEEP_RESIDENT_KIB")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        engine.keep_resident = mcp_contract::units::ByteSize::kib(kib);
    }
    let runtime = Runtime::new(&engine, Some(root.join("target/wasm-cache"))).unwrap();
    let sandbox = Sandbox::new(settings, runtime).unwrap();
    sandbox.reload().await.unwrap();
    sandbox
}

async fn call_echo(sandbox: &Arc<Sandbox>) {
    let args = serde_json::value::RawValue::from_string(r#"{"text":"hello"}"#.into()).unwrap();
    let req = CallRequest {
        tool: "echo".into(),
        arguments: Some(&args),
        user: "bench".into(),
        roles: vec![],
        request_id: None,
        deadline_ms: None,
        principal: None,
        grant: None,
    };
    let resp = sandbox.call(&req, tracing_span()).await;
    assert!(resp.ok, "echo failed: {:?}", resp.error);
}

fn tracing_span() -> tracing::Span {
    tracing::Span::none()
}

async fn run_sequential(sandbox: &Arc<Sandbox>, n: usize, name: &str) -> Samples {
    let mut s = Samples::new(name, n);
    for _ in 0..n {
        let t = Instant::now();
        call_echo(sandbox).await;
        s.push(t.elapsed());
    }
    s
}

async fn run_concurrent(
    sandbox: &Arc<Sandbox>,
    n: usize,
    tasks: usize,
    name: &str,
) -> (Samples, f64) {
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let sb = sandbox.clone();
        handles.push(tokio::spawn(async move {
            let mut v = Vec::with_capacity(n / tasks);
            for _ in 0..n / tasks {
                let t = Instant::now();
                call_echo(&sb).await;
                v.push(t.elapsed());
            }
            v
        }));
    }
    let mut s = Samples::new(name, n);
    for h in handles {
        for d in h.await.unwrap() {
            s.push(d);
        }
    }
    let rate = s.len() as f64 / started.elapsed().as_secs_f64();
    (s, rate)
}
