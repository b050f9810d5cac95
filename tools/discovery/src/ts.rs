//! TypeScript declarations for tools: what an agent writing JavaScript or TypeScript in
//! `execute_code` calls as `await tools.<component>.<tool>({...})`, rendered from the tool's
//! JSON schemas.
//!
//! The same reading of a schema as the Python stubs ([`crate::stub`]): arguments are the input
//! schema's `properties`, required ones first, each in schema order; local `$ref`s followed;
//! descriptions become doc comments; an optional argument's schema `default` is named in its doc
//! comment. Only the spelling differs: one object argument with its properties (names as the
//! tool expects them, quoted when they are not identifiers), TypeScript types (`string | null`,
//! `number[]`, `"INFO" | "ERROR"`, inline object types), and a `Promise` of the result.

use mcp_tool_sdk::serde_json::Value;

use crate::stub::{self, Param, one_line, resolve, variants};

/// Nested object types deeper than this are `Record<string, unknown>`.
const MAX_DEPTH: usize = 4;

/// Whether `name` can stand unquoted as a property name.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// A property name as TypeScript source: `query`, `"max-results"`.
pub fn property_name(name: &str) -> String {
    if is_identifier(name) {
        name.to_owned()
    } else {
        Value::from(name).to_string()
    }
}

/// `tools.<component>.<tool>` as a JavaScript expression: `.search_logs`, `["scrub-emails"]`.
pub fn access(component: &str, tool: &str) -> String {
    let member = |name: &str| {
        if is_identifier(name) {
            format!(".{name}")
        } else {
            format!("[{}]", Value::from(name))
        }
    };
    format!("tools{}{}", member(component), member(tool))
}

fn primitive(json_type: &str) -> &'static str {
    match json_type {
        "string" => "string",
        "integer" | "number" => "number",
        "boolean" => "boolean",
        "null" => "null",
        "array" => "unknown[]",
        "object" => "Record<string, unknown>",
        _ => "unknown",
    }
}

fn union(types: Vec<String>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for t in types {
        if !seen.contains(&t) {
            seen.push(t);
        }
    }
    if seen.iter().any(|t| t == "unknown") {
        return "unknown".to_owned();
    }
    seen.join(" | ")
}

/// `T[]`, with a union in parentheses.
fn array_of(item: String) -> String {
    if item.contains(" | ") && !item.starts_with('{') {
        format!("({item})[]")
    } else {
        format!("{item}[]")
    }
}

/// A TypeScript type for a schema: `string`, `"a" | "b"`, `number | null`, `{ total: number }`.
pub fn type_of(schema: &Value, root: &Value, indent: usize) -> String {
    let s = resolve(schema, root, 0);
    if let Some(values) = s
        .get("enum")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
    {
        return union(values.iter().map(Value::to_string).collect());
    }
    if let Some(constant) = s.get("const") {
        return constant.to_string();
    }
    if let Some(variants) = variants(s) {
        return union(variants.iter().map(|v| type_of(v, root, indent)).collect());
    }
    match s.get("type") {
        Some(Value::Array(types)) => union(
            types
                .iter()
                .map(|t| {
                    let t = t.as_str().unwrap_or_default();
                    let mut single = s.clone();
                    if let Some(map) = single.as_object_mut() {
                        map.insert("type".into(), Value::from(t));
                    }
                    type_of(&single, root, indent)
                })
                .collect(),
        ),
        Some(Value::String(t)) if t == "array" => match s.get("items") {
            Some(items) if items.is_object() => array_of(type_of(items, root, indent)),
            _ => "unknown[]".to_owned(),
        },
        Some(Value::String(t)) if t == "object" => object_type(s, root, indent),
        Some(Value::String(t)) => primitive(t).to_owned(),
        _ => "unknown".to_owned(),
    }
}

/// An inline object type from `properties` (each with its doc comment), or a `Record`.
fn object_type(s: &Value, root: &Value, indent: usize) -> String {
    let properties = s
        .get("properties")
        .and_then(Value::as_object)
        .filter(|p| !p.is_empty());
    let Some(properties) = properties.filter(|_| indent < MAX_DEPTH) else {
        return match s.get("additionalProperties") {
            Some(extra) if extra.is_object() && indent < MAX_DEPTH => {
                format!("Record<string, {}>", type_of(extra, root, indent))
            }
            _ => "Record<string, unknown>".to_owned(),
        };
    };
    let required: Vec<&str> = s
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let pad = "  ".repeat(indent + 1);
    let mut lines = vec!["{".to_owned()];
    for (name, prop) in properties {
        let resolved = resolve(prop, root, 0);
        let description = one_line(
            resolved
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or(""),
        );
        if !description.is_empty() {
            lines.push(format!("{pad}/** {} */", comment(&description)));
        }
        let optional = if required.contains(&name.as_str()) {
            ""
        } else {
            "?"
        };
        lines.push(format!(
            "{pad}{}{optional}: {};",
            property_name(name),
            type_of(prop, root, indent + 1)
        ));
    }
    lines.push(format!("{}}}", "  ".repeat(indent)));
    lines.join("\n")
}

/// Text safe inside a `/** */` comment.
fn comment(text: &str) -> String {
    text.replace("*/", "*\\/")
}

