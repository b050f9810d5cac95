//! The policy file's shape, as serde reads it. Unknown fields are errors, so a typo cannot
//! silently widen or narrow access.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::names::{ToolName, ToolsetName};
use crate::units::Rate;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    #[serde(default)]
    pub toolsets: HashMap<ToolsetName, RawRule>,
    #[serde(default)]
    pub tools: HashMap<ToolName, RawRule>,
    #[serde(default)]
    pub rate_limits: RateLimits,
    #[serde(default)]
    pub capacity: Capacity,
    #[serde(default)]
    pub deny: Deny,
}

/// Callers refused even with a valid credential (offboarded users whose tokens have not
/// expired yet): by principal id (`oidc:<issuer>#<sub>`, `apikey:<user>`) or by user name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deny {
    /// Principal ids refused, e.g. `oidc:<issuer>#<sub>` or `apikey:<user>`.
    #[serde(default)]
    pub principals: Vec<String>,
    /// User names refused, whatever credential they come with.
    #[serde(default)]
    pub users: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub roles: Vec<RoleName>,
    #[serde(default)]
    pub listed: Option<bool>,
}

/// Token-bucket rates. `per_user` bounds all of a user's requests; `per_user_tool` bounds a
/// user's calls of any one tool. `tools` and `users` override the defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Default bound on all of one user's requests; none means unlimited.
    #[serde(default)]
    pub per_user: Option<Rate>,
    /// Default bound on one user's calls of any one tool; none means unlimited.
    #[serde(default)]
    pub per_user_tool: Option<Rate>,
    /// Per-tool overrides of `per_user_tool`, by tool name.
    #[serde(default)]
    pub tools: HashMap<ToolName, Rate>,
    /// Per-user overrides of `per_user`, by user name.
    #[serde(default)]
    pub users: HashMap<String, Rate>,
}

/// Each caller's share of a sandbox's execution slots (and of its queue), so one caller can
/// saturate only their share. `share` is the default; `roles` and `users` override it (a user
/// override wins, else the largest share of the caller's roles).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// The default share of each caller; none leaves the sandbox's own default.
    #[serde(default)]
    pub share: Option<Percent>,
    /// Shares by role name; a caller gets the largest of their roles'.
    #[serde(default)]
    pub roles: HashMap<String, Percent>,
    /// Shares by user name, winning over any role's.
    #[serde(default)]
    pub users: HashMap<String, Percent>,
}

/// A percentage from 1 to 100, written `50%` or `50`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Percent(u8);

impl Percent {
    /// The percentage `value`, if it is from 1 to 100.
    pub fn new(value: u8) -> Option<Self> {
        (1..=100).contains(&value).then_some(Self(value))
    }
    /// The percentage, from 1 to 100.
    pub fn get(self) -> u8 {
        self.0
    }
    /// This share of `n`, rounded up, and at least 1.
    pub fn of(self, n: usize) -> usize {
        (n * usize::from(self.0)).div_ceil(100).max(1)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        let bad = |shown: &dyn fmt::Display| {
            serde::de::Error::custom(format!(
                "{shown} is not a share: use a percentage from 1% to 100%, e.g. 50%"
            ))
        };
        let n = match Raw::deserialize(d)? {
            Raw::Number(n) => n,
            Raw::Text(t) => t
                .trim()
                .strip_suffix('%')
                .unwrap_or(t.trim())
                .trim()
                .parse()
                .map_err(|_| bad(&format!("{t:?}")))?,
        };
        u8::try_from(n)
            .ok()
            .and_then(Percent::new)
            .ok_or_else(|| bad(&n))
    }
}

/// A role name that [`RoleName::parse`] rejects; it carries the name as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "role name {0:?} is not valid: use 1-128 characters of a-z, A-Z, 0-9, '_', '-', '.', ':', '/', or \"*\""
)]
pub struct InvalidRoleName(pub String);

/// A role as it appears in tokens and key files, or `*` for any authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RoleName(String);

impl RoleName {
    /// The role as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Whether this is `*`, matching any authenticated caller.
    pub fn is_wildcard(&self) -> bool {
        self.0 == "*"
    }
    /// Checks a role name: 1-128 characters of `a-z A-Z 0-9 _ - . : /`, or `*`.
    pub fn parse(s: &str) -> Result<Self, InvalidRoleName> {
        let ok = s == "*"
            || ((1..=128).contains(&s.len())
                && s.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'/')
                }));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidRoleName(s.to_owned()))
        }
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RoleName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RoleName::parse(&s).map_err(serde::de::Error::custom)
    }
}
