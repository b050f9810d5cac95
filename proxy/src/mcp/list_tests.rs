//! `tools/list` from prepared pages: byte for byte the answer built from scratch, for every
//! page, role set and protocol era, before and after a policy reload and a catalog change;
//! and a cache that stays within its bounds whatever the callers do.

use std::sync::{Arc, Mutex};

use mcp_contract::sandbox_api::{ToolEntry, ToolList};
use mcp_gateway_auth::{AuthMethod, Principal};
use mcp_testkit::http_stub::StubServer;
use serde_json::json;
use serde_json::value::RawValue;

use super::*;
use crate::config::Config;
use crate::gateway::Gateway;
use crate::mcp::{Incoming, handle, jsonrpc};
use crate::observe::RequestRecord;

const POLICY: &str = "\
toolsets:
  examples: { roles: [user, admin] }
  admin: { roles: [admin] }
  hidden: { roles: ['*'], listed: false }
tools:
  t05: { roles: [admin] }
";

fn tool(name: &str, toolset: &str) -> ToolEntry {
    ToolEntry {
        name: name.into(),
        title: None,
        description: format!("the {name} tool"),
        input_schema: json!({"type": "object", "properties": {"text": {"type": "string"}}}),
        output_schema: None,
        annotations: None,
        toolset: toolset.into(),
        component: "stub".into(),
    }
}

/// A gateway in front of a stub sandbox whose tool list the test can change.
struct Harness {
    gw: Arc<Gateway>,
    tools: Arc<Mutex<Vec<ToolEntry>>>,
    dir: mcp_testkit::TempDir,
    _sandbox: StubServer,
}

impl Harness {
    async fn start(tools: Vec<ToolEntry>) -> Self {
        let tools = Arc::new(Mutex::new(tools));
        let served = tools.clone();
        let sandbox = StubServer::start_with_body(Arc::new(move |path: &str, _: &[u8]| {
            if path != "/v1/tools" {
                return (404, "{}".into());
            }
            let list = ToolList {
                sandbox: "stub".into(),
                revision: "1".into(),
                tools: served.lock().map(|t| t.clone()).unwrap_or_default(),
            };
            (200, serde_json::to_string(&list).unwrap_or_default())
        }));
        let dir = mcp_testkit::TempDir::new().expect("temp dir");
        std::fs::write(dir.path().join("access.yaml"), POLICY).expect("policy");
        std::fs::create_dir(dir.path().join("keys")).expect("key dir");
        let config = format!(
            "listen: 127.0.0.1:0\nsandboxes: [{{name: stub, url: '{}'}}]\npolicy: access.yaml\n\
             keys: {{dir: keys}}\naudit: {{output: 'off'}}\ncatalog: {{page_size: 4}}\n",
            sandbox.url()
        );
        let path = dir.path().join("gateway.yaml");
        std::fs::write(&path, config).expect("config");
        let config = Config::load(&path, []).expect("config loads");
        let gw = Arc::new(Gateway::build(config, None).expect("gateway builds"));
        gw.refresh_catalog().await;
        assert!(gw.is_ready(), "the stub sandbox is reachable");
        Self {
            gw,
            tools,
            dir,
            _sandbox: sandbox,
        }
    }

    /// One `tools/list` through the whole request path; the reply body.
    async fn list(&self, who: &Principal, cursor: Option<&str>, era: Era) -> Vec<u8> {
        let body = request_body(cursor, era).to_string();
        let inc = Incoming {
            body: body.as_bytes(),
            protocol_version: (era == Era::Stateless).then_some("2026-07-28"),
            session_id: None,
            mcp_method: (era == Era::Stateless).then_some("tools/list"),
            mcp_name: None,
            duplicated_header: None,
            traceparent: None,
            sse: false,
        };
        let mut rec = RequestRecord::new("req-1".into());
        let reply = handle(&self.gw, who, inc, &mut rec).await;
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.body.to_vec()
    }

