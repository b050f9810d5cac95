//! The API key store: a directory of key files (one `<id>.json` per key, see [`record`]) loaded
//! into an immutable snapshot that request verification reads without locks.
//!
//! The store owns loading, reloading and verifying; it never writes (the `keys` commands do,
//! atomically). A reload re-reads only files whose [`FileStamp`] changed. A file that is
//! half-written or invalid is logged, counted, and ignored: the last good record read from that
//! file stays in force, so a botched edit cannot lock a user out, but a *deleted* file removes
//! its key (deletion is a way to revoke). [`KeyStore::spawn_watcher`] reloads on inotify events
//! and on a periodic rescan.

mod files;
pub mod record;
mod watcher;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::apikey::{self, KeyId};
use crate::error::{AuthError, Credential};
use crate::principal::{AuthMethod, Principal};

pub use files::FileError;
#[cfg(feature = "cli")]
pub(crate) use files::{key_path, list as list_files, read as read_file};
use mcp_filewatch::FileStamp;
pub use record::{KeyRecord, KeyStatus, RecordError};
pub use watcher::KeyWatcher;

/// The default interval of the watcher's periodic rescan.
pub const DEFAULT_RESCAN: Duration = Duration::from_secs(2);

/// The key directory cannot be used at all.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    /// The directory could not be read.
    #[error("API key directory {}: {source}", dir.display())]
    Dir {
        /// The key directory.
        dir: PathBuf,
        /// The I/O error reading it.
        source: std::io::Error,
    },
    /// Anyone could add a key: the directory is writable by all users (without the sticky bit).
    #[error(
        "API key directory {} is writable by every user (mode {mode:o}), so anyone on the host \
         could add a key: chmod o-w it",
        dir.display()
    )]
    WorldWritable {
        /// The key directory.
        dir: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// A key file that could not be used in a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidFile {
    /// The key file.
    pub path: PathBuf,
    /// Why it could not be used.
    pub reason: String,
    /// Whether an earlier good version of this file is still in force.
    pub kept_last_good: bool,
}

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Keys in force after the reload.
    pub keys: usize,
    /// Ids whose record was added or changed.
    pub loaded: Vec<String>,
    /// Ids whose file disappeared.
    pub removed: Vec<String>,
    /// Files that are currently invalid (including ones unchanged since they were reported).
    pub invalid: Vec<InvalidFile>,
    /// Files not re-read because they did not change.
    pub unchanged: usize,
    /// The directory could not be listed; everything stayed as it was.
    pub error: Option<String>,
}

/// Counters for the gateway's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyStoreStats {
    /// Keys in force.
    pub keys: usize,
    /// Key files currently invalid (ignored, last good record kept).
    pub invalid_files: usize,
    /// Times a changed key file was found invalid.
    pub invalid_loads_total: u64,
    /// Reloads done.
    pub reloads_total: u64,
    /// Reloads that could not list the directory.
    pub reload_errors_total: u64,
}

/// A key as verification needs it: the record and the principal built once at load.
struct LoadedKey {
    record: KeyRecord,
    principal: Principal,
    revoked: bool,
}

/// What is known about one file: its last stamp, the last good record read from it, and
/// whether its current version is invalid.
struct FileState {
    stamp: Option<FileStamp>,
    good: Option<KeyRecord>,
    error: Option<String>,
}

/// The API keys of one directory, held in memory; reloads (see [`KeyStore::spawn_watcher`]) pick up changed files.
pub struct KeyStore {
    dir: PathBuf,
    snapshot: ArcSwap<HashMap<KeyId, Arc<LoadedKey>>>,
    /// Also serialises reloads.
    files: Mutex<HashMap<PathBuf, FileState>>,
    invalid_loads: AtomicU64,
    reloads: AtomicU64,
    reload_errors: AtomicU64,
    /// When requests naming each id last made the store reload: per id at most every
    /// [`ON_DEMAND_RELOAD_GAP`], so requests naming an id whose file cannot be loaded cannot keep
    /// workers busy re-reading the directory, while a key created moments ago still works at
    /// once. Bounded: cleared when it holds [`ON_DEMAND_IDS`] ids.
    on_demand: Mutex<HashMap<KeyId, std::time::Instant>>,
}

/// Least time between two reloads requests naming one id trigger (the watcher catches the rest).
const ON_DEMAND_RELOAD_GAP: Duration = Duration::from_millis(250);
/// Most ids whose on-demand reload time is remembered.
const ON_DEMAND_IDS: usize = 1024;

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("dir", &self.dir)
            .field("keys", &self.snapshot.load().len())
            .finish()
    }
}

