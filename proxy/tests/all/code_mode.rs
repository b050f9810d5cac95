//! The code-execution scenarios, end to end through the gateway (MCP over HTTP, API keys): agent
//! code runs in the sandbox, calls the log-analysis tools from inside, and returns a summary.
//! Isolation between users and between roles holds inside code too.

use std::time::{Duration, Instant};

use crate::common::{Options, Stack};
use serde_json::{Value, json};

const POLICY: &str = "\
toolsets:
  examples: { roles: [analyst] }
  code: { roles: [analyst, coder] }
  log-analysis: { roles: [analyst] }
  hostile: { roles: [admin] }
";

fn stack() -> Stack {
    Stack::start(Options {
        policy: POLICY.into(),
        toolsets: &["examples", "code", "log-analysis"],
        ..Options::default()
    })
}

/// Runs `code` with execute_code and returns its structured result.
fn exec(s: &Stack, key: &str, code: &str) -> Value {
    exec_with(s, key, json!({"language": "python", "code": code}))
}

/// A program that raised is a tool failure (`isError: true`) whose structured content is the
/// same report with `success` false.
fn exec_with(s: &Stack, key: &str, args: Value) -> Value {
    let r = s.call_tool(key, "execute_code", args);
    assert_eq!(r.status, 200, "{}", r.text);
    let result = r.result();
    let report = result["structuredContent"].clone();
    assert_eq!(
        result["isError"] == true,
        report["success"] == false,
        "{result}"
    );
    report
}

/// Calls a tool directly and returns its structured content (or the text of an error result).
fn tool(s: &Stack, key: &str, name: &str, args: Value) -> Value {
    let r = s.call_tool(key, name, args);
    assert_eq!(r.status, 200, "{name}: {}", r.text);
    let result = r.result();
    if result["isError"] == true {
        return json!({"is_error": true, "text": result["content"][0]["text"]});
    }
    result["structuredContent"].clone()
}

#[test]
fn hello_world_and_the_standard_library() {
    let s = stack();
    let (_, key) = s.create_key("ana", &["analyst"], "1d");
    let r = exec(&s, &key, "print('hello world')");
    assert_eq!(
        (r["success"].as_bool(), r["output"].as_str()),
        (Some(true), Some("hello world\n"))
    );
    let code = "import math, datetime, statistics\n\
                d = datetime.date(2026, 11, 25) - datetime.date(2026, 1, 1)\n\
                {'sqrt': math.sqrt(144), 'days': d.days, 'mean': statistics.mean([1, 2, 3, 4])}";
    let r = exec(&s, &key, code);
    assert_eq!(
        r["result"],
        json!({"sqrt": 12.0, "days": 328, "mean": 2.5}),
        "{r}"
    );
    assert!(r["duration_ms"].as_f64().unwrap() > 0.0 && r["fuel_used"].as_u64().unwrap() > 0);
}

#[test]
fn forbidden_operations_fail_cleanly() {
    let s = stack();
    let (_, key) = s.create_key("ana", &["analyst"], "1d");
    let r = exec(&s, &key, "open('/etc/passwd').read()");
    assert_eq!(r["success"], false);
    assert!(r["error"].as_str().unwrap().contains("Error"), "{r}");
    assert!(!r.to_string().contains("root:x:0"), "{r}");
    let sandbox_addr = s.sandbox_addrs[0].clone();
    let (host, port) = sandbox_addr.split_once(':').unwrap();
    let r = exec(
        &s,
        &key,
        &format!("import socket\nsocket.create_connection(('{host}', {port}), timeout=2)"),
    );
    assert_eq!(r["success"], false, "{r}");
    let r = exec(&s, &key, "import os\ndict(os.environ)");
    assert_eq!(r["result"], json!({}), "no environment: {r}");
    assert_eq!(exec(&s, &key, "1 + 1")["result"], 2);
}

#[test]
fn an_endless_loop_stops_at_its_own_deadline_not_the_gateways() {
    let s = stack();
    let (_, key) = s.create_key("ana", &["analyst"], "1d");
    let started = Instant::now();
    let r = s.call_tool(
        &key,
        "execute_code",
        json!({"language": "python", "code": "while True:\n    pass", "timeout_s": 2}),
    );
    let elapsed = started.elapsed();
    assert_eq!(r.status, 200, "{}", r.text);
    let result = r.result();
    assert_eq!(result["isError"], true, "{result}");
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("timeout") && text.contains("deadline"),
        "{text}"
    );
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}

