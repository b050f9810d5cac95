use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::*;
use crate::apikey::NewKey;
use crate::keystore::record::now;

/// Writes a key file and returns the presented key string.
fn write_key(
    dir: &Path,
    user: &str,
    expires: Option<OffsetDateTime>,
    revoked: Option<OffsetDateTime>,
) -> (String, KeyRecord) {
    let key = NewKey::generate();
    let record = KeyRecord {
        id: key.id.clone(),
        user: user.into(),
        roles: vec!["mcp-user".into()],
        created: now() - time::Duration::days(1),
        expires,
        revoked,
        hash: key.hash.clone(),
        description: None,
        replaced_by: None,
    };
    fs::write(dir.join(format!("{}.json", record.id)), record.to_json()).unwrap();
    (key.reveal(), record)
}

fn in_days(days: i64) -> Option<OffsetDateTime> {
    Some(now() + time::Duration::days(days))
}

#[test]
fn a_valid_key_verifies_to_its_user_and_roles() {
    let dir = tempfile::tempdir().unwrap();
    let (key, record) = write_key(dir.path(), "alice", in_days(30), None);
    let store = KeyStore::open(dir.path()).unwrap();
    let p = store.verify(&key).unwrap();
    assert_eq!(&*p.user, "alice");
    assert_eq!(&*p.roles, ["mcp-user"]);
    assert_eq!(p.method, AuthMethod::ApiKey);
    assert_eq!(p.key_id.as_deref(), Some(record.id.as_str()));
    assert_eq!(p.expires_at, record.expires_at());
}

#[test]
fn wrong_secret_unknown_id_revoked_expired_and_malformed_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = write_key(dir.path(), "alice", None, None);
    let (revoked, _) = write_key(dir.path(), "bob", None, Some(now()));
    let (expired, _) = write_key(
        dir.path(),
        "carol",
        Some(now() - time::Duration::seconds(1)),
        None,
    );
    let store = KeyStore::open(dir.path()).unwrap();

    let wrong_secret = format!("{}{}", &good[..18], &NewKey::generate().reveal()[18..]);
    let unknown_id = format!("mcpk_000000000000{}", &good[17..]);
    assert_eq!(
        store.verify(&wrong_secret).unwrap_err(),
        AuthError::BadSignature(Credential::ApiKey)
    );
    assert_eq!(
        store.verify(&unknown_id).unwrap_err(),
        AuthError::UnknownKey(Credential::ApiKey)
    );
    assert_eq!(store.verify(&revoked).unwrap_err(), AuthError::Revoked);
    assert_eq!(
        store.verify(&expired).unwrap_err(),
        AuthError::Expired(Credential::ApiKey)
    );
    assert_eq!(store.verify("mcpk_nope").unwrap_err().reason(), "malformed");
    assert!(store.verify(&good).is_ok());
}

#[test]
fn the_state_of_a_key_is_not_disclosed_without_its_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (revoked, _) = write_key(dir.path(), "bob", None, Some(now()));
    let store = KeyStore::open(dir.path()).unwrap();
    let guess = format!("{}{}", &revoked[..18], &NewKey::generate().reveal()[18..]);
    assert_eq!(
        store.verify(&guess).unwrap_err(),
        AuthError::BadSignature(Credential::ApiKey),
        "a wrong secret must not learn that the key is revoked"
    );
}

#[test]
fn an_invalid_file_keeps_the_last_good_record_and_is_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let (key, record) = write_key(dir.path(), "alice", None, None);
    let path = dir.path().join(format!("{}.json", record.id));
    let store = KeyStore::open(dir.path()).unwrap();
    assert!(store.verify(&key).is_ok());

    // A half-written file (e.g. an editor saving in place).
    let text = record.to_json();
    fs::write(&path, &text[..text.len() / 2]).unwrap();
    let report = store.reload();
    assert_eq!(report.invalid.len(), 1, "{report:?}");
    assert!(report.invalid[0].kept_last_good);
    assert!(report.invalid[0].reason.contains("EOF"), "{report:?}");
    assert!(
        store.verify(&key).is_ok(),
        "last good record stays in force"
    );
    let stats = store.stats();
    assert_eq!(
        (stats.keys, stats.invalid_files, stats.invalid_loads_total),
        (1, 1, 1)
    );

    // Rescanning the same broken file does not count it again.
    let report = store.reload();
    assert_eq!(report.unchanged, 1);
    assert_eq!(store.stats().invalid_loads_total, 1);

    // A valid rewrite (here: revoking) replaces the record and clears the error.
    let mut revoked = record.clone();
    revoked.revoked = Some(now());
    fs::write(&path, revoked.to_json()).unwrap();
    let report = store.reload();
    assert_eq!(report.loaded, [record.id.to_string()]);
    assert!(report.invalid.is_empty());
    assert_eq!(store.verify(&key).unwrap_err(), AuthError::Revoked);
    assert_eq!(store.stats().invalid_files, 0);
}

