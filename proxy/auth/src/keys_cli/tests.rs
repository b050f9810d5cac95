//! The `keys` commands end to end on a temp directory, parsed as the gateway mounts them
//! (`mcp-gateway keys --dir D ...`), checked against the real [`KeyStore`].

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use clap::Parser;
use serde_json::Value;

use super::*;
use crate::error::AuthError;
use crate::keystore::KeyStore;
use crate::keystore::record::KeyRecord;

#[derive(clap::Parser)]
#[command(name = "mcp-gateway")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    Keys(KeysArgs),
}

pub(super) struct Run {
    pub(super) result: Result<Outcome, KeysCliError>,
    pub(super) out: String,
    pub(super) err: String,
}

impl Run {
    pub(super) fn ok(self) -> String {
        match self.result {
            Ok(Outcome::Done) => self.out,
            other => panic!("{other:?}\nstdout: {}\nstderr: {}", self.out, self.err),
        }
    }
}

pub(super) fn keys(dir: &Path, args: &[&str]) -> Run {
    let mut argv = vec!["mcp-gateway", "keys", "--dir", dir.to_str().unwrap()];
    argv.extend_from_slice(args);
    let Cmd::Keys(args) = Cli::try_parse_from(argv)
        .unwrap_or_else(|e| panic!("{e}"))
        .cmd;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let result = run(args, &mut out, &mut err);
    Run {
        result,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

/// The `mcpk_...` keys in an output.
pub(super) fn secrets(out: &str) -> Vec<String> {
    out.split_whitespace()
        .map(|w| w.trim_matches(|c| c == '"' || c == ','))
        .filter(|w| w.starts_with("mcpk_"))
        .map(str::to_owned)
        .collect()
}

pub(super) fn record(dir: &Path, id: &str) -> KeyRecord {
    KeyRecord::from_json(&std::fs::read(dir.join(format!("{id}.json"))).unwrap()).unwrap()
}

pub(super) fn create(dir: &Path, user: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["create", "--user", user, "--role", "mcp-user"];
    args.extend_from_slice(extra);
    let out = keys(dir, &args).ok();
    let key = secrets(&out).pop().expect("the key is printed");
    (key[5..17].to_owned(), key)
}

#[test]
fn create_prints_the_key_once_and_stores_only_its_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let out = keys(
        &dir,
        &[
            "create",
            "--user",
            "alice",
            "--role",
            "mcp-user,mcp-admin",
            "--expires",
            "90d",
            "--description",
            "CI pipeline",
        ],
    )
    .ok();
    let found = secrets(&out);
    assert_eq!(found.len(), 1, "{out}");
    let key = &found[0];
    let id = &key[5..17];
    assert!(
        out.contains(&format!("created key {id} for alice")),
        "{out}"
    );
    assert!(out.contains("roles:    mcp-user, mcp-admin"), "{out}");
    assert!(out.contains("(90 days)"), "{out}");

    let path = dir.join(format!("{id}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(&key[18..]), "the secret must not be stored");
    assert!(text.contains("\"hash\": \"sha256:"), "{text}");
    assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);

    let store = KeyStore::open(&dir).unwrap();
    let p = store.verify(key).unwrap();
    assert_eq!(
        (&*p.user, &*p.roles),
        (
            "alice",
            &["mcp-user".to_owned(), "mcp-admin".to_owned()][..]
        )
    );
    let rec = record(&dir, id);
    assert_eq!(rec.expires.unwrap() - rec.created, time::Duration::days(90));
    assert_eq!(rec.description.as_deref(), Some("CI pipeline"));
}

#[test]
fn create_json_is_one_object_with_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let out = keys(
        tmp.path(),
        &[
            "create",
            "--user",
            "ci",
            "--role",
            "mcp-user",
            "--expires",
            "never",
            "--json",
        ],
    )
    .ok();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["user"], "ci");
    assert_eq!(v["expires"], Value::Null);
    assert!(
        v["key"]
            .as_str()
            .unwrap()
            .starts_with(&format!("mcpk_{}_", v["id"].as_str().unwrap()))
    );
}