    /// The same request's reply, with the page built from scratch.
    fn scratch_reply(&self, who: &Principal, cursor: Option<&str>, era: Era) -> Vec<u8> {
        let (catalog, policy) = (self.gw.catalog.snapshot(), self.gw.policy.current());
        let req = ListRequest {
            catalog: &catalog,
            policy: &policy,
            principal: who,
            page_size: self.gw.config.catalog.page_size,
            era,
        };
        let body = request_body(cursor, era);
        let params = RawValue::from_string(body["params"].to_string()).expect("params");
        let result = list_tools_uncached(&req, Some(&params)).expect("a valid request");
        let id = RawValue::from_string("7".into()).expect("id");
        jsonrpc::result_raw_bytes(Some(&id), &result)
    }

    /// Every page the caller sees (following nextCursor), each checked byte for byte against
    /// the page built from scratch; the names listed.
    async fn walk(&self, who: &Principal, era: Era) -> Vec<String> {
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..20 {
            let served = self.list(who, cursor.as_deref(), era).await;
            let scratch = self.scratch_reply(who, cursor.as_deref(), era);
            assert_eq!(
                String::from_utf8_lossy(&served),
                String::from_utf8_lossy(&scratch),
                "prepared page after {cursor:?} for {:?} in {era:?}",
                who.roles
            );
            let page: serde_json::Value = serde_json::from_slice(&served).expect("JSON");
            let result = &page["result"];
            assert!(result.is_object(), "{page}");
            assert_eq!(result.get("resultType").is_some(), era == Era::Stateless);
            names.extend(
                result["tools"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t["name"].as_str().map(str::to_owned)),
            );
            cursor = result["nextCursor"].as_str().map(str::to_owned);
            if cursor.is_none() {
                return names;
            }
        }
        panic!("the listing did not end within 20 pages");
    }
}

/// A `tools/list` request; at 2026-07-28 with that revision's `_meta` envelope.
fn request_body(cursor: Option<&str>, era: Era) -> serde_json::Value {
    let mut params = match cursor {
        Some(c) => json!({"cursor": c}),
        None => json!({}),
    };
    if era == Era::Stateless {
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}
        });
    }
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": params})
}

fn principal(user: &str, roles: &[&str]) -> Principal {
    Principal {
        id: Principal::api_key_id(user),
        user: user.into(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        method: AuthMethod::ApiKey,
        key_id: None,
        expires_at: None,
    }
}

fn names(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i:02}")).collect()
}

fn catalog(examples: usize, admin: usize, hidden: usize) -> Vec<ToolEntry> {
    let mut tools: Vec<ToolEntry> = names("t", 0..examples)
        .iter()
        .map(|n| tool(n, "examples"))
        .collect();
    tools.extend(names("a", 0..admin).iter().map(|n| tool(n, "admin")));
    tools.extend(names("h", 0..hidden).iter().map(|n| tool(n, "hidden")));
    tools
}

#[tokio::test]
async fn prepared_pages_equal_pages_built_from_scratch_across_policy_and_catalog_changes() {
    let h = Harness::start(catalog(10, 3, 2)).await;
    let user = principal("alice", &["user"]);
    // Same role set in another order, with a role no rule names: the same listing.
    let admin = principal("root", &["admin", "user"]);
    let nobody = principal("carol", &[]);
    let expected_user: Vec<String> = names("t", 0..10)
        .into_iter()
        .filter(|n| n != "t05")
        .collect();
    let mut expected_admin = names("a", 0..3);
    expected_admin.extend(names("t", 0..10));
    for era in [Era::Handshake, Era::Stateless] {
        // Twice: the second walk is served from the prepared pages.
        for _ in 0..2 {
            assert_eq!(h.walk(&user, era).await, expected_user);
            assert_eq!(h.walk(&admin, era).await, expected_admin);
            assert!(h.walk(&nobody, era).await.is_empty());
        }
    }

    // A policy reload: users may now call the admin tools too, and t05 is no longer special.
    std::fs::write(
        h.dir.path().join("access.yaml"),
        "toolsets:\n  examples: { roles: [user, admin] }\n  admin: { roles: [admin, user] }\n",
    )
    .expect("policy");
    h.gw.policy.reload().expect("the new policy loads");
    let mut everything = names("a", 0..3);
    everything.extend(names("t", 0..10));
    for era in [Era::Handshake, Era::Stateless] {
        assert_eq!(h.walk(&user, era).await, everything);
        assert_eq!(h.walk(&admin, era).await, everything);
    }

    // A catalog change: two tools gone, one added (between two page boundaries).
    *h.tools.lock().expect("tools") = {
        let mut t = catalog(8, 3, 2);
        t.push(tool("t03b", "examples"));
        t
    };
    h.gw.refresh_catalog().await;
    let mut changed = names("a", 0..3);
    changed.extend(names("t", 0..8));
    changed.insert(7, "t03b".into());
    for era in [Era::Handshake, Era::Stateless] {
        assert_eq!(h.walk(&user, era).await, changed);
    }
}

