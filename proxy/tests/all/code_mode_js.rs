//! Code mode in JavaScript and TypeScript, end to end: the official MCP Python SDK client
//! (code/javascript/tests/sdk_scenarios.py) calls `execute_code` with `language` "javascript"
//! and "typescript" through the gateway (API keys, policy, audit) to the sandbox, which strips
//! the types on the host and runs the program in the SpiderMonkey component.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::{Options, Stack};
use serde_json::{Value, json};

const POLICY: &str = "\
toolsets:
  examples: { roles: [analyst] }
  code: { roles: [analyst, coder] }
  javascript: { roles: [analyst, coder] }
  hostile: { roles: [admin] }
";

fn stack() -> Stack {
    Stack::start(Options {
        policy: POLICY.into(),
        toolsets: &["examples", "code", "javascript"],
        ..Options::default()
    })
}

/// Runs every scenario (`name -> execute_code arguments`) in one SDK session.
fn scenarios(stack: &Stack, token: &str, scenarios: &Value) -> Value {
    let root = mcp_testkit::repo_root();
    let py = root.join(".peers/venv/bin/python");
    let script = root.join("code/javascript/tests/sdk_scenarios.py");
    let mut child = Command::new(&py)
        .args([script.to_str().unwrap(), &stack.mcp_url(), token])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {py:?}: {e} (run scripts/setup-peers.sh)"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(scenarios.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sdk_scenarios.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn ok<'a>(results: &'a Value, name: &str) -> &'a Value {
    let r = &results[name];
    assert_eq!(r["is_error"], false, "{name}: {r}");
    assert_eq!(r["structured"]["success"], true, "{name}: {r}");
    &r["structured"]
}

fn failed<'a>(results: &'a Value, name: &str) -> &'a str {
    let r = &results[name];
    assert_eq!(r["is_error"], true, "{name}: {r}");
    r["text"].as_str().unwrap()
}

#[test]
fn javascript_and_typescript_through_the_gateway_with_the_python_sdk() {
    let s = stack();
    let (_, analyst) = s.create_key("ana", &["analyst"], "1d");
    let stdlib = "const m = 'ERROR api\\nINFO x\\nERROR db'.match(/ERROR (\\w+)/g)\n\
                  ;[m.length, JSON.parse('[1,2]')[1], new Date(0).toISOString(), \
                  Math.hypot(3, 4), [...new Set([3, 1, 3])].sort().join('')]";
    let ts_tools = "interface Echo { text: string }\n\
                    const e = (await tools.echo.echo({text: 'hi'})) as Echo\n\
                    const t: {result: string} = await tools.call('text_transform', \
                    {text: 'abc', operation: 'upper'})\n\
                    console.log(e.text)\n\
                    ;[e.text, t.result]";
    let results = scenarios(
        &s,
        &analyst,
        &json!({
            "js_stdlib": {"language": "javascript", "code": stdlib},
            "ts_stdlib": {"language": "typescript",
                          "code": format!("const n: number = 1\n{stdlib}")},
            "ts_tools": {"language": "typescript", "code": ts_tools},
            "js_loop": {"language": "javascript", "code": "while (true) {}", "timeout_s": 2},
            "ts_memory": {"language": "typescript", "code":
                "const xs: Uint8Array[] = []\nwhile (true) xs.push(new Uint8Array(1 << 20).fill(1))"},
            "js_output": {"language": "javascript", "code":
                "for (let i = 0; i < 3000; i++) console.log('x'.repeat(99))\n'done'"},
            "ts_syntax": {"language": "typescript", "code": "const a: number = 1\nconst b: = 2"},
            "js_import": {"language": "javascript", "code": "const fs = require('fs')"},
            "python": {"code": "6 * 7"},
        }),
    );
    let expected = json!([2, 2, "1970-01-01T00:00:00.000Z", 5, "13"]);
    assert_eq!(ok(&results, "js_stdlib")["result"], expected, "{results}");
    assert_eq!(ok(&results, "ts_stdlib")["result"], expected, "{results}");
    let tools = ok(&results, "ts_tools");
    assert_eq!(
        (&tools["result"], &tools["output"], &tools["tool_calls"]),
        (&json!(["hi", "ABC"]), &json!("hi\n"), &json!(2)),
        "{results}"
    );
    let text = failed(&results, "js_loop");
    assert!(text.contains("timeout"), "{text}");
    assert!(
        results["js_loop"]["ms"].as_u64().unwrap() < 6000,
        "{results}"
    );
    let text = failed(&results, "ts_memory");
    assert!(text.contains("memory"), "{text}");
    let output = ok(&results, "js_output");
    assert_eq!(
        (&output["truncated"], &output["result"]),
        (&json!(true), &json!("done"))
    );
    assert_eq!(output["output"].as_str().unwrap().len(), 100_000);
    let text = failed(&results, "ts_syntax");
    assert!(
        text.contains("TypeScript syntax error at line 2, column 10"),
        "{text}"
    );
    assert_eq!(
        results["ts_syntax"]["structured"]["traceback"],
        "program.ts:2:10"
    );
    let text = failed(&results, "js_import");
    assert!(text.contains("programs cannot load modules"), "{text}");
    assert_eq!(ok(&results, "python")["result"], 42, "{results}");
}

