//! Python stubs for tools: the `def` line and docstring an agent in code mode sees for
//! `tools.<component>.<tool>`, rendered from the tool's JSON schemas.
//!
//! The rendering follows the `tools` module of the `execute_code` component
//! (`code/python/codemode/schema_doc.py`) so that what an agent browses is what it imports:
//! keyword-only arguments, required ones first, each in the order of the schema's `properties`
//! (as the host sends them; sorted by name if serde_json is built without `preserve_order`);
//! names made into Python identifiers the same way (`max-results` -> `max_results`, keywords
//! get a trailing `_`); the same type labels and annotations (`str | None`, `list[int]`,
//! `Literal['a', 'b']`); an optional argument defaults to its schema `default`, else `None`.

use mcp_tool_sdk::serde_json::{Map, Value};

/// Python's keywords (and soft keywords that cannot be argument names).
const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];
/// `$ref` chains longer than this are left unresolved.
const MAX_REF_DEPTH: usize = 8;

/// A Python identifier for a tool or argument name (`max-results` -> `max_results`).
pub fn identifier(name: &str) -> String {
    let mut ident: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if ident.is_empty() {
        ident.push('_');
    }
    if ident.starts_with(|c: char| c.is_ascii_digit()) {
        ident.insert(0, '_');
    }
    if KEYWORDS.contains(&ident.as_str()) {
        ident.push('_');
    }
    ident
}

/// One argument of a tool, as Python sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub ident: String,
    pub required: bool,
    /// Its type in words (`string or null, optional, default 24`).
    pub label: String,
    pub description: String,
    pub annotation: String,
    /// Python source of the default (`None`, `24`), for optional arguments.
    pub default: Option<String>,
}

/// `schema` with a local `$ref` followed.
pub(crate) fn resolve<'a>(schema: &'a Value, root: &'a Value, depth: usize) -> &'a Value {
    let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
        return schema;
    };
    let Some(pointer) = reference.strip_prefix('#') else {
        return schema;
    };
    match root.pointer(pointer) {
        Some(target) if depth < MAX_REF_DEPTH => resolve(target, root, depth + 1),
        _ => schema,
    }
}

pub(crate) fn variants(schema: &Value) -> Option<&Vec<Value>> {
    schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
}

/// The type a schema describes, in words: `string`, `array of integer`, `one of "a", "b"`.
pub fn type_label(schema: &Value, root: &Value) -> String {
    let s = resolve(schema, root, 0);
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        let listed: Vec<String> = values.iter().map(Value::to_string).collect();
        return format!("one of {}", listed.join(", "));
    }
    if let Some(constant) = s.get("const") {
        return constant.to_string();
    }
    if let Some(variants) = variants(s) {
        let labels: Vec<String> = variants.iter().map(|v| type_label(v, root)).collect();
        return labels.join(" or ");
    }
    match s.get("type") {
        Some(Value::Array(types)) => types
            .iter()
            .map(|t| t.as_str().map_or_else(|| t.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(" or "),
        Some(Value::String(t)) if t == "array" && s.get("items").is_some_and(Value::is_object) => {
            format!("array of {}", type_label(&s["items"], root))
        }
        Some(Value::String(t)) => t.clone(),
        _ => "any".to_owned(),
    }
}

fn python_type(json_type: &str) -> &'static str {
    match json_type {
        "string" => "str",
        "integer" => "int",
        "number" => "float",
        "boolean" => "bool",
        "array" => "list",
        "object" => "dict",
        "null" => "None",
        _ => "Any",
    }
}

/// A Python annotation for a schema: `str`, `Literal['a', 'b']`, `int | None`, `list[str]`.
pub fn annotation(schema: &Value, root: &Value) -> String {
    let s = resolve(schema, root, 0);
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        let simple = values
            .iter()
            .all(|v| v.is_string() || v.is_i64() || v.is_u64() || v.is_boolean());
        if !values.is_empty() && simple {
            let listed: Vec<String> = values.iter().map(python_literal).collect();
            return format!("Literal[{}]", listed.join(", "));
        }
    }
    if let Some(variants) = variants(s) {
        return union(variants.iter().map(|v| annotation(v, root)).collect());
    }
    match s.get("type") {
        Some(Value::Array(types)) => union(
            types
                .iter()
                .map(|t| python_type(t.as_str().unwrap_or_default()).to_owned())
                .collect(),
        ),
        Some(Value::String(t)) if t == "array" && s.get("items").is_some_and(Value::is_object) => {
            format!("list[{}]", annotation(&s["items"], root))
        }
        Some(Value::String(t)) => python_type(t).to_owned(),
        _ => "Any".to_owned(),
    }
}

