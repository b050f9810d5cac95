//! `get_error_summary`'s arithmetic: counts by level and service inside a time window, error
//! timing and rate, and the most frequent error messages once variable parts are replaced by
//! placeholders so that "timeout after 1200ms" and "timeout after 800ms" group together.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::LazyLock;

use mcp_tool_sdk::prelude::*;
use regex::{Captures, Regex};
use time::OffsetDateTime;

use crate::entry::{Entry, format_timestamp};

/// Error patterns listed at most.
const TOP_PATTERNS: usize = 10;
/// Patterns and examples are cut to this many characters.
const MAX_PATTERN_CHARS: usize = 200;

/// The time window a summary covers.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Window {
    /// Start (inclusive), RFC 3339 UTC.
    pub from: String,
    /// End (inclusive): the time of the call, RFC 3339 UTC.
    pub to: String,
    pub hours: f64,
}

/// Entry counts of one service inside the window.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct ServiceCounts {
    pub total: u64,
    /// WARN entries.
    pub warnings: u64,
    /// ERROR and FATAL entries.
    pub errors: u64,
}

/// Errors whose messages are the same once ids, numbers and addresses are replaced.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorPattern {
    /// The message with placeholders: `<email>`, `<url>`, `<uuid>`, `<ip>`, `<hex>`, `<n>`.
    pub pattern: String,
    pub count: u64,
    /// Services that logged it.
    pub services: Vec<String>,
    /// The most recent message of this pattern, as logged.
    pub example: String,
    /// When it was last logged, RFC 3339 UTC.
    pub last_seen: String,
}

/// Entry counts inside the window, and what the errors were.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorSummary {
    pub window: Window,
    /// The service the summary is restricted to, if any.
    pub service: Option<String>,
    /// Entries inside the window.
    pub total_entries: u64,
    /// Entries per level (canonical names: TRACE, DEBUG, INFO, WARN, ERROR, FATAL, or the
    /// level as logged if it is none of those).
    pub by_level: BTreeMap<String, u64>,
    pub by_service: BTreeMap<String, ServiceCounts>,
    /// ERROR and FATAL entries inside the window.
    pub errors: u64,
    /// `errors` divided by the window's hours.
    pub error_rate_per_hour: f64,
    /// The first and last error inside the window, RFC 3339 UTC.
    pub first_error: Option<String>,
    pub last_error: Option<String>,
    /// The most frequent error patterns, most frequent first (at most 10).
    pub top_errors: Vec<ErrorPattern>,
    /// How many distinct error patterns there are in all.
    pub distinct_error_patterns: usize,
}

struct PatternCounts {
    count: u64,
    services: BTreeSet<String>,
    example: String,
    last_seen: OffsetDateTime,
}

/// Accumulates entries into an [`ErrorSummary`].
pub struct Summarizer {
    from: OffsetDateTime,
    to: OffsetDateTime,
    hours: f64,
    service: Option<String>,
    total: u64,
    by_level: BTreeMap<String, u64>,
    by_service: BTreeMap<String, ServiceCounts>,
    errors: u64,
    first_error: Option<OffsetDateTime>,
    last_error: Option<OffsetDateTime>,
    patterns: HashMap<String, PatternCounts>,
}

impl Summarizer {
    /// A summary of the `hours` up to `now`, of one service (case-insensitive) or all.
    pub fn new(now: OffsetDateTime, hours: f64, service: Option<String>) -> Self {
        Self {
            from: now - time::Duration::seconds_f64(hours * 3600.0),
            to: now,
            hours,
            service,
            total: 0,
            by_level: BTreeMap::new(),
            by_service: BTreeMap::new(),
            errors: 0,
            first_error: None,
            last_error: None,
            patterns: HashMap::new(),
        }
    }

