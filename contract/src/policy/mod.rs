//! The access policy: which roles may use which tool sets and tools, and the rate limits.
//!
//! Written as YAML (`policies/access.yaml`), parsed once into an [`AccessPolicy`] whose checks
//! allocate nothing. Deny by default: a tool that no rule grants is neither listed nor callable.
//!
//! ```yaml
//! toolsets:
//!   examples:     { roles: [mcp-user, mcp-admin] }
//!   log-analysis: { roles: [mcp-log-analyst], listed: false }   # callable from code only lists
//! tools:
//!   delete_file:  { roles: [mcp-admin] }                        # replaces the tool set's roles
//! rate_limits:
//!   per_user: 600/min
//!   per_user_tool: 120/min
//!   tools: { execute_code: 30/min }
//!   users: { ci-bot: 6000/min }
//! deny:                         # offboarded callers, refused at once on every replica
//!   principals: ['oidc:https://idp.example/realms/mcp#f3a1...']
//!   users: [mallory]
//! capacity:                     # each caller's share of a sandbox's slots and queue
//!   share: 50%
//!   roles: { mcp-admin: 100% }
//!   users: { ci-bot: 75% }
//! ```
//!
//! The role `"*"` means any authenticated caller.

mod model;

use std::collections::HashMap;
use std::path::Path;

pub use model::{Capacity, Deny, InvalidRoleName, Percent, RateLimits, RoleName};

use crate::units::Rate;

/// A policy file that could not be used; the message names the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read policy file {path}: {source}")]
    Read {
        /// The policy file's path.
        path: String,
        /// The I/O error reading it.
        source: std::io::Error,
    },
    /// The file was read but does not parse or validate.
    #[error("policy file {path} is invalid: {source}")]
    Invalid {
        /// The policy file's path.
        path: String,
        /// What is wrong, naming the field.
        source: serde_yaml::Error,
    },
}

/// Whether a caller may use a tool, and if not, why (in words fit for the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// A rule grants the tool to one of the caller's roles.
    Allowed,
    /// No rule mentions the tool or its tool set.
    NoRule,
    /// A rule exists but the caller has none of its roles.
    MissingRole,
}

impl Access {
    /// Whether the caller may use the tool.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Access::Allowed)
    }
}

/// A validated access policy.
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    toolsets: HashMap<String, Rule>,
    tools: HashMap<String, Rule>,
    rate_limits: RateLimits,
    capacity: Capacity,
    deny: Deny,
}

#[derive(Debug, Clone)]
struct Rule {
    roles: Vec<RoleName>,
    any_authenticated: bool,
    listed: bool,
}

impl Rule {
    fn grants<R: AsRef<str>>(&self, caller_roles: &[R]) -> bool {
        self.any_authenticated
            || caller_roles.iter().any(|r| {
                self.roles
                    .iter()
                    .any(|allowed| allowed.as_str() == r.as_ref())
            })
    }
}

