//! API keys through the public interface: keys made with the `keys` commands, verified by the
//! authenticator, and revocations that a running watcher applies by the next request.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use mcp_gateway_auth::keys_cli::{self, Expiry, KeysArgs, KeysCommand};
use mcp_gateway_auth::{AuthError, AuthMethod, Authenticator, KeyStore};

fn keys(dir: &Path, command: KeysCommand) -> String {
    let mut out = Vec::new();
    let args = KeysArgs {
        dir: Some(dir.to_owned()),
        command,
    };
    keys_cli::run(args, &mut out, &mut Vec::new()).expect("keys command");
    String::from_utf8(out).unwrap()
}

fn create(dir: &Path, user: &str) -> (String, String) {
    let out = keys(
        dir,
        KeysCommand::Create {
            user: user.into(),
            roles: vec!["mcp-user".into()],
            expires: Expiry::Never,
            description: None,
            json: false,
        },
    );
    let key = out
        .split_whitespace()
        .find(|w| w.starts_with("mcpk_"))
        .expect("key printed")
        .to_owned();
    (key[5..17].to_owned(), key)
}

/// Polls until `f` is true; returns how long it took.
async fn within(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    start.elapsed()
}

#[tokio::test]
async fn a_revocation_reaches_the_running_gateway_through_inotify() {
    let dir = tempfile::tempdir().unwrap();
    let (id, key) = create(dir.path(), "alice");
    let store = KeyStore::open(dir.path()).unwrap();
    // A rescan interval far beyond the test: only inotify can deliver the change in time.
    let watcher = store.spawn_watcher_with(Duration::from_secs(3600));
    assert!(watcher.inotify_active());
    let auth = Authenticator::new(None, Some(store.clone())).unwrap();
    let header = format!("Bearer {key}");
    let p = auth.authenticate(Some(&header)).await.unwrap();
    assert_eq!((&*p.user, p.method), ("alice", AuthMethod::ApiKey));

    keys(
        dir.path(),
        KeysCommand::Revoke {
            id: Some(id),
            user: None,
        },
    );
    let took = within(Duration::from_secs(2), "revocation", || {
        store.verify(&key) == Err(AuthError::Revoked)
    })
    .await;
    eprintln!("revocation took effect after {took:?}");
    assert_eq!(
        auth.authenticate(Some(&header)).await.unwrap_err(),
        AuthError::Revoked
    );

    // A key created while running is picked up the same way.
    let (_, bob) = create(dir.path(), "bob");
    within(Duration::from_secs(2), "new key", || {
        store.verify(&bob).is_ok()
    })
    .await;
    drop(watcher);
}

#[tokio::test]
async fn the_periodic_rescan_alone_also_applies_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = create(dir.path(), "alice");
    let store = KeyStore::open(dir.path()).unwrap();
    let _watcher = store.spawn_watcher_with(Duration::from_millis(50));
    keys(
        dir.path(),
        KeysCommand::Revoke {
            id: None,
            user: Some("alice".into()),
        },
    );
    within(Duration::from_secs(2), "revocation", || {
        store.verify(&key) == Err(AuthError::Revoked)
    })
    .await;
    assert!(store.stats().reloads_total >= 2);
}

#[tokio::test]
async fn a_dropped_watcher_stops_reloading() {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::open(dir.path()).unwrap();
    let watcher = store.spawn_watcher_with(Duration::from_millis(20));
    within(Duration::from_secs(2), "a rescan", || {
        store.stats().reloads_total >= 2
    })
    .await;
    drop(watcher);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let settled = store.stats().reloads_total;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(store.stats().reloads_total, settled);
}