impl KeyStore {
    /// Opens the key directory and loads it now. Invalid files do not fail this (they are
    /// reported by [`stats`](Self::stats) and logged); an unreadable directory does.
    pub fn open(dir: &Path) -> Result<Arc<Self>, KeyStoreError> {
        std::fs::read_dir(dir).map_err(|source| KeyStoreError::Dir {
            dir: dir.to_owned(),
            source,
        })?;
        check_permissions(dir)?;
        let store = Arc::new(Self {
            dir: dir.to_owned(),
            snapshot: ArcSwap::from_pointee(HashMap::new()),
            files: Mutex::new(HashMap::new()),
            invalid_loads: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
            reload_errors: AtomicU64::new(0),
            on_demand: Mutex::new(HashMap::new()),
        });
        let report = store.reload();
        if let Some(error) = report.error {
            return Err(KeyStoreError::Dir {
                dir: dir.to_owned(),
                source: std::io::Error::other(error),
            });
        }
        Ok(store)
    }

    /// The key directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Re-reads changed, new and deleted key files and swaps in a new snapshot.
    pub fn reload(&self) -> ReloadReport {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        self.reloads.fetch_add(1, Ordering::Relaxed);
        let mut report = ReloadReport::default();
        let listed = match files::list(&self.dir) {
            Ok(listed) => listed,
            Err(e) => {
                self.reload_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(dir = %self.dir.display(), error = %e,
                    "cannot list the API key directory; keeping the keys loaded before");
                report.error = Some(e.to_string());
                report.keys = self.snapshot.load().len();
                return report;
            }
        };
        let mut changed = false;
        let present: std::collections::HashSet<&PathBuf> = listed.iter().map(|(p, _)| p).collect();
        files.retain(|path, state| {
            let keep = present.contains(path);
            if !keep {
                changed = true;
                if let Some(good) = &state.good {
                    report.removed.push(good.id.to_string());
                }
            }
            keep
        });
        for (path, stamp) in &listed {
            let state = files.entry(path.clone()).or_insert(FileState {
                stamp: None,
                good: None,
                error: None,
            });
            let stamp = match stamp {
                Ok(stamp) => *stamp,
                Err(e) => {
                    // Not re-read until it can be stat'ed again; logged once per distinct error.
                    state.stamp = None;
                    self.mark_invalid(path, state, e.to_string(), false);
                    continue;
                }
            };
            if state.stamp == Some(stamp) {
                report.unchanged += 1;
                continue;
            }
            state.stamp = Some(stamp);
            match files::read(path) {
                Ok(record) => {
                    if state.good.as_ref() != Some(&record) {
                        report.loaded.push(record.id.to_string());
                        state.good = Some(record);
                        changed = true;
                    }
                    state.error = None;
                }
                Err(e) => self.mark_invalid(path, state, e.to_string(), true),
            }
        }
        report.invalid = files
            .iter()
            .filter_map(|(path, s)| {
                s.error.as_ref().map(|reason| InvalidFile {
                    path: path.clone(),
                    reason: reason.clone(),
                    kept_last_good: s.good.is_some(),
                })
            })
            .collect();
        report.invalid.sort_by(|a, b| a.path.cmp(&b.path));
        if changed {
            let snapshot: HashMap<KeyId, Arc<LoadedKey>> = files
                .values()
                .filter_map(|s| s.good.as_ref())
                .map(|r| (r.id.clone(), Arc::new(LoadedKey::new(r.clone()))))
                .collect();
            self.snapshot.store(Arc::new(snapshot));
            tracing::info!(dir = %self.dir.display(), keys = self.snapshot.load().len(),
                loaded = ?report.loaded, removed = ?report.removed, "API keys reloaded");
        }
        report.keys = self.snapshot.load().len();
        report
    }

    /// Records that `path`'s current version is unusable, logging and counting it when it is news
    /// (`changed`: the file itself changed; otherwise only a new error is news).
    fn mark_invalid(&self, path: &Path, state: &mut FileState, reason: String, changed: bool) {
        if changed || state.error.as_ref() != Some(&reason) {
            self.invalid_loads.fetch_add(1, Ordering::Relaxed);
            tracing::error!(file = %path.display(), error = %reason,
                kept_last_good = state.good.is_some(),
                "ignoring invalid API key file");
        }
        state.error = Some(reason);
    }

