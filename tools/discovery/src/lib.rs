//! The `discovery` component: progressive tool discovery, so an agent loads the description of
//! only the tools it needs instead of every schema up front.
//!
//! - `search_tools`: ranks the tools by relevance to a query ([`rank`]) at three levels of
//!   detail: names, one-line summaries with the Python and TypeScript call signatures, or
//!   everything (schemas, the Python stub and the TypeScript declaration);
//! - `browse_tools`: the tools as a tree, like the `tools` package code mode imports:
//!   `tools/` lists components, `tools/<component>/` its tools, `tools/<component>/<tool>.py`
//!   the tool's Python stub ([`stub`]) and `tools/<component>/<tool>.d.ts` its TypeScript
//!   declaration ([`ts`]).
//!
//! So `execute_code`'s own description stays the same size whatever the catalog holds: an
//! agent loads the signatures of the tools it needs from here, in the language it writes.
//!
//! Both see exactly what the host's `list-tools` returns for the caller: the tools the
//! caller's roles allow, nothing else. The component needs no capability and keeps no state.

mod rank;
mod stub;
mod ts;
#[cfg(test)]
mod vectors;

use std::collections::BTreeMap;

use mcp_tool_sdk::ToolSummary;
use mcp_tool_sdk::prelude::*;
use mcp_tool_sdk::serde_json::Value;

const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;

/// How much to return about each tool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Detail {
    Name,
    #[default]
    Summary,
    Full,
}

/// Arguments of `search_tools`.
#[derive(Deserialize, JsonSchema)]
struct SearchArgs {
    /// Words describing what you want to do (`search logs for errors`); empty lists every
    /// tool you may call.
    query: String,
    /// `name`: names and components only; `summary` (default): plus a one-line description
    /// and the Python and TypeScript call signatures; `full`: plus the whole description, the
    /// input and output schemas, the Python stub and the TypeScript declaration.
    #[serde(default)]
    detail: Option<Detail>,
    /// Most tools to return (default 10, at most 100).
    #[serde(default)]
    limit: Option<usize>,
}

/// A tool that matched.
#[derive(Serialize, JsonSchema)]
struct ToolMatch {
    name: String,
    /// The component: in code mode, `from tools import <component>`.
    component: String,
    /// Relevance to the query (higher is better; 0 when the query is empty).
    score: u32,
    /// The first line of the description (`summary`) or all of it (`full`).
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// How Python code mode calls it: `tools.<component>.<tool>(*, ...) -> ...`.
    #[serde(skip_serializing_if = "Option::is_none")]
    call: Option<String>,
    /// How JavaScript/TypeScript code mode calls it:
    /// `tools.<component>.<tool>: (args: {...}) => Promise<...>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    ts_call: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_schema: Option<Value>,
    /// The Python stub (`full` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    stub: Option<String>,
    /// The TypeScript declaration (`full` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    declaration: Option<String>,
}

/// The best matches.
#[derive(Serialize, JsonSchema)]
struct SearchResult {
    query: String,
    detail: Detail,
    /// Tools that matched in all (more than returned if `limit` cut the list).
    total_matched: usize,
    tools: Vec<ToolMatch>,
}

/// Arguments of `browse_tools`.
#[derive(Deserialize, JsonSchema)]
struct BrowseArgs {
    /// `tools/` (or empty) for the components, `tools/<component>/` for its tools,
    /// `tools/<component>/<tool>.py` for a tool's Python stub, `tools/<component>/<tool>.d.ts`
    /// for its TypeScript declaration.
    #[serde(default)]
    path: Option<String>,
}

/// What a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum NodeKind {
    Root,
    Component,
    Tool,
}

/// A component or tool inside the browsed directory.
#[derive(Serialize, JsonSchema)]
struct BrowseEntry {
    name: String,
    /// Its path, to browse further.
    path: String,
    kind: NodeKind,
    /// Tool names (component) or the first line of the description (tool).
    summary: String,
}

/// One level of the tree, or a tool's stub.
#[derive(Serialize, JsonSchema)]
struct BrowseResult {
    /// The path browsed, normalised.
    path: String,
    kind: NodeKind,
    /// The components (root) or tools (component) below; empty for a tool.
    entries: Vec<BrowseEntry>,
    /// The tool's Python stub (tool, `.py`).
    #[serde(skip_serializing_if = "Option::is_none")]
    stub: Option<String>,
    /// The tool's TypeScript declaration (tool, `.d.ts`).
    #[serde(skip_serializing_if = "Option::is_none")]
    declaration: Option<String>,
    /// What to do next.
    hint: String,
}

fn first_line(text: &str) -> String {
    text.trim().lines().next().unwrap_or_default().to_owned()
}