#[test]
fn list_shows_every_key_with_days_left_and_status() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (alice, _) = create(dir, "alice", &["--expires", "30d"]);
    let (bob, _) = create(dir, "bob", &["--expires", "never"]);
    keys(dir, &["revoke", &bob]).ok();
    let out = keys(dir, &["list"]).ok();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("DAYS LEFT  STATUS"),
        "{out}"
    );
    let row = |id: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(id))
            .copied()
            .unwrap_or_else(|| panic!("{out}"))
    };
    let a: Vec<&str> = row(&alice).split_whitespace().collect();
    assert_eq!(&a[1..3], ["alice", "mcp-user"], "{out}");
    assert_eq!(&a[5..], ["30", "active"], "{out}");
    let b: Vec<&str> = row(&bob).split_whitespace().collect();
    assert_eq!(&b[4..], ["never", "-", "revoked"], "{out}");

    let json: Value = serde_json::from_str(&keys(dir, &["list", "--json"]).ok()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert!(
        !json.to_string().contains("sha256:"),
        "list --json carries no hashes"
    );
}

#[test]
fn rotate_with_grace_keeps_the_old_key_briefly_and_the_new_one_for_the_same_lifetime() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (old_id, old_key) = create(
        dir,
        "alice",
        &["--expires", "30d", "--description", "laptop"],
    );
    let out = keys(dir, &["rotate", &old_id, "--grace", "24h"]).ok();
    assert!(
        out.contains(&format!(
            "rotated key {old_id} (alice): it stays valid until"
        )),
        "{out}"
    );
    let new_key = secrets(&out).pop().unwrap();
    let new_id = &new_key[5..17];

    let old = record(dir, &old_id);
    let new = record(dir, new_id);
    assert_eq!(old.replaced_by.as_ref().map(|i| i.as_str()), Some(new_id));
    assert!(old.expires.unwrap() <= new.created + time::Duration::hours(24));
    assert!(old.revoked.is_none());
    assert_eq!(new.expires.unwrap() - new.created, time::Duration::days(30));
    assert_eq!(
        (
            new.user.as_str(),
            new.roles.clone(),
            new.description.as_deref()
        ),
        ("alice", vec!["mcp-user".to_owned()], Some("laptop"))
    );

    let store = KeyStore::open(dir).unwrap();
    assert!(
        store.verify(&old_key).is_ok(),
        "old key works during the grace period"
    );
    assert!(store.verify(&new_key).is_ok());
    let list = keys(dir, &["list"]).ok();
    assert!(
        list.lines()
            .any(|l| l.starts_with(&old_id) && l.ends_with("rotated")),
        "{list}"
    );

    let again = keys(dir, &["rotate", &old_id]);
    let e = again.result.unwrap_err();
    assert!(
        e.to_string().contains(&format!("rotate {new_id} instead")),
        "{e}"
    );
}

#[test]
fn rotate_without_grace_revokes_the_old_key_now() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (old_id, old_key) = create(dir, "alice", &[]);
    let out = keys(dir, &["rotate", &old_id]).ok();
    assert!(out.contains("it is revoked"), "{out}");
    let store = KeyStore::open(dir).unwrap();
    assert_eq!(store.verify(&old_key).unwrap_err(), AuthError::Revoked);
    assert!(store.verify(&secrets(&out)[0]).is_ok());
    let e = keys(dir, &["rotate", &old_id]).result.unwrap_err();
    assert!(
        e.to_string().contains("is revoked and cannot be rotated"),
        "{e}"
    );
}

#[test]
fn revoke_user_offboards_every_key_of_that_user_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_, bob1) = create(dir, "bob", &[]);
    let (_, bob2) = create(dir, "bob", &["--expires", "never"]);
    let (_, alice) = create(dir, "alice", &[]);
    let out = keys(dir, &["revoke", "--user", "bob"]).ok();
    assert_eq!(
        out.lines().filter(|l| l.starts_with("revoked key")).count(),
        2,
        "{out}"
    );
    let store = KeyStore::open(dir).unwrap();
    assert_eq!(store.verify(&bob1).unwrap_err(), AuthError::Revoked);
    assert_eq!(store.verify(&bob2).unwrap_err(), AuthError::Revoked);
    assert!(store.verify(&alice).is_ok());

    let run = keys(dir, &["revoke", "--user", "bob"]);
    assert!(run.err.contains("nothing to revoke"), "{}", run.err);
}

