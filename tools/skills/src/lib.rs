//! The `skills` component: reusable Python snippets an agent saves once and runs by name.
//!
//! - `save_skill`, `delete_skill`, `list_skills`, `search_skills`, `get_skill`: the catalogs
//!   ([`catalog`]): a personal one per user in the workspace (`/workspace/.skills/`, counted in
//!   the workspace's quota) and a shared one (`/shared-skills/`) that only callers with a
//!   writer role may change. The host enforces that: the tool set manifest lists the writer
//!   roles on the mount (`write_roles`), and callers without one get it read-only. This
//!   component checks the same roles first (`MCP_SHARED_SKILLS_WRITE_ROLES`, comma-separated,
//!   default `mcp-admin`) only to answer with a clearer message;
//! - `run_skill`: binds the arguments to the skill's declared parameters ([`params`]) and runs
//!   the code through the host's `execute_code` tool, as the same caller. A skill therefore
//!   runs in the same sandbox, under `execute_code`'s limits and with the caller's own rights,
//!   never more, whoever wrote it; this component never executes code itself.

mod catalog;
mod params;

use std::path::Path;

use mcp_tool_sdk::prelude::*;
use mcp_tool_sdk::serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use catalog::{Catalogs, Scope, Skill};
use params::Parameter;

const WORKSPACE: &str = "/workspace";
const SHARED: &str = "/shared-skills";
/// The roles that may write to the shared catalog, unless `MCP_SHARED_SKILLS_WRITE_ROLES` says
/// otherwise (it should name the roles the manifest's `write_roles` names).
const DEFAULT_WRITE_ROLES: &str = "mcp-admin";
const WRITE_ROLES_ENV: &str = "MCP_SHARED_SKILLS_WRITE_ROLES";
/// The tool that runs a skill's code.
const EXECUTE_CODE: &str = "execute_code";
const MAX_CODE_BYTES: usize = 256 * 1024;
const MAX_DESCRIPTION_CHARS: usize = 4000;
const DEFAULT_SEARCH_LIMIT: usize = 10;

/// Arguments of `save_skill`.
#[derive(Deserialize, JsonSchema)]
struct SaveArgs {
    /// A lower-case identifier (`error_digest`): 1-64 of a-z 0-9 _, starting with a letter.
    name: String,
    /// What the skill does and when to use it (searched by search_skills).
    description: String,
    /// Python source. It reads its arguments from the dict `args` (`args["service"]`) and
    /// reports by printing or however execute_code returns results.
    code: String,
    /// The parameters it takes: a list of names, a list of `{name, type, description,
    /// default, required}` objects, a JSON Schema object, or a map of name to spec.
    #[serde(default)]
    parameters: Value,
    /// Save to the shared catalog for every user (needs the role mcp-admin) instead of your own.
    #[serde(default)]
    shared: bool,
}

/// Arguments of `delete_skill`.
#[derive(Deserialize, JsonSchema)]
struct DeleteArgs {
    /// The skill's name.
    name: String,
    /// Delete it from the shared catalog (needs the role mcp-admin) instead of your own.
    #[serde(default)]
    shared: bool,
}

/// What `delete_skill` removed.
#[derive(Serialize, JsonSchema)]
struct DeletedSkill {
    name: String,
    scope: Scope,
}

/// A skill's name.
#[derive(Deserialize, JsonSchema)]
struct NameArgs {
    /// The skill's name.
    name: String,
}

/// Arguments of `search_skills`.
#[derive(Deserialize, JsonSchema)]
struct SearchArgs {
    /// Words to look for in skill names, descriptions, parameter names and code.
    query: String,
    /// Most skills to return (default 10).
    #[serde(default)]
    limit: Option<usize>,
}

/// Arguments of `run_skill`.
#[derive(Deserialize, JsonSchema)]
struct RunArgs {
    /// The skill's name (your own skill of that name first, then the shared one).
    name: String,
    /// Arguments for the skill's parameters; the code sees them as the dict `args`.
    #[serde(default)]
    arguments: Map<String, Value>,
}

/// A skill without its code.
#[derive(Serialize, JsonSchema)]
struct SkillSummary {
    name: String,
    description: String,
    scope: Scope,
    /// Parameter names; optional ones end in `?`.
    parameters: Vec<String>,
    author: String,
    updated_at: String,
    /// Relevance to the query (search_skills only).
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<u32>,
}

