//! Hot reload: the sandbox notices when its tool sets, components or policy change on disk (a
//! polled fingerprint of names, sizes, modification times and inodes, which also catches a
//! Kubernetes ConfigMap's symlink swap) or when it gets SIGHUP, and reloads. A reload swaps the
//! new catalog and policy in whole; one that fails (a half-copied component, a YAML typo) is
//! logged and counted, and the last good state keeps serving.
//!
//! A change is acted on once the fingerprint has held still for one poll, so a file still
//! being copied is not loaded half-written.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::Sandbox;

/// Entries looked at per watched directory tree, so a huge mounted directory cannot make every
/// poll expensive.
const MAX_ENTRIES: usize = 10_000;
/// Directory levels looked into below each watched directory.
const MAX_DEPTH: usize = 3;

/// What a reload was triggered by, for the logs.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    Change,
    Signal,
}

/// Watches `paths` (files or directories) and reloads `sandbox` when they change, every
/// `interval` (`None`: only on SIGHUP). Runs until the process ends.
pub fn spawn(sandbox: Arc<Sandbox>, paths: Vec<PathBuf>, interval: Option<Duration>) {
    tokio::spawn(async move {
        let mut hangup = hangup_signal();
        let mut loaded = fingerprint(&paths);
        let mut seen = loaded;
        let mut ticker = tokio::time::interval(interval.unwrap_or(Duration::from_secs(3600)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            let trigger = tokio::select! {
                _ = ticker.tick(), if interval.is_some() => Trigger::Change,
                Some(()) = recv(&mut hangup) => Trigger::Signal,
            };
            let now = fingerprint(&paths);
            if let Trigger::Change = trigger {
                // Act only on a change that held still since the last poll.
                let settled = now == seen;
                seen = now;
                if now == loaded || !settled {
                    continue;
                }
            }
            // Whatever the outcome, this state has been tried: a failed one is not retried
            // every poll, only after the next change or signal.
            loaded = now;
            seen = now;
            reload(&sandbox, trigger).await;
        }
    });
}

async fn reload(sandbox: &Arc<Sandbox>, trigger: Trigger) {
    match sandbox.reload().await {
        Ok(tools) => {
            metrics::counter!("mcp_sandbox_reloads_total", "result" => "ok").increment(1);
            metrics::gauge!("mcp_sandbox_last_reload_success_timestamp_seconds").set(unix_now());
            tracing::info!(?trigger, tools, "reloaded tool sets and policy");
        }
        Err(e) => {
            metrics::counter!("mcp_sandbox_reloads_total", "result" => "rejected").increment(1);
            tracing::error!(?trigger, error = %e, "reload failed; the previous tool sets and policy stay in force");
        }
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

type Hangup = Option<tokio::signal::unix::Signal>;

fn hangup_signal() -> Hangup {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; reloads only on change");
            None
        }
    }
}

async fn recv(hangup: &mut Hangup) -> Option<()> {
    match hangup {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// A hash of every watched file's path, size, modification time and inode. Metadata follows
/// symlinks, so swapping a link's target changes it. Hidden entries (a ConfigMap's `..data`
/// directories) are reached through the links that point into them, not walked.
pub fn fingerprint(paths: &[PathBuf]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for path in paths {
        let mut budget = MAX_ENTRIES;
        visit(path, 0, &mut budget, &mut hasher);
    }
    hasher.finish()
}

fn visit(path: &Path, depth: usize, budget: &mut usize, hasher: &mut DefaultHasher) {
    if *budget == 0 {
        return;
    }
    *budget -= 1;
    path.hash(hasher);
    let Ok(meta) = std::fs::metadata(path) else {
        // Missing now: hashes differently from present.
        0u8.hash(hasher);
        return;
    };
    if !meta.is_dir() {
        (meta.len(), meta.mtime(), meta.mtime_nsec(), meta.ino()).hash(hasher);
        return;
    }
    // A directory counts by what it holds (its own times change with hidden entries too).
    if depth >= MAX_DEPTH {
        return;
    }
    let Ok(read) = std::fs::read_dir(path) else {
        return;
    };
    let mut children: Vec<PathBuf> = read
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    children.sort();
    for child in children {
        visit(&child, depth + 1, budget, hasher);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_change_with_content_names_and_link_targets_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::write(root.join("a.yaml"), "one").unwrap();
        let paths = vec![root.clone(), root.join("missing.yaml")];
        let first = fingerprint(&paths);
        assert_eq!(first, fingerprint(&paths), "stable when nothing changes");

        std::fs::write(root.join("a.yaml"), "three").unwrap();
        let second = fingerprint(&paths);
        assert_ne!(first, second, "a content change is seen");

        std::fs::write(root.join(".hidden"), "x").unwrap();
        assert_eq!(second, fingerprint(&paths), "hidden entries are not walked");

        // A ConfigMap-style swap: the visible name is a link whose target is replaced.
        std::fs::create_dir(root.join(".v1")).unwrap();
        std::fs::create_dir(root.join(".v2")).unwrap();
        std::fs::write(root.join(".v1/b.yaml"), "same").unwrap();
        std::fs::write(root.join(".v2/b.yaml"), "same").unwrap();
        std::os::unix::fs::symlink(root.join(".v1/b.yaml"), root.join("b.yaml")).unwrap();
        let linked = fingerprint(&paths);
        std::fs::remove_file(root.join("b.yaml")).unwrap();
        std::os::unix::fs::symlink(root.join(".v2/b.yaml"), root.join("b.yaml")).unwrap();
        assert_ne!(linked, fingerprint(&paths), "a swapped link target is seen");

        std::fs::write(root.join("missing.yaml"), "").unwrap();
        assert_ne!(linked, fingerprint(&paths), "a file appearing is seen");
    }
}
