//! Quoting values taken from a presented credential (a token's `alg` or `typ`) in error
//! messages that go back to the client and into logs: bounded in length and printable ASCII
//! only, so a hostile header cannot inject log lines or bloat responses. Never used for the
//! credential itself, which is never quoted at all.

/// At most this many characters of an untrusted value are shown.
const MAX_SHOWN: usize = 32;

/// `value` as a quoted, sanitised string: non-printable characters become `?` and long values
/// are cut with `...`.
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(MAX_SHOWN) + 5);
    out.push('"');
    for (i, c) in value.chars().enumerate() {
        if i == MAX_SHOWN {
            out.push_str("...");
            break;
        }
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quoting_escapes_control_characters_and_truncates() {
        assert_eq!(quote("RS256"), "\"RS256\"");
        assert_eq!(quote("a\nb\"c"), "\"a?b\\\"c\"");
        let long = "x".repeat(100);
        assert_eq!(quote(&long), format!("\"{}...\"", "x".repeat(32)));
    }
}
