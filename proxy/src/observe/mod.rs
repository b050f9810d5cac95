//! What the gateway tells operators about each request: Prometheus metrics and the audit line,
//! both written once per request from its [`RequestRecord`] when the request ends, and the
//! request's trace spans ([`trace`]), finished from the same record.
//!
//! Label values come from closed sets (HTTP status, MCP method names we know, auth failure
//! reasons, tool names from the catalog); `user` appears only on `mcp_requests_total`.

pub mod audit;
pub mod trace;

use std::time::Instant;

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub use audit::{AuditLog, Status};

/// Latency buckets (seconds): 100 µs to 60 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0,
    2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Installs the Prometheus recorder.
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)?
        .install_recorder()?;
    describe();
    mcp_telemetry::describe_metrics();
    mcp_telemetry::spawn_metrics_upkeep(handle.clone());
    Ok(handle)
}

fn describe() {
    describe_counter!(
        "http_requests_total",
        "HTTP requests served, by status and method"
    );
    describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency"
    );
    describe_counter!(
        "mcp_requests_total",
        "MCP requests, by JSON-RPC method and user"
    );
    describe_counter!(
        "mcp_tool_calls_total",
        "tools/call requests, by tool and outcome"
    );
    describe_counter!("mcp_auth_failures_total", "Rejected credentials, by reason");
    describe_counter!(
        "mcp_requests_shed_total",
        "MCP requests refused because a caller's share or the gateway's budget of requests in flight or buffered bytes was used up"
    );
    describe_gauge!(
        "mcp_idp_up",
        "1 while the identity provider's signing keys are cached and their last fetch succeeded"
    );
    describe_gauge!(
        "mcp_idp_last_success_timestamp_seconds",
        "When the identity provider's signing keys were last fetched successfully"
    );
    describe_counter!(
        "mcp_rate_limited_total",
        "Requests refused by a rate limit, by scope"
    );
    describe_histogram!(
        "mcp_sandbox_duration_seconds",
        Unit::Seconds,
        "Time of tool calls through a sandbox, as the gateway sees it"
    );
    describe_gauge!(
        "mcp_sandbox_up",
        "Whether a sandbox answered its last tool list fetch"
    );
    describe_gauge!("mcp_catalog_tools", "Tools in the merged catalog");
    describe_gauge!(
        "mcp_api_key_expiry_timestamp",
        "Expiry of each API key (Unix seconds; absent for keys that never expire)"
    );
    describe_counter!("mcp_policy_reloads_total", "Policy reloads, by result");
    describe_gauge!("mcp_api_keys", "API keys in force");
    describe_gauge!(
        "mcp_api_key_invalid_files",
        "Key files ignored as invalid (their last good record stays in force)"
    );
    describe_counter!("mcp_api_key_reloads_total", "Key directory reloads");
    describe_counter!(
        "mcp_api_key_reload_errors_total",
        "Key directory reloads that could not read the directory"
    );
    describe_counter!(
        "mcp_tool_definition_changes_total",
        "Tools whose definition changed after it was pinned"
    );
    describe_counter!(
        "mcp_federated_requests_total",
        "resources/read and prompts/get requests sent to upstream MCP servers, by server, method and status"
    );
    describe_counter!(
        "mcp_config_reloads_total",
        "Reloads of the gateway config file's mcp_servers section, by result (ok, rejected)"
    );
    describe_gauge!(
        "mcp_upstream_server_up",
        "Whether an upstream MCP server answered its last request"
    );
}

/// MCP methods counted under their own name; anything else is `other`.
const KNOWN_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "server/discover",
    "notifications/initialized",
    "notifications/cancelled",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
];

pub fn method_label(method: &str) -> &'static str {
    KNOWN_METHODS
        .iter()
        .copied()
        .find(|m| *m == method)
        .unwrap_or(if method.starts_with("notifications/") {
            "notifications/other"
        } else {
            "other"
        })
}

