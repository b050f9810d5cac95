//! Progressive discovery: search and browse show only the tools the caller may call.

use serde_json::{Value, json};

use crate::{Fixture, assert_fails};

/// `limited` may call only these three tools; `tester` everything but `delete_file`.
const POLICY: &str = "tools:\n  search_tools: { roles: [tester, limited] }\n  \
                      browse_tools: { roles: [tester, limited] }\n  \
                      scrub_emails: { roles: [tester, limited] }\n  \
                      delete_file: { roles: [admin-only] }\n";

fn tool_names(result: &Value) -> Vec<&str> {
    result["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

/// Asserts the stub's `def` line: keyword-only `params` (in any order: it follows the order
/// of the schema's properties) and the return annotation.
fn assert_signature(stub: &str, tool: &str, params: &[&str], returns: &str) {
    let line = stub
        .lines()
        .find(|l| l.starts_with("def "))
        .unwrap_or_else(|| panic!("no def line in\n{stub}"));
    let inner = line
        .strip_prefix(&format!("def {tool}(*, "))
        .and_then(|rest| rest.strip_suffix(&format!(") -> {returns}:")))
        .unwrap_or_else(|| panic!("unexpected def line: {line}"));
    let mut found: Vec<&str> = inner.split(", ").collect();
    found.sort_unstable();
    assert_eq!(found, params, "{line}");
}

fn entry_names(result: &Value) -> Vec<&str> {
    result["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect()
}

#[test]
fn search_tools_ranks_the_callers_tools_at_each_detail() {
    let fx = Fixture::start_with(&["examples", "log-analysis"], POLICY);
    let a = fx
        .sb
        .call("search_tools", json!({"query": "search logs for errors"}));
    let r = a.result();
    assert_eq!(r["tools"][0]["name"], "search_logs", "{r}");
    assert_eq!(r["tools"][0]["component"], "log_store");
    assert_eq!(r["detail"], "summary");
    let call = r["tools"][0]["call"].as_str().unwrap();
    assert!(
        call.starts_with("tools.log_store.search_logs(*, ") && call.ends_with(") -> dict"),
        "{call}"
    );
    assert!(
        r["tools"][0]["input_schema"].is_null(),
        "summary leaves schemas out"
    );

    let a = fx.sb.call(
        "search_tools",
        json!({"query": "get_error_summary", "detail": "full", "limit": 1}),
    );
    let top = &a.result()["tools"][0];
    assert_eq!(top["name"], "get_error_summary");
    assert_eq!(top["input_schema"]["type"], "object");
    let stub = top["stub"].as_str().unwrap();
    assert_signature(
        stub,
        "get_error_summary",
        &["hours: float | None = None", "service: str | None = None"],
        "dict",
    );

    // Every tool the caller may call, and no other.
    let a = fx.sb.call(
        "search_tools",
        json!({"query": "", "detail": "name", "limit": 100}),
    );
    let all = tool_names(a.result());
    for name in [
        "search_logs",
        "write_file",
        "save_skill",
        "scrub_all_pii",
        "echo",
        "spin",
    ] {
        assert!(all.contains(&name), "{name} missing from {all:?}");
    }
    assert!(
        !all.contains(&"delete_file"),
        "tester may not call delete_file"
    );
    let a = fx
        .sb
        .call("search_tools", json!({"query": "delete a file"}));
    assert!(!tool_names(a.result()).contains(&"delete_file"));

    let a = fx
        .sb
        .call_as("search_tools", json!({"query": ""}), "lee", &["limited"]);
    let mut visible = tool_names(a.result());
    visible.sort_unstable();
    assert_eq!(visible, ["browse_tools", "scrub_emails", "search_tools"]);
    let a = fx.sb.call_as(
        "search_tools",
        json!({"query": "logs"}),
        "lee",
        &["limited"],
    );
    assert!(!tool_names(a.result()).contains(&"search_logs"));
}

#[test]
fn browse_tools_walks_components_tools_and_stubs() {
    let fx = Fixture::start_with(&["examples", "log-analysis"], POLICY);
    let a = fx.sb.call("browse_tools", json!({}));
    let r = a.result();
    assert_eq!((&r["path"], &r["kind"]), (&json!("tools/"), &json!("root")));
    let components = entry_names(r);
    for component in [
        "discovery",
        "log_store",
        "privacy",
        "skills",
        "workspace",
        "echo",
    ] {
        assert!(components.contains(&component), "{components:?}");
    }

    let a = fx
        .sb
        .call("browse_tools", json!({"path": "tools/workspace/"}));
    let tools = entry_names(a.result());
    assert!(tools.contains(&"write_file") && tools.contains(&"read_file"));
    assert!(!tools.contains(&"delete_file"), "{tools:?}");
    assert_eq!(
        a.result()["entries"][0]["path"],
        format!("tools/workspace/{}.py", tools[0])
    );

    let a = fx.sb.call(
        "browse_tools",
        json!({"path": "tools/log_store/search_logs.py"}),
    );
    let r = a.result();
    assert_eq!(r["kind"], "tool");
    let stub = r["stub"].as_str().unwrap();
    assert_signature(
        stub,
        "search_logs",
        &[
            "limit: int | None = None",
            "log_level: str | None = None",
            "query: str | None = None",
            "service: str | None = None",
        ],
        "dict",
    );
    for expected in [
        "Search the log files",
        "log_level (string or null, optional): Only entries of this level",
        "Returns: a dict",
        "total_matched (integer): How many entries matched in all.",
    ] {
        assert!(stub.contains(expected), "{expected:?} not in\n{stub}");
    }

    let a = fx
        .sb
        .call_as("browse_tools", json!({}), "lee", &["limited"]);
    assert_eq!(entry_names(a.result()), ["discovery", "privacy"]);
    let a = fx.sb.call_as(
        "browse_tools",
        json!({"path": "tools/log_store/"}),
        "lee",
        &["limited"],
    );
    assert_fails(
        &a,
        "invalid_arguments",
        "the components are: discovery, privacy",
    );
    let a = fx.sb.call(
        "browse_tools",
        json!({"path": "tools/workspace/delete_file.py"}),
    );
    assert_fails(
        &a,
        "invalid_arguments",
        "has no tool `delete_file` that you may call",
    );
}
