//! The access policy in force, reloaded when its file changes. An invalid new version is
//! rejected with a precise message (logged and counted) and the last good one stays in force.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use mcp_contract::policy::{AccessPolicy, PolicyError};

/// Identity of a file's content as far as a cheap `stat` can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    modified: Option<std::time::SystemTime>,
    len: u64,
    inode: u64,
}

impl Fingerprint {
    /// Follows symlinks, so a Kubernetes ConfigMap's `..data` swap is seen as a change.
    pub fn of(path: &Path) -> Option<Self> {
        let m = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&m);
        #[cfg(not(unix))]
        let inode = 0;
        Some(Self {
            modified: m.modified().ok(),
            len: m.len(),
            inode,
        })
    }
}

pub struct PolicyStore {
    path: PathBuf,
    current: ArcSwap<AccessPolicy>,
    seen: Mutex<Option<Fingerprint>>,
}

impl PolicyStore {
    /// Loads the policy; failing here stops the gateway from starting.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let seen = Fingerprint::of(path);
        let policy = AccessPolicy::load(path)?;
        Ok(Self {
            path: path.to_owned(),
            current: ArcSwap::from_pointee(policy),
            seen: Mutex::new(seen),
        })
    }

    pub fn current(&self) -> Arc<AccessPolicy> {
        self.current.load_full()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reloads if the file changed since last seen. `None` when unchanged.
    pub fn reload_if_changed(&self) -> Option<Result<(), PolicyError>> {
        let now = Fingerprint::of(&self.path);
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if *seen == now {
                return None;
            }
            *seen = now;
        }
        Some(self.reload())
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

    #[test]
    fn an_invalid_change_keeps_the_last_good_policy() {
        let dir = mcp_testkit::TempDir::new().unwrap();
        let path = dir.path().join("access.yaml");
        std::fs::write(&path, "toolsets:\n  examples: { roles: [mcp-user] }\n").unwrap();
        let store = PolicyStore::load(&path).unwrap();
        assert!(
            store
                .current()
                .check(&["mcp-user"], "echo", "examples")
                .is_allowed()
        );
        assert!(store.reload_if_changed().is_none());

        std::fs::write(&path, "toolsets:\n  examples: { rolez: [mcp-user] }\n").unwrap();
        let err = store.reload_if_changed().unwrap().unwrap_err().to_string();
        assert!(
            err.contains("access.yaml") && err.contains("rolez"),
            "{err}"
        );
        assert!(
            store
                .current()
                .check(&["mcp-user"], "echo", "examples")
                .is_allowed()
        );

        std::fs::write(&path, "toolsets:\n  examples: { roles: [mcp-admin] }\n").unwrap();
        assert!(store.reload_if_changed().unwrap().is_ok());
        assert!(
            !store
                .current()
                .check(&["mcp-user"], "echo", "examples")
                .is_allowed()
        );
    }
}
