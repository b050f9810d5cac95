//! JSON Schemas derived from Rust types with `schemars`: never written by hand, so they cannot
//! drift from what the tool actually decodes and returns.
//!
//! Schemas follow JSON Schema 2020-12 (what MCP assumes when `$schema` is absent) with
//! subschemas inlined, so each schema is self-contained for agents that do not follow `$ref`.
//! Argument schemas describe what deserialises; result schemas describe what serialises.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};
use serde_json::Value;

fn settings() -> SchemaSettings {
    SchemaSettings::draft2020_12().with(|settings| settings.inline_subschemas = true)
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
