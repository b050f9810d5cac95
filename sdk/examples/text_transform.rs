//! Text utilities in one component: `text_transform {text, operation}` and `text_stats {text}`.
//!
//! Build: `cargo build --release --target wasm32-wasip2 -p mcp-tool-sdk --example text_transform`

use mcp_tool_sdk::prelude::*;

/// What to do with the text. The variants are described on the `operation` field: doc comments
/// on the variants would turn the schema's plain `enum` into a `oneOf` of constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Operation {
    Upper,
    Lower,
    Reverse,
    Title,
    WordCount,
    Slug,
}

/// Arguments of `text_transform`.
#[derive(Deserialize, JsonSchema)]
struct TransformArgs {
    /// The text to transform.
    text: String,
    /// The transformation: `upper` or `lower` case, `reverse` the characters, `title` case
    /// (capitalise each word), `word_count` (words separated by whitespace) or `slug` (lower-case
    /// ASCII letters and digits joined by `-`).
    operation: Operation,
}

/// The transformed text; `word_count` gives the count as text.
#[derive(Serialize, JsonSchema)]
struct Transformed {
    /// The result of the operation.
    result: String,
}

/// Arguments of `text_stats`.
#[derive(Deserialize, JsonSchema)]
struct StatsArgs {
    /// The text to measure.
    text: String,
}

/// Counts over the text.
#[derive(Serialize, JsonSchema)]
struct Stats {
    /// Unicode scalar values.
    characters: usize,
    /// Runs of non-whitespace.
    words: usize,
    /// Lines, counting a last line without a newline.
    lines: usize,
    /// Bytes of UTF-8.
    bytes: usize,
}

fn transform(args: TransformArgs, _cx: &Context) -> Result<Transformed, ToolError> {
    let text = args.text;
    let result = match args.operation {
        Operation::Upper => text.to_uppercase(),
        Operation::Lower => text.to_lowercase(),
        Operation::Reverse => text.chars().rev().collect(),
        Operation::Title => title_case(&text),
        Operation::WordCount => text.split_whitespace().count().to_string(),
        Operation::Slug => slug(&text),
    };
    Ok(Transformed { result })
}

fn stats(args: StatsArgs, _cx: &Context) -> Result<Stats, ToolError> {
    let text = args.text;
    Ok(Stats {
        characters: text.chars().count(),
        words: text.split_whitespace().count(),
        lines: text.lines().count(),
        bytes: text.len(),
    })
}

fn title_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at_word_start = true;
    for c in text.chars() {
        if c.is_whitespace() {
            at_word_start = true;
            out.push(c);
        } else if at_word_start {
            at_word_start = false;
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

fn slug(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

fn tools() -> Toolbox {
    Toolbox::new()
        .tool(
            Tool::new(
                "text_transform",
                "Transform text: upper, lower, reverse, title case, word count or URL slug",
                transform,
            )
            .title("Transform text")
            .read_only()
            .idempotent()
            .open_world(false),
        )
        .tool(
            Tool::new(
                "text_stats",
                "Count the characters, words, lines and bytes of a text",
                stats,
            )
            .read_only()
            .idempotent()
            .open_world(false),
        )
}

mcp_tool_sdk::export_tools!(tools);