/// The `status` label of an HTTP status: the statuses the gateway answers as static strings
/// (no allocation per request), any other as its number.
fn status_label(status: u16) -> metrics::SharedString {
    const KNOWN: &[(u16, &str)] = &[
        (200, "200"),
        (202, "202"),
        (204, "204"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (405, "405"),
        (406, "406"),
        (408, "408"),
        (413, "413"),
        (415, "415"),
        (429, "429"),
        (499, "499"),
        (500, "500"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
    ];
    match KNOWN.iter().find(|(n, _)| *n == status) {
        Some((_, s)) => (*s).into(),
        None => status.to_string().into(),
    }
}

/// Everything recorded about one request while it is served.
pub struct RequestRecord {
    pub started: Instant,
    pub request_id: String,
    /// The client's own `x-request-id`, if it sent one.
    pub client_request_id: Option<String>,
    pub client_ip: Option<String>,
    pub http_method: &'static str,
    pub mcp: bool,
    pub user: Option<std::sync::Arc<str>>,
    pub principal: Option<std::sync::Arc<str>>,
    pub auth: Option<&'static str>,
    pub key_id: Option<std::sync::Arc<str>>,
    pub method: Option<String>,
    pub tool: Option<String>,
    pub tool_known: bool,
    pub sandbox: Option<String>,
    pub upstream_seconds: Option<f64>,
    pub status: Status,
    pub error: Option<String>,
    pub session_id: Option<String>,
    pub trace_id: Option<String>,
    pub arguments_sha256: Option<String>,
    pub arguments: Option<Box<serde_json::value::RawValue>>,
    /// The request's server span (none unless traces are exported and this is MCP).
    pub trace: trace::RequestTrace,
    /// Gives a large request's CPU turn back ([`crate::http::fair`]): fired by the call path
    /// when the request leaves for its sandbox or upstream server.
    pub turn_release: Option<crate::http::fair::Release>,
}

impl RequestRecord {
    pub fn new(request_id: String) -> Self {
        Self {
            started: Instant::now(),
            request_id,
            client_request_id: None,
            client_ip: None,
            http_method: "OTHER",
            mcp: false,
            user: None,
            principal: None,
            auth: None,
            key_id: None,
            method: None,
            tool: None,
            tool_known: false,
            sandbox: None,
            upstream_seconds: None,
            status: Status::Success,
            error: None,
            session_id: None,
            trace_id: None,
            arguments_sha256: None,
            arguments: None,
            trace: trace::RequestTrace::none(),
            turn_release: None,
        }
    }

    /// Gives the request's CPU turn back, if it holds one: it is about to wait, not compute.
    pub fn release_turn(&mut self) {
        if let Some(r) = self.turn_release.take() {
            r.fire();
        }
    }

    /// The upstream MCP server that served a `resources/*` or `prompts/*` request (a
    /// federated `tools/call` names it in its tool's prefix).
    fn upstream_server(&self) -> Option<&str> {
        let method = self.method.as_deref()?;
        let federated = method.starts_with("resources/") || method.starts_with("prompts/");
        self.sandbox.as_deref().filter(|_| federated)
    }

    pub fn fail(&mut self, status: Status, error: impl Into<String>) {
        self.status = status;
        self.error = Some(error.into());
    }

    /// Emits metrics and, for MCP requests, the audit line.
    pub fn finish(&self, http_status: u16, audit: &AuditLog) {
        let elapsed = self.started.elapsed();
        self.trace.finish(self, http_status);
        counter!("http_requests_total", "status" => status_label(http_status), "method" => self.http_method)
            .increment(1);
        histogram!("http_request_duration_seconds", "method" => self.http_method)
            .record(elapsed.as_secs_f64());
        if !self.mcp {
            return;
        }
        if let Some(m) = &self.method {
            let user: metrics::SharedString = match &self.user {
                Some(u) => u.clone().into(),
                None => "anonymous".into(),
            };
            counter!("mcp_requests_total", "method" => method_label(m), "user" => user)
                .increment(1);
        }
        if let Some(tool) = &self.tool {
            let label = if self.tool_known {
                tool.clone()
            } else {
                "unknown".to_owned()
            };
            counter!("mcp_tool_calls_total", "tool_name" => label.clone(), "status" => self.status.as_str()).increment(1);
            if let (Some(sandbox), Some(secs)) = (&self.sandbox, self.upstream_seconds) {
                histogram!("mcp_sandbox_duration_seconds", "sandbox" => sandbox.clone(), "tool" => label).record(secs);
            }
        }
        if !audit.is_on() {
            return;
        }
        audit.write(&audit::AuditRecord {
            kind: "mcp_request",
            timestamp: audit::now_rfc3339(),
            user: self.user.as_deref(),
            principal: self.principal.as_deref(),
            auth: self.auth,
            key_id: self.key_id.as_deref(),
            method: self.method.as_deref(),
            tool: self.tool.as_deref(),
            status: self.status,
            error: self.error.as_deref(),
            duration_ms: (elapsed.as_secs_f64() * 1e6).round() / 1e3,
            client_ip: self.client_ip.clone(),
            session_id: self.session_id.as_deref(),
            trace_id: self.trace_id.as_deref(),
            request_id: &self.request_id,
            client_request_id: self.client_request_id.as_deref(),
            arguments_sha256: self.arguments_sha256.as_deref(),
            arguments: self.arguments.as_deref(),
            server: self.upstream_server(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{RequestRecord, method_label, status_label};

    #[test]
    fn method_labels_are_a_closed_set_with_resources_and_prompts_named() {
        for m in [
            "initialize",
            "tools/call",
            "resources/list",
            "resources/templates/list",
            "resources/read",
            "prompts/list",
            "prompts/get",
        ] {
            assert_eq!(method_label(m), m);
        }
        assert_eq!(method_label("resources/anything"), "other");
        assert_eq!(method_label("made/up"), "other");
        assert_eq!(
            method_label("notifications/progress"),
            "notifications/other"
        );
    }

    #[test]
    fn the_upstream_server_is_named_for_resources_and_prompts_only() {
        let mut rec = RequestRecord::new("r".into());
        rec.sandbox = Some("tickets".into());
        rec.method = Some("resources/read".into());
        assert_eq!(rec.upstream_server(), Some("tickets"));
        rec.method = Some("prompts/get".into());
        assert_eq!(rec.upstream_server(), Some("tickets"));
        rec.method = Some("tools/call".into());
        assert_eq!(rec.upstream_server(), None);
    }

    #[test]
    fn status_labels_are_the_status_numbers() {
        for status in [200u16, 202, 401, 429, 499, 503, 418, 599] {
            assert_eq!(&*status_label(status), status.to_string());
        }
    }
}
