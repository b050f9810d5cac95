//! The `execute_javascript` tool (code/javascript, built into `javascript.wasm` by
//! scripts/build-javascript.sh), served by the real sandbox with the `javascript` and `examples`
//! tool sets: programs log, return values, call other tools through the host (which authorizes
//! them with the caller's roles); their exceptions fail the call with the report as the failure's
//! detail; what the sandbox denies (network, environment, files, time, memory) fails cleanly, and
//! the next call still works.

use std::time::Duration;

use crate::common::{Answer, Sandbox, Setup};
use serde_json::{Value, json};

/// Slack for process scheduling and HTTP on a loaded 2-core CI machine.
const MARGIN: Duration = Duration::from_millis(1500);

fn start() -> Sandbox {
    Sandbox::start(Setup {
        toolsets: &["examples", "javascript"],
        ..Setup::default()
    })
}

fn run(sb: &Sandbox, code: &str) -> Answer {
    sb.call(
        "execute_javascript",
        json!({"language": "javascript", "code": code}),
    )
}

/// The report of a program that ran: the result, or for a program that threw, the failure's
/// detail (a `tool_error` whose detail is the report with `success` false).
fn report(a: &Answer) -> &Value {
    let r = if a.body["ok"] == true {
        a.result()
    } else {
        assert_eq!(a.kind(), "tool_error", "{}", a.body);
        &a.body["error"]["detail"]
    };
    assert_eq!(r["success"], a.body["ok"], "{}", a.body);
    for field in [
        "success",
        "output",
        "truncated",
        "duration_ms",
        "fuel_used",
        "tool_calls",
    ] {
        assert!(!r[field].is_null(), "report without {field}: {r}");
    }
    r
}

fn assert_still_runs_programs(sb: &Sandbox) {
    let a = run(sb, "console.log('ok')\n6 * 7");
    let r = report(&a);
    assert_eq!(
        (&r["success"], &r["result"], &r["output"]),
        (&json!(true), &json!(42), &json!("ok\n")),
        "{r}"
    );
    sb.assert_still_serving();
}

#[test]
fn console_log_goes_to_output_and_the_last_expression_is_the_result() {
    let sb = start();
    let a = run(
        &sb,
        "console.log('hello, world', 1, {a: [1, 2]})\nconst x = 6\nx * 7",
    );
    let r = report(&a);
    assert_eq!(r["output"], "hello, world 1 { a: [ 1, 2 ] }\n", "{r}");
    assert_eq!(r["result"], 42, "{r}");
    assert_eq!(
        (&r["truncated"], &r["tool_calls"], &r["error"]),
        (&json!(false), &json!(0), &Value::Null)
    );
    assert!(r["fuel_used"].as_u64().unwrap() > 0, "{r}");
    // An awaited promise is the result; so is what the program returns; no value is null.
    let a = run(&sb, "const p = Promise.resolve({ids: new Set([1, 2])})\np");
    assert_eq!(report(&a)["result"], json!({"ids": [1, 2]}));
    let a = run(&sb, "if (true) {\n  return 'early'\n}\n'late'");
    assert_eq!(report(&a)["result"], "early");
    let a = run(&sb, "let y = 1");
    assert_eq!(report(&a)["result"], Value::Null);
    // The standard built-ins work.
    let a = run(
        &sb,
        "const m = 'ERROR api\\nINFO x\\nERROR db'.match(/ERROR (\\w+)/g)\n\
         ;[m.length, JSON.parse('[1,2]')[1], new Date(0).toISOString(), Math.hypot(3, 4), \
         [3, 1, 2].sort().join(''), typeof Math.random()]",
    );
    assert_eq!(
        report(&a)["result"],
        json!([2, 2, "1970-01-01T00:00:00.000Z", 5, "123", "number"])
    );
}

