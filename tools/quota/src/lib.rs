//! The quota of one caller's workspace, shared by every component that writes it (`workspace`
//! for files and checkpoints, `skills` for personal skills), so that one caller cannot exhaust
//! the blocks or the inodes of the volume every caller's workspace lives on.
//!
//! ## What counts
//! Everything under the workspace root, whoever wrote it: files, checkpoints, skills, the
//! temporary files of writes in flight, and every directory. Only [`RESERVATIONS_DIR`] is left
//! out (this module's own bookkeeping: at most one empty file per write in flight).
//! - **bytes**: the sum of the files' sizes;
//! - **entries**: files and directories together, empty ones included, since each takes an
//!   inode (and each directory at least one block).
//!
//! A workspace therefore holds at most `max_bytes` of data in at most `max_entries` inodes, and
//! occupies at most `max_bytes + max_entries x block size` of the volume: with the defaults and
//! 4 KiB blocks, 100 MiB + 10,000 x 4 KiB, about 140 MiB. Size the volume for that times the
//! number of workspaces.
//!
//! ## Limits
//! Read from the component's environment, which the tool set manifest sets
//! (`capabilities.env`); give every component that writes the workspace the same values:
//! - `MCP_WORKSPACE_MAX_BYTES`: bytes in all (default `100MiB`);
//! - `MCP_WORKSPACE_MAX_ENTRIES`: files and directories in all (default `10000`);
//! - `MCP_WORKSPACE_MAX_FILE_BYTES`: one file (default `10MiB`).
//!
//! ## Concurrent writes: reserve, then check
//! Two calls of one caller run at the same time in separate instances, each mounting the same
//! directory. Checking usage and then writing would let both pass the check and together go
//! past the quota. The guest has no file locks, and a lock held by the host would have to span
//! whole calls (the host cannot see where one write ends), serializing a caller's long skill
//! runs behind each other and deadlocking a call tree that writes from a nested call. So each
//! write *announces* itself before it checks:
//!
//! 1. create a reservation file `.quota/<nonce>-<bytes>-<entries>` (exclusive create);
//! 2. read every live reservation (its own included), *then* walk the stored files (the file
//!    the write replaces is credited with the size the walk found);
//! 3. if that is over a limit, remove the reservation and refuse; otherwise write, then remove
//!    the reservation.
//!
//! Of any set of concurrent writes that pass, take the one that read the reservations last.
//! Every other one had made its reservation before that read, and removes it only once its
//! file is in place; so the last one counted each other write, as a reservation or (if it was
//! already gone) as a file its walk found. Its check therefore covered the sum of them all;
//! writes that checked earlier were checked against less, which is safe. Racing writes may
//! refuse each other (each sees the other's reservation), but never both pass when only one
//! fits. A write refused only because of the caller's other writes in flight (it would fit
//! without them) tries again a few times after a short random wait, since those may fail and
//! free their room. A reservation left by a call killed mid-write (timeout, trap) stops
//! counting after [`STALE_RESERVATION`] and is removed by the next write.

mod atomic;
mod limits;

use std::fmt;
use std::fs;
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub use atomic::{TEMP_PREFIX, atomic_replace};
pub use limits::{
    ENV_MAX_BYTES, ENV_MAX_ENTRIES, ENV_MAX_FILE_BYTES, Limits, format_bytes, parse_bytes,
};

/// The directory, at the workspace root, that holds the reservations of writes in flight.
pub const RESERVATIONS_DIR: &str = ".quota";

/// A reservation older than this belongs to a call that was stopped mid-write: every write
/// finishes well within its tool's timeout (20 s for `workspace`).
pub const STALE_RESERVATION: Duration = Duration::from_secs(120);

/// What is stored in a workspace.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// The sum of the files' sizes.
    pub bytes: u64,
    pub files: u64,
    pub dirs: u64,
}

impl Usage {
    /// Files and directories: the inodes the workspace takes.
    pub fn entries(&self) -> u64 {
        self.files + self.dirs
    }
}

/// What a write adds to a workspace.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// The size of what is written.
    pub bytes: u64,
    /// New files and directories (the file when it does not exist yet, and each missing
    /// directory on its path).
    pub entries: u64,
}

/// Why a write was refused. The message says which limit and how to make room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaError {
    /// One file would be larger than `max_file_bytes`.
    FileTooLarge { what: String, bytes: u64, max: u64 },
    /// The workspace would hold more than `max_bytes`.
    Bytes {
        what: String,
        bytes: u64,
        used: u64,
        /// Bytes reserved by the caller's other writes in flight.
        in_flight: u64,
        max: u64,
    },
    /// The workspace would hold more than `max_entries` files and directories.
    Entries {
        what: String,
        needs: u64,
        used: Usage,
        /// Entries reserved by the caller's other writes in flight.
        in_flight: u64,
        max: u64,
    },
    /// The workspace could not be measured or the reservation not made.
    Io(String),
}

