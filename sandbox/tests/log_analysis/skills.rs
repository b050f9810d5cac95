//! Skills: personal and shared catalogs, search, and runs through execute_code with the
//! caller's own rights.

use serde_json::{Value, json};

use crate::samples;
use crate::{Fixture, assert_fails};

const DIGEST_CODE: &str = "\
from tools import log_store
found = log_store.search_logs(service=args['service'], log_level='ERROR', limit=args['limit'])
result = {'service': args['service'], 'errors': found['total_matched'], 'shown': len(found['entries'])}
";

fn digest_skill() -> Value {
    json!({
        "name": "error_digest",
        "description": "Count the ERROR entries of one service in the logs",
        "code": DIGEST_CODE,
        "parameters": [
            {"name": "service", "type": "string", "description": "The service to digest"},
            {"name": "limit", "type": "integer", "default": 3}
        ]
    })
}

fn names(result: &Value) -> Vec<(String, String)> {
    result["skills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let field = |k: &str| s[k].as_str().unwrap().to_owned();
            (field("name"), field("scope"))
        })
        .collect()
}

#[test]
fn skills_save_list_search_and_get_per_user() {
    let fx = Fixture::start();
    let a = fx.sb.call("save_skill", digest_skill());
    let r = a.result();
    assert_eq!(
        (&r["name"], &r["scope"]),
        (&json!("error_digest"), &json!("personal"))
    );
    assert_eq!(
        r["parameters"][1],
        json!({"name": "limit", "type": "integer", "required": false, "default": 3})
    );
    let other = json!({"name": "slow_requests", "description": "Find slow upstream responses",
                       "code": "result = 1", "parameters": ["threshold_ms"]});
    fx.sb.call("save_skill", other).result();

    let a = fx.sb.call("list_skills", json!({}));
    assert_eq!(
        names(a.result()),
        [
            ("error_digest".to_owned(), "personal".to_owned()),
            ("slow_requests".to_owned(), "personal".to_owned())
        ]
    );
    assert_eq!(
        a.result()["skills"][0]["parameters"],
        json!(["service", "limit?"])
    );

    let a = fx
        .sb
        .call("search_skills", json!({"query": "error entries"}));
    let found = names(a.result());
    assert_eq!(found[0].0, "error_digest", "{}", a.body);
    assert_eq!(found.len(), 1);
    let a = fx.sb.call("search_skills", json!({"query": "threshold"}));
    assert_eq!(names(a.result())[0].0, "slow_requests");

    let a = fx.sb.call("get_skill", json!({"name": "error_digest"}));
    assert_eq!(a.result()["code"], DIGEST_CODE);
    assert_eq!(a.result()["author"], "alice");

    // Another user sees none of it.
    let bob = |tool: &str, args| fx.sb.call_as(tool, args, "bob", &["tester"]);
    assert_eq!(names(bob("list_skills", json!({})).result()), []);
    let a = bob("get_skill", json!({"name": "error_digest"}));
    assert_fails(&a, "invalid_arguments", "no skill is named `error_digest`");
    let a = bob(
        "run_skill",
        json!({"name": "error_digest", "arguments": {"service": "x"}}),
    );
    assert_fails(&a, "invalid_arguments", "no skill is named");

    let a = fx.sb.call(
        "save_skill",
        json!({"name": "Bad-Name", "description": "d", "code": "x"}),
    );
    assert_fails(&a, "invalid_arguments", "not valid");
}

#[test]
fn shared_skills_need_mcp_admin_and_are_seen_by_everyone() {
    let fx = Fixture::start();
    let mut shared = digest_skill();
    shared["shared"] = json!(true);
    let a = fx.sb.call("save_skill", shared.clone());
    assert_fails(&a, "tool_error", "only callers with the role mcp-admin");
    assert_eq!(
        std::fs::read_dir(fx.shared_skills.path()).unwrap().count(),
        0
    );

    let a = fx
        .sb
        .call_as("save_skill", shared, "root", &["tester", "mcp-admin"]);
    assert_eq!(a.result()["scope"], "shared", "{}", a.body);
    assert!(fx.shared_skills.path().join("error_digest.json").is_file());

    for user in ["alice", "bob"] {
        let a = fx.sb.call_as("list_skills", json!({}), user, &["tester"]);
        assert_eq!(
            names(a.result()),
            [("error_digest".to_owned(), "shared".to_owned())],
            "{user}"
        );
        let a = fx.sb.call_as(
            "get_skill",
            json!({"name": "error_digest"}),
            user,
            &["tester"],
        );
        assert_eq!(a.result()["author"], "root");
    }
}

#[test]
fn run_skill_executes_the_code_through_execute_code_as_the_caller() {
    let fx = Fixture::start_with(
        &["examples", "log-analysis", "code"],
        // `runner` may use skills and the log store but not execute_code.
        "tools:\n  run_skill: { roles: [tester, runner] }\n  save_skill: { roles: [tester, runner] }\n",
    );
    let logs = samples::read(fx.logs.path());
    fx.sb.call("save_skill", digest_skill()).result();

    let a = fx.sb.call(
        "run_skill",
        json!({"name": "error_digest", "arguments": {"service": "payment-service"}}),
    );
    let r = a.result();
    assert_eq!(
        r["arguments"],
        json!({"service": "payment-service", "limit": 3})
    );
    let report = &r["result"];
    assert_eq!(report["success"], true, "{report}");
    let expected = logs
        .entries
        .iter()
        .filter(|l| l.service == "payment-service" && l.level == "ERROR")
        .count();
    assert_eq!(
        report["result"],
        json!({"service": "payment-service", "errors": expected, "shown": 3})
    );
    // run_skill -> execute_code -> search_logs, all as alice.
    assert!(
        a.body["stats"]["nested_calls"].as_u64().unwrap() >= 2,
        "{}",
        a.body
    );

    let a = fx.sb.call(
        "run_skill",
        json!({"name": "error_digest", "arguments": {}}),
    );
    assert_fails(&a, "invalid_arguments", "needs the argument `service`");
    let a = fx.sb.call(
        "run_skill",
        json!({"name": "error_digest", "arguments": {"service": "x", "colour": 1}}),
    );
    assert_fails(&a, "invalid_arguments", "no parameter `colour`");

    // A skill never runs with more rights than its caller.
    let runner = |tool: &str, args| fx.sb.call_as(tool, args, "carol", &["runner"]);
    runner("save_skill", digest_skill()).result();
    let a = runner(
        "run_skill",
        json!({"name": "error_digest", "arguments": {"service": "api-gateway"}}),
    );
    assert_fails(
        &a,
        "tool_error",
        "`execute_code` is not among the tools you may call",
    );
}
