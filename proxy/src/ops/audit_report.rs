//! `mcp-gateway audit`: summarises audit logs (the gateway's JSON lines) from files or stdin:
//! requests by user, top tools, errors by kind, auth failures, slow requests, and API keys that
//! have not been used for N days.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use mcp_gateway_auth::KeyStore;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What to summarise.
pub struct AuditOptions {
    /// Only lines newer than this.
    pub since: Option<Duration>,
    /// Requests slower than this many milliseconds are listed.
    pub slow_ms: f64,
    /// Rows per table.
    pub top: usize,
    /// With a key directory, report keys unused for `unused_days`.
    pub keys_dir: Option<PathBuf>,
    pub unused_days: u64,
    pub json: bool,
}

#[derive(Deserialize)]
struct Line {
    #[serde(rename = "type")]
    kind: Option<String>,
    timestamp: Option<String>,
    user: Option<String>,
    key_id: Option<String>,
    method: Option<String>,
    tool: Option<String>,
    status: Option<String>,
    error: Option<String>,
    duration_ms: Option<f64>,
    request_id: Option<String>,
}

#[derive(Serialize, Default)]
pub struct Report {
    pub requests: u64,
    pub skipped_lines: u64,
    pub first: Option<String>,
    pub last: Option<String>,
    pub by_status: BTreeMap<String, u64>,
    pub by_user: Vec<(String, u64)>,
    pub by_tool: Vec<ToolRow>,
    pub errors_by_kind: Vec<(String, u64)>,
    pub auth_failures_by_reason: Vec<(String, u64)>,
    pub slow: Vec<SlowRow>,
    pub slow_total: u64,
    pub unused_keys: Option<Vec<UnusedKey>>,
}

#[derive(Serialize, Default, Clone)]
pub struct ToolRow {
    pub tool: String,
    pub calls: u64,
    pub errors: u64,
    pub p95_ms: f64,
}

#[derive(Serialize, Clone)]
pub struct SlowRow {
    pub timestamp: String,
    pub user: String,
    pub method: String,
    pub tool: String,
    pub duration_ms: f64,
    pub request_id: String,
}

#[derive(Serialize, Clone)]
pub struct UnusedKey {
    pub key_id: String,
    pub user: String,
    pub last_seen: Option<String>,
}

