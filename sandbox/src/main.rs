//! `mcp-sandbox`: the command line. `serve` runs the sandbox host; `tool check` checks a built
//! tool before it is deployed; `workspaces migrate` moves name-keyed workspaces to principals.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use mcp_contract::units::{ByteSize, Span};
use mcp_sandbox::check::{self, CheckOptions};
use mcp_sandbox::runtime::{EngineSettings, Runtime};
use mcp_sandbox::server::{self, Listen};
use mcp_sandbox::service::{Sandbox, ServiceSettings, Workspaces, watch, workspace_migration};
use mcp_sandbox::telemetry::{self, LogFormat};
use mcp_sandbox::tls::{self, TlsFiles};
use mcp_sandbox::token::AccessToken;
use mcp_sandbox::toolset::Sources;

mod processes;

/// Longest the sandbox waits at shutdown for queued trace spans to be exported.
const SPAN_FLUSH_BOUND: Duration = Duration::from_secs(2);

#[derive(Parser)]
#[command(
    name = "mcp-sandbox",
    version,
    about = "Runs MCP tools as WebAssembly components with hard limits"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the tool sets over HTTP to the gateway.
    Serve(Box<ServeArgs>),
    /// Work with tool components.
    #[command(subcommand)]
    Tool(ToolCommand),
    /// Manage the per-caller workspaces.
    #[command(subcommand)]
    Workspaces(WorkspacesCommand),
}

#[derive(Subcommand)]
enum WorkspacesCommand {
    /// Move workspaces keyed by user name (made before principals) to their owners'
    /// principals. Safe to run while the sandbox serves, and to run again.
    Migrate(MigrateArgs),
}

#[derive(Args)]
struct MigrateArgs {
    /// Root of the per-user workspaces (as given to `serve`).
    #[arg(
        long,
        env = "MCP_SANDBOX_WORKSPACES",
        default_value = "target/workspaces"
    )]
    workspaces: PathBuf,
    /// Whose the user's workspace is, e.g. alice=oidc:https://idp.example/realms/mcp#<sub> or
    /// alice=key:<key id> (repeatable).
    #[arg(long = "map", value_name = "USER=PRINCIPAL")]
    map: Vec<String>,
    /// A file of USER=PRINCIPAL lines (`#` comments allowed).
    #[arg(long)]
    map_file: Option<PathBuf>,
    /// Map every legacy workspace not mapped otherwise to PREFIX + its user name, e.g.
    /// `apikey:` where every user has been an API-key user.
    #[arg(long, value_name = "PREFIX")]
    all_with_prefix: Option<String>,
    /// Print what would be moved; move nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Subcommand)]
enum ToolCommand {
    /// Load a built tool, print its manifest, and run each of its tools once on sample input.
    Check(CheckArgs),
    /// Compile components into the artifact cache ahead of time, so the first `serve` that
    /// loads them starts at once (a large interpreter component takes 10-20 s to compile; see
    /// sandbox/README.md).
    Compile(CompileArgs),
}

