//! The sandbox service: takes a call request, checks it (tool exists, caller allowed, arguments
//! match the schema), admits it (bounded concurrency and queue), runs it under the tool's
//! limits, and reports the outcome. Also serves tool calls made from inside guests
//! ([`Dispatcher`]), under the same checks and the caller's roles.
//!
//! Who the caller is comes from the call grant the gateway signed with the sandbox's token
//! ([`mcp_contract::grant`]) whenever the sandbox has one, never from the request body. What a
//! caller may consume is bounded per caller and per call tree: arguments have a byte cap
//! checked before they are parsed, each caller holds at most their share of the execution slots
//! and queue ([`Admission`]), and a call tree shares the top-level tool's memory, fuel and
//! deadline. Every tool call made from inside a guest writes an `audit` log line.

mod admission;
mod metrics;
pub mod watch;
mod workspaces;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use mcp_contract::grant::Grant;
use mcp_contract::policy::{Access as PolicyAccess, AccessPolicy};
use mcp_contract::sandbox_api::{CallError, CallRequest, CallResponse, CallStats, ErrorKind};

use crate::runtime::{
    AbortReason, CallContext, CallScope, CallSetup, Caller, Deadline, Dispatcher, GatewayCallback,
    Mount, NestedOutcome, Runtime, ToolSummary, WitCallError, unavailable_tool, untrusted,
};
use crate::telemetry;
use crate::toolset::manifest::Access;
use crate::toolset::{self, Catalog, LoadError, Sources, ToolHandle};
pub use admission::{Admission, Permit, Rejected, Share};
pub use workspaces::{Owner, Workspaces};
/// Moving name-keyed workspaces to principals (`mcp-sandbox workspaces migrate`).
pub mod workspace_migration {
    pub use super::workspaces::{
        MappingError, MappingFileError, Migration, Outcome, parse_mapping, parse_mapping_file,
    };
}

/// Settings of the service, fixed at start.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// This instance's name, in listings and metrics.
    pub name: String,
    pub sources: Sources,
    /// The access policy file; `None` admits every caller to every tool (for `tool check`).
    pub policy: Option<PathBuf>,
    pub workspaces: Option<PathBuf>,
    pub max_concurrent: usize,
    pub max_queue: usize,
    pub queue_timeout: Duration,
    /// The key call grants are signed with (the sandbox's token). When set, every call must
    /// carry a valid grant and the caller's identity comes only from it.
    pub grant_key: Option<Arc<[u8]>>,
    /// Where the rate-limit buckets of calls made from code live: the gateway's Redis (so a
    /// limit holds for the whole call tree, across replicas), or `None` for this process.
    pub rate_limit_store: Option<mcp_ratelimit::RedisConfig>,
}

/// What is loaded now; replaced whole on reload.
struct Loaded {
    catalog: Catalog,
    /// `None` when no policy file is configured: every caller may call every tool.
    policy: Option<AccessPolicy>,
}

pub struct Sandbox {
    settings: ServiceSettings,
    runtime: Runtime,
    loaded: ArcSwap<Loaded>,
    ready: std::sync::atomic::AtomicBool,
    /// Set on SIGTERM: `/ready` answers 503 while calls are still served (see `--drain-delay`).
    draining: std::sync::atomic::AtomicBool,
    workspaces: Option<Workspaces>,
    admission: Admission,
    /// Rate limits of calls made from code and skills, with the gateway's buckets.
    limiter: mcp_ratelimit::Limiter,
}

/// A load or reload that failed; the previous state stays in force.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Toolsets(#[from] LoadError),
    #[error(transparent)]
    Policy(#[from] mcp_contract::policy::PolicyError),
}

