//! What a [`wasmtime::Store`] holds for one call: WASI state, the limiter, and the call's
//! context (who it runs for, its deadline, the shared nested-call budget).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::{CallError as WitCallError, ToolSummary};
use super::http::{HttpPolicy, OutboundHttp};
use super::limiter::{CallLimiter, TreeMemory};

/// The authenticated caller a call runs for, as the gateway forwarded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: String,
    pub roles: Vec<String>,
    pub request_id: String,
    /// The caller's immutable, issuer-scoped id (`oidc:<issuer>#<sub>`, `key:<key id>`); what
    /// per-caller state (the workspace) is keyed on. `None` only without a gateway (dev).
    pub principal: Option<String>,
}

impl Caller {
    /// What per-caller state (the fair share of slots) is keyed on: the principal, else (only
    /// without a gateway) the user name.
    pub fn key(&self) -> &str {
        self.principal.as_deref().unwrap_or(&self.user)
    }
}

/// State shared by every call in one call tree (a top-level call and the tool calls it makes
/// through the host): the caller and the nested-call budget.
#[derive(Debug)]
pub struct CallScope {
    pub caller: Caller,
    nested: AtomicU32,
    pub max_nested: u32,
    pub max_depth: u32,
    /// The linear memory every instance of the tree may hold together.
    pub memory: Arc<TreeMemory>,
    /// The way back to the gateway for its federated tools, when the call's grant names one.
    pub callback: Option<Arc<super::callback::GatewayCallback>>,
}

impl CallScope {
    /// A scope whose memory is bounded only by each call's own cap (see
    /// [`CallScope::with_memory_budget`]).
    pub fn new(caller: Caller, max_nested: u32, max_depth: u32) -> Self {
        Self {
            caller,
            nested: AtomicU32::new(0),
            max_nested,
            max_depth,
            memory: TreeMemory::new(usize::MAX),
            callback: None,
        }
    }

    /// Sends calls of tools this sandbox does not serve back to the gateway through `callback`.
    pub fn with_callback(mut self, callback: super::callback::GatewayCallback) -> Self {
        self.callback = Some(Arc::new(callback));
        self
    }

    /// Bounds the memory the whole tree holds at once to `bytes` (the top-level tool's cap).
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.memory = TreeMemory::new(bytes);
        self
    }

    /// Takes one nested call from the budget; `false` when it is spent.
    pub fn take_nested(&self) -> bool {
        self.nested
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_nested).then_some(n + 1)
            })
            .is_ok()
    }

    pub fn nested_calls(&self) -> u32 {
        self.nested.load(Ordering::Acquire)
    }
}

/// Runs tool calls made from inside a guest. Implemented by the sandbox service, which knows
/// the catalog and the policy; the runtime only forwards.
pub trait Dispatcher: Send + Sync {
    /// Calls `tool` with `arguments` (JSON text) on behalf of `parent`'s caller, with at most
    /// `fuel` (what the parent has left: the tree shares one fuel budget).
    /// `span` is the caller's `host_call` span, under which the callee's spans go.
    fn call_nested<'a>(
        self: Arc<Self>,
        parent: &'a CallContext,
        span: tracing::Span,
        tool: &'a str,
        arguments: &'a str,
        fuel: u64,
    ) -> Pin<Box<dyn Future<Output = NestedOutcome> + Send + 'a>>;

    /// The tools `caller` may call.
    fn list_for(&self, caller: &Caller) -> Vec<ToolSummary>;
}

/// What a nested call produced, and the fuel it used (which the parent pays for).
#[derive(Debug)]
pub struct NestedOutcome {
    pub result: Result<String, WitCallError>,
    pub fuel_consumed: u64,
}

impl From<Result<String, WitCallError>> for NestedOutcome {
    fn from(result: Result<String, WitCallError>) -> Self {
        Self {
            result,
            fuel_consumed: 0,
        }
    }
}

/// A call's deadline, shared by the store (the epoch callback, `limit-deadline`) and the
/// host-side timer that stops a guest blocked in a host call. It only ever moves earlier.
#[derive(Debug, Clone)]
pub struct Deadline(Arc<DeadlineCell>);

#[derive(Debug)]
struct DeadlineCell {
    base: Instant,
    /// Nanoseconds after `base`.
    at: std::sync::atomic::AtomicU64,
}

impl Deadline {
    pub fn new(at: Instant) -> Self {
        let base = Instant::now().min(at);
        let nanos = at.duration_since(base).as_nanos().min(u128::from(u64::MAX)) as u64;
        Self(Arc::new(DeadlineCell {
            base,
            at: std::sync::atomic::AtomicU64::new(nanos),
        }))
    }

