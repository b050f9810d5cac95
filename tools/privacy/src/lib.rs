//! The `privacy` component: tools that find personal data in text and redact it before the text
//! reaches an agent's context or a log store.
//!
//! - `scrub_emails`, `scrub_phone_numbers`: one kind each;
//! - `scrub_all_pii`: emails, phone numbers, SSNs, Luhn-valid card numbers, IPv4 and IPv6;
//! - `anonymize_names`: people's names to stable pseudonyms (`Person_1`, ...);
//! - `create_privacy_report`: how much of each kind a text holds, without the values.
//!
//! Values are replaced by fixed tags (`[EMAIL_REDACTED]`, `[PHONE_REDACTED]`, `[SSN_REDACTED]`,
//! `[CC_REDACTED]`, `[IP_REDACTED]`). What each kind matches, and the choices made against false
//! positives, are documented in [`detect`]. The component needs no capability: it reads only its
//! arguments and never returns a value it redacted.

mod detect;
mod names;

use mcp_tool_sdk::prelude::*;

use detect::{Kind, Scan};

/// Arguments of the scrub tools and of `create_privacy_report`.
#[derive(Deserialize, JsonSchema)]
struct TextArgs {
    /// The text to scan (a log excerpt, a document, a tool result).
    text: String,
}

/// Arguments of `anonymize_names`.
#[derive(Deserialize, JsonSchema)]
struct AnonymizeArgs {
    /// The text to anonymise.
    text: String,
    /// Names to replace (whole words, case-insensitive). Leave out to detect capitalised
    /// "First Last" names heuristically instead.
    #[serde(default)]
    names: Option<Vec<String>>,
}

/// How many values of each kind were found (or redacted).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
struct PiiCounts {
    emails: usize,
    phone_numbers: usize,
    ssns: usize,
    credit_cards: usize,
    ip_addresses: usize,
}

impl PiiCounts {
    fn add(&mut self, kind: Kind) {
        match kind {
            Kind::Email => self.emails += 1,
            Kind::Phone => self.phone_numbers += 1,
            Kind::Ssn => self.ssns += 1,
            Kind::CreditCard => self.credit_cards += 1,
            Kind::Ip => self.ip_addresses += 1,
        }
    }

    fn total(&self) -> usize {
        self.emails + self.phone_numbers + self.ssns + self.credit_cards + self.ip_addresses
    }
}

/// The scrubbed text and what was redacted.
#[derive(Serialize, JsonSchema)]
struct Scrubbed {
    /// The text with each value replaced by its tag.
    text: String,
    /// Values redacted, per kind.
    redacted: PiiCounts,
    /// Values redacted in all.
    total_redacted: usize,
}

/// The anonymised text and what was replaced.
#[derive(Serialize, JsonSchema)]
struct AnonymizedText {
    /// The text with each name replaced by `Person_<n>`; the same name gets the same number.
    text: String,
    /// Occurrences replaced.
    replacements: usize,
    /// Distinct people found.
    people: usize,
    /// `listed` when `names` was given, `detected` when names were found heuristically.
    mode: String,
}

/// What personal data a text holds, as counts only.
#[derive(Serialize, JsonSchema)]
struct PrivacyReport {
    /// Values found, per kind.
    found: PiiCounts,
    /// Values found in all.
    total: usize,
    /// Whether any value was found.
    contains_pii: bool,
    /// Lines (1-based) holding at least one value, at most the first 100.
    lines_with_pii: Vec<usize>,
    /// Runs of 13-19 digits shaped like a card number that fail the Luhn check; they are not
    /// card numbers and are not redacted, but may deserve a look.
    card_like_numbers_failing_luhn: usize,
    /// What to do next.
    recommendation: String,
}

fn scrub(text: &str, scan: &Scan, kinds: &[Kind]) -> Scrubbed {
    let mut out = String::with_capacity(text.len());
    let mut redacted = PiiCounts::default();
    let mut copied = 0;
    for finding in scan.findings.iter().filter(|f| kinds.contains(&f.kind)) {
        out.push_str(&text[copied..finding.start]);
        out.push_str(finding.kind.tag());
        copied = finding.end;
        redacted.add(finding.kind);
    }
    out.push_str(&text[copied..]);
    Scrubbed {
        text: out,
        total_redacted: redacted.total(),
        redacted,
    }
}

