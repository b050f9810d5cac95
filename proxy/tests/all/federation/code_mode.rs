//! Code mode over federated tools: a program in `execute_code` calls the tools of an upstream
//! server on the official Python SDK (with the gateway's bearer token for it) and one on the
//! official TypeScript SDK beside a wasm tool, through the sandbox's way back to the gateway
//! (`proxy/src/federation/internal.rs`, `sandbox/src/runtime/callback.rs`). The caller's roles,
//! rate limits, audit and listing apply as for a client's call; the upstream's credential
//! never reaches the program.

use std::time::Duration;

use serde_json::{Value, json};

use super::{UPSTREAM_TOKEN, Upstream, dir, wait_listed};
use crate::common::{Options, Stack};

const POLICY: &str = "\
toolsets:
  examples: { roles: [mcp-user] }
  code: { roles: [mcp-user] }
  up: { roles: [mcp-user] }
  ts: { roles: [mcp-user] }
  log-analysis: { roles: [mcp-user] }
tools:
  up__fail: { roles: [mcp-admin] }
rate_limits:
  tools:
    ts__echo: 3/min
";

/// `execute_code`'s report for `code` (Python unless `language` says otherwise).
fn exec(s: &Stack, key: &str, language: &str, code: &str) -> (Value, String) {
    let r = s.call_tool(
        key,
        "execute_code",
        json!({"language": language, "code": code}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    (r.result()["structuredContent"].clone(), r.text)
}

fn stack(
    tmp: &std::path::Path,
    up: &Upstream,
    ts: &Upstream,
    toolsets: &'static [&'static str],
) -> Stack {
    stack_with_env(tmp, up, ts, toolsets, Vec::new(), "")
}

fn stack_with_env(
    tmp: &std::path::Path,
    up: &Upstream,
    ts: &Upstream,
    toolsets: &'static [&'static str],
    env: Vec<(String, String)>,
    extra_config: &str,
) -> Stack {
    let token = tmp.join("upstream.token");
    std::fs::write(&token, format!("{UPSTREAM_TOKEN}\n")).unwrap();
    Stack::start(Options {
        policy: POLICY.into(),
        toolsets,
        config: format!(
            "mcp_servers:\n\
             - name: up\n  url: '{}'\n  request_timeout: 5s\n  \
               auth: {{type: bearer_file, path: '{}'}}\n\
             - {{name: ts, url: '{}', request_timeout: 5s}}\n{extra_config}",
            up.url(),
            token.display(),
            ts.url()
        ),
        env,
        ..Options::default()
    })
}

