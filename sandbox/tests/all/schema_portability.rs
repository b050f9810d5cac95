//! Every tool in the catalog (every tool set under `policies/toolsets`, served by the real
//! sandbox) has input and output schemas that strict clients accept: standard JSON Schema
//! 2020-12 keywords and formats only (no `uint32`, `int64`, `double` ...), no bare `true` or
//! `false` where a schema object is expected, no `type` arrays and no schema that constrains
//! nothing. These are the rules of the MCP Inspector's `--strict` check (errors and warnings
//! alike) and of Ajv's format check in the TypeScript SDK.
//!
//! The check is first proved against the vector the SDK's schema rewriting is tested with
//! (`sdk/tests/schema-portability.json`): it must flag every unportable case and accept every
//! rewritten one.

use crate::common::{Sandbox, Setup};
use mcp_testkit::TempDir;
use serde_json::Value;

const STANDARD_FORMATS: [&str; 19] = [
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];
const BOOLEAN_VALUED: [&str; 4] = [
    "additionalProperties",
    "unevaluatedProperties",
    "additionalItems",
    "unevaluatedItems",
];
const ONE_SCHEMA: [&str; 12] = [
    "items",
    "contains",
    "not",
    "propertyNames",
    "if",
    "then",
    "else",
    "additionalProperties",
    "unevaluatedProperties",
    "additionalItems",
    "unevaluatedItems",
    "contentSchema",
];
const SCHEMA_ARRAYS: [&str; 4] = ["allOf", "anyOf", "oneOf", "prefixItems"];
const SCHEMA_MAPS: [&str; 5] = [
    "properties",
    "patternProperties",
    "dependentSchemas",
    "$defs",
    "definitions",
];
/// Keywords that constrain a value (the Inspector's list); a schema with none accepts anything.
const CONSTRAINING: [&str; 38] = [
    "type",
    "enum",
    "const",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "format",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxContains",
    "minContains",
    "maxProperties",
    "minProperties",
    "required",
    "dependentRequired",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "items",
    "prefixItems",
    "contains",
    "additionalItems",
    "unevaluatedItems",
    "properties",
    "patternProperties",
    "additionalProperties",
    "unevaluatedProperties",
    "propertyNames",
    "dependentSchemas",
    "dependencies",
    "$ref",
];

/// What makes `schema` unportable, one line per problem with its path.
pub(crate) fn problems(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(schema, "", None, &mut out);
    out
}

fn walk(node: &Value, path: &str, keyword: Option<&str>, out: &mut Vec<String>) {
    let obj = match node {
        Value::Bool(b) => {
            if !keyword.is_some_and(|k| BOOLEAN_VALUED.contains(&k)) {
                out.push(format!(
                    "{path}: bare `{b}` where a schema object is expected"
                ));
            }
            return;
        }
        Value::Object(obj) => obj,
        other => {
            out.push(format!("{path}: {other} is not a schema"));
            return;
        }
    };
    if let Some(format) = obj.get("format").and_then(Value::as_str)
        && !STANDARD_FORMATS.contains(&format)
    {
        out.push(format!("{path}: non-standard format `{format}`"));
    }
    if obj.get("type").is_some_and(Value::is_array) {
        out.push(format!("{path}: `type` is an array"));
    }
    if let Some(r) = obj.get("$ref").and_then(Value::as_str)
        && !r.starts_with('#')
    {
        out.push(format!("{path}: remote $ref {r}"));
    }
    let constrains = obj.keys().any(|k| CONSTRAINING.contains(&k.as_str()))
        || (obj.contains_key("if") && (obj.contains_key("then") || obj.contains_key("else")));
    if !constrains && keyword != Some("not") {
        out.push(format!("{path}: constrains nothing (an untyped schema)"));
    }
    for (key, value) in obj {
        let key = key.as_str();
        let here = format!("{path}/{key}");
        if ONE_SCHEMA.contains(&key) && !(key == "items" && value.is_array()) {
            walk(value, &here, Some(key), out);
        } else if SCHEMA_ARRAYS.contains(&key) || key == "items" {
            for (i, v) in value.as_array().into_iter().flatten().enumerate() {
                walk(v, &format!("{here}/{i}"), Some(key), out);
            }
        } else if SCHEMA_MAPS.contains(&key) {
            for (name, v) in value.as_object().into_iter().flatten() {
                walk(v, &format!("{here}/{name}"), Some(key), out);
            }
        }
    }
}

#[test]
fn the_check_flags_the_shared_vector_and_accepts_its_rewrites() {
    let text =
        std::fs::read_to_string(mcp_testkit::repo_root().join("sdk/tests/schema-portability.json"))
            .unwrap();
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
    for case in &cases {
        let fixed = problems(&case["portable"]);
        assert!(fixed.is_empty(), "{}: {fixed:?}", case["name"]);
        if case["schema"] != case["portable"] {
            assert!(
                !problems(&case["schema"]).is_empty(),
                "not flagged: {}",
                case["name"]
            );
        }
    }
}

#[test]
fn every_tool_in_the_catalog_has_portable_schemas() {
    let toolsets: Vec<&'static str> =
        std::fs::read_dir(mcp_testkit::repo_root().join("policies/toolsets"))
            .unwrap()
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                let stem = name.strip_suffix(".yaml")?.to_owned();
                Some(&*Box::leak(stem.into_boxed_str()))
            })
            .collect();
    assert!(toolsets.len() >= 3, "{toolsets:?}");
    // The log-analysis manifests mount these; they must exist, nothing is read.
    let logs = TempDir::new().unwrap();
    let skills = TempDir::new().unwrap();
    let sb = Sandbox::start(Setup {
        toolsets: Box::leak(toolsets.into_boxed_slice()),
        env: vec![
            ("MCP_LOG_DIR", logs.path().to_owned()),
            ("MCP_SHARED_SKILLS_DIR", skills.path().to_owned()),
        ],
        ..Setup::default()
    });
    let (status, list) = sb.get("/v1/tools");
    assert_eq!(status, 200, "{list}");
    let tools = list["tools"].as_array().unwrap();
    let mut checked = Vec::new();
    let mut found = Vec::new();
    for tool in tools {
        if tool["toolset"] == "hostile" {
            continue; // the test guest, not part of the catalog
        }
        let name = tool["name"].as_str().unwrap();
        assert_eq!(tool["inputSchema"]["type"], "object", "{name}");
        for field in ["inputSchema", "outputSchema"] {
            if tool[field].is_null() {
                continue;
            }
            for p in problems(&tool[field]) {
                found.push(format!("{name} {field}{p}"));
            }
        }
        checked.push(name);
    }
    for expected in ["echo", "execute_code", "search_logs", "scrub_all_pii"] {
        assert!(
            checked.contains(&expected),
            "{expected} not served: {checked:?}"
        );
    }
    assert!(
        found.is_empty(),
        "{} unportable schema parts:\n{}",
        found.len(),
        found.join("\n")
    );
}