impl SkillSummary {
    fn new(scope: Scope, skill: &Skill, score: Option<u32>) -> Self {
        Self {
            name: skill.name.clone(),
            description: skill.description.clone(),
            scope,
            parameters: skill
                .parameters
                .iter()
                .map(|p| {
                    if p.required {
                        p.name.clone()
                    } else {
                        format!("{}?", p.name)
                    }
                })
                .collect(),
            author: skill.author.clone(),
            updated_at: skill.updated_at.clone(),
            score,
        }
    }
}

/// A list of skills.
#[derive(Serialize, JsonSchema)]
struct SkillList {
    skills: Vec<SkillSummary>,
}

/// A skill in full.
#[derive(Serialize, JsonSchema)]
struct SkillDetail {
    scope: Scope,
    #[serde(flatten)]
    skill: Skill,
}

/// What `save_skill` stored.
#[derive(Serialize, JsonSchema)]
struct Saved {
    name: String,
    scope: Scope,
    /// The parameters, normalised.
    parameters: Vec<Parameter>,
    created_at: String,
    updated_at: String,
}

/// What a run returned.
#[derive(Serialize, JsonSchema)]
struct RunResult {
    name: String,
    scope: Scope,
    /// The arguments the code saw as `args`, defaults filled in.
    arguments: Map<String, Value>,
    /// The result of execute_code, as it returned it.
    result: Value,
}

fn catalogs() -> Result<Catalogs, ToolError> {
    if !Path::new(WORKSPACE).is_dir() {
        return Err(ToolError::failed(format!(
            "no workspace is mounted at {WORKSPACE}; the tool set manifest must grant this \
             component `capabilities: {{ workspace: read-write }}`"
        )));
    }
    let limits = workspace_quota::Limits::from_env().map_err(ToolError::failed)?;
    Ok(Catalogs {
        personal: Path::new(WORKSPACE).join(".skills"),
        quota: workspace_quota::Quota::new(WORKSPACE, limits),
        shared: Some(Path::new(SHARED).to_owned()).filter(|dir| dir.is_dir()),
    })
}

/// The scope a write goes to: the shared catalog only for a caller with a writer role.
fn write_scope(shared: bool, cx: &Context, doing: &str) -> Result<Scope, ToolError> {
    if !shared {
        return Ok(Scope::Personal);
    }
    let caller = cx.caller();
    let configured = std::env::var(WRITE_ROLES_ENV).unwrap_or_else(|_| DEFAULT_WRITE_ROLES.into());
    let writers: Vec<&str> = configured
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .collect();
    if !writers.iter().any(|role| caller.has_role(role)) {
        return Err(ToolError::failed(format!(
            "only callers with the role {} may {doing} shared skills (you have: [{}]); use your \
             own catalog (without `shared`) instead",
            writers.join(" or "),
            caller.roles.join(", ")
        )));
    }
    Ok(Scope::Shared)
}

