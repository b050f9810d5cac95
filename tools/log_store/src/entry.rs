//! One log line, parsed: the two formats `log_store` reads, level names and their aliases, and
//! RFC 3339 timestamps. Pure functions over strings; no file access.

use mcp_tool_sdk::serde_json::{self, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// A parsed log entry. `at` is in UTC.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub at: OffsetDateTime,
    pub service: String,
    pub level: String,
    pub message: String,
    /// The other fields of a JSON line (empty for plain text).
    pub extra: Map<String, Value>,
}

impl Entry {
    /// ERROR and FATAL count as errors.
    pub fn is_error(&self) -> bool {
        is_error_level(&self.level)
    }
}

/// Levels a plain-text line may carry, in their canonical spelling.
pub const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/// The canonical spelling of a level name: upper case, with the aliases WARNING -> WARN,
/// ERR -> ERROR, CRITICAL/CRIT -> FATAL. `None` if it is not one of [`LEVELS`].
pub fn canonical_level(name: &str) -> Option<&'static str> {
    let upper = name.trim().to_ascii_uppercase();
    let canonical = match upper.as_str() {
        "WARNING" => "WARN",
        "ERR" => "ERROR",
        "CRITICAL" | "CRIT" => "FATAL",
        other => other,
    };
    LEVELS.into_iter().find(|level| *level == canonical)
}

pub fn is_error_level(level: &str) -> bool {
    matches!(level, "ERROR" | "FATAL")
}

/// Parses one line in either format; `None` if it is neither (the caller counts it as
/// skipped). A line that starts with `{` is JSON, anything else plain text.
pub fn parse_line(line: &str) -> Option<Entry> {
    let line = line.trim();
    if line.starts_with('{') {
        parse_json(line)
    } else {
        parse_text(line)
    }
}

/// `{"timestamp": "<RFC 3339>", "service": "...", "level": "...", "message": "...", ...}`: all
/// four named fields are required strings; any other field is kept in `extra`. A level that is
/// not one of [`LEVELS`] (or an alias) is kept, upper-cased, so unusual levels stay visible.
fn parse_json(line: &str) -> Option<Entry> {
    let Value::Object(mut fields) = serde_json::from_str(line).ok()? else {
        return None;
    };
    let mut take = |key: &str| match fields.remove(key) {
        Some(Value::String(text)) if !text.trim().is_empty() => Some(text),
        _ => None,
    };
    let at = parse_timestamp(&take("timestamp")?)?;
    let service = take("service")?.trim().to_owned();
    let level = take("level")?;
    let message = take("message")?;
    let level = canonical_level(&level)
        .map(str::to_owned)
        .unwrap_or_else(|| level.trim().to_ascii_uppercase());
    Some(Entry {
        at,
        service,
        level,
        message,
        extra: fields,
    })
}

/// `<RFC 3339 timestamp> <LEVEL> <service> <message>`, separated by runs of spaces or tabs (the
/// message may be empty). The level must be one of [`LEVELS`] or an alias, so free text is not
/// mistaken for an entry.
fn parse_text(line: &str) -> Option<Entry> {
    let mut rest = line;
    let mut field = || {
        if rest.is_empty() {
            return None;
        }
        let (word, tail) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
        rest = tail.trim_start_matches([' ', '\t']);
        Some(word)
    };
    let at = parse_timestamp(field()?)?;
    let level = canonical_level(field()?)?;
    let service = field()?;
    let message = rest.trim_end();
    Some(Entry {
        at,
        service: service.to_owned(),
        level: level.to_owned(),
        message: message.to_owned(),
        extra: Map::new(),
    })
}

/// An RFC 3339 timestamp (`2026-01-15T10:30:00Z`, `...T10:30:00.123+01:00`), in UTC.
pub fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text.trim(), &Rfc3339)
        .ok()
        .map(|at| at.to_offset(UtcOffset::UTC))
}

/// `2026-01-15T10:30:00.123Z`: UTC, always with milliseconds, so timestamps sort as text.
pub fn format_timestamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_keep_extra_fields_and_normalise_levels() {
        let entry = parse_line(
            r#"{"timestamp":"2026-01-15T10:30:00.250+01:00","service":"api","level":"warning","message":"slow","latency_ms":900}"#,
        )
        .unwrap();
        assert_eq!(format_timestamp(entry.at), "2026-01-15T09:30:00.250Z");
        assert_eq!(
            (entry.service.as_str(), entry.level.as_str()),
            ("api", "WARN")
        );
        assert_eq!(entry.message, "slow");
        assert_eq!(entry.extra["latency_ms"], 900);
        let odd = parse_line(
            r#"{"timestamp":"2026-01-15T10:30:00Z","service":"a","level":"notice","message":"m"}"#,
        )
        .unwrap();
        assert_eq!(odd.level, "NOTICE");
    }

    #[test]
    fn json_lines_missing_a_field_or_with_a_bad_time_are_rejected() {
        for bad in [
            r#"{"service":"a","level":"INFO","message":"m"}"#,
            r#"{"timestamp":"yesterday","service":"a","level":"INFO","message":"m"}"#,
            r#"{"timestamp":"2026-01-15T10:30:00Z","service":"a","level":"INFO"}"#,
            r#"{"timestamp":"2026-01-15T10:30:00Z","service":"a","level":7,"message":"m"}"#,
            r#"{"timestamp": "2026-01-01T00:00:00Z", "service": "trunc"#,
            r#"["not", "an", "object"]"#,
        ] {
            assert_eq!(parse_line(bad), None, "{bad}");
        }
    }

    #[test]
    fn plain_text_lines_need_a_time_a_known_level_and_a_service() {
        let entry =
            parse_line("2026-01-15T10:30:00Z  ERR\tpayments  card declined: code 51 ").unwrap();
        assert_eq!(format_timestamp(entry.at), "2026-01-15T10:30:00.000Z");
        assert_eq!(entry.level, "ERROR");
        assert_eq!(entry.service, "payments");
        assert_eq!(entry.message, "card declined: code 51");
        assert!(entry.is_error());
        for bad in [
            "just some words here",
            "2026-01-15T10:30:00Z LOUD api message",
            "2026-13-45T99:00:00Z INFO api impossible date",
            "2026-01-15 10:30:00 INFO api space instead of T",
            "2026-01-15T10:30:00Z INFO",
            "",
        ] {
            assert_eq!(parse_line(bad), None, "{bad}");
        }
        let no_message = parse_line("2026-01-15T10:30:00Z INFO api ").unwrap();
        assert_eq!(no_message.message, "");
    }

    #[test]
    fn level_aliases_map_to_canonical_names() {
        for (alias, canonical) in [
            ("warning", "WARN"),
            ("Warn", "WARN"),
            ("ERR", "ERROR"),
            ("error", "ERROR"),
            ("critical", "FATAL"),
            ("debug", "DEBUG"),
        ] {
            assert_eq!(canonical_level(alias), Some(canonical), "{alias}");
        }
        assert_eq!(canonical_level("verbose"), None);
    }
}