/// The argument object's type: one property per parameter, required ones first.
fn arguments_type(params: &[Param], input_schema: &Value, indent: usize) -> String {
    if params.is_empty() {
        return "{}".to_owned();
    }
    let properties = input_schema.get("properties").and_then(Value::as_object);
    let pad = "  ".repeat(indent + 1);
    let mut lines = vec!["{".to_owned()];
    for p in params {
        let schema = properties
            .and_then(|props| props.get(&p.name))
            .unwrap_or(&Value::Null);
        let default = resolve(schema, input_schema, 0)
            .get("default")
            .filter(|d| !d.is_null() && !p.required)
            .map(|d| format!("Default {d}."));
        let doc: Vec<String> = [Some(p.description.clone()), default]
            .into_iter()
            .flatten()
            .filter(|t| !t.is_empty())
            .collect();
        if !doc.is_empty() {
            lines.push(format!("{pad}/** {} */", comment(&doc.join(" "))));
        }
        let optional = if p.required { "" } else { "?" };
        lines.push(format!(
            "{pad}{}{optional}: {};",
            property_name(&p.name),
            type_of(schema, input_schema, indent + 1)
        ));
    }
    lines.push(format!("{}}}", "  ".repeat(indent)));
    lines.join("\n")
}

/// The result type, `unknown` without an output schema.
fn result_type(output_schema: Option<&Value>, indent: usize) -> String {
    output_schema.map_or_else(|| "unknown".to_owned(), |s| type_of(s, s, indent))
}

/// `(args: { query: string; service?: string | null }) => Promise<{ total: number }>` on one
/// line, for search results.
pub fn signature(input_schema: &Value, output_schema: Option<&Value>) -> String {
    let flat = |text: String| {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("/**"))
            .collect::<Vec<_>>()
            .join(" ")
            .replace("{ }", "{}")
    };
    let params = stub::params(input_schema);
    format!(
        "(args: {}) => Promise<{}>",
        flat(arguments_type(&params, input_schema, 0)),
        flat(result_type(output_schema, 0))
    )
}

/// The whole declaration of a tool, as TypeScript source.
pub fn render(
    component: &str,
    tool: &str,
    description: &str,
    input_schema: &Value,
    output_schema: Option<&Value>,
) -> String {
    let params = stub::params(input_schema);
    let mut doc: Vec<String> = description
        .trim()
        .lines()
        .map(|l| comment(l.trim_end()))
        .collect();
    if doc.is_empty() {
        doc.push("(no description)".to_owned());
    }
    if let Some(head) = output_schema
        .map(|s| resolve(s, s, 0))
        .and_then(|s| s.get("description"))
        .and_then(Value::as_str)
        .map(one_line)
        .filter(|d| !d.is_empty())
    {
        doc.push(format!("@returns {}", comment(&head)));
    }
    let doc: Vec<String> = doc
        .iter()
        .map(|l| {
            if l.is_empty() {
                "     *".to_owned()
            } else {
                format!("     * {l}")
            }
        })
        .collect();
    let args = if params.is_empty() { "args?" } else { "args" };
    format!(
        "// tools/{component}/{tool}.d.ts\n\
         // In execute_code (javascript, typescript): `await {}({{...}})`.\n\
         declare const tools: {{\n  {}: {{\n    /**\n{}\n     */\n    {}({args}: {}): \
         Promise<{}>;\n  }};\n}};\n",
        access(component, tool),
        property_name(component),
        doc.join("\n"),
        property_name(tool),
        arguments_type(&params, input_schema, 2),
        result_type(output_schema, 2),
    )
}

#[cfg(test)]
mod tests {
    use mcp_tool_sdk::serde_json::json;

    use super::*;

    #[test]
    fn types_follow_the_schema() {
        let t = |s: Value| type_of(&s, &s, 0);
        assert_eq!(t(json!({"type": "string"})), "string");
        assert_eq!(t(json!({"type": ["integer", "null"]})), "number | null");
        assert_eq!(
            t(json!({"enum": ["INFO", "ERROR"]})),
            "\"INFO\" | \"ERROR\""
        );
        assert_eq!(
            t(json!({"type": "array", "items": {"type": ["string", "null"]}})),
            "(string | null)[]"
        );
        assert_eq!(
            t(json!({"type": "object", "additionalProperties": {"type": "integer"}})),
            "Record<string, number>"
        );
        assert_eq!(t(json!({})), "unknown");
        assert_eq!(t(json!({"anyOf": [{"type": "string"}, {}]})), "unknown");
        assert_eq!(
            t(
                json!({"type": "object", "properties": {"a-b": {"type": "boolean"}},
                "required": ["a-b"]})
            ),
            "{\n  \"a-b\": boolean;\n}"
        );
    }

    #[test]
    fn the_signature_is_one_line() {
        let input = json!({"type": "object", "properties": {
            "query": {"type": "string", "description": "Text."},
            "limit": {"type": "integer", "default": 5}}, "required": ["query"]});
        let output = json!({"type": "object", "properties": {"total": {"type": "integer"}},
            "required": ["total"]});
        assert_eq!(
            signature(&input, Some(&output)),
            "(args: { query: string; limit?: number; }) => Promise<{ total: number; }>"
        );
        assert_eq!(
            signature(&json!({}), None),
            "(args: {}) => Promise<unknown>"
        );
    }
}