impl Sandbox {
    pub fn new(settings: ServiceSettings, runtime: Runtime) -> std::io::Result<Arc<Self>> {
        let workspaces = settings
            .workspaces
            .clone()
            .map(Workspaces::new)
            .transpose()?;
        let admission = Admission::new(
            settings.max_concurrent,
            settings.max_queue,
            settings.queue_timeout,
        );
        metrics::describe();
        let limiter = match &settings.rate_limit_store {
            Some(redis) => mcp_ratelimit::Limiter::Redis(Box::new(
                mcp_ratelimit::RedisLimiter::new(redis).map_err(std::io::Error::other)?,
            )),
            None => mcp_ratelimit::Limiter::Local(mcp_ratelimit::LocalLimiter::new()),
        };
        Ok(Arc::new(Self {
            limiter,
            loaded: ArcSwap::from_pointee(Loaded {
                catalog: Catalog::empty(&settings.name),
                policy: None,
            }),
            ready: false.into(),
            draining: false.into(),
            settings,
            runtime,
            workspaces,
            admission,
        }))
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// Loads (or reloads) the policy and every tool set. On error nothing changes.
    pub async fn reload(self: &Arc<Self>) -> Result<usize, ReloadError> {
        let started = Instant::now();
        let policy = self
            .settings
            .policy
            .as_deref()
            .map(AccessPolicy::load)
            .transpose()?;
        let dispatcher: Arc<dyn Dispatcher> = self.clone();
        let catalog = toolset::load(
            &self.runtime,
            &self.settings.sources,
            &self.settings.name,
            dispatcher,
        )
        .await?;
        let n = catalog.len();
        tracing::info!(tools = n, revision = %catalog.revision, elapsed_ms = started.elapsed().as_millis() as u64,
            "tool sets loaded");
        self.loaded.store(Arc::new(Loaded { catalog, policy }));
        self.ready.store(true, std::sync::atomic::Ordering::Release);
        Ok(n)
    }

    /// Whether a catalog has been loaded and the sandbox is not draining.
    pub fn is_ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::Acquire) && !self.is_draining()
    }

    /// From now on `/ready` answers 503 (the process is about to stop); calls are still served.
    pub fn start_draining(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The `GET /v1/tools` body.
    pub fn listing(&self) -> bytes::Bytes {
        self.loaded.load().catalog.listing()
    }

    pub fn tool_count(&self) -> usize {
        self.loaded.load().catalog.len()
    }

    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Serves one call from the gateway.
    pub async fn call(
        self: &Arc<Self>,
        req: &CallRequest<'_>,
        span: tracing::Span,
    ) -> CallResponse {
        let started = Instant::now();
        let tool_name: &str = &req.tool;
        let loaded = self.loaded.load_full();
        let (caller, callback) = match self.caller_of(req) {
            Ok(c) => c,
            Err(e) => return self.finish(tool_name, Err(e), CallStats::default(), started),
        };
        let checked = check_call(&loaded, &caller, tool_name, req.arguments.map(|a| a.get()));
        let (tool, arguments) = match checked {
            Ok(ok) => ok,
            Err(e) => return self.finish(tool_name, Err(e), CallStats::default(), started),
        };
        let queue_span = telemetry::child_span!(&span, "queue_wait");
        let share = self.admission.share(
            loaded
                .policy
                .as_ref()
                .and_then(|p| p.capacity_share(&caller.user, &caller.roles)),
        );
        let entered = self.admission.enter(caller.key(), share);
        let permit = match tracing::Instrument::instrument(entered, queue_span).await {
            Ok(p) => p,
            Err(why) => {
                let e = busy_error(&self.admission, &caller, why);
                return self.finish(tool_name, Err(e), CallStats::default(), started);
            }
        };
        let queue_us = started.elapsed().as_micros() as u64;
        metrics::in_use(&self.admission);
        let limits = tool.component.limits;
        let mut budget = limits.timeout.get();
        if let Some(ms) = req.deadline_ms {
            budget = budget.min(Duration::from_millis(ms));
        }
        // The whole tree of nested calls shares the top-level tool's memory cap (and its fuel
        // and deadline, passed down as what is left).
        let scope = CallScope::new(caller, limits.max_nested_calls, limits.max_nesting_depth)
            .with_memory_budget(limits.memory.as_usize());
        let scope = Arc::new(match callback {
            Some(callback) => scope.with_callback(callback),
            None => scope,
        });
        let now = Instant::now();
        let report = self
            .run_tool(
                &tool,
                &arguments,
                scope,
                0,
                now,
                now + budget,
                limits.fuel,
                span,
            )
            .await;
        drop(permit);
        metrics::in_use(&self.admission);
        let stats = CallStats {
            duration_us: 0,
            queue_us,
            fuel_consumed: report.fuel_consumed,
            memory_peak: report.memory_peak,
            nested_calls: report.nested_calls,
        };
        let outcome = report.outcome.and_then(|v| check_output(&tool, v));
        self.finish(tool_name, outcome, stats, started)
    }

    fn finish(
        &self,
        tool: &str,
        outcome: Result<serde_json::Value, CallError>,
        mut stats: CallStats,
        started: Instant,
    ) -> CallResponse {
        stats.duration_us = started.elapsed().as_micros() as u64;
        metrics::call_finished(
            &self.settings.name,
            tool,
            outcome.as_ref().err().map(|e| e.kind),
            &stats,
        );
        match outcome {
            Ok(v) => CallResponse::success(tool, v, stats),
            Err(mut e) => {
                if !matches!(e.kind, ErrorKind::ToolError | ErrorKind::InvalidArguments)
                    || e.message.is_empty()
                {
                    e.message = format!("tool '{tool}' {}", e.message);
                }
                tracing::info!(tool, kind = %e.kind, message = %e.message, "call failed");
                CallResponse::failure(tool, e, stats)
            }
        }
    }

    /// Who the call is for: from its grant when the sandbox has a grant key, else (without a
    /// token, in development) from the request body. With it, the way back to the gateway for
    /// its federated tools when the grant names one (never without a token).
    fn caller_of(
        &self,
        req: &CallRequest<'_>,
    ) -> Result<(Caller, Option<GatewayCallback>), CallError> {
        let request_id = req.request_id.as_deref().unwrap_or("");
        let Some(key) = &self.settings.grant_key else {
            let caller = Caller {
                user: req.user.to_string(),
                roles: req.roles.iter().map(|r| r.to_string()).collect(),
                request_id: request_id.to_owned(),
                principal: req.principal.as_deref().map(str::to_owned),
            };
            return Ok((caller, None));
        };
        let refused = |why: String| CallError::new(ErrorKind::Forbidden, why);
        let token = req.grant.as_deref().ok_or_else(|| {
            refused(
                "was refused: the call carries no call grant, and this sandbox takes the caller's \
                 identity only from a grant its gateway signs with the sandbox token (upgrade the \
                 gateway, or check that both hold the same token)"
                    .to_owned(),
            )
        })?;
        let grant = Grant::verify(token, key, now_ms())
            .map_err(|e| refused(format!("was refused: {e}")))?;
        if grant.request_id.is_empty() || grant.request_id != request_id {
            return Err(refused(
                "was refused: the call grant was issued for another request".to_owned(),
            ));
        }
        if grant.tool.as_deref().is_some_and(|t| t != req.tool) {
            return Err(refused(
                "was refused: the call grant was issued for another tool".to_owned(),
            ));
        }
        let callback = grant
            .callback
            .as_deref()
            .map(|url| GatewayCallback::new(url, token, key.clone()));
        let caller = Caller {
            user: grant.user,
            roles: grant.roles,
            request_id: grant.request_id,
            principal: Some(grant.principal),
        };
        Ok((caller, callback))
    }

    /// Whether a tool call made from inside a guest may go ahead, besides the policy check:
    /// the caller's per-user (`Scope::User`) or per-tool rate from the policy, counted in the
    /// same buckets (keyed on the principal) as the calls the gateway admits, so calls made
    /// from code and skills cannot go past a limit a client is held to. As at the gateway, the
    /// user's rate is checked before the tool is looked up and the tool's rate after it is
    /// authorized (so a tool's limit cannot be used to probe whether it exists).
    async fn admit_nested(
        &self,
        loaded: &Loaded,
        caller: &Caller,
        scope: mcp_ratelimit::Scope,
        tool: &str,
    ) -> Result<(), WitCallError> {
        let Some(policy) = &loaded.policy else {
            return Ok(());
        };
        let who = caller.principal.as_deref().unwrap_or(&caller.user);
        let (on, rate) = match scope {
            mcp_ratelimit::Scope::User => ("", policy.user_rate(&caller.user)),
            mcp_ratelimit::Scope::UserTool => (tool, policy.tool_rate(tool)),
        };
        let Some(rate) = rate else {
            return Ok(());
        };
        let Err(limited) = self.limiter.check(scope, who, on, rate).await else {
            return Ok(());
        };
        metrics::nested_rate_limited(scope.as_str());
        let secs = limited.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        Err(WitCallError::LimitExceeded(if limited.store_unavailable {
            "rate limits cannot be checked right now (the shared store is unreachable)".to_owned()
        } else {
            match scope {
                mcp_ratelimit::Scope::User => format!(
                    "rate limit exceeded for your requests (calls made from code count too); \
                     retry after {secs} s"
                ),
                mcp_ratelimit::Scope::UserTool => format!(
                    "rate limit exceeded for your calls of tool '{tool}' (calls made from code \
                     count too); retry after {secs} s"
                ),
            }
        }))
    }

    /// Runs a checked call of `tool`, at nesting `depth`, ending by `deadline`, with at most
    /// `fuel`. Its spans go under `parent`.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call's context, passed down once; a struct would only be unpacked again"
    )]
    async fn run_tool(
        self: &Arc<Self>,
        tool: &Arc<ToolHandle>,
        arguments: &str,
        scope: Arc<CallScope>,
        depth: u32,
        started: Instant,
        deadline: Instant,
        fuel: u64,
        parent: tracing::Span,
    ) -> crate::runtime::RunReport {
        let component = &tool.component;
        let mut limits = component.limits;
        limits.fuel = limits.fuel.min(fuel);
        let mut mounts = component.mounts.clone();
        if let Some(access) = component.workspace {
            let owner = Owner::of(scope.caller.principal.as_deref(), &scope.caller.user);
            match self.workspace_mount(owner, access) {
                Ok(m) => mounts.push(m),
                Err(e) => {
                    return crate::runtime::RunReport::failed(CallError::new(
                        ErrorKind::Internal,
                        format!("could not prepare the caller's workspace: {e}"),
                    ));
                }
            }
        }
        let setup = CallSetup {
            limits,
            mounts,
            env: component.env.clone(),
            context: CallContext {
                tool: Arc::from(tool.entry.name.as_str()),
                scope,
                depth,
                started,
                deadline: Deadline::new(deadline),
                host_call_timeout: component.limits.host_call_timeout.get(),
                dispatcher: self.clone(),
                parent_span: parent,
                span: tracing::Span::none(),
            },
            http: component.http.clone(),
        };
        self.runtime
            .run(&component.prepared, setup, &tool.entry.name, arguments)
            .await
    }

    fn workspace_mount(&self, owner: Owner<'_>, access: Access) -> std::io::Result<Mount> {
        let ws = self.workspaces.as_ref().ok_or_else(|| {
            std::io::Error::other(
                "the tool needs a workspace but the sandbox runs without --workspaces",
            )
        })?;
        Ok(Mount {
            host: ws.dir_for(owner)?,
            guest: "/workspace".into(),
            access,
            write_roles: Vec::new(),
        })
    }
}

