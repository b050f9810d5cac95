//! `search_logs` and `get_error_summary` over generated logs, against the test's own reading.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::samples::{self, Line};
use crate::{Fixture, assert_fails};

fn is_error(line: &Line) -> bool {
    matches!(line.level.as_str(), "ERROR" | "FATAL")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn timestamps(result: &Value) -> Vec<i64> {
    result["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| samples::timestamp_ms(e["timestamp"].as_str().unwrap()).unwrap())
        .collect()
}

/// The `n` newest timestamps of `matching`, newest first.
fn newest(matching: &[&Line], n: usize) -> Vec<i64> {
    let mut times: Vec<i64> = matching.iter().map(|l| l.at_ms).collect();
    times.sort_unstable_by(|a, b| b.cmp(a));
    times.truncate(n);
    times
}

#[test]
fn search_finds_matching_entries_newest_first_in_both_formats() {
    let fx = Fixture::start();
    let logs = samples::read(fx.logs.path());

    let a = fx.sb.call(
        "search_logs",
        json!({"query": "TimeOut", "log_level": "err", "limit": 5}),
    );
    let r = a.result();
    let expected: Vec<&Line> = logs
        .entries
        .iter()
        .filter(|l| l.level == "ERROR" && l.message.to_lowercase().contains("timeout"))
        .collect();
    assert!(expected.len() > 5, "the samples have timeouts to find");
    assert_eq!(r["total_matched"], expected.len(), "{r}");
    assert_eq!(timestamps(r), newest(&expected, 5), "{r}");
    for entry in r["entries"].as_array().unwrap() {
        assert_eq!(entry["level"], "ERROR");
        assert!(
            entry["message"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("timeout")
        );
        assert!(entry["source"].as_str().unwrap().contains(':'), "{entry}");
    }
    // JSON (api-gateway) and plain-text services (user-service with a UTC offset and `ERR`)
    // both answer.
    let services: Vec<&str> = expected.iter().map(|l| l.service.as_str()).collect();
    for service in ["api-gateway", "payment-service", "user-service"] {
        assert!(services.contains(&service), "{service} has timeouts");
    }
    assert_eq!(r["files_scanned"], logs.files);
    assert_eq!(r["skipped_lines"], logs.skipped);
    assert!(logs.skipped > 0, "the generator writes malformed lines");
    assert!(!r["skipped_examples"].as_array().unwrap().is_empty());
}

#[test]
fn search_filters_by_service_and_level_alias_and_caps_the_limit() {
    let fx = Fixture::start();
    let logs = samples::read(fx.logs.path());

    let a = fx.sb.call(
        "search_logs",
        json!({"service": "PAYMENT-SERVICE", "log_level": "warning"}),
    );
    let r = a.result();
    let expected: Vec<&Line> = logs
        .entries
        .iter()
        .filter(|l| l.service == "payment-service" && l.level == "WARN")
        .collect();
    assert_eq!(r["total_matched"], expected.len(), "{r}");
    assert_eq!(timestamps(r), newest(&expected, 20), "default limit is 20");
    assert!(
        r["entries"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Payment declined")
    );

    let all = fx.sb.call("search_logs", json!({"limit": 1000}));
    let r = all.result();
    assert_eq!(r["total_matched"], logs.entries.len());
    let everything: Vec<&Line> = logs.entries.iter().collect();
    assert_eq!(timestamps(r), newest(&everything, 1000));
    // JSON lines keep their extra fields.
    let extra = r["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["extra"].is_object());
    assert!(extra.is_some_and(|e| e["extra"]["host"].is_string()), "{r}");

    let a = fx.sb.call("search_logs", json!({"limit": 1001}));
    assert_fails(&a, "invalid_arguments", "from 1 to 1000");
    let a = fx.sb.call("search_logs", json!({"log_level": "loud"}));
    assert_fails(&a, "invalid_arguments", "WARN");
}

#[test]
fn error_summary_counts_the_last_hours_by_level_and_service() {
    let fx = Fixture::start();
    let logs = samples::read(fx.logs.path());

    let before = now_ms();
    let a = fx.sb.call("get_error_summary", json!({}));
    let after = now_ms();
    let r = a.result();
    // The window is the 24 hours up to the call.
    let to = samples::timestamp_ms(r["window"]["to"].as_str().unwrap()).unwrap();
    let from = samples::timestamp_ms(r["window"]["from"].as_str().unwrap()).unwrap();
    assert!(
        before - 1 <= to && to <= after,
        "{before} <= {to} <= {after}"
    );
    assert_eq!(to - from, 24 * 3600 * 1000);
    assert_eq!(r["window"]["hours"], 24.0);

    let inside: Vec<&Line> = logs
        .entries
        .iter()
        .filter(|l| from <= l.at_ms && l.at_ms <= to)
        .collect();
    let errors: Vec<&Line> = inside.iter().copied().filter(|l| is_error(l)).collect();
    let mut by_level: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_service: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for line in &inside {
        *by_level.entry(line.level.clone()).or_default() += 1;
        let counts = by_service.entry(line.service.clone()).or_default();
        counts.0 += 1;
        counts.1 += u64::from(line.level == "WARN");
        counts.2 += u64::from(is_error(line));
    }
    assert_eq!(r["total_entries"], inside.len(), "{r}");
    assert_eq!(r["by_level"], json!(by_level));
    let reported: BTreeMap<String, (u64, u64, u64)> = r["by_service"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(service, c)| {
            let n = |k: &str| c[k].as_u64().unwrap();
            (service.clone(), (n("total"), n("warnings"), n("errors")))
        })
        .collect();
    assert_eq!(reported, by_service);
    assert_eq!(r["errors"], errors.len());
    let rate = r["error_rate_per_hour"].as_f64().unwrap();
    assert!((rate - errors.len() as f64 / 24.0).abs() < 1e-9, "{rate}");
    let first = errors.iter().map(|l| l.at_ms).min().unwrap();
    let last = errors.iter().map(|l| l.at_ms).max().unwrap();
    let reported_ms = |k: &str| samples::timestamp_ms(r[k].as_str().unwrap()).unwrap();
    assert_eq!(
        (reported_ms("first_error"), reported_ms("last_error")),
        (first, last)
    );

    // Similar errors group: patterns carry no digits, counts descend and add up.
    let top = r["top_errors"].as_array().unwrap();
    assert!(!top.is_empty() && top.len() <= 10);
    let counts: Vec<u64> = top.iter().map(|p| p["count"].as_u64().unwrap()).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    let distinct = r["distinct_error_patterns"].as_u64().unwrap();
    let listed: u64 = counts.iter().sum();
    if distinct <= 10 {
        assert_eq!(listed, errors.len() as u64);
    } else {
        assert!(listed < errors.len() as u64);
    }
    for pattern in top {
        let text = pattern["pattern"].as_str().unwrap();
        assert!(!text.chars().any(|c| c.is_ascii_digit()), "{text}");
        assert!(!pattern["services"].as_array().unwrap().is_empty());
    }
    assert_eq!(r["files_scanned"], logs.files);
}

#[test]
fn error_summary_of_one_service_over_the_whole_log() {
    let fx = Fixture::start();
    let logs = samples::read(fx.logs.path());
    let a = fx.sb.call(
        "get_error_summary",
        json!({"service": "api-gateway", "hours": 1000}),
    );
    let r = a.result();
    let mine: Vec<&Line> = logs
        .entries
        .iter()
        .filter(|l| l.service == "api-gateway")
        .collect();
    assert_eq!(r["total_entries"], mine.len(), "{r}");
    assert_eq!(r["errors"], mine.iter().filter(|l| is_error(l)).count());
    assert_eq!(r["by_service"].as_object().unwrap().len(), 1);
    assert_eq!(r["service"], "api-gateway");

    let a = fx.sb.call("get_error_summary", json!({"hours": -1}));
    assert_fails(&a, "invalid_arguments", "above 0");
}
