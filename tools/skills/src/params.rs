//! A skill's parameters: accepted in the loose shapes agents write them in, stored in one
//! normal form, and used to check a run's arguments and inject them into the skill's code.
//!
//! Accepted shapes of `parameters`:
//! - a list of names: `["service", "hours"]` (each required);
//! - a list of objects: `[{"name": "hours", "type": "integer", "default": 24, "description": ...}]`
//!   (`required` defaults to true unless a `default` is given);
//! - a JSON Schema object: `{"type": "object", "properties": {...}, "required": [...]}`;
//! - a map of name to spec: `{"hours": {"type": "integer", "default": 24}}` or `{"hours": "integer"}`;
//! - nothing (`null`): the skill takes no declared parameters and any arguments are passed.

use mcp_tool_sdk::serde_json::{self, Map, Value};
use serde::{Deserialize, Serialize};

/// Parameters a skill declares at most.
const MAX_PARAMETERS: usize = 64;

/// One declared parameter, in normal form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Parameter {
    /// A Python identifier: the key in the skill's `args` dict.
    pub name: String,
    /// A JSON Schema type name, if declared (informational).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub required: bool,
    /// Used when a run leaves the parameter out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
}

/// Normalises `parameters` as given to `save_skill`; the error says what is wrong with it.
pub fn normalize(parameters: &Value) -> Result<Vec<Parameter>, String> {
    let declared = match parameters {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(name) => Ok(simple(name)),
                Value::Object(spec) => {
                    let name = spec.get("name").and_then(Value::as_str).ok_or_else(|| {
                        format!("a parameter object has no string `name`: {item}")
                    })?;
                    Ok(from_spec(name, spec, None))
                }
                other => Err(format!(
                    "a parameter must be a name or an object with a `name`, not {other}"
                )),
            })
            .collect::<Result<_, _>>()?,
        Value::Object(schema) if schema.contains_key("properties") => {
            let properties = schema["properties"]
                .as_object()
                .ok_or("`properties` must be an object of parameter specs")?;
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|names| names.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            properties
                .iter()
                .map(|(name, spec)| {
                    let spec = spec.as_object().cloned().unwrap_or_default();
                    Ok(from_spec(
                        name,
                        &spec,
                        Some(required.contains(&name.as_str())),
                    ))
                })
                .collect::<Result<_, String>>()?
        }
        Value::Object(map) => map
            .iter()
            .map(|(name, spec)| match spec {
                Value::Object(spec) => Ok(from_spec(name, spec, None)),
                Value::String(kind) => Ok(Parameter {
                    kind: Some(kind.clone()),
                    ..simple(name)
                }),
                other => Err(format!(
                    "parameter `{name}` must be described by an object or a type name, not {other}"
                )),
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(format!(
                "`parameters` must be a list, an object or null, not {other}"
            ));
        }
    };
    if declared.len() > MAX_PARAMETERS {
        return Err(format!(
            "a skill may declare at most {MAX_PARAMETERS} parameters"
        ));
    }
    for (i, parameter) in declared.iter().enumerate() {
        if !is_identifier(&parameter.name) {
            return Err(format!(
                "parameter name {:?} is not a Python identifier (letters, digits and _, not \
                 starting with a digit)",
                parameter.name
            ));
        }
        if declared[..i].iter().any(|p| p.name == parameter.name) {
            return Err(format!("parameter `{}` is declared twice", parameter.name));
        }
    }
    Ok(declared)
}

fn simple(name: &str) -> Parameter {
    Parameter {
        name: name.to_owned(),
        kind: None,
        description: None,
        required: true,
        default: None,
    }
}

fn from_spec(name: &str, spec: &Map<String, Value>, required: Option<bool>) -> Parameter {
    let default = spec.get("default").cloned();
    let required = required
        .or_else(|| spec.get("required").and_then(Value::as_bool))
        .unwrap_or(default.is_none());
    Parameter {
        name: name.to_owned(),
        kind: spec.get("type").and_then(Value::as_str).map(str::to_owned),
        description: spec
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned),
        required,
        default,
    }
}

pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

/// The arguments a run passes to the skill: `given`, checked against the declared parameters,
/// with defaults filled in. Without declared parameters, anything given passes.
pub fn bind(
    declared: &[Parameter],
    given: Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    if declared.is_empty() {
        return Ok(given);
    }
    if let Some(unknown) = given
        .keys()
        .find(|k| !declared.iter().any(|p| &p.name == *k))
    {
        return Err(format!(
            "the skill has no parameter `{unknown}`; its parameters are: {}",
            names(declared)
        ));
    }
    let mut bound = given;
    for parameter in declared {
        if bound.contains_key(&parameter.name) {
            continue;
        }
        match (&parameter.default, parameter.required) {
            (Some(default), _) => {
                bound.insert(parameter.name.clone(), default.clone());
            }
            (None, true) => {
                return Err(format!(
                    "the skill needs the argument `{}`; its parameters are: {}",
                    parameter.name,
                    names(declared)
                ));
            }
            (None, false) => {}
        }
    }
    Ok(bound)
}