#[test]
fn a_tool_outside_the_callers_roles_is_refused_from_javascript() {
    let s = stack();
    // `coder` may run code but not the examples.
    let (_, coder) = s.create_key("cody", &["coder"], "1d");
    let program = "let refused\n\
                   try { await tools.echo.echo({text: 'x'}) } catch (e) { refused = [e.name, e.kind] }\n\
                   let direct\n\
                   try { await tools.call('echo', {text: 'x'}) } catch (e) { direct = e.kind }\n\
                   ({refused, direct, listed: tools.list().map((t: {name: string}) => t.name).sort()})";
    let results = scenarios(
        &s,
        &coder,
        &json!({"forbidden": {"language": "typescript", "code": program}}),
    );
    assert_eq!(
        results["_tools"],
        json!(["execute_code", "execute_javascript"]),
        "{results}"
    );
    let r = &ok(&results, "forbidden")["result"];
    // `tools.echo` does not exist for this caller; calling the tool by name is refused as a tool
    // the caller may not see (forbidden or not found: the two are told apart only in the audit).
    assert_eq!(r["refused"][0], "TypeError", "{r}");
    assert!(
        r["direct"] == "forbidden" || r["direct"] == "not_found",
        "{r}"
    );
    assert_eq!(
        r["listed"],
        json!(["execute_code", "execute_javascript"]),
        "{r}"
    );
}

/// The log-analysis scenarios of the Python code mode, in TypeScript through the SDK client:
/// log search and summary equal to the direct calls, PII scrubbed through a tool, and another
/// user's workspace out of reach.
#[test]
fn log_search_pii_and_workspaces_from_typescript_match_the_direct_calls() {
    let s = Stack::start(Options {
        policy: format!("{POLICY}  log-analysis: {{ roles: [analyst] }}\n"),
        toolsets: &["examples", "code", "javascript", "log-analysis"],
        ..Options::default()
    });
    let (_, ana) = s.create_key("ana", &["analyst"], "1d");
    let (_, ben) = s.create_key("ben", &["analyst"], "1d");
    let direct = |key: &str, name: &str, args: Value| {
        let r = s.call_tool(key, name, args);
        assert_eq!(r.status, 200, "{name}: {}", r.text);
        let result = r.result();
        assert_ne!(result["isError"], true, "{name}: {result}");
        result["structuredContent"].clone()
    };
    let found = direct(
        &ana,
        "search_logs",
        json!({"service": "payment-service", "log_level": "ERROR", "limit": 5}),
    );
    let summary = direct(&ana, "get_error_summary", json!({"hours": 48}));
    direct(
        &ana,
        "write_file",
        json!({"path": "secret.txt", "content": "ana's"}),
    );
    let logs = "interface Found { total_matched: number; entries: { message: string }[] }\n\
                const found = (await tools.log_store.search_logs(\n\
                  {service: 'payment-service', log_level: 'ERROR', limit: 5})) as Found\n\
                const s = await tools.call('get_error_summary', {hours: 48}) as { errors: unknown }\n\
                ;({matched: found.total_matched, first: found.entries[0].message, errors: s.errors})";
    let pii = "const text: string = 'Mail jane.doe@example.com, SSN 123-45-6789, from 192.168.10.20'\n\
               const r = (await tools.privacy.scrub_all_pii({text})) as { text: string }\n\
               r.text";
    let own = "const f = await tools.workspace.read_file({path: 'secret.txt'})\nf";
    let results = scenarios(
        &s,
        &ana,
        &json!({
            "logs": {"language": "typescript", "code": logs},
            "pii": {"language": "typescript", "code": pii},
            "own": {"language": "typescript", "code": own},
        }),
    );
    let logs = &ok(&results, "logs")["result"];
    assert!(found["total_matched"].as_u64().unwrap() > 0, "{found}");
    assert_eq!(logs["matched"], found["total_matched"], "{logs}");
    assert_eq!(logs["first"], found["entries"][0]["message"], "{logs}");
    assert_eq!(logs["errors"], summary["errors"], "{logs}");
    let scrubbed = ok(&results, "pii")["result"].as_str().unwrap().to_owned();
    for leaked in ["jane.doe@", "123-45-6789", "192.168.10.20"] {
        assert!(!scrubbed.contains(leaked), "{leaked} leaked: {scrubbed}");
    }
    assert!(scrubbed.contains("[EMAIL_REDACTED]"), "{scrubbed}");
    assert!(
        ok(&results, "own")["result"].to_string().contains("ana's"),
        "{results}"
    );
    // ben reads the same path: ana's file is not in his workspace.
    let theirs = "let outcome: string\n\
                  try {\n\
                    const f = await tools.workspace.read_file({path: 'secret.txt'})\n\
                    outcome = 'read: ' + JSON.stringify(f)\n\
                  } catch (e) {\n\
                    outcome = 'refused: ' + (e as Error).message\n\
                  }\n\
                  outcome";
    let results = scenarios(
        &s,
        &ben,
        &json!({"theirs": {"language": "typescript", "code": theirs}}),
    );
    let r = ok(&results, "theirs")["result"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(r.starts_with("refused: "), "ben read ana's file: {r}");
    assert!(!r.contains("ana's"), "{r}");
}
