//! The key directory on disk: which entries are key files, reading one (size-capped, name
//! checked against its `id`) and noticing that a file changed. Writing is the `keys`
//! commands' business (`keys_cli`).
//!
//! Entries whose name starts with `.` are never key files: that skips our own temp files and
//! the `..data` / `..<timestamp>` entries of a Kubernetes Secret mount, whose `<id>.json`
//! symlinks are followed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use mcp_filewatch::FileStamp;

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

/// The file a key lives in.
pub(crate) fn key_path(dir: &Path, id: &KeyId) -> PathBuf {
    dir.join(format!("{id}.json"))
}

/// The key files in `dir`, each with its stamp (or the error reading its metadata, e.g. a
/// dangling symlink). A rewrite via rename (our atomic writes, a Kubernetes `..data` swap)
/// changes the stamp's inode, an in-place edit its times.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<(PathBuf, io::Result<FileStamp>)>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let path = entry.path();
        // `fs::metadata` follows symlinks: the stamp is the target's.
        match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => files.push((path, Ok(FileStamp::of(&meta)))),
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

#[cfg(test)]
mod tests {
    use super::*;

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
