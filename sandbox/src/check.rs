//! `mcp-sandbox tool check`: load one built tool the way the sandbox would, print its manifest,
//! and run each of its tools once on sample input, so an author finds problems before deploying.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mcp_contract::sandbox_api::{CallRequest, CallResponse, ErrorKind};
use mcp_contract::units::{ByteSize, Span};
use serde_json::{Value, json};

use crate::runtime::{EngineSettings, Runtime};
use crate::service::{Sandbox, ServiceSettings};
use crate::toolset::Sources;

/// What to check and under which limits.
pub struct CheckOptions {
    pub wasm: PathBuf,
    /// Arguments to call with (JSON object); synthesised from each tool's schema when absent.
    pub arguments: Option<Value>,
    /// Only this tool of the component.
    pub tool: Option<String>,
    pub timeout: Span,
    pub fuel: u64,
    pub memory: ByteSize,
    /// Cache of compiled components to reuse; a scratch one (removed afterwards) when absent.
    pub cache: Option<PathBuf>,
}

/// Runs the check, writing a report to `out`. Returns whether the component is fit to deploy:
/// it loads, describes itself, and no sample call ends in a trap, a limit or bad output.
pub async fn run(opts: CheckOptions, out: &mut impl Write) -> anyhow::Result<bool> {
    let wasm = std::fs::canonicalize(&opts.wasm)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", opts.wasm.display()))?;
    let scratch = tempdir()?;
    let toolsets = scratch.join("toolsets");
    std::fs::create_dir_all(&toolsets)?;
    let stem = wasm.file_stem().and_then(|s| s.to_str()).unwrap_or("tool");
    let component_name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let manifest = json!({
        "name": "check",
        "defaults": {"limits": {
            "timeout": opts.timeout.to_string(), "fuel": opts.fuel, "memory": opts.memory.to_string(),
            "max_nested_calls": 8, "max_nesting_depth": 2,
        }},
        "components": [{"file": wasm, "name": format!("c_{component_name}"),
                        "capabilities": {"workspace": "read-write"}}],
    });
    std::fs::write(
        toolsets.join("check.yaml"),
        serde_yaml::to_string(&manifest)?,
    )?;
    let settings = ServiceSettings {
        name: "check".into(),
        sources: Sources {
            toolsets,
            modules: PathBuf::from("/"),
        },
        policy: None,
        workspaces: Some(scratch.join("workspaces")),
        max_concurrent: 1,
        max_queue: 0,
        queue_timeout: Duration::from_secs(1),
        grant_key: None,
        rate_limit_store: None,
    };
    let engine = EngineSettings {
        max_instances: 8,
        max_memory: opts.memory.max(ByteSize::mib(64)),
        ..EngineSettings::default()
    };
    let sandbox = Sandbox::new(
        settings,
        Runtime::new(
            &engine,
            Some(opts.cache.clone().unwrap_or_else(|| scratch.join("cache"))),
        )?,
    )?;
    let result = check_loaded(&sandbox, &opts, &wasm, out).await;
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

async fn check_loaded(
    sandbox: &Arc<Sandbox>,
    opts: &CheckOptions,
    wasm: &Path,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    if let Err(e) = sandbox.reload().await {
        writeln!(out, "FAIL  {}: {e}", wasm.display())?;
        return Ok(false);
    }
    let listing: Value = serde_json::from_slice(&sandbox.listing())?;
    let tools = listing["tools"].as_array().cloned().unwrap_or_default();
    writeln!(
        out,
        "ok    {} loads and provides {} tool(s)",
        wasm.display(),
        tools.len()
    )?;
    writeln!(
        out,
        "\nmanifest:\n{}",
        serde_json::to_string_pretty(&tools)?
    )?;
    let mut fit = true;
    let mut ran = 0;
    for tool in &tools {
        let name = tool["name"].as_str().unwrap_or_default();
        if opts.tool.as_deref().is_some_and(|t| t != name) {
            continue;
        }
        ran += 1;
        let args = opts
            .arguments
            .clone()
            .unwrap_or_else(|| sample_arguments(&tool["inputSchema"]));
        let args_text = serde_json::to_string(&args)?;
        let raw = serde_json::value::RawValue::from_string(args_text.clone())?;
        let req = CallRequest {
            tool: name.into(),
            arguments: Some(&raw),
            user: "tool-check".into(),
            roles: vec![],
            request_id: Some("check".into()),
            deadline_ms: None,
            principal: None,
            grant: None,
        };
        let resp = sandbox.call(&req, tracing::Span::none()).await;
        fit &= report(out, name, &args_text, &resp)?;
    }
    if let Some(t) = &opts.tool
        && ran == 0
    {
        writeln!(out, "FAIL  the component has no tool named '{t}'")?;
        return Ok(false);
    }
    Ok(fit)
}

fn report(
    out: &mut impl Write,
    name: &str,
    args: &str,
    resp: &CallResponse,
) -> anyhow::Result<bool> {
    let s = &resp.stats;
    let stats = format!(
        "{:.2} ms, fuel {}, memory peak {}",
        s.duration_us as f64 / 1000.0,
        s.fuel_consumed,
        ByteSize(s.memory_peak)
    );
    writeln!(out, "\ncall  {name} {args}")?;
    match (&resp.result, &resp.error) {
        (Some(v), _) => {
            writeln!(out, "ok    result: {}", truncate(&v.to_string(), 2000))?;
            writeln!(out, "      {stats}")?;
            Ok(true)
        }
        (None, Some(e)) => {
            // A tool may reject synthesised input; that is not a defect of the build. An
            // exception the tool did not handle is: the Python and TypeScript SDKs report it as
            // a failure whose detail is marked `uncaught` (with the traceback or stack).
            let uncaught = e
                .detail
                .as_deref()
                .is_some_and(|d| d["uncaught"] == Value::Bool(true));
            let benign =
                !uncaught && matches!(e.kind, ErrorKind::ToolError | ErrorKind::InvalidArguments);
            let tag = if benign { "note" } else { "FAIL" };
            writeln!(out, "{tag}  {}: {}", e.kind, e.message)?;
            if uncaught {
                let trace = e.detail.as_deref().map_or(&Value::Null, |d| {
                    if d["traceback"].is_string() {
                        &d["traceback"]
                    } else {
                        &d["stack"]
                    }
                });
                writeln!(
                    out,
                    "      an exception the tool did not handle:\n{}",
                    truncate(trace.as_str().unwrap_or_default().trim_end(), 2000)
                )?;
            }
            writeln!(out, "      {stats}")?;
            Ok(benign)
        }
        (None, None) => Ok(false),
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!(
            "{}… ({} bytes)",
            s.chars().take(n).collect::<String>(),
            s.len()
        )
    }
}

/// A small instance of `schema`: required properties only, each with its default, first enum
/// value, or a plain value of its type.
pub fn sample_arguments(schema: &Value) -> Value {
    sample(schema, schema, 0)
}

fn sample(schema: &Value, root: &Value, depth: usize) -> Value {
    if depth > 8 {
        return Value::Null;
    }
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = r
            .strip_prefix("#/")
            .map(|p| p.split('/').fold(root, |v, k| &v[k]))
            .unwrap_or(&Value::Null);
        return sample(target, root, depth + 1);
    }
    if let Some(d) = schema.get("default") {
        return d.clone();
    }
    if let Some(v) = schema.get("const") {
        return v.clone();
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(first) = schema
            .get(key)
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return sample(first, root, depth + 1);
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "null",
    };
    match ty {
        "object" => {
            let mut obj = serde_json::Map::new();
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for name in required {
                let prop = &schema["properties"][name];
                obj.insert(name.to_owned(), sample(prop, root, depth + 1));
            }
            Value::Object(obj)
        }
        "string" => json!("example"),
        "integer" => schema.get("minimum").cloned().unwrap_or(json!(1)),
        "number" => schema.get("minimum").cloned().unwrap_or(json!(1.0)),
        "boolean" => json!(false),
        "array" => json!([]),
        _ => Value::Null,
    }
}