    pub fn add(&mut self, entry: Entry) {
        let wanted = self
            .service
            .as_deref()
            .is_none_or(|service| entry.service.eq_ignore_ascii_case(service));
        if !wanted || entry.at < self.from || entry.at > self.to {
            return;
        }
        self.total += 1;
        *self.by_level.entry(entry.level.clone()).or_default() += 1;
        let counts = self.by_service.entry(entry.service.clone()).or_default();
        counts.total += 1;
        if entry.level == "WARN" {
            counts.warnings += 1;
        }
        if !entry.is_error() {
            return;
        }
        counts.errors += 1;
        self.errors += 1;
        self.first_error = Some(self.first_error.map_or(entry.at, |t| t.min(entry.at)));
        self.last_error = Some(self.last_error.map_or(entry.at, |t| t.max(entry.at)));
        let pattern = self
            .patterns
            .entry(normalize(&entry.message))
            .or_insert_with(|| PatternCounts {
                count: 0,
                services: BTreeSet::new(),
                example: String::new(),
                last_seen: entry.at,
            });
        pattern.count += 1;
        if pattern.example.is_empty() || entry.at >= pattern.last_seen {
            pattern.last_seen = entry.at;
            pattern.example = truncate(&entry.message);
        }
        pattern.services.insert(entry.service);
    }

