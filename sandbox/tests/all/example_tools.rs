//! The SDK's example tools, built from source, served by the real sandbox over HTTP.

use crate::common::{Sandbox, Setup};
use serde_json::json;

#[test]
fn example_tools_are_listed_with_derived_schemas() {
    let sb = Sandbox::start(Setup::default());
    let (status, listing) = sb.get("/v1/tools");
    assert_eq!(status, 200);
    let tools = listing["tools"].as_array().unwrap();
    let echo = tools
        .iter()
        .find(|t| t["name"] == "echo")
        .expect("echo listed");
    assert_eq!(echo["toolset"], "examples");
    assert_eq!(echo["component"], "echo");
    assert_eq!(echo["inputSchema"]["type"], "object");
    assert_eq!(echo["inputSchema"]["required"], json!(["text"]));
    assert_eq!(echo["annotations"]["readOnlyHint"], true);
    for name in ["text_transform", "text_stats", "call_echo_twice", "spin"] {
        assert!(
            tools.iter().any(|t| t["name"] == name),
            "{name} missing from {listing}"
        );
    }
    assert!(listing["revision"].as_str().unwrap().len() >= 16);
}

#[test]
fn echo_returns_the_text_and_its_length() {
    let sb = Sandbox::start(Setup::default());
    let a = sb.call("echo", json!({"text": "héllo wörld"}));
    assert_eq!(a.status, 200);
    assert_eq!(a.result(), &json!({"text": "héllo wörld", "length": 11}));
    assert!(a.body["stats"]["fuel_consumed"].as_u64().unwrap() > 0);
}

#[test]
fn text_transform_applies_each_operation() {
    let sb = Sandbox::start(Setup::default());
    let cases = [
        ("upper", "Hello World", json!("HELLO WORLD")),
        ("lower", "Hello World", json!("hello world")),
        ("reverse", "abc", json!("cba")),
        ("slug", "Hello, World! 2026", json!("hello-world-2026")),
    ];
    for (op, text, want) in cases {
        let a = sb.call("text_transform", json!({"text": text, "operation": op}));
        let got = &a.result()["result"];
        assert_eq!(got, &want, "{op}: {}", a.body);
    }
}

#[test]
fn a_tool_calls_another_through_the_host_as_the_same_caller() {
    let sb = Sandbox::start(Setup::default());
    let a = sb.call_as(
        "call_echo_twice",
        json!({"text": "hi"}),
        "carol",
        &["tester"],
    );
    let r = a.result();
    assert_eq!(r["combined"], "hi | hi hi");
    assert_eq!(r["lengths"], json!([2, 5]));
    assert_eq!(r["caller"], "carol");
    assert_eq!(a.body["stats"]["nested_calls"], 2);
}

#[test]
fn arguments_that_do_not_match_the_schema_are_rejected_before_the_guest_runs() {
    let sb = Sandbox::start(Setup::default());
    let a = sb.call("echo", json!({"text": 42}));
    assert_eq!((a.status, a.kind()), (422, "invalid_arguments"));
    assert!(a.message().contains("/text"), "{}", a.message());
    assert_eq!(a.body["stats"]["fuel_consumed"], 0, "guest must not run");
    let a = sb.call(
        "text_transform",
        json!({"text": "x", "operation": "explode"}),
    );
    assert_eq!(a.kind(), "invalid_arguments");
    let a = sb.call("echo", json!({}));
    assert_eq!(a.kind(), "invalid_arguments");
    assert!(
        a.message().contains("\"text\" is a required property"),
        "{}",
        a.message()
    );
}

#[test]
fn unknown_tools_forbidden_callers_and_malformed_requests_get_distinct_errors() {
    let sb = Sandbox::start(Setup::default());
    let a = sb.call("no_such_tool", json!({}));
    assert_eq!((a.status, a.kind()), (404, "unknown_tool"));
    let a = sb.call_as("echo", json!({"text": "x"}), "mallory", &["viewer"]);
    assert_eq!((a.status, a.kind()), (403, "forbidden"));
    assert!(a.message().contains("mallory"), "{}", a.message());
    let a = sb.post_raw(b"{not json");
    assert_eq!((a.status, a.kind()), (400, "bad_request"));
    // A nested call is authorised with the caller's roles too.
    let a = sb.call_as(
        "call_echo_twice",
        json!({"text": "x"}),
        "mallory",
        &["viewer"],
    );
    assert_eq!(a.kind(), "forbidden");
    sb.assert_still_serving();
}

#[test]
fn probes_and_metrics_answer() {
    let sb = Sandbox::start(Setup::default());
    let (status, health) = sb.get("/health");
    assert_eq!((status, health["status"].as_str()), (200, Some("healthy")));
    let (status, ready) = sb.get("/ready");
    assert_eq!((status, ready["status"].as_str()), (200, Some("ready")));
    sb.call("echo", json!({"text": "x"}));
    let metrics = reqwest::blocking::get(sb.url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains(r#"mcp_sandbox_calls_total{tool="echo",status="success"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("mcp_sandbox_duration_seconds_bucket"),
        "{metrics}"
    );
}