fn tempdir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "mcp-tool-check-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_contract::sandbox_api::{CallError, CallStats};

    fn reported(error: CallError) -> (bool, String) {
        let resp = CallResponse::failure("t", error, CallStats::default());
        let mut out = Vec::new();
        let fit = report(&mut out, "t", "{}", &resp).unwrap();
        (fit, String::from_utf8(out).unwrap())
    }

    #[test]
    fn a_refusal_is_a_note_but_an_exception_the_sdk_marks_uncaught_fails_the_check() {
        let refusal = CallError::new(ErrorKind::ToolError, "no such id");
        let (fit, text) = reported(refusal.clone());
        assert!(
            fit && text.contains("note  tool_error: no such id"),
            "{text}"
        );
        // execute_code's report of a program that raised has a traceback too: still a note.
        let program = CallError {
            detail: Some(Box::new(json!({"traceback": "NameError"}))),
            ..refusal.clone()
        };
        assert!(reported(program).0);
        let uncaught = CallError {
            detail: Some(Box::new(json!({
                "error": "KeyError: 'x'", "uncaught": true,
                "traceback": "Traceback (most recent call last):\n  File \"app.py\", line 3\nKeyError: 'x'\n",
            }))),
            ..refusal
        };
        let (fit, text) = reported(uncaught);
        assert!(!fit, "{text}");
        assert!(
            text.contains("FAIL  tool_error")
                && text.contains("did not handle")
                && text.contains("app.py"),
            "{text}"
        );
    }

    #[test]
    fn samples_fill_required_fields_with_plausible_values() {
        let schema = json!({
            "type": "object",
            "required": ["text", "op", "n", "nested"],
            "properties": {
                "text": {"type": "string"},
                "op": {"enum": ["upper", "lower"]},
                "n": {"type": "integer", "minimum": 3},
                "optional": {"type": "string"},
                "nested": {"$ref": "#/$defs/Inner"}
            },
            "$defs": {"Inner": {"type": "object", "required": ["flag"], "properties": {"flag": {"type": "boolean"}}}}
        });
        assert_eq!(
            sample_arguments(&schema),
            json!({"text": "example", "op": "upper", "n": 3, "nested": {"flag": false}})
        );
    }
}