/// Finds the tool, checks the caller's access, parses and validates the arguments.
/// Returns the tool and the arguments as JSON text.
fn check_call(
    loaded: &Loaded,
    caller: &Caller,
    tool_name: &str,
    arguments: Option<&str>,
) -> Result<(Arc<ToolHandle>, String), CallError> {
    let tool = authorize(loaded, caller, tool_name)?;
    let arguments = check_arguments(&tool, tool_name, arguments)?;
    // `execute_code` in JavaScript or TypeScript runs in the JavaScript engine (`codelang`).
    if let Some((engine, prepared)) = crate::codelang::route(tool_name, &arguments)? {
        let engine = loaded
            .catalog
            .get(engine)
            .ok_or_else(|| crate::codelang::engine_missing(engine))?;
        return Ok((engine.clone(), prepared));
    }
    Ok((tool, arguments))
}

/// Finds the tool and checks that one of the caller's roles grants it: `UnknownTool` or
/// `Forbidden` (which callers outside the sandbox must not be able to tell apart).
fn authorize(
    loaded: &Loaded,
    caller: &Caller,
    tool_name: &str,
) -> Result<Arc<ToolHandle>, CallError> {
    let tool = loaded
        .catalog
        .get(tool_name)
        .ok_or_else(|| CallError::new(ErrorKind::UnknownTool, "does not exist in this sandbox"))?;
    if let Some(policy) = &loaded.policy {
        let access = policy.check(&caller.roles, tool_name, &tool.entry.toolset);
        if access != PolicyAccess::Allowed {
            return Err(CallError::new(
                ErrorKind::Forbidden,
                format!(
                    "may not be called by user '{}': none of the roles [{}] grants it",
                    caller.user,
                    caller.roles.join(", ")
                ),
            ));
        }
    }
    Ok(tool.clone())
}

