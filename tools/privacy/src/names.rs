//! Replacing people's names with stable pseudonyms (`Person_1`, `Person_2`, ...): either the
//! names the caller lists, or, without a list, runs of capitalised words that look like a
//! "First Last" name.
//!
//! The heuristic is deliberately simple and says so: a run of two or three capitalised words
//! (`John Smith`, `Mary-Jane O'Neil`), after dropping leading and trailing words from a stop
//! list (sentence starters, titles, weekdays, months, common log vocabulary). It will miss
//! single names and lower-case names, and may take a place (`New York`) for a person; pass
//! `names` when precision matters.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

/// The text with names replaced, and what was replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anonymized {
    pub text: String,
    /// Occurrences replaced.
    pub replacements: usize,
    /// Distinct people (pseudonyms handed out).
    pub people: usize,
}

/// Capitalised words: `John`, `O'Neil`, `Mary-Jane`.
static CAPITALISED_RUN: LazyLock<Regex> = LazyLock::new(|| {
    let word = r"\p{Lu}\p{Ll}*(?:['-]\p{Lu}?\p{Ll}+)?";
    Regex::new(&format!(r"\b{word}(?:[ \t]+{word})+\b")).expect("the name pattern is valid")
});

/// Capitalised words that are not names (or not the part of a name we replace).
const STOP_WORDS: &[&str] = &[
    "A",
    "An",
    "And",
    "At",
    "But",
    "By",
    "For",
    "From",
    "He",
    "Her",
    "His",
    "I",
    "If",
    "In",
    "It",
    "Its",
    "My",
    "No",
    "Not",
    "Of",
    "On",
    "Or",
    "Our",
    "She",
    "So",
    "That",
    "The",
    "Their",
    "Then",
    "There",
    "These",
    "They",
    "This",
    "Those",
    "To",
    "We",
    "When",
    "Where",
    "While",
    "With",
    "You",
    "Your",
    "Yes",
    "Hello",
    "Hi",
    "Dear",
    "Thanks",
    "Regards",
    "Mr",
    "Mrs",
    "Ms",
    "Dr",
    "Prof",
    "Sir",
    "Madam",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "Today",
    "Yesterday",
    "Tomorrow",
    "Error",
    "Warning",
    "Info",
    "Debug",
    "Fatal",
    "Critical",
    "Failed",
    "Failure",
    "Success",
    "Service",
    "Server",
    "Client",
    "User",
    "Users",
    "Customer",
    "Account",
    "Payment",
    "Order",
    "Request",
    "Response",
    "Connection",
    "Timeout",
    "Database",
    "Cache",
    "Retry",
    "Invalid",
    "Unknown",
    "New",
    "Old",
    "Please",
    "Contact",
    "Call",
    "Email",
    "Phone",
    "Card",
    "Address",
];

/// Replaces each of `names` (whole words, case-insensitive, longest first so `John Smith`
/// wins over `John`) with a pseudonym numbered by first appearance.
pub fn anonymize_listed(text: &str, names: &[String]) -> Anonymized {
    let mut names: Vec<&str> = names
        .iter()
        .map(|name| name.trim())
        .filter(|name| !name.is_empty())
        .collect();
    if names.is_empty() {
        return unchanged(text);
    }
    names.sort_by_key(|name| std::cmp::Reverse(name.len()));
    let alternatives: Vec<String> = names.iter().map(|name| regex::escape(name)).collect();
    let pattern = format!(r"(?i)\b(?:{})\b", alternatives.join("|"));
    let Ok(matcher) = Regex::new(&pattern) else {
        // Only a pathological list (too large to compile) gets here; replace nothing rather
        // than guess.
        return unchanged(text);
    };
    let spans = matcher
        .find_iter(text)
        .map(|m| (m.start(), m.end(), m.as_str().to_lowercase()));
    replace(text, spans)
}

/// Replaces what looks like people's names (see the module docs) with pseudonyms.
pub fn anonymize_detected(text: &str) -> Anonymized {
    let spans = CAPITALISED_RUN.find_iter(text).filter_map(|run| {
        let words: Vec<(usize, &str)> = run
            .as_str()
            .split([' ', '\t'])
            .scan(run.start(), |offset, word| {
                let start = *offset;
                *offset += word.len() + 1;
                Some((start, word))
            })
            .filter(|(_, word)| !word.is_empty())
            .collect();
        let is_stop = |word: &str| STOP_WORDS.contains(&word);
        let first = words.iter().position(|(_, w)| !is_stop(w))?;
        let last = words.iter().rposition(|(_, w)| !is_stop(w))?;
        let name = &words[first..=last];
        // Two or three words make a name; a longer run is more likely a title or a heading.
        if !(2..=3).contains(&name.len()) || name.iter().any(|(_, w)| is_stop(w)) {
            return None;
        }
        let start = name[0].0;
        let end = name[name.len() - 1].0 + name[name.len() - 1].1.len();
        Some((start, end, text[start..end].to_owned()))
    });
    replace(text, spans)
}

/// Replaces each span with the pseudonym of its key, numbering keys by first appearance.
fn replace(text: &str, spans: impl Iterator<Item = (usize, usize, String)>) -> Anonymized {
    let mut pseudonyms: HashMap<String, usize> = HashMap::new();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut replacements = 0;
    for (start, end, key) in spans {
        let next = pseudonyms.len() + 1;
        let number = *pseudonyms.entry(key).or_insert(next);
        out.push_str(&text[copied..start]);
        out.push_str(&format!("Person_{number}"));
        copied = end;
        replacements += 1;
    }
    out.push_str(&text[copied..]);
    Anonymized {
        text: out,
        replacements,
        people: pseudonyms.len(),
    }
}

fn unchanged(text: &str) -> Anonymized {
    Anonymized {
        text: text.to_owned(),
        replacements: 0,
        people: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_names_get_stable_pseudonyms_in_order_of_appearance() {
        let names = vec!["Bob".to_owned(), "alice jones".to_owned(), " ".to_owned()];
        let out = anonymize_listed(
            "Alice Jones paid Bob; later BOB refunded alice jones. Bobby stays.",
            &names,
        );
        assert_eq!(
            out.text,
            "Person_1 paid Person_2; later Person_2 refunded Person_1. Bobby stays."
        );
        assert_eq!((out.replacements, out.people), (4, 2));
    }

    #[test]
    fn longer_listed_names_win_over_their_parts() {
        let names = vec!["John".to_owned(), "John Smith".to_owned()];
        let out = anonymize_listed("John Smith met John.", &names);
        assert_eq!(out.text, "Person_1 met Person_2.");
    }

    #[test]
    fn names_in_regex_syntax_are_taken_literally() {
        let out = anonymize_listed("ask a.b (c) or axb", &["a.b".to_owned()]);
        assert_eq!(out.text, "ask Person_1 (c) or axb");
        assert_eq!(anonymize_listed("text", &[]).replacements, 0);
    }

    #[test]
    fn detected_names_skip_stop_words_and_titles() {
        let out = anonymize_detected(
            "Yesterday John Smith called. Dr Mary-Jane O'Neil replied to John Smith. \
             The Payment Service failed on Monday.",
        );
        assert_eq!(
            out.text,
            "Yesterday Person_1 called. Dr Person_2 replied to Person_1. \
             The Payment Service failed on Monday."
        );
        assert_eq!((out.replacements, out.people), (3, 2));
    }

    #[test]
    fn single_words_and_long_headings_are_not_names() {
        let text = "Alice logged in. Quarterly Revenue Growth Report Summary.";
        assert_eq!(anonymize_detected(text).text, text);
    }
}