#[test]
fn expiring_lists_soon_expiring_keys_and_bulk_rotation_does_not_cascade() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A 30-day key created 27 days ago.
    let (soon, _) = create(dir, "alice", &["--expires", "30d"]);
    let mut aged = record(dir, &soon);
    aged.created -= time::Duration::days(27);
    aged.expires = aged.expires.map(|e| e - time::Duration::days(27));
    std::fs::write(dir.join(format!("{soon}.json")), aged.to_json()).unwrap();
    let (later, _) = create(dir, "bob", &["--expires", "90d"]);

    let run = keys(dir, &["expiring", "--within", "7d"]);
    assert!(matches!(run.result, Ok(Outcome::Done)));
    assert!(
        run.out.contains("1 active key(s) expire within 7d"),
        "{}",
        run.out
    );
    assert!(
        run.out.contains(&soon) && !run.out.contains(&later),
        "{}",
        run.out
    );
    let run = keys(dir, &["expiring", "--within", "7d", "--fail-if-any"]);
    assert_eq!(run.result.unwrap().exit_code(), 1);
    let run = keys(dir, &["expiring", "--within", "1d", "--fail-if-any"]);
    assert_eq!(run.result.unwrap().exit_code(), 0);
    assert!(
        run.out.contains("no active keys expire within 1d"),
        "{}",
        run.out
    );

    let out = keys(
        dir,
        &["rotate", "--all-expiring-within", "7d", "--grace", "1h"],
    )
    .ok();
    assert_eq!(secrets(&out).len(), 1, "{out}");
    assert!(out.contains(&format!("rotated key {soon}")), "{out}");
    assert!(
        out.contains("(30 days)"),
        "the new key gets the old one's lifetime: {out}"
    );
    // The old key now expires within the hour, but it is rotated: not expiring, not rotated again.
    let run = keys(
        dir,
        &["rotate", "--all-expiring-within", "7d", "--grace", "1h"],
    );
    assert!(secrets(&run.out).is_empty(), "{}", run.out);
    assert!(run.err.contains("nothing rotated"), "{}", run.err);
    let out = keys(dir, &["expiring", "--within", "7d"]).ok();
    assert!(out.starts_with("no active keys"), "{out}");
}

#[test]
fn rotate_user_replaces_all_active_keys_of_the_user() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    create(dir, "carol", &[]);
    create(dir, "carol", &[]);
    create(dir, "dave", &[]);
    let out = keys(dir, &["rotate", "--user", "carol", "--json"]).ok();
    let v: Value = serde_json::from_str(&out).unwrap();
    let rotated = v.as_array().unwrap();
    assert_eq!(rotated.len(), 2);
    assert!(
        rotated
            .iter()
            .all(|r| r["user"] == "carol" && r["replaces"].is_string())
    );
}