/// Bounds, parses and validates the arguments of an authorized call; the arguments as JSON text.
fn check_arguments(
    tool: &ToolHandle,
    tool_name: &str,
    arguments: Option<&str>,
) -> Result<String, CallError> {
    let text = arguments.unwrap_or("{}");
    // A JSON tree costs tens of bytes per byte of `[0,0,...]`: refuse large arguments before
    // building one.
    let cap = tool.component.limits.arguments;
    if text.len() > cap.as_usize() {
        return Err(CallError::new(
            ErrorKind::InvalidArguments,
            format!(
                "arguments for tool '{tool_name}' are {} bytes, past its limit of {cap}; send \
                 less (or raise `limits.arguments` in its tool set manifest)",
                text.len()
            ),
        ));
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        CallError::new(
            ErrorKind::InvalidArguments,
            format!("arguments for tool '{tool_name}' are not valid JSON: {e}"),
        )
    })?;
    validate_arguments(tool, &value)?;
    Ok(text.to_owned())
}

fn validate_arguments(tool: &ToolHandle, value: &serde_json::Value) -> Result<(), CallError> {
    let problems = mcp_contract::schema::problems(&tool.input, value);
    if problems.is_empty() {
        return Ok(());
    }
    // A problem quotes the offending value, which can be as large as the arguments: keep the
    // message short enough for an error (and a log line).
    let described = problems.join("; ");
    let shown = untrusted(&described, PROBLEMS_CAP);
    let cut = if shown.len() < described.len() {
        " (cut)"
    } else {
        ""
    };
    Err(CallError::new(
        ErrorKind::InvalidArguments,
        format!(
            "arguments for tool '{}' do not match its input schema: {shown}{cut}",
            tool.entry.name,
        ),
    ))
}