#[test]
fn invalid_files_are_ignored_with_a_reason_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let (_, record) = write_key(dir.path(), "alice", None, None);
    let path = dir.path().join(format!("{}.json", record.id));
    let text = record.to_json().replace("\"mcp-user\"", "\"bad role!\"");
    fs::write(&path, text).unwrap();
    let (_, other) = write_key(dir.path(), "bob", None, None);
    fs::rename(
        dir.path().join(format!("{}.json", other.id)),
        dir.path().join("0123456789ab.json"),
    )
    .unwrap();
    let store = KeyStore::open(dir.path()).unwrap();
    let report = store.reload();
    assert_eq!(store.stats().keys, 0);
    let reasons: Vec<&str> = report.invalid.iter().map(|f| f.reason.as_str()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("rename the file to")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.starts_with("field `roles`")),
        "{reasons:?}"
    );
    assert!(report.invalid.iter().all(|f| !f.kept_last_good));
}

#[test]
fn deleting_a_key_file_removes_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (key, record) = write_key(dir.path(), "alice", None, None);
    let store = KeyStore::open(dir.path()).unwrap();
    fs::remove_file(dir.path().join(format!("{}.json", record.id))).unwrap();
    let report = store.reload();
    assert_eq!(report.removed, [record.id.to_string()]);
    assert_eq!(
        store.verify(&key).unwrap_err(),
        AuthError::UnknownKey(Credential::ApiKey)
    );
    assert!(store.records().is_empty());
}

#[test]
fn a_kubernetes_style_data_swap_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let v1 = root.join("..2026_01_01_v1");
    fs::create_dir(&v1).unwrap();
    let (key, record) = write_key(&v1, "alice", None, None);
    let name = format!("{}.json", record.id);
    std::os::unix::fs::symlink("..2026_01_01_v1", root.join("..data")).unwrap();
    std::os::unix::fs::symlink(format!("..data/{name}"), root.join(&name)).unwrap();
    let store = KeyStore::open(root).unwrap();
    assert!(store.verify(&key).is_ok());

    // The kubelet writes a new version directory and atomically renames a new ..data link.
    let v2 = root.join("..2026_01_02_v2");
    fs::create_dir(&v2).unwrap();
    let mut revoked = record.clone();
    revoked.revoked = Some(now());
    fs::write(v2.join(&name), revoked.to_json()).unwrap();
    std::os::unix::fs::symlink("..2026_01_02_v2", root.join("..data_tmp")).unwrap();
    fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
    fs::remove_dir_all(&v1).unwrap();

    store.reload();
    assert_eq!(store.verify(&key).unwrap_err(), AuthError::Revoked);
}

#[test]
fn an_unreadable_directory_fails_open_but_not_a_later_reload() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let e = KeyStore::open(&missing).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");

    let keys = dir.path().join("keys");
    fs::create_dir(&keys).unwrap();
    let (key, _) = write_key(&keys, "alice", None, None);
    let store = KeyStore::open(&keys).unwrap();
    fs::rename(&keys, dir.path().join("moved")).unwrap();
    let report = store.reload();
    assert!(report.error.is_some());
    assert_eq!(store.stats().reload_errors_total, 1);
    assert!(store.verify(&key).is_ok(), "keys loaded before stay");
}

/// Unknown ids are compared against a decoy hash, so they cost the same as a wrong secret.
/// Loose bound (2x) so a busy machine does not make it flaky; without the decoy the unknown-id
/// path skips the SHA-256 and is several times faster.
#[test]
fn unknown_ids_and_wrong_secrets_take_about_the_same_time() {
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = write_key(dir.path(), "alice", None, None);
    let store = KeyStore::open(dir.path()).unwrap();
    let wrong_secret = format!("{}{}", &good[..18], &NewKey::generate().reveal()[18..]);
    let unknown_id = format!("mcpk_000000000000{}", &good[17..]);
    let time = |key: &str| {
        let start = Instant::now();
        for _ in 0..200 {
            let _ = std::hint::black_box(store.verify(std::hint::black_box(key)));
        }
        start.elapsed()
    };
    let (mut a, mut b) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..20 {
        a += time(&wrong_secret);
        b += time(&unknown_id);
    }
    let ratio = a.as_secs_f64() / b.as_secs_f64();
    assert!(
        (0.5..2.0).contains(&ratio),
        "wrong secret {a:?} vs unknown id {b:?}"
    );
}

#[test]
fn a_world_writable_key_directory_is_refused_and_a_sticky_one_is_not() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let e = KeyStore::open(dir.path()).unwrap_err();
    assert!(e.to_string().contains("writable by every user"), "{e}");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o1777)).unwrap();
    assert!(KeyStore::open(dir.path()).is_ok());
}

#[test]
fn requests_naming_an_unloadable_key_file_reload_at_most_every_250_ms() {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::open(dir.path()).unwrap();
    // A key file that exists but cannot be loaded: every request naming it would reload.
    let key = NewKey::generate();
    fs::write(dir.path().join(format!("{}.json", key.id)), "{ not json").unwrap();
    let before = store.stats().reloads_total;
    for _ in 0..50 {
        assert!(store.verify(&key.reveal()).is_err());
    }
    let reloads = store.stats().reloads_total - before;
    assert_eq!(reloads, 1, "one reload, then throttled");
    // A key created now, under another id, is still found at once.
    let (fresh, _) = write_key(dir.path(), "bob", in_days(1), None);
    assert!(store.verify(&fresh).is_ok());
}
