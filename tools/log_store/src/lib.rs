//! The `log_store` component: search and summarise real log files. It reads every file under
//! `/logs` (recursively; the tool set manifest mounts a host directory there read-only) and
//! writes nothing.
//!
//! Two line formats are read, decided per line:
//! - **JSON lines**: a line starting with `{` is a JSON object with string fields `timestamp`
//!   (RFC 3339), `service`, `level` and `message`; other fields are kept as `extra`.
//! - **plain text**: `<RFC 3339 timestamp> <LEVEL> <service> <message>`, fields separated by
//!   spaces or tabs, the message running to the end of the line.
//!
//! Levels are upper-cased, and the aliases WARNING -> WARN, ERR -> ERROR, CRITICAL/CRIT -> FATAL
//! applied. A plain-text line must carry one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL (or an
//! alias); a JSON line may carry any level, kept as logged. Timestamps may have any UTC offset
//! and are reported in UTC. Blank lines are ignored; any other line that is in neither format
//! (or longer than 64 KiB) is skipped and counted in `skipped_lines`, with the first few
//! locations in `skipped_examples`, so a bad file is visible rather than silently ignored.
//! ERROR and FATAL entries count as errors.
//!
//! Files are read line by line on every call (a call gets a fresh instance; nothing is
//! cached), so the answer always reflects the files as they are now.

mod entry;
mod source;
mod summary;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;

use mcp_tool_sdk::prelude::*;
use mcp_tool_sdk::serde_json::{Map, Value};
use time::OffsetDateTime;

use entry::{Entry, LEVELS};
use source::{Origin, ScanStats};
use summary::{ErrorSummary, Summarizer};

/// Where the tool set manifest mounts the log directory.
const LOG_ROOT: &str = "/logs";
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1000;
/// Ten years: a longer window is almost certainly a mistake.
const MAX_HOURS: f64 = 24.0 * 366.0 * 10.0;

/// Arguments of `search_logs`.
#[derive(Deserialize, JsonSchema)]
struct SearchArgs {
    /// Only entries of this service (case-insensitive, exact name).
    #[serde(default)]
    service: Option<String>,
    /// Text the message must contain (case-insensitive substring, not a regex).
    #[serde(default)]
    query: Option<String>,
    /// Most entries to return, newest first (default 20, at most 1000).
    #[serde(default)]
    limit: Option<usize>,
    /// Only entries of this level: TRACE, DEBUG, INFO, WARN (or WARNING), ERROR (or ERR),
    /// FATAL (or CRITICAL); case-insensitive.
    #[serde(default)]
    log_level: Option<String>,
}

/// One log entry.
#[derive(Debug, Serialize, JsonSchema)]
struct LogEntry {
    /// RFC 3339, UTC, with milliseconds.
    timestamp: String,
    service: String,
    /// Canonical level name.
    level: String,
    message: String,
    /// Where it was read: the file under /logs and the line number.
    source: String,
    /// The other fields of a JSON line.
    #[serde(skip_serializing_if = "Map::is_empty")]
    extra: Map<String, Value>,
}

/// The newest matching entries and what was scanned to find them.
#[derive(Debug, Serialize, JsonSchema)]
struct SearchResult {
    /// Matching entries, newest first, at most `limit`.
    entries: Vec<LogEntry>,
    /// How many entries matched in all.
    total_matched: u64,
    files_scanned: usize,
    /// Non-blank lines in neither format.
    skipped_lines: u64,
    /// `file:line` of the first skipped lines.
    skipped_examples: Vec<String>,
    /// Files that could not be read, with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unreadable: Vec<String>,
}

/// Arguments of `get_error_summary`.
#[derive(Deserialize, JsonSchema)]
struct SummaryArgs {
    /// Only entries of this service (case-insensitive, exact name).
    #[serde(default)]
    service: Option<String>,
    /// How many hours back from now to summarise (default 24; fractions allowed).
    #[serde(default)]
    hours: Option<f64>,
}

/// An error summary and what was scanned to make it.
#[derive(Debug, Serialize, JsonSchema)]
struct SummaryResult {
    #[serde(flatten)]
    summary: ErrorSummary,
    files_scanned: usize,
    /// Non-blank lines in neither format.
    skipped_lines: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unreadable: Vec<String>,
}

/// A match, ordered so that the heap's smallest element is the oldest: newest time first, then
/// file path, then the later line of a file first.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Newest {
    at: OffsetDateTime,
    file: Reverse<String>,
    line: u64,
}

/// A matching entry, ranked by its [`Newest`] key alone.
struct Ranked {
    key: Newest,
    entry: Entry,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

fn search_logs(args: SearchArgs, _cx: &Context) -> Result<SearchResult, ToolError> {
    let limit = args.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ToolError::invalid_arguments(format!(
            "`limit` is {limit}; give a number from 1 to {MAX_LIMIT}"
        )));
    }
    let level = args.log_level.as_deref().map(level_filter).transpose()?;
    let query = non_blank(args.query).map(|q| q.to_lowercase());
    let service = non_blank(args.service);
    let mut newest: BinaryHeap<Reverse<Ranked>> = BinaryHeap::with_capacity(limit + 1);
    let mut total_matched = 0;
    let stats = scan(|entry, origin| {
        let matches = service
            .as_deref()
            .is_none_or(|s| entry.service.eq_ignore_ascii_case(s))
            && level.is_none_or(|l| entry.level == l)
            && query
                .as_deref()
                .is_none_or(|q| entry.message.to_lowercase().contains(q));
        if !matches {
            return;
        }
        total_matched += 1;
        let key = Newest {
            at: entry.at,
            file: Reverse(origin.file.clone()),
            line: origin.line,
        };
        newest.push(Reverse(Ranked { key, entry }));
        if newest.len() > limit {
            newest.pop();
        }
    })?;
    let entries = newest
        .into_sorted_vec()
        .into_iter()
        .map(|Reverse(Ranked { key, entry })| LogEntry {
            timestamp: entry::format_timestamp(entry.at),
            source: format!("{}:{}", key.file.0, key.line),
            service: entry.service,
            level: entry.level,
            message: entry.message,
            extra: entry.extra,
        })
        .collect();
    Ok(SearchResult {
        entries,
        total_matched,
        files_scanned: stats.files_scanned,
        skipped_lines: stats.skipped_lines,
        skipped_examples: stats.skipped_examples,
        unreadable: stats.unreadable,
    })
}