/// Reads audit lines and builds the report.
pub fn summarise(inputs: Vec<Box<dyn BufRead>>, opts: &AuditOptions) -> std::io::Result<Report> {
    let cutoff = opts.since.map(|d| OffsetDateTime::now_utc() - d);
    let mut r = Report::default();
    let mut users: HashMap<String, u64> = HashMap::new();
    let mut tools: HashMap<String, (u64, u64, Vec<f64>)> = HashMap::new();
    let mut errors: HashMap<String, u64> = HashMap::new();
    let mut auth: HashMap<String, u64> = HashMap::new();
    let mut last_seen: HashMap<String, OffsetDateTime> = HashMap::new();
    let mut slow: Vec<SlowRow> = Vec::new();
    for input in inputs {
        for line in input.lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let Ok(l) = serde_json::from_str::<Line>(&line) else {
                r.skipped_lines += 1;
                continue;
            };
            if l.kind.as_deref() != Some("mcp_request") {
                r.skipped_lines += 1;
                continue;
            }
            let ts = l
                .timestamp
                .as_deref()
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
            if let (Some(cut), Some(ts)) = (cutoff, ts)
                && ts < cut
            {
                continue;
            }
            r.requests += 1;
            if let Some(t) = &l.timestamp {
                if r.first.as_ref().is_none_or(|f| t < f) {
                    r.first = Some(t.clone());
                }
                if r.last.as_ref().is_none_or(|f| t > f) {
                    r.last = Some(t.clone());
                }
            }
            let status = l.status.clone().unwrap_or_else(|| "unknown".into());
            *r.by_status.entry(status.clone()).or_default() += 1;
            let user = l.user.clone().unwrap_or_else(|| "(unauthenticated)".into());
            *users.entry(user.clone()).or_default() += 1;
            if let (Some(k), Some(ts)) = (&l.key_id, ts) {
                let e = last_seen.entry(k.clone()).or_insert(ts);
                *e = (*e).max(ts);
            }
            let duration = l.duration_ms.unwrap_or(0.0);
            if let Some(tool) = &l.tool {
                let e = tools.entry(tool.clone()).or_default();
                e.0 += 1;
                e.1 += u64::from(status != "success");
                e.2.push(duration);
            }
            if let Some(err) = &l.error {
                if status == "denied" && l.user.is_none() {
                    *auth.entry(err.clone()).or_default() += 1;
                } else {
                    *errors.entry(err.clone()).or_default() += 1;
                }
            }
            if duration > opts.slow_ms {
                r.slow_total += 1;
                slow.push(SlowRow {
                    timestamp: l.timestamp.clone().unwrap_or_default(),
                    user,
                    method: l.method.clone().unwrap_or_default(),
                    tool: l.tool.clone().unwrap_or_default(),
                    duration_ms: duration,
                    request_id: l.request_id.clone().unwrap_or_default(),
                });
            }
        }
    }
    r.by_user = top(users, opts.top);
    r.errors_by_kind = top(errors, opts.top);
    r.auth_failures_by_reason = top(auth, opts.top);
    let mut tool_rows: Vec<ToolRow> = tools
        .into_iter()
        .map(|(tool, (calls, errors, mut d))| {
            d.sort_by(f64::total_cmp);
            let idx = ((d.len() as f64 * 0.95).ceil() as usize).clamp(1, d.len()) - 1;
            ToolRow {
                tool,
                calls,
                errors,
                p95_ms: d[idx],
            }
        })
        .collect();
    tool_rows.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.tool.cmp(&b.tool)));
    tool_rows.truncate(opts.top);
    r.by_tool = tool_rows;
    slow.sort_by(|a, b| b.duration_ms.total_cmp(&a.duration_ms));
    slow.truncate(opts.top);
    r.slow = slow;
    if let Some(dir) = &opts.keys_dir {
        r.unused_keys = Some(unused_keys(dir, &last_seen, opts.unused_days)?);
    }
    Ok(r)
}

fn top(map: HashMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

/// Active keys not seen in the log within `days` (keys younger than that are not listed).
fn unused_keys(
    dir: &std::path::Path,
    last_seen: &HashMap<String, OffsetDateTime>,
    days: u64,
) -> std::io::Result<Vec<UnusedKey>> {
    let store = KeyStore::open(dir).map_err(std::io::Error::other)?;
    let now = SystemTime::now();
    let window = Duration::from_secs(days * 86_400);
    let cutoff = OffsetDateTime::now_utc() - window;
    let mut out = Vec::new();
    for r in store.records() {
        let active = r.revoked.is_none() && r.expires_at().is_none_or(|e| e > now);
        let old_enough = r.created <= cutoff;
        let id = r.id.to_string();
        let seen = last_seen.get(&id).copied();
        if active && old_enough && seen.is_none_or(|s| s < cutoff) {
            out.push(UnusedKey {
                key_id: id,
                user: r.user.clone(),
                last_seen: seen.and_then(|s| s.format(&Rfc3339).ok()),
            });
        }
    }
    Ok(out)
}

/// Writes the report as text tables.
pub fn render(r: &Report, opts: &AuditOptions, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{} requests from {} to {} ({} other lines skipped)",
        r.requests,
        r.first.as_deref().unwrap_or("-"),
        r.last.as_deref().unwrap_or("-"),
        r.skipped_lines
    )?;
    let status: Vec<String> = r
        .by_status
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    writeln!(out, "by status: {}", status.join(", "))?;
    table(
        out,
        "requests by user",
        &["USER", "REQUESTS"],
        r.by_user
            .iter()
            .map(|(u, n)| vec![u.clone(), n.to_string()]),
    )?;
    table(
        out,
        "top tools",
        &["TOOL", "CALLS", "ERRORS", "P95 MS"],
        r.by_tool.iter().map(|t| {
            vec![
                t.tool.clone(),
                t.calls.to_string(),
                t.errors.to_string(),
                format!("{:.1}", t.p95_ms),
            ]
        }),
    )?;
    table(
        out,
        "errors by kind",
        &["ERROR", "COUNT"],
        r.errors_by_kind
            .iter()
            .map(|(e, n)| vec![e.clone(), n.to_string()]),
    )?;
    table(
        out,
        "authentication failures by reason",
        &["REASON", "COUNT"],
        r.auth_failures_by_reason
            .iter()
            .map(|(e, n)| vec![e.clone(), n.to_string()]),
    )?;
    table(
        out,
        &format!("slow requests (over {} ms: {})", opts.slow_ms, r.slow_total),
        &["TIMESTAMP", "USER", "METHOD", "TOOL", "MS", "REQUEST ID"],
        r.slow.iter().map(|s| {
            vec![
                s.timestamp.clone(),
                s.user.clone(),
                s.method.clone(),
                s.tool.clone(),
                format!("{:.1}", s.duration_ms),
                s.request_id.clone(),
            ]
        }),
    )?;
    if let Some(keys) = &r.unused_keys {
        table(
            out,
            &format!("active keys unused for {} days", opts.unused_days),
            &["KEY ID", "USER", "LAST SEEN"],
            keys.iter().map(|k| {
                vec![
                    k.key_id.clone(),
                    k.user.clone(),
                    k.last_seen
                        .clone()
                        .unwrap_or_else(|| "never (in these logs)".into()),
                ]
            }),
        )?;
    }
    Ok(())
}

