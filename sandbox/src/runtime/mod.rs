//! Running tool components under wasmtime with hard limits.
//!
//! One [`Runtime`] per process holds the [`wasmtime::Engine`], the [`Linker`] with WASI and the
//! host imports, and the compiled-component cache. [`Runtime::prepare`] turns a `.wasm` file
//! into a [`Prepared`] component (compiled once, an `InstancePre` ready to instantiate), and
//! [`Runtime::run`] runs one call in a fresh [`Store`] with its fuel, deadline, memory cap,
//! output cap and capabilities, then reports what happened as a [`RunReport`].
//!
//! This module knows nothing of tool sets, policies or HTTP: nested tool calls are delegated to
//! a [`Dispatcher`] that the caller supplies.

mod bindings;
mod cache;
mod callback;
mod engine;
mod host;
mod http;
mod limiter;
mod outcome;
mod output;
mod state;
mod trace;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mcp_contract::sandbox_api::{CallError, ErrorKind};
use mcp_contract::units::ByteSize;
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Linker};
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

pub use bindings::{AbortReason, CallError as WitCallError, LogLevel, ToolDescriptor, ToolSummary};
pub use cache::{CompileError, Origin};
pub use callback::GatewayCallback;
pub use engine::{EPOCH_TICK, EngineSettings};
pub use host::{unavailable_tool, untrusted};
pub use http::{HttpGrantError, HttpPolicy};
pub use outcome::DeadlineExceeded;
pub use state::{CallContext, CallScope, Caller, Deadline, Dispatcher, NestedOutcome};

use crate::toolset::manifest::{Access, Limits};
use cache::ComponentCache;
use limiter::CallLimiter;
use output::CappedPipe;
use state::CallState;

/// Name of the tool interface the components export.
const TOOL_INTERFACE: &str = "mcp:gateway/tool@0.1.0";
/// Stderr kept per call, for panic messages in trap reports.
const STDERR_CAP: usize = 64 * 1024;
/// How long past its deadline a call may take to be torn down before the host gives up on it.
const TEARDOWN_GRACE: Duration = Duration::from_millis(10);

/// A compiled component, ready to instantiate.
pub struct Prepared {
    pre: InstancePre<CallState>,
    call: ComponentExportIndex,
    /// SHA-256 of the wasm bytes.
    pub digest: String,
    pub origin: Origin,
}

/// A directory a call may see.
#[derive(Debug, Clone)]
pub struct Mount {
    pub host: PathBuf,
    pub guest: String,
    pub access: Access,
    /// When not empty, only callers holding one of these roles get `access` read-write.
    pub write_roles: Vec<String>,
}

impl Mount {
    /// The access a caller with `roles` gets: read-write only if the mount grants it and the
    /// caller holds one of its `write_roles` (when it names any); read-only otherwise.
    pub fn access_for(&self, roles: &[String]) -> Access {
        let may_write = self.write_roles.is_empty()
            || self
                .write_roles
                .iter()
                .any(|w| roles.iter().any(|r| r == w));
        if may_write {
            self.access
        } else {
            Access::ReadOnly
        }
    }
}

/// Everything a call runs with besides its component and arguments.
pub struct CallSetup {
    pub limits: Limits,
    pub mounts: Vec<Mount>,
    pub env: Vec<(String, String)>,
    pub context: CallContext,
    /// Outbound HTTP the tool set grants; `None` refuses every request.
    pub http: Option<std::sync::Arc<HttpPolicy>>,
}

/// What one run of a guest produced.
pub struct RunReport {
    pub outcome: Result<serde_json::Value, CallError>,
    pub fuel_consumed: u64,
    pub memory_peak: u64,
    pub nested_calls: u32,
    pub stdout: bytes::Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error("{path}: {message}")]
    Link { path: PathBuf, message: String },
}

/// The engine, linker and component cache of this process.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    cache: ComponentCache,
    _ticker: engine::EpochTicker,
}