#[test]
fn an_exception_fails_the_call_with_the_report_as_detail() {
    let sb = start();
    let a = run(&sb, "console.log('before')\nthrow new TypeError('boom')");
    assert_eq!(a.kind(), "tool_error", "{}", a.body);
    let r = report(&a);
    assert_eq!(
        (&r["success"], &r["error"], &r["output"]),
        (&json!(false), &json!("TypeError: boom"), &json!("before\n")),
        "{r}"
    );
    // The traceback names the program's own frames, with their lines in the program.
    let a = run(&sb, "function f() {\n  throw new Error('deep')\n}\nf()");
    let traceback = report(&a)["traceback"].as_str().unwrap().to_owned();
    assert!(
        traceback.starts_with("f@program.js:2:") && traceback.contains("@program.js:4:"),
        "{traceback}"
    );
    let a = run(&sb, "this is not javascript");
    let r = report(&a);
    assert!(
        r["error"].as_str().unwrap().starts_with("SyntaxError"),
        "{r}"
    );
    assert_still_runs_programs(&sb);
}

#[test]
fn programs_call_tools_through_the_host() {
    let sb = start();
    let program = r#"
const a = await tools.call('echo', {text: 'hi'})
const b = await tools.echo.echo({text: 'there'})
const upper = await tools.text_transform.text_transform({text: 'abc', operation: 'upper'})
let invalid
try {
  await tools.call('text_transform', {text: 'abc', operation: 'sideways'})
} catch (e) {
  invalid = e.kind
}
const listed = tools.list().map((t) => t.name)
let failure
try {
  await tools.call('no_such_tool', {})
} catch (e) {
  failure = [e instanceof ToolError, e.kind, e.tool]
}
({texts: [a.text, b.text, upper.result], listed: listed.includes('echo'), failure, invalid})
"#;
    let a = run(&sb, program);
    let r = report(&a);
    assert_eq!(r["result"]["texts"], json!(["hi", "there", "ABC"]), "{r}");
    assert_eq!(r["result"]["invalid"], "invalid_arguments", "{r}");
    assert_eq!(r["result"]["listed"], true, "{r}");
    assert_eq!(
        r["result"]["failure"],
        json!([true, "not_found", "no_such_tool"]),
        "{r}"
    );
    assert!(r["tool_calls"].as_u64().unwrap() >= 3, "{r}");
    assert!(
        a.body["stats"]["nested_calls"].as_u64().unwrap() >= 2,
        "{}",
        a.body
    );
}

/// As in Python: a tool the caller's roles do not grant and a tool that does not exist throw
/// the same error (kind and words), so code cannot probe the catalog.
#[test]
fn unknown_and_forbidden_tools_answer_alike_in_javascript() {
    // `coder` may run code but not the examples.
    let sb = Sandbox::start(Setup {
        toolsets: &["examples", "javascript"],
        extra_policy: "tools:\n  execute_javascript: { roles: [tester, coder] }\n",
        ..Setup::default()
    });
    let program = r#"
const listed = tools.list().map((t) => t.name)
const seen = {}
for (const name of ['echo', 'no_such_tool']) {
  try {
    await tools.call(name, {text: 'hi'})
  } catch (e) {
    seen[name] = [e.name, e.kind, e.message.split(name).join('NAME')]
  }
}
({listed, seen, echo: tools.echo === undefined})
"#;
    let a = sb.call_as(
        "execute_javascript",
        json!({"language": "javascript", "code": program}),
        "bob",
        &["coder"],
    );
    let r = &report(&a)["result"];
    assert_eq!(r["listed"], json!(["execute_javascript"]), "{r}");
    let (forbidden, unknown) = (&r["seen"]["echo"], &r["seen"]["no_such_tool"]);
    assert_eq!(forbidden[0], "ToolError", "{r}");
    assert_eq!(forbidden[1], "not_found", "{r}");
    assert_eq!(
        forbidden, unknown,
        "forbidden and unknown tools differ: {r}"
    );
    assert!(!forbidden[2].as_str().unwrap().contains("bob"), "{r}");
    assert_eq!(r["echo"], true, "{r}");
}