    /// Verifies a presented `mcpk_...` key.
    ///
    /// Order: shape (`Malformed`), id (`UnknownKey`), secret (`BadSignature`), then `Revoked`
    /// and `Expired` — so the state of a key is only disclosed to someone holding its secret.
    /// An unknown id is compared against a decoy hash, so it takes as long as a wrong secret.
    pub fn verify(&self, presented: &str) -> Result<Principal, AuthError> {
        let (id, secret) = apikey::parse_presented(presented)?;
        let mut snapshot = self.snapshot.load_full();
        if !snapshot.contains_key(&id)
            && files::key_path(&self.dir, &id).is_file()
            && self.may_reload_on_demand(&id)
        {
            // A key created moments ago (here or by another replica sharing the directory) may
            // not be loaded yet: load it now rather than wait for the watcher. Only ids whose
            // file exists trigger this, so unknown ids cost one `stat`; and each id at most
            // once per 250 ms.
            self.reload();
            snapshot = self.snapshot.load_full();
        }
        let Some(key) = snapshot.get(&id) else {
            std::hint::black_box(apikey::decoy_hash().matches(&secret));
            return Err(AuthError::UnknownKey(Credential::ApiKey));
        };
        if !key.record.hash.matches(&secret) {
            return Err(AuthError::BadSignature(Credential::ApiKey));
        }
        if key.revoked {
            return Err(AuthError::Revoked);
        }
        if key
            .principal
            .expires_at
            .is_some_and(|e| e <= SystemTime::now())
        {
            return Err(AuthError::Expired(Credential::ApiKey));
        }
        Ok(key.principal.clone())
    }

    /// Claims an on-demand reload for `id`, if [`ON_DEMAND_RELOAD_GAP`] has passed since the
    /// last one for it.
    fn may_reload_on_demand(&self, id: &KeyId) -> bool {
        let now = std::time::Instant::now();
        let mut seen = self.on_demand.lock().unwrap_or_else(|p| p.into_inner());
        if seen
            .get(id)
            .is_some_and(|t| now.duration_since(*t) < ON_DEMAND_RELOAD_GAP)
        {
            return false;
        }
        if seen.len() >= ON_DEMAND_IDS {
            seen.clear();
        }
        seen.insert(id.clone(), now);
        true
    }

    /// The records in force, sorted by id.
    pub fn records(&self) -> Vec<KeyRecord> {
        let mut records: Vec<KeyRecord> = self
            .snapshot
            .load()
            .values()
            .map(|k| k.record.clone())
            .collect();
        records.sort_by(|a, b| a.id.cmp(&b.id));
        records
    }

    /// Keys in force, invalid files and reload counts, for metrics and `/ready`.
    pub fn stats(&self) -> KeyStoreStats {
        let invalid_files = {
            let files = self.files.lock().unwrap_or_else(|p| p.into_inner());
            files.values().filter(|s| s.error.is_some()).count()
        };
        KeyStoreStats {
            keys: self.snapshot.load().len(),
            invalid_files,
            invalid_loads_total: self.invalid_loads.load(Ordering::Relaxed),
            reloads_total: self.reloads.load(Ordering::Relaxed),
            reload_errors_total: self.reload_errors.load(Ordering::Relaxed),
        }
    }

    /// Reloads on file-system events (inotify) and every [`DEFAULT_RESCAN`], on the current
    /// tokio runtime, until the returned handle is dropped. The rescan covers what inotify can
    /// miss (e.g. a Kubernetes Secret's `..data` swap seen from outside the mount namespace).
    pub fn spawn_watcher(self: &Arc<Self>) -> KeyWatcher {
        self.spawn_watcher_with(DEFAULT_RESCAN)
    }

    /// [`spawn_watcher`](Self::spawn_watcher) with another rescan interval.
    pub fn spawn_watcher_with(self: &Arc<Self>, rescan: Duration) -> KeyWatcher {
        watcher::spawn(Arc::downgrade(self), &self.dir, rescan)
    }
}

impl LoadedKey {
    fn new(record: KeyRecord) -> Self {
        let principal = Principal {
            id: Principal::api_key_id(&record.user),
            user: Arc::from(record.user.as_str()),
            roles: Arc::from(record.roles.clone()),
            method: AuthMethod::ApiKey,
            key_id: Some(Arc::from(record.id.as_str())),
            expires_at: record.expires_at(),
        };
        Self {
            revoked: record.revoked.is_some(),
            record,
            principal,
        }
    }
}

/// Refuses a key directory every user may write to (unless sticky): whoever can add a file
/// there can add a key.
fn check_permissions(dir: &Path) -> Result<(), KeyStoreError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(dir)
        .map_err(|source| KeyStoreError::Dir {
            dir: dir.to_owned(),
            source,
        })?
        .permissions()
        .mode();
    if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        return Err(KeyStoreError::WorldWritable {
            dir: dir.to_owned(),
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