impl Runtime {
    pub fn new(settings: &EngineSettings, cache_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        let engine = engine::build_engine(settings).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("adding WASI to the linker: {e:#}"))?;
        // Linked for every component; requests are refused unless the tool set grants them.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("adding wasi:http to the linker: {e:#}"))?;
        host::add_to_linker(&mut linker)
            .map_err(|e| anyhow::anyhow!("adding host imports to the linker: {e:#}"))?;
        let cache = ComponentCache::new(engine.clone(), cache_dir)?;
        let ticker = engine::EpochTicker::start(engine.clone());
        Ok(Self {
            engine,
            linker,
            cache,
            _ticker: ticker,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles (or loads from cache) the component at `path` and checks that its imports are
    /// satisfied and that it exports the tool interface.
    pub fn prepare(&self, path: &Path) -> Result<Prepared, PrepareError> {
        let (component, digest, origin) = self.cache.load(path)?;
        let link_err = |message: String| PrepareError::Link {
            path: path.to_owned(),
            message,
        };
        let call = export_index(&component, "call").ok_or_else(|| {
            link_err(format!(
                "the component does not export `{TOOL_INTERFACE}`: build it with the mcp-tool-sdk \
                 (world `tool-component` in sdk/wit/mcp-tool.wit)"
            ))
        })?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| link_err(format!("cannot be linked: {e:#}")))?;
        Ok(Prepared {
            pre,
            call,
            digest,
            origin,
        })
    }

    /// Instantiates the component and asks it which tools it provides.
    pub async fn describe(
        &self,
        prepared: &Prepared,
        setup: CallSetup,
    ) -> Result<Vec<ToolDescriptor>, CallError> {
        let deadline = setup.context.deadline.clone();
        let limits = setup.limits;
        let (mut store, _, stderr) = self.new_store(setup)?;
        let run = async {
            let pre = bindings::ToolComponentPre::new(prepared.pre.clone())?;
            let instance = pre.instantiate_async(&mut store).await?;
            instance.mcp_gateway_tool().call_describe(&mut store).await
        };
        match until_deadline(run, &deadline).await {
            Some(Ok(descriptors)) => Ok(descriptors),
            Some(Err(e)) => Err(outcome::classify(&e, &limits, &stderr.contents())),
            None => Err(outcome::deadline_error(&limits)),
        }
    }

    /// Runs `tool` with `arguments` (JSON text) in a fresh store.
    pub async fn run(
        &self,
        prepared: &Prepared,
        setup: CallSetup,
        tool: &str,
        arguments: &str,
    ) -> RunReport {
        let limits = setup.limits;
        let deadline = setup.context.deadline.clone();
        let original_deadline = deadline.get();
        let started = setup.context.started;
        let (mut store, stdout, stderr) = match self.new_store(setup) {
            Ok(s) => s,
            Err(e) => return RunReport::failed(e),
        };
        let run = invoke(&mut store, prepared, tool, arguments, &limits);
        let mut result = match until_deadline(run, &deadline).await {
            Some(Ok(result)) => result,
            Some(Err(e)) => Err(classify(&e, &limits, &stderr.contents())),
            // The guest was blocked in a host call past its deadline; dropping the future
            // tears the instance down.
            None => Err(outcome::deadline_error(&limits)),
        };
        // A timeout names the deadline that stopped the call: the one the guest set itself
        // (`limit-deadline`) or the caller's, when either is earlier than the tool's limit.
        let own_deadline = deadline.get();
        if own_deadline < original_deadline {
            result = result.map_err(|e| outcome::own_deadline(e, &limits, own_deadline - started));
        } else {
            let budget = original_deadline.saturating_duration_since(started);
            result = result.map_err(|e| outcome::caller_deadline(e, &limits, budget));
        }
        // A failure the guest reported may carry structured detail (`fail-detail`).
        if let Some(detail) = store.data_mut().fail_detail.take() {
            result = result.map_err(|e| outcome::with_detail(e, &detail, &limits));
        }
        let fuel_left = store.get_fuel().unwrap_or(0);
        let fuel_consumed = limits.fuel.saturating_sub(fuel_left);
        let memory_peak = store.data().limiter.peak() as u64;
        trace::record_run(
            &store.data().context.span,
            &result,
            fuel_consumed,
            memory_peak,
        );
        RunReport {
            outcome: result,
            fuel_consumed,
            memory_peak,
            nested_calls: store.data().context.scope.nested_calls(),
            stdout: stdout.contents(),
        }
    }

    fn new_store(
        &self,
        setup: CallSetup,
    ) -> Result<(Store<CallState>, CappedPipe, CappedPipe), CallError> {
        let CallSetup {
            limits,
            mounts,
            env,
            context,
            http,
        } = setup;
        let stdout = CappedPipe::new("stdout", limits.output.as_usize());
        let stderr = CappedPipe::new("stderr", STDERR_CAP);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        for (k, v) in &env {
            wasi.env(k, v);
        }
        for m in &mounts {
            let perms = match m.access_for(&context.scope.caller.roles) {
                Access::ReadOnly => FsPerms::ReadOnly,
                Access::ReadWrite => FsPerms::ReadWrite,
            };
            wasi.preopened_dir(&m.host, &m.guest, perms).map_err(|e| {
                CallError::new(
                    ErrorKind::Internal,
                    format!(
                        "cannot open directory {} for the tool: {e:#}",
                        m.host.display()
                    ),
                )
            })?;
        }
        let state = CallState::new(
            wasi.build(),
            CallLimiter::new(limits.memory.as_usize(), context.scope.memory.clone()),
            limits.fuel,
            context,
            http,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_fuel(limits.fuel).map_err(internal)?;
        store.epoch_deadline_callback(|cx| {
            if Instant::now() >= cx.data().context.deadline.get() {
                Err(DeadlineExceeded.into())
            } else {
                // Give other calls and the server a turn once per tick.
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store.set_epoch_deadline(1);
        Ok((store, stdout, stderr))
    }
}

/// Instantiates and calls the guest (each under its own span), then checks the result
/// against the output cap before parsing it.
///
/// The result is lifted as an owned `String`: wasmtime runs the export's `post-return` (which
/// frees the result buffer in the guest) before `call_async` returns, so a borrowed `WasmStr`
/// would be read from freed guest memory. CPython guests reuse that memory at once. The copy
/// is bounded by the guest's memory cap.
async fn invoke(
    store: &mut Store<CallState>,
    prepared: &Prepared,
    tool: &str,
    arguments: &str,
    limits: &Limits,
) -> wasmtime::Result<Result<serde_json::Value, CallError>> {
    let instantiating = trace::instantiate(&store.data().context);
    let instance =
        tracing::Instrument::instrument(prepared.pre.instantiate_async(&mut *store), instantiating)
            .await?;
    // Fuel spent by instantiation does not count against the call.
    store.set_fuel(limits.fuel)?;
    let running = trace::guest_run(&store.data().context);
    store.data_mut().context.span = running.clone();
    let func = instance.get_typed_func::<(&str, &str), (Result<String, bindings::ToolError>,)>(
        &mut *store,
        &prepared.call,
    )?;
    let (result,) =
        tracing::Instrument::instrument(func.call_async(&mut *store, (tool, arguments)), running)
            .await?;
    Ok(match result {
        Ok(text) => outcome::parse_result(&text, limits),
        Err(e) => Err(outcome::tool_error(e)),
    })
}

/// Drives `fut` until it finishes or the (possibly moving) deadline passes; `None` on the
/// latter. Epoch interruption stops a guest running wasm; this stops one blocked in a host call.
async fn until_deadline<F: std::future::Future>(
    fut: F,
    deadline: &state::Deadline,
) -> Option<F::Output> {
    /// How often a deadline brought forward is noticed while waiting.
    const RECHECK: Duration = Duration::from_millis(25);
    tokio::pin!(fut);
    loop {
        let stop = deadline.get() + TEARDOWN_GRACE;
        let now = Instant::now();
        if now >= stop {
            return None;
        }
        let wake = stop.min(now + RECHECK);
        tokio::select! {
            out = &mut fut => return Some(out),
            () = tokio::time::sleep_until(wake.into()) => {}
        }
    }
}

/// [`outcome::classify`], plus the call tree's memory budget, which only the runtime knows.
fn classify(e: &wasmtime::Error, limits: &Limits, stderr: &[u8]) -> CallError {
    match e.downcast_ref::<limiter::TreeMemoryExceeded>() {
        Some(t) => CallError::new(
            ErrorKind::MemoryLimit,
            format!(
                "tried to grow its memory by {} bytes while its call tree (the tool calls made \
                 from one request) already held {} of the {} the tree may use, and was stopped",
                t.wanted,
                ByteSize(t.in_use as u64),
                ByteSize(t.budget as u64)
            ),
        ),
        None => outcome::classify(e, limits, stderr),
    }
}

fn export_index(component: &Component, func: &str) -> Option<ComponentExportIndex> {
    let iface = component.get_export_index(None, TOOL_INTERFACE)?;
    component.get_export_index(Some(&iface), func)
}

fn internal(e: impl std::fmt::Display) -> CallError {
    CallError::new(ErrorKind::Internal, e.to_string())
}

impl RunReport {
    pub fn failed(error: CallError) -> Self {
        Self {
            outcome: Err(error),
            fuel_consumed: 0,
            memory_peak: 0,
            nested_calls: 0,
            stdout: bytes::Bytes::new(),
        }
    }
}