fn scrub_emails(args: TextArgs, _cx: &Context) -> Result<Scrubbed, ToolError> {
    Ok(scrub(&args.text, &detect::find(&args.text), &[Kind::Email]))
}

fn scrub_phone_numbers(args: TextArgs, _cx: &Context) -> Result<Scrubbed, ToolError> {
    Ok(scrub(&args.text, &detect::find(&args.text), &[Kind::Phone]))
}

fn scrub_all_pii(args: TextArgs, _cx: &Context) -> Result<Scrubbed, ToolError> {
    Ok(scrub(&args.text, &detect::find(&args.text), &Kind::ALL))
}

fn anonymize_names(args: AnonymizeArgs, _cx: &Context) -> Result<AnonymizedText, ToolError> {
    let (anonymized, mode) = match &args.names {
        Some(names) => (names::anonymize_listed(&args.text, names), "listed"),
        None => (names::anonymize_detected(&args.text), "detected"),
    };
    Ok(AnonymizedText {
        text: anonymized.text,
        replacements: anonymized.replacements,
        people: anonymized.people,
        mode: mode.to_owned(),
    })
}

/// Lines listed in a report at most, so a huge text does not make a huge report.
const MAX_REPORTED_LINES: usize = 100;

fn create_privacy_report(args: TextArgs, _cx: &Context) -> Result<PrivacyReport, ToolError> {
    let scan = detect::find(&args.text);
    let mut found = PiiCounts::default();
    let mut lines_with_pii = Vec::new();
    let (mut line, mut scanned_to) = (1, 0);
    for finding in &scan.findings {
        found.add(finding.kind);
        line += args.text[scanned_to..finding.start].matches('\n').count();
        scanned_to = finding.start;
        if lines_with_pii.last() != Some(&line) && lines_with_pii.len() < MAX_REPORTED_LINES {
            lines_with_pii.push(line);
        }
    }
    let total = found.total();
    let recommendation = if total == 0 {
        "No personal data found; the text can be shared as is.".to_owned()
    } else {
        format!(
            "Found {total} personal data value(s); run scrub_all_pii on the text (and \
             anonymize_names for people's names) before sharing or storing it."
        )
    };
    Ok(PrivacyReport {
        found,
        total,
        contains_pii: total > 0,
        lines_with_pii,
        card_like_numbers_failing_luhn: scan.card_like_failing_luhn,
        recommendation,
    })
}

fn tools() -> Toolbox {
    let pure = |tool: Tool| tool.read_only().idempotent().open_world(false);
    Toolbox::new()
        .tool(pure(Tool::new(
            "scrub_emails",
            "Replace email addresses in a text with [EMAIL_REDACTED]; returns the text and the count",
            scrub_emails,
        )))
        .tool(pure(Tool::new(
            "scrub_phone_numbers",
            "Replace phone numbers (North American with separators, or international starting \
             with +) in a text with [PHONE_REDACTED]; returns the text and the count",
            scrub_phone_numbers,
        )))
        .tool(pure(Tool::new(
            "scrub_all_pii",
            "Redact emails, phone numbers, SSNs, credit card numbers (Luhn-checked) and IPv4/IPv6 \
             addresses in a text with [EMAIL_REDACTED], [PHONE_REDACTED], [SSN_REDACTED], \
             [CC_REDACTED] and [IP_REDACTED]; returns the text and counts per kind",
            scrub_all_pii,
        )))
        .tool(pure(Tool::new(
            "anonymize_names",
            "Replace people's names with stable pseudonyms (Person_1, Person_2, ...): the names \
             given, or capitalised First Last names detected heuristically",
            anonymize_names,
        )))
        .tool(pure(Tool::new(
            "create_privacy_report",
            "Count the personal data in a text per kind (emails, phones, SSNs, cards, IPs) and \
             the lines it is on, without returning any of the values",
            create_privacy_report,
        )))
}

