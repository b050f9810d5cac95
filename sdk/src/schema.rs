//! JSON Schemas derived from Rust types with `schemars`: never written by hand, so they cannot
//! drift from what the tool actually decodes and returns.
//!
//! Schemas follow JSON Schema 2020-12 (what MCP assumes when `$schema` is absent) with
//! subschemas inlined, so each schema is self-contained for agents that do not follow `$ref`.
//! Argument schemas describe what deserialises; result schemas describe what serialises.
//!
//! Every schema is made portable ([`portable`]): clients validate tool schemas with strict
//! validators (Ajv in the TypeScript SDK, the MCP Inspector's `--strict` check) and map them
//! onto single-type dialects, so only standard keywords and formats are kept:
//! - integer formats (`uint32`, `int64`, ...) become `minimum`/`maximum`, `float`/`double` go;
//! - a `type` array (`["string", "null"]` for an `Option`) becomes `anyOf` single-type branches;
//! - a bare `true` schema (e.g. a `serde_json::Value` field), or one that constrains nothing
//!   (only a `description`), becomes "any JSON value" spelled as `anyOf` branches, a bare `false` becomes `{"not": {}}` (booleans stay where they are
//!   the value of `additionalProperties` and its kin).

use schemars::generate::SchemaSettings;
use schemars::transform::Transform;
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};

fn settings() -> SchemaSettings {
    SchemaSettings::draft2020_12().with(|settings| {
        settings.inline_subschemas = true;
        settings.transforms.push(Box::new(Portable));
    })
}

/// The `schemars` transform applying [`portable`] to a generated root schema.
#[derive(Debug, Clone, Copy)]
struct Portable;

impl Transform for Portable {
    fn transform(&mut self, schema: &mut Schema) {
        let mut value = std::mem::take(schema).to_value();
        portable(&mut value);
        *schema = Schema::try_from(value).unwrap_or_default();
    }
}

/// The formats JSON Schema 2020-12 defines; any other `format` is dropped (after integer
/// formats are turned into bounds).
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

/// Keywords whose value may be a boolean rather than a schema object.
const BOOLEAN_VALUED: [&str; 4] = [
    "additionalProperties",
    "unevaluatedProperties",
    "additionalItems",
    "unevaluatedItems",
];

/// Keywords that constrain a value; a schema with none of them accepts anything.
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

/// Keywords whose value is one schema.
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

/// Keywords whose value is an array of schemas.
const SCHEMA_ARRAYS: [&str; 4] = ["allOf", "anyOf", "oneOf", "prefixItems"];

/// Keywords whose value maps names to schemas.
const SCHEMA_MAPS: [&str; 5] = [
    "properties",
    "patternProperties",
    "dependentSchemas",
    "$defs",
    "definitions",
];

/// Rewrites `schema` (a root schema) in place into its portable spelling; see the module docs.
pub(crate) fn portable(schema: &mut Value) {
    portable_at(schema, None);
}

fn portable_at(schema: &mut Value, keyword: Option<&str>) {
    if let Value::Bool(b) = *schema {
        if keyword.is_some_and(|k| BOOLEAN_VALUED.contains(&k)) {
            return;
        }
        *schema = if b { any_value() } else { json!({"not": {}}) };
        return;
    }
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    integer_format_bounds(obj);
    // A schema that constrains nothing (`{}`, or only a description) is a bare `true` too.
    let constrains = obj.keys().any(|k| CONSTRAINING.contains(&k.as_str()))
        || (obj.contains_key("if") && (obj.contains_key("then") || obj.contains_key("else")));
    if !constrains && keyword != Some("not") {
        obj.insert("anyOf".into(), any_value()["anyOf"].take());
    }
    if let Some(Value::Array(types)) = obj.get("type")
        && types.iter().all(Value::is_string)
    {
        let branches: Vec<Value> = types.iter().map(|t| json!({"type": t})).collect();
        obj.remove("type");
        if branches.len() == 1 {
            obj.insert("type".into(), branches[0]["type"].clone());
        } else if obj.contains_key("anyOf") {
            // Both constrain: keep the existing `anyOf` and add the type branches beside it.
            let all_of = obj.entry("allOf").or_insert_with(|| json!([]));
            if let Some(a) = all_of.as_array_mut() {
                a.push(json!({"anyOf": branches}));
            }
        } else {
            obj.insert("anyOf".into(), Value::Array(branches));
        }
    }
    for (key, value) in obj.iter_mut() {
        let key = key.as_str();
        if ONE_SCHEMA.contains(&key) {
            if key == "items" && value.is_array() {
                value
                    .as_array_mut()
                    .into_iter()
                    .flatten()
                    .for_each(|v| portable_at(v, Some(key)));
            } else {
                portable_at(value, Some(key));
            }
        } else if SCHEMA_ARRAYS.contains(&key) {
            value
                .as_array_mut()
                .into_iter()
                .flatten()
                .for_each(|v| portable_at(v, Some(key)));
        } else if SCHEMA_MAPS.contains(&key) {
            value
                .as_object_mut()
                .into_iter()
                .flatten()
                .for_each(|(_, v)| portable_at(v, Some(key)));
        }
    }
}

