//! Keeps a [`KeyStore`] current with an [`mcp_filewatch::Watch`]: an inotify watch on the key
//! directory wakes a reload within milliseconds of a change (so a revocation takes effect by the
//! next request), and a periodic rescan catches anything the watch misses or a watch that could
//! not be set up. Every wake-up reloads: the store compares each file's stamp itself, so it
//! needs no fingerprint of the whole directory first.

use std::path::Path;
use std::sync::Weak;
use std::time::Duration;

use mcp_filewatch::{Watch, WatchHandle};

use super::KeyStore;

/// The running watcher; dropping it stops the watch and the reload task.
#[derive(Debug)]
pub struct KeyWatcher(WatchHandle);

impl KeyWatcher {
    /// Whether file-system events are being received (else only the periodic rescan runs).
    pub fn inotify_active(&self) -> bool {
        self.0.events_active()
    }
}

pub(super) fn spawn(store: Weak<KeyStore>, dir: &Path, rescan: Duration) -> KeyWatcher {
    let watch = Watch::on_every_wake(vec![dir.to_owned()])
        .poll(Some(rescan))
        .events()
        .spawn(move |_| {
            let store = store.clone();
            async move {
                let Some(store) = store.upgrade() else { return };
                if tokio::task::spawn_blocking(move || store.reload())
                    .await
                    .is_err()
                {
                    tracing::error!("API key reload panicked");
                }
            }
        });
    KeyWatcher(watch)
}