fn table(
    out: &mut impl Write,
    title: &str,
    head: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> std::io::Result<()> {
    let rows: Vec<Vec<String>> = rows.collect();
    writeln!(out, "\n{title}")?;
    if rows.is_empty() {
        return writeln!(out, "  (none)");
    }
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("  {}", padded.join("  ").trim_end())
    };
    writeln!(
        out,
        "{}",
        line(head.iter().map(|s| s.to_string()).collect())
    )?;
    for row in rows {
        writeln!(out, "{}", line(row))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> AuditOptions {
        AuditOptions {
            since: None,
            slow_ms: 2000.0,
            top: 10,
            keys_dir: None,
            unused_days: 30,
            json: false,
        }
    }

    const LOG: &str = r#"{"type":"mcp_request","timestamp":"2026-11-25T10:00:00.000Z","user":"alice","auth":"api_key","key_id":"k1","method":"tools/call","tool":"echo","status":"success","error":null,"duration_ms":3.0,"request_id":"r1"}
{"type":"mcp_request","timestamp":"2026-11-25T10:00:01.000Z","user":"alice","auth":"api_key","key_id":"k1","method":"tools/call","tool":"spin","status":"error","error":"timeout","duration_ms":2500.5,"request_id":"r2"}
{"type":"mcp_request","timestamp":"2026-11-25T10:00:02.000Z","user":null,"auth":null,"key_id":null,"method":null,"tool":null,"status":"denied","error":"expired","duration_ms":0.2,"request_id":"r3"}
{"type":"mcp_request","timestamp":"2026-11-25T10:00:03.000Z","user":"bob","auth":"jwt","key_id":null,"method":"tools/call","tool":"echo","status":"rate_limited","error":"rate_limited","duration_ms":0.3,"request_id":"r4"}
not json
"#;

    #[test]
    fn summaries_count_users_tools_errors_and_slow_requests() {
        let r = summarise(vec![Box::new(LOG.as_bytes())], &opts()).unwrap();
        assert_eq!(r.requests, 4);
        assert_eq!(r.skipped_lines, 1);
        assert_eq!(r.by_user[0], ("alice".to_owned(), 2));
        assert_eq!(r.by_tool[0].tool, "echo");
        assert_eq!((r.by_tool[0].calls, r.by_tool[0].errors), (2, 1));
        assert!(r.errors_by_kind.contains(&("timeout".to_owned(), 1)));
        assert_eq!(r.auth_failures_by_reason, vec![("expired".to_owned(), 1)]);
        assert_eq!(r.slow_total, 1);
        assert_eq!(r.slow[0].request_id, "r2");
        assert_eq!(r.by_status["rate_limited"], 1);
        let mut text = Vec::new();
        render(&r, &opts(), &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains("4 requests from 2026-11-25T10:00:00.000Z"),
            "{text}"
        );
        assert!(text.contains("spin"), "{text}");
    }
}