const HOW_TO_FREE: &str = "delete files, checkpoints or skills you no longer need (list_files \
                           and delete_file for files and empty directories, delete_skill for \
                           skills) and retry";

impl fmt::Display for QuotaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FileTooLarge { what, bytes, max } => write!(
                f,
                "{what} would be {bytes} bytes, but a file may hold at most {} ({max} bytes, \
                 {ENV_MAX_FILE_BYTES}); split the content over several files",
                format_bytes(*max)
            ),
            Self::Bytes {
                what,
                bytes,
                used,
                in_flight,
                max,
            } => {
                write!(
                    f,
                    "workspace quota reached: {what} ({bytes} bytes) does not fit; the workspace \
                     holds {used} bytes of its {} ({max} bytes, {ENV_MAX_BYTES})",
                    format_bytes(*max)
                )?;
                if *in_flight > 0 {
                    write!(
                        f,
                        " and {in_flight} more are being written by your other calls"
                    )?;
                }
                write!(f, "; {HOW_TO_FREE}")
            }
            Self::Entries {
                what,
                needs,
                used,
                in_flight,
                max,
            } => {
                write!(
                    f,
                    "workspace quota reached: {what} needs {needs} new file(s) or directories, \
                     but the workspace holds {} files and {} directories, and may hold {max} in \
                     all ({ENV_MAX_ENTRIES}; empty files and directories count too)",
                    used.files, used.dirs
                )?;
                if *in_flight > 0 {
                    write!(f, ", with {in_flight} more being made by your other calls")?;
                }
                write!(f, "; {HOW_TO_FREE}")
            }
            Self::Io(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for QuotaError {}

/// The quota of the workspace at `root`.
#[derive(Debug, Clone)]
pub struct Quota {
    pub root: PathBuf,
    pub limits: Limits,
}

/// Reservations of writes in flight, summed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Reserved {
    bytes: u64,
    entries: u64,
}

/// A write's claim on the quota; released (its file removed) when dropped, which a write does
/// once its data is in place.
#[derive(Debug)]
pub struct Reservation {
    path: PathBuf,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

impl Quota {
    pub fn new(root: impl Into<PathBuf>, limits: Limits) -> Self {
        Self {
            root: root.into(),
            limits,
        }
    }

    /// Refuses a file larger than `max_file_bytes`.
    pub fn check_file_size(&self, what: &str, bytes: u64) -> Result<(), QuotaError> {
        if bytes > self.limits.max_file_bytes {
            return Err(QuotaError::FileTooLarge {
                what: what.to_owned(),
                bytes,
                max: self.limits.max_file_bytes,
            });
        }
        Ok(())
    }

    /// What the workspace stores now (writes in flight included as far as they got).
    pub fn usage(&self) -> io::Result<Usage> {
        let mut usage = Usage::default();
        measure(&self.root, true, None, &mut usage)?;
        Ok(usage)
    }

    /// Claims room for a write described by `what` (e.g. "writing `notes/a.md`") that puts
    /// a file at `target` (which it replaces, freeing its size, if it exists), or says which
    /// limit the write would pass. Hold the reservation until the write is in place.
    ///
    /// A write that adds no entry and does not grow the workspace is always let through, so a
    /// caller over quota (after the limits were lowered) can still shrink files.
    pub fn reserve(
        &self,
        what: &str,
        target: &Path,
        need: Need,
    ) -> Result<Reservation, QuotaError> {
        self.check_file_size(what, need.bytes)?;
        let mut attempt = 1;
        loop {
            match self.try_reserve(what, target, need) {
                Ok(reservation) => return Ok(reservation),
                Err((_, true)) if attempt < CONTENDED_ATTEMPTS => {
                    attempt += 1;
                    back_off(attempt);
                }
                Err((error, _)) => return Err(error),
            }
        }
    }

