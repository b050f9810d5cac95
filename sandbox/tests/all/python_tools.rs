//! Tools written with the Python SDK (sdk/python), built from source by scripts/build-tools.sh:
//! the examples (`py_echo`, `py_text_transform`, `py_text_stats` in `py_examples.wasm`, served by
//! `policies/toolsets/examples.yaml` next to the Rust examples) and hostile tools in
//! `py_tests.wasm`, served here in a tool set of their own, and checked like the Rust ones:
//! schemas from type hints, the same answers as the Rust examples, schema violations refused
//! before the guest runs, the context (caller, log, nested calls with the caller's roles),
//! hostile code contained by its limits, and hot reload of a changed component.
//!
//! Each SDK component embeds an interpreter that a debug sandbox compiles in tens of seconds to
//! minutes on a cold cache (scripts/test.sh compiles them all beforehand); the hostile tool set is
//! added once the sandbox runs, and the tests wait for it.

use std::time::Duration;

use crate::common::{Sandbox, Setup};
use serde_json::{Value, json};

/// Limits of the SDK test tool set: ample fuel for an interpreter's start and for the
/// TypeScript glue that hands a large result to the host, a small memory cap.
pub const SDK_LIMITS: &str = "{ fuel: 5000000000, timeout: 5s, memory: 64MiB, output: 1MiB, max_nested_calls: 4, max_nesting_depth: 2 }";

/// The examples tool set plus `sdk` (`{prefix}_tests.wasm`, granted to `tester`), added once the
/// sandbox runs: the common harness serves only tool sets of policies/, and this one, with its
/// hostile tools, must never be there.
pub fn with_sdk_tools(prefix: &str) -> Sandbox {
    with_sdk_tools_granting(prefix, "", &[])
}

/// [`with_sdk_tools`], the component's entry in the manifest followed by `component_yaml`
/// (lines indented by four spaces, e.g. `    capabilities: ...`); `files` (name, content) are
/// written beside the manifest first, for the files it names (a secret for `inject`).
pub fn with_sdk_tools_granting(
    prefix: &str,
    component_yaml: &str,
    files: &[(&str, &str)],
) -> Sandbox {
    let sb = Sandbox::start(Setup {
        extra_policy: "  sdk: { roles: [tester] }\n",
        extra_args: vec!["--watch-interval", "200ms"],
        ..Setup::default()
    });
    for (name, content) in files {
        std::fs::write(sb.dir.path().join("toolsets").join(name), content).unwrap();
    }
    std::fs::write(
        sb.dir.path().join("toolsets/sdk.yaml"),
        format!(
            "name: sdk\ndefaults:\n  limits: {SDK_LIMITS}\ncomponents:\n  - file: {prefix}_tests.wasm\n{component_yaml}"
        ),
    )
    .unwrap();
    // The first load compiles a large component (an interpreter inside), once per cache.
    wait_listed(&sb, &format!("{prefix}_spin"), 300);
    sb
}

/// The names the sandbox lists.
pub fn names(sb: &Sandbox) -> Vec<String> {
    let (_, listing) = sb.get("/v1/tools");
    listing["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until `name` is listed.
pub fn wait_listed(sb: &Sandbox, name: &str, secs: u64) {
    mcp_testkit::wait_for(name, Duration::from_secs(secs), || {
        names(sb).iter().any(|n| n == name).then_some(())
    });
}

fn tool<'a>(listing: &'a Value, name: &str) -> &'a Value {
    listing["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed: {listing}"))
}

