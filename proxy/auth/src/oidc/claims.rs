//! Reading the user and roles out of a verified token's claims via configured claim paths
//! (`preferred_username`, `realm_access.roles`, `resource_access.{audience}.roles`).

use std::sync::Arc;

use mcp_contract::policy::RoleName;
use serde_json::{Map, Value};

use crate::error::AuthError;

const MAX_USER_LEN: usize = 256;
const MAX_ROLES: usize = 256;

/// A claim path: the whole string (for claim names that contain dots, like
/// `https://example.com/roles`), else its dot-separated segments with `{audience}` replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClaimPath {
    raw: String,
    segments: Vec<String>,
}

/// A claim path with an empty segment; carries the path as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("claim path {0:?} is not valid: use dot-separated claim names, e.g. realm_access.roles")]
pub struct InvalidClaimPath(pub String);

impl ClaimPath {
    pub fn parse(path: &str, audience: &str) -> Result<Self, InvalidClaimPath> {
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return Err(InvalidClaimPath(path.to_owned()));
        }
        let segments = path
            .split('.')
            .map(|s| {
                if s == "{audience}" {
                    audience.to_owned()
                } else {
                    s.to_owned()
                }
            })
            .collect();
        Ok(Self {
            raw: path.to_owned(),
            segments,
        })
    }

    /// The value at this path, if any.
    fn lookup<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        if let Some(v) = claims.get(&self.raw) {
            return Some(v);
        }
        let (first, rest) = self.segments.split_first()?;
        rest.iter()
            .try_fold(claims.get(first)?, |v, seg| v.as_object()?.get(seg))
    }
}

impl std::fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.raw)
    }
}

/// The first path that holds a usable user name: a non-empty string of at most 256 characters
/// without control characters.
pub(crate) fn extract_user(
    claims: &Map<String, Value>,
    paths: &[ClaimPath],
) -> Result<Arc<str>, AuthError> {
    for path in paths {
        match path.lookup(claims) {
            Some(Value::String(s)) if !s.is_empty() => {
                if s.chars().count() > MAX_USER_LEN || s.chars().any(char::is_control) {
                    return Err(AuthError::Malformed(format!(
                        "the access token's user claim `{path}` is not a usable name (control \
                         characters or longer than {MAX_USER_LEN})"
                    )));
                }
                return Ok(Arc::from(s.as_str()));
            }
            _ => continue,
        }
    }
    let looked: Vec<String> = paths.iter().map(ToString::to_string).collect();
    Err(AuthError::Malformed(format!(
        "the access token names no user (looked for the claims {}): use a token the identity \
         provider issues for a user or service account",
        looked.join(", ")
    )))
}

/// Roles from every path combined, deduplicated in order of appearance. An array contributes
/// its strings, a string its space-separated words. Values that are not valid policy role
/// names (or the wildcard `*`) cannot match any rule and are dropped.
pub(crate) fn extract_roles(claims: &Map<String, Value>, paths: &[ClaimPath]) -> Arc<[String]> {
    let mut roles: Vec<String> = Vec::new();
    let mut add = |role: &str| {
        let valid = RoleName::parse(role).is_ok_and(|r| !r.is_wildcard());
        if valid && roles.len() < MAX_ROLES && !roles.iter().any(|r| r == role) {
            roles.push(role.to_owned());
        }
    };
    for path in paths {
        match path.lookup(claims) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).for_each(&mut add),
            Some(Value::String(s)) => s.split_whitespace().for_each(&mut add),
            _ => {}
        }
    }
    roles.into()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn paths(p: &[&str]) -> Vec<ClaimPath> {
        p.iter()
            .map(|p| ClaimPath::parse(p, "mcp.gateway").unwrap())
            .collect()
    }

    #[test]
    fn user_comes_from_the_first_path_present() {
        let c = claims(json!({"sub": "1234", "preferred_username": "alice"}));
        let u = extract_user(&c, &paths(&["preferred_username", "sub"])).unwrap();
        assert_eq!(&*u, "alice");
        let c = claims(json!({"sub": "1234", "preferred_username": ""}));
        let u = extract_user(&c, &paths(&["preferred_username", "sub"])).unwrap();
        assert_eq!(&*u, "1234");
    }

    #[test]
    fn missing_user_is_malformed_and_names_the_claims() {
        let c = claims(json!({"email": "a@b"}));
        let e = extract_user(&c, &paths(&["preferred_username", "sub"])).unwrap_err();
        assert_eq!(e.reason(), "malformed");
        assert!(e.to_string().contains("preferred_username, sub"), "{e}");
        let c = claims(json!({"sub": "a\nb"}));
        assert!(extract_user(&c, &paths(&["sub"])).is_err());
    }

    #[test]
    fn roles_are_combined_from_nested_paths_with_the_audience_placeholder() {
        let c = claims(json!({
            "realm_access": {"roles": ["mcp-user", "offline_access"]},
            "resource_access": {"mcp.gateway": {"roles": ["mcp-admin", "mcp-user"]},
                                "other": {"roles": ["root"]}},
            "scope": "openid mcp:tools",
            "https://example.com/roles": ["ns-role"],
        }));
        let p = paths(&[
            "realm_access.roles",
            "resource_access.{audience}.roles",
            "scope",
            "https://example.com/roles",
            "absent.path",
        ]);
        assert_eq!(
            &*extract_roles(&c, &p),
            [
                "mcp-user",
                "offline_access",
                "mcp-admin",
                "openid",
                "mcp:tools",
                "ns-role"
            ]
        );
    }

    #[test]
    fn odd_role_values_are_dropped() {
        let c = claims(json!({"roles": ["ok", 7, "*", "has space", {"x": 1}, "ok"]}));
        assert_eq!(&*extract_roles(&c, &paths(&["roles"])), ["ok"]);
        let c = claims(json!({"roles": {"not": "a list"}}));
        assert!(extract_roles(&c, &paths(&["roles"])).is_empty());
    }

    #[test]
    fn empty_segments_are_rejected() {
        assert!(ClaimPath::parse("a..b", "x").is_err());
        assert!(ClaimPath::parse("", "x").is_err());
    }
}