fn union(mut types: Vec<String>) -> String {
    let mut seen = Vec::new();
    types.retain(|t| {
        let new = !seen.contains(t);
        seen.push(t.clone());
        new
    });
    types.join(" | ")
}

/// A JSON value as Python source (`None`, `True`, `'text'`, `[1, 2]`).
pub fn python_literal(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let escaped = s
                .replace('\\', "\\\\")
                .replace('\'', "\\'")
                .replace('\n', "\\n");
            format!("'{escaped}'")
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(python_literal).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("'{k}': {}", python_literal(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The arguments of a tool: required ones first, each in schema order.
pub fn params(input_schema: &Value) -> Vec<Param> {
    let Some(properties) = input_schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    let required: Vec<&str> = input_schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out: Vec<Param> = properties
        .iter()
        .map(|(name, prop)| {
            let prop = resolve(prop, input_schema, 0);
            let is_required = required.contains(&name.as_str());
            let mut label = type_label(prop, input_schema);
            let default = (!is_required).then(|| {
                let default = prop.get("default").filter(|d| !d.is_null());
                label.push_str(", optional");
                if let Some(default) = default {
                    label.push_str(&format!(", default {default}"));
                }
                default.map_or_else(|| "None".to_owned(), python_literal)
            });
            Param {
                name: name.clone(),
                ident: identifier(name),
                required: is_required,
                label,
                description: one_line(
                    prop.get("description")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                ),
                annotation: annotation(prop, input_schema),
                default,
            }
        })
        .collect();
    out.sort_by_key(|p| !p.required);
    out
}

/// `(*, service: str | None = None) -> dict`: the keyword-only signature.
pub fn signature(params: &[Param], output_schema: Option<&Value>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    let rendered: Vec<String> = params
        .iter()
        .filter(|p| {
            let new = !seen.contains(&p.ident.as_str());
            seen.push(&p.ident);
            new
        })
        .map(|p| match &p.default {
            Some(default) => format!("{}: {} = {default}", p.ident, p.annotation),
            None => format!("{}: {}", p.ident, p.annotation),
        })
        .collect();
    let returns = output_schema.map_or_else(|| "Any".to_owned(), |s| annotation(s, s));
    if rendered.is_empty() {
        format!("() -> {returns}")
    } else {
        format!("(*, {}) -> {returns}", rendered.join(", "))
    }
}

/// What a tool returns, in words (one line per field of an object result).
fn returns_text(output_schema: Option<&Value>) -> String {
    let Some(schema) = output_schema else {
        return "Returns: the tool's JSON result.".to_owned();
    };
    let s = resolve(schema, schema, 0);
    let head = one_line(s.get("description").and_then(Value::as_str).unwrap_or(""));
    let properties = s
        .get("properties")
        .and_then(Value::as_object)
        .filter(|_| s.get("type").and_then(Value::as_str) == Some("object"));
    let Some(properties) = properties else {
        let label = type_label(s, schema);
        return if head.is_empty() {
            format!("Returns: {label}")
        } else {
            format!("Returns: {label}. {head}")
        };
    };
    let mut lines = vec![if head.is_empty() {
        "Returns: a dict".to_owned()
    } else {
        format!("Returns: a dict. {head}")
    }];
    for (name, prop) in properties {
        let prop = resolve(prop, schema, 0);
        let description = one_line(
            prop.get("description")
                .and_then(Value::as_str)
                .unwrap_or(""),
        );
        let label = type_label(prop, schema);
        lines.push(if description.is_empty() {
            format!("  {name} ({label})")
        } else {
            format!("  {name} ({label}): {description}")
        });
    }
    lines.join("\n")
}

/// The body of the docstring: description, arguments, result (as `tools.help()` shows it,
/// without its first line, the call signature, which the stub's `def` line already gives).
pub fn docstring(description: &str, params: &[Param], output_schema: Option<&Value>) -> String {
    let mut lines: Vec<String> = description.trim().lines().map(str::to_owned).collect();
    if lines.is_empty() {
        lines.push("(no description)".to_owned());
    }
    lines.push(String::new());
    if params.is_empty() {
        lines.push("Arguments: none.".to_owned());
    } else {
        lines.push("Arguments (keywords only):".to_owned());
        for p in params {
            let name = if p.ident == p.name {
                p.ident.clone()
            } else {
                format!("{} (sent as '{}')", p.ident, p.name)
            };
            lines.push(if p.description.is_empty() {
                format!("  {name} ({})", p.label)
            } else {
                format!("  {name} ({}): {}", p.label, p.description)
            });
        }
    }
    lines.push(returns_text(output_schema));
    lines.join("\n")
}

/// The whole stub of a tool, as Python source.
pub fn render(
    component: &str,
    tool: &str,
    description: &str,
    input_schema: &Value,
    output_schema: Option<&Value>,
) -> String {
    let ident = identifier(tool);
    let params = params(input_schema);
    let doc = docstring(description, &params, output_schema).replace("\"\"\"", "\\\"\\\"\\\"");
    let body: Vec<String> = doc
        .lines()
        .map(|line| {
            if line.is_empty() {
                String::new()
            } else {
                format!("    {line}")
            }
        })
        .collect();
    format!(
        "# tools/{component}/{ident}.py\n\
         # In execute_code: `from tools import {component}` then `{component}.{ident}(...)`.\n\
         def {ident}{}:\n    \"\"\"\n{}\n    \"\"\"\n",
        signature(&params, output_schema),
        body.join("\n")
    )
}

/// The object schema of `text` (JSON text), or an empty object schema.
pub fn parse_schema(text: &str) -> Value {
    mcp_tool_sdk::serde_json::from_str::<Value>(text)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| Value::Object(Map::new()))
}

#[cfg(test)]
mod tests {
    use mcp_tool_sdk::serde_json::json;

    use super::*;

    /// Properties in sorted order, so the expected rendering holds whether or not serde_json
    /// preserves the order of object keys.
    fn search_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "class": {"$ref": "#/$defs/Kind"},
                "level": {"enum": ["INFO", "ERROR"]},
                "limit": {"type": ["integer", "null"], "default": 20},
                "max-results": {"type": "array", "items": {"type": "integer"}},
                "query": {"type": "string", "description": "Text to find."},
                "service": {"type": ["string", "null"], "description": "Only this\n service."}
            },
            "required": ["query"],
            "$defs": {"Kind": {"type": "boolean"}}
        })
    }

    #[test]
    fn identifiers_follow_the_python_module() {
        assert_eq!(identifier("max-results"), "max_results");
        assert_eq!(identifier("2fa"), "_2fa");
        assert_eq!(identifier("class"), "class_");
        assert_eq!(identifier(""), "_");
    }

    #[test]
    fn params_put_required_first_with_labels_and_defaults() {
        let params = params(&search_schema());
        let first = &params[0];
        assert_eq!((first.ident.as_str(), first.required), ("query", true));
        let by = |name: &str| params.iter().find(|p| p.name == name).unwrap().clone();
        assert_eq!(by("service").label, "string or null, optional");
        assert_eq!(by("service").annotation, "str | None");
        assert_eq!(by("service").description, "Only this service.");
        assert_eq!(by("limit").label, "integer or null, optional, default 20");
        assert_eq!(by("limit").default.as_deref(), Some("20"));
        assert_eq!(by("level").annotation, "Literal['INFO', 'ERROR']");
        assert_eq!(by("level").label, "one of \"INFO\", \"ERROR\", optional");
        assert_eq!(by("max-results").annotation, "list[int]");
        assert_eq!(by("class").annotation, "bool");
        assert_eq!(by("class").ident, "class_");
    }

    #[test]
    fn the_stub_is_a_keyword_only_def_with_a_docstring() {
        let output = json!({"type": "object", "description": "Matches.",
            "properties": {"total": {"type": "integer", "description": "How many."}}});
        let stub = render(
            "log_store",
            "search_logs",
            "Search logs.",
            &search_schema(),
            Some(&output),
        );
        // Required arguments first, then the optional ones, each in schema order.
        let expected = "\
# tools/log_store/search_logs.py
# In execute_code: `from tools import log_store` then `log_store.search_logs(...)`.
def search_logs(*, query: str, class_: bool = None, level: Literal['INFO', 'ERROR'] = None, \
limit: int | None = 20, max_results: list[int] = None, service: str | None = None) -> dict:
    \"\"\"
    Search logs.

    Arguments (keywords only):
      query (string): Text to find.
      class_ (sent as 'class') (boolean, optional)
      level (one of \"INFO\", \"ERROR\", optional)
      limit (integer or null, optional, default 20)
      max_results (sent as 'max-results') (array of integer, optional)
      service (string or null, optional): Only this service.
    Returns: a dict. Matches.
      total (integer): How many.
    \"\"\"
";
        assert_eq!(stub, expected);
    }

    #[test]
    fn tools_without_arguments_or_output_schema_render_too() {
        let stub = render("x", "ping", "", &json!({"type": "object"}), None);
        assert!(stub.contains("def ping() -> Any:"), "{stub}");
        assert!(stub.contains("(no description)") && stub.contains("Arguments: none."));
        assert!(stub.contains("Returns: the tool's JSON result."));
    }

    #[test]
    fn python_literals_escape_quotes() {
        assert_eq!(python_literal(&json!("it's")), "'it\\'s'");
        assert_eq!(
            python_literal(&json!([true, null, 1.5])),
            "[True, None, 1.5]"
        );
    }
}