fn names(declared: &[Parameter]) -> String {
    declared
        .iter()
        .map(|p| {
            if p.required {
                p.name.clone()
            } else {
                format!("{} (optional)", p.name)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The Python program a run executes: `args` bound to the arguments, then the skill's code.
/// The arguments travel as a JSON string literal decoded at run time, so no value can break
/// out of the literal into code (JSON string escapes are valid Python string escapes).
pub fn program(code: &str, arguments: &Map<String, Value>) -> String {
    let json = Value::Object(arguments.clone()).to_string();
    let literal = serde_json::to_string(&json).expect("a string always encodes");
    format!(
        "import json as _skill_json\nargs = _skill_json.loads({literal})\ndel _skill_json\n\n{code}\n"
    )
}

#[cfg(test)]
mod tests {
    use mcp_tool_sdk::serde_json::json;

    use super::*;

    fn names_required(parameters: Value) -> Vec<(String, bool)> {
        // Sorted: the order of an object's keys depends on serde_json's features.
        let mut found: Vec<_> = normalize(&parameters)
            .unwrap()
            .into_iter()
            .map(|p| (p.name, p.required))
            .collect();
        found.sort();
        found
    }

    #[test]
    fn every_accepted_shape_normalises() {
        let both = vec![("hours".to_owned(), false), ("service".to_owned(), true)];
        assert_eq!(
            names_required(json!([{"name": "service"}, {"name": "hours", "default": 24}])),
            both
        );
        assert_eq!(
            names_required(json!({"type": "object", "required": ["service"],
                "properties": {"service": {"type": "string"}, "hours": {"type": "integer"}}})),
            vec![("hours".to_owned(), false), ("service".to_owned(), true)]
        );
        assert_eq!(
            names_required(json!({"service": "string", "hours": {"default": 24}})),
            vec![("hours".to_owned(), false), ("service".to_owned(), true)]
        );
        assert_eq!(names_required(json!(["a", "b"])).len(), 2);
        assert_eq!(names_required(json!(null)), vec![]);
    }

    #[test]
    fn bad_parameters_say_what_is_wrong() {
        for (parameters, needle) in [
            (json!(7), "must be a list"),
            (json!([1]), "a name or an object"),
            (json!([{"type": "x"}]), "no string `name`"),
            (json!(["not-ok"]), "Python identifier"),
            (json!(["a", "a"]), "declared twice"),
        ] {
            let error = normalize(&parameters).unwrap_err();
            assert!(error.contains(needle), "{parameters}: {error}");
        }
    }

    #[test]
    fn binding_checks_names_and_fills_defaults() {
        let declared = normalize(&json!([
            {"name": "service"},
            {"name": "hours", "default": 24},
            {"name": "note", "required": false}
        ]))
        .unwrap();
        let given = |v: Value| v.as_object().unwrap().clone();
        let bound = bind(&declared, given(json!({"service": "api"}))).unwrap();
        assert_eq!(Value::Object(bound), json!({"service": "api", "hours": 24}));
        let error = bind(&declared, given(json!({}))).unwrap_err();
        assert!(error.contains("needs the argument `service`"), "{error}");
        let error = bind(&declared, given(json!({"service": "a", "x": 1}))).unwrap_err();
        assert!(
            error.contains("no parameter `x`") && error.contains("note (optional)"),
            "{error}"
        );
        let free = bind(&[], given(json!({"anything": true}))).unwrap();
        assert_eq!(free.len(), 1);
    }

    #[test]
    fn the_program_decodes_arguments_safely() {
        let arguments = json!({"q": "\"\"\")\nimport os  # '''", "n": 1})
            .as_object()
            .unwrap()
            .clone();
        let program = program("print(args['n'])", &arguments);
        let second_line = program.lines().nth(1).unwrap();
        assert!(
            second_line.starts_with("args = _skill_json.loads(\""),
            "{program}"
        );
        // The payload stays inside one JSON string literal on one line.
        assert!(!second_line.contains("\nimport"));
        let literal = &second_line["args = _skill_json.loads(".len()..second_line.len() - 1];
        let decoded: String = serde_json::from_str(literal).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&decoded).unwrap(),
            Value::Object(arguments)
        );
        assert!(program.ends_with("print(args['n'])\n"));
    }
}