/// Longest description of schema mismatches in an error message.
const PROBLEMS_CAP: usize = 2048;

fn check_output(
    tool: &ToolHandle,
    value: serde_json::Value,
) -> Result<serde_json::Value, CallError> {
    let Some(schema) = &tool.output else {
        return Ok(value);
    };
    let problem = schema.iter_errors(&value).next().map(|e| e.to_string());
    match problem {
        None => Ok(value),
        Some(e) => Err(CallError::new(
            ErrorKind::BadOutput,
            format!("returned a result that does not match its output schema: {e}"),
        )),
    }
}

fn busy_error(admission: &Admission, caller: &Caller, why: Rejected) -> CallError {
    let message = match why {
        Rejected::ShareFull(share) => format!(
            "was not run: user '{}' already has {} calls running and {} waiting, their share \
             ({}%) of this sandbox's {} execution slots; retry when one of them finishes",
            untrusted(&caller.user, 128),
            share.slots,
            share.queue,
            share.percent,
            admission.max_concurrent()
        ),
        Rejected::QueueFull => format!(
            "was not run: the sandbox is busy ({} calls running, {} queued, both at their limits); retry shortly",
            admission.max_concurrent(),
            admission.max_queue()
        ),
        Rejected::QueueTimeout => {
            "was not run: no execution slot freed up in time; the sandbox is overloaded, retry shortly".to_owned()
        }
    };
    CallError::new(ErrorKind::Busy, message)
}

