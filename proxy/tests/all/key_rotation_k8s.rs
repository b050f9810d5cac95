//! API keys on Kubernetes, against the real gateway: the key directory is a Secret volume, which
//! the kubelet updates by writing a new timestamped directory and swapping the `..data` symlink
//! atomically (its AtomicWriter). Each lifecycle step the operations guide needs — create,
//! update roles, rotate, revoke, and deleting the Secret (an `optional: true` volume becomes
//! empty) — is made with the real `keys` command in a staging directory (what
//! `deploy/kubernetes/mcp-keys` does with the Secret's data), published the kubelet's way, and
//! must take effect in the running gateway within a bound, without a restart.
//!
//! On a cluster add the kubelet's sync delay (its `syncFrequency`, 60 s by default, plus the
//! Secret cache TTL: typically 60-90 s) in front of the bound measured here.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{Options, Stack};
use serde_json::{Value, json};

/// What the gateway must take after the `..data` swap (the watcher reacts to the rename within
/// milliseconds; its periodic rescan every 2 s is the fallback).
const BOUND: Duration = Duration::from_secs(5);

/// A Secret volume as the kubelet maintains it.
struct SecretVolume {
    dir: PathBuf,
    generation: u32,
}

impl SecretVolume {
    fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            generation: 0,
        }
    }

    /// Publishes the `*.json` files of `staging` (empty: the Secret was deleted and the volume
    /// is optional) the way the kubelet's AtomicWriter does: a new `..<timestamp>` directory,
    /// a `..data_tmp` symlink renamed over `..data`, visible `<name>` symlinks through `..data`
    /// for new files, stale ones removed, then the old timestamp directory removed.
    fn publish(&mut self, staging: Option<&Path>) {
        self.generation += 1;
        let ts = format!(
            "..2026_12_05_12_00_{:02}.{:09}",
            self.generation, self.generation
        );
        let new_dir = self.dir.join(&ts);
        std::fs::create_dir(&new_dir).unwrap();
        let mut names = Vec::new();
        if let Some(staging) = staging {
            for e in std::fs::read_dir(staging).unwrap() {
                let e = e.unwrap();
                let name = e.file_name().into_string().unwrap();
                if name.ends_with(".json") && !name.starts_with('.') {
                    std::fs::copy(e.path(), new_dir.join(&name)).unwrap();
                    names.push(name);
                }
            }
        }
        let old = std::fs::read_link(self.dir.join("..data")).ok();
        let tmp = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&ts, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
        for name in &names {
            let link = self.dir.join(name);
            if link.symlink_metadata().is_err() {
                std::os::unix::fs::symlink(format!("..data/{name}"), &link).unwrap();
            }
        }
        for e in std::fs::read_dir(&self.dir).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if !name.starts_with("..") && !names.contains(&name) {
                std::fs::remove_file(self.dir.join(&name)).unwrap();
            }
        }
        if let Some(old) = old {
            std::fs::remove_dir_all(self.dir.join(old)).unwrap();
        }
    }
}

/// `mcp-gateway keys --dir STAGING ARGS`, asserting success.
fn keys(staging: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(mcp_testkit::bin("mcp-gateway"))
        .arg("keys")
        .arg("--dir")
        .arg(staging)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "keys {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn created(out: &str) -> (String, String) {
    let v: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let v = if v.is_array() { v[0].clone() } else { v };
    (
        v["id"].as_str().unwrap().to_owned(),
        v["key"].as_str().unwrap().to_owned(),
    )
}

/// Waits until `check` holds and returns how long that took; fails past [`BOUND`].
fn took(stack: &Stack, what: &str, check: impl Fn(&Stack) -> bool) -> Duration {
    let start = Instant::now();
    mcp_testkit::wait_for(what, BOUND, || check(stack).then_some(()));
    start.elapsed()
}

fn status(stack: &Stack, key: &str) -> u16 {
    stack.rpc(key, "ping", json!({})).status
}

