//! Keeps a [`KeyStore`] current: an inotify watch on the key directory wakes a reload within
//! milliseconds of a change (so a revocation takes effect by the next request), and a periodic
//! rescan catches anything the watch misses or a watch that could not be set up.

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::KeyStore;

/// Events arrive in bursts (create, write, rename); one reload this long after the first is
/// enough for all of them.
const DEBOUNCE: Duration = Duration::from_millis(15);

/// The running watcher; dropping it stops the watch and the reload task.
pub struct KeyWatcher {
    watch: Option<notify::RecommendedWatcher>,
    task: JoinHandle<()>,
}

impl KeyWatcher {
    /// Whether file-system events are being received (else only the periodic rescan runs).
    pub fn inotify_active(&self) -> bool {
        self.watch.is_some()
    }
}

impl Drop for KeyWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for KeyWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyWatcher")
            .field("inotify_active", &self.inotify_active())
            .finish()
    }
}

pub(super) fn spawn(store: Weak<KeyStore>, dir: &Path, rescan: Duration) -> KeyWatcher {
    let wake = Arc::new(Notify::new());
    let watch = {
        let wake = Arc::clone(&wake);
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Any event (or watch error) is a reason to rescan; the rescan decides what changed.
            let _ = event;
            wake.notify_one();
        })
        .and_then(|mut w| w.watch(dir, RecursiveMode::NonRecursive).map(|()| w))
    };
    let watch = match watch {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, rescan = ?rescan,
                "cannot watch the API key directory; changes are picked up by the periodic rescan only");
            None
        }
    };
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(rescan);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate; the store was just loaded
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = wake.notified() => tokio::time::sleep(DEBOUNCE).await,
            }
            let Some(store) = store.upgrade() else { break };
            if tokio::task::spawn_blocking(move || store.reload())
                .await
                .is_err()
            {
                tracing::error!("API key reload panicked");
            }
        }
    });
    KeyWatcher { watch, task }
}
