//! Finding personal data in text: where each email address, phone number, SSN, payment card
//! number and IP address is, as non-overlapping byte ranges. Redaction and counting build on
//! [`find`]; this module never changes text.
//!
//! What counts as each kind (chosen to keep false positives low in log lines):
//! - **email**: `local@domain.tld`, the usual characters in the local part, a dotted domain with
//!   an alphabetic top-level label of two or more letters.
//! - **credit card**: 13-19 digits, optionally grouped by single spaces or dashes, that pass
//!   the Luhn check. Digit runs that fail it (order ids, timestamps) are left alone and only
//!   counted by the privacy report as "card-like".
//! - **SSN**: `AAA-GG-SSSS` with dashes, excluding numbers the SSA never issues (area 000, 666
//!   or 900-999, group 00, serial 0000). Nine bare digits are not treated as an SSN.
//! - **IP address**: IPv6 in any form `std::net::Ipv6Addr` parses (compressed, with an embedded
//!   IPv4 tail), and IPv4 dotted quads whose four octets are all 0-255. A dotted quad of small
//!   numbers is an IP even if it was meant as a version (`1.2.3.4`), but `v1.2.3.4` and
//!   `1.2.3.4.5` are not.
//! - **phone**: North American numbers with separators (`555-123-4567`, `(555) 123-4567`,
//!   `+1 555.123.4567`) and international numbers that start with `+` and have 8-15 digits
//!   (`+44 20 7946 0958`). Bare digit runs (`5551234567`) are not phones: in logs they are far
//!   more often ids or epoch timestamps. Local numbers without an area code are not found.
//!
//! When two candidates overlap, the kind found first wins, in this order: email, IPv6, card,
//! SSN, IPv4, phone (so the digits inside an email or a card never count as a phone too).

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::sync::LazyLock;

use regex::Regex;

/// A kind of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Email,
    Phone,
    Ssn,
    CreditCard,
    Ip,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 5] = [
        Kind::Email,
        Kind::Phone,
        Kind::Ssn,
        Kind::CreditCard,
        Kind::Ip,
    ];

    /// The placeholder that replaces a value of this kind.
    pub fn tag(self) -> &'static str {
        match self {
            Kind::Email => "[EMAIL_REDACTED]",
            Kind::Phone => "[PHONE_REDACTED]",
            Kind::Ssn => "[SSN_REDACTED]",
            Kind::CreditCard => "[CC_REDACTED]",
            Kind::Ip => "[IP_REDACTED]",
        }
    }
}

/// One value found in the text: `text[start..end]` is of kind `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

/// Everything [`find`] saw in a text.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Non-overlapping findings, sorted by position.
    pub findings: Vec<Finding>,
    /// Runs of 13-19 digits shaped like a card number that fail the Luhn check (not redacted).
    pub card_like_failing_luhn: usize,
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}")
        .expect("the email pattern is valid")
});
static IPV6_CANDIDATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[0-9A-Fa-f:.]{2,}").expect("the IPv6 pattern is valid"));
static DIGIT_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d(?:[ -]?\d)*").expect("the digit-run pattern is valid"));
static SSN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\d{3})-(\d{2})-(\d{4})").expect("the SSN pattern is valid"));
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})").expect("the IPv4 pattern is valid")
});
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        // North American, separators required: (555) 123-4567, 555-123-4567, +1 555.123.4567
        r"(?:\+?1[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[.-])\d{3}[.-]\d{4}",
        // International, leading +: +44 20 7946 0958, +49-30-1234567
        r"|\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,6}",
    ))
    .expect("the phone pattern is valid")
});

/// Finds every email, phone number, SSN, card number and IP address in `text`.
pub fn find(text: &str) -> Scan {
    let mut accepted = Accepted::default();
    for m in EMAIL.find_iter(text) {
        if standalone(text, m.start(), m.end(), |c| {
            c.is_alphanumeric() || c == '@'
        }) {
            accepted.add(m.start(), m.end(), Kind::Email);
        }
    }
    for m in IPV6_CANDIDATE.find_iter(text) {
        let candidate = m.as_str().trim_end_matches('.');
        let end = m.start() + candidate.len();
        if candidate.matches(':').count() >= 2
            && candidate.parse::<Ipv6Addr>().is_ok()
            && standalone(text, m.start(), end, char::is_alphanumeric)
        {
            accepted.add(m.start(), end, Kind::Ip);
        }
    }
    let mut card_like_failing_luhn = 0;
    for m in DIGIT_RUN.find_iter(text) {
        if !standalone(text, m.start(), m.end(), char::is_alphanumeric) {
            continue;
        }
        let cards = cards_in_run(m.as_str());
        if cards.is_empty() && (13..=19).contains(&digit_count(m.as_str())) {
            card_like_failing_luhn += 1;
        }
        for (start, end) in cards {
            accepted.add(m.start() + start, m.start() + end, Kind::CreditCard);
        }
    }
    for caps in SSN.captures_iter(text) {
        let whole = caps.get(0).expect("group 0 always exists");
        let [area, group, serial] = [&caps[1], &caps[2], &caps[3]];
        let issued = area != "000"
            && area != "666"
            && !area.starts_with('9')
            && group != "00"
            && serial != "0000";
        let isolated = standalone(text, whole.start(), whole.end(), |c| {
            c.is_alphanumeric() || c == '-'
        });
        if issued && isolated {
            accepted.add(whole.start(), whole.end(), Kind::Ssn);
        }
    }
    for caps in IPV4.captures_iter(text) {
        let whole = caps.get(0).expect("group 0 always exists");
        let octets_ok = (1..=4).all(|i| caps[i].parse::<u16>().is_ok_and(|o| o <= 255));
        if octets_ok && dotted_quad_stands_alone(text, whole.start(), whole.end()) {
            accepted.add(whole.start(), whole.end(), Kind::Ip);
        }
    }
    for m in PHONE.find_iter(text) {
        let digits = digit_count(m.as_str());
        let isolated = standalone(text, m.start(), m.end(), |c| {
            c.is_alphanumeric() || c == '+'
        });
        if (7..=15).contains(&digits) && isolated {
            accepted.add(m.start(), m.end(), Kind::Phone);
        }
    }
    Scan {
        findings: accepted.into_sorted(),
        card_like_failing_luhn,
    }
}

