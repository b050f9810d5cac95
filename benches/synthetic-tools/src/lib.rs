//! Synthetic tools for catalog-size benchmarks: `$SYNTH_COUNT` (default 250) tools named
//! `$SYNTH_PREFIX_<n>` (default `synthetic`), each with a description and argument schema of
//! about the size of the real tools' (a few hundred bytes each). Calling one echoes its query.

use mcp_tool_sdk::prelude::*;

/// Arguments of every synthetic tool.
#[derive(Deserialize, JsonSchema)]
#[allow(
    dead_code,
    reason = "only the schema matters; the filters are not applied"
)]
struct LookupArgs {
    /// What to look up: a name, an id or free text (case-insensitive).
    query: String,
    /// Most records to return, newest first (default 20, at most 1000).
    #[serde(default)]
    limit: Option<u32>,
    /// Only records of this category, e.g. `billing`, `auth` or `network`.
    #[serde(default)]
    category: Option<String>,
    /// Only records newer than this many hours (fractions allowed).
    #[serde(default)]
    hours: Option<f64>,
}

/// What a synthetic tool answers.
#[derive(Serialize, JsonSchema)]
struct LookupResult {
    /// The tool that answered.
    tool: String,
    /// The query, unchanged.
    query: String,
}

fn tools() -> Toolbox {
    let prefix = std::env::var("SYNTH_PREFIX").unwrap_or_else(|_| "synthetic".into());
    let count: usize = std::env::var("SYNTH_COUNT")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(250);
    (0..count).fold(Toolbox::new(), |toolbox, n| {
        let name = format!("{prefix}_{n:04}");
        let own = name.clone();
        toolbox.tool(
            Tool::new(
                name,
                format!(
                    "Look up records in inventory {n} of {prefix}: returns the newest records \
                     matching the query, optionally of one category and time window, with the \
                     total number of matches (synthetic tool for catalog benchmarks)"
                ),
                move |args: LookupArgs, _cx: &Context| {
                    Ok::<_, ToolError>(LookupResult {
                        tool: own.clone(),
                        query: args.query,
                    })
                },
            )
            .read_only()
            .idempotent()
            .open_world(false),
        )
    })
}

mcp_tool_sdk::export_tools!(tools);
