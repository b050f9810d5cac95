//! The request path in process: [`super::handle`] against a real [`Gateway`] built from a
//! config and an access policy on disk, with a stub sandbox on loopback that serves a fixed
//! catalog and answers calls by tool name. No pingora listener and no spawned binaries: these
//! tests pin down every step of `dispatch` and `tools/call` and every error the path maps.

use std::sync::Arc;

use mcp_contract::sandbox_api::{
    CallError, CallRequest, CallResponse, CallStats, ErrorKind, ToolEntry, ToolList,
};
use mcp_gateway_auth::{AuthMethod, Principal};
use mcp_testkit::http_stub::StubServer;
use serde_json::{Value, json};

use super::{Incoming, handle};
use crate::config::Config;
use crate::gateway::Gateway;
use crate::observe::{RequestRecord, Status};

const POLICY: &str = "\
toolsets:
  examples: { roles: [user] }
  admin: { roles: [admin] }
rate_limits:
  tools: { limited: 2/min }
";

fn tool(name: &str, toolset: &str) -> ToolEntry {
    ToolEntry {
        name: name.into(),
        title: None,
        description: format!("the {name} tool"),
        input_schema: json!({
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "additionalProperties": false
        }),
        output_schema: None,
        annotations: None,
        toolset: toolset.into(),
        component: "stub".into(),
    }
}

/// What the stub sandbox answers for each tool.
fn sandbox(path: &str, body: &[u8]) -> (u16, String) {
    if path == "/v1/tools" {
        let list = ToolList {
            sandbox: "stub".into(),
            revision: "1".into(),
            tools: [
                "echo", "fails", "busy", "garbled", "refused", "limited", "slow",
            ]
            .iter()
            .map(|n| tool(n, "examples"))
            .chain([tool("secret", "admin")])
            .collect(),
        };
        return (200, serde_json::to_string(&list).unwrap_or_default());
    }
    let Ok(req) = serde_json::from_slice::<CallRequest<'_>>(body) else {
        return (400, "{}".into());
    };
    let stats = CallStats::default();
    let fail = |kind, message: &str| {
        CallResponse::failure(&*req.tool, CallError::new(kind, message), stats)
    };
    let resp = match &*req.tool {
        "echo" | "limited" => CallResponse::success(
            &*req.tool,
            json!({"echoed": req.arguments.map(|a| a.get().to_owned()), "user": req.user}),
            stats,
        ),
        "fails" => CallResponse::failure(
            "fails",
            CallError::new(ErrorKind::ToolError, "ValueError: boom")
                .with_detail(json!({"exception": "ValueError", "stdout": "partial"})),
            stats,
        ),
        "busy" => fail(ErrorKind::Busy, "no execution slot freed up in time"),
        "refused" => fail(ErrorKind::BadRequest, "the call request is not valid"),
        "garbled" => return (200, "not json".into()),
        // Answers after the gateway's request timeout in `harness_with` configs that set one.
        "slow" => {
            std::thread::sleep(std::time::Duration::from_millis(600));
            CallResponse::success("slow", json!({}), stats)
        }
        _ => fail(ErrorKind::UnknownTool, "no such tool"),
    };
    (200, serde_json::to_string(&resp).unwrap_or_default())
}

struct Harness {
    gw: Arc<Gateway>,
    _dir: mcp_testkit::TempDir,
    _sandbox: StubServer,
}

async fn harness() -> Harness {
    harness_with("").await
}