impl AccessPolicy {
    /// Reads and validates a policy file.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&text).map_err(|source| PolicyError::Invalid {
            path: path.display().to_string(),
            source,
        })
    }

    /// Parses and validates policy YAML. The error names the offending field.
    pub fn from_yaml(text: &str) -> Result<Self, serde_yaml::Error> {
        let raw: model::RawPolicy = serde_yaml::from_str(text)?;
        let rule = |r: model::RawRule| Rule {
            any_authenticated: r.roles.iter().any(RoleName::is_wildcard),
            roles: r.roles,
            listed: r.listed.unwrap_or(true),
        };
        Ok(Self {
            toolsets: raw
                .toolsets
                .into_iter()
                .map(|(k, v)| (k.into(), rule(v)))
                .collect(),
            tools: raw
                .tools
                .into_iter()
                .map(|(k, v)| (k.into(), rule(v)))
                .collect(),
            rate_limits: raw.rate_limits,
            capacity: raw.capacity,
            deny: raw.deny,
        })
    }

    /// Decides whether a caller with `roles` may call `tool` from `toolset`. A per-tool rule,
    /// when present, replaces the tool set's rule.
    pub fn check<R: AsRef<str>>(&self, roles: &[R], tool: &str, toolset: &str) -> Access {
        match self.rule_for(tool, toolset) {
            None => Access::NoRule,
            Some(rule) if rule.grants(roles) => Access::Allowed,
            Some(_) => Access::MissingRole,
        }
    }

    /// Whether `tools/list` shows the tool to a caller who may call it.
    pub fn is_listed(&self, tool: &str, toolset: &str) -> bool {
        self.rule_for(tool, toolset).is_some_and(|r| r.listed)
    }

    fn rule_for(&self, tool: &str, toolset: &str) -> Option<&Rule> {
        self.tools.get(tool).or_else(|| self.toolsets.get(toolset))
    }

    /// The policy's rate limits, as written.
    pub fn rate_limits(&self) -> &RateLimits {
        &self.rate_limits
    }

    /// The per-user rate for `user`: a per-user override, else the default.
    pub fn user_rate(&self, user: &str) -> Option<Rate> {
        self.rate_limits
            .users
            .get(user)
            .copied()
            .or(self.rate_limits.per_user)
    }

    /// The per-user-and-tool rate for `tool`: a per-tool override, else the default.
    pub fn tool_rate(&self, tool: &str) -> Option<Rate> {
        self.rate_limits
            .tools
            .get(tool)
            .copied()
            .or(self.rate_limits.per_user_tool)
    }

    /// The share of a sandbox's execution slots and queue a caller may hold: their user
    /// override, else the largest of their roles' overrides, else the default share; `None`
    /// when the policy sets none of these (the sandbox then applies its own default).
    pub fn capacity_share<R: AsRef<str>>(&self, user: &str, roles: &[R]) -> Option<Percent> {
        let c = &self.capacity;
        c.users
            .get(user)
            .copied()
            .or_else(|| {
                roles
                    .iter()
                    .filter_map(|r| c.roles.get(r.as_ref()).copied())
                    .max_by_key(|p| p.get())
            })
            .or(c.share)
    }

    /// Whether the caller is on the deny list (by principal id or user name).
    pub fn is_denied(&self, principal: &str, user: &str) -> bool {
        self.deny.principals.iter().any(|p| p == principal)
            || self.deny.users.iter().any(|u| u == user)
    }

    /// Names of the tool sets and tools that rules mention, for diagnostics (`doctor`).
    pub fn mentioned(&self) -> (Vec<&str>, Vec<&str>) {
        let mut sets: Vec<&str> = self.toolsets.keys().map(String::as_str).collect();
        let mut tools: Vec<&str> = self.tools.keys().map(String::as_str).collect();
        sets.sort_unstable();
        tools.sort_unstable();
        (sets, tools)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
toolsets:
  examples: { roles: [mcp-user, mcp-admin] }
  code: { roles: ["*"] }
  logs: { roles: [mcp-log-analyst], listed: false }
tools:
  delete_file: { roles: [mcp-admin] }
  banned: { roles: [] }
rate_limits:
  per_user: 600/min
  per_user_tool: 120/min
  tools: { execute_code: 30/min }
  users: { ci-bot: 6000/min }
"#;

    fn policy() -> AccessPolicy {
        AccessPolicy::from_yaml(POLICY).unwrap()
    }

    #[test]
    fn denied_callers_are_matched_by_principal_or_user() {
        let p = AccessPolicy::from_yaml(
            "deny:\n  principals: ['oidc:https://idp#42']\n  users: [mallory]\n",
        )
        .unwrap();
        assert!(p.is_denied("oidc:https://idp#42", "alice"));
        assert!(p.is_denied("apikey:mallory", "mallory"));
        assert!(!p.is_denied("oidc:https://idp#43", "alice"));
        assert!(!policy().is_denied("oidc:https://idp#42", "mallory"));
    }

    #[test]
    fn capacity_shares_resolve_user_then_roles_then_default() {
        let p = AccessPolicy::from_yaml(
            "capacity:\n  share: 50%\n  roles: { ops: 80, dev: '30%' }\n  users: { bot: 10% }\n",
        )
        .unwrap();
        let share = |user, roles: &[&str]| p.capacity_share(user, roles).map(Percent::get);
        assert_eq!(share("bot", &["ops"]), Some(10));
        assert_eq!(share("alice", &["dev", "ops"]), Some(80));
        assert_eq!(share("alice", &["dev"]), Some(30));
        assert_eq!(share("alice", &[]), Some(50));
        assert_eq!(policy().capacity_share("alice", &["mcp-user"]), None);
        assert_eq!(Percent::new(50).unwrap().of(16), 8);
        assert_eq!(Percent::new(1).unwrap().of(4), 1);
        for bad in ["0%", "101", "half"] {
            let e =
                AccessPolicy::from_yaml(&format!("capacity: {{ share: {bad} }}\n")).unwrap_err();
            assert!(e.to_string().contains("1% to 100%"), "{bad}: {e}");
        }
    }

    #[test]
    fn roles_grant_their_tool_sets_only() {
        let p = policy();
        assert_eq!(p.check(&["mcp-user"], "echo", "examples"), Access::Allowed);
        assert_eq!(
            p.check(&["mcp-viewer"], "echo", "examples"),
            Access::MissingRole
        );
        assert_eq!(
            p.check::<&str>(&[], "echo", "examples"),
            Access::MissingRole
        );
    }

    #[test]
    fn unknown_tool_sets_are_denied_by_default() {
        assert_eq!(
            policy().check(&["mcp-admin"], "x", "secret"),
            Access::NoRule
        );
    }

    #[test]
    fn tool_rules_replace_the_tool_set_rule() {
        let p = policy();
        assert_eq!(
            p.check(&["mcp-user"], "delete_file", "examples"),
            Access::MissingRole
        );
        assert_eq!(
            p.check(&["mcp-admin"], "delete_file", "examples"),
            Access::Allowed
        );
        assert_eq!(
            p.check(&["mcp-admin"], "banned", "examples"),
            Access::MissingRole
        );
    }

    #[test]
    fn wildcard_role_admits_any_authenticated_caller() {
        assert_eq!(
            policy().check::<&str>(&[], "execute_code", "code"),
            Access::Allowed
        );
    }

    #[test]
    fn unlisted_tool_sets_are_callable_but_hidden() {
        let p = policy();
        assert!(
            p.check(&["mcp-log-analyst"], "search_logs", "logs")
                .is_allowed()
        );
        assert!(!p.is_listed("search_logs", "logs"));
        assert!(p.is_listed("echo", "examples"));
    }

    #[test]
    fn rate_limits_fall_back_to_defaults() {
        let p = policy();
        assert_eq!(p.user_rate("ci-bot").unwrap().count, 6000);
        assert_eq!(p.user_rate("alice").unwrap().count, 600);
        assert_eq!(p.tool_rate("execute_code").unwrap().count, 30);
        assert_eq!(p.tool_rate("echo").unwrap().count, 120);
    }

    #[test]
    fn errors_name_the_bad_field() {
        let e = AccessPolicy::from_yaml("toolsets:\n  x: { roles: [ok], rolez: [] }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `rolez`"), "{e}");
        let e = AccessPolicy::from_yaml("rate_limits:\n  per_user: lots\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("per_user") && e.contains("rate \"lots\""), "{e}");
        let e = AccessPolicy::from_yaml("toolsets:\n  x: { roles: [\"bad role\"] }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("role name \"bad role\""), "{e}");
        let e = AccessPolicy::from_yaml("toolsets:\n  \"../x\": { roles: [a] }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"../x\""), "{e}");
    }

    #[test]
    fn empty_policy_denies_everything() {
        let p = AccessPolicy::from_yaml("{}").unwrap();
        assert_eq!(p.check(&["mcp-admin"], "echo", "examples"), Access::NoRule);
        assert!(p.user_rate("a").is_none());
    }
}
