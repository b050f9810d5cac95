//! The key directory on disk: which entries are key files, reading one (size-capped, name
//! checked against its `id`), noticing that a file changed, and writing one atomically.
//!
//! Entries whose name starts with `.` are never key files: that skips our own temp files and
//! the `..data` / `..<timestamp>` entries of a Kubernetes Secret mount, whose `<id>.json`
//! symlinks are followed.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::apikey::KeyId;
use crate::keystore::record::{KeyRecord, RecordError};

/// A key file is a few hundred bytes; anything past this is not one.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Why one key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
    /// The file is too large to be a key file; it is not read.
    #[error("larger than {MAX_FILE_BYTES} bytes, so not a key file")]
    TooLarge,
    /// The file is not a valid key record.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The file's name and its `id` field disagree.
    #[error("the file name says key {name} but field `id` is {id}: rename the file to {id}.json")]
    IdMismatch {
        /// The id the file name gives.
        name: String,
        /// The id inside the file.
        id: KeyId,
    },
}

/// What identifies a version of a file without reading it: a rewrite via rename (our atomic
/// writes, a Kubernetes `..data` swap) changes the inode, an in-place edit changes mtime/ctime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Fingerprint {
    fn of(meta: &fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// The file a key lives in.
pub(crate) fn key_path(dir: &Path, id: &KeyId) -> PathBuf {
    dir.join(format!("{id}.json"))
}

/// The key files in `dir`, each with its fingerprint (or the error reading its metadata, e.g. a
/// dangling symlink).
pub(crate) fn list(dir: &Path) -> io::Result<Vec<(PathBuf, io::Result<Fingerprint>)>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let path = entry.path();
        // `fs::metadata` follows symlinks: the fingerprint is the target's.
        match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => files.push((path, Ok(Fingerprint::of(&meta)))),
            Ok(_) => continue,
            Err(e) => files.push((path, Err(e))),
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// Reads and validates one key file; its name must be `<id>.json`.
pub(crate) fn read(path: &Path) -> Result<KeyRecord, FileError> {
    let file = fs::File::open(path)?;
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut io::Read::take(file, MAX_FILE_BYTES + 1), &mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(FileError::TooLarge);
    }
    let record = KeyRecord::from_json(&bytes)?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if stem != record.id.as_str() {
        return Err(FileError::IdMismatch {
            name: stem.to_owned(),
            id: record.id,
        });
    }
    Ok(record)
}

/// Writes `contents` to `dir/name` atomically: a temp file in the same directory (mode 0600),
/// fsync, rename over the target, fsync the directory. Readers see the old or the new file,
/// never a partial one, and the change survives a crash once this returns.
pub(crate) fn write_atomic(dir: &Path, name: &str, contents: &[u8]) -> io::Result<()> {
    let mut suffix = [0u8; 6];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut suffix);
    let tmp = dir.join(format!(".{name}.{}.tmp", crate::apikey::hex(&suffix)));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, dir.join(name))?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates the key directory (mode 0700) if it does not exist.
pub(crate) fn ensure_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_leave_a_0600_file_and_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "a.json", b"{}").unwrap();
        write_atomic(dir.path(), "a.json", b"{\"v\":2}").unwrap();
        let meta = fs::metadata(dir.path().join("a.json")).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert_eq!(
            fs::read_to_string(dir.path().join("a.json")).unwrap(),
            "{\"v\":2}"
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.json"]);
    }

    #[test]
    fn listing_skips_hidden_and_non_json_entries_and_follows_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        fs::create_dir(p.join("..2026_01_01")).unwrap();
        fs::write(p.join("..2026_01_01/3f9a0c1b7d2e.json"), "{}").unwrap();
        std::os::unix::fs::symlink("..2026_01_01", p.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/3f9a0c1b7d2e.json", p.join("3f9a0c1b7d2e.json"))
            .unwrap();
        fs::write(p.join(".tmp.json"), "{}").unwrap();
        fs::write(p.join("README.md"), "").unwrap();
        std::os::unix::fs::symlink("missing", p.join("dangling.json")).unwrap();
        let listed: Vec<_> = list(p)
            .unwrap()
            .into_iter()
            .map(|(path, fp)| (path.file_name().unwrap().to_owned(), fp.is_ok()))
            .collect();
        assert_eq!(
            listed,
            [
                ("3f9a0c1b7d2e.json".into(), true),
                ("dangling.json".into(), false)
            ]
        );
    }
}
