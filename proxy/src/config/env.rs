//! Environment overrides of configuration fields: `MCP_GATEWAY__A__B=value` sets field `a.b`.

use serde_yaml::{Mapping, Value};

const PREFIX: &str = "MCP_GATEWAY__";

/// An `MCP_GATEWAY__...` variable that cannot be applied; names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {key}: {problem}")]
pub struct EnvOverrideError {
    /// The variable, e.g. `MCP_GATEWAY__SANDBOXES__0__URL`.
    pub key: String,
    /// What is wrong with its path.
    #[source]
    pub problem: PathProblem,
}

/// Why a variable's path does not lead to a field that can be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathProblem {
    #[error("empty path segment")]
    EmptySegment,
    #[error("{0:?} is not a list index")]
    NotAnIndex(String),
    #[error("list index {index} skips entries (the list has {len})")]
    SkipsEntries { index: usize, len: usize },
    #[error("cannot set {0:?} inside a scalar value")]
    InsideScalar(String),
}

/// Applies every `MCP_GATEWAY__...` variable in `env` to `tree`. A numeric path segment indexes a
/// list (`SANDBOXES__0__URL`). Values are parsed as YAML scalars (`7` is a number, `true` a bool).
pub fn apply_env_overrides(
    tree: &mut Value,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), EnvOverrideError> {
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(PREFIX))
        .collect();
    vars.sort();
    for (key, raw) in vars {
        let path: Vec<String> = key[PREFIX.len()..]
            .split("__")
            .map(|s| s.to_ascii_lowercase())
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(EnvOverrideError {
                key,
                problem: PathProblem::EmptySegment,
            });
        }
        let value: Value = serde_yaml::from_str(&raw).unwrap_or(Value::String(raw.clone()));
        // Keep strings that YAML would turn into something else only when they are plainly text.
        let value = match value {
            Value::Mapping(_) | Value::Sequence(_) | Value::Null => Value::String(raw),
            v => v,
        };
        set(tree, &path, value).map_err(|problem| EnvOverrideError { key, problem })?;
    }
    Ok(())
}

fn set(node: &mut Value, path: &[String], value: Value) -> Result<(), PathProblem> {
    let Some((head, rest)) = path.split_first() else {
        *node = value;
        return Ok(());
    };
    if node.is_null() {
        *node = if head.parse::<usize>().is_ok() {
            Value::Sequence(vec![])
        } else {
            Value::Mapping(Mapping::new())
        };
    }
    match node {
        Value::Mapping(m) => {
            let child = m.entry(Value::String(head.clone())).or_insert(Value::Null);
            set(child, rest, value)
        }
        Value::Sequence(seq) => {
            let i: usize = head
                .parse()
                .map_err(|_| PathProblem::NotAnIndex(head.clone()))?;
            if i > seq.len() {
                return Err(PathProblem::SkipsEntries {
                    index: i,
                    len: seq.len(),
                });
            }
            if i == seq.len() {
                seq.push(Value::Null);
            }
            set(&mut seq[i], rest, value)
        }
        _ => Err(PathProblem::InsideScalar(head.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_maps_and_lists_are_created_as_needed() {
        let mut tree: Value = serde_yaml::from_str("a: {b: 1}\nlist: [{x: 1}]\n").unwrap();
        let env = [
            ("MCP_GATEWAY__A__C".to_owned(), "hello".to_owned()),
            ("MCP_GATEWAY__LIST__0__X".to_owned(), "2".to_owned()),
            ("MCP_GATEWAY__LIST__1__X".to_owned(), "3".to_owned()),
            ("MCP_GATEWAY__NEW__FLAG".to_owned(), "true".to_owned()),
        ];
        apply_env_overrides(&mut tree, env).unwrap();
        let want: Value = serde_yaml::from_str(
            "a: {b: 1, c: hello}\nlist: [{x: 2}, {x: 3}]\nnew: {flag: true}\n",
        )
        .unwrap();
        assert_eq!(tree, want);
    }

    #[test]
    fn bad_paths_are_reported_with_the_variable_name() {
        let mut tree: Value = serde_yaml::from_str("list: []\nscalar: 1\n").unwrap();
        let e = apply_env_overrides(
            &mut tree,
            [("MCP_GATEWAY__LIST__5".to_owned(), "x".to_owned())],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("MCP_GATEWAY__LIST__5") && e.contains("skips"),
            "{e}"
        );
        let e = apply_env_overrides(
            &mut tree,
            [("MCP_GATEWAY__SCALAR__X".to_owned(), "x".to_owned())],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("inside a scalar"), "{e}");
    }
}