impl Dispatcher for Sandbox {
    fn call_nested<'a>(
        self: Arc<Self>,
        parent: &'a CallContext,
        span: tracing::Span,
        tool: &'a str,
        arguments: &'a str,
        fuel: u64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = NestedOutcome> + Send + 'a>> {
        Box::pin(async move {
            let started = Instant::now();
            let (outcome, hidden) = self.nested(parent, span, tool, arguments, fuel).await;
            audit_nested(parent, tool, &outcome, hidden, started.elapsed());
            outcome
        })
    }

    fn list_for(&self, caller: &Caller) -> Vec<ToolSummary> {
        let loaded = self.loaded.load();
        loaded
            .catalog
            .iter()
            .filter(|t| {
                loaded.policy.as_ref().is_none_or(|p| {
                    p.check(&caller.roles, &t.entry.name, &t.entry.toolset)
                        .is_allowed()
                })
            })
            .map(|t| ToolSummary {
                name: t.entry.name.clone(),
                component: t.entry.component.clone(),
                description: t.entry.description.clone(),
                input_schema: t.entry.input_schema.to_string(),
                output_schema: t.entry.output_schema.as_ref().map(|s| s.to_string()),
            })
            .collect()
    }
}

impl Sandbox {
    /// A tool call made from inside a guest: checked like a call from the gateway (with the
    /// tree's caller), run within what is left of the tree's budgets. A tool that does not
    /// exist and one the caller may not use get the same answer ([`unavailable_tool`]); the
    /// second value is the real reason, for the audit line only.
    async fn nested(
        self: Arc<Self>,
        parent: &CallContext,
        span: tracing::Span,
        tool: &str,
        arguments: &str,
        fuel: u64,
    ) -> (NestedOutcome, Option<ErrorKind>) {
        let mut hidden = None;
        let result = async {
            let scope = &parent.scope;
            if parent.depth + 1 > scope.max_depth {
                return Err(WitCallError::LimitExceeded(format!(
                    "tool calls may nest at most {} deep; '{}' calling '{tool}' would exceed that",
                    scope.max_depth, parent.tool
                )));
            }
            if !scope.take_nested() {
                return Err(WitCallError::LimitExceeded(format!(
                    "this call may make at most {} tool calls and has made them all",
                    scope.max_nested
                )));
            }
            let loaded = self.loaded.load_full();
            let caller = &scope.caller;
            // A tool this sandbox does not serve may be one of the gateway's federated tools:
            // the gateway admits it (user rate, authorization, tool rate) and runs it.
            if let Some(callback) = &scope.callback
                && loaded.catalog.get(tool).is_none()
            {
                return Ok(Ran::Gateway(callback.call(tool, arguments, &span).await));
            }
            self.admit_nested(&loaded, caller, mcp_ratelimit::Scope::User, tool)
                .await?;
            let handle = authorize(&loaded, caller, tool).map_err(|e| {
                hidden = Some(e.kind);
                unavailable_tool(tool)
            })?;
            self.admit_nested(&loaded, caller, mcp_ratelimit::Scope::UserTool, tool)
                .await?;
            let args = check_arguments(&handle, tool, Some(arguments))
                .map_err(|e| WitCallError::InvalidArguments(e.message))?;
            let child_budget = handle.component.limits.timeout.get();
            let now = Instant::now();
            let deadline = (now + child_budget).min(parent.deadline.get());
            let report = Box::pin(self.run_tool(
                &handle,
                &args,
                scope.clone(),
                parent.depth + 1,
                now,
                deadline,
                fuel,
                span,
            ))
            .await;
            Ok(Ran::Here(handle, report))
        }
        .await;
        let (handle, report) = match result {
            Ok(Ran::Here(handle, report)) => (handle, report),
            Ok(Ran::Gateway(result)) => return (result.into(), None),
            Err(e) => return (Err(e).into(), hidden),
        };
        metrics::nested_call(
            &handle.entry.name,
            report.outcome.as_ref().err().map(|e| e.kind),
        );
        let result = match report.outcome.and_then(|v| check_output(&handle, v)) {
            Ok(v) => Ok(v.to_string()),
            Err(e) => Err(match e.kind {
                ErrorKind::ToolError => WitCallError::Failed(e.message),
                ErrorKind::InvalidArguments => WitCallError::InvalidArguments(e.message),
                kind => WitCallError::Aborted(AbortReason {
                    kind: kind.as_str().to_owned(),
                    message: format!("tool '{tool}' {}", e.message),
                }),
            }),
        };
        let outcome = NestedOutcome {
            result,
            fuel_consumed: report.fuel_consumed,
        };
        (outcome, None)
    }
}