#[test]
fn export_then_import_moves_records_without_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let (_, key_a) = create(&src, "alice", &[]);
    let (id_b, key_b) = create(&src, "bob", &["--expires", "never"]);
    keys(&src, &["revoke", &id_b]).ok();
    let export = tmp.path().join("export.json");
    let run = keys(&src, &["export", "--out", export.to_str().unwrap()]);
    assert!(run.err.contains("exported 2 keys"), "{}", run.err);
    let text = std::fs::read_to_string(&export).unwrap();
    assert!(!text.contains(&key_a[18..]) && !text.contains(&key_b[18..]));
    assert_eq!(std::fs::metadata(&export).unwrap().mode() & 0o777, 0o600);
    let stdout_export = keys(&src, &["export"]).ok();
    let doc: Value = serde_json::from_str(&stdout_export).unwrap();
    assert_eq!(doc["format"], "mcp-gateway-keys");
    assert_eq!(doc["keys"].as_array().unwrap().len(), 2);

    let dst = tmp.path().join("dst");
    let out = keys(&dst, &["import", export.to_str().unwrap()]).ok();
    assert!(out.contains("2 new, 0 replaced, 0 unchanged"), "{out}");
    let store = KeyStore::open(&dst).unwrap();
    assert!(store.verify(&key_a).is_ok());
    assert_eq!(store.verify(&key_b).unwrap_err(), AuthError::Revoked);
    let out = keys(&dst, &["import", export.to_str().unwrap()]).ok();
    assert!(out.contains("0 new, 0 replaced, 2 unchanged"), "{out}");

    // A changed record in the target is a conflict unless --overwrite.
    keys(&dst, &["revoke", "--user", "alice"]).ok();
    let run = keys(&dst, &["import", export.to_str().unwrap()]);
    let e = run.result.unwrap_err().to_string();
    assert!(
        e.contains("already exist") && e.contains("--overwrite"),
        "{e}"
    );
    assert_eq!(
        KeyStore::open(&dst).unwrap().verify(&key_a).unwrap_err(),
        AuthError::Revoked
    );
    let out = keys(&dst, &["import", export.to_str().unwrap(), "--overwrite"]).ok();
    assert!(out.contains("0 new, 1 replaced, 1 unchanged"), "{out}");
    assert!(KeyStore::open(&dst).unwrap().verify(&key_a).is_ok());
}

#[test]
fn import_validates_every_record_before_writing_any() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    create(&src, "alice", &[]);
    create(&src, "bob", &[]);
    let mut doc: Value = serde_json::from_str(&keys(&src, &["export"]).ok()).unwrap();
    doc["keys"][1]["roles"] = serde_json::json!(["not a role"]);
    let file = tmp.path().join("bad.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let dst = tmp.path().join("dst");
    let e = keys(&dst, &["import", file.to_str().unwrap()])
        .result
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("{}: keys[1] (id ", file.display())),
        "{e}"
    );
    assert!(e.contains("field `roles`"), "{e}");
    assert_eq!(
        std::fs::read_dir(&dst).unwrap().count(),
        0,
        "nothing was written"
    );
}

#[test]
fn invalid_files_are_warned_about_in_listings_and_block_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    create(dir, "alice", &[]);
    let bad = dir.join("0123456789ab.json");
    std::fs::write(&bad, "{\"id\": \"0123456789ab\"").unwrap();
    let run = keys(dir, &["list"]);
    assert!(run.out.contains("alice"));
    assert!(
        run.err
            .starts_with(&format!("warning: {}: ", bad.display())),
        "{}",
        run.err
    );
    let e = keys(dir, &["export"]).result.unwrap_err().to_string();
    assert!(
        e.contains("1 key file(s)") && e.contains("0123456789ab.json"),
        "{e}"
    );
}

#[test]
fn bad_arguments_get_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let e = keys(dir, &["create", "--user", "alice", "--role", "bad role"])
        .result
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("--role: role name \"bad role\" is not valid"),
        "{e}"
    );
    let e = keys(dir, &["create", "--user", " alice", "--role", "r"])
        .result
        .unwrap_err();
    assert!(e.to_string().starts_with("--user:"), "{e}");
    let e = keys(dir, &["revoke", "0123456789ab"]).result.unwrap_err();
    assert!(
        e.to_string().starts_with("no key with id 0123456789ab in"),
        "{e}"
    );
    let e = keys(dir, &["revoke", "nope"]).result.unwrap_err();
    assert!(e.to_string().contains("12 lowercase hex"), "{e}");
    let e = run(
        KeysArgs {
            dir: None,
            command: KeysCommand::List {
                json: false,
                csv: false,
            },
        },
        &mut Vec::new(),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("MCP_GATEWAY_KEYS_DIR"), "{e}");
    let parse = Cli::try_parse_from([
        "mcp-gateway",
        "keys",
        "create",
        "--user",
        "a",
        "--role",
        "r",
        "--expires",
        "soon",
    ]);
    let e = parse.err().unwrap().to_string();
    assert!(e.contains("or \"never\""), "{e}");
    let parse = Cli::try_parse_from(["mcp-gateway", "keys", "revoke"]);
    assert!(parse.is_err(), "revoke needs an id or --user");
}
