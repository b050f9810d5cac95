//! The audit log: one JSON line per MCP request, to stdout or a file.
//!
//! Fields: `type`, `timestamp` (RFC 3339), `user`, `auth`, `key_id`, `method`, `tool`, `status`
//! (success|error|denied|rate_limited), `error`, `duration_ms`, `client_ip`, `session_id`,
//! `trace_id`, `request_id`, and `arguments_sha256` / `arguments` only when configured;
//! `server` (the upstream MCP server) on `resources/*` and `prompts/*` lines.
//! Tokens and key secrets are never written: the record has no field that could hold one.

use std::io::Write;
use std::sync::Mutex;

use serde::Serialize;

use crate::config::AuditConfig;

/// How an MCP request ended, for the audit line and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Success,
    Error,
    Denied,
    RateLimited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Error => "error",
            Status::Denied => "denied",
            Status::RateLimited => "rate_limited",
        }
    }
}

/// An audit line for a tool whose definition changed after it was pinned.
#[derive(Debug, Serialize)]
pub struct DefinitionChangeRecord<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub timestamp: String,
    pub tool: &'a str,
    pub sandbox: &'a str,
    /// Whether the changed tool is withheld (`catalog.block_changed_definitions`).
    pub blocked: bool,
}

/// One audit line.
#[derive(Debug, Serialize)]
pub struct AuditRecord<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub timestamp: String,
    /// The display name (the operations guide's queries use it).
    pub user: Option<&'a str>,
    /// The immutable, issuer-scoped id the gateway keys the caller on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<&'a str>,
    pub auth: Option<&'static str>,
    pub key_id: Option<&'a str>,
    pub method: Option<&'a str>,
    pub tool: Option<&'a str>,
    pub status: Status,
    pub error: Option<&'a str>,
    pub duration_ms: f64,
    pub client_ip: Option<String>,
    pub session_id: Option<&'a str>,
    pub trace_id: Option<&'a str>,
    pub request_id: &'a str,
    /// The client's own `x-request-id`, kept apart from ours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments_sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<&'a serde_json::value::RawValue>,
    /// The upstream MCP server that served a `resources/*` or `prompts/*` request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<&'a str>,
}

enum Sink {
    Off,
    Stdout,
    File(Mutex<std::fs::File>),
}

/// Where audit lines go.
pub struct AuditLog {
    sink: Sink,
}

impl AuditLog {
    pub fn open(cfg: &AuditConfig) -> std::io::Result<Self> {
        let sink = match cfg.output.as_str() {
            "off" => Sink::Off,
            "stdout" => Sink::Stdout,
            path => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?;
                Sink::File(Mutex::new(f))
            }
        };
        Ok(Self { sink })
    }

    /// Whether audit lines are written at all (`audit.output: off` writes none, so a request
    /// need not build its record).
    pub fn is_on(&self) -> bool {
        !matches!(self.sink, Sink::Off)
    }

    /// Writes one request record as one line. A failing sink is reported, never fatal.
    pub fn write(&self, record: &AuditRecord<'_>) {
        self.write_event(record);
    }

    /// Writes any other audit event (e.g. `tool_definition_changed`) as one line.
    pub fn write_event(&self, event: &impl Serialize) {
        if matches!(self.sink, Sink::Off) {
            return;
        }
        let mut line = match serde_json::to_vec(event) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode an audit record");
                return;
            }
        };
        line.push(b'\n');
        let result = match &self.sink {
            Sink::Off => Ok(()),
            Sink::Stdout => std::io::stdout().lock().write_all(&line),
            Sink::File(f) => f.lock().unwrap_or_else(|e| e.into_inner()).write_all(&line),
        };
        if let Err(e) = result {
            metrics::counter!("mcp_audit_write_failures_total").increment(1);
            tracing::error!(error = %e, "cannot write an audit record");
        }
    }
}

/// Now, as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_millis())
}

/// Formats a Unix time as `YYYY-MM-DDTHH:MM:SS.mmmZ` (proleptic Gregorian, UTC).
pub fn rfc3339(secs: i64, millis: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{millis:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(1_795_650_000, 123), "2026-11-25T23:40:00.123Z");
    }

    #[test]
    fn records_serialise_with_the_documented_field_names() {
        let r = AuditRecord {
            principal: None,
            client_request_id: None,
            kind: "mcp_request",
            timestamp: now_rfc3339(),
            user: Some("alice"),
            auth: Some("api_key"),
            key_id: Some("k1"),
            method: Some("tools/call"),
            tool: Some("echo"),
            status: Status::RateLimited,
            error: None,
            duration_ms: 1.5,
            client_ip: Some("127.0.0.1".into()),
            session_id: None,
            trace_id: None,
            request_id: "r1",
            arguments_sha256: None,
            arguments: None,
            server: None,
        };
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        for key in [
            "type",
            "timestamp",
            "user",
            "auth",
            "key_id",
            "method",
            "tool",
            "status",
            "error",
            "duration_ms",
            "client_ip",
            "session_id",
            "trace_id",
            "request_id",
        ] {
            assert!(v.get(key).is_some(), "missing {key}: {v}");
        }
        assert_eq!(v["status"], "rate_limited");
        assert!(v.get("arguments").is_none());
    }
}
