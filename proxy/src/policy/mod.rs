//! The access policy in force, reloaded when its file changes. An invalid new version is
//! rejected with a precise message (logged and counted) and the last good one stays in force.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use mcp_contract::policy::{AccessPolicy, PolicyError};
use mcp_filewatch::{Settle, Tracker, Watch, WatchHandle};

/// The policy in force, swapped whole on a reload, and the file it comes from.
pub struct PolicyStore {
    path: PathBuf,
    current: ArcSwap<AccessPolicy>,
    /// The file's state just before the first load, handed to [`Self::watch`].
    loaded: Tracker,
}

impl PolicyStore {
    /// Loads the policy; failing here stops the gateway from starting.
    pub fn load(path: &Path) -> Result<Arc<Self>, PolicyError> {
        let loaded = Tracker::new(vec![path.to_owned()], Settle::Immediately);
        let policy = AccessPolicy::load(path)?;
        Ok(Arc::new(Self {
            path: path.to_owned(),
            current: ArcSwap::from_pointee(policy),
            loaded,
        }))
    }

    pub fn current(&self) -> Arc<AccessPolicy> {
        self.current.load_full()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reloads whenever the file changed since it was loaded, checking every `every`, until
    /// the returned handle is dropped.
    pub fn watch(self: &Arc<Self>, every: Duration) -> WatchHandle {
        let store = Arc::downgrade(self);
        Watch::on_change(self.loaded.clone())
            .poll(Some(every))
            .spawn(move |_| {
                if let Some(store) = store.upgrade() {
                    let _ = store.reload();
                }
                std::future::ready(())
            })
    }

    /// Reloads now, keeping the current policy if the file is invalid.
    pub fn reload(&self) -> Result<(), PolicyError> {
        match AccessPolicy::load(&self.path) {
            Ok(p) => {
                self.current.store(Arc::new(p));
                metrics::counter!("mcp_policy_reloads_total", "result" => "ok").increment(1);
                tracing::info!(path = %self.path.display(), "policy reloaded");
                Ok(())
            }
            Err(e) => {
                metrics::counter!("mcp_policy_reloads_total", "result" => "rejected").increment(1);
                tracing::error!(error = %e, "policy change rejected; the previous policy stays in force");
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows_user(store: &PolicyStore) -> bool {
        store
            .current()
            .check(&["mcp-user"], "echo", "examples")
            .is_allowed()
    }

    #[test]
    fn an_invalid_change_keeps_the_last_good_policy() {
        let dir = mcp_testkit::TempDir::new().unwrap();
        let path = dir.path().join("access.yaml");
        std::fs::write(&path, "toolsets:\n  examples: { roles: [mcp-user] }\n").unwrap();
        let store = PolicyStore::load(&path).unwrap();
        assert!(allows_user(&store));

        std::fs::write(&path, "toolsets:\n  examples: { rolez: [mcp-user] }\n").unwrap();
        let err = store.reload().unwrap_err().to_string();
        assert!(
            err.contains("access.yaml") && err.contains("rolez"),
            "{err}"
        );
        assert!(allows_user(&store));

        std::fs::write(&path, "toolsets:\n  examples: { roles: [mcp-admin] }\n").unwrap();
        assert!(store.reload().is_ok());
        assert!(!allows_user(&store));
    }

    #[tokio::test]
    async fn the_watch_applies_a_change_made_after_the_load() {
        let dir = mcp_testkit::TempDir::new().unwrap();
        let path = dir.path().join("access.yaml");
        std::fs::write(&path, "toolsets:\n  examples: { roles: [mcp-user] }\n").unwrap();
        let store = PolicyStore::load(&path).unwrap();
        // Written before the watch starts: still seen, since the baseline is the load's.
        std::fs::write(&path, "toolsets:\n  examples: { roles: [mcp-admin] }\n").unwrap();
        let _watch = store.watch(Duration::from_millis(5));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while allows_user(&store) {
            assert!(std::time::Instant::now() < deadline, "change not applied");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}
