//! Several gateway replicas behave as one: with a shared Redis, a user's rate limit holds across
//! both processes; when Redis is unreachable, the configured policy (fail open or closed) applies
//! and is counted.

use crate::common::{Options, Stack};
use mcp_testkit::redis::RedisServer;
use serde_json::json;

fn options(redis: &RedisServer, on_unavailable: &str) -> Options {
    Options {
        policy: format!(
            "{}rate_limits:\n  tools: {{ echo: 4/min }}\n",
            crate::common::DEFAULT_POLICY
        ),
        config: format!(
            "rate_limit_store: {{redis: {{url: '{}', timeout: 200ms, on_unavailable: {on_unavailable}}}}}",
            redis.url()
        ),
        ..Options::default()
    }
}

/// Waits until every one of `gateways` knows `key`: each replica learns of a new key from its
/// own watch of the key directory.
fn known_to(s: &Stack, gateways: &[&mcp_testkit::Proc], key: &str) {
    for gw in gateways {
        mcp_testkit::wait_for(
            "the replicas to know the new key",
            std::time::Duration::from_secs(10),
            || (s.rpc_at(gw, key, "ping", json!({})).status == 200).then_some(()),
        );
    }
}

#[test]
fn a_users_limit_holds_across_two_gateway_processes() {
    let redis = RedisServer::start();
    let opts = options(&redis, "fail_open");
    let extra = opts.config.clone();
    let s = Stack::start(opts);
    let second = s.start_replica("replica", &extra);
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    known_to(&s, &[&s.gateway, &second], &key);
    let echo = json!({"name": "echo", "arguments": {"text": "x"}});
    let mut statuses = Vec::new();
    for i in 0..6 {
        let gw = if i % 2 == 0 { &s.gateway } else { &second };
        statuses.push(s.rpc_at(gw, &key, "tools/call", echo.clone()).status);
    }
    assert_eq!(
        statuses,
        vec![200, 200, 200, 200, 429, 429],
        "4/min shared by both replicas"
    );
    // Another user has their own bucket.
    let (_, other) = s.create_key("bob", &["mcp-user"], "1d");
    known_to(&s, &[&second], &other);
    assert_eq!(s.rpc_at(&second, &other, "tools/call", echo).status, 200);
}

#[test]
fn when_redis_is_down_fail_open_falls_back_to_local_buckets_and_fail_closed_refuses() {
    let mut redis = RedisServer::start();
    let open = options(&redis, "fail_open");
    let closed_extra = options(&redis, "fail_closed").config;
    let s = Stack::start(open);
    let closed = s.start_replica("closed", &closed_extra);
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    known_to(&s, &[&s.gateway, &closed], &key);
    let echo = json!({"name": "echo", "arguments": {"text": "x"}});
    assert_eq!(
        s.rpc_at(&closed, &key, "tools/call", echo.clone()).status,
        200
    );
    redis.stop();
    let r = s.rpc_at(&s.gateway, &key, "tools/call", echo.clone());
    assert_eq!(r.status, 200, "fail open: {}", r.text);
    // Failing open never means unlimited: this replica's own buckets keep the limit
    // (echo: 4/min) until Redis is back.
    let statuses: Vec<u16> = (0..4)
        .map(|_| {
            s.rpc_at(&s.gateway, &key, "tools/call", echo.clone())
                .status
        })
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429], "local fallback buckets");
    let r = s.rpc_at(&closed, &key, "tools/call", echo.clone());
    assert_eq!(r.status, 503, "fail closed: {}", r.text);
    assert!(
        r.text.contains("rate limits cannot be checked"),
        "{}",
        r.text
    );
    assert!(
        s.metrics()
            .contains(r#"mcp_rate_limit_store_errors_total{policy="fail_open"}"#)
    );
    // Recovery: limits apply again once Redis is back.
    redis.restart();
    mcp_testkit::wait_for(
        "the closed replica to recover",
        std::time::Duration::from_secs(15),
        || (s.rpc_at(&closed, &key, "tools/call", echo.clone()).status == 200).then_some(()),
    );
}
