//! The tool set manifest (`policies/toolsets/<name>.yaml`): which components make up a tool set,
//! with what limits and capabilities. Parsed once into validated types; unknown fields are errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mcp_contract::units::{ByteSize, Span};
use serde::Deserialize;

/// A tool set as written in its YAML file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolsetManifest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub defaults: ComponentDefaults,
    pub components: Vec<ComponentManifest>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentDefaults {
    #[serde(default)]
    pub limits: LimitOverrides,
    #[serde(default)]
    pub capabilities: Capabilities,
}

/// One wasm component of a tool set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentManifest {
    /// File name of the component, relative to the sandbox's modules directory.
    pub file: PathBuf,
    /// Name used for the component (and in `from tools import <name>`); defaults to the file
    /// stem.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub limits: LimitOverrides,
    /// Capabilities replace the tool set's defaults as a whole when given.
    #[serde(default)]
    pub capabilities: Option<Capabilities>,
}

/// Limits as written: any field left out falls back to the tool set default, then to
/// [`Limits::default`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    pub fuel: Option<u64>,
    pub timeout: Option<Span>,
    pub memory: Option<ByteSize>,
    pub output: Option<ByteSize>,
    pub arguments: Option<ByteSize>,
    pub host_call_timeout: Option<Span>,
    pub max_nested_calls: Option<u32>,
    pub max_nesting_depth: Option<u32>,
}

/// The limits one call of a tool runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel (roughly, wasm instructions) for one call.
    pub fuel: u64,
    /// Wall-clock budget for one call, instantiation included.
    pub timeout: Span,
    /// Cap on the instance's linear memory.
    pub memory: ByteSize,
    /// Cap on the result's size and on what the tool writes to stdout.
    pub output: ByteSize,
    /// Cap on the arguments of one call, as JSON text, checked before they are parsed (from
    /// the gateway and from other tools alike). Parsing costs a multiple of this in memory.
    pub arguments: ByteSize,
    /// Cap on each host call the tool makes (a nested tool call ends at the earlier of this and
    /// the call's own deadline).
    pub host_call_timeout: Span,
    /// Tool calls the call may make through the host, counted over the whole call tree.
    pub max_nested_calls: u32,
    /// How deep nested calls may go (1 = a tool may call tools that call nothing).
    pub max_nesting_depth: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 1_000_000_000,
            timeout: Span::from_secs(30),
            memory: ByteSize::mib(64),
            output: ByteSize::mib(1),
            arguments: ByteSize::mib(1),
            host_call_timeout: Span::from_secs(30),
            max_nested_calls: 0,
            max_nesting_depth: 0,
        }
    }
}

impl LimitOverrides {
    /// Applies `self` over `base`.
    pub fn apply(&self, base: Limits) -> Limits {
        Limits {
            fuel: self.fuel.unwrap_or(base.fuel),
            timeout: self.timeout.unwrap_or(base.timeout),
            memory: self.memory.unwrap_or(base.memory),
            output: self.output.unwrap_or(base.output),
            arguments: self.arguments.unwrap_or(base.arguments),
            host_call_timeout: self.host_call_timeout.unwrap_or(base.host_call_timeout),
            max_nested_calls: self.max_nested_calls.unwrap_or(base.max_nested_calls),
            max_nesting_depth: self.max_nesting_depth.unwrap_or(base.max_nesting_depth),
        }
    }
}

/// What a component may reach beyond its own memory. Everything is denied unless listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Mount the caller's own workspace directory at `/workspace`.
    #[serde(default)]
    pub workspace: Option<Access>,
    /// Host directories to mount.
    #[serde(default)]
    pub dirs: Vec<DirGrant>,
    /// Extra environment variables the component sees (the host's own are never passed).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Outbound HTTP through `wasi:http`, to the listed origins only (see
    /// `runtime::http`). Without it every request the component makes is refused.
    #[serde(default)]
    pub http: Option<HttpGrant>,
}

/// Outbound HTTP as written in a manifest; validated by `runtime::http::HttpPolicy`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpGrant {
    /// The origins requests may go to. Deny by default: an empty list refuses everything.
    pub allow: Vec<HttpOrigin>,
    /// Requests one call may make (default 16).
    #[serde(default)]
    pub max_requests: Option<u32>,
    /// Cap on each response body (default 1MiB); a longer body is cut with an error.
    #[serde(default)]
    pub max_response: Option<ByteSize>,
    /// Cap on each request, connect to last body byte (default 10s); always also bounded by
    /// the call's own deadline.
    #[serde(default)]
    pub timeout: Option<Span>,
}

/// One allowed origin, and the credential the host adds to requests to it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpOrigin {
    /// `scheme://host[:port]`; the host may start with `*.` to allow its subdomains (not the
    /// domain itself). The port defaults to the scheme's.
    pub origin: String,
    /// A header whose value the host reads from a secret file and sets on every request to
    /// this origin, replacing any the guest set. The guest never sees it.
    #[serde(default)]
    pub inject: Option<HeaderSecret>,
}