/// [`harness`] with more gateway configuration (YAML lines).
async fn harness_with(extra_config: &str) -> Harness {
    let sandbox = StubServer::start_with_body(Arc::new(sandbox));
    let dir = mcp_testkit::TempDir::new().expect("temp dir");
    std::fs::write(dir.path().join("access.yaml"), POLICY).expect("policy");
    std::fs::create_dir(dir.path().join("keys")).expect("key dir");
    let config = format!(
        "listen: 127.0.0.1:0\nsandboxes: [{{name: stub, url: '{}'}}]\npolicy: access.yaml\n\
         keys: {{dir: keys}}\naudit: {{output: 'off'}}\ncatalog: {{page_size: 3}}\n\
         limits: {{max_arguments: 64KiB, max_argument_values: 1000}}\n{extra_config}\n",
        sandbox.url()
    );
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, config).expect("config");
    let config = Config::load(&path, []).expect("config loads");
    let gw = Arc::new(Gateway::build(config, None).expect("gateway builds"));
    gw.refresh_catalog().await;
    assert!(gw.is_ready(), "the stub sandbox is reachable");
    Harness {
        gw,
        _dir: dir,
        _sandbox: sandbox,
    }
}

fn principal(user: &str, roles: &[&str]) -> Principal {
    Principal {
        id: Principal::api_key_id(user),
        user: user.into(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        method: AuthMethod::ApiKey,
        key_id: Some("k1".into()),
        expires_at: None,
    }
}

/// One exchange: the reply's status and JSON body, and the request record after it.
struct Exchange {
    status: u16,
    body: Value,
    headers: Vec<(&'static str, String)>,
    rec: RequestRecord,
}

impl Exchange {
    fn result(&self) -> &Value {
        &self.body["result"]
    }
    fn code(&self) -> Option<i64> {
        self.body["error"]["code"].as_i64()
    }
    fn label(&self) -> Option<&str> {
        self.rec.error.as_deref()
    }
}

async fn send(h: &Harness, who: &Principal, body: &Value, headers: &[(&str, &str)]) -> Exchange {
    let get = |name: &str| headers.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let bytes = body.to_string();
    let inc = Incoming {
        body: bytes.as_bytes(),
        protocol_version: get("mcp-protocol-version"),
        session_id: get("mcp-session-id"),
        mcp_method: get("mcp-method"),
        mcp_name: get("mcp-name"),
        duplicated_header: None,
        traceparent: None,
        sse: false,
    };
    let mut rec = RequestRecord::new("req-1".into());
    let reply = handle(&h.gw, who, inc, &mut rec).await;
    Exchange {
        status: reply.status,
        body: serde_json::from_slice(&reply.body).unwrap_or(Value::Null),
        headers: reply.headers,
        rec,
    }
}

fn rpc(method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
}

fn call(name: &str, arguments: Value) -> Value {
    rpc("tools/call", json!({"name": name, "arguments": arguments}))
}

/// A 2026-07-28 request: the envelope in `_meta` and the routing headers.
fn modern(method: &str, mut params: Value) -> Value {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    rpc(method, params)
}

const MODERN: (&str, &str) = ("mcp-protocol-version", "2026-07-28");

#[tokio::test]
async fn a_tool_call_runs_and_its_result_carries_text_and_structured_content() {
    let h = harness().await;
    let alice = principal("alice", &["user"]);
    let x = send(&h, &alice, &call("echo", json!({"text": "hi"})), &[]).await;
    assert_eq!(x.status, 200);
    assert_eq!(x.result()["isError"], false);
    assert_eq!(x.result()["structuredContent"]["user"], "alice");
    assert_eq!(x.rec.status, Status::Success);
    assert_eq!(x.rec.sandbox.as_deref(), Some("stub"));
    assert!(
        x.result().get("resultType").is_none(),
        "handshake era: no 2026 envelope"
    );
}

#[tokio::test]
async fn unknown_and_forbidden_tools_get_the_same_answer() {
    let h = harness().await;
    let alice = principal("alice", &["user"]);
    let unknown = send(&h, &alice, &call("nope", json!({})), &[]).await;
    let forbidden = send(&h, &alice, &call("secret", json!({"text": 5})), &[]).await;
    assert_eq!(unknown.status, forbidden.status);
    assert_eq!(unknown.code(), Some(-32602));
    assert_eq!(forbidden.code(), Some(-32602));
    let text = |x: &Exchange| {
        x.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .replace("secret", "nope")
    };
    assert_eq!(text(&unknown), text(&forbidden));
    // The forbidden tool's schema is never consulted: its bad arguments are not mentioned.
    assert!(!forbidden.body.to_string().contains("schema"));
    assert_eq!(unknown.label(), Some("unknown_tool"));
    assert_eq!(forbidden.label(), Some("forbidden"));
    assert_eq!(forbidden.rec.status, Status::Denied);
}

#[tokio::test]
async fn schema_violations_and_oversized_arguments_are_tool_errors_the_model_can_read() {
    let h = harness().await;
    let alice = principal("alice", &["user"]);
    let bad = send(&h, &alice, &call("echo", json!({"text": 5})), &[]).await;
    assert_eq!(bad.status, 200);
    assert_eq!(bad.result()["isError"], true, "{}", bad.body);
    let text = bad.result()["content"][0]["text"].as_str().unwrap_or("");
    assert!(
        text.contains("input schema") && text.contains("/text"),
        "{text}"
    );
    assert_eq!(bad.label(), Some("invalid_arguments"));

    let big = send(
        &h,
        &alice,
        &call("echo", json!({"text": "x".repeat(70_000)})),
        &[],
    )
    .await;
    assert_eq!(big.result()["isError"], true);
    assert!(big.body.to_string().contains("bytes"), "{}", big.body);

    let many: Vec<u8> = vec![0; 2000];
    let wide = send(
        &h,
        &alice,
        &call("echo", json!({"text": "a", "n": many})),
        &[],
    )
    .await;
    assert_eq!(wide.result()["isError"], true);
    assert!(
        wide.body.to_string().contains("JSON values"),
        "{}",
        wide.body
    );
}

#[tokio::test]
async fn sandbox_failures_map_to_results_or_errors_by_class() {
    let h = harness().await;
    let alice = principal("alice", &["user"]);
    let fails = send(&h, &alice, &call("fails", json!({})), &[]).await;
    assert_eq!(fails.result()["isError"], true);
    assert_eq!(
        fails.result()["structuredContent"]["exception"],
        "ValueError"
    );
    assert_eq!(fails.label(), Some("tool_error"));

    let busy = send(&h, &alice, &call("busy", json!({})), &[]).await;
    assert_eq!((busy.status, busy.code()), (503, Some(-32000)));
    assert!(busy.headers.iter().any(|(k, _)| *k == "retry-after"));
    assert_eq!(busy.label(), Some("busy"));

    let refused = send(&h, &alice, &call("refused", json!({})), &[]).await;
    assert_eq!(
        (refused.status, refused.label()),
        (502, Some("sandbox_failed"))
    );

    let garbled = send(&h, &alice, &call("garbled", json!({})), &[]).await;
    assert_eq!(
        (garbled.status, garbled.label()),
        (502, Some("bad_upstream_response"))
    );
}

#[tokio::test]
async fn per_tool_rate_limits_answer_429_with_retry_after() {
    let h = harness().await;
    let alice = principal("alice", &["user"]);
    for _ in 0..2 {
        let ok = send(&h, &alice, &call("limited", json!({})), &[]).await;
        assert_eq!(ok.status, 200);
    }
    let limited = send(&h, &alice, &call("limited", json!({})), &[]).await;
    assert_eq!((limited.status, limited.code()), (429, Some(-32029)));
    assert!(limited.headers.iter().any(|(k, _)| *k == "retry-after"));
    assert_eq!(limited.rec.status, Status::RateLimited);
    // Another caller has their own bucket.
    let bob = principal("bob", &["user"]);
    assert_eq!(
        send(&h, &bob, &call("limited", json!({})), &[])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn protocol_errors_are_json_rpc_errors() {
    let h = harness().await;
    let alice = principal("alice", &["user"]);
    let unknown = send(&h, &alice, &rpc("resources/list", json!({})), &[]).await;
    assert_eq!((unknown.status, unknown.code()), (200, Some(-32601)));
    let no_params = send(
        &h,
        &alice,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call"}),
        &[],
    )
    .await;
    assert_eq!(no_params.code(), Some(-32602));
    let bad_cursor = send(&h, &alice, &rpc("tools/list", json!({"cursor": "zz"})), &[]).await;
    assert_eq!(bad_cursor.label(), Some("invalid_params"));
    let old = send(
        &h,
        &alice,
        &rpc("ping", json!({})),
        &[("mcp-protocol-version", "2024-11-05")],
    )
    .await;
    assert_eq!((old.status, old.code()), (400, Some(-32022)));
    let session = send(
        &h,
        &alice,
        &rpc("ping", json!({})),
        &[("mcp-session-id", "mcps1.forged")],
    )
    .await;
    assert_eq!(
        (session.status, session.label()),
        (404, Some("session_not_found"))
    );
    let mismatch = send(
        &h,
        &alice,
        &call("echo", json!({})),
        &[("mcp-method", "tools/call"), ("mcp-name", "fails")],
    )
    .await;
    assert_eq!((mismatch.status, mismatch.code()), (400, Some(-32020)));
}

#[tokio::test]
async fn tools_list_is_filtered_by_role_and_paginated() {
    let h = harness().await;
    let alice = principal("alice", &["user"]);
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let params = match &cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        let page = send(&h, &alice, &rpc("tools/list", params), &[]).await;
        let result = page.result();
        assert!(result["tools"].as_array().is_some_and(|t| t.len() <= 3));
        names.extend(
            result["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["name"].as_str().map(str::to_owned)),
        );
        cursor = result["nextCursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(
        names,
        [
            "busy", "echo", "fails", "garbled", "limited", "refused", "slow"
        ]
    );
    let admin = principal("root", &["admin"]);
    let page = send(&h, &admin, &rpc("tools/list", json!({})), &[]).await;
    assert_eq!(page.result()["tools"][0]["name"], "secret");
}

#[tokio::test]
async fn the_2026_07_28_revision_gets_its_envelope_and_its_ladder() {
    let h = harness().await;
    let alice = principal("alice", &["user"]);
    let list = send(
        &h,
        &alice,
        &modern("tools/list", json!({})),
        &[MODERN, ("mcp-method", "tools/list")],
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let r = list.result();
    assert_eq!(r["resultType"], "complete");
    assert_eq!(r["cacheScope"], "private");
    assert_eq!(r["ttlMs"], 0);
    assert_eq!(
        r["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "mcp-gateway"
    );

    let headers = [MODERN, ("mcp-method", "tools/call"), ("mcp-name", "echo")];
    let echo = send(
        &h,
        &alice,
        &modern(
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "a"}}),
        ),
        &headers,
    )
    .await;
    assert_eq!(echo.result()["resultType"], "complete", "{}", echo.body);
    assert_eq!(echo.result()["isError"], false);

    let discover = send(
        &h,
        &alice,
        &modern("server/discover", json!({})),
        &[MODERN, ("mcp-method", "server/discover")],
    )
    .await;
    assert_eq!(discover.result()["cacheScope"], "public");
    assert_eq!(discover.result()["supportedVersions"][0], "2026-07-28");

    // The ladder: envelope, then headers against it, then the version.
    let no_meta = send(
        &h,
        &alice,
        &rpc("tools/list", json!({})),
        &[MODERN, ("mcp-method", "tools/list")],
    )
    .await;
    assert_eq!((no_meta.status, no_meta.code()), (200, Some(-32602)));
    let no_method = send(&h, &alice, &modern("tools/list", json!({})), &[MODERN]).await;
    assert_eq!((no_method.status, no_method.code()), (400, Some(-32020)));
    let no_name = send(
        &h,
        &alice,
        &modern("tools/call", json!({"name": "echo"})),
        &[MODERN, ("mcp-method", "tools/call")],
    )
    .await;
    assert_eq!(no_name.code(), Some(-32020));
    let future = send(
        &h,
        &alice,
        &modern("tools/list", json!({})),
        &[
            ("mcp-protocol-version", "2099-01-01"),
            ("mcp-method", "tools/list"),
        ],
    )
    .await;
    assert_eq!(
        future.code(),
        Some(-32020),
        "the header disagrees with the envelope"
    );
    let mut body = modern("tools/list", json!({}));
    body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let unsupported = send(
        &h,
        &alice,
        &body,
        &[
            ("mcp-protocol-version", "2099-01-01"),
            ("mcp-method", "tools/list"),
        ],
    )
    .await;
    assert_eq!(
        (unsupported.status, unsupported.code()),
        (400, Some(-32022))
    );
    assert_eq!(unsupported.body["error"]["data"]["requested"], "2099-01-01");
}

#[tokio::test]
async fn notifications_and_responses_get_202_and_bad_json_gets_a_parse_error() {
    let h = harness().await;
    let alice = principal("alice", &["user"]);
    let n = send(
        &h,
        &alice,
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        &[],
    )
    .await;
    assert_eq!(n.status, 202);
    let inc = Incoming {
        body: b"{not json",
        protocol_version: None,
        session_id: None,
        mcp_method: None,
        mcp_name: None,
        duplicated_header: Some("mcp-method"),
        traceparent: None,
        sse: false,
    };
    let mut rec = RequestRecord::new("r".into());
    let reply = handle(&h.gw, &alice, inc, &mut rec).await;
    assert_eq!(reply.status, 400);
    assert_eq!(rec.error.as_deref(), Some("parse_error"));
}

#[tokio::test]
async fn a_sandbox_that_times_out_or_is_gone_is_unavailable_with_retry_after() {
    let h = harness_with("upstream: {request_timeout: 200ms, execute_timeout: 100ms}").await;
    let alice = principal("alice", &["user"]);
    let slow = send(&h, &alice, &call("slow", json!({})), &[]).await;
    assert_eq!((slow.status, slow.code()), (503, Some(-32000)));
    assert_eq!(slow.label(), Some("unavailable"));
    assert!(slow.headers.iter().any(|(k, _)| *k == "retry-after"));
    let message = slow.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("'slow'") && message.contains("may or may not have taken effect"),
        "{message}"
    );

    h._sandbox.stop();
    let gone = send(&h, &alice, &call("echo", json!({})), &[]).await;
    assert_eq!((gone.status, gone.code()), (503, Some(-32000)));
    assert_eq!(gone.label(), Some("unavailable"));
    let message = gone.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("no sandbox serving tool 'echo'"),
        "{message}"
    );
}

#[tokio::test]
async fn a_call_running_past_the_shutdown_timeout_is_answered_shutting_down() {
    let h = harness().await;
    let alice = principal("alice", &["user"]);
    h.gw.cut_in_flight();
    let cut = send(&h, &alice, &call("echo", json!({})), &[]).await;
    assert_eq!((cut.status, cut.code()), (503, Some(-32000)));
    assert_eq!(cut.label(), Some("shutting_down"));
    assert!(
        cut.headers
            .iter()
            .any(|(k, v)| *k == "connection" && v == "close")
    );
}

#[tokio::test]
async fn an_unreachable_rate_limit_store_refuses_calls_when_failing_closed() {
    // A loopback port with nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let h = harness_with(&format!(
        "rate_limit_store: {{redis: {{url: 'redis://127.0.0.1:{port}', timeout: 200ms, \
         on_unavailable: fail_closed}}}}"
    ))
    .await;
    let alice = principal("alice", &["user"]);
    let refused = send(&h, &alice, &call("limited", json!({})), &[]).await;
    assert_eq!((refused.status, refused.code()), (503, Some(-32000)));
    assert_eq!(refused.label(), Some("rate_limit_store_unavailable"));
    assert!(refused.headers.iter().any(|(k, _)| *k == "retry-after"));
}