    /// One attempt of [`Quota::reserve`]. A refusal says whether only the caller's other
    /// writes in flight stood in the way (the write would fit without them).
    fn try_reserve(
        &self,
        what: &str,
        target: &Path,
        need: Need,
    ) -> Result<Reservation, (QuotaError, bool)> {
        let io = |e: io::Error| {
            QuotaError::Io(format!(
                "could not check the workspace quota for {what}: {e}"
            ))
        };
        let dir = self.root.join(RESERVATIONS_DIR);
        let io = |e| (io(e), false);
        fs::create_dir_all(&dir).map_err(io)?;
        let nonce = RandomState::new().hash_one(SystemTime::now());
        let path = dir.join(format!("{nonce:016x}-{}-{}", need.bytes, need.entries));
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io)?;
        let reservation = Reservation { path };
        // Reservations first, then the files: a write whose reservation is gone by now had
        // its file in place before the walk starts (see the module docs).
        let reserved = live_reservations(&dir).map_err(io)?;
        let mut used = Usage::default();
        let mut replaced = Replaced {
            path: target,
            bytes: 0,
        };
        measure(&self.root, true, Some(&mut replaced), &mut used).map_err(io)?;
        let others = Reserved {
            bytes: reserved.bytes.saturating_sub(need.bytes),
            entries: reserved.entries.saturating_sub(need.entries),
        };
        // The target's old content is counted by the walk and replaced by this write.
        let bytes_after = (used.bytes + reserved.bytes).saturating_sub(replaced.bytes);
        if need.bytes > replaced.bytes && bytes_after > self.limits.max_bytes {
            let alone = bytes_after - others.bytes <= self.limits.max_bytes;
            let error = QuotaError::Bytes {
                what: what.to_owned(),
                bytes: need.bytes,
                used: used.bytes,
                in_flight: others.bytes,
                max: self.limits.max_bytes,
            };
            return Err((error, alone));
        }
        let entries_after = used.entries() + reserved.entries;
        if need.entries > 0 && entries_after > self.limits.max_entries {
            let alone = entries_after - others.entries <= self.limits.max_entries;
            let error = QuotaError::Entries {
                what: what.to_owned(),
                needs: need.entries,
                used,
                in_flight: others.entries,
                max: self.limits.max_entries,
            };
            return Err((error, alone));
        }
        Ok(reservation)
    }
}

/// Attempts of a write that only the caller's other writes in flight stand in the way of.
const CONTENDED_ATTEMPTS: u32 = 8;

/// Waits a little before attempt `attempt` (2 or more): a random share of 2^attempt ms, so
/// that writes that refused each other do not meet again.
fn back_off(attempt: u32) {
    let ceiling = 1u64 << attempt.min(8);
    let jitter = RandomState::new().hash_one(SystemTime::now()) % ceiling;
    std::thread::sleep(Duration::from_millis(1 + jitter));
}

/// The file a write replaces, and its size as the walk found it.
struct Replaced<'a> {
    path: &'a Path,
    bytes: u64,
}

/// Listings of a directory that others change at the same time, tried at most this often.
const LISTING_ATTEMPTS: u32 = 64;

/// The entries of `dir`, all of them. Under WASI, a listing looks up each entry as it goes;
/// one removed meanwhile (a finished write's reservation or temporary file) ends the listing
/// with `NotFound` and the entries after it unread. A partial listing would under-count, so
/// the listing starts over until one completes.
pub fn read_dir_all(dir: &Path) -> io::Result<Vec<fs::DirEntry>> {
    let mut attempt = 1;
    loop {
        match fs::read_dir(dir)?.collect::<io::Result<Vec<_>>>() {
            Ok(entries) => return Ok(entries),
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempt < LISTING_ATTEMPTS => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Adds what is under `dir` to `usage`; at the root, [`RESERVATIONS_DIR`] is skipped. Links
/// are counted as files, not followed. Notes the size of `replaced`'s file if it is found.
fn measure(
    dir: &Path,
    at_root: bool,
    mut replaced: Option<&mut Replaced<'_>>,
    usage: &mut Usage,
) -> io::Result<()> {
    for entry in read_dir_all(dir)? {
        if at_root && entry.file_name() == RESERVATIONS_DIR {
            continue;
        }
        // An entry removed since the listing (a concurrent delete or rename) no longer counts.
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if meta.is_dir() {
            usage.dirs += 1;
            match measure(&entry.path(), false, replaced.as_deref_mut(), usage) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                other => other?,
            }
        } else {
            usage.files += 1;
            usage.bytes += meta.len();
            if let Some(replaced) = replaced.as_deref_mut()
                && entry.path() == replaced.path
            {
                replaced.bytes = meta.len();
            }
        }
    }
    Ok(())
}

/// The sum of the live reservations in `dir`; stale ones are removed.
fn live_reservations(dir: &Path) -> io::Result<Reserved> {
    let now = SystemTime::now();
    let mut sum = Reserved::default();
    for entry in read_dir_all(dir)? {
        let name = entry.file_name();
        let Some((bytes, entries)) = parse_reservation(&name.to_string_lossy()) else {
            continue;
        };
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|at| now.duration_since(at).unwrap_or_default() > STALE_RESERVATION);
        if stale {
            let _ = fs::remove_file(entry.path());
            continue;
        }
        sum.bytes = sum.bytes.saturating_add(bytes);
        sum.entries = sum.entries.saturating_add(entries);
    }
    Ok(sum)
}

/// `<nonce>-<bytes>-<entries>` as written by [`Quota::reserve`].
fn parse_reservation(name: &str) -> Option<(u64, u64)> {
    let mut parts = name.split('-');
    let _nonce = parts.next()?;
    let bytes = parts.next()?.parse().ok()?;
    let entries = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((bytes, entries))
}

#[cfg(test)]
mod tests;