/// The Luhn checksum over a string of ASCII digits (other characters are ignored).
pub fn luhn_valid(number: &str) -> bool {
    let digits: Vec<u32> = number.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.is_empty() {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The card numbers inside a run of digits and single separators, as byte ranges of the run.
/// The whole run is tried first; failing that, consecutive separator-delimited groups (so a
/// card followed by another number in the same run is still found).
fn cards_in_run(run: &str) -> Vec<(usize, usize)> {
    if is_card(run) {
        return vec![(0, run.len())];
    }
    let groups: Vec<(usize, usize)> = run.match_indices(|c: char| c.is_ascii_digit()).fold(
        Vec::new(),
        |mut groups: Vec<(usize, usize)>, (i, _)| {
            match groups.last_mut() {
                Some(last) if last.1 == i => last.1 = i + 1,
                _ => groups.push((i, i + 1)),
            }
            groups
        },
    );
    let mut cards = Vec::new();
    let mut first = 0;
    while first < groups.len() {
        let found = (first..groups.len())
            .rev()
            .map(|last| (groups[first].0, groups[last].1))
            .find(|&(start, end)| is_card(&run[start..end]));
        match found {
            Some(range) => {
                cards.push(range);
                first = groups
                    .iter()
                    .position(|g| g.0 >= range.1)
                    .unwrap_or(groups.len());
            }
            None => first += 1,
        }
    }
    cards
}

fn is_card(candidate: &str) -> bool {
    (13..=19).contains(&digit_count(candidate)) && luhn_valid(candidate)
}

fn digit_count(text: &str) -> usize {
    text.bytes().filter(u8::is_ascii_digit).count()
}

/// Whether `text[start..end]` is not glued to a neighbouring character for which `joins`
/// holds (a match inside a longer word or number is not a match).
fn standalone(text: &str, start: usize, end: usize, joins: impl Fn(char) -> bool) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    !before.is_some_and(&joins) && !after.is_some_and(&joins)
}

/// A dotted quad is an address only if it is not part of a longer dotted number (`1.2.3.4.5`,
/// `v1.2.3.4`).
fn dotted_quad_stands_alone(text: &str, start: usize, end: usize) -> bool {
    let mut before = text[..start].chars().rev();
    let mut after = text[end..].chars();
    let glued_before = match before.next() {
        Some(c) if c.is_alphanumeric() => true,
        Some('.') => before.next().is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    };
    let glued_after = match after.next() {
        Some(c) if c.is_alphanumeric() => true,
        Some('.') => after.next().is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    };
    !glued_before && !glued_after
}

/// Findings accepted so far, keyed by start, so a later candidate that overlaps one is dropped.
#[derive(Default)]
struct Accepted(BTreeMap<usize, (usize, Kind)>);

impl Accepted {
    fn add(&mut self, start: usize, end: usize, kind: Kind) {
        let overlaps_previous = self
            .0
            .range(..=start)
            .next_back()
            .is_some_and(|(_, &(prev_end, _))| prev_end > start);
        let overlaps_next = self.0.range(start..end).next().is_some();
        if !overlaps_previous && !overlaps_next {
            self.0.insert(start, (end, kind));
        }
    }

    fn into_sorted(self) -> Vec<Finding> {
        self.0
            .into_iter()
            .map(|(start, (end, kind))| Finding { start, end, kind })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, &str)> {
        find(text)
            .findings
            .iter()
            .map(|f| (f.kind, &text[f.start..f.end]))
            .collect()
    }

    #[test]
    fn luhn_accepts_valid_numbers_and_rejects_others() {
        for valid in [
            "4111111111111111",
            "5500 0000 0000 0004",
            "378282246310005",
            "79927398713",
        ] {
            assert!(luhn_valid(valid), "{valid}");
        }
        for invalid in ["4111111111111112", "1234567812345678", "79927398710", ""] {
            assert!(!luhn_valid(invalid), "{invalid}");
        }
    }

    #[test]
    fn emails_are_found_with_plus_and_subdomains() {
        assert_eq!(
            kinds("mail john.doe+logs@mail.example.co.uk, or x@y.io."),
            vec![
                (Kind::Email, "john.doe+logs@mail.example.co.uk"),
                (Kind::Email, "x@y.io")
            ]
        );
        assert!(kinds("user@localhost and a@b.c").is_empty());
    }

    #[test]
    fn cards_must_pass_luhn_and_may_be_grouped() {
        assert_eq!(
            kinds("card 4111 1111 1111 1111 ok"),
            vec![(Kind::CreditCard, "4111 1111 1111 1111")]
        );
        assert_eq!(
            kinds("amex 3782-822463-10005."),
            vec![(Kind::CreditCard, "3782-822463-10005")]
        );
        assert_eq!(
            kinds("raw 5555555555554444"),
            vec![(Kind::CreditCard, "5555555555554444")]
        );
        let scan = find("bad 4111 1111 1111 1112 and order 1234567890123456");
        assert!(scan.findings.is_empty(), "{:?}", scan.findings);
        assert_eq!(scan.card_like_failing_luhn, 2);
        // A card followed by another number in the same run is still found.
        assert_eq!(
            kinds("qty 4111 1111 1111 1111 7"),
            vec![(Kind::CreditCard, "4111 1111 1111 1111")]
        );
        // Too short or too long runs are not cards, even when the checksum happens to pass.
        assert!(kinds("id 79927398713").is_empty());
        assert!(kinds("id 41111111111111111111111").is_empty());
    }

    #[test]
    fn ssns_follow_the_issuing_rules() {
        assert_eq!(kinds("ssn 123-45-6789."), vec![(Kind::Ssn, "123-45-6789")]);
        for unissued in [
            "000-12-3456",
            "666-12-3456",
            "912-34-5678",
            "123-00-4567",
            "123-45-0000",
        ] {
            assert!(kinds(unissued).is_empty(), "{unissued}");
        }
        assert!(kinds("123456789 and 1123-45-6789 and 123-45-6789-1").is_empty());
    }

    #[test]
    fn ipv4_octets_must_be_bytes_and_stand_alone() {
        assert_eq!(
            kinds("from 192.168.1.20, to 10.0.0.1:8080"),
            vec![(Kind::Ip, "192.168.1.20"), (Kind::Ip, "10.0.0.1")]
        );
        assert_eq!(kinds("version 1.2.3.4"), vec![(Kind::Ip, "1.2.3.4")]);
        for not_ip in ["256.1.1.1", "v1.2.3.4", "1.2.3.4.5", "release 10.2.3"] {
            assert!(kinds(not_ip).is_empty(), "{not_ip}");
        }
    }

    #[test]
    fn ipv6_is_validated_by_the_standard_parser() {
        assert_eq!(
            kinds("peer 2001:db8::8a2e:370:7334 and [fe80::1]:443 and ::ffff:192.0.2.1."),
            vec![
                (Kind::Ip, "2001:db8::8a2e:370:7334"),
                (Kind::Ip, "fe80::1"),
                (Kind::Ip, "::ffff:192.0.2.1"),
            ]
        );
        for not_ip in [
            "at 10:30:45",
            "mac 00:1a:2b:3c:4d:5e",
            "T12:00:00Z",
            "std::fs",
        ] {
            assert!(kinds(not_ip).is_empty(), "{not_ip}");
        }
    }

    #[test]
    fn phones_need_separators_or_a_country_code() {
        assert_eq!(
            kinds("call (555) 123-4567 or 555.867.5309 or +1-555-010-9999"),
            vec![
                (Kind::Phone, "(555) 123-4567"),
                (Kind::Phone, "555.867.5309"),
                (Kind::Phone, "+1-555-010-9999")
            ]
        );
        assert_eq!(
            kinds("uk +44 20 7946 0958, de +49 30 1234567"),
            vec![
                (Kind::Phone, "+44 20 7946 0958"),
                (Kind::Phone, "+49 30 1234567")
            ]
        );
        for not_phone in [
            "epoch 1767225600",
            "date 2026-01-15",
            "ext 555-1234",
            "id 12-345-6789",
        ] {
            assert!(kinds(not_phone).is_empty(), "{not_phone}");
        }
    }

    #[test]
    fn overlapping_candidates_go_to_the_first_kind() {
        // Digits inside an email are not a phone; a card is not a phone.
        assert_eq!(
            kinds("555-123-4567@example.com"),
            vec![(Kind::Email, "555-123-4567@example.com")]
        );
        assert_eq!(
            kinds("4111-1111-1111-1111"),
            vec![(Kind::CreditCard, "4111-1111-1111-1111")]
        );
    }
}
