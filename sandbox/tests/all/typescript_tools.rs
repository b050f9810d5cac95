//! Tools written with the TypeScript SDK (sdk/typescript), built from source by
//! scripts/build-tools.sh: the examples (`ts_echo`, `ts_text_transform`, `ts_text_stats` in
//! `ts_examples.wasm`, served by `policies/toolsets/examples.yaml`) and hostile tools in
//! `ts_tests.wasm`, served here in a tool set of their own (see python_tools.rs), checked like
//! the Rust and Python ones: schemas from JSON Schema literals, the same answers as the Rust
//! examples, schema violations refused before the guest runs, the context (caller, log, nested
//! calls with the caller's roles), and hostile code contained by its limits.

use std::time::Duration;

use crate::python_tools::{tool_check, with_sdk_tools};
use serde_json::{Value, json};

fn tool<'a>(listing: &'a Value, name: &str) -> &'a Value {
    listing["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed: {listing}"))
}

#[test]
fn typescript_tools_are_listed_with_their_schemas_and_annotations() {
    let sb = with_sdk_tools("ts");
    let (status, listing) = sb.get("/v1/tools");
    assert_eq!(status, 200);
    let echo = tool(&listing, "ts_echo");
    assert_eq!(echo["toolset"], "examples");
    assert_eq!(echo["component"], "ts_examples");
    assert_eq!(tool(&listing, "ts_spin")["component"], "ts_tests");
    assert_eq!(
        echo["description"],
        "Echo text back, with its length in characters"
    );
    assert_eq!(echo["inputSchema"]["required"], json!(["text"]));
    assert_eq!(
        echo["inputSchema"]["properties"],
        tool(&listing, "echo")["inputSchema"]["properties"]
    );
    assert_eq!(echo["outputSchema"]["required"], json!(["text", "length"]));
    assert_eq!(
        echo["annotations"],
        json!({"readOnlyHint": true, "idempotentHint": true, "openWorldHint": false})
    );
    // Portable like every schema in the catalog (schema_portability.rs), for strict clients.
    let mut checked = 0;
    for t in listing["tools"].as_array().unwrap() {
        if !t["name"].as_str().unwrap().starts_with("ts_") {
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
    let transform = tool(&listing, "ts_text_transform");
    assert_eq!(transform["title"], "Transform text");
    assert_eq!(
        transform["inputSchema"]["properties"]["operation"]["enum"],
        tool(&listing, "text_transform")["inputSchema"]["properties"]["operation"]["enum"]
    );
}

#[test]
fn typescript_examples_answer_exactly_like_the_rust_ones() {
    let sb = with_sdk_tools("ts");
    let text = "Hello, wörld!  Ünïcode\tand 2026 tabs 😀\nsecond line\n";
    let same = |rust: &str, ts: &str, args: Value| {
        let r = sb.call(rust, args.clone());
        let t = sb.call(ts, args.clone());
        assert_eq!(t.result(), r.result(), "{ts} vs {rust} on {args}");
        assert!(t.body["stats"]["fuel_consumed"].as_u64().unwrap() > 0);
    };
    same("echo", "ts_echo", json!({"text": "héllo wörld 😀"}));
    for op in ["upper", "lower", "reverse", "title", "word_count", "slug"] {
        same(
            "text_transform",
            "ts_text_transform",
            json!({"text": text, "operation": op}),
        );
    }
    same("text_stats", "ts_text_stats", json!({"text": text}));
    same("text_stats", "ts_text_stats", json!({"text": ""}));
}

#[test]
fn arguments_that_break_a_typescript_tools_schema_never_reach_it() {
    let sb = with_sdk_tools("ts");
    let a = sb.call("ts_echo", json!({"text": 42}));
    assert_eq!((a.status, a.kind()), (422, "invalid_arguments"));
    assert!(a.message().contains("/text"), "{}", a.message());
    assert_eq!(a.body["stats"]["fuel_consumed"], 0, "guest must not run");
    let a = sb.call(
        "ts_text_transform",
        json!({"text": "x", "operation": "explode"}),
    );
    assert_eq!(a.kind(), "invalid_arguments", "{}", a.body);
    let a = sb.call_as("ts_echo", json!({"text": "x"}), "mallory", &["viewer"]);
    assert_eq!((a.status, a.kind()), (403, "forbidden"));
}

#[test]
fn hostile_typescript_code_is_stopped_by_each_limit_with_its_own_kind() {
    let sb = with_sdk_tools("ts");
    let a = sb.call("ts_spin", json!({}));
    assert_eq!(a.kind(), "fuel_exhausted", "{}", a.body);
    let a = sb.call("ts_memory_bomb", json!({}));
    assert_eq!(a.kind(), "memory_limit", "{}", a.body);
    assert!(a.message().contains("64MiB"), "{}", a.message());
    let a = sb.call("ts_stdout_flood", json!({}));
    assert_eq!(a.kind(), "output_too_large", "{}", a.body);
    let a = sb.call("ts_huge_output", json!({}));
    assert_eq!(a.kind(), "output_too_large", "{}", a.body);
    // Nothing the tool set did not grant is reachable: it grants no HTTP, so the host refuses
    // fetch (the promise rejects; sdk_http.rs has a granted origin); there is no environment
    // and no file API.
    let a = sb.call("ts_fetch", json!({"url": sb.url("/health")}));
    assert_eq!(a.kind(), "tool_error", "{}", a.body);
    assert!(a.message().contains("refused"), "{}", a.message());
    let a = sb.call("ts_escape", json!({}));
    let report = a.result().as_object().unwrap().clone();
    assert_eq!(report.len(), 2, "{report:?}");
    for (what, outcome) in &report {
        assert!(
            outcome.as_str().unwrap().starts_with("denied"),
            "{what}: {outcome}"
        );
    }
    // An error the tool does not handle fails the call (not the sandbox), with the stack as
    // the failure's detail.
    let a = sb.call("ts_raise", json!({}));
    assert_eq!(a.kind(), "tool_error", "{}", a.body);
    assert!(
        a.message()
            .contains("RangeError: hostile typescript tool throws on purpose"),
        "{}",
        a.message()
    );
    assert!(
        a.body["error"]["detail"]["error"]
            .as_str()
            .unwrap()
            .starts_with("RangeError"),
        "{}",
        a.body
    );
    sb.assert_still_serving();
    let a = sb.call("ts_echo", json!({"text": "still here"}));
    assert_eq!(a.result()["text"], "still here");
}

#[test]
fn typescript_tools_get_the_caller_log_and_call_other_tools_with_the_callers_roles() {
    let sb = with_sdk_tools("ts");
    let a = sb.call_as(
        "ts_call",
        json!({"tool": "ts_echo", "arguments": {"text": "nested"}}),
        "carol",
        &["tester"],
    );
    let r = a.result();
    assert_eq!(r["caller"], "carol", "{r}");
    assert_eq!(r["roles"], json!(["tester"]));
    assert_eq!(r["result"], json!({"text": "nested", "length": 6}));
    assert_eq!(r["nested_calls"], 1);
    let a = sb.call("ts_call", json!({"tool": "no_such_tool", "arguments": {}}));
    assert_eq!(a.result()["error"]["kind"], "not_found", "{}", a.body);
    let a = sb.call("ts_call", json!({"tool": "ts_spin", "arguments": {}}));
    assert_eq!(a.result()["error"]["kind"], "aborted", "{}", a.body);
    assert_eq!(
        a.result()["error"]["abort_kind"],
        "fuel_exhausted",
        "{}",
        a.body
    );
    let a = sb.call("ts_refuse", json!({"reason": "arguments"}));
    assert_eq!(
        (a.kind(), a.message()),
        ("invalid_arguments", "refused on purpose: bad arguments")
    );
    let a = sb.call("ts_refuse", json!({"reason": "failure"}));
    assert_eq!(
        (a.kind(), a.message()),
        ("tool_error", "refused on purpose: failed")
    );
    mcp_testkit::wait_for("the tool's log line", Duration::from_secs(10), || {
        sb.proc
            .stderr()
            .lines()
            .any(|l| l.contains("calling") && l.contains("ts_echo"))
            .then_some(())
    });
}

#[test]
fn tool_check_passes_the_typescript_examples_and_fails_a_tool_that_throws_with_its_stack() {
    let (ok, report) = tool_check("ts_examples.wasm", &[]);
    assert!(ok, "{report}");
    assert!(report.contains("loads and provides 3 tool(s)"), "{report}");
    assert!(
        report.contains("ok    result: {\"result\":\"EXAMPLE\"}"),
        "{report}"
    );
    let (ok, report) = tool_check("ts_tests.wasm", &["--tool", "ts_raise"]);
    assert!(!ok, "{report}");
    for needle in [
        "FAIL  tool_error: `ts_raise` threw RangeError: hostile typescript tool throws on purpose",
        "an exception the tool did not handle",
        "run@bundle.js:",
    ] {
        assert!(report.contains(needle), "{needle:?} not in {report}");
    }
}