fn now() -> String {
    let at = OffsetDateTime::now_utc();
    let at = at.replace_nanosecond(0).unwrap_or(at);
    at.format(&Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

fn invalid(message: String) -> ToolError {
    ToolError::invalid_arguments(message)
}

fn save_skill(args: SaveArgs, cx: &Context) -> Result<Saved, ToolError> {
    catalog::check_name(&args.name).map_err(invalid)?;
    let description = args.description.trim();
    if description.is_empty() || description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(invalid(format!(
            "`description` must say what the skill does in 1-{MAX_DESCRIPTION_CHARS} characters"
        )));
    }
    if args.code.trim().is_empty() || args.code.len() > MAX_CODE_BYTES {
        return Err(invalid(format!(
            "`code` must be Python source of 1 to {MAX_CODE_BYTES} bytes"
        )));
    }
    let parameters = params::normalize(&args.parameters)
        .map_err(|e| invalid(format!("`parameters` cannot be used: {e}")))?;
    let scope = write_scope(args.shared, cx, "save")?;
    let caller = cx.caller();
    let stamp = now();
    let skill = Skill {
        name: args.name,
        description: description.to_owned(),
        code: args.code,
        parameters,
        author: caller.user,
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    let saved = catalogs()?.save(scope, skill).map_err(ToolError::failed)?;
    Ok(Saved {
        name: saved.name,
        scope,
        parameters: saved.parameters,
        created_at: saved.created_at,
        updated_at: saved.updated_at,
    })
}

fn delete_skill(args: DeleteArgs, cx: &Context) -> Result<DeletedSkill, ToolError> {
    catalog::check_name(&args.name).map_err(invalid)?;
    let scope = write_scope(args.shared, cx, "delete")?;
    catalogs()?
        .delete(scope, &args.name)
        .map_err(ToolError::failed)?;
    Ok(DeletedSkill {
        name: args.name,
        scope,
    })
}

fn list_skills(_: NoArgs, _cx: &Context) -> Result<SkillList, ToolError> {
    let all = catalogs()?.list().map_err(ToolError::failed)?;
    Ok(SkillList {
        skills: all
            .iter()
            .map(|(scope, skill)| SkillSummary::new(*scope, skill, None))
            .collect(),
    })
}

/// Relevance of a skill to the query's terms: name matches weigh most, then the
/// description, parameter names and code.
fn score(skill: &Skill, terms: &[String]) -> u32 {
    let description = skill.description.to_lowercase();
    let code = skill.code.to_lowercase();
    terms
        .iter()
        .map(|term| {
            let name = if skill.name == *term {
                10
            } else if skill.name.contains(term.as_str()) {
                6
            } else {
                0
            };
            let described = if description.contains(term.as_str()) {
                3
            } else {
                0
            };
            let parameter = skill
                .parameters
                .iter()
                .any(|p| p.name.to_lowercase().contains(term.as_str()));
            name + described
                + if parameter { 2 } else { 0 }
                + u32::from(code.contains(term.as_str()))
        })
        .sum()
}

fn search_skills(args: SearchArgs, _cx: &Context) -> Result<SkillList, ToolError> {
    let terms: Vec<String> = args
        .query
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect();
    if terms.is_empty() {
        return Err(invalid(
            "`query` has no words to search for; use list_skills to see every skill".to_owned(),
        ));
    }
    let limit = args
        .limit
        .unwrap_or(DEFAULT_SEARCH_LIMIT)
        .clamp(1, catalog::MAX_SKILLS);
    let mut found: Vec<(u32, Scope, Skill)> = catalogs()?
        .list()
        .map_err(ToolError::failed)?
        .into_iter()
        .map(|(scope, skill)| (score(&skill, &terms), scope, skill))
        .filter(|(score, _, _)| *score > 0)
        .collect();
    found.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.name.cmp(&b.2.name))
    });
    Ok(SkillList {
        skills: found
            .iter()
            .take(limit)
            .map(|(score, scope, skill)| SkillSummary::new(*scope, skill, Some(*score)))
            .collect(),
    })
}

fn find(name: &str) -> Result<(Scope, Skill), ToolError> {
    catalog::check_name(name).map_err(invalid)?;
    catalogs()?
        .get(name)
        .map_err(ToolError::failed)?
        .ok_or_else(|| {
            invalid(format!(
                "no skill is named `{name}`; list_skills or search_skills show the available ones"
            ))
        })
}

fn get_skill(args: NameArgs, _cx: &Context) -> Result<SkillDetail, ToolError> {
    let (scope, skill) = find(&args.name)?;
    Ok(SkillDetail { scope, skill })
}

fn run_skill(args: RunArgs, cx: &Context) -> Result<RunResult, ToolError> {
    let (scope, skill) = find(&args.name)?;
    let arguments = params::bind(&skill.parameters, args.arguments).map_err(invalid)?;
    let program = params::program(&skill.code, &arguments);
    let request = json!({ "language": "python", "code": program });
    let name = &skill.name;
    let result: Value = cx
        .call_tool(EXECUTE_CODE, &request)
        .map_err(|error| match error {
            // The host answers a tool the caller may not use like one that does not exist.
            CallError::NotFound(_) => ToolError::failed(format!(
                "skills run with your own rights, and `{EXECUTE_CODE}` is not among the tools \
                 you may call (your roles do not grant it, or this sandbox does not offer it: \
                 enable the `code` tool set)"
            )),
            CallError::Forbidden(message) => ToolError::failed(format!(
                "skills run with your own rights, and you may not call `{EXECUTE_CODE}`: {message}"
            )),
            CallError::Failed(message) => {
                ToolError::failed(format!("skill `{name}` failed: {message}"))
            }
            CallError::Aborted { kind, message } => {
                ToolError::failed(format!("skill `{name}` was stopped ({kind}): {message}"))
            }
            other => ToolError::failed(format!("skill `{name}` could not run: {other}")),
        })?;
    Ok(RunResult {
        name: skill.name,
        scope,
        arguments,
        result,
    })
}