#[test]
fn a_program_calls_two_upstream_servers_and_a_wasm_tool_and_returns_one_summary() {
    let tmp = dir();
    let up = Upstream::start(tmp.path(), &[("REQUIRE_TOKEN", UPSTREAM_TOKEN)]);
    let ts = Upstream::start_ts(tmp.path(), &[]);
    let s = stack(tmp.path(), &up, &ts, &["examples", "code"]);
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    wait_listed(&s, &key, "up__echo");
    wait_listed(&s, &key, "ts__weather");
    let token_path = tmp.path().join("upstream.token");
    let code = format!(
        r#"
import os, tools
from tools import up, ts, echo
listed = {{t["name"]: t for t in tools.list()}}
summary = {{
    "py": up.up__echo(text="from the python sdk"),
    "ts": ts.ts__weather(city="Oslo"),
    "wasm": echo.echo(text="from wasm"),
    "doc": tools.help("up__echo"),
    "listed": sorted(n for n in listed if n.startswith(("up__", "ts__"))),
}}
def refusal(name, **args):
    try:
        tools.call(name, **args)
        return "called"
    except tools.ToolError as e:
        return [type(e).__name__, e.kind, str(e).replace(name, "NAME")]
summary["forbidden"] = refusal("up__fail", message="x")
summary["unknown"] = refusal("up__no_such_tool", message="x")
summary["failed"] = refusal("ts__fail", message="it broke")
try:
    open({path:?}).read()
    summary["token_file"] = "read"
except OSError as e:
    summary["token_file"] = type(e).__name__
summary["env"] = sorted(os.environ)
summary
"#,
        path = token_path.display().to_string()
    );
    let (report, raw) = exec(&s, &key, "python", &code);
    assert_eq!(report["success"], true, "{report}");
    let out = &report["result"];
    // FastMCP declares an output schema for `-> str`: the result is its structured content.
    assert_eq!(out["py"], json!({"result": "from the python sdk"}), "{out}");
    assert_eq!(out["ts"], json!({"city": "Oslo", "celsius": 21.5}), "{out}");
    assert!(out["wasm"].to_string().contains("from wasm"), "{out}");
    // The upstream's input schema is the generated function's signature and docstring.
    let doc = out["doc"].as_str().unwrap();
    assert!(
        doc.contains("up__echo(*, text: str)") && doc.contains("Echo text back."),
        "{doc}"
    );
    let listed: Vec<&str> = out["listed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        listed.contains(&"up__echo") && listed.contains(&"ts__weather"),
        "{listed:?}"
    );
    assert!(
        !listed.contains(&"up__fail"),
        "a tool the roles do not grant is not listed: {listed:?}"
    );
    // Not granted and not existing answer alike.
    assert_eq!(out["forbidden"], out["unknown"], "{out}");
    assert_eq!(out["forbidden"][1], "not_found", "{out}");
    assert_eq!(out["failed"][1], "failed", "{out}");
    assert!(
        out["failed"][2].as_str().unwrap().contains("it broke"),
        "{out}"
    );
    assert_ne!(out["token_file"], "read", "{out}");
    // The upstream's credential is nowhere in what the program or the client saw.
    assert!(!raw.contains(UPSTREAM_TOKEN), "{raw}");

    // The way back is for sandboxes only: their token and a grant signed with it.
    let internal = |bearer: &str, grant: Option<&str>| {
        let http = reqwest::blocking::Client::new();
        let mut req = http
            .post(format!("{}/internal/v1/code/call", s.url()))
            .bearer_auth(bearer)
            .body(r#"{"name":"up__echo","arguments":{"text":"x"}}"#);
        if let Some(g) = grant {
            req = req.header("x-mcp-call-grant", g);
        }
        req.send().unwrap().status().as_u16()
    };
    let sandbox_token = std::fs::read_to_string(s.dir.path().join("sandbox.token")).unwrap();
    let sandbox_token = sandbox_token.trim();
    let grant = |key: &[u8], expires_in_ms: i64| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        mcp_contract::grant::Grant {
            principal: "apikey:alice".into(),
            user: "alice".into(),
            roles: vec!["mcp-user".into()],
            request_id: "r1".into(),
            expires_at_ms: (now + expires_in_ms) as u64,
            tool: None,
            callback: None,
        }
        .sign(key)
    };
    assert_eq!(
        internal(&key, None),
        401,
        "a client's key is not a sandbox's token"
    );
    let forged = grant(b"not the sandbox token", 60_000);
    assert_eq!(internal(sandbox_token, Some(&forged)), 401);
    let expired = grant(sandbox_token.as_bytes(), -1);
    assert_eq!(internal(sandbox_token, Some(&expired)), 401);
    assert_eq!(
        internal(&key, Some(&grant(sandbox_token.as_bytes(), 60_000))),
        401
    );
    assert_eq!(
        internal(
            sandbox_token,
            Some(&grant(sandbox_token.as_bytes(), 60_000))
        ),
        200,
        "the sandbox's token with a grant it signed"
    );

    // Each call is audited like a client's, marked as made from code under its parent.
    // The parent's own line is written once its answer is sent.
    let audit = mcp_testkit::wait_for(
        "the execute_code audit line",
        Duration::from_secs(5),
        || {
            let audit = s.audit();
            audit
                .iter()
                .any(|l| l["tool"] == "execute_code")
                .then_some(audit)
        },
    );
    let parent = audit.iter().find(|l| l["tool"] == "execute_code").unwrap();
    let from_code: Vec<&Value> = audit.iter().filter(|l| l["from_code"] == true).collect();
    let line = |tool: &str| from_code.iter().find(|l| l["tool"] == tool).copied();
    for tool in ["up__echo", "ts__weather"] {
        let l = line(tool).unwrap_or_else(|| panic!("no audit line for {tool}: {from_code:?}"));
        assert_eq!(
            (
                &l["user"],
                &l["status"],
                &l["parent_request_id"],
                &l["method"]
            ),
            (
                &json!("alice"),
                &json!("success"),
                &parent["request_id"],
                &json!("tools/call")
            ),
            "{l}"
        );
    }
    assert_eq!(line("up__fail").unwrap()["error"], "forbidden");
    assert_eq!(line("up__no_such_tool").unwrap()["error"], "unknown_tool");
    assert!(
        s.metrics()
            .contains("mcp_tool_calls_total{tool_name=\"up__echo\",status=\"success\"}"),
        "the call is counted like a client's"
    );
}