#[test]
fn an_endless_loop_stops_at_timeout_s() {
    let sb = start();
    let a = sb.call(
        "execute_javascript",
        json!({"language": "javascript", "code": "while (true) {}", "timeout_s": 2}),
    );
    assert_eq!(a.kind(), "timeout", "{}", a.body);
    assert!(a.elapsed >= Duration::from_secs(2), "{:?}", a.elapsed);
    assert!(
        a.elapsed < Duration::from_secs(2) + MARGIN,
        "{:?}",
        a.elapsed
    );
    assert_still_runs_programs(&sb);
}

#[test]
fn a_memory_bomb_ends_the_call_at_the_memory_cap() {
    let sb = start();
    let a = run(
        &sb,
        "const chunks = []\nwhile (true) chunks.push(new Uint8Array(1 << 20).fill(1))",
    );
    assert_eq!(a.kind(), "memory_limit", "{}", a.body);
    let peak = a.body["stats"]["memory_peak"].as_u64().unwrap();
    assert!(peak <= 256 << 20, "peak {peak} above the cap");
    assert_still_runs_programs(&sb);
}

#[test]
fn output_past_100_000_characters_is_cut_and_flagged() {
    let sb = start();
    let a = run(
        &sb,
        "for (let i = 0; i < 3000; i++) console.log('x'.repeat(99))\n'still returned'",
    );
    let r = report(&a);
    assert_eq!(r["truncated"], true);
    assert_eq!(r["output"].as_str().unwrap().chars().count(), 100_000);
    assert_eq!(
        (&r["success"], &r["result"]),
        (&json!(true), &json!("still returned"))
    );
}

#[test]
fn no_network_no_environment_no_host_files() {
    let sb = start();
    let (host, port) = sb.proc.addr().rsplit_once(':').unwrap();
    let program = format!(
        r#"
let network
if (typeof fetch === 'undefined') network = 'no fetch'
else network = await fetch('http://{host}:{port}/health').then((r) => 'reached ' + r.status, (e) => 'refused')
;[network, typeof process, typeof require, typeof Deno, typeof XMLHttpRequest, typeof WebSocket]
"#
    );
    let a = run(&sb, &program);
    let r = report(&a);
    let result = r["result"].as_array().unwrap();
    assert!(
        result[0] == "no fetch" || result[0] == "refused",
        "the program reached the network: {r}"
    );
    for v in &result[1..] {
        assert_eq!(v, "undefined", "{r}");
    }
    // Modules cannot be loaded from the host's files: the host refuses `import()` before the
    // program runs (and StarlingMonkey's module loader has no file system to read anyway).
    let a = run(&sb, "await import('/etc/passwd')");
    assert_ne!(a.body["ok"], true, "{}", a.body);
    assert!(
        ["tool_error", "tool_trap"].contains(&a.kind()),
        "{}",
        a.body
    );
    assert!(!a.body.to_string().contains("root:"), "{}", a.body);
    assert_still_runs_programs(&sb);
}

#[test]
fn a_program_makes_100_tool_calls_in_a_loop_and_in_parallel() {
    let sb = start();
    let program = r#"
const seq = []
for (let i = 0; i < 50; i++) seq.push((await tools.echo.echo({text: `s${i}`})).text)
const par = await Promise.all(
  Array.from({length: 50}, (_, i) => tools.call('echo', {text: `p${i}`}).then((r) => r.text)))
;[seq.length, seq[49], par.length, par[49]]
"#;
    let a = run(&sb, program);
    let r = report(&a);
    assert_eq!(r["result"], json!([50, "s49", 50, "p49"]), "{r}");
    assert_eq!(r["tool_calls"], 100, "{r}");
    assert_eq!(a.body["stats"]["nested_calls"], 100, "{}", a.body);
}

