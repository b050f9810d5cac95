//! `mcp-gateway`: the command line. `serve` runs the gateway; `keys` manages API keys;
//! `check-config` validates a configuration file.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use std::io::Write as _;

use anyhow::Context as _;
use async_trait::async_trait;
use clap::{Parser, Subcommand};
use mcp_gateway::config::Config;
use mcp_gateway::gateway::Gateway;
use mcp_gateway::observe;
use mcp_gateway::tls::CertReloader;
use pingora::listeners::{DEFAULT_L4_WRITE_BUFFER_SIZE, L4BufferSettings, ListenerConfig};
use pingora::server::ShutdownWatch;
use pingora::server::configuration::ServerConf;
use pingora::services::background::{BackgroundService, background_service};

#[derive(Parser)]
#[command(
    name = "mcp-gateway",
    version,
    about = "MCP gateway: authentication, per-tool RBAC, rate limits, wasm sandboxes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The `--config` flag every command that reads the gateway's configuration takes.
#[derive(clap::Args)]
struct ConfigArg {
    /// Configuration file (YAML); MCP_GATEWAY__* variables override its fields.
    #[arg(
        long = "config",
        short = 'c',
        env = "MCP_GATEWAY_CONFIG",
        default_value = "deploy/local/gateway.yaml"
    )]
    path: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        #[command(flatten)]
        config: ConfigArg,
        /// Log format on stderr.
        #[arg(long, env = "MCP_GATEWAY_LOG_FORMAT", value_parser = ["text", "json"], default_value = "text")]
        log_format: String,
        /// Take over the listening sockets of a running gateway (zero-downtime upgrade): start
        /// this process with --upgrade, then send SIGQUIT to the old one; it hands over its
        /// sockets and drains its in-flight requests.
        #[arg(long)]
        upgrade: bool,
    },
    /// Manage API keys (a directory of key files the gateway watches).
    Keys(mcp_gateway_auth::keys_cli::KeysArgs),
    /// The daily health check: config, policy, keys (and those expiring), sandboxes, OIDC,
    /// Redis, OTLP, TLS certificate. Exits non-zero when a check fails.
    Doctor {
        #[command(flatten)]
        config: ConfigArg,
        /// Warn about keys expiring within this span.
        #[arg(long, default_value = "7d")]
        keys_expiring_within: mcp_contract::units::Span,
    },
    /// Summarise audit logs (files, or stdin when none): requests by user, top tools, errors,
    /// slow requests, keys unused for N days.
    Audit {
        /// Audit log files (JSON lines); read stdin when none or "-".
        files: Vec<PathBuf>,
        /// Only requests within this span before now (e.g. 24h).
        #[arg(long)]
        since: Option<mcp_contract::units::Span>,
        /// List requests slower than this many milliseconds.
        #[arg(long, default_value_t = 2000.0)]
        slow_ms: f64,
        /// Rows per table.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Key directory, to report active keys unused for --unused-days.
        #[arg(long, env = "MCP_GATEWAY_KEYS_DIR")]
        keys_dir: Option<PathBuf>,
        #[arg(long, default_value_t = 30)]
        unused_days: u64,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Live check of a running gateway: health, readiness, initialize, tools/list and a
    /// tools/call per credential, and refusal of bad credentials. Exits non-zero on any FAIL.
    Smoke(mcp_gateway::ops::smoke::SmokeArgs),
    /// Validate a configuration file and the policy it names, then exit.
    CheckConfig {
        #[command(flatten)]
        config: ConfigArg,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            config,
            log_format,
            upgrade,
        } => serve(&config.path, &log_format, upgrade),
        Command::Keys(args) => {
            let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
            match mcp_gateway_auth::keys_cli::run(args, &mut out, &mut err) {
                Ok(outcome) => return ExitCode::from(outcome.exit_code()),
                Err(e) => Err(anyhow::Error::from(e)),
            }
        }
        Command::CheckConfig { config } => check_config(&config.path),
        Command::Smoke(args) => return mcp_gateway::ops::smoke::main(args),
        Command::Doctor {
            config,
            keys_expiring_within,
        } => return doctor(&config.path, keys_expiring_within),
        Command::Audit {
            files,
            since,
            slow_ms,
            top,
            keys_dir,
            unused_days,
            json,
        } => audit(
            files,
            mcp_gateway::ops::audit_report::AuditOptions {
                since: since.map(|s| s.get()),
                slow_ms,
                top,
                keys_dir,
                unused_days,
                json,
            },
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcp-gateway: {}", mcp_telemetry::error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// Longest the gateway waits at exit for queued trace spans to be exported.
const SPAN_FLUSH_BOUND: std::time::Duration = std::time::Duration::from_secs(2);

/// Logs on stderr and, when an OTLP endpoint is configured (`OTEL_*`), trace export.
fn init_telemetry(format: &str) -> anyhow::Result<mcp_telemetry::Telemetry> {
    let log_format = if format == "json" {
        mcp_telemetry::LogFormat::Json
    } else {
        mcp_telemetry::LogFormat::Text
    };
    Ok(mcp_telemetry::init(&mcp_telemetry::Options {
        service_name: "mcp-gateway",
        service_version: env!("CARGO_PKG_VERSION"),
        log_format,
        default_log_filter: "info",
        span_targets: &["mcp_gateway"],
    })?)
}

fn doctor(path: &std::path::Path, expiring: mcp_contract::units::Span) -> ExitCode {
    let opts = mcp_gateway::ops::doctor::DoctorOptions {
        expiry_warning: expiring.get(),
        ..Default::default()
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mcp-gateway doctor: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    match rt.block_on(mcp_gateway::ops::doctor::run(path, &opts, &mut out)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("mcp-gateway doctor: {e}");
            ExitCode::FAILURE
        }
    }
}

fn audit(
    files: Vec<PathBuf>,
    opts: mcp_gateway::ops::audit_report::AuditOptions,
) -> anyhow::Result<()> {
    use mcp_gateway::ops::audit_report;
    let mut inputs: Vec<Box<dyn std::io::BufRead>> = Vec::new();
    if files.is_empty() || files.iter().any(|f| f.as_os_str() == "-") {
        inputs.push(Box::new(std::io::BufReader::new(std::io::stdin())));
    }
    for f in files.iter().filter(|f| f.as_os_str() != "-") {
        let file = std::fs::File::open(f)
            .with_context(|| format!("cannot open audit log {}", f.display()))?;
        inputs.push(Box::new(std::io::BufReader::new(file)));
    }
    let report = audit_report::summarise(inputs, &opts)?;
    let mut out = std::io::stdout().lock();
    if opts.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        audit_report::render(&report, &opts, &mut out)?;
    }
    Ok(())
}

fn check_config(path: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(path, std::env::vars())?;
    mcp_contract::policy::AccessPolicy::load(&config.policy)?;
    println!(
        "ok: {} is valid ({} sandbox(es), policy {}, auth: {}{})",
        path.display(),
        config.sandboxes.len(),
        config.policy.display(),
        if config.keys.is_some() {
            "api keys"
        } else {
            ""
        },
        if config.oidc.is_some() { " oidc" } else { "" },
    );
    Ok(())
}

fn serve(path: &std::path::Path, log_format: &str, upgrade: bool) -> anyhow::Result<()> {
    let telemetry = init_telemetry(log_format)?;
    let config = Config::load(path, std::env::vars())?;
    let metrics = observe::install_metrics().context("installing the metrics recorder")?;
    let listen = config.listen;
    let admin_listen = config.admin_listen;
    let server_cfg = config.server.clone();
    let tls_files = config.tls.clone();
    let gw = Arc::new(Gateway::build(config, Some(metrics))?.watching_config(path));

    let upgrade_sock = match server_cfg.upgrade_sock.clone() {
        Some(p) => p,
        None => private_upgrade_sock(listen.port())?,
    };
    let conf = ServerConf {
        threads: server_cfg.threads,
        upgrade_sock: upgrade_sock.display().to_string(),
        // The drain (`Drain` below) is over by the time pingora hears of the shutdown: nothing
        // is left in flight for its own grace period to wait for.
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(2),
        ..ServerConf::default()
    };
    let opt = pingora::server::configuration::Opt {
        upgrade,
        ..Default::default()
    };
    let mut server = pingora::server::Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();
    let mut front = mcp_gateway::http::service(&server.configuration, gw.clone());
    let addr = listen.to_string();
    // pingora's default read buffer is 64 KiB per connection, touched as soon as data arrives;
    // MCP requests are small and TLS reads 16 KiB records, so 16 KiB bounds what a busy
    // connection holds.
    let l4_buffer = L4BufferSettings::new(
        server_cfg.read_buffer.as_usize(),
        DEFAULT_L4_WRITE_BUFFER_SIZE,
    );
    let reloader = match &tls_files {
        Some(t) => {
            let reloader = CertReloader::load(&t.cert, &t.key).map_err(anyhow::Error::msg)?;
            // The resolver serves the current certificate on every handshake, so a renewed one
            // takes effect without a restart; the paths below are unused with a resolver.
            let mut settings = pingora::listeners::tls::TlsSettings::intermediate("", "")?;
            settings.set_cert_resolver(reloader.clone());
            settings.enable_h2();
            front.add_listener(
                ListenerConfig::tcp(addr.clone())
                    .tls(settings)
                    .l4_buffer(l4_buffer),
            );
            Some(reloader)
        }
        None => {
            front.add_listener(ListenerConfig::tcp(addr.clone()).l4_buffer(l4_buffer));
            None
        }
    };
    if let Some(admin) = admin_listen {
        front.add_listener(ListenerConfig::tcp(admin.to_string()).l4_buffer(l4_buffer));
    }
    server.add_service(front);
    let drain_gw = gw.clone();
    server.add_service(background_service(
        "gateway",
        Background { gw, tls: reloader },
    ));
    let scheme = if tls_files.is_some() { "https" } else { "http" };
    println!("mcp-gateway listening on {scheme}://{addr}");
    if let Some(admin) = admin_listen {
        println!("mcp-gateway admin listener (metrics) on http://{admin}");
    }
    server.run(pingora::server::RunArgs {
        shutdown_signal: Box::new(Drain {
            gw: drain_gw,
            delay: server_cfg.grace_period.get(),
            timeout: server_cfg.shutdown_timeout.get(),
        }),
    });
    // Queued spans get a short, bounded chance to leave before the process does.
    telemetry.shutdown(SPAN_FLUSH_BOUND);
    std::process::exit(0)
}

/// The gateway's periodic work, as a pingora background service.
struct Background {
    gw: Arc<Gateway>,
    tls: Option<Arc<CertReloader>>,
}

#[async_trait]
impl BackgroundService for Background {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        // Checked every 2 s; the watch stops when dropped, with this service.
        let _certs = self
            .tls
            .as_ref()
            .map(|t| t.watch(std::time::Duration::from_secs(2)));
        tokio::select! {
            _ = self.gw.clone().run_background() => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// When the process stops, and how. SIGINT stops at once; SIGQUIT hands the listening sockets
/// to an upgraded process (`serve --upgrade`). SIGTERM drains without losing a call:
/// `/ready` answers 503 at once and responses close their connections; requests are still
/// served for `server.grace_period` while load balancers take the replica out; then new MCP
/// requests get 503 (clients retry elsewhere) and the calls in flight run to their end, for at
/// most `server.shutdown_timeout`, after which those still running are answered with a clear
/// error. Only then is pingora told to stop.
struct Drain {
    gw: Arc<Gateway>,
    delay: std::time::Duration,
    timeout: std::time::Duration,
}

#[async_trait]
impl pingora::server::ShutdownSignalWatch for Drain {
    async fn recv(&self) -> pingora::server::ShutdownSignal {
        use pingora::server::ShutdownSignal;
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut quit), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::quit()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot listen for signals; stopping");
            return ShutdownSignal::FastShutdown;
        };
        tokio::select! {
            _ = int.recv() => return ShutdownSignal::FastShutdown,
            _ = quit.recv() => {
                self.gw.start_draining();
                return ShutdownSignal::GracefulUpgrade;
            }
            _ = term.recv() => {}
        }
        let gw = &self.gw;
        gw.start_draining();
        tracing::info!(delay = ?self.delay, "SIGTERM: unready; still serving while endpoints update");
        tokio::time::sleep(self.delay).await;
        gw.stop_admitting();
        let deadline = tokio::time::Instant::now() + self.timeout;
        let in_flight = gw.admission.in_flight();
        tracing::info!(in_flight, timeout = ?self.timeout, "draining: waiting for calls in flight");
        while gw.admission.in_flight() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        if gw.admission.in_flight() > 0 {
            tracing::warn!(
                in_flight = gw.admission.in_flight(),
                "shutdown timeout passed: answering the calls still running with an error"
            );
            gw.cut_in_flight();
            let answered = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
            while gw.admission.in_flight() > 0 && tokio::time::Instant::now() < answered {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        // The replies just written get a moment to leave before the sockets close.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        ShutdownSignal::GracefulTerminate
    }
}

/// The default upgrade socket: in a directory only this user can enter (`/tmp/mcp-gateway-<uid>`,
/// mode 0700), never directly in the shared `/tmp`, where another local user could bind the
/// path first and be handed the listening sockets at the next upgrade.
fn private_upgrade_sock(port: u16) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
    let uid = current_uid();
    let dir = std::env::temp_dir().join(format!("mcp-gateway-{uid}"));
    if let Err(e) = std::fs::DirBuilder::new().mode(0o700).create(&dir)
        && e.kind() != std::io::ErrorKind::AlreadyExists
    {
        anyhow::bail!("cannot create {}: {e}", dir.display());
    }
    let meta = std::fs::symlink_metadata(&dir)?;
    if !meta.is_dir() || meta.uid() != uid || meta.permissions().mode() & 0o077 != 0 {
        anyhow::bail!(
            "{} must be a directory owned by this user with mode 0700 (it holds the upgrade \
             socket); remove it or set server.upgrade_sock",
            dir.display()
        );
    }
    Ok(dir.join(format!("{port}.upgrade.sock")))
}

/// This process's user id, read from `/proc` (no unsafe libc call needed).
fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").map_or(0, |m| m.uid())
}