#[test]
fn log_search_and_summary_from_code_match_the_direct_calls() {
    let s = stack();
    let (_, key) = s.create_key("ana", &["analyst"], "1d");
    let direct = tool(
        &s,
        &key,
        "search_logs",
        json!({"service": "payment-service", "log_level": "ERROR", "limit": 5}),
    );
    let summary = tool(&s, &key, "get_error_summary", json!({"hours": 48}));
    let code = "from tools import log_store\n\
                found = log_store.search_logs(service='payment-service', log_level='ERROR', limit=5)\n\
                s = log_store.get_error_summary(hours=48)\n\
                {'matched': found['total_matched'], 'first': found['entries'][0]['message'], 'errors': s['errors']}";
    let r = exec(&s, &key, code);
    assert_eq!(r["result"]["matched"], direct["total_matched"], "{r}");
    assert!(
        direct["total_matched"].as_u64().unwrap() > 0,
        "the sample logs have payment errors"
    );
    assert_eq!(r["result"]["first"], direct["entries"][0]["message"]);
    assert_eq!(r["result"]["errors"], summary["errors"]);
    assert_eq!(r["tool_calls"], 2);
}

#[test]
fn pii_of_each_kind_is_scrubbed() {
    let s = stack();
    let (_, key) = s.create_key("ana", &["analyst"], "1d");
    let text = "Mail jane.doe@example.com or call +1 415-555-0132; SSN 123-45-6789; card 4111 1111 1111 1111 \
                (not a card: 4111 1111 1111 1112); from 192.168.10.20 and 2001:db8::ff00:42:8329.";
    let r = tool(&s, &key, "scrub_all_pii", json!({"text": text}));
    let out = r["text"].as_str().unwrap();
    for tag in [
        "[EMAIL_REDACTED]",
        "[PHONE_REDACTED]",
        "[SSN_REDACTED]",
        "[CC_REDACTED]",
        "[IP_REDACTED]",
    ] {
        assert!(out.contains(tag), "{tag} missing: {out}");
    }
    for leaked in [
        "jane.doe@",
        "555-0132",
        "123-45-6789",
        "4111 1111 1111 1111",
        "192.168.10.20",
        "2001:db8",
    ] {
        assert!(!out.contains(leaked), "{leaked} leaked: {out}");
    }
    assert!(
        out.contains("4111 1111 1111 1112"),
        "a Luhn-invalid number is not a card: {out}"
    );
    let report = tool(&s, &key, "create_privacy_report", json!({"text": text}));
    assert!(report.to_string().contains("email"), "{report}");
}

#[test]
fn workspace_round_trip_path_escape_and_checkpoints() {
    let s = stack();
    let (_, key) = s.create_key("ana", &["analyst"], "1d");
    tool(
        &s,
        &key,
        "write_file",
        json!({"path": "notes/today.txt", "content": "ship it"}),
    );
    assert_eq!(
        tool(&s, &key, "read_file", json!({"path": "notes/today.txt"}))["content"],
        "ship it"
    );
    let escape = tool(&s, &key, "read_file", json!({"path": "../../etc/passwd"}));
    assert_eq!(escape["is_error"], true, "{escape}");
    assert!(!escape.to_string().contains("root:"), "{escape}");
    tool(
        &s,
        &key,
        "save_checkpoint",
        json!({"name": "step1", "data": {"done": 3}}),
    );
    assert_eq!(
        tool(&s, &key, "load_checkpoint", json!({"name": "step1"}))["data"],
        json!({"done": 3})
    );
    // Code sees the same workspace, read-only.
    let r = exec(&s, &key, "open('/workspace/notes/today.txt').read()");
    assert_eq!(r["result"], "ship it", "{r}");
}

#[test]
fn skills_save_list_search_and_run_through_the_gateway() {
    let s = stack();
    let (_, key) = s.create_key("ana", &["analyst"], "1d");
    let code = "from tools import log_store\n\
                found = log_store.search_logs(service=args['service'], log_level='ERROR', limit=1)\n\
                result = found['total_matched']";
    tool(
        &s,
        &key,
        "save_skill",
        json!({"name": "count_errors", "description": "Count ERROR lines of a service",
        "code": code, "parameters": [{"name": "service", "type": "string"}]}),
    );
    assert!(
        tool(&s, &key, "list_skills", json!({}))
            .to_string()
            .contains("count_errors")
    );
    assert!(
        tool(&s, &key, "search_skills", json!({"query": "error lines"}))
            .to_string()
            .contains("count_errors")
    );
    let direct = tool(
        &s,
        &key,
        "search_logs",
        json!({"service": "payment-service", "log_level": "ERROR", "limit": 1}),
    );
    let run = tool(
        &s,
        &key,
        "run_skill",
        json!({"name": "count_errors", "arguments": {"service": "payment-service"}}),
    );
    assert_eq!(run["result"]["result"], direct["total_matched"], "{run}");
}

