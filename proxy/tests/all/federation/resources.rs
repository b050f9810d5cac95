//! Federation of resources and prompts, and hot reload of `mcp_servers:`. Two servers on the
//! official Python SDK (`fed_server.py` with `EXTRAS=<tag>`: the same URI and URI template on
//! both, answers naming the server) behind the real gateway; the official Python SDK client
//! (`fed_resources_client.py`) lists and reads through it as callers with different roles.
//! Then servers are added to and removed from the gateway's config file while it runs.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Upstream, dir, wait_listed};
use crate::common::{Options, Stack};

const POLICY: &str = "\
toolsets:
  examples: { roles: [mcp-user, mcp-admin] }
  up: { roles: [mcp-user, mcp-admin] }
  two: { roles: [mcp-admin] }
  added: { roles: [mcp-user] }
";

/// What the Python SDK client saw: lists, reads and prompt gets.
fn sdk_client(s: &Stack, key: &str, reads: &[&str], prompts: Value) -> Value {
    let root = mcp_testkit::repo_root();
    let out = Command::new(root.join(".peers/venv/bin/python"))
        .arg(root.join("proxy/tests/peers/fed_resources_client.py"))
        .args([&s.mcp_url(), key])
        .arg(serde_json::to_string(reads).unwrap())
        .arg(prompts.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// Every URI of `resources/list` for the caller (raw JSON-RPC, all pages).
fn resource_uris(s: &Stack, key: &str) -> Vec<String> {
    let mut uris = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let params = cursor.as_ref().map_or(json!({}), |c| json!({"cursor": c}));
        let r = s.rpc(key, "resources/list", params).result();
        for res in r["resources"].as_array().unwrap() {
            uris.push(res["uri"].as_str().unwrap().to_owned());
        }
        match r["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return uris,
        }
    }
}

fn text_of(read: &Value) -> &str {
    read[0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {read}"))
}

#[test]
fn resources_and_prompts_are_federated_by_role_and_routed_to_their_server() {
    let tmp = dir();
    let up = Upstream::start(tmp.path(), &[("EXTRAS", "alpha")]);
    let two = Upstream::start(
        tmp.path(),
        &[
            ("EXTRAS", "beta"),
            ("STATELESS", "1"),
            ("JSON_RESPONSE", "1"),
        ],
    );
    let s = Stack::start(Options {
        policy: POLICY.into(),
        config: format!(
            "mcp_servers:\n- {{name: up, url: '{}'}}\n- {{name: two, url: '{}'}}\n",
            up.url(),
            two.url()
        ),
        ..Options::default()
    });
    let (_, user) = s.create_key("alice", &["mcp-user"], "1d");
    let (_, admin) = s.create_key("bob", &["mcp-admin"], "1d");
    let (_, nobody) = s.create_key("carol", &["other"], "1d");
    // Both servers' lists are read on a catalog refresh: the admin then sees the shared URI
    // once per server.
    mcp_testkit::wait_for(
        "both servers' resources to be listed",
        Duration::from_secs(20),
        || {
            let uris = resource_uris(&s, &admin);
            uris.iter()
                .any(|u| u == "mcp-gateway://two/shared://note")
                .then_some(())
        },
    );

    // A caller granted only `up`: its URIs as the upstream wrote them, its template, its
    // prompts under `up__` names; reads and gets reach `up`.
    let v = sdk_client(
        &s,
        &user,
        &[
            "shared://note",
            "users://7/profile",
            "alpha://pixel",
            "beta://only",
        ],
        json!([["up__greet", {"who": "Ann"}], ["two__greet", {"who": "Ann"}]]),
    );
    assert_eq!(
        v["capabilities"],
        json!({"resources": true, "prompts": true})
    );
    assert_eq!(
        v["resources"],
        json!(["alpha://only", "alpha://pixel", "shared://note"]),
        "{v}"
    );
    assert!(v["resource_pages"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(v["templates"], json!(["users://{id}/profile"]), "{v}");
    let prompts: Vec<&str> = v["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(prompts.len(), 2, "{v}");
    assert_eq!(prompts[0], "up__greet");
    assert!(prompts[1].starts_with("up__ns_summary_"), "{v}");
    assert_eq!(text_of(&v["reads"]["shared://note"]), "note from alpha");
    assert_eq!(
        text_of(&v["reads"]["users://7/profile"]),
        "alpha profile of 7"
    );
    let pixel = &v["reads"]["alpha://pixel"][0];
    assert_eq!(pixel["mime"], "image/png", "{v}");
    assert_eq!(
        pixel["blob"],
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
    );
    assert_eq!(v["gets"]["up__greet"], json!(["Hello Ann, from alpha"]));
    // `two` is not granted: its resource and prompt are unknown to this caller.
    assert!(
        v["reads"]["beta://only"]["error"]
            .as_str()
            .unwrap()
            .contains("Unknown resource"),
        "{v}"
    );
    assert!(
        v["gets"]["two__greet"]["error"]
            .as_str()
            .unwrap()
            .contains("Unknown prompt"),
        "{v}"
    );

    // A caller granted both: the URI and template both servers list are shown wrapped, one
    // per server, and each wrapped form reaches its own server; the bare URI is refused as
    // ambiguous rather than guessed.
    let v = sdk_client(
        &s,
        &admin,
        &[
            "mcp-gateway://up/shared://note",
            "mcp-gateway://two/shared://note",
            "mcp-gateway://two/users://9/profile",
            "shared://note",
            "users://9/profile",
            "beta://only",
        ],
        json!([["two__greet", {"who": "Bo"}]]),
    );
    assert_eq!(
        v["resources"],
        json!([
            "alpha://only",
            "alpha://pixel",
            "beta://only",
            "beta://pixel",
            "mcp-gateway://two/shared://note",
            "mcp-gateway://up/shared://note"
        ]),
        "{v}"
    );
    assert!(
        v["resource_pages"].as_u64().unwrap() >= 2,
        "paginated across servers with page_size 3: {v}"
    );
    assert_eq!(
        v["templates"],
        json!([
            "mcp-gateway://two/users://{id}/profile",
            "mcp-gateway://up/users://{id}/profile"
        ]),
        "{v}"
    );
    let reads = &v["reads"];
    assert_eq!(
        text_of(&reads["mcp-gateway://up/shared://note"]),
        "note from alpha"
    );
    assert_eq!(
        text_of(&reads["mcp-gateway://two/shared://note"]),
        "note from beta"
    );
    assert_eq!(
        text_of(&reads["mcp-gateway://two/users://9/profile"]),
        "beta profile of 9"
    );
    assert_eq!(text_of(&reads["beta://only"]), "only beta");
    for ambiguous in ["shared://note", "users://9/profile"] {
        let e = reads[ambiguous]["error"].as_str().unwrap();
        assert!(
            e.contains("more than one MCP server") && e.contains("mcp-gateway://up/"),
            "{ambiguous}: {v}"
        );
    }
    assert_eq!(v["gets"]["two__greet"], json!(["Hello Bo, from beta"]));
    // The result is the upstream's, byte for byte.
    let through = s.rpc(
        &admin,
        "resources/read",
        json!({"uri": "mcp-gateway://two/beta://pixel"}),
    );
    assert_eq!(
        raw_result(&through.text),
        raw_result(&direct_read(&two.url(), "beta://pixel")),
        "{}",
        through.text
    );

    // A caller with no grant: nothing listed, no capabilities hidden from the handshake, and a
    // read of an existing resource gets the same error as a URI nobody serves.
    let v = sdk_client(
        &s,
        &nobody,
        &["alpha://only", "alpha://nothing"],
        json!([["up__greet", {"who": "Cy"}], ["up__nothing", {}]]),
    );
    assert_eq!(v["resources"], json!([]), "{v}");
    assert_eq!(v["templates"], json!([]), "{v}");
    assert_eq!(v["prompts"], json!([]), "{v}");
    let (hidden, unknown) = (&v["reads"]["alpha://only"], &v["reads"]["alpha://nothing"]);
    assert_eq!(hidden["code"], unknown["code"], "{v}");
    assert_eq!(
        hidden["error"].as_str().unwrap().replace("only", "X"),
        unknown["error"].as_str().unwrap().replace("nothing", "X"),
        "{v}"
    );
    let (hidden, unknown) = (&v["gets"]["up__greet"], &v["gets"]["up__nothing"]);
    assert_eq!(
        hidden["error"].as_str().unwrap().replace("greet", "X"),
        unknown["error"].as_str().unwrap().replace("nothing", "X"),
        "{v}"
    );

    // Subscriptions are refused with a message that says so.
    let sub = s.rpc(&admin, "resources/subscribe", json!({"uri": "beta://only"}));
    assert_eq!(sub.rpc_code(), Some(-32601), "{}", sub.text);
    assert!(sub.text.contains("not resources/subscribe"), "{}", sub.text);

    // Audited and counted like tool calls, with the server's name.
    let audit = s.audit();
    assert!(
        audit.iter().any(|a| a["method"] == "prompts/get"
            && a["tool"] == "up__greet"
            && a["status"] == "success"),
        "no audit line for the prompt get"
    );
    assert!(
        audit
            .iter()
            .any(|a| a["method"] == "resources/read" && a["arguments_sha256"].is_string()),
        "no audit line for the read"
    );
    let metrics = s.metrics();
    assert!(
        metrics.contains(
            r#"mcp_federated_requests_total{server="two",method="resources/read",status="ok"}"#
        ),
        "{metrics}"
    );
}

/// The `result` of a JSON-RPC answer (plain JSON or the last event of a stream), as written.
fn raw_result(answer: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Answer {
        result: Box<serde_json::value::RawValue>,
    }
    let line = answer
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .next_back()
        .unwrap_or(answer);
    let a: Answer = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {answer}"));
    a.result.get().to_owned()
}

/// `resources/read` sent to a stateless upstream directly, the whole answer.
fn direct_read(url: &str, uri: &str) -> String {
    reqwest::blocking::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": uri}})
                .to_string(),
        )
        .send()
        .unwrap()
        .text()
        .unwrap()
}

/// Rewrites the `mcp_servers:` section at the end of the stack's config file.
fn set_servers(s: &Stack, servers: &str) {
    let path = s.dir.path().join("gateway.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let head = text.split("mcp_servers:").next().unwrap().to_owned();
    std::fs::write(&path, format!("{head}mcp_servers:\n{servers}")).unwrap();
}

/// The upstream session id `up__whoami` reports (the gateway's session with `up` for this
/// caller).
fn session_at_up(s: &Stack, key: &str) -> String {
    let r = s.call_tool(key, "up__whoami", json!({})).result();
    let who: Value = serde_json::from_str(r["content"][0]["text"].as_str().unwrap()).unwrap();
    who["mcp-session-id"].as_str().unwrap().to_owned()
}

fn wait_unlisted(s: &Stack, key: &str, tool: &str) {
    mcp_testkit::wait_for(
        "the removed server's tools to disappear",
        Duration::from_secs(20),
        || (!s.tool_names(key).iter().any(|n| n == tool)).then_some(()),
    );
}

#[test]
fn servers_added_to_and_removed_from_the_config_come_and_go_without_a_restart() {
    let tmp = dir();
    let up = Upstream::start(tmp.path(), &[]);
    let added = Upstream::start(tmp.path(), &[("EXTRAS", "gamma")]);
    let up_entry = format!("- {{name: up, url: '{}'}}\n", up.url());
    let s = Stack::start(Options {
        policy: POLICY.into(),
        config: format!("mcp_servers:\n{up_entry}"),
        ..Options::default()
    });
    let (_, user) = s.create_key("alice", &["mcp-user"], "1d");
    wait_listed(&s, &user, "up__echo");
    assert!(!s.tool_names(&user).iter().any(|n| n == "added__echo"));
    // `up` offers resources (the Python SDK advertises them always) but lists none.
    assert_eq!(resource_uris(&s, &user), Vec::<String>::new());
    let session = session_at_up(&s, &user);
    let pid = s.gateway.pid();

    // Added: its tools appear (and its resources, as it offers them).
    set_servers(
        &s,
        &format!("{up_entry}- {{name: added, url: '{}'}}\n", added.url()),
    );
    wait_listed(&s, &user, "added__echo");
    let r = s
        .call_tool(&user, "added__echo", json!({"text": "hi"}))
        .result();
    assert_eq!(r["content"][0]["text"], "hi");
    mcp_testkit::wait_for(
        "the added server's resources",
        Duration::from_secs(20),
        || {
            resource_uris(&s, &user)
                .iter()
                .any(|u| u == "gamma://only")
                .then_some(())
        },
    );
    // The unchanged server kept its sessions (the same upstream session serves the caller).
    assert_eq!(session_at_up(&s, &user), session);

    // Removed while a call to it runs: the call finishes there; the tools disappear.
    let marker = tmp.path().join("hold.started");
    let call = {
        let (url, key, marker) = (s.mcp_url(), user.clone(), marker.clone());
        std::thread::spawn(move || {
            call_at(
                &url,
                &key,
                "added__hold",
                json!({
            "marker": marker.display().to_string(), "seconds": 2.0}),
            )
        })
    };
    mcp_testkit::wait_for("the held call to start", Duration::from_secs(10), || {
        marker.exists().then_some(())
    });
    set_servers(&s, &up_entry);
    wait_unlisted(&s, &user, "added__echo");
    let held = call.join().unwrap();
    assert_eq!(held["result"]["content"][0]["text"], "held", "{held}");
    assert_eq!(resource_uris(&s, &user), Vec::<String>::new());
    let gone = s.call_tool(&user, "added__echo", json!({"text": "hi"}));
    assert_eq!(gone.rpc_code(), Some(-32602), "{}", gone.text);

    // An invalid config is rejected and the servers in force stay.
    set_servers(&s, "- {name: 'bad name', url: 'http://127.0.0.1:1/mcp'}\n");
    mcp_testkit::wait_for(
        "the rejected reload to be counted",
        Duration::from_secs(10),
        || {
            s.metrics()
                .contains(r#"mcp_config_reloads_total{result="rejected"}"#)
                .then_some(())
        },
    );
    assert!(s.tool_names(&user).iter().any(|n| n == "up__echo"));
    assert_eq!(s.gateway.pid(), pid, "no restart");
}

/// A `tools/call` on its own connection (from another thread), the whole JSON-RPC answer.
fn call_at(url: &str, key: &str, tool: &str, arguments: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": tool, "arguments": arguments}});
    let text = reqwest::blocking::Client::new()
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string())
        .timeout(Duration::from_secs(30))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let line = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .next_back()
        .map_or(text.clone(), str::to_owned);
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {text}"))
}
