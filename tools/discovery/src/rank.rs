//! Relevance of a tool to a search query: plain term matching over the tool's name, component,
//! description and parameters, weighted so a name match beats a passing mention. No index and
//! no state: the caller's tool list is small and comes fresh from the host on every call.

use mcp_tool_sdk::ToolSummary;
use mcp_tool_sdk::serde_json::Value;

/// The query's terms: lower-case words of letters and digits (`search_logs` is two terms).
pub fn terms(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether `text` (lower case) contains `term`, also in the singular (`errors` finds `error`).
fn mentions(text: &str, term: &str) -> bool {
    text.contains(term)
        || (term.len() > 3 && term.ends_with('s') && text.contains(&term[..term.len() - 1]))
}

/// The relevance of `tool` (with its parsed input schema) to the query; 0 means unrelated.
pub fn score(tool: &ToolSummary, input_schema: &Value, query: &str, terms: &[String]) -> u32 {
    let name = tool.name.to_lowercase();
    let component = tool.component.to_lowercase();
    let description = tool.description.to_lowercase();
    let properties = input_schema.get("properties").and_then(Value::as_object);
    let parameter_names: Vec<String> = properties
        .map(|p| p.keys().map(|k| k.to_lowercase()).collect())
        .unwrap_or_default();
    let parameter_text: String = properties
        .map(|p| {
            p.values()
                .filter_map(|v| v.get("description").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        })
        .unwrap_or_default();
    let exact = if name == query.trim().to_lowercase() {
        20
    } else {
        0
    };
    let by_term: u32 = terms
        .iter()
        .map(|term| {
            let in_name = if name.split(['_', '-']).any(|word| word == term) {
                10
            } else if mentions(&name, term) {
                6
            } else {
                0
            };
            let in_component = if mentions(&component, term) { 5 } else { 0 };
            let in_description = if mentions(&description, term) { 3 } else { 0 };
            let in_parameters = if parameter_names.iter().any(|p| mentions(p, term)) {
                2
            } else {
                u32::from(mentions(&parameter_text, term))
            };
            in_name + in_component + in_description + in_parameters
        })
        .sum();
    exact + by_term
}

#[cfg(test)]
mod tests {
    use mcp_tool_sdk::serde_json::json;

    use super::*;

    fn tool(name: &str, component: &str, description: &str) -> ToolSummary {
        ToolSummary {
            name: name.to_owned(),
            component: component.to_owned(),
            description: description.to_owned(),
            input_schema: String::new(),
            output_schema: None,
        }
    }

    #[test]
    fn terms_split_on_anything_but_letters_and_digits() {
        assert_eq!(
            terms(" Search_logs, by-level 2x "),
            ["search", "logs", "by", "level", "2x"]
        );
    }

    #[test]
    fn names_outrank_descriptions_and_plurals_match() {
        let schema = json!({"properties": {"log_level": {"description": "severity filter"}}});
        let search = tool("search_logs", "log_store", "Search the log files");
        let scrub = tool("scrub_all_pii", "privacy", "Redact emails in log lines");
        let q = "search logs";
        let t = terms(q);
        assert!(score(&search, &schema, q, &t) > score(&scrub, &json!({}), q, &t));
        assert!(score(&scrub, &json!({}), "emails", &terms("emails")) > 0);
        assert!(
            score(
                &tool("get_error_summary", "x", ""),
                &json!({}),
                "errors",
                &terms("errors")
            ) > 0
        );
        assert_eq!(score(&scrub, &json!({}), "weather", &terms("weather")), 0);
        let by_parameter = score(
            &tool("a", "b", "c"),
            &schema,
            "severity",
            &terms("severity"),
        );
        assert_eq!(by_parameter, 1);
    }

    #[test]
    fn the_exact_name_wins() {
        let q = "read_file";
        let t = terms(q);
        let exact = score(
            &tool("read_file", "workspace", "Read a file"),
            &json!({}),
            q,
            &t,
        );
        let other = score(
            &tool("read_file_lines", "workspace", "Read a file"),
            &json!({}),
            q,
            &t,
        );
        assert!(exact > other, "{exact} vs {other}");
    }
}
