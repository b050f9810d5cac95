//! Tool set manifests (`mcp_sandbox::toolset::manifest::ToolsetManifest` through serde_yaml, as
//! the sandbox loads `policies/toolsets/*.yaml`), the limits they resolve to, and `${VAR}`
//! expansion in granted host paths (`expand_vars`).
//!
//! Input: a manifest, a zero byte, then a text to expand; variables `A`..`Z` are set (to their
//! own name, and `E` to the empty string, which counts as unset), all others are unset.
//!
//! Invariants: limits resolve without panicking; text without `${` expands to itself; as every
//! value here is shorter than any reference to it, an expansion never grows the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_fuzz::manifest::{Limits, ToolsetManifest, expand_vars};

fn lookup(var: &str) -> Option<String> {
    match var {
        "E" => Some(String::new()),
        v if v.len() == 1 && v.as_bytes()[0].is_ascii_uppercase() => Some(v.to_lowercase()),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let [manifest, text] = mcp_fuzz::fields::<2>(data);
    if let Ok(m) = serde_yaml::from_slice::<ToolsetManifest>(manifest) {
        let base = m.defaults.limits.apply(Limits::default());
        for c in &m.components {
            let _ = c.limits.apply(base);
            let caps = c.capabilities.as_ref().unwrap_or(&m.defaults.capabilities);
            for grant in &caps.dirs {
                let _ = expand_vars(&grant.host, lookup);
            }
        }
    }
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let expanded = expand_vars(text, lookup);
    if !text.contains("${") {
        assert_eq!(expanded.as_deref(), Ok(text));
    }
    if let Ok(out) = expanded {
        assert!(out.len() <= text.len(), "{text:?} -> {out:?}");
    }
});