fn tools() -> Toolbox {
    let local = |tool: Tool| tool.open_world(false);
    Toolbox::new()
        .tool(local(
            Tool::new(
                "save_skill",
                "Save a reusable Python skill (code that reads its arguments from `args`) under a \
                 name in your own catalog, or with shared=true in the catalog every user sees \
                 (role mcp-admin only)",
                save_skill,
            )
            .destructive(true)
            .idempotent(),
        ))
        .tool(local(
            Tool::new(
                "delete_skill",
                "Delete one of your skills (or, with shared=true and the role mcp-admin, a shared \
                 one), to make room in your workspace or retire it",
                delete_skill,
            )
            .destructive(true)
            .idempotent(),
        ))
        .tool(local(
            Tool::new(
                "list_skills",
                "List your skills and the shared ones: name, description, parameters",
                list_skills,
            )
            .read_only()
            .idempotent(),
        ))
        .tool(local(
            Tool::new(
                "search_skills",
                "Find skills by words in their name, description, parameters or code, best \
                 matches first",
                search_skills,
            )
            .read_only()
            .idempotent(),
        ))
        .tool(local(
            Tool::new(
                "get_skill",
                "Get a skill in full, code and parameters included",
                get_skill,
            )
            .read_only()
            .idempotent(),
        ))
        .tool(local(Tool::new(
            "run_skill",
            "Run a saved skill with arguments: its Python code runs through execute_code, in the \
             sandbox, with your own rights",
            run_skill,
        )))
}

mcp_tool_sdk::export_tools!(tools);

#[cfg(test)]
mod tests {
    use mcp_tool_sdk::testing::FakeHost;

    use super::*;

    fn skill(name: &str, description: &str, parameters: &[&str]) -> Skill {
        Skill {
            name: name.to_owned(),
            description: description.to_owned(),
            code: "print(args['service'])".to_owned(),
            parameters: parameters
                .iter()
                .map(|p| Parameter {
                    name: (*p).to_owned(),
                    kind: None,
                    description: None,
                    required: true,
                    default: None,
                })
                .collect(),
            author: "alice".to_owned(),
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn the_toolbox_describes_itself() {
        assert_eq!(tools().describe().unwrap().len(), 6);
    }

    #[test]
    fn scores_favour_names_then_descriptions() {
        let terms = vec!["error".to_owned(), "digest".to_owned()];
        let by_name = skill("error_digest", "summarise logs", &[]);
        let by_description = skill("summary", "an error digest of the logs", &[]);
        let by_parameter = skill("other", "nothing", &["error_kind"]);
        assert!(score(&by_name, &terms) > score(&by_description, &terms));
        assert!(score(&by_description, &terms) > score(&by_parameter, &terms));
        assert_eq!(score(&skill("x", "y", &[]), &terms), 0);
    }

    #[test]
    fn shared_saves_need_the_admin_role() {
        let cx = Context::new(FakeHost::new());
        let error = tools()
            .call(
                "save_skill",
                r#"{"name":"s","description":"d","code":"print(1)","shared":true}"#,
                &cx,
            )
            .unwrap_err();
        assert!(error.message().contains("role mcp-admin"), "{error}");
    }

    #[test]
    fn bad_skill_definitions_are_refused_before_anything_is_written() {
        let cx = Context::new(FakeHost::new());
        for (arguments, needle) in [
            (
                r#"{"name":"Bad","description":"d","code":"x"}"#,
                "not valid",
            ),
            (
                r#"{"name":"ok","description":" ","code":"x"}"#,
                "description",
            ),
            (r#"{"name":"ok","description":"d","code":""}"#, "`code`"),
            (
                r#"{"name":"ok","description":"d","code":"x","parameters":5}"#,
                "parameters",
            ),
        ] {
            let error = tools().call("save_skill", arguments, &cx).unwrap_err();
            assert!(matches!(error, ToolError::InvalidArguments(_)), "{error}");
            assert!(error.message().contains(needle), "{arguments}: {error}");
        }
    }
}
