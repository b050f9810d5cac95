//! Names, each with one rule enforced by its type: a value of these types is valid wherever it
//! is used, so a policy cannot name a tool that nothing can define.
//!
//! Three forms of a tool's name:
//! - [`BackendToolName`]: what a backend calls the tool. The MCP specification allows
//!   1-128 characters of `A-Z a-z 0-9 _ - .` (federated servers use dots).
//! - [`ToolName`]: what clients see and call: model-safe, 1-64 characters of
//!   `A-Z a-z 0-9 _ -`, unique in the catalog. Every wasm tool's name is one.
//! - [`ToolName::code_identifier`]: the identifier code mode derives from it
//!   (`tools.<component>.<identifier>` in Python and JavaScript).
//!
//! Tool sets and components are [`ToolsetName`]s and [`ComponentName`]s: components become
//! module names in code mode (`from tools import log_store`), so they are identifiers.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Why a name was refused: which kind of name, the value, and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {value:?} is not valid: {rule}")]
pub struct NameError {
    /// The kind of name, e.g. `tool name`.
    pub kind: &'static str,
    /// The refused value, cut to 200 characters.
    pub value: String,
    /// The rule the value breaks, as error messages state it.
    pub rule: &'static str,
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $kind:literal, $rule:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $ty(String);

        impl $ty {
            /// The rule, as error messages state it.
            pub const RULE: &'static str = $rule;

            /// Checks `s` against the rule.
            pub fn parse(s: &str) -> Result<Self, NameError> {
                let check: fn(&str) -> bool = $check;
                if check(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(NameError {
                        kind: $kind,
                        value: s.chars().take(200).collect(),
                        rule: $rule,
                    })
                }
            }

            /// The name as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // Hash and Eq are the inner string's, so maps keyed by names are looked up by `&str`.
        impl std::borrow::Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<$ty> for String {
            fn from(n: $ty) -> String {
                n.0
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

fn chars_within(s: &str, max: usize, extra: &[u8]) -> bool {
    (1..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

name_type!(
    /// A tool's name as clients see and call it.
    ToolName,
    "tool name",
    "use 1-64 characters of a-z, A-Z, 0-9, '_', '-'",
    |s| chars_within(s, 64, b"_-")
);

name_type!(
    /// A tool's name as its backend defines it (the specification's wider rule).
    BackendToolName,
    "backend tool name",
    "use 1-128 characters of a-z, A-Z, 0-9, '_', '-', '.'",
    |s| chars_within(s, 128, b"_-.")
);

name_type!(
    /// A tool set: the unit roles are granted.
    ToolsetName,
    "tool set name",
    "use 1-64 characters of a-z, A-Z, 0-9, '_', '-'",
    |s| chars_within(s, 64, b"_-")
);

name_type!(
    /// A component (one wasm module): also a module name in code mode.
    ComponentName,
    "component name",
    "use 1-64 characters of a-z, 0-9 and '_', starting with a letter",
    |s| {
        s.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
            && s.len() <= 64
            && s
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }
);

impl ToolName {
    /// The identifier code mode calls this tool by: `-` becomes `_`, and a leading digit gets
    /// a `_` in front.
    pub fn code_identifier(&self) -> String {
        let mut id: String = self
            .0
            .chars()
            .map(|c| if c == '-' { '_' } else { c })
            .collect();
        if id.starts_with(|c: char| c.is_ascii_digit()) {
            id.insert(0, '_');
        }
        id
    }

    /// The name clients see for `backend`, a tool of the federated MCP server `server`:
    /// `<server>__<backend>` when that is a valid tool name; otherwise the characters outside
    /// the rule become `_`, the result is cut to fit, and `_` plus 8 hex digits of a SHA-256 of
    /// the backend name are appended, so two backend names that read alike after the
    /// replacement (`a.b`, `a_b`) or share a long prefix still get different names.
    ///
    /// `server` must be a valid tool name of at most 32 characters (config validates it).
    pub fn federated(server: &str, backend: &BackendToolName) -> Result<Self, NameError> {
        use sha2::Digest as _;
        let plain = format!("{server}__{backend}");
        if let Ok(name) = Self::parse(&plain) {
            return Ok(name);
        }
        let digest = sha2::Sha256::digest(backend.as_str().as_bytes());
        let suffix: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        let safe: String = plain
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(64 - 1 - suffix.len())
            .collect();
        Self::parse(&format!("{safe}_{suffix}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared test vector: the SDK's own name check reads the same file, so the two
    /// cannot drift apart.
    const VECTOR: &str = include_str!("../tests/tool_names.json");

    #[derive(Deserialize)]
    struct Case {
        name: String,
        tool: bool,
        backend: bool,
    }

    #[test]
    fn tool_names_follow_the_shared_vector() {
        let cases: Vec<Case> = serde_json::from_str(VECTOR).expect("vector parses");
        assert!(cases.len() > 10);
        for c in cases {
            assert_eq!(
                ToolName::parse(&c.name).is_ok(),
                c.tool,
                "tool {:?}",
                c.name
            );
            assert_eq!(
                BackendToolName::parse(&c.name).is_ok(),
                c.backend,
                "backend {:?}",
                c.name
            );
        }
    }

    #[test]
    fn errors_name_the_kind_the_value_and_the_rule() {
        let e = ToolName::parse("a.b").unwrap_err();
        assert_eq!(
            e.to_string(),
            "tool name \"a.b\" is not valid: use 1-64 characters of a-z, A-Z, 0-9, '_', '-'"
        );
        assert!(ComponentName::parse("Log-Store").is_err());
        assert!(ComponentName::parse("log_store").is_ok());
        assert!(ToolsetName::parse("examples").is_ok());
    }

    #[test]
    fn federated_names_are_model_safe_and_distinct() {
        let b = |s: &str| BackendToolName::parse(s).unwrap();
        assert_eq!(
            ToolName::federated("github", &b("search_issues")).map(String::from),
            Ok("github__search_issues".to_owned())
        );
        let dotted = ToolName::federated("gh", &b("issues.search")).unwrap();
        let underscored = ToolName::federated("gh", &b("issues_search")).unwrap();
        assert!(
            dotted.as_str().starts_with("gh__issues_search_"),
            "{dotted}"
        );
        assert_ne!(dotted, underscored);
        let long_a = "a".repeat(100) + "x";
        let long_b = "a".repeat(100) + "y";
        let (la, lb) = (
            ToolName::federated("srv", &b(&long_a)).unwrap(),
            ToolName::federated("srv", &b(&long_b)).unwrap(),
        );
        assert!(la.as_str().len() <= 64 && lb.as_str().len() <= 64);
        assert_ne!(la, lb);
        assert!(la.as_str().starts_with("srv__aaa"));
    }

    #[test]
    fn code_identifiers_are_identifiers() {
        for (name, id) in [("echo", "echo"), ("read-file", "read_file"), ("3d", "_3d")] {
            assert_eq!(
                ToolName::parse(name).map(|n| n.code_identifier()),
                Ok(id.to_owned())
            );
        }
    }
}