#[test]
fn python_tools_are_listed_with_schemas_from_type_hints_and_docstrings() {
    let sb = with_sdk_tools("py");
    let (status, listing) = sb.get("/v1/tools");
    assert_eq!(status, 200);
    let echo = tool(&listing, "py_echo");
    assert_eq!(echo["toolset"], "examples");
    assert_eq!(echo["component"], "py_examples");
    assert_eq!(tool(&listing, "py_spin")["component"], "py_tests");
    assert_eq!(
        echo["description"],
        "Echo text back, with its length in characters"
    );
    assert_eq!(echo["inputSchema"]["required"], json!(["text"]));
    assert_eq!(
        echo["inputSchema"]["properties"]["text"],
        json!({"type": "string", "description": "Text to send back."})
    );
    assert_eq!(
        echo["outputSchema"]["required"],
        json!(["text", "length"]),
        "{echo}"
    );
    assert_eq!(
        echo["annotations"],
        json!({"readOnlyHint": true, "idempotentHint": true, "openWorldHint": false})
    );
    // The same input schema as the Rust tool's, descriptions and all.
    let rust = tool(&listing, "echo");
    assert_eq!(
        echo["inputSchema"]["properties"],
        rust["inputSchema"]["properties"]
    );
    // Portable like every schema in the catalog (schema_portability.rs), for strict clients.
    let mut checked = 0;
    for t in listing["tools"].as_array().unwrap() {
        if !t["name"].as_str().unwrap().starts_with("py_") {
            continue;
        }
        for key in ["inputSchema", "outputSchema"] {
            if !t[key].is_null() {
                let problems = crate::schema_portability::problems(&t[key]);
                assert!(problems.is_empty(), "{} {key}: {problems:?}", t["name"]);
                checked += 1;
            }
        }
    }
    assert!(checked >= 6, "{checked}");
    let transform = tool(&listing, "py_text_transform");
    assert_eq!(transform["title"], "Transform text");
    assert_eq!(
        transform["inputSchema"]["properties"]["operation"]["enum"],
        tool(&listing, "text_transform")["inputSchema"]["properties"]["operation"]["enum"]
    );
    assert!(
        transform["inputSchema"]["properties"]["operation"]["description"]
            .as_str()
            .unwrap()
            .starts_with("The transformation: `upper`"),
        "the docstring's Args: section describes the parameter: {transform}"
    );
}

#[test]
fn python_examples_answer_exactly_like_the_rust_ones() {
    let sb = with_sdk_tools("py");
    let text = "Hello, wörld!  Ünïcode\tand 2026 tabs\nsecond line\n";
    let same = |rust: &str, python: &str, args: Value| {
        let r = sb.call(rust, args.clone());
        let p = sb.call(python, args.clone());
        assert_eq!(p.result(), r.result(), "{python} vs {rust} on {args}");
        assert!(p.body["stats"]["fuel_consumed"].as_u64().unwrap() > 0);
    };
    same("echo", "py_echo", json!({"text": "héllo wörld"}));
    for op in ["upper", "lower", "reverse", "title", "word_count", "slug"] {
        same(
            "text_transform",
            "py_text_transform",
            json!({"text": text, "operation": op}),
        );
    }
    same("text_stats", "py_text_stats", json!({"text": text}));
    same("text_stats", "py_text_stats", json!({"text": ""}));
    let a = sb.call("py_echo", json!({"text": "héllo wörld"}));
    assert_eq!(a.result(), &json!({"text": "héllo wörld", "length": 11}));
}

#[test]
fn arguments_that_break_a_python_tools_schema_never_reach_it() {
    let sb = with_sdk_tools("py");
    let a = sb.call("py_echo", json!({"text": 42}));
    assert_eq!((a.status, a.kind()), (422, "invalid_arguments"));
    assert!(a.message().contains("/text"), "{}", a.message());
    assert_eq!(a.body["stats"]["fuel_consumed"], 0, "guest must not run");
    let a = sb.call(
        "py_text_transform",
        json!({"text": "x", "operation": "explode"}),
    );
    assert_eq!(a.kind(), "invalid_arguments", "{}", a.body);
    let a = sb.call_as("py_echo", json!({"text": "x"}), "mallory", &["viewer"]);
    assert_eq!((a.status, a.kind()), (403, "forbidden"));
}