fn call_line(tool: &ToolSummary, input: &Value, output: Option<&Value>) -> String {
    let params = stub::params(input);
    format!(
        "tools.{}.{}{}",
        tool.component,
        stub::identifier(&tool.name),
        stub::signature(&params, output)
    )
}

fn search_tools(args: SearchArgs, cx: &Context) -> Result<SearchResult, ToolError> {
    let limit = args.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ToolError::invalid_arguments(format!(
            "`limit` is {limit}; give a number from 1 to {MAX_LIMIT}"
        )));
    }
    let detail = args.detail.unwrap_or_default();
    let terms = rank::terms(&args.query);
    let mut scored: Vec<(u32, ToolSummary, Value)> = cx
        .list_tools()
        .into_iter()
        .map(|tool| {
            let input = stub::parse_schema(&tool.input_schema);
            (rank::score(&tool, &input, &args.query, &terms), tool, input)
        })
        .filter(|(score, _, _)| terms.is_empty() || *score > 0)
        .collect();
    scored.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| a.1.component.cmp(&b.1.component))
            .then_with(|| a.1.name.cmp(&b.1.name))
    });
    let total_matched = scored.len();
    let tools = scored
        .into_iter()
        .take(limit)
        .map(|(score, tool, input)| {
            let output = tool.output_schema.as_deref().map(stub::parse_schema);
            let mut found = ToolMatch {
                name: tool.name.clone(),
                component: tool.component.clone(),
                score,
                description: None,
                call: None,
                ts_call: None,
                input_schema: None,
                output_schema: None,
                stub: None,
                declaration: None,
            };
            if detail != Detail::Name {
                found.call = Some(call_line(&tool, &input, output.as_ref()));
                found.ts_call = Some(format!(
                    "{}: {}",
                    ts::access(&tool.component, &tool.name),
                    ts::signature(&input, output.as_ref())
                ));
                found.description = Some(if detail == Detail::Full {
                    tool.description.clone()
                } else {
                    first_line(&tool.description)
                });
            }
            if detail == Detail::Full {
                let rendered = stub::render(
                    &tool.component,
                    &tool.name,
                    &tool.description,
                    &input,
                    output.as_ref(),
                );
                found.stub = Some(rendered);
                found.declaration = Some(ts::render(
                    &tool.component,
                    &tool.name,
                    &tool.description,
                    &input,
                    output.as_ref(),
                ));
                found.input_schema = Some(input);
                found.output_schema = output;
            }
            found
        })
        .collect();
    Ok(SearchResult {
        query: args.query,
        detail,
        total_matched,
        tools,
    })
}

/// The language a tool's path asks for: `.d.ts` TypeScript, else Python.
fn wants_typescript(path: &str) -> bool {
    path.trim().ends_with(".d.ts") || path.trim().ends_with(".ts")
}

/// The path's parts below `tools/`: `tools/log_store/search_logs.py`,
/// `tools/log_store/search_logs.d.ts` and `log_store.search_logs` all give
/// `["log_store", "search_logs"]`.
fn path_parts(path: &str) -> Vec<String> {
    let path = path.trim();
    let path = [".py", ".d.ts", ".ts"]
        .iter()
        .find_map(|suffix| path.strip_suffix(suffix))
        .unwrap_or(path);
    let mut parts: Vec<String> = path
        .split(['/', '.'])
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    if parts.first().is_some_and(|p| p == "tools") {
        parts.remove(0);
    }
    parts
}