#[test]
fn calls_from_code_count_against_the_callers_rate_limits() {
    let tmp = dir();
    let up = Upstream::start(tmp.path(), &[("REQUIRE_TOKEN", UPSTREAM_TOKEN)]);
    let ts = Upstream::start_ts(tmp.path(), &[]);
    let s = stack(
        tmp.path(),
        &up,
        &ts,
        &["examples", "code", "javascript", "log-analysis"],
    );
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    wait_listed(&s, &key, "ts__echo");
    wait_listed(&s, &key, "up__echo");
    // Progressive discovery finds federated tools, by the caller's roles.
    let search = |query: &str| -> Vec<Value> {
        let r = s.call_tool(&key, "search_tools", json!({"query": query, "limit": 50}));
        let result = r.result();
        assert_eq!(result["isError"], false, "{result}");
        result["structuredContent"]["tools"]
            .as_array()
            .unwrap()
            .clone()
    };
    let names = |tools: &[Value]| -> Vec<String> {
        tools
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let weather = search("weather for a city");
    assert!(
        ["up__weather", "ts__weather"]
            .iter()
            .all(|n| names(&weather).iter().any(|m| m == n)),
        "{weather:?}"
    );
    let ts_weather = weather.iter().find(|t| t["name"] == "ts__weather").unwrap();
    let call = ts_weather["call"].as_str().unwrap();
    assert!(
        call.contains("ts.ts__weather(") && call.contains("city: str"),
        "{ts_weather}"
    );
    let failing = names(&search("always fails with the message"));
    assert!(failing.contains(&"ts__fail".to_owned()), "{failing:?}");
    assert!(
        !failing.contains(&"up__fail".to_owned()),
        "not granted, not found: {failing:?}"
    );
    // ts__echo allows 3 calls a minute: the program gets 3, the 4th is refused. The server's
    // tools are also functions of `tools.<server>`.
    let (report, _) = exec(
        &s,
        &key,
        "javascript",
        "const out = [];\n\
         for (let i = 0; i < 4; i++) {\n\
           try { out.push(await tools.call('ts__echo', {text: `n${i}`})); }\n\
           catch (e) { out.push(e.kind); }\n\
         }\n\
         out.push((await tools.ts.ts__weather({city: 'Rome'})).city);\n\
         out",
    );
    assert_eq!(report["success"], true, "{report}");
    assert_eq!(
        report["result"],
        json!(["n0", "n1", "n2", "limit_exceeded", "Rome"]),
        "{report}"
    );
    // The same bucket as the client's own calls: a direct call is refused too.
    let direct = s.call_tool(&key, "ts__echo", json!({"text": "direct"}));
    assert_eq!(direct.status, 429, "{}", direct.text);
    let limited = mcp_testkit::wait_for("the audit line", Duration::from_secs(5), || {
        s.audit()
            .into_iter()
            .find(|l| l["from_code"] == true && l["error"] == "rate_limited")
    });
    assert_eq!(limited["tool"], "ts__echo", "{limited}");
}

#[test]
fn a_call_from_code_is_a_span_in_the_programs_trace() {
    // The relay keeps what both binaries export (its own upstream is never reached).
    let relay = mcp_testkit::otlp::OtlpRelay::start("http://127.0.0.1:9");
    let tmp = dir();
    let up = Upstream::start(tmp.path(), &[("REQUIRE_TOKEN", UPSTREAM_TOKEN)]);
    let ts = Upstream::start_ts(tmp.path(), &[]);
    let env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), relay.endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY".to_owned(), "100".to_owned()),
    ];
    // With an admin listener, sandboxes call back there (plain HTTP).
    let admin = format!("admin_listen: 127.0.0.1:{}\n", mcp_testkit::free_port());
    let s = stack_with_env(tmp.path(), &up, &ts, &["examples", "code"], env, &admin);
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    wait_listed(&s, &key, "up__echo");
    let (report, _) = exec(
        &s,
        &key,
        "python",
        "import tools\ntools.call('up__echo', text='traced')",
    );
    assert_eq!(report["result"], json!({"result": "traced"}), "{report}");
    // The gateway's call of the upstream, under the gateway's span of the call from code,
    // under the sandbox's host call, in the trace of the client's execute_code request.
    let chain = mcp_testkit::wait_for("the call's spans", Duration::from_secs(10), || {
        let spans = relay.spans();
        let by_id = |id: &str| spans.iter().find(|p| p.span_id == id).cloned();
        // The client span `mcp server call` is exported as `tools/call`.
        let upstream = spans
            .iter()
            .find(|x| x.name == "tools/call" && x.kind == "client")?
            .clone();
        let served = by_id(&upstream.parent_span_id)?;
        let host_call = by_id(&served.parent_span_id)?;
        let mut root = host_call.clone();
        while let Some(parent) = by_id(&root.parent_span_id) {
            root = parent;
        }
        root.parent_span_id
            .is_empty()
            .then_some((upstream, served, host_call, root))
    });
    let (upstream, served, host_call, root) = chain;
    assert_eq!(
        (
            served.name.as_str(),
            served.kind,
            host_call.name.as_str(),
            root.name.as_str()
        ),
        (
            "tools/call up__echo",
            "server",
            "host_call",
            "tools/call execute_code"
        ),
        "{served:?} {host_call:?} {root:?}"
    );
    assert!(host_call.service.contains("sandbox"), "{host_call:?}");
    assert!(root.service.contains("gateway"), "{root:?}");
    let trace = &root.trace_id;
    assert!(
        [&upstream, &served, &host_call]
            .iter()
            .all(|x| &x.trace_id == trace),
        "one trace"
    );
}

#[test]
fn without_mcp_servers_there_is_no_way_back() {
    let s = Stack::start(Options {
        policy: POLICY.into(),
        toolsets: &["examples", "code"],
        ..Options::default()
    });
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    let (report, _) = exec(
        &s,
        &key,
        "python",
        "import tools\ntry:\n    tools.call('up__echo', text='x')\nexcept tools.ToolNotFound as e:\n    r = e.kind\nr",
    );
    assert_eq!(report["result"], "not_found", "{report}");
    let token = std::fs::read_to_string(s.dir.path().join("sandbox.token")).unwrap();
    let status = reqwest::blocking::Client::new()
        .post(format!("{}/internal/v1/code/call", s.url()))
        .bearer_auth(token.trim())
        .body("{}")
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 404);
}