#[test]
fn hostile_python_code_is_stopped_by_each_limit_with_its_own_kind() {
    let sb = with_sdk_tools("py");
    let a = sb.call("py_spin", json!({}));
    assert_eq!(a.kind(), "fuel_exhausted", "{}", a.body);
    assert_eq!(a.body["stats"]["fuel_consumed"], 5_000_000_000_u64);
    let a = sb.call("py_memory_bomb", json!({}));
    assert_eq!(a.kind(), "memory_limit", "{}", a.body);
    assert!(a.message().contains("64MiB"), "{}", a.message());
    let a = sb.call("py_stdout_flood", json!({}));
    assert_eq!(a.kind(), "output_too_large", "{}", a.body);
    let a = sb.call("py_huge_output", json!({}));
    assert_eq!(a.kind(), "output_too_large", "{}", a.body);
    // Nothing the tool set did not grant is reachable: files, environment, sockets.
    let a = sb.call("py_escape", json!({}));
    let report = a.result().as_object().unwrap().clone();
    assert!(report.len() >= 6, "{report:?}");
    for (what, outcome) in &report {
        assert!(
            outcome.as_str().unwrap().starts_with("denied"),
            "{what}: {outcome}"
        );
    }
    // Nor HTTP: the tool set grants none, so the host refuses the request (sdk_http.rs has a
    // granted origin) and `mcp_tool.http` fails the call with the reason.
    let a = sb.call("py_fetch", json!({"url": sb.url("/health")}));
    assert_eq!(a.kind(), "tool_error", "{}", a.body);
    assert!(
        a.message().contains("was refused: HttpRequestDenied"),
        "{}",
        a.message()
    );
    // An exception the tool does not handle fails the call (not the sandbox), with the
    // traceback as the failure's detail.
    let a = sb.call("py_raise", json!({}));
    assert_eq!(a.kind(), "tool_error", "{}", a.body);
    assert!(
        a.message()
            .contains("KeyError: 'hostile python tool raises on purpose'"),
        "{}",
        a.message()
    );
    assert!(
        a.body["error"]["detail"]["traceback"]
            .as_str()
            .unwrap()
            .contains("hostile.py"),
        "{}",
        a.body
    );
    sb.assert_still_serving();
    let a = sb.call("py_echo", json!({"text": "still here"}));
    assert_eq!(a.result()["text"], "still here");
}

#[test]
fn python_tools_get_the_caller_log_and_call_other_tools_with_the_callers_roles() {
    let sb = with_sdk_tools("py");
    let a = sb.call_as(
        "py_call",
        json!({"tool": "py_echo", "arguments": {"text": "nested"}}),
        "carol",
        &["tester"],
    );
    let r = a.result();
    assert_eq!(r["caller"], "carol", "{r}");
    assert_eq!(r["roles"], json!(["tester"]));
    assert_eq!(r["result"], json!({"text": "nested", "length": 6}));
    assert_eq!(r["nested_calls"], 1);
    assert_eq!(a.body["stats"]["nested_calls"], 1);
    // Errors of nested calls arrive as the SDK's CallError kinds.
    let a = sb.call("py_call", json!({"tool": "no_such_tool", "arguments": {}}));
    assert_eq!(a.result()["error"]["kind"], "not_found", "{}", a.body);
    let a = sb.call("py_call", json!({"tool": "py_spin", "arguments": {}}));
    assert_eq!(
        a.result()["error"],
        json!({"kind": "aborted", "abort_kind": "fuel_exhausted", "message": a.result()["error"]["message"]}),
        "{}",
        a.body
    );
    // The tool's own error kinds.
    let a = sb.call("py_refuse", json!({"reason": "arguments"}));
    assert_eq!(
        (a.kind(), a.message()),
        ("invalid_arguments", "refused on purpose: bad arguments")
    );
    let a = sb.call("py_refuse", json!({"reason": "failure"}));
    assert_eq!(
        (a.kind(), a.message()),
        ("tool_error", "refused on purpose: failed")
    );
    // The tool's log line, attributed to the caller's request.
    mcp_testkit::wait_for("the tool's log line", Duration::from_secs(10), || {
        sb.proc
            .stderr()
            .lines()
            .any(|l| l.contains("calling") && l.contains("py_echo"))
            .then_some(())
    });
}