#[derive(Args)]
struct CompileArgs {
    /// The components (.wasm) to compile.
    #[arg(required = true)]
    wasm: Vec<PathBuf>,
    /// Cache of compiled components, as given to `serve`.
    #[arg(long, env = "MCP_SANDBOX_CACHE", default_value = "target/wasm-cache")]
    cache: PathBuf,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on: HOST:PORT or unix:/path/to.sock.
    #[arg(long, env = "MCP_SANDBOX_LISTEN", default_value = "127.0.0.1:7070")]
    listen: Listen,
    /// Directory of tool set manifests (*.yaml).
    #[arg(
        long,
        env = "MCP_SANDBOX_TOOLSETS",
        default_value = "policies/toolsets"
    )]
    toolsets: PathBuf,
    /// Directory the manifests' component files are relative to.
    #[arg(long, env = "MCP_SANDBOX_MODULES", default_value = "target/tools")]
    modules: PathBuf,
    /// Access policy (who may call which tool, also for calls made from inside tools).
    #[arg(
        long,
        env = "MCP_SANDBOX_POLICY",
        default_value = "policies/access.yaml"
    )]
    policy: PathBuf,
    /// Root of the per-user workspaces.
    #[arg(
        long,
        env = "MCP_SANDBOX_WORKSPACES",
        default_value = "target/workspaces"
    )]
    workspaces: PathBuf,
    /// Cache of compiled components (reused across restarts). Must be writable only by the sandbox.
    #[arg(long, env = "MCP_SANDBOX_CACHE", default_value = "target/wasm-cache")]
    cache: PathBuf,
    /// Name of this instance, in listings and metrics.
    #[arg(long, env = "MCP_SANDBOX_NAME", default_value = "sandbox-0")]
    name: String,
    /// Calls that may run at once.
    #[arg(long, env = "MCP_SANDBOX_MAX_CONCURRENT", default_value_t = 16)]
    max_concurrent: usize,
    /// Calls that may wait for a slot; more get a `busy` error at once.
    #[arg(long, env = "MCP_SANDBOX_MAX_QUEUE", default_value_t = 64)]
    max_queue: usize,
    /// Longest a call waits for a slot before it gets `busy`.
    #[arg(long, env = "MCP_SANDBOX_QUEUE_TIMEOUT", default_value = "5s")]
    queue_timeout: Span,
    /// Largest memory any tool may be granted (sizes the instance pool).
    #[arg(long, env = "MCP_SANDBOX_MAX_MEMORY", default_value = "512MiB")]
    max_memory: ByteSize,
    /// Largest request body accepted.
    #[arg(long, env = "MCP_SANDBOX_MAX_BODY", default_value = "24MiB")]
    max_body: ByteSize,
    /// Serve as this many single-threaded worker processes sharing the port (SO_REUSEPORT),
    /// e.g. one per core: calls in separate processes do not interrupt each other's CPUs with
    /// TLB flushes (benches/PROFILE.md). --max-concurrent and --max-queue then apply to each
    /// process, and /metrics answers for the process that took the connection. TCP only.
    #[arg(long, env = "MCP_SANDBOX_PROCESSES", default_value_t = 1)]
    processes: usize,
    /// Use on-demand instance allocation instead of the pooling allocator.
    #[arg(long, env = "MCP_SANDBOX_NO_POOLING")]
    no_pooling: bool,
    /// How often to look for changed tool sets, components or policy and reload them (0s: only
    /// on SIGHUP). A reload that fails keeps the previous state serving.
    #[arg(long, env = "MCP_SANDBOX_WATCH_INTERVAL", default_value = "2s")]
    watch_interval: Span,
    /// On SIGTERM, keep accepting calls this long with `/ready` answering 503, so a gateway in
    /// the same pod (which keeps accepting for its `server.grace_period`) or a load balancer
    /// stops sending before the listener closes. SIGINT stops at once.
    #[arg(long, env = "MCP_SANDBOX_DRAIN_DELAY", default_value = "0s")]
    drain_delay: Span,
    /// Longest in-flight calls get to finish after SIGTERM/SIGINT before the process exits.
    #[arg(long, env = "MCP_SANDBOX_SHUTDOWN_TIMEOUT", default_value = "30s")]
    shutdown_timeout: Span,
    /// File holding the token the gateway must present (`Authorization: Bearer`) on the tool
    /// API; set it whenever the sandbox is reachable by anything but its gateway.
    #[arg(long, env = "MCP_SANDBOX_AUTH_TOKEN_FILE")]
    auth_token_file: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key; TCP listeners only).
    /// Changed files are picked up for new connections at the --watch-interval.
    #[arg(long, env = "MCP_SANDBOX_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "MCP_SANDBOX_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Mutual TLS: require a client certificate signed by a CA in this PEM file (the
    /// gateway's sandboxes[].tls.client_cert_file); others are refused at the handshake. The
    /// token and call grants are still checked.
    #[arg(long, env = "MCP_SANDBOX_TLS_CLIENT_CA", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// The gateway's Redis (its `rate_limit_store.redis.url`, with the default key prefix):
    /// calls made from code then count in the same rate-limit buckets as the gateway's, across
    /// replicas. Without it, this process keeps its own buckets.
    #[arg(long, env = "MCP_SANDBOX_RATE_LIMIT_REDIS")]
    rate_limit_redis: Option<String>,
    /// Log format on stderr.
    #[arg(
        long,
        env = "MCP_SANDBOX_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
}