// ---------------------------------------------------------------------------------------------
// `execute_code` with `language` "javascript" and "typescript": routed by the host
// (sandbox/src/codelang.rs) to the JavaScript engine, after parsing, module checks and type
// stripping there.

fn start_code_mode() -> Sandbox {
    Sandbox::start(Setup {
        toolsets: &["examples", "code", "javascript"],
        ..Setup::default()
    })
}

fn code(sb: &Sandbox, language: &str, program: &str) -> Answer {
    sb.call(
        "execute_code",
        json!({"language": language, "code": program}),
    )
}

#[test]
fn execute_code_runs_javascript_and_typescript_with_python_as_the_default() {
    let sb = start_code_mode();
    let a = code(
        &sb,
        "javascript",
        "const r = await tools.echo.echo({text: 'hi'})\nconsole.log(r.text)\n;[r.text, typeof tools.call]",
    );
    let r = report(&a);
    assert_eq!(
        (&r["result"], &r["output"]),
        (&json!(["hi", "function"]), &json!("hi\n")),
        "{r}"
    );
    assert_eq!(a.body["stats"]["nested_calls"], 1, "{}", a.body);
    // Types, interfaces, generics, `as`, `satisfies` and enums: stripped (enums compiled) on
    // the host; the last expression is still the result.
    let program = r#"
interface Echo { text: string }
enum Level { Info = 'INFO', Error = 'ERROR' }
function first<T>(xs: T[]): T | undefined { return xs[0] }
const r = (await tools.call('echo', {text: Level.Error})) as Echo
const sum: number = [1, 2, 3].reduce((a: number, b: number) => a + b, 0) satisfies number
console.log(`${r.text}:${sum}`)
;({text: r.text, sum, first: first<string>(['a', 'b'])!})
"#;
    let a = code(&sb, "typescript", program);
    let r = report(&a);
    assert_eq!(
        r["result"],
        json!({"text": "ERROR", "sum": 6, "first": "a"}),
        "{r}"
    );
    assert_eq!(r["output"], "ERROR:6\n", "{r}");
    // Without `language`, execute_code is Python.
    let a = sb.call(
        "execute_code",
        json!({"code": "import sys\nsys.version_info[0] * 14"}),
    );
    assert_eq!(report(&a)["result"], 42, "{}", a.body);
}

#[test]
fn syntax_errors_come_back_as_tool_errors_with_line_and_column() {
    let sb = start_code_mode();
    let a = code(&sb, "typescript", "const a: number = 1\nconst b: = 2");
    assert_eq!(a.kind(), "tool_error", "{}", a.body);
    assert!(
        a.message()
            .starts_with("TypeScript syntax error at line 2, column 10: "),
        "{}",
        a.message()
    );
    let r = report(&a);
    assert_eq!(
        (&r["success"], &r["traceback"]),
        (&json!(false), &json!("program.ts:2:10")),
        "{r}"
    );
    assert!(
        r["error"].as_str().unwrap().starts_with("SyntaxError: "),
        "{r}"
    );
    // JavaScript is checked the same way, and a type annotation is not JavaScript.
    for program in ["let x = ;", "const a: number = 1"] {
        let a = code(&sb, "javascript", program);
        assert_eq!(a.kind(), "tool_error", "{}", a.body);
        assert!(
            a.message()
                .starts_with("JavaScript syntax error at line 1, column "),
            "{}",
            a.message()
        );
    }
    assert_still_runs_programs(&sb);
}

/// TypeScript runs type-stripped; its tracebacks still name the lines as sent.
#[test]
fn typescript_tracebacks_name_the_lines_as_sent() {
    let sb = start_code_mode();
    let a = code(
        &sb,
        "typescript",
        "type Row = { n: number }\n\nfunction f(r: Row): number {\n  throw new Error(String(r.n))\n}\n\nf({n: 1})",
    );
    let r = report(&a);
    assert_eq!(r["error"], "Error: 1", "{r}");
    assert_eq!(
        r["traceback"], "f@program.ts:4\nanonymous@program.ts:7",
        "{r}"
    );
}