    pub fn get(&self) -> Instant {
        self.0.base + Duration::from_nanos(self.0.at.load(Ordering::Acquire))
    }

    /// Brings the deadline forward to `to`; a later `to` changes nothing.
    pub fn shorten(&self, to: Instant) {
        let nanos = to.saturating_duration_since(self.0.base).as_nanos() as u64;
        self.0.at.fetch_min(nanos, Ordering::AcqRel);
    }

    /// Time left (zero once passed).
    pub fn remaining(&self) -> Duration {
        self.get().saturating_duration_since(Instant::now())
    }
}

/// One call's context, as the host imports see it.
pub struct CallContext {
    /// The tool this store runs (for logs and error messages).
    pub tool: Arc<str>,
    pub scope: Arc<CallScope>,
    /// 0 for a call from the gateway, 1 for a tool it calls, and so on.
    pub depth: u32,
    pub started: Instant,
    /// When the call is stopped. `limit-deadline` may bring it forward, never push it back.
    pub deadline: Deadline,
    pub host_call_timeout: Duration,
    pub dispatcher: Arc<dyn Dispatcher>,
    /// Where this call's `instantiate` and `guest_run` spans go: the server span of a call
    /// from the gateway, or the `host_call` span of a nested call. None when traces are off.
    pub parent_span: tracing::Span,
    /// The call's `guest_run` span once the instance is up (none before, or when traces are
    /// off): parent of its host-call spans and of the guest's log events.
    pub span: tracing::Span,
}

impl CallContext {
    /// Time left before the deadline (zero once it has passed).
    pub fn remaining(&self) -> Duration {
        self.deadline.remaining()
    }
}

/// The data of a call's store.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: CallLimiter,
    /// Fuel the call started with, to report what it used.
    pub fuel_limit: u64,
    /// Log lines written so far (capped by the host).
    pub log_lines: u32,
    /// Detail the guest set for the failure it is about to report (`fail-detail`), as the
    /// JSON text it gave; checked when the call ends.
    pub fail_detail: Option<String>,
    pub context: CallContext,
    http_ctx: WasiHttpCtx,
    /// Outbound HTTP: refused unless the tool set granted it (see `runtime::http`).
    http: OutboundHttp,
}

impl CallState {
    pub fn new(
        wasi: WasiCtx,
        limiter: CallLimiter,
        fuel_limit: u64,
        context: CallContext,
        http: Option<Arc<HttpPolicy>>,
    ) -> Self {
        Self {
            http_ctx: WasiHttpCtx::new(),
            http: OutboundHttp::new(http, &context),
            wasi,
            table: ResourceTable::new(),
            limiter,
            fuel_limit,
            log_lines: 0,
            fail_detail: None,
            context,
        }
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        // Requests' spans go under the call's `guest_run` span, set once the guest runs.
        if self.http.span.is_none() && !self.context.span.is_none() {
            self.http.span = self.context.span.clone();
        }
        WasiHttpCtxView {
            ctx: &mut self.http_ctx,
            table: &mut self.table,
            hooks: &mut self.http,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_only_move_earlier() {
        let now = Instant::now();
        let d = Deadline::new(now + Duration::from_secs(10));
        d.shorten(now + Duration::from_secs(20));
        assert!(d.get() <= now + Duration::from_secs(10) + Duration::from_millis(1));
        d.shorten(now + Duration::from_secs(2));
        assert!(d.get() <= now + Duration::from_secs(2) + Duration::from_millis(1));
        assert!(d.get() >= now + Duration::from_secs(2) - Duration::from_millis(1));
        let copy = d.clone();
        copy.shorten(now);
        assert!(d.remaining() <= Duration::from_millis(1));
    }

    #[test]
    fn callers_are_keyed_on_their_principal_not_their_name() {
        let alice = |principal: Option<&str>| Caller {
            user: "alice".into(),
            roles: vec![],
            request_id: "r".into(),
            principal: principal.map(str::to_owned),
        };
        assert_eq!(
            alice(Some("oidc:https://idp#1")).key(),
            "oidc:https://idp#1"
        );
        assert_ne!(
            alice(Some("oidc:https://idp#1")).key(),
            alice(Some("apikey:alice")).key()
        );
        assert_eq!(alice(None).key(), "alice");
    }

    #[test]
    fn nested_budget_is_shared_and_bounded() {
        let caller = Caller {
            user: "alice".into(),
            roles: vec![],
            request_id: "r1".into(),
            principal: None,
        };
        let scope = CallScope::new(caller, 2, 1);
        assert!(scope.take_nested());
        assert!(scope.take_nested());
        assert!(!scope.take_nested());
        assert_eq!(scope.nested_calls(), 2);
    }
}
