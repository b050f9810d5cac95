//! The gateway's configuration (`mcp_gateway::config::Config::load`): a YAML file plus
//! `MCP_GATEWAY__...` environment overrides, then the OIDC section as `Authenticator::new`
//! validates it.
//!
//! Input: the file's text, a zero byte, then override lines `NAME=value` (the prefix
//! `MCP_GATEWAY__` is added to names that lack it). The text is written to a scratch file and
//! loaded by path, as `serve` and `check-config` do.
//!
//! Invariants on an accepted configuration: what `validate` promises (at least one uniquely
//! named sandbox, an authentication method, `execute_timeout < request_timeout`, page size and
//! threads above zero), and relative paths resolved against the file's directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_fuzz::config::Config;

fuzz_target!(|data: &[u8]| {
    let [file, env] = mcp_fuzz::fields::<2>(data);
    let env: Vec<(String, String)> = String::from_utf8_lossy(env)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let k = if k.starts_with("MCP_GATEWAY__") {
                k.to_owned()
            } else {
                format!("MCP_GATEWAY__{k}")
            };
            (k, v.to_owned())
        })
        .collect();
    let dir = mcp_fuzz::scratch_dir().join("config");
    std::fs::create_dir_all(&dir).expect("config directory");
    let path = dir.join("gateway.yaml");
    std::fs::write(&path, file).expect("config file");
    let Ok(config) = Config::load(&path, env) else {
        return;
    };
    assert!(!config.sandboxes.is_empty());
    let mut names: Vec<&str> = config.sandboxes.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        names.len(),
        config.sandboxes.len(),
        "duplicate sandbox names"
    );
    assert!(config.keys.is_some() || config.oidc.is_some());
    assert!(config.upstream.execute_timeout < config.upstream.request_timeout);
    assert!(config.catalog.page_size > 0 && config.server.threads > 0);
    assert!(config.policy.is_absolute(), "{}", config.policy.display());
    if let Some(k) = &config.keys {
        assert!(k.dir.is_absolute());
    }
    if let Some(oidc) = config.oidc {
        // Validation only: builds an HTTP client, fetches nothing.
        let _ = mcp_gateway_auth::Authenticator::new(Some(oidc), None);
    }
});