#[test]
fn secret_volume_swaps_reach_the_running_gateway_within_seconds() {
    let stack = Stack::start(Options::default());
    stack.wait_ready();
    let staging = stack.dir.path().join("secret-data");
    let mut volume = SecretVolume::new(&stack.keys_dir);
    let mut timings = Vec::new();

    // Create: two keys, published together.
    let (alice_id, alice) = created(&keys(
        &staging,
        &["create", "--user", "alice", "--role", "mcp-user", "--json"],
    ));
    let (bob_id, bob) = created(&keys(
        &staging,
        &["create", "--user", "bob", "--role", "mcp-user", "--json"],
    ));
    assert_eq!(status(&stack, &alice), 401, "not published yet");
    volume.publish(Some(&staging));
    timings.push((
        "create",
        took(&stack, "the new keys to work", |s| {
            status(s, &alice) == 200 && status(s, &bob) == 200
        }),
    ));

    // Update: bob gains mcp-admin (text_stats is admin-only) with the same secret.
    assert!(!stack.tool_names(&bob).contains(&"text_stats".to_owned()));
    keys(
        &staging,
        &["update", &bob_id, "--role", "mcp-user,mcp-admin"],
    );
    volume.publish(Some(&staging));
    timings.push((
        "update",
        took(&stack, "bob's new role to apply", |s| {
            s.tool_names(&bob).contains(&"text_stats".to_owned())
        }),
    ));

    // Rotate: bob's key is replaced (no grace); the new secret works, the old one stops.
    let (bob2_id, bob2) = created(&keys(&staging, &["rotate", &bob_id, "--json"]));
    assert_ne!(bob2_id, bob_id);
    volume.publish(Some(&staging));
    timings.push((
        "rotate",
        took(&stack, "the rotated key to take over", |s| {
            status(s, &bob) == 401 && status(s, &bob2) == 200
        }),
    ));
    assert!(
        stack.tool_names(&bob2).contains(&"text_stats".to_owned()),
        "rotation keeps the roles"
    );

    // Revoke: alice's key stops; bob's new key is untouched.
    keys(&staging, &["revoke", &alice_id]);
    volume.publish(Some(&staging));
    timings.push((
        "revoke",
        took(&stack, "the revocation to apply", |s| {
            status(s, &alice) == 401
        }),
    ));
    assert_eq!(status(&stack, &bob2), 200);

    // Delete the Secret: an optional volume becomes empty; every key stops, the gateway runs on.
    volume.publish(None);
    timings.push((
        "secret deleted",
        took(&stack, "the keys to be gone", |s| status(s, &bob2) == 401),
    ));
    assert_eq!(stack.get("/health").status, 200);

    // Re-created (e.g. restored from a backup): keys work again without a restart.
    volume.publish(Some(&staging));
    timings.push((
        "secret restored",
        took(&stack, "the restored key to work", |s| {
            status(s, &bob2) == 200
        }),
    ));

    for (step, t) in &timings {
        eprintln!(
            "key change reached the gateway: {step:<16} {} ms",
            t.as_millis()
        );
    }
    // Nothing but the `..data` layout was ever in the key directory's top level.
    let top: Vec<String> = std::fs::read_dir(&stack.keys_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with(".."))
        .collect();
    assert_eq!(top.len(), 3, "three key files published: {top:?}");
}

#[test]
fn a_gateway_starts_with_an_empty_optional_key_volume() {
    // What a pod sees when the key Secret does not exist yet (or was deleted): the volume is
    // there and empty. The gateway must start, report no keys, and refuse key callers.
    let stack = Stack::start(Options::default());
    let mut volume = SecretVolume::new(&stack.keys_dir);
    volume.publish(None);
    let replica = stack.start_replica("empty-keys", "");
    let r = stack.rpc_at(
        &replica,
        "mcpk_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "ping",
        json!({}),
    );
    assert_eq!(r.status, 401, "{}", r.text);
}
