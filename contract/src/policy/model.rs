//! The policy file's shape, as serde reads it. Unknown fields are errors, so a typo cannot
//! silently widen or narrow access.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::units::Rate;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    #[serde(default)]
    pub toolsets: HashMap<Name, RawRule>,
    #[serde(default)]
    pub tools: HashMap<Name, RawRule>,
    #[serde(default)]
    pub rate_limits: RateLimits,
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
    #[serde(default)]
    pub per_user: Option<Rate>,
    #[serde(default)]
    pub per_user_tool: Option<Rate>,
    #[serde(default)]
    pub tools: HashMap<String, Rate>,
    #[serde(default)]
    pub users: HashMap<String, Rate>,
}

/// A tool set or tool name: 1-64 characters of `a-z A-Z 0-9 _ - .`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Name(String);

impl From<Name> for String {
    fn from(n: Name) -> String {
        n.0
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let ok = (1..=64).contains(&s.len())
            && !s.starts_with('.')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if ok {
            Ok(Name(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "name {s:?} is not valid: use 1-64 characters of a-z, A-Z, 0-9, '_', '-', '.'"
            )))
        }
    }
}

/// A role as it appears in tokens and key files, or `*` for any authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RoleName(String);

impl RoleName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn is_wildcard(&self) -> bool {
        self.0 == "*"
    }
    /// Checks a role name: 1-128 characters of `a-z A-Z 0-9 _ - . : /`, or `*`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = s == "*"
            || ((1..=128).contains(&s.len())
                && s.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'/')
                }));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "role name {s:?} is not valid: use 1-128 characters of a-z, A-Z, 0-9, '_', '-', '.', ':', '/', or \"*\""
            ))
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