    pub fn finish(self) -> ErrorSummary {
        let distinct_error_patterns = self.patterns.len();
        let mut patterns: Vec<(String, PatternCounts)> = self.patterns.into_iter().collect();
        patterns.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(&b.0)));
        let top_errors = patterns
            .into_iter()
            .take(TOP_PATTERNS)
            .map(|(pattern, counts)| ErrorPattern {
                pattern: truncate(&pattern),
                count: counts.count,
                services: counts.services.into_iter().collect(),
                example: counts.example,
                last_seen: format_timestamp(counts.last_seen),
            })
            .collect();
        ErrorSummary {
            window: Window {
                from: format_timestamp(self.from),
                to: format_timestamp(self.to),
                hours: self.hours,
            },
            service: self.service,
            total_entries: self.total,
            by_level: self.by_level,
            by_service: self.by_service,
            errors: self.errors,
            error_rate_per_hour: self.errors as f64 / self.hours,
            first_error: self.first_error.map(format_timestamp),
            last_error: self.last_error.map(format_timestamp),
            top_errors,
            distinct_error_patterns,
        }
    }
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_PATTERN_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// How a normalisation rule replaces what it matches.
#[derive(Clone, Copy)]
enum Replace {
    With(&'static str),
    /// `<ip>` if the match parses as an IPv6 address (`10:30:45` is left for the number rule).
    Ipv6,
    /// `<hex>` if the word has a digit and a letter (all-digit words are left as numbers).
    HexId,
}

/// Rules in the order they are applied; earlier ones protect their text from later ones.
static RULES: LazyLock<Vec<(Regex, Replace)>> = LazyLock::new(|| {
    [
        (
            r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
            Replace::With("<email>"),
        ),
        (r"https?://\S+", Replace::With("<url>")),
        (
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
            Replace::With("<uuid>"),
        ),
        (
            r"\b(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}\b",
            Replace::Ipv6,
        ),
        (r"\b\d{1,3}(?:\.\d{1,3}){3}\b", Replace::With("<ip>")),
        (r"\b(?:0x)?[0-9a-fA-F]{6,}\b", Replace::HexId),
        (r"\d+(?:\.\d+)?", Replace::With("<n>")),
        // Numbers written in groups (cards, phones, SSNs) become one placeholder.
        (r"[+(]*<n>(?:[ .()+-]+<n>)+\)?", Replace::With("<n>")),
    ]
    .into_iter()
    .map(|(pattern, replace)| {
        let regex = Regex::new(pattern).expect("the normalisation patterns are valid");
        (regex, replace)
    })
    .collect()
});

/// The message with its variable parts replaced by placeholders.
pub fn normalize(message: &str) -> String {
    let mut text = message.to_owned();
    for (regex, replace) in RULES.iter() {
        text = regex
            .replace_all(&text, |caps: &Captures| {
                let found = &caps[0];
                let placeholder = match replace {
                    Replace::With(placeholder) => placeholder,
                    Replace::Ipv6 if found.parse::<std::net::Ipv6Addr>().is_ok() => "<ip>",
                    Replace::HexId
                        if found.bytes().any(|b| b.is_ascii_digit())
                            && found.bytes().any(|b| b.is_ascii_alphabetic()) =>
                    {
                        "<hex>"
                    }
                    Replace::Ipv6 | Replace::HexId => found,
                };
                placeholder.to_owned()
            })
            .into_owned();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::parse_line;

    #[test]
    fn similar_errors_normalise_to_the_same_pattern() {
        let same = [
            "Charge failed for a.b1@example.com: gateway timeout after 1200ms",
            "Charge failed for zed@mail.example.org: gateway timeout after 80ms",
        ];
        assert_eq!(normalize(same[0]), normalize(same[1]));
        assert_eq!(
            normalize(same[0]),
            "Charge failed for <email>: gateway timeout after <n>ms"
        );
        for (message, pattern) in [
            (
                "POST /api/v1/payments 502 request_id=c17149d43953",
                "POST /api/v<n>/payments <n> request_id=<hex>",
            ),
            (
                "reset by 2001:db8:1a::ff port 443 and 10.0.0.1:636",
                "reset by <ip> port <n> and <ip>:<n>",
            ),
            ("card 4111 1111 1111 1111 rejected", "card <n> rejected"),
            (
                "sms to (555) 123-4567 and +44 20 7946 0958",
                "sms to <n> and <n>",
            ),
            (
                "SSN 123-45-6789 mismatch at 10:30:45",
                "SSN <n> mismatch at <n>:<n>:<n>",
            ),
            (
                "hook https://x.example/a1 id 123e4567-e89b-12d3-a456-426614174000 deadbeef",
                "hook <url> id <uuid> deadbeef",
            ),
        ] {
            assert_eq!(normalize(message), pattern, "{message}");
        }
    }

    fn entry(line: &str) -> Entry {
        parse_line(line).unwrap()
    }

    #[test]
    fn the_summary_counts_inside_the_window_only() {
        let now = crate::entry::parse_timestamp("2026-01-15T12:00:00Z").unwrap();
        let mut summary = Summarizer::new(now, 2.0, None);
        for line in [
            "2026-01-15T09:59:59Z ERROR api too old",
            "2026-01-15T10:00:00Z ERROR api timeout after 5ms",
            "2026-01-15T11:00:00Z WARN api slow",
            "2026-01-15T11:30:00Z FATAL db disk full",
            "2026-01-15T11:59:00Z ERR api timeout after 7ms",
            "2026-01-15T12:00:01Z ERROR api in the future",
        ] {
            summary.add(entry(line));
        }
        let s = summary.finish();
        assert_eq!(s.total_entries, 4);
        assert_eq!(s.errors, 3);
        assert_eq!(s.error_rate_per_hour, 1.5);
        assert_eq!(s.by_level["ERROR"], 2);
        assert_eq!(s.by_level["FATAL"], 1);
        assert_eq!(s.by_service["api"].warnings, 1);
        assert_eq!(s.by_service["db"].errors, 1);
        assert_eq!(s.first_error.as_deref(), Some("2026-01-15T10:00:00.000Z"));
        assert_eq!(s.last_error.as_deref(), Some("2026-01-15T11:59:00.000Z"));
        assert_eq!(s.window.from, "2026-01-15T10:00:00.000Z");
        assert_eq!(s.top_errors[0].pattern, "timeout after <n>ms");
        assert_eq!(s.top_errors[0].count, 2);
        assert_eq!(s.top_errors[0].example, "timeout after 7ms");
        assert_eq!(s.distinct_error_patterns, 2);
    }

    #[test]
    fn the_summary_can_be_restricted_to_one_service() {
        let now = crate::entry::parse_timestamp("2026-01-15T12:00:00Z").unwrap();
        let mut summary = Summarizer::new(now, 24.0, Some("API".to_owned()));
        summary.add(entry("2026-01-15T11:00:00Z ERROR api boom"));
        summary.add(entry("2026-01-15T11:00:00Z ERROR db boom"));
        let s = summary.finish();
        assert_eq!((s.total_entries, s.errors), (1, 1));
        assert_eq!(s.top_errors[0].services, vec!["api".to_owned()]);
    }
}