#[derive(Args)]
struct CheckArgs {
    /// The built tool component (.wasm).
    wasm: PathBuf,
    /// Arguments to call with, as a JSON object (default: synthesised from each tool's schema).
    #[arg(long)]
    args: Option<String>,
    /// Check only this tool of the component.
    #[arg(long)]
    tool: Option<String>,
    #[arg(long, default_value = "10s")]
    timeout: Span,
    #[arg(long, default_value_t = 1_000_000_000)]
    fuel: u64,
    #[arg(long, default_value = "128MiB")]
    memory: ByteSize,
    /// Reuse this cache of compiled components (e.g. the one given to `serve`), so checking a
    /// component that embeds an interpreter again takes seconds, not minutes (default: a
    /// scratch cache, removed afterwards).
    #[arg(long)]
    cache: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Guests that spin keep every worker busy, yielding once per epoch tick; the I/O driver is
    // otherwise polled only every 61 task polls (~300 ms of spinning), so another caller's
    // request would wait that long to be read. Poll it on every tick instead.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .event_interval(1)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mcp-sandbox: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(*args).await.map(|()| true),
            Command::Tool(ToolCommand::Check(args)) => tool_check(args).await,
            Command::Tool(ToolCommand::Compile(args)) => tool_compile(&args),
            Command::Workspaces(WorkspacesCommand::Migrate(args)) => workspaces_migrate(args),
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("mcp-sandbox: {}", mcp_telemetry::error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let token = args
        .auth_token_file
        .as_deref()
        .map(AccessToken::from_file)
        .transpose()?;
    // Closed by default: beyond loopback (or a user-only unix socket), anyone who can reach
    // the port could call tools as anyone.
    if token.is_none() && !matches!(args.listen, Listen::Unix(_)) && !is_loopback(&args.listen) {
        anyhow::bail!(
            "refusing to serve the tool API on {} without a token: pass --auth-token-file \
             (MCP_SANDBOX_AUTH_TOKEN_FILE) with the token the gateway holds as \
             sandboxes[].token_file, or listen on a loopback address or a unix: socket",
            listen_shown(&args.listen)
        );
    }
    if args.tls_cert.is_some() && matches!(args.listen, Listen::Unix(_)) {
        anyhow::bail!(
            "--tls-cert is for TCP listeners: a unix: socket is reached only from this machine \
             (its 0600 permissions admit only this user); drop --tls-* or listen on HOST:PORT"
        );
    }
    let telemetry = telemetry::init(args.log_format)?;
    let worker_of = processes::worker_listen();
    if worker_of.is_none() && args.processes > 1 {
        let Listen::Tcp(addr) = &args.listen else {
            anyhow::bail!(
                "--processes needs a TCP --listen address (HOST:PORT), which its worker \
                 processes share; a unix: socket cannot be shared that way"
            );
        };
        let clean = processes::supervise(*addr, args.processes).await?;
        anyhow::ensure!(clean, "a worker process failed (its log is above)");
        return Ok(());
    }
    // A worker of `--processes` binds the address its supervisor resolved, shared.
    let listen = worker_of.map_or_else(|| args.listen.clone(), Listen::Tcp);
    let metrics = telemetry::install_metrics().context("installing the metrics recorder")?;
    let engine = EngineSettings {
        pooling: !args.no_pooling,
        max_instances: u32::try_from(args.max_concurrent * 4 + 8).unwrap_or(u32::MAX),
        max_memory: args.max_memory,
        ..EngineSettings::default()
    };
    let runtime =
        Runtime::new(&engine, Some(args.cache.clone())).context("starting the wasm runtime")?;
    let settings = ServiceSettings {
        name: args.name.clone(),
        sources: Sources {
            toolsets: args.toolsets.clone(),
            modules: args.modules.clone(),
        },
        policy: Some(args.policy.clone()),
        workspaces: Some(args.workspaces.clone()),
        max_concurrent: args.max_concurrent,
        max_queue: args.max_queue,
        queue_timeout: args.queue_timeout.get(),
        grant_key: token.as_ref().map(AccessToken::grant_key),
        rate_limit_store: args
            .rate_limit_redis
            .clone()
            .map(mcp_ratelimit::RedisConfig::new),
    };
    let sandbox = Sandbox::new(settings, runtime).context("preparing the sandbox")?;
    // Load before serving: a sandbox that cannot load its tool sets should not start at all.
    let n = sandbox.reload().await.context("loading tool sets")?;
    tracing::info!(tools = n, name = %args.name, "sandbox ready");
    let interval = Some(args.watch_interval.get()).filter(|d| !d.is_zero());
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let files = TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: args.tls_client_ca.clone(),
            };
            let tls = tls::Reloading::start(files, interval)?;
            tracing::info!(
                client_certificates = args.tls_client_ca.is_some(),
                "serving HTTPS"
            );
            Some(tls)
        }
        _ => None,
    };
    let watched = vec![
        args.toolsets.clone(),
        args.modules.clone(),
        args.policy.clone(),
    ];
    watch::spawn(sandbox.clone(), watched, interval);
    let sandbox_for_signal = sandbox.clone();
    let router = server::router(sandbox, Some(metrics), args.max_body.as_usize(), token);
    server::serve(
        router,
        &listen,
        worker_of.is_some(),
        tls,
        shutdown_signal(
            sandbox_for_signal,
            args.drain_delay.get(),
            args.shutdown_timeout.get(),
        ),
    )
    .await
    .context("serving")?;
    // Queued spans get a short, bounded chance to leave before the process does.
    tokio::task::spawn_blocking(move || telemetry.shutdown(SPAN_FLUSH_BOUND))
        .await
        .context("flushing trace spans")?;
    tracing::info!("sandbox stopped");
    Ok(())
}

