//! The bulk and in-place lifecycle commands the operations guide relies on: `list --csv` (the
//! inventory), `rotate --older-than` / `--all` (the monthly rotation), `update` (roles change
//! without a new key), each checked against the real [`KeyStore`].

use std::path::Path;

use super::tests::{create, keys, record, secrets};
use crate::error::AuthError;
use crate::keystore::KeyStore;

/// Backdates a key's creation (and moves its expiry along), as if it were made `days` ago.
fn age(dir: &Path, id: &str, days: i64) {
    let mut r = record(dir, id);
    let shift = time::Duration::days(days);
    r.created -= shift;
    r.expires = r.expires.map(|e| e - shift);
    std::fs::write(dir.join(format!("{id}.json")), r.to_json()).unwrap();
}

#[test]
fn list_csv_is_one_quoted_row_per_key_with_expiry_and_status() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (a, _) = create(
        dir,
        "alice",
        &["--expires", "30d", "--description", "ci, nightly \"main\""],
    );
    let (b, _) = create(dir, "bob", &["--expires", "never", "--role", "mcp-admin"]);
    keys(dir, &["revoke", &b]).ok();
    let out = keys(dir, &["list", "--csv"]).ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "id,user,roles,created,expires,days_left,status,description"
    );
    assert_eq!(lines.len(), 3, "{out}");
    let alice = lines.iter().find(|l| l.starts_with(&a)).unwrap();
    assert!(
        alice.starts_with(&format!("{a},alice,mcp-user,")),
        "{alice}"
    );
    assert!(
        alice.ends_with(",30,active,\"ci, nightly \"\"main\"\"\""),
        "{alice}"
    );
    let bob = lines.iter().find(|l| l.starts_with(&b)).unwrap();
    assert!(bob.contains(",mcp-user mcp-admin,"), "{bob}");
    assert!(bob.contains(",never,,revoked,"), "{bob}");
}

#[test]
fn rotate_older_than_replaces_only_active_keys_past_that_age() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (old, old_key) = create(dir, "alice", &["--expires", "365d"]);
    let (young, young_key) = create(dir, "bob", &["--expires", "365d"]);
    let (old_revoked, _) = create(dir, "carol", &["--expires", "365d"]);
    age(dir, &old, 100);
    age(dir, &young, 30);
    age(dir, &old_revoked, 120);
    keys(dir, &["revoke", &old_revoked]).ok();

    let out = keys(dir, &["rotate", "--older-than", "90d", "--grace", "24h"]).ok();
    let new_keys = secrets(&out);
    assert_eq!(new_keys.len(), 1, "{out}");
    assert!(out.contains(&format!("rotated key {old} (alice)")), "{out}");
    let new_id = &new_keys[0][5..17];
    assert_eq!(record(dir, &old).replaced_by.unwrap().as_str(), new_id);
    assert!(record(dir, &young).replaced_by.is_none());
    assert!(record(dir, &old_revoked).replaced_by.is_none());
    // The replacement keeps the old key's lifetime length, from now.
    let new = record(dir, new_id);
    assert_eq!(
        new.expires.unwrap() - new.created,
        time::Duration::days(365)
    );

    let store = KeyStore::open(dir).unwrap();
    assert!(store.verify(&old_key).is_ok(), "grace period");
    assert!(store.verify(&young_key).is_ok());
    assert!(store.verify(&new_keys[0]).is_ok());

    // Nothing is older than 90 days any more: a second run is a no-op.
    let again = keys(dir, &["rotate", "--older-than", "90d"]);
    assert!(again.err.contains("nothing rotated"), "{}", again.err);
    assert!(secrets(&again.ok()).is_empty());
}

#[test]
fn rotate_all_replaces_every_active_key_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (a, a_key) = create(dir, "alice", &[]);
    let (b, _) = create(dir, "bob", &[]);
    let (c, _) = create(dir, "carol", &[]);
    keys(dir, &["revoke", &c]).ok();
    let out = keys(dir, &["rotate", "--all"]).ok();
    assert_eq!(secrets(&out).len(), 2, "{out}");
    for id in [&a, &b] {
        assert!(
            record(dir, id).revoked.is_some(),
            "no grace: old keys revoked now"
        );
    }
    let store = KeyStore::open(dir).unwrap();
    assert_eq!(store.verify(&a_key).unwrap_err(), AuthError::Revoked);
    for k in secrets(&out) {
        assert!(store.verify(&k).is_ok());
    }
    // The new keys are the only active ones: rotating all again makes exactly two more.
    assert_eq!(secrets(&keys(dir, &["rotate", "--all"]).ok()).len(), 2);
}

#[test]
fn update_changes_roles_in_place_and_the_same_secret_keeps_working() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (id, key) = create(dir, "alice", &["--expires", "30d"]);
    let store = KeyStore::open(dir).unwrap();
    assert_eq!(&*store.verify(&key).unwrap().roles, ["mcp-user".to_owned()]);

    let out = keys(dir, &["update", &id, "--role", "mcp-user,mcp-log-analyst"]).ok();
    assert!(
        out.contains("roles:    mcp-user -> mcp-user, mcp-log-analyst"),
        "{out}"
    );
    assert!(secrets(&out).is_empty(), "update never prints a secret");
    store.reload();
    assert_eq!(
        &*store.verify(&key).unwrap().roles,
        ["mcp-user".to_owned(), "mcp-log-analyst".to_owned()]
    );
    let r = record(dir, &id);
    assert_eq!(
        r.expires.unwrap() - r.created,
        time::Duration::days(30),
        "expiry untouched"
    );

    let out = keys(
        dir,
        &[
            "update",
            &id,
            "--expires",
            "never",
            "--description",
            "build bot",
        ],
    )
    .ok();
    assert!(out.contains("expires:"), "{out}");
    let r = record(dir, &id);
    assert_eq!(
        (r.expires, r.description.as_deref()),
        (None, Some("build bot"))
    );

    // Bad roles are refused and nothing is written.
    let e = keys(dir, &["update", &id, "--role", "bad role"])
        .result
        .unwrap_err();
    assert!(e.to_string().starts_with("--role:"), "{e}");
    assert_eq!(record(dir, &id).roles.len(), 2);
    // A revoked key stays revoked.
    keys(dir, &["revoke", &id]).ok();
    let e = keys(dir, &["update", &id, "--role", "mcp-admin"])
        .result
        .unwrap_err();
    assert!(
        e.to_string().contains("is revoked and cannot be updated"),
        "{e}"
    );
    // Unknown ids name the directory.
    let e = keys(dir, &["update", "000000000000", "--role", "x"])
        .result
        .unwrap_err();
    assert!(e.to_string().contains("no key with id 000000000000"), "{e}");
}