#[tokio::test]
async fn a_cursor_from_before_a_catalog_change_still_pages_on() {
    let h = Harness::start(catalog(10, 0, 0)).await;
    let user = principal("alice", &["user"]);
    // A cursor that falls on no prepared page boundary is answered from scratch.
    let after_t01 = encode_cursor("t01");
    let served = h.list(&user, Some(&after_t01), Era::Handshake).await;
    assert_eq!(
        served,
        h.scratch_reply(&user, Some(&after_t01), Era::Handshake)
    );
    let page: serde_json::Value = serde_json::from_slice(&served).expect("JSON");
    let first: Vec<&str> = page["result"]["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(first, ["t02", "t03", "t04", "t06"]);
}

#[tokio::test]
async fn the_cache_serves_one_prepared_page_per_role_set_and_stays_bounded() {
    let h = Harness::start(catalog(10, 3, 0)).await;
    let (catalog, policy) = (h.gw.catalog.snapshot(), h.gw.policy.current());
    let cache = ListCache::new(4, 1 << 20);
    let page = |who: &Principal| {
        let req = ListRequest {
            catalog: &catalog,
            policy: &policy,
            principal: who,
            page_size: 4,
            era: Era::Handshake,
        };
        list_tools(&cache, &req, None).expect("a page")
    };
    let first = page(&principal("alice", &["user", "admin"]));
    // Another caller with the same roles gets the very same bytes: keyed by roles, not callers.
    let again = page(&principal("bob", &["admin", "user"]));
    assert_eq!(first.as_ptr(), again.as_ptr());
    assert_eq!(cache.usage().0, 1);
    // Many role sets: never more than four listings kept.
    for i in 0..20 {
        let role = format!("r{i}");
        page(&principal("mallory", &["user", role.as_str()]));
        assert!(cache.usage().0 <= 4, "{:?}", cache.usage());
    }
    // A byte budget smaller than one listing keeps nothing, and still answers.
    let tiny = ListCache::new(4, 64);
    let req = ListRequest {
        catalog: &catalog,
        policy: &policy,
        principal: &principal("alice", &["user"]),
        page_size: 4,
        era: Era::Handshake,
    };
    let answer = list_tools(&tiny, &req, None).expect("a page");
    assert_eq!(answer, list_tools_uncached(&req, None).expect("a page"));
    assert_eq!(tiny.usage(), (0, 0));
    // Listings of snapshots no longer in force are dropped on the next insert.
    h.gw.refresh_catalog().await;
    let fresh = h.gw.catalog.snapshot();
    drop(catalog);
    let req = ListRequest {
        catalog: &fresh,
        policy: &policy,
        principal: &principal("alice", &["user"]),
        page_size: 4,
        era: Era::Handshake,
    };
    list_tools(&cache, &req, None).expect("a page");
    assert_eq!(cache.usage().0, 1);
}

#[test]
fn cursors_round_trip_and_junk_is_refused() {
    assert_eq!(
        decode_cursor(&encode_cursor("echo")).ok().as_deref(),
        Some("echo")
    );
    assert!(decode_cursor("!!").is_err());
}