mcp_tool_sdk::export_tools!(tools);

#[cfg(test)]
mod tests {
    use mcp_tool_sdk::serde_json::{self, Value, json};
    use mcp_tool_sdk::testing::FakeHost;

    use super::*;

    fn call(tool: &str, arguments: Value) -> Value {
        let cx = Context::new(FakeHost::new());
        let result = tools()
            .call(tool, &arguments.to_string(), &cx)
            .unwrap_or_else(|e| panic!("{tool} failed: {e}"));
        serde_json::from_str(&result).unwrap()
    }

    const SAMPLE: &str = "user jane.doe@example.com (555) 123-4567 ssn 123-45-6789\n\
                          card 4111-1111-1111-1111 bad 4111-1111-1111-1112\n\
                          from 10.1.2.3 and 2001:db8::1";

    #[test]
    fn the_toolbox_describes_itself() {
        let descriptions = tools().describe().unwrap();
        assert_eq!(descriptions.len(), 5);
    }

    #[test]
    fn scrub_emails_redacts_only_emails() {
        let out = call("scrub_emails", json!({ "text": SAMPLE }));
        let text = out["text"].as_str().unwrap();
        assert!(
            text.starts_with("user [EMAIL_REDACTED] (555) 123-4567"),
            "{text}"
        );
        assert_eq!(out["redacted"]["emails"], 1);
        assert_eq!(out["total_redacted"], 1);
    }

    #[test]
    fn scrub_phone_numbers_redacts_only_phones() {
        let out = call("scrub_phone_numbers", json!({ "text": SAMPLE }));
        let text = out["text"].as_str().unwrap();
        assert!(
            text.contains("jane.doe@example.com [PHONE_REDACTED] ssn"),
            "{text}"
        );
        assert!(text.contains("4111-1111-1111-1111"), "{text}");
        assert_eq!(out["total_redacted"], 1);
    }

    #[test]
    fn scrub_all_pii_redacts_every_kind_and_leaves_luhn_invalid_cards() {
        let out = call("scrub_all_pii", json!({ "text": SAMPLE }));
        assert_eq!(
            out["text"],
            "user [EMAIL_REDACTED] [PHONE_REDACTED] ssn [SSN_REDACTED]\n\
             card [CC_REDACTED] bad 4111-1111-1111-1112\n\
             from [IP_REDACTED] and [IP_REDACTED]"
        );
        assert_eq!(
            out["redacted"],
            json!({"emails": 1, "phone_numbers": 1, "ssns": 1, "credit_cards": 1, "ip_addresses": 2})
        );
        assert_eq!(out["total_redacted"], 6);
    }

    #[test]
    fn the_report_counts_without_revealing_values() {
        let out = call("create_privacy_report", json!({ "text": SAMPLE }));
        assert_eq!(out["total"], 6);
        assert_eq!(out["contains_pii"], true);
        assert_eq!(out["lines_with_pii"], json!([1, 2, 3]));
        assert_eq!(out["card_like_numbers_failing_luhn"], 1);
        assert!(!out.to_string().contains("jane.doe"));
        let clean = call("create_privacy_report", json!({ "text": "all quiet" }));
        assert_eq!(clean["contains_pii"], false);
        assert_eq!(clean["lines_with_pii"], json!([]));
    }

    #[test]
    fn anonymize_names_uses_the_list_or_the_heuristic() {
        let listed = call(
            "anonymize_names",
            json!({"text": "ask bob, Bob knows", "names": ["Bob"]}),
        );
        assert_eq!(listed["text"], "ask Person_1, Person_1 knows");
        assert_eq!(listed["mode"], "listed");
        let detected = call(
            "anonymize_names",
            json!({"text": "Ticket from Grace Hopper about Alan Turing"}),
        );
        assert_eq!(detected["text"], "Ticket from Person_1 about Person_2");
        assert_eq!(
            (detected["people"].as_u64(), detected["mode"].as_str()),
            (Some(2), Some("detected"))
        );
    }
}