#[test]
fn import_and_require_are_refused_with_a_clear_error() {
    let sb = start_code_mode();
    let programs = [
        (
            "import fs from 'fs'\nfs.readFileSync('/etc/passwd')",
            "an `import` statement",
        ),
        ("const m = await import('/etc/passwd')", "`import(...)`"),
        ("const fs = require('fs')", "`require(...)`"),
        ("export const x = 1", "an `export` statement"),
    ];
    for (program, what) in programs {
        for language in ["javascript", "typescript"] {
            let a = code(&sb, language, program);
            assert_eq!(a.kind(), "tool_error", "{language} {program}: {}", a.body);
            assert!(
                a.message().starts_with(what)
                    && a.message().contains("programs cannot load modules"),
                "{language} {program}: {}",
                a.message()
            );
            assert_eq!(
                report(&a)["error"].as_str().unwrap().split(':').next(),
                Some("ImportError")
            );
        }
    }
    assert_still_runs_programs(&sb);
}

#[test]
fn typescript_is_held_to_the_same_limits() {
    let sb = start_code_mode();
    let a = sb.call(
        "execute_code",
        json!({"language": "typescript", "code": "let n: number = 0\nwhile (true) { n++ }", "timeout_s": 2}),
    );
    assert_eq!(a.kind(), "timeout", "{}", a.body);
    assert!(
        a.elapsed < Duration::from_secs(2) + MARGIN,
        "{:?}",
        a.elapsed
    );
    let a = code(
        &sb,
        "typescript",
        "const chunks: Uint8Array[] = []\nwhile (true) chunks.push(new Uint8Array(1 << 20).fill(1))",
    );
    assert_eq!(a.kind(), "memory_limit", "{}", a.body);
    let a = code(
        &sb,
        "typescript",
        "for (let i: number = 0; i < 3000; i++) console.log('x'.repeat(99))\n'done' as string",
    );
    let r = report(&a);
    assert_eq!(
        (&r["truncated"], &r["result"]),
        (&json!(true), &json!("done"))
    );
    assert_still_runs_programs(&sb);
}

/// The description is fixed text: tools are found with `search_tools` (with their TypeScript
/// signatures), so it does not grow with the catalog.
#[test]
fn execute_codes_description_stays_under_2_kb_and_names_every_language() {
    let sb = start_code_mode();
    let (status, listing) = sb.get("/v1/tools");
    assert_eq!(status, 200);
    let tool = listing["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "execute_code")
        .unwrap();
    let description = tool["description"].as_str().unwrap();
    assert!(description.len() < 2048, "{} bytes", description.len());
    for word in ["\"javascript\"", "\"typescript\"", "search_tools"] {
        assert!(description.contains(word), "{word} missing: {description}");
    }
    assert_eq!(
        tool["inputSchema"]["properties"]["language"]["enum"],
        json!(["python", "javascript", "typescript"])
    );
}

/// `execute_code` needs only its own grant: the JavaScript engine serves it even for a caller
/// who may not call `execute_javascript` directly (a deployment can list only execute_code).
#[test]
fn execute_code_in_javascript_needs_only_the_execute_code_grant() {
    let sb = Sandbox::start(Setup {
        toolsets: &["examples", "code", "javascript"],
        extra_policy: "tools:\n  execute_javascript: { roles: [admin] }\n",
        ..Setup::default()
    });
    let direct = sb.call(
        "execute_javascript",
        json!({"language": "javascript", "code": "1"}),
    );
    assert_eq!(direct.kind(), "forbidden", "{}", direct.body);
    let a = code(&sb, "typescript", "const n: number = 6\nn * 7");
    assert_eq!(report(&a)["result"], 42, "{}", a.body);
}