/// Where a call made from inside a guest ran: here, or (a federated tool) at the gateway.
enum Ran {
    Here(Arc<ToolHandle>, crate::runtime::RunReport),
    Gateway(Result<String, WitCallError>),
}

/// The audit line of a tool call made from inside a guest: who (user and principal), what
/// (tool, depth, the tool that made it), how it ended, how long it took, and the request id of
/// the gateway call it belongs to. Strings a guest chose are bounded and escaped. `hidden` is
/// why a tool the guest was told is unavailable was refused (`unknown_tool` or `forbidden`).
fn audit_nested(
    parent: &CallContext,
    tool: &str,
    outcome: &NestedOutcome,
    hidden: Option<ErrorKind>,
    took: Duration,
) {
    let caller = &parent.scope.caller;
    let outcome_kind = match (&outcome.result, hidden) {
        (_, Some(kind)) => kind.as_str(),
        (Ok(_), None) => "ok",
        (Err(WitCallError::NotFound(_)), None) => "unknown_tool",
        (Err(WitCallError::Forbidden(_)), None) => "forbidden",
        (Err(WitCallError::InvalidArguments(_)), None) => "invalid_arguments",
        (Err(WitCallError::Failed(_)), None) => "tool_error",
        (Err(WitCallError::Aborted(reason)), None) => reason.kind.as_str(),
        (Err(WitCallError::LimitExceeded(_)), None) => "nested_call_limit",
    };
    tracing::info!(
        target: "audit",
        event = "nested_tool_call",
        user = %untrusted(&caller.user, 256),
        principal = %untrusted(caller.principal.as_deref().unwrap_or(""), 512),
        tool = %untrusted(tool, 128),
        parent_tool = %parent.tool,
        depth = parent.depth + 1,
        outcome = outcome_kind,
        duration_us = took.as_micros() as u64,
        fuel_consumed = outcome.fuel_consumed,
        parent_request_id = %untrusted(&caller.request_id, 256),
        "tool call from code"
    );
}

/// Milliseconds since the Unix epoch (grant expiry is wall-clock time).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
