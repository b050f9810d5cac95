//! The access policy (`mcp_contract::policy::AccessPolicy::from_yaml`), as the gateway and the
//! sandbox read `policies/access.yaml` at start and on every reload.
//!
//! Invariants on an accepted policy: deny by default (a tool and tool set that no rule names
//! get `NoRule`, whatever the caller's roles); a listed tool has a rule; a caller without roles
//! is allowed only by a `"*"` rule; every rate has a count and a period above zero, and the
//! rate limits survive a YAML round trip unchanged (so `Rate`'s `Display` parses back).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_contract::policy::{Access, AccessPolicy, RateLimits};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = AccessPolicy::from_yaml(text) else {
        return;
    };
    // Names with a space are never valid in a policy, so no rule can mention these.
    let roles = ["mcp-admin", "*", "mcp-user"];
    assert_eq!(
        policy.check(&roles, "not a tool", "not a set"),
        Access::NoRule
    );
    assert!(!policy.is_listed("not a tool", "not a set"));
    let (sets, tools) = policy.mentioned();
    assert!(sets.is_sorted() && tools.is_sorted());
    for set in &sets {
        for tool in tools.iter().chain(["not a tool"].iter()) {
            let access = policy.check(&roles, tool, set);
            if policy.is_listed(tool, set) {
                assert_ne!(
                    access,
                    Access::NoRule,
                    "{tool} in {set} is listed without a rule"
                );
            }
            // A caller with no roles passes only a "*" rule, which any caller passes.
            if policy.check::<&str>(&[], tool, set).is_allowed() {
                assert!(policy.check(&["someone-else"], tool, set).is_allowed());
            }
        }
    }
    let limits = policy.rate_limits();
    let rates = limits
        .per_user
        .iter()
        .chain(&limits.per_user_tool)
        .chain(limits.tools.values())
        .chain(limits.users.values());
    for rate in rates {
        assert!(rate.count > 0 && !rate.period.is_zero(), "{rate:?}");
        let _ = rate.interval();
    }
    let yaml = serde_yaml::to_string(limits).expect("rate limits serialise");
    let again: RateLimits = serde_yaml::from_str(&yaml)
        .unwrap_or_else(|e| panic!("rate limits do not read back ({e}):\n{yaml}"));
    assert_eq!(again.per_user, limits.per_user);
    assert_eq!(again.per_user_tool, limits.per_user_tool);
    assert_eq!(again.tools, limits.tools);
    assert_eq!(again.users, limits.users);
});