#[test]
fn a_changed_python_tool_is_hot_reloaded_without_a_restart() {
    let sb = Sandbox::start(Setup {
        toolsets: &[],
        extra_policy: "  mine: { roles: [tester] }\n",
        extra_args: vec!["--watch-interval", "200ms"],
        ..Setup::default()
    });
    let tools = mcp_testkit::tools_dir();
    // Beside the manifest: the sandbox watches its tool-set and module directories (and the
    // policy), not a component named by an absolute path elsewhere.
    let file = sb.dir.path().join("toolsets/mine.wasm");
    let replace = |from: &str| {
        let tmp = sb.dir.path().join("toolsets/mine.wasm.tmp");
        std::fs::copy(tools.join(from), &tmp).unwrap();
        std::fs::rename(&tmp, &file).unwrap();
    };
    replace("py_examples.wasm");
    std::fs::write(
        sb.dir.path().join("toolsets/mine.yaml"),
        format!(
            "name: mine\ndefaults:\n  limits: {SDK_LIMITS}\ncomponents:\n  - file: {}\n    name: mine\n",
            file.display()
        ),
    )
    .unwrap();
    wait_listed(&sb, "py_echo", 300);
    let a = sb.call("py_echo", json!({"text": "v1"}));
    assert_eq!(a.result()["length"], 2);
    // The file is rebuilt with other tools (here: the TypeScript examples, which every test
    // sandbox compiles anyway): the sandbox swaps the component, without a restart.
    replace("ts_examples.wasm");
    wait_listed(&sb, "ts_echo", 300);
    assert!(
        !names(&sb).iter().any(|n| n == "py_echo"),
        "{:?}",
        names(&sb)
    );
    let a = sb.call("ts_echo", json!({"text": "v2"}));
    assert_eq!(a.result()["length"], 2);
}

/// Runs `mcp-sandbox tool check` (what a project scaffolded by `new.sh` runs after each build)
/// on `component` of target/tools, with the test cache (the component is compiled once, by
/// scripts/test.sh), and `extra` arguments. Returns whether it passed and what it printed.
pub fn tool_check(component: &str, extra: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(mcp_testkit::bin("mcp-sandbox"))
        .args(["tool", "check"])
        .arg(mcp_testkit::tools_dir().join(component))
        .arg("--cache")
        .arg(mcp_testkit::repo_root().join("target/wasm-cache"))
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn tool_check_passes_the_python_examples_and_fails_a_tool_that_raises_with_where_and_why() {
    let (ok, report) = tool_check("py_examples.wasm", &[]);
    assert!(ok, "{report}");
    assert!(report.contains("loads and provides 3 tool(s)"), "{report}");
    assert!(
        report.contains("ok    result: {\"text\":\"example\",\"length\":7}"),
        "{report}"
    );
    let (ok, report) = tool_check("py_tests.wasm", &["--tool", "py_raise"]);
    assert!(!ok, "{report}");
    for needle in [
        "FAIL  tool_error: `py_raise` raised KeyError: 'hostile python tool raises on purpose'",
        "an exception the tool did not handle",
        "hostile.py\", line",
    ] {
        assert!(report.contains(needle), "{needle:?} not in {report}");
    }
}

#[test]
fn the_python_sdks_own_unit_tests_pass() {
    // Schema derivation, decoding and error mapping of sdk/python, natively (CPython, no wasm).
    let out = std::process::Command::new("python3")
        .args(["-m", "unittest", "discover", "-s"])
        .arg(mcp_testkit::repo_root().join("sdk/python/tests"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("OK"), "{report}");
}