fn listen_shown(listen: &Listen) -> String {
    match listen {
        Listen::Tcp(addr) => addr.to_string(),
        Listen::Unix(path) => format!("unix:{}", path.display()),
    }
}

fn is_loopback(listen: &Listen) -> bool {
    matches!(listen, Listen::Tcp(addr) if addr.ip().is_loopback())
}

/// Compiles each component into the cache (the engine settings that `serve` uses by default give
/// the same artifact names); a component that fails is reported and the others still compile.
fn tool_compile(args: &CompileArgs) -> anyhow::Result<bool> {
    let runtime = Runtime::new(&EngineSettings::default(), Some(args.cache.clone()))
        .context("starting the wasm runtime")?;
    let mut ok = true;
    for wasm in &args.wasm {
        let started = std::time::Instant::now();
        match runtime.prepare(wasm) {
            Ok(prepared) => println!(
                "{:?} {} in {:.1} s",
                prepared.origin,
                wasm.display(),
                started.elapsed().as_secs_f64()
            ),
            Err(e) => {
                ok = false;
                eprintln!(
                    "FAIL {}: {}",
                    wasm.display(),
                    mcp_telemetry::error_chain(&e)
                );
            }
        }
    }
    Ok(ok)
}

async fn tool_check(args: CheckArgs) -> anyhow::Result<bool> {
    telemetry::init_logging(LogFormat::Text);
    let arguments = args
        .args
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .context("--args is not valid JSON")?;
    let opts = CheckOptions {
        wasm: args.wasm,
        arguments,
        tool: args.tool,
        timeout: args.timeout,
        fuel: args.fuel,
        memory: args.memory,
        cache: args.cache,
    };
    let mut out = std::io::stdout().lock();
    check::run(opts, &mut out).await
}

fn workspaces_migrate(args: MigrateArgs) -> anyhow::Result<bool> {
    let mut map = args
        .map
        .iter()
        .map(|m| workspace_migration::parse_mapping(m))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    if let Some(file) = &args.map_file {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let more = workspace_migration::parse_mapping_file(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        map.extend(more);
    }
    let workspaces = Workspaces::new(args.workspaces).context("opening the workspaces")?;
    if let Some(prefix) = &args.all_with_prefix {
        let legacy = workspaces
            .legacy_users()
            .context("listing the legacy workspaces")?;
        for user in legacy {
            if !map.iter().any(|(mapped, _)| *mapped == user) {
                map.push((user.clone(), format!("{prefix}{user}")));
            }
        }
    }
    anyhow::ensure!(
        !map.is_empty(),
        "nothing to migrate: give --map USER=PRINCIPAL, --map-file FILE or --all-with-prefix \
         PREFIX (and check --workspaces)"
    );
    let done = workspaces.migrate(&map, args.dry_run);
    for migration in &done {
        println!("{migration}");
    }
    Ok(!done.iter().any(|m| m.outcome.is_problem()))
}

/// Resolves when the listener should close: at once on SIGINT; on SIGTERM (or, in a worker of
/// `--processes`, when its supervisor is gone) after `/ready` has answered 503 for
/// `drain_delay` while calls were still served. In-flight calls then get at most `grace` to
/// finish.
async fn shutdown_signal(sandbox: std::sync::Arc<Sandbox>, drain_delay: Duration, grace: Duration) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        let why = tokio::select! {
            _ = ctrl_c => None,
            _ = term.recv() => Some("SIGTERM"),
            () = processes::supervisor_gone() => Some("supervisor gone"),
        };
        if let Some(why) = why {
            sandbox.start_draining();
            tracing::info!(delay = ?drain_delay, "{why}: unready; still serving calls");
            tokio::time::sleep(drain_delay).await;
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: finishing in-flight calls");
    // Bound the drain: axum waits for connections to finish; give up after a grace period.
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        tracing::warn!(grace = ?grace, "in-flight calls did not finish in time; exiting");
        std::process::exit(1);
    });
}