/// "Any JSON value", spelled so that every branch has a single type.
fn any_value() -> Value {
    json!({"anyOf": [
        {"type": "object"}, {"type": "array"}, {"type": "string"},
        {"type": "number"}, {"type": "boolean"}, {"type": "null"}
    ]})
}

/// Replaces a non-standard `format` with the bounds it stood for (integer formats), or drops
/// it (`float`, `double`, anything else unknown).
fn integer_format_bounds(obj: &mut Map<String, Value>) {
    let Some(format) = obj.get("format").and_then(Value::as_str) else {
        return;
    };
    if STANDARD_FORMATS.contains(&format) {
        return;
    }
    let bounds: (Option<i128>, Option<i128>) = match format {
        "uint8" => (Some(0), Some(u8::MAX.into())),
        "uint16" => (Some(0), Some(u16::MAX.into())),
        "uint32" => (Some(0), Some(u32::MAX.into())),
        "uint" | "uint64" | "uint128" | "usize" => (Some(0), None),
        "int8" => (Some(i8::MIN.into()), Some(i8::MAX.into())),
        "int16" => (Some(i16::MIN.into()), Some(i16::MAX.into())),
        "int32" => (Some(i32::MIN.into()), Some(i32::MAX.into())),
        _ => (None, None),
    };
    obj.remove("format");
    for (keyword, bound, tighter) in [
        ("minimum", bounds.0, i128::max as fn(i128, i128) -> i128),
        ("maximum", bounds.1, i128::min),
    ] {
        let Some(bound) = bound else { continue };
        let merged = match obj.get(keyword) {
            Some(existing) => match existing.as_i64() {
                Some(existing) => tighter(existing.into(), bound),
                None => continue,
            },
            None => bound,
        };
        if let Ok(n) = i64::try_from(merged) {
            obj.insert(keyword.into(), json!(n));
        }
    }
}

/// The schema of a tool's arguments type.
pub(crate) fn arguments_schema<A: JsonSchema>() -> Schema {
    settings()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<A>()
}

/// The schema of a tool's result type.
pub(crate) fn result_schema<R: JsonSchema>() -> Schema {
    settings()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<R>()
}

/// Whether `schema` describes a JSON object (and nothing else). MCP requires this of argument
/// schemas and of output schemas; a result of another shape is sent as plain content instead.
pub(crate) fn is_object(schema: &Schema) -> bool {
    schema.get("type") == Some(&Value::String("object".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases shared with the sandbox's catalog check (sandbox/tests/schema_portability.rs):
    /// each `schema` rewritten is `portable`, which the check accepts.
    const VECTOR: &str = include_str!("../tests/schema-portability.json");

    #[test]
    fn the_shared_vector_is_rewritten_as_expected() {
        let cases: Vec<Value> = serde_json::from_str(VECTOR).unwrap();
        assert!(cases.len() >= 8);
        for case in cases {
            let mut schema = case["schema"].clone();
            portable(&mut schema);
            assert_eq!(schema, case["portable"], "{}", case["name"]);
            portable(&mut schema);
            assert_eq!(schema, case["portable"], "not idempotent: {}", case["name"]);
        }
    }

    #[derive(schemars::JsonSchema, serde::Serialize, serde::Deserialize)]
    #[allow(
        dead_code,
        reason = "only its schema is generated; no value is ever built"
    )]
    struct Everything {
        count: u32,
        offset: u64,
        delta: i64,
        small: i8,
        ratio: f64,
        label: Option<String>,
        limit: Option<u16>,
        any: serde_json::Value,
        items: Vec<Option<usize>>,
    }

    #[test]
    fn generated_schemas_use_only_standard_keywords() {
        for schema in [
            arguments_schema::<Everything>().to_value(),
            result_schema::<Everything>().to_value(),
        ] {
            let text = schema.to_string();
            for bad in ["\"format\"", "\"type\":[", ":true", ":false"] {
                assert!(!text.contains(bad), "{bad} in {text}");
            }
            let p = &schema["properties"];
            assert_eq!(
                p["count"],
                json!({"type": "integer", "minimum": 0, "maximum": 4294967295_u64})
            );
            assert_eq!(p["offset"], json!({"type": "integer", "minimum": 0}));
            assert_eq!(p["delta"], json!({"type": "integer"}));
            assert_eq!(
                p["small"],
                json!({"type": "integer", "minimum": -128, "maximum": 127})
            );
            assert_eq!(p["ratio"], json!({"type": "number"}));
            assert_eq!(
                p["label"],
                json!({"anyOf": [{"type": "string"}, {"type": "null"}]})
            );
            assert_eq!(p["any"], any_value());
        }
    }
}
