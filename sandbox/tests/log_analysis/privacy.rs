//! The privacy tools on crafted text and on the generated logs.

use serde_json::json;

use crate::Fixture;

const CRAFTED: &str = "Contact jane.doe+ops@example.co.uk or (555) 123-4567 / +44 20 7946 0958.\n\
SSN 123-45-6789, card 4111 1111 1111 1111, bad card 4111-1111-1111-1112.\n\
From 192.168.10.20 and 2001:db8::ff00:42:8329 at 2026-01-15T10:30:00Z, release 10.2.3.";

#[test]
fn scrub_all_pii_redacts_each_kind_and_keeps_luhn_invalid_cards() {
    let fx = Fixture::start();
    let a = fx.sb.call("scrub_all_pii", json!({ "text": CRAFTED }));
    let r = a.result();
    assert_eq!(
        r["text"],
        "Contact [EMAIL_REDACTED] or [PHONE_REDACTED] / [PHONE_REDACTED].\n\
         SSN [SSN_REDACTED], card [CC_REDACTED], bad card 4111-1111-1111-1112.\n\
         From [IP_REDACTED] and [IP_REDACTED] at 2026-01-15T10:30:00Z, release 10.2.3."
    );
    assert_eq!(
        r["redacted"],
        json!({"emails": 1, "phone_numbers": 2, "ssns": 1, "credit_cards": 1, "ip_addresses": 2})
    );
    assert_eq!(r["total_redacted"], 7);
}

#[test]
fn single_kind_scrubs_report_and_anonymize() {
    let fx = Fixture::start();
    let emails = fx.sb.call("scrub_emails", json!({ "text": CRAFTED }));
    let r = emails.result();
    assert!(
        r["text"]
            .as_str()
            .unwrap()
            .contains("Contact [EMAIL_REDACTED] or (555)")
    );
    assert_eq!(r["total_redacted"], 1);

    let phones = fx
        .sb
        .call("scrub_phone_numbers", json!({ "text": CRAFTED }));
    let r = phones.result();
    let text = r["text"].as_str().unwrap();
    assert!(
        text.contains("jane.doe+ops@example.co.uk or [PHONE_REDACTED]"),
        "{text}"
    );
    assert!(
        text.contains("4111 1111 1111 1111"),
        "cards are not phones: {text}"
    );
    assert_eq!(r["redacted"]["phone_numbers"], 2);

    let report = fx
        .sb
        .call("create_privacy_report", json!({ "text": CRAFTED }));
    let r = report.result();
    assert_eq!(r["total"], 7);
    assert_eq!(r["lines_with_pii"], json!([1, 2, 3]));
    assert_eq!(r["card_like_numbers_failing_luhn"], 1);
    assert!(
        !r.to_string().contains("jane.doe"),
        "no values in the report"
    );

    let names = fx.sb.call(
        "anonymize_names",
        json!({"text": "Refund for Grace Hopper; Grace Hopper thanked Alan Turing."}),
    );
    let r = names.result();
    assert_eq!(r["text"], "Refund for Person_1; Person_1 thanked Person_2.");
    assert_eq!(
        (r["replacements"].as_u64(), r["people"].as_u64()),
        (Some(3), Some(2))
    );
}

#[test]
fn scrubbing_generated_logs_removes_their_personal_data() {
    let fx = Fixture::start();
    let path = fx.logs.path().join("payment-service/payment.log");
    let original: String = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .take(300)
        .map(|l| format!("{l}\n"))
        .collect();
    let a = fx.sb.call("scrub_all_pii", json!({ "text": original }));
    let r = a.result();
    let scrubbed = r["text"].as_str().unwrap();
    assert_eq!(scrubbed.lines().count(), original.lines().count());
    assert!(!scrubbed.contains("@example."), "emails remain");
    for (before, after) in original.lines().zip(scrubbed.lines()) {
        if let Some((_, card)) = before.split_once("authorised for card ") {
            assert!(!after.contains(card), "card left in {after}");
            assert!(
                after.ends_with("authorised for card [CC_REDACTED]"),
                "{after}"
            );
        }
        if let Some((_, rest)) = before.split_once("Payment declined: card ") {
            let bad = rest.split(' ').next().unwrap();
            assert!(
                after.contains(bad),
                "a Luhn-invalid card is left alone: {after}"
            );
        }
        // Timestamps and amounts are not mistaken for personal data.
        assert_eq!(before.split(' ').next(), after.split(' ').next());
    }
    assert!(r["redacted"]["credit_cards"].as_u64().unwrap() > 0);
    assert!(r["redacted"]["emails"].as_u64().unwrap() > 0);
}