#[test]
fn one_program_searches_scrubs_checkpoints_and_summarises() {
    let s = stack();
    let (_, key) = s.create_key("ana", &["analyst"], "1d");
    let code = "from tools import log_store, privacy, workspace\n\
                found = log_store.search_logs(log_level='ERROR', limit=50)\n\
                clean = [privacy.scrub_all_pii(text=e['message'])['text'] for e in found['entries']]\n\
                workspace.save_checkpoint(name='errors-scrubbed', data={'lines': clean})\n\
                summary = log_store.get_error_summary(hours=48)\n\
                {'scrubbed': len(clean), 'errors': summary['errors'], 'top': summary['top_errors'][0]['pattern']}";
    let r = exec(&s, &key, code);
    assert_eq!(r["success"], true, "{r}");
    let scrubbed = r["result"]["scrubbed"].as_u64().unwrap();
    assert!(scrubbed > 0, "{r}");
    assert!(r["tool_calls"].as_u64().unwrap() >= scrubbed + 3, "{r}");
    let saved = tool(
        &s,
        &key,
        "load_checkpoint",
        json!({"name": "errors-scrubbed"}),
    );
    let lines = saved["data"]["lines"].as_array().unwrap();
    assert_eq!(lines.len() as u64, scrubbed);
    let all = lines
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!all.contains('@'), "an email survived scrubbing: {all}");
}

#[test]
fn users_and_roles_stay_isolated_inside_code() {
    let s = stack();
    let (_, ana) = s.create_key("ana", &["analyst"], "1d");
    let (_, ben) = s.create_key("ben", &["analyst"], "1d");
    let (_, cody) = s.create_key("cody", &["coder"], "1d");
    tool(
        &s,
        &ana,
        "write_file",
        json!({"path": "secret.txt", "content": "ana's"}),
    );
    tool(
        &s,
        &ana,
        "save_skill",
        json!({"name": "ana_only", "description": "private", "code": "result = 1"}),
    );
    let r = exec(
        &s,
        &ben,
        "from tools import workspace\nworkspace.read_file(path='secret.txt')",
    );
    assert_eq!(r["success"], false, "ben read ana's file: {r}");
    let r = exec(&s, &ben, "import os\nos.listdir('/workspace')");
    assert!(!r.to_string().contains("secret.txt"), "{r}");
    assert!(
        !tool(&s, &ben, "list_skills", json!({}))
            .to_string()
            .contains("ana_only")
    );
    // cody may run code but not use the log tools: not from code either.
    let r = exec(
        &s,
        &cody,
        "from tools import log_store\nlog_store.search_logs(limit=1)",
    );
    assert_eq!(r["success"], false, "{r}");
    let err = r["error"].as_str().unwrap();
    assert!(
        err.contains("Error") && (err.contains("forbidden") || err.contains("log_store")),
        "{err}"
    );
    let listed = exec(&s, &cody, "import tools\n[t for t in tools.list()]");
    assert!(!listed.to_string().contains("search_logs"), "{listed}");
}

#[test]
fn rate_limits_hold_for_calls_made_from_code() {
    // echo may be called 3 times a minute per caller, whether by the client or from code:
    // gateway and sandbox count in the same buckets in the shared Redis.
    let redis = mcp_testkit::redis::RedisServer::start();
    let s = Stack::start(Options {
        policy: format!("{POLICY}rate_limits:\n  tools: {{ echo: 3/min }}\n"),
        toolsets: &["examples", "code"],
        config: format!("rate_limit_store: {{redis: {{url: '{}'}}}}", redis.url()),
        env: vec![("MCP_SANDBOX_RATE_LIMIT_REDIS".into(), redis.url())],
        ..Options::default()
    });
    let (_, ana) = s.create_key("ana", &["analyst"], "1d");
    assert_eq!(
        tool(&s, &ana, "echo", json!({"text": "direct"}))["text"],
        "direct"
    );
    let r = exec(
        &s,
        &ana,
        "from tools import echo\nout = []\nfor i in range(5):\n    try:\n        echo.echo(text=str(i))\n        out.append('ok')\n    except Exception as e:\n        out.append(str(e))\nout",
    );
    let calls = r["result"].as_array().cloned().unwrap_or_default();
    assert_eq!(calls.len(), 5, "{r}");
    assert_eq!(
        calls.iter().filter(|c| *c == "ok").count(),
        2,
        "one direct call and two from code use the 3/min: {r}"
    );
    assert!(
        calls
            .last()
            .and_then(Value::as_str)
            .is_some_and(|e| e.contains("rate limit")),
        "{r}"
    );
    // Another caller is not affected.
    let (_, ben) = s.create_key("ben", &["analyst"], "1d");
    assert_eq!(tool(&s, &ben, "echo", json!({"text": "b"}))["text"], "b");
}