fn browse_tools(args: BrowseArgs, cx: &Context) -> Result<BrowseResult, ToolError> {
    let mut components: BTreeMap<String, Vec<ToolSummary>> = BTreeMap::new();
    for tool in cx.list_tools() {
        components
            .entry(tool.component.clone())
            .or_default()
            .push(tool);
    }
    for tools in components.values_mut() {
        tools.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let requested = args.path.unwrap_or_default();
    let parts = path_parts(&requested);
    let known = || components.keys().cloned().collect::<Vec<_>>().join(", ");
    match parts.as_slice() {
        [] => Ok(BrowseResult {
            path: "tools/".to_owned(),
            kind: NodeKind::Root,
            entries: components
                .iter()
                .map(|(component, tools)| BrowseEntry {
                    name: component.clone(),
                    path: format!("tools/{component}/"),
                    kind: NodeKind::Component,
                    summary: tools
                        .iter()
                        .map(|t| stub::identifier(&t.name))
                        .collect::<Vec<_>>()
                        .join(", "),
                })
                .collect(),
            stub: None,
            declaration: None,
            hint: "Browse `tools/<component>/` for its tools; in execute_code, \
                   `from tools import <component>` (Python) or `tools.<component>` \
                   (JavaScript/TypeScript)."
                .to_owned(),
        }),
        [component, rest @ ..] if rest.len() <= 1 => {
            let tools = components.get(component).ok_or_else(|| {
                ToolError::invalid_arguments(format!(
                    "no component `{component}` among the tools you may call; the components \
                     are: {}",
                    known()
                ))
            })?;
            let Some(wanted) = rest.first() else {
                return Ok(BrowseResult {
                    path: format!("tools/{component}/"),
                    kind: NodeKind::Component,
                    entries: tools
                        .iter()
                        .map(|tool| {
                            let ident = stub::identifier(&tool.name);
                            BrowseEntry {
                                path: format!("tools/{component}/{ident}.py"),
                                name: ident,
                                kind: NodeKind::Tool,
                                summary: first_line(&tool.description),
                            }
                        })
                        .collect(),
                    stub: None,
                    declaration: None,
                    hint: format!(
                        "Browse `tools/{component}/<tool>.py` (Python) or \
                         `tools/{component}/<tool>.d.ts` (TypeScript) for a tool's signature and \
                         documentation."
                    ),
                });
            };
            let tool = tools
                .iter()
                .find(|t| t.name == *wanted || stub::identifier(&t.name) == *wanted)
                .ok_or_else(|| {
                    let names: Vec<String> =
                        tools.iter().map(|t| stub::identifier(&t.name)).collect();
                    ToolError::invalid_arguments(format!(
                        "component `{component}` has no tool `{wanted}` that you may call; its \
                         tools are: {}",
                        names.join(", ")
                    ))
                })?;
            let input = stub::parse_schema(&tool.input_schema);
            let output = tool.output_schema.as_deref().map(stub::parse_schema);
            let ident = stub::identifier(&tool.name);
            let (path, stub, declaration, hint) = if wants_typescript(&requested) {
                let declaration = ts::render(
                    component,
                    &tool.name,
                    &tool.description,
                    &input,
                    output.as_ref(),
                );
                (
                    format!("tools/{component}/{}.d.ts", tool.name),
                    None,
                    Some(declaration),
                    format!(
                        "Call it in execute_code (javascript, typescript) as \
                         `await {}({{...}})`, or directly as the MCP tool `{}`.",
                        ts::access(component, &tool.name),
                        tool.name
                    ),
                )
            } else {
                let stub = stub::render(
                    component,
                    &tool.name,
                    &tool.description,
                    &input,
                    output.as_ref(),
                );
                (
                    format!("tools/{component}/{ident}.py"),
                    Some(stub),
                    None,
                    format!(
                        "Call it in execute_code as `tools.{component}.{ident}(...)` with keyword \
                         arguments, or directly as the MCP tool `{}`.",
                        tool.name
                    ),
                )
            };
            Ok(BrowseResult {
                path,
                kind: NodeKind::Tool,
                entries: Vec::new(),
                stub,
                declaration,
                hint,
            })
        }
        _ => Err(ToolError::invalid_arguments(format!(
            "{requested:?} is not a path in the tool tree; use `tools/`, \
             `tools/<component>/` or `tools/<component>/<tool>.py`"
        ))),
    }
}

fn tools() -> Toolbox {
    Toolbox::new()
        .tool(
            Tool::new(
                "search_tools",
                "Find the tools you may call that fit a task, best matches first; choose how much \
                 to load about each (name, summary with Python and TypeScript signatures, or full \
                 schemas, Python stub and TypeScript declaration)",
                search_tools,
            )
            .read_only()
            .idempotent()
            .open_world(false),
        )
        .tool(
            Tool::new(
                "browse_tools",
                "Browse the tools you may call as a tree: tools/ lists components, \
                 tools/<component>/ their tools, tools/<component>/<tool>.py a tool's Python \
                 signature and documentation, tools/<component>/<tool>.d.ts its TypeScript \
                 declaration",
                browse_tools,
            )
            .read_only()
            .idempotent()
            .open_world(false),
        )
}

mcp_tool_sdk::export_tools!(tools);

#[cfg(test)]
mod tests {
    use mcp_tool_sdk::serde_json::{self, json};
    use mcp_tool_sdk::testing::FakeHost;

    use super::*;

    /// The fake host lists its tools under component `fake`.
    fn cx() -> Context {
        let ok = |_: &str| Ok("{}".to_owned());
        Context::new(
            FakeHost::new()
                .with_tool("search_logs", ok)
                .with_tool("scrub-emails", ok),
        )
    }

    fn call(tool: &str, arguments: Value) -> Result<Value, ToolError> {
        tools()
            .call(tool, &arguments.to_string(), &cx())
            .map(|text| serde_json::from_str(&text).unwrap())
    }

    #[test]
    fn search_ranks_and_shapes_by_detail() {
        let found = call("search_tools", json!({"query": "search logs"})).unwrap();
        assert_eq!(found["total_matched"], 1);
        assert_eq!(found["tools"][0]["name"], "search_logs");
        assert_eq!(found["tools"][0]["call"], "tools.fake.search_logs() -> Any");
        let names = call("search_tools", json!({"query": "", "detail": "name"})).unwrap();
        assert_eq!(names["total_matched"], 2);
        assert!(names["tools"][0].get("description").is_none());
        let full = call("search_tools", json!({"query": "scrub", "detail": "full"})).unwrap();
        let stub = full["tools"][0]["stub"].as_str().unwrap();
        assert!(stub.contains("def scrub_emails() -> Any:"), "{stub}");
        assert_eq!(full["tools"][0]["input_schema"]["type"], "object");
    }

    #[test]
    fn search_gives_typescript_signatures_and_declarations() {
        let found = call("search_tools", json!({"query": "scrub"})).unwrap();
        assert_eq!(
            found["tools"][0]["ts_call"],
            "tools.fake[\"scrub-emails\"]: (args: {}) => Promise<unknown>"
        );
        let full = call("search_tools", json!({"query": "scrub", "detail": "full"})).unwrap();
        let declaration = full["tools"][0]["declaration"].as_str().unwrap();
        assert!(
            declaration.contains("\"scrub-emails\"(args?: {}): Promise<unknown>;"),
            "{declaration}"
        );
        assert!(
            declaration.contains("A fake `scrub-emails`"),
            "{declaration}"
        );
        let names = call("search_tools", json!({"query": "", "detail": "name"})).unwrap();
        assert!(names["tools"][0].get("ts_call").is_none());
    }

    /// Code mode's discovery is progressive: with 1,000 tools in the catalog, a search returns
    /// a page of signatures, not the catalog.
    #[test]
    fn a_thousand_tools_come_back_a_page_at_a_time() {
        let mut host = FakeHost::new();
        for i in 0..1000 {
            host = host.with_tool(&format!("tool_{i:04}"), |_: &str| Ok("{}".to_owned()));
        }
        let cx = Context::new(host);
        let text = tools()
            .call("search_tools", &json!({"query": "tool"}).to_string(), &cx)
            .unwrap();
        let found: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(found["total_matched"], 1000);
        assert_eq!(found["tools"].as_array().unwrap().len(), DEFAULT_LIMIT);
        assert!(text.len() < 4096, "{} bytes", text.len());
    }

    #[test]
    fn browse_walks_root_component_and_tool() {
        let root = call("browse_tools", json!({})).unwrap();
        assert_eq!(root["kind"], "root");
        assert_eq!(root["entries"][0]["path"], "tools/fake/");
        assert_eq!(root["entries"][0]["summary"], "scrub_emails, search_logs");
        let component = call("browse_tools", json!({"path": "tools/fake/"})).unwrap();
        assert_eq!(
            component["entries"][0]["path"],
            "tools/fake/scrub_emails.py"
        );
        for path in [
            "tools/fake/scrub_emails.py",
            "fake/scrub-emails",
            "fake.scrub_emails",
        ] {
            let tool = call("browse_tools", json!({ "path": path })).unwrap();
            assert_eq!(tool["kind"], "tool", "{path}");
            assert!(tool["hint"].as_str().unwrap().contains("`scrub-emails`"));
        }
        let tool = call(
            "browse_tools",
            json!({"path": "tools/fake/scrub-emails.d.ts"}),
        )
        .unwrap();
        assert_eq!(tool["path"], "tools/fake/scrub-emails.d.ts");
        assert!(tool.get("stub").is_none(), "{tool}");
        let declaration = tool["declaration"].as_str().unwrap();
        assert!(
            declaration.starts_with("// tools/fake/scrub-emails.d.ts\n"),
            "{declaration}"
        );
        assert!(
            tool["hint"]
                .as_str()
                .unwrap()
                .contains("tools.fake[\"scrub-emails\"]"),
            "{tool}"
        );
    }

    #[test]
    fn unknown_paths_list_what_exists() {
        let error = call("browse_tools", json!({"path": "tools/nope/"})).unwrap_err();
        assert!(
            error.message().contains("the components are: fake"),
            "{error}"
        );
        let error = call("browse_tools", json!({"path": "fake/nope"})).unwrap_err();
        assert!(
            error.message().contains("scrub_emails, search_logs"),
            "{error}"
        );
        let error = call("browse_tools", json!({"path": "a/b/c"})).unwrap_err();
        assert!(
            error.message().contains("tools/<component>/<tool>.py"),
            "{error}"
        );
        let error = call("search_tools", json!({"query": "x", "limit": 0})).unwrap_err();
        assert!(matches!(error, ToolError::InvalidArguments(_)));
    }
}