fn get_error_summary(args: SummaryArgs, _cx: &Context) -> Result<SummaryResult, ToolError> {
    let hours = args.hours.unwrap_or(24.0);
    if !(hours > 0.0 && hours <= MAX_HOURS) {
        return Err(ToolError::invalid_arguments(format!(
            "`hours` is {hours}; give a number of hours above 0 and at most {MAX_HOURS}"
        )));
    }
    // Whole milliseconds, like the window reported back, so the window is exactly what it says.
    let now = OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(u32::from(now.millisecond()) * 1_000_000)
        .unwrap_or(now);
    let mut summarizer = Summarizer::new(now, hours, non_blank(args.service));
    let stats = scan(|entry, _| summarizer.add(entry))?;
    Ok(SummaryResult {
        summary: summarizer.finish(),
        files_scanned: stats.files_scanned,
        skipped_lines: stats.skipped_lines,
        unreadable: stats.unreadable,
    })
}

/// Reads the log directory, explaining a missing mount.
fn scan(visit: impl FnMut(Entry, &Origin)) -> Result<ScanStats, ToolError> {
    source::scan(Path::new(LOG_ROOT), visit).map_err(|error| {
        ToolError::failed(format!(
            "cannot read the log directory {LOG_ROOT}: {error}; the tool set manifest must mount \
             a host directory there (capabilities: dirs: [{{host: ..., guest: {LOG_ROOT}}}])"
        ))
    })
}

fn level_filter(name: &str) -> Result<&'static str, ToolError> {
    entry::canonical_level(name).ok_or_else(|| {
        ToolError::invalid_arguments(format!(
            "`log_level` {name:?} is not a level; use one of {} (WARNING, ERR and CRITICAL are \
             accepted as aliases)",
            LEVELS.join(", ")
        ))
    })
}

fn non_blank(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

fn tools() -> Toolbox {
    Toolbox::new()
        .tool(
            Tool::new(
                "search_logs",
                "Search the log files for entries whose message contains a text (case-insensitive), \
                 optionally of one service and level; returns the newest matches first with the \
                 total number of matches, files scanned and unparseable lines skipped",
                search_logs,
            )
            .read_only()
            .idempotent()
            .open_world(false),
        )
        .tool(
            Tool::new(
                "get_error_summary",
                "Summarise the last N hours of logs (default 24): entries by level and service, \
                 error count, first and last error, errors per hour, and the most frequent error \
                 messages with ids and numbers normalised so similar errors group together",
                get_error_summary,
            )
            .read_only()
            .open_world(false),
        )
}

mcp_tool_sdk::export_tools!(tools);

#[cfg(test)]
mod tests {
    use mcp_tool_sdk::testing::FakeHost;

    use super::*;

    fn call_error(tool: &str, arguments: &str) -> ToolError {
        let cx = Context::new(FakeHost::new());
        tools().call(tool, arguments, &cx).unwrap_err()
    }

    #[test]
    fn the_toolbox_describes_itself() {
        let tools = tools().describe().unwrap();
        let search = &tools[0];
        assert_eq!(search.name, "search_logs");
        assert_eq!(search.input_schema["required"], Value::Null);
        assert!(search.output_schema.is_some());
    }

    #[test]
    fn bad_limits_levels_and_hours_are_invalid_arguments() {
        let error = call_error("search_logs", r#"{"limit": 0}"#);
        assert!(error.message().contains("from 1 to 1000"), "{error}");
        let error = call_error("search_logs", r#"{"limit": 1001}"#);
        assert!(matches!(error, ToolError::InvalidArguments(_)), "{error}");
        let error = call_error("search_logs", r#"{"log_level": "loud"}"#);
        assert!(
            error
                .message()
                .contains("TRACE, DEBUG, INFO, WARN, ERROR, FATAL"),
            "{error}"
        );
        let error = call_error("get_error_summary", r#"{"hours": 0}"#);
        assert!(error.message().contains("above 0"), "{error}");
    }

    #[test]
    fn without_a_mount_the_error_says_how_to_grant_one() {
        if Path::new(LOG_ROOT).exists() {
            return; // a machine that really has /logs; the message is tested where it does not
        }
        let error = call_error("search_logs", "{}");
        assert!(error.message().contains("guest: /logs"), "{error}");
    }

    #[test]
    fn newest_orders_by_time_then_file_then_later_line() {
        let at = entry::parse_timestamp("2026-01-15T10:00:00Z").unwrap();
        let key = |file: &str, line| Newest {
            at,
            file: Reverse(file.to_owned()),
            line,
        };
        assert!(key("a.log", 1) > key("b.log", 9));
        assert!(key("a.log", 2) > key("a.log", 1));
    }
}