/// A header set by the host from a secret file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderSecret {
    /// Header name, e.g. `Authorization`.
    pub header: String,
    /// File holding the whole header value (e.g. `Bearer abc...`), one trailing newline
    /// dropped; read at each request, so a rotated secret applies at once. Relative paths are
    /// relative to the manifest's directory; `${VAR}` and `${VAR:-default}` are expanded.
    pub secret_file: String,
}

/// A host directory mounted into the guest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirGrant {
    /// Host path; relative paths are relative to the manifest's directory. `${VAR}` and
    /// `${VAR:-default}` are expanded from the sandbox's environment.
    pub host: String,
    /// Absolute path the guest sees.
    pub guest: String,
    #[serde(default = "Access::read_only")]
    pub mode: Access,
    /// With `mode: read-write`, the roles a caller needs one of to get it read-write; callers
    /// without one get it read-only (enforced by the host, whatever the component does).
    /// Empty: every caller gets `mode`.
    #[serde(default)]
    pub write_roles: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

impl Access {
    fn read_only() -> Self {
        Access::ReadOnly
    }
}

/// A `${VAR}` in a manifest that cannot be expanded; carries the text it was in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VarError {
    /// A `${` without its `}`.
    #[error("unclosed \"${{\" in {text:?}")]
    Unclosed { text: String },
    /// The variable is unset or empty and has no `:-default`.
    #[error("environment variable {var} is not set (in {text:?})")]
    Unset { var: String, text: String },
}

/// Expands `${VAR}` and `${VAR:-default}` in `text` using `lookup`.
pub fn expand_vars(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, VarError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| VarError::Unclosed {
            text: text.to_owned(),
        })?;
        let expr = &after[..end];
        let (var, default) = match expr.split_once(":-") {
            Some((v, d)) => (v, Some(d)),
            None => (expr, None),
        };
        match lookup(var)
            .filter(|v| !v.is_empty())
            .or(default.map(str::to_owned))
        {
            Some(v) => out.push_str(&v),
            None => {
                return Err(VarError::Unset {
                    var: var.to_owned(),
                    text: text.to_owned(),
                });
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Resolves a grant's host path: expands variables, then makes it relative to `base`.
pub fn resolve_host_path(grant: &DirGrant, base: &Path) -> Result<PathBuf, VarError> {
    let expanded = expand_vars(&grant.host, |v| std::env::var(v).ok())?;
    let path = PathBuf::from(expanded);
    Ok(if path.is_absolute() {
        path
    } else {
        base.join(path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_parses_with_defaults_and_overrides() {
        let m: ToolsetManifest = serde_yaml::from_str(
            r#"
name: logs
defaults:
  limits: { timeout: 5s, memory: 32MiB }
components:
  - file: log_store.wasm
    capabilities:
      dirs: [{ host: ../../samples, guest: /logs }]
  - file: workspace.wasm
    limits: { memory: 128MiB, arguments: 10MiB }
    capabilities: { workspace: read-write }
"#,
        )
        .unwrap();
        let base = m.defaults.limits.apply(Limits::default());
        assert_eq!(base.timeout, Span::from_secs(5));
        let ws = m.components[1].limits.apply(base);
        assert_eq!(ws.memory, ByteSize::mib(128));
        assert_eq!(ws.arguments, ByteSize::mib(10));
        assert_eq!(base.arguments, ByteSize::mib(1));
        assert_eq!(ws.timeout, Span::from_secs(5));
        let caps = m.components[0].capabilities.as_ref().unwrap();
        assert_eq!(caps.dirs[0].mode, Access::ReadOnly);
        assert_eq!(
            m.components[1].capabilities.as_ref().unwrap().workspace,
            Some(Access::ReadWrite)
        );
    }

    #[test]
    fn unknown_fields_are_rejected_with_their_name() {
        let e = serde_yaml::from_str::<ToolsetManifest>(
            "name: x\ncomponents:\n  - file: a.wasm\n    capabilites: {}\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `capabilites`"), "{e}");
    }

    #[test]
    fn variables_expand_with_defaults() {
        let env = |v: &str| (v == "LOGS").then(|| "/var/log/app".to_owned());
        assert_eq!(expand_vars("${LOGS}/x", env).unwrap(), "/var/log/app/x");
        assert_eq!(expand_vars("${NOPE:-/tmp/d}", env).unwrap(), "/tmp/d");
        assert!(
            expand_vars("${NOPE}", env)
                .unwrap_err()
                .to_string()
                .contains("NOPE is not set")
        );
        assert!(expand_vars("${OPEN", env).is_err());
    }
}
